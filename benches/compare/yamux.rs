//! yamux 0.14 baseline, used the way async code uses it: each side is a current-thread
//! tokio runtime on its own pinned thread, the `Connection` is driven by one task
//! (`drive`), every stream is served by tasks on that runtime. Same workloads, tags,
//! clocks and placement as the blocking scenarios; only the execution model differs.
//!
//! Config: `yamux::Config::default()`, except that `max_num_streams` (default 512) is
//! raised when a scenario needs more streams (1000-channel small messages, idle memory);
//! beyond 4096 streams the connection receive-window cap is lifted, as yamux requires.
//!
//! yamux streams are duplex and are announced by their first frame, so an accepted
//! stream that only receives closes its write half right after setup (which also
//! acknowledges the stream; yamux stalls openers with 256 unacknowledged streams).

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::net::TcpStream as StdTcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio_util::compat::{Compat, TokioAsyncReadCompatExt};
use yamux::{Config, Connection, ConnectionError, Mode, Stream};

use crate::common::*;
use crate::loopback::tcp_pair;

pub struct Yamux;

const DEFAULT_MAX_STREAMS: usize = 512;
const STREAM_WINDOW: usize = 256 * KIB;
const DEFAULT_CONNECTION_WINDOW: usize = 1024 * 1024 * 1024;

fn config(streams: usize) -> Config {
    let mut cfg = Config::default();
    if streams + 1 > DEFAULT_MAX_STREAMS {
        let max = streams + 16;
        if max * STREAM_WINDOW > DEFAULT_CONNECTION_WINDOW {
            cfg.set_max_connection_receive_window(None);
        }
        cfg.set_max_num_streams(max);
    }
    cfg
}

// ---------------------------------------------------------------------------------------
// One side: runtime + driven connection + a handle to open and accept streams
// ---------------------------------------------------------------------------------------

type OpenReq = oneshot::Sender<Result<Stream, ConnectionError>>;

/// One side: a current-thread runtime and the task driving its connection.
struct YSide {
    rt: Runtime,
    driver: tokio::task::JoinHandle<()>,
}

/// Opens and accepts streams of one side's connection (talks to `drive`).
struct Control {
    open_tx: mpsc::UnboundedSender<OpenReq>,
    inbound: mpsc::UnboundedReceiver<Stream>,
}

impl Control {
    async fn open(&self) -> io::Result<Stream> {
        let (tx, rx) = oneshot::channel();
        self.open_tx.send(tx).map_err(to_io)?;
        rx.await.map_err(to_io)?.map_err(to_io)
    }

    async fn accept(&mut self) -> io::Result<Stream> {
        self.inbound.recv().await.ok_or_else(|| io::Error::other("yamux connection closed"))
    }
}

/// Owns the connection: serves open requests and hands out inbound streams. Polling
/// `poll_next_inbound` is what moves every byte of the connection.
async fn drive(
    mut conn: Connection<Compat<tokio::net::TcpStream>>,
    mut open_rx: mpsc::UnboundedReceiver<OpenReq>,
    inbound_tx: mpsc::UnboundedSender<Stream>,
) {
    let mut pending: VecDeque<OpenReq> = VecDeque::new();
    let mut requests_open = true;
    futures::future::poll_fn(|cx| {
        while requests_open {
            match open_rx.poll_recv(cx) {
                Poll::Ready(Some(req)) => pending.push_back(req),
                Poll::Ready(None) => requests_open = false,
                Poll::Pending => break,
            }
        }
        while !pending.is_empty() {
            match conn.poll_new_outbound(cx) {
                Poll::Ready(res) => {
                    let _ = pending.pop_front().unwrap().send(res);
                }
                Poll::Pending => break,
            }
        }
        loop {
            match conn.poll_next_inbound(cx) {
                Poll::Ready(Some(Ok(stream))) => {
                    let _ = inbound_tx.send(stream);
                }
                Poll::Ready(Some(Err(_))) | Poll::Ready(None) => return Poll::Ready(()),
                Poll::Pending => return Poll::Pending,
            }
        }
    })
    .await
}

impl YSide {
    fn new(socket: StdTcpStream, cfg: Config, mode: Mode) -> io::Result<(YSide, Control)> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        socket.set_nonblocking(true)?;
        let socket = {
            let _guard = rt.enter();
            tokio::net::TcpStream::from_std(socket)?
        };
        let conn = Connection::new(socket.compat(), cfg, mode);
        let (open_tx, open_rx) = mpsc::unbounded_channel();
        let (inbound_tx, inbound) = mpsc::unbounded_channel();
        let driver = rt.spawn(drive(conn, open_rx, inbound_tx));
        Ok((YSide { rt, driver }, Control { open_tx, inbound }))
    }

    /// Keeps the connection running until the peer hangs up (bounded), so nothing
    /// still queued inside yamux is lost when this side's runtime is dropped.
    fn until_peer_closes(self) {
        let driver = self.driver;
        let _ = self.rt.block_on(async { tokio::time::timeout(Duration::from_secs(30), driver).await });
    }
}

/// Side A and side B running on their pinned threads.
struct Pair<RA, RB> {
    a: JoinHandle<io::Result<RA>>,
    b: JoinHandle<io::Result<RB>>,
}

impl<RA, RB> Pair<RA, RB> {
    fn join(self) -> io::Result<(RA, RB)> {
        let b = join(self.b);
        let a = join(self.a);
        Ok((a?, b?))
    }
}

/// Connects two yamux sides over loopback TCP and runs the future made by `fa` on side
/// A's runtime, the one made by `fb` on side B's. B hangs up when its future is done; A
/// keeps its connection running until then.
fn spawn_pair<RA, RB, FA, FB, UA, UB>(ctx: &Ctx, streams: usize, fa: FA, fb: FB) -> io::Result<Pair<RA, RB>>
where
    RA: Send + 'static,
    RB: Send + 'static,
    FA: FnOnce(Control) -> UA + Send + 'static,
    FB: FnOnce(Control) -> UB + Send + 'static,
    UA: Future<Output = io::Result<RA>>,
    UB: Future<Output = io::Result<RB>>,
{
    let (client, server) = tcp_pair()?;
    let (cfg_a, cfg_b) = (config(streams), config(streams));
    let a = ctx.placement.spawn(Side::A, move || {
        let (side, ctl) = YSide::new(client, cfg_a, Mode::Client)?;
        let r = side.rt.block_on(fa(ctl))?;
        side.until_peer_closes();
        Ok(r)
    });
    let b = ctx.placement.spawn(Side::B, move || {
        let (side, ctl) = YSide::new(server, cfg_b, Mode::Server)?;
        side.rt.block_on(fb(ctl))
    });
    Ok(Pair { a, b })
}

// ---------------------------------------------------------------------------------------
// Async building blocks
// ---------------------------------------------------------------------------------------

/// Opens one stream per tag and sends the tag as hello.
async fn open_all(ctl: &Control, tags: &[u8]) -> io::Result<Vec<Stream>> {
    let mut out = Vec::with_capacity(tags.len());
    for tag in tags {
        let mut s = ctl.open().await?;
        s.write_all(&[*tag]).await?;
        s.flush().await?;
        out.push(s);
    }
    Ok(out)
}

/// Accepts `n` streams and reads their hello. `simplex`: close our write half (we only
/// receive on it), which also acknowledges the stream to the opener.
async fn accept_all(ctl: &mut Control, n: usize, simplex: bool) -> io::Result<Vec<(u8, Stream)>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = ctl.accept().await?;
        let mut tag = [0u8; 1];
        s.read_exact(&mut tag).await?;
        if simplex {
            s.close().await?;
        }
        out.push((tag[0], s));
    }
    Ok(out)
}

/// Reads to end-of-stream: byte count and instant of the last byte.
async fn drain(s: &mut Stream, buf_size: usize) -> io::Result<(u64, Instant)> {
    let mut buf = vec![0u8; buf_size];
    let (mut got, mut last) = (0u64, Instant::now());
    loop {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            return Ok((got, last));
        }
        got += n as u64;
        last = Instant::now();
    }
}

/// Spawns one draining task per stream and collects (total bytes, last instant).
async fn drain_all(streams: Vec<(u8, Stream)>, buf_size: usize) -> io::Result<(u64, Vec<Instant>)> {
    let tasks: Vec<_> =
        streams.into_iter().map(|(_, mut s)| tokio::spawn(async move { drain(&mut s, buf_size).await })).collect();
    let (mut total, mut ends) = (0, Vec::new());
    for t in tasks {
        let (got, end) = t.await.map_err(to_io)??;
        total += got;
        ends.push(end);
    }
    Ok((total, ends))
}

async fn read_msg(s: &mut Stream, buf: &mut [u8]) -> io::Result<bool> {
    match s.read_exact(buf).await {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

// ---------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------

impl Yamux {
    fn run_bulk(&self, ctx: &Ctx, b: &Bulk) -> io::Result<f64> {
        let gate = Gate::new(2);
        let (ga, gb, bulk) = (gate.clone(), gate.clone(), *b);
        let pair = spawn_pair(
            ctx,
            b.channels,
            move |ctl| async move {
                let streams = open_all(&ctl, &vec![TAG_DATA; bulk.channels]).await?;
                ga.wait_async().await;
                let chunk: Arc<[u8]> = vec![0x5Au8; bulk.chunk].into();
                let tasks: Vec<_> = streams
                    .into_iter()
                    .enumerate()
                    .map(|(i, mut s)| {
                        let (chunk, mut left) = (chunk.clone(), bulk.share(i));
                        tokio::spawn(async move {
                            while left > 0 {
                                let n = left.min(chunk.len() as u64) as usize;
                                s.write_all(&chunk[..n]).await?;
                                left -= n as u64;
                            }
                            s.close().await
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.map_err(to_io)??;
                }
                Ok(())
            },
            move |mut ctl| async move {
                let streams = accept_all(&mut ctl, bulk.channels, true).await?;
                gb.wait_async().await;
                drain_all(streams, bulk.read_buf).await
            },
        )?;
        let start = gate.open();
        let ((), (total, ends)) = pair.join()?;
        if total != b.total {
            return Err(io::Error::other(format!("bulk: received {total} of {}", b.total)));
        }
        Ok(b.mib_per_s(until_last(start, ends)))
    }

    fn run_tick(&self, ctx: &Ctx, t: &Tick) -> io::Result<f64> {
        let gate = Gate::new(2);
        let (ga, gb, tick) = (gate.clone(), gate.clone(), *t);
        let pair = spawn_pair(
            ctx,
            t.channels,
            move |ctl| async move {
                let mut streams = open_all(&ctl, &vec![TAG_DATA; tick.channels]).await?;
                ga.wait_async().await;
                // One "game loop": each round sends one message on every stream.
                let msg = vec![0x42u8; tick.msg_size];
                let deadline = Instant::now() + tick.duration;
                let mut sent = 0u64;
                while Instant::now() < deadline {
                    for s in streams.iter_mut() {
                        s.write_all(&msg).await?;
                        s.flush().await?;
                    }
                    sent += streams.len() as u64;
                }
                for mut s in streams {
                    s.close().await?;
                }
                Ok(sent)
            },
            move |mut ctl| async move {
                let streams = accept_all(&mut ctl, tick.channels, true).await?;
                gb.wait_async().await;
                drain_all(streams, READ_BUF).await
            },
        )?;
        let start = gate.open();
        let (sent, (bytes, ends)) = pair.join()?;
        if bytes != sent * t.msg_size as u64 {
            return Err(io::Error::other(format!("tick: received {bytes} of {}", sent * t.msg_size as u64)));
        }
        Ok((bytes / t.msg_size as u64) as f64 / until_last(start, ends).as_secs_f64())
    }

    fn run_latency(&self, ctx: &Ctx, l: &Latency) -> io::Result<Vec<Duration>> {
        let l = *l;
        // One duplex stream: requests A -> B, responses B -> A.
        let pair = spawn_pair(
            ctx,
            1,
            move |ctl| async move {
                let mut s = open_all(&ctl, &[TAG_DATA]).await?.pop().unwrap();
                let mut buf = vec![0x17u8; l.msg_size];
                let mut samples = Vec::with_capacity(l.round_trips);
                for i in 0..l.warmup + l.round_trips {
                    let t0 = Instant::now();
                    s.write_all(&buf).await?;
                    s.flush().await?;
                    s.read_exact(&mut buf).await?;
                    if i >= l.warmup {
                        samples.push(t0.elapsed());
                    }
                }
                s.close().await?;
                Ok(samples)
            },
            move |mut ctl| async move {
                let (_, mut s) = accept_all(&mut ctl, 1, false).await?.pop().unwrap();
                let mut buf = vec![0u8; l.msg_size];
                while read_msg(&mut s, &mut buf).await? {
                    s.write_all(&buf).await?;
                    s.flush().await?;
                }
                s.close().await
            },
        )?;
        Ok(pair.join()?.0)
    }

    fn run_priority(&self, ctx: &Ctx, p: &PriorityLoad) -> io::Result<Vec<Duration>> {
        let gate = Gate::new(2);
        let (ga, gb, p, ctx_a, ctx_b) = (gate.clone(), gate.clone(), *p, ctx.clone(), ctx.clone());
        let pair = spawn_pair(
            ctx,
            2,
            move |ctl| async move {
                let mut streams = open_all(&ctl, &[TAG_LOW, TAG_HIGH]).await?;
                let (mut high, mut low) = (streams.pop().unwrap(), streams.pop().unwrap());
                ga.wait_async().await;
                let stop = Arc::new(AtomicBool::new(false));
                let low_task = {
                    let stop = stop.clone();
                    tokio::spawn(async move {
                        let chunk = vec![0x33u8; p.low_chunk];
                        while !stop.load(Ordering::Relaxed) {
                            low.write_all(&chunk).await?;
                        }
                        low.close().await
                    })
                };
                let mut msg = vec![0x77u8; p.msg_size];
                // Let Low fill the pipe first.
                tokio::time::sleep(Duration::from_millis(20)).await;
                let deadline = Instant::now() + p.duration;
                while Instant::now() < deadline {
                    msg[..8].copy_from_slice(&ctx_a.stamp().to_be_bytes());
                    high.write_all(&msg).await?;
                    high.flush().await?;
                    tokio::time::sleep(p.interval).await;
                }
                stop.store(true, Ordering::Relaxed);
                high.close().await?;
                low_task.await.map_err(to_io)?
            },
            move |mut ctl| async move {
                let streams = accept_all(&mut ctl, 2, true).await?;
                gb.wait_async().await;
                let mut lat = Vec::new();
                let mut low_task = None;
                for (tag, mut s) in streams {
                    if tag == TAG_LOW {
                        low_task = Some(tokio::spawn(async move { drain(&mut s, READ_BUF).await }));
                        continue;
                    }
                    let mut msg = vec![0u8; p.msg_size];
                    while read_msg(&mut s, &mut msg).await? {
                        let stamp = u64::from_be_bytes(msg[..8].try_into().unwrap());
                        lat.push(ctx_b.since_stamp(stamp));
                    }
                }
                if let Some(t) = low_task {
                    t.await.map_err(to_io)??;
                }
                Ok(lat)
            },
        )?;
        gate.open();
        Ok(pair.join()?.1)
    }

    fn run_churn(&self, ctx: &Ctx, c: &Churn) -> io::Result<f64> {
        let gate = Gate::new(2);
        let (ga, gb, c) = (gate.clone(), gate.clone(), *c);
        // Permits bound the streams in flight (opened but not yet fully received).
        let window = Arc::new(Semaphore::new(c.window));
        let window_b = window.clone();
        let pair = spawn_pair(
            ctx,
            c.window + 2,
            move |ctl| async move {
                ga.wait_async().await;
                let deadline = Instant::now() + c.duration;
                let mut opened = 0u64;
                while Instant::now() < deadline {
                    window.acquire().await.map_err(to_io)?.forget();
                    let mut s = ctl.open().await?;
                    s.write_all(&[TAG_DATA]).await?;
                    s.close().await?;
                    opened += 1;
                }
                let mut s = ctl.open().await?;
                s.write_all(&[TAG_STOP]).await?;
                s.close().await?;
                Ok(opened)
            },
            move |mut ctl| async move {
                gb.wait_async().await;
                let (mut done, mut last) = (0u64, Instant::now());
                loop {
                    let mut s = ctl.accept().await?;
                    let mut got = Vec::with_capacity(1);
                    s.read_to_end(&mut got).await?;
                    s.close().await?;
                    if got == [TAG_STOP] {
                        return Ok((done, last));
                    }
                    if got.len() != 1 {
                        return Err(io::Error::other(format!("churn: got {} bytes", got.len())));
                    }
                    done += 1;
                    last = Instant::now();
                    window_b.add_permits(1);
                }
            },
        )?;
        let start = gate.open();
        let (opened, (done, last)) = pair.join()?;
        if opened != done {
            return Err(io::Error::other(format!("churn: accepted {done} of {opened}")));
        }
        Ok(done as f64 / until_last(start, [last]).as_secs_f64())
    }

    /// Sets up `channels` idle streams; `measure` runs in the coordinator once when the
    /// two sides are connected and once when all streams are set up.
    fn probe<T>(&self, ctx: &Ctx, channels: usize, measure: impl Fn() -> io::Result<T>) -> io::Result<(T, T)> {
        let connected = Gate::new(2);
        let established = Gate::new(2);
        let release = Gate::new(2);
        let (c1, e1, r1) = (connected.clone(), established.clone(), release.clone());
        let (c2, e2, r2) = (connected.clone(), established.clone(), release.clone());
        let pair = spawn_pair(
            ctx,
            channels,
            move |ctl| async move {
                c1.wait_async().await;
                let streams = open_all(&ctl, &vec![TAG_DATA; channels]).await?;
                e1.wait_async().await;
                r1.wait_async().await;
                drop(streams);
                Ok(())
            },
            move |mut ctl| async move {
                c2.wait_async().await;
                let streams = accept_all(&mut ctl, channels, true).await?;
                e2.wait_async().await;
                r2.wait_async().await;
                drop(streams);
                Ok(())
            },
        )?;
        connected.open();
        let before = measure();
        established.open();
        std::thread::sleep(Duration::from_millis(200));
        let during = measure();
        release.open();
        pair.join()?;
        Ok((before?, during?))
    }
}

impl System for Yamux {
    fn name(&self) -> &'static str {
        "yamux"
    }

    fn bulk(&self, ctx: &Ctx, b: &Bulk) -> Outcome {
        Ok(vec![self.run_bulk(ctx, b)?])
    }

    fn tick(&self, ctx: &Ctx, t: &Tick) -> Outcome {
        Ok(vec![self.run_tick(ctx, t)?])
    }

    fn latency(&self, ctx: &Ctx, l: &Latency) -> Outcome {
        p50_p99_us(&self.run_latency(ctx, l)?)
    }

    fn priority(&self, ctx: &Ctx, p: &PriorityLoad) -> Outcome {
        p50_p99_us(&self.run_priority(ctx, p)?)
    }

    fn churn(&self, ctx: &Ctx, c: &Churn) -> Outcome {
        Ok(vec![self.run_churn(ctx, c)?])
    }

    fn idle_memory(&self, ctx: &Ctx, channels: usize) -> Outcome {
        let (before, during) = self.probe(ctx, channels, rss_bytes)?;
        Ok(vec![per_channel(before, during, channels)])
    }

    fn threads(&self, ctx: &Ctx, probe: usize) -> Outcome {
        let before = settled_thread_count()?;
        let (idle, busy) = self.probe(ctx, probe, settled_thread_count)?;
        // Two sides (one runtime thread each) live in this process.
        Ok(vec![(idle as f64 - before as f64) / 2.0, (busy as f64 - before as f64) / 2.0])
    }
}
