//! netconduit vs raw TCP vs yamux, measured in the same run and printed as one markdown
//! table (see docs/PERFORMANCE.md for the methodology).
//!
//!     cargo bench --bench compare -- [--quick] [--runs N] [--only SCENARIO[,SCENARIO..]]
//!                                    [--total-mib N] [--write-kib N] [--read-kib N]
//!                                    [--baselines LIST] [--no-pin] [--list]
//!
//! Layout: `common` (parameters, the `System` trait, placement, stats), `blocking`
//! (scenarios written once for thread-per-channel systems), `raw` and `netconduit`
//! (blocking systems), `yamux` (the async baseline), `report` (the table),
//! `loopback` (the TCP pair every system runs over).

#[path = "compare/blocking.rs"]
mod blocking;
#[path = "compare/common.rs"]
mod common;
#[path = "compare/loopback.rs"]
mod loopback;
#[path = "compare/netconduit.rs"]
mod netconduit;
#[path = "compare/raw.rs"]
mod raw;
#[path = "compare/report.rs"]
mod report;
#[path = "compare/yamux.rs"]
mod yamux;

use std::process::{Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use report::{Results, RowDef};

/// One scenario: its table rows and how to measure one system once.
struct Scenario {
    key: String,
    rows: Vec<RowDef>,
    run: Box<RunFn>,
}

/// Measures one system once in a scenario.
type RunFn = dyn Fn(&dyn System, &Ctx) -> Outcome;

impl Scenario {
    fn new(key: impl Into<String>, rows: Vec<RowDef>, run: impl Fn(&dyn System, &Ctx) -> Outcome + 'static) -> Self {
        Scenario { key: key.into(), rows, run: Box::new(run) }
    }
}

const IDLE_COUNTS: [usize; 2] = [10_000, 100_000];

fn scenarios(p: &Params) -> Vec<Scenario> {
    let mut v = Vec::new();
    let total = p.bulk_total;
    let total_label = if total % (1024 * MIB) == 0 {
        format!("{} GiB", total / (1024 * MIB))
    } else {
        format!("{} MiB", total / MIB)
    };
    for channels in [1, 10, 100] {
        let b = Bulk { channels, total, chunk: p.bulk_chunk, read_buf: p.bulk_read };
        v.push(Scenario::new(
            format!("bulk/{channels}"),
            vec![RowDef::new(format!("bulk {total_label}, {channels} ch"), "MiB/s", true)],
            move |s, ctx| s.bulk(ctx, &b),
        ));
    }
    for msg_size in [64, 256] {
        for channels in [1, 10, 50, 1000] {
            let t = Tick { channels, msg_size, duration: p.tick_duration };
            v.push(Scenario::new(
                format!("tick/{msg_size}/{channels}"),
                vec![RowDef::new(format!("msgs {msg_size} B, {channels} ch"), "msg/s", true)],
                move |s, ctx| s.tick(ctx, &t),
            ));
        }
    }
    let l = Latency { msg_size: 64, round_trips: p.latency_round_trips, warmup: p.latency_warmup };
    v.push(Scenario::new(
        "latency",
        vec![RowDef::new("req/resp 64 B RTT p50", "µs", false), RowDef::new("req/resp 64 B RTT p99", "µs", false)],
        move |s, ctx| s.latency(ctx, &l),
    ));
    let pr = PriorityLoad {
        msg_size: 64,
        interval: p.priority_interval,
        duration: p.priority_duration,
        low_chunk: 64 * KIB,
    };
    v.push(Scenario::new(
        "priority",
        vec![
            RowDef::new("High 64 B one-way under Low load, p50", "µs", false),
            RowDef::new("High 64 B one-way under Low load, p99", "µs", false),
        ],
        move |s, ctx| s.priority(ctx, &pr),
    ));
    let c = Churn { duration: p.churn_duration, window: p.churn_window };
    v.push(Scenario::new(
        "churn",
        vec![RowDef::new("churn: open, 1 B, close, accept", "ch/s", true)],
        move |s, ctx| s.churn(ctx, &c),
    ));
    for n in IDLE_COUNTS {
        v.push(Scenario::new(
            format!("memory/{n}"),
            vec![RowDef::new(format!("RSS per idle channel @ {n}"), "B", false)],
            move |s, ctx| idle_memory_in_child(s.name(), n, ctx),
        ));
    }
    let probe = p.thread_probe_channels;
    v.push(Scenario::new(
        "threads",
        vec![
            RowDef::new("threads per multiplexer, idle", "threads", false),
            RowDef::new(format!("threads per multiplexer, {probe} ch open"), "threads", false),
        ],
        move |s, ctx| s.threads(ctx, probe),
    ));
    v
}

/// Builds one system to measure.
type MakeSystem = fn() -> Box<dyn System>;

/// The baselines by their `--baselines` keys, in table order.
const BASELINES: [(&str, MakeSystem); 3] = [
    ("raw", || Box::new(raw::RawSingle)),
    ("raw-per-channel", || Box::new(blocking::Blocking(raw::RawPerChannel))),
    ("yamux", || Box::new(yamux::Yamux)),
];

/// netconduit first (every ratio is about it), then the baselines named in
/// `keys`, in table order.
fn systems(keys: &[&str]) -> Vec<Box<dyn System>> {
    let chosen = BASELINES.iter().filter(|(key, _)| keys.contains(key));
    std::iter::once(netconduit::system()).chain(chosen.map(|(_, make)| make())).collect()
}

/// Every baseline's key.
fn all_baselines() -> Vec<&'static str> {
    BASELINES.iter().map(|(key, _)| *key).collect()
}

// ---------------------------------------------------------------------------------------
// Idle memory runs in a fresh child process per measurement, so allocator state left by
// earlier scenarios does not hide or inflate the growth.
// ---------------------------------------------------------------------------------------

const CHILD_FLAG: &str = "--child-idle-memory";

fn idle_memory_in_child(system: &str, channels: usize, ctx: &Ctx) -> Outcome {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.arg(CHILD_FLAG).arg(system).arg(channels.to_string());
    if !ctx.params.pin {
        cmd.arg("--no-pin");
    }
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn()?;
    let deadline = Instant::now() + ctx.params.child_timeout;
    loop {
        if child.try_wait()?.is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Skip::TimedOut(ctx.params.child_timeout));
        }
        thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().last().unwrap_or("").trim();
    if let Some(values) = last.strip_prefix("RESULT") {
        values.split_whitespace().map(|v| v.parse::<f64>().map_err(failed)).collect()
    } else if let Some(why) = last.strip_prefix("NA ") {
        na(why)
    } else {
        Err(failed(format!("child said {last:?} ({})", out.status)))
    }
}

fn child_main(args: &[String]) -> ExitCode {
    let (Some(system), Some(channels)) = (args.first(), args.get(1).and_then(|n| n.parse().ok())) else {
        eprintln!("usage: {CHILD_FLAG} SYSTEM CHANNELS [--no-pin]");
        return ExitCode::FAILURE;
    };
    let mut params = Params::new(true);
    params.pin = !args.iter().any(|a| a == "--no-pin");
    let ctx = Ctx { placement: Placement::new(params.pin), params, epoch: Instant::now() };
    let Some(sys) = systems(&all_baselines()).into_iter().find(|s| s.name() == system) else {
        println!("FAILED unknown system {system}");
        return ExitCode::FAILURE;
    };
    match sys.idle_memory(&ctx, channels) {
        Ok(values) => println!("RESULT {}", values.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(" ")),
        Err(Skip::NotApplicable(why)) => println!("NA {why}"),
        Err(skip) => println!("FAILED {skip}"),
    }
    // Exit without tearing down 100,000 channels.
    std::process::exit(0)
}

// ---------------------------------------------------------------------------------------
// Command line, watchdog, main loop
// ---------------------------------------------------------------------------------------

struct Cli {
    params: Params,
    only: Vec<String>,
    baselines: Vec<&'static str>,
    list: bool,
}

const USAGE: &str = "usage: cargo bench --bench compare -- [--quick] [--runs N] [--only SCENARIO[,SCENARIO..]] [--total-mib N] [--write-kib N] [--read-kib N] [--baselines LIST] [--no-pin] [--list]
  --quick        small sizes and short durations (bulk 64 MiB, 0.5 s timed phases, 3 runs)
  --runs N       measurements per scenario and system (default 5, quick 3)
  --only LIST    comma-separated scenario keys or groups (a group selects every key under it),
                 e.g. bulk, bulk/100, tick/64, latency, priority, churn, memory, threads
  --total-mib N  bulk total size in MiB (default 1024, quick 64)
  --write-kib N  bulk write size in KiB (default 64)
  --read-kib N   bulk receivers' read buffer in KiB (default 64)
  --baselines LIST  comma-separated systems measured beside netconduit: raw, raw-per-channel,
                 yamux (default all three; empty for none)
  --no-pin       do not pin side A / side B to separate CPUs
  --list         print the scenario keys and exit";

fn parse_cli(args: &[String]) -> Result<Cli, String> {
    let quick = args.iter().any(|a| a == "--quick");
    let mut params = Params::new(quick);
    let mut only = Vec::new();
    let mut baselines = all_baselines();
    let mut list = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--quick" | "--bench" => {}
            "--runs" => params.runs = value("--runs")?.parse().map_err(|e| format!("--runs: {e}"))?,
            "--only" => only.extend(value("--only")?.split(',').map(|s| s.trim().to_string())),
            "--total-mib" => {
                params.bulk_total = value("--total-mib")?.parse::<u64>().map_err(|e| format!("--total-mib: {e}"))? * MIB
            }
            "--write-kib" => params.bulk_chunk = kib(&value("--write-kib")?, "--write-kib")?,
            "--read-kib" => params.bulk_read = kib(&value("--read-kib")?, "--read-kib")?,
            "--baselines" => {
                let keys = value("--baselines")?;
                let keys: Vec<&str> = keys.split(',').map(str::trim).filter(|k| !k.is_empty()).collect();
                if let Some(unknown) = keys.iter().find(|k| !all_baselines().contains(k)) {
                    return Err(format!("--baselines: unknown system {unknown:?}; choose from {:?}", all_baselines()));
                }
                baselines = all_baselines().into_iter().filter(|b| keys.contains(b)).collect();
            }
            "--no-pin" => params.pin = false,
            "--list" => list = true,
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    if params.runs == 0 || params.bulk_total == 0 || params.bulk_chunk == 0 || params.bulk_read == 0 {
        return Err("--runs, --total-mib, --write-kib and --read-kib must be positive".into());
    }
    Ok(Cli { params, only, baselines, list })
}

/// A size given in KiB on the command line, in bytes.
fn kib(value: &str, name: &str) -> Result<usize, String> {
    value.parse::<usize>().map(|n| n * KIB).map_err(|e| format!("{name}: {e}"))
}

/// Aborts the process (after printing what was measured) when one measurement runs
/// past its bound; blocked I/O threads cannot be cancelled otherwise.
struct Watchdog {
    armed: Arc<Mutex<Option<(Instant, String)>>>,
}

impl Watchdog {
    fn start(results: Arc<Mutex<Results>>, header: String) -> Self {
        let armed: Arc<Mutex<Option<(Instant, String)>>> = Arc::new(Mutex::new(None));
        let watch = armed.clone();
        thread::spawn(move || loop {
            thread::sleep(Duration::from_millis(200));
            if let Some((deadline, what)) = watch.lock().unwrap().clone() {
                if Instant::now() > deadline {
                    eprintln!("\n{what} exceeded its time bound; aborting with partial results");
                    println!("{header}");
                    println!("{}", results.lock().unwrap().markdown());
                    println!("ABORTED: {what} exceeded its time bound");
                    std::process::exit(2);
                }
            }
        });
        Watchdog { armed }
    }

    fn arm(&self, bound: Duration, what: String) {
        *self.armed.lock().unwrap() = Some((Instant::now() + bound, what));
    }

    fn disarm(&self) {
        *self.armed.lock().unwrap() = None;
    }
}

fn header(p: &Params, placement: &Placement) -> String {
    let mode = if p.quick { "quick" } else { "full" };
    format!(
        "## netconduit vs raw TCP vs yamux ({mode} mode, {} runs)\n\n\
         bulk total {} MiB in {} KiB writes, {} KiB read buffers; small messages {:?} per measurement; latency {} round trips \
         (+{} warm-up); priority {:?} of High every {:?}; churn {:?}, window {}.\n\
         Placement: {}. Host: {} CPUs, loopback TCP, Nagle off.\n",
        p.runs,
        p.bulk_total / MIB,
        p.bulk_chunk / KIB,
        p.bulk_read / KIB,
        p.tick_duration,
        p.latency_round_trips,
        p.latency_warmup,
        p.priority_duration,
        p.priority_interval,
        p.churn_duration,
        p.churn_window,
        placement.describe(),
        thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
    )
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(pos) = args.iter().position(|a| a == CHILD_FLAG) {
        return child_main(&args[pos + 1..]);
    }
    let cli = match parse_cli(&args) {
        Ok(cli) => cli,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::FAILURE;
        }
    };
    let p = cli.params.clone();
    let all = scenarios(&p);
    if cli.list {
        for s in &all {
            println!("{:<16} {}", s.key, s.rows.iter().map(|r| r.label.as_str()).collect::<Vec<_>>().join(" / "));
        }
        return ExitCode::SUCCESS;
    }
    let selected: Vec<&Scenario> = all
        .iter()
        .filter(|s| cli.only.is_empty() || cli.only.iter().any(|o| s.key == *o || s.key.starts_with(&format!("{o}/"))))
        .collect();
    if selected.is_empty() {
        eprintln!("no scenario matches {:?}; try --list", cli.only);
        return ExitCode::FAILURE;
    }

    let placement = Placement::new(p.pin);
    let ctx = Ctx { params: p.clone(), placement, epoch: Instant::now() };
    let systems = systems(&cli.baselines);
    let results = Arc::new(Mutex::new(Results::new(systems.iter().map(|s| s.name()).collect())));
    let head = header(&p, &placement);
    let watchdog = Watchdog::start(results.clone(), head.clone());
    eprintln!("{head}");

    for sc in selected {
        let first = results.lock().unwrap().add_rows(&sc.rows);
        // A system that failed, timed out or does not apply is not run again.
        let mut done = vec![false; systems.len()];
        for run in 1..=p.runs {
            // Each run starts with the next system, so none always follows the
            // same one (whatever the previous measurement leaves to wind down,
            // or the state it leaves the host in, falls on every system alike).
            for i in (0..systems.len()).map(|k| (k + run - 1) % systems.len()) {
                let sys = &systems[i];
                if done[i] {
                    continue;
                }
                // The margin lets a child process hit its own (smaller) bound first.
                watchdog.arm(p.measurement_timeout + Duration::from_secs(30), format!("{} on {}", sc.key, sys.name()));
                let t0 = Instant::now();
                let outcome = (sc.run)(sys.as_ref(), &ctx);
                watchdog.disarm();
                let shown = match &outcome {
                    Ok(v) => v.iter().map(|x| report::fmt_num(*x)).collect::<Vec<_>>().join(" / "),
                    Err(skip) => skip.to_string(),
                };
                eprintln!(
                    "[{}] run {run}/{} {:<24} {shown}  ({:.1} s)",
                    sc.key,
                    p.runs,
                    sys.name(),
                    t0.elapsed().as_secs_f64()
                );
                done[i] = outcome.is_err();
                results.lock().unwrap().record(first, sc.rows.len(), i, &outcome);
                // Let sockets and threads of the previous measurement wind down.
                thread::sleep(Duration::from_millis(50));
            }
        }
    }
    println!("{head}");
    println!("{}", results.lock().unwrap().markdown());
    ExitCode::SUCCESS
}
