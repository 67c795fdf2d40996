//! Shared vocabulary of the comparison harness: parameters, the `System` trait every
//! contender implements, CPU placement, start gates, statistics and /proc readers.

use std::fmt;
use std::io;
use std::sync::{Arc, Condvar, Mutex};

use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};
use tokio::sync::watch;

// ---------------------------------------------------------------------------------------
// Outcomes
// ---------------------------------------------------------------------------------------

/// Why a system has no figure for a scenario.
#[derive(Debug, Clone)]
pub enum Skip {
    /// The scenario does not apply to this system (e.g. priorities over raw TCP).
    NotApplicable(String),
    /// The measurement was attempted and failed.
    Failed(String),
    /// The measurement did not finish within its time bound.
    TimedOut(Duration),
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Skip::NotApplicable(why) => write!(f, "n/a: {why}"),
            Skip::Failed(why) => write!(f, "failed: {why}"),
            Skip::TimedOut(bound) => write!(f, "did not finish within {bound:?}"),
        }
    }
}

impl From<io::Error> for Skip {
    fn from(e: io::Error) -> Self {
        Skip::Failed(e.to_string())
    }
}

/// One measurement: one value per row of the scenario (same order as its `RowDef`s).
pub type Outcome = Result<Vec<f64>, Skip>;

pub fn na(why: &str) -> Outcome {
    Err(Skip::NotApplicable(why.to_string()))
}

pub fn failed(why: impl fmt::Display) -> Skip {
    Skip::Failed(why.to_string())
}

/// Turns any displayable error into an `io::Error` (adapters use it for foreign errors).
pub fn to_io(e: impl fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// Joins a worker thread, turning a panic into an error.
pub fn join<T>(h: JoinHandle<io::Result<T>>) -> io::Result<T> {
    h.join().map_err(|_| io::Error::other("worker thread panicked"))?
}

// ---------------------------------------------------------------------------------------
// Scenario parameters
// ---------------------------------------------------------------------------------------

pub const KIB: usize = 1024;
pub const MIB: u64 = 1024 * 1024;

/// Read buffer of every receiver that drains a stream (bulk's is `Params::bulk_read`).
pub const READ_BUF: usize = 64 * KIB;

/// Channel priority as the scenarios ask for it; systems without priorities ignore it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prio {
    Normal,
    High,
    Low,
}

#[derive(Debug, Clone)]
pub struct Params {
    pub quick: bool,
    pub runs: usize,
    /// Bulk: total bytes shared by all channels of one measurement.
    pub bulk_total: u64,
    /// Bulk: size of each write.
    pub bulk_chunk: usize,
    /// Bulk: size of each receiver's read buffer.
    pub bulk_read: usize,
    /// Small messages: how long the sender keeps sending.
    pub tick_duration: Duration,
    /// Latency: measured request/response round trips (after `latency_warmup`).
    pub latency_round_trips: usize,
    pub latency_warmup: usize,
    /// Priority: how long High messages are sent while Low saturates.
    pub priority_duration: Duration,
    /// Priority: gap between two High messages.
    pub priority_interval: Duration,
    /// Churn: how long the opener keeps opening channels.
    pub churn_duration: Duration,
    /// Churn: at most this many channels opened but not yet fully received.
    pub churn_window: usize,
    /// Threads: channels open for the "with channels" thread count.
    pub thread_probe_channels: usize,
    /// Upper bound on any single measurement; the harness aborts past it.
    pub measurement_timeout: Duration,
    /// Upper bound on one idle-memory child process (setup of up to 100,000
    /// channels); past it the child is killed and the cell reads "timeout".
    pub child_timeout: Duration,
    /// Pin side A and side B to different CPUs.
    pub pin: bool,
}

impl Params {
    pub fn new(quick: bool) -> Self {
        Params {
            quick,
            runs: if quick { 3 } else { 5 },
            bulk_total: if quick { 64 * MIB } else { 1024 * MIB },
            bulk_chunk: 64 * KIB,
            bulk_read: READ_BUF,
            tick_duration: Duration::from_millis(if quick { 500 } else { 2000 }),
            latency_round_trips: if quick { 2_000 } else { 20_000 },
            latency_warmup: if quick { 200 } else { 1_000 },
            priority_duration: Duration::from_millis(if quick { 500 } else { 2000 }),
            priority_interval: Duration::from_millis(1),
            churn_duration: Duration::from_millis(if quick { 500 } else { 2000 }),
            churn_window: 128,
            thread_probe_channels: 100,
            measurement_timeout: Duration::from_secs(if quick { 60 } else { 300 }),
            child_timeout: Duration::from_secs(if quick { 30 } else { 120 }),
            pin: true,
        }
    }
}

/// Everything a measurement needs besides its own parameters.
#[derive(Clone)]
pub struct Ctx {
    pub params: Params,
    pub placement: Placement,
    /// Common time base: one-way latencies are measured as `now - epoch` differences,
    /// both ends live in this process and share the monotonic clock.
    pub epoch: Instant,
}

impl Ctx {
    pub fn stamp(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// Nanoseconds between a stamp written by `stamp()` and now.
    pub fn since_stamp(&self, stamp: u64) -> Duration {
        Duration::from_nanos(self.stamp().saturating_sub(stamp))
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Bulk {
    pub channels: usize,
    pub total: u64,
    /// Size of each write.
    pub chunk: usize,
    /// Size of each receiver's read buffer.
    pub read_buf: usize,
}

impl Bulk {
    /// Bytes for channel `i`: the total split as evenly as possible.
    pub fn share(&self, i: usize) -> u64 {
        let n = self.channels as u64;
        self.total / n + u64::from((i as u64) < self.total % n)
    }

    pub fn mib_per_s(&self, elapsed: Duration) -> f64 {
        self.total as f64 / MIB as f64 / elapsed.as_secs_f64()
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Tick {
    pub channels: usize,
    pub msg_size: usize,
    pub duration: Duration,
}

#[derive(Debug, Clone, Copy)]
pub struct Latency {
    pub msg_size: usize,
    pub round_trips: usize,
    pub warmup: usize,
}

#[derive(Debug, Clone, Copy)]
pub struct PriorityLoad {
    pub msg_size: usize,
    pub interval: Duration,
    pub duration: Duration,
    pub low_chunk: usize,
}

#[derive(Debug, Clone, Copy)]
pub struct Churn {
    pub duration: Duration,
    pub window: usize,
}

/// Tag byte of the "hello" every channel sends during setup so the accepter can tell
/// channels apart (and yamux announces the stream); the churn scenario's stop marker.
pub const TAG_DATA: u8 = 1;
pub const TAG_HIGH: u8 = 2;
pub const TAG_LOW: u8 = 3;
pub const TAG_STOP: u8 = 0xFF;

// ---------------------------------------------------------------------------------------
// The contenders
// ---------------------------------------------------------------------------------------

/// One contender. Every method runs one measurement and returns one value per row of the
/// scenario; the defaults say the scenario does not apply.
pub trait System: Send + Sync {
    fn name(&self) -> &'static str;

    /// Bulk throughput, MiB/s received.
    fn bulk(&self, _ctx: &Ctx, _b: &Bulk) -> Outcome {
        na("not measured")
    }
    /// Small messages: messages per second received.
    fn tick(&self, _ctx: &Ctx, _t: &Tick) -> Outcome {
        na("not measured")
    }
    /// Request/response round trip: [p50 µs, p99 µs].
    fn latency(&self, _ctx: &Ctx, _l: &Latency) -> Outcome {
        na("not measured")
    }
    /// One-way latency of High messages while Low saturates: [p50 µs, p99 µs].
    fn priority(&self, _ctx: &Ctx, _p: &PriorityLoad) -> Outcome {
        na("no channels with priorities")
    }
    /// Channels opened, fed one byte, closed and accepted per second.
    fn churn(&self, _ctx: &Ctx, _c: &Churn) -> Outcome {
        na("not measured")
    }
    /// Resident bytes per idle open channel (both ends), measured in this process.
    /// The harness calls it in a fresh child process.
    fn idle_memory(&self, _ctx: &Ctx, _channels: usize) -> Outcome {
        na("not measured")
    }
    /// Threads per multiplexer: [idle, with `probe` open channels].
    fn threads(&self, _ctx: &Ctx, _probe: usize) -> Outcome {
        na("no multiplexer")
    }
}

// ---------------------------------------------------------------------------------------
// CPU placement
// ---------------------------------------------------------------------------------------

/// The two ends of every scenario: side A opens channels and sends (the client in the
/// latency test), side B accepts and receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    A,
    B,
}

/// Which CPU each side's threads run on. Threads inherit the affinity of the thread that
/// creates them, so a multiplexer built on a pinned thread keeps its internal threads on
/// that CPU too.
#[derive(Debug, Clone, Copy)]
pub struct Placement {
    a: Option<core_affinity::CoreId>,
    b: Option<core_affinity::CoreId>,
}

impl Placement {
    pub fn new(pin: bool) -> Self {
        let cores = if pin { core_affinity::get_core_ids().unwrap_or_default() } else { Vec::new() };
        match cores.as_slice() {
            [] => Placement { a: None, b: None },
            [only] => Placement { a: Some(*only), b: Some(*only) },
            [first, second, ..] => Placement { a: Some(*first), b: Some(*second) },
        }
    }

    pub fn describe(&self) -> String {
        match (self.a, self.b) {
            (Some(a), Some(b)) => format!(
                "side A (opener/sender/client) pinned to CPU {}, side B (accepter/receiver/server) pinned to CPU {}",
                a.id, b.id
            ),
            _ => "unpinned (scheduler decides)".to_string(),
        }
    }

    /// Pins the calling thread to `side`'s CPU.
    pub fn pin_current(&self, side: Side) {
        let core = match side {
            Side::A => self.a,
            Side::B => self.b,
        };
        if let Some(core) = core {
            core_affinity::set_for_current(core);
        }
    }

    /// Spawns a thread pinned to `side`'s CPU.
    pub fn spawn<T, F>(&self, side: Side, f: F) -> JoinHandle<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let me = *self;
        thread::Builder::new()
            .name(format!("bench-{side:?}"))
            .stack_size(256 * KIB)
            .spawn(move || {
                me.pin_current(side);
                f()
            })
            .expect("spawn bench thread")
    }
}

// ---------------------------------------------------------------------------------------
// Start gate and finish line
// ---------------------------------------------------------------------------------------

/// Releases all workers at once; the coordinator's instant just before release starts
/// the clock. Workers wait either blocking (`wait`) or inside an async runtime
/// (`wait_async`, which keeps that runtime's other tasks running meanwhile).
#[derive(Clone)]
pub struct Gate(Arc<GateInner>);

struct GateInner {
    workers: usize,
    arrived: Mutex<usize>,
    all_here: Condvar,
    release: watch::Sender<bool>,
}

impl Gate {
    /// A gate for `workers` workers plus the coordinator.
    pub fn new(workers: usize) -> Self {
        Gate(Arc::new(GateInner {
            workers,
            arrived: Mutex::new(0),
            all_here: Condvar::new(),
            release: watch::channel(false).0,
        }))
    }

    fn arrive(&self) -> watch::Receiver<bool> {
        let rx = self.0.release.subscribe();
        let mut n = self.0.arrived.lock().unwrap();
        *n += 1;
        if *n >= self.0.workers {
            self.0.all_here.notify_all();
        }
        rx
    }

    /// Called by each blocking worker before its timed work.
    pub fn wait(&self) {
        let mut rx = self.arrive();
        let _ = futures::executor::block_on(rx.wait_for(|open| *open));
    }

    /// Called by each async worker before its timed work.
    pub async fn wait_async(&self) {
        let mut rx = self.arrive();
        let _ = rx.wait_for(|open| *open).await;
    }

    /// Called by the coordinator: waits for every worker, starts the clock, releases.
    pub fn open(&self) -> Instant {
        let mut n = self.0.arrived.lock().unwrap();
        while *n < self.0.workers {
            n = self.0.all_here.wait(n).unwrap();
        }
        drop(n);
        let start = Instant::now();
        self.0.release.send_replace(true);
        start
    }
}

/// Elapsed time from `start` to the latest of the receivers' finish instants.
pub fn until_last(start: Instant, ends: impl IntoIterator<Item = Instant>) -> Duration {
    ends.into_iter().max().map(|end| end.saturating_duration_since(start)).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------------------

/// Nearest-rank percentile of an ascending slice (p in 0..=100).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// [p50, p99] in microseconds of a set of latencies.
pub fn p50_p99_us(samples: &[Duration]) -> Outcome {
    if samples.is_empty() {
        return Err(failed("no latency samples"));
    }
    let mut us: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e6).collect();
    us.sort_by(f64::total_cmp);
    Ok(vec![percentile(&us, 50.0), percentile(&us, 99.0)])
}

#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub min: f64,
    pub median: f64,
    pub max: f64,
}

impl Summary {
    pub fn of(values: &[f64]) -> Option<Summary> {
        if values.is_empty() {
            return None;
        }
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 };
        Some(Summary { min: v[0], median, max: v[n - 1] })
    }
}

// ---------------------------------------------------------------------------------------
// /proc readers
// ---------------------------------------------------------------------------------------

/// Resident set size of this process in bytes (VmRSS).
pub fn rss_bytes() -> io::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| io::Error::other("no VmRSS in /proc/self/status"))
}

/// Threads of this process.
pub fn thread_count() -> io::Result<usize> {
    Ok(std::fs::read_dir("/proc/self/task")?.count())
}

/// Waits (bounded) until the thread count stops changing, so exiting helper threads
/// are not counted.
pub fn settled_thread_count() -> io::Result<usize> {
    let mut last = thread_count()?;
    for _ in 0..20 {
        thread::sleep(Duration::from_millis(25));
        let now = thread_count()?;
        if now == last {
            return Ok(now);
        }
        last = now;
    }
    Ok(last)
}

/// Bytes per channel from two RSS readings.
pub fn per_channel(before: u64, after: u64, channels: usize) -> f64 {
    after.saturating_sub(before) as f64 / channels as f64
}
