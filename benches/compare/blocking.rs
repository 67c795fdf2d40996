//! Scenarios written once for every blocking, thread-per-channel system: netconduit and
//! raw TCP with one connection per channel. A system only says how to connect two sides
//! and how one side opens, accepts and finishes a channel (`Link`); the workloads,
//! clocks and thread placement live here.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::*;

/// One side of a connected pair.
pub trait Link: Send + Sync + 'static {
    type Writer: Write + Send + 'static;
    type Reader: Read + Send + 'static;

    /// Opens a channel towards the other side.
    fn open(&self, id: &str, prio: Prio) -> io::Result<Self::Writer>;
    /// Accepts the next channel the other side opened.
    fn accept(&self) -> io::Result<Self::Reader>;
    /// Ends a channel: the other side reads end-of-stream after the last byte.
    fn finish(&self, w: Self::Writer) -> io::Result<()>;
}

/// A blocking system: how to make a connected pair of links.
pub trait BlockingSystem: Send + Sync + 'static {
    type Link: Link;
    const NAME: &'static str;
    /// True when one link is a multiplexer (its threads are worth counting).
    const MULTIPLEXER: bool;
    /// True when idle channels are cheap enough to hold 100,000 of them.
    const IDLE_CHANNELS: bool;

    /// Connects side A and side B, for a scenario that holds up to `channels` channels
    /// open at once (raise limits beyond the defaults only when that needs it).
    /// Implementations build each side's link on a thread pinned to that side
    /// (`Placement::spawn`) so the link's own threads inherit the CPU.
    fn pair(&self, pl: &Placement, channels: usize) -> io::Result<LinkPair<Self::Link>>;
}

/// Side A's and side B's link.
pub type LinkPair<L> = (Arc<L>, Arc<L>);

/// Writers in tag order, and readers with their tags in acceptance order.
type Established<L> = (Vec<<L as Link>::Writer>, Vec<(u8, <L as Link>::Reader)>);

/// Adapts any `BlockingSystem` to the harness' `System`.
pub struct Blocking<S>(pub S);

// ---------------------------------------------------------------------------------------
// Setup helpers (outside the clock)
// ---------------------------------------------------------------------------------------

/// Opens one channel per tag from `opener` (on the calling thread, pinned to
/// `opener_side`) while a thread on the other side accepts them. Each channel carries its
/// tag byte as a hello, so the accepter knows it and the channel is fully set up before
/// any clock starts. Returns the writers in tag order and the readers with their tags in
/// acceptance order.
fn establish<L: Link>(
    pl: &Placement,
    opener_side: Side,
    opener: &Arc<L>,
    accepter: &Arc<L>,
    tags: &[(u8, Prio)],
) -> io::Result<Established<L>> {
    let n = tags.len();
    let accepter = accepter.clone();
    let other = match opener_side {
        Side::A => Side::B,
        Side::B => Side::A,
    };
    let acceptor = pl.spawn(other, move || -> io::Result<Vec<(u8, L::Reader)>> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let mut r = accepter.accept()?;
            let mut tag = [0u8; 1];
            r.read_exact(&mut tag)?;
            out.push((tag[0], r));
        }
        Ok(out)
    });
    let opener = opener.clone();
    let tags = tags.to_vec();
    let writers = pl
        .spawn(opener_side, move || -> io::Result<Vec<L::Writer>> {
            let mut out = Vec::with_capacity(tags.len());
            for (i, (tag, prio)) in tags.iter().enumerate() {
                let mut w = opener.open(&format!("ch{i}"), *prio)?;
                w.write_all(&[*tag])?;
                w.flush()?;
                out.push(w);
            }
            Ok(out)
        })
        .join()
        .map_err(|_| io::Error::other("opener panicked"))??;
    let readers = join(acceptor)?;
    Ok((writers, readers))
}

/// Reads until end-of-stream; returns the byte count and the instant the last byte
/// arrived (the receiver's finish line; the end-of-stream itself is not timed).
fn drain(r: &mut impl Read, buf_size: usize) -> io::Result<(u64, Instant)> {
    let mut buf = vec![0u8; buf_size];
    let mut got = 0u64;
    let mut last = Instant::now();
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok((got, last));
        }
        got += n as u64;
        last = Instant::now();
    }
}

fn send_exactly(w: &mut impl Write, mut remaining: u64, chunk: &[u8]) -> io::Result<()> {
    while remaining > 0 {
        let n = remaining.min(chunk.len() as u64) as usize;
        w.write_all(&chunk[..n])?;
        remaining -= n as u64;
    }
    w.flush()
}

fn expect_bytes(got: u64, want: u64, what: &str) -> io::Result<()> {
    if got == want {
        Ok(())
    } else {
        Err(io::Error::other(format!("{what}: received {got} of {want} bytes")))
    }
}

// ---------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------

impl<S: BlockingSystem> Blocking<S> {
    fn run_bulk(&self, ctx: &Ctx, b: &Bulk) -> io::Result<f64> {
        let pl = &ctx.placement;
        let (a, bside) = self.0.pair(pl, b.channels)?;
        let tags = vec![(TAG_DATA, Prio::Normal); b.channels];
        let (writers, readers) = establish(pl, Side::A, &a, &bside, &tags)?;
        let gate = Gate::new(2 * b.channels);
        let chunk: Arc<[u8]> = vec![0x5A; b.chunk].into();

        let senders: Vec<_> = writers
            .into_iter()
            .enumerate()
            .map(|(i, mut w)| {
                let (gate, chunk, link, share) = (gate.clone(), chunk.clone(), a.clone(), b.share(i));
                pl.spawn(Side::A, move || -> io::Result<()> {
                    gate.wait();
                    send_exactly(&mut w, share, &chunk)?;
                    link.finish(w)
                })
            })
            .collect();
        let receivers: Vec<_> = readers
            .into_iter()
            .map(|(_, mut r)| {
                let (gate, read_buf) = (gate.clone(), b.read_buf);
                pl.spawn(Side::B, move || -> io::Result<(u64, Instant)> {
                    gate.wait();
                    drain(&mut r, read_buf)
                })
            })
            .collect();
        let start = gate.open();
        for s in senders {
            join(s)?;
        }
        let mut total = 0;
        let mut ends = Vec::new();
        for r in receivers {
            let (got, end) = join(r)?;
            total += got;
            ends.push(end);
        }
        expect_bytes(total, b.total, "bulk")?;
        Ok(b.mib_per_s(until_last(start, ends)))
    }

    fn run_tick(&self, ctx: &Ctx, t: &Tick) -> io::Result<f64> {
        let pl = &ctx.placement;
        let (a, b) = self.0.pair(pl, t.channels)?;
        let tags = vec![(TAG_DATA, Prio::Normal); t.channels];
        let (mut writers, readers) = establish(pl, Side::A, &a, &b, &tags)?;
        let gate = Gate::new(1 + t.channels);
        let (msg_size, duration) = (t.msg_size, t.duration);

        // One sender thread, the "game loop": each round sends one message on every
        // channel, until the duration is over.
        let sender = {
            let (gate, a) = (gate.clone(), a.clone());
            pl.spawn(Side::A, move || -> io::Result<u64> {
                let msg = vec![0x42u8; msg_size];
                gate.wait();
                let deadline = Instant::now() + duration;
                let mut sent = 0u64;
                while Instant::now() < deadline {
                    for w in writers.iter_mut() {
                        w.write_all(&msg)?;
                        w.flush()?;
                    }
                    sent += writers.len() as u64;
                }
                for w in writers {
                    a.finish(w)?;
                }
                Ok(sent)
            })
        };
        let receivers: Vec<_> = readers
            .into_iter()
            .map(|(_, mut r)| {
                let gate = gate.clone();
                pl.spawn(Side::B, move || -> io::Result<(u64, Instant)> {
                    gate.wait();
                    drain(&mut r, READ_BUF)
                })
            })
            .collect();
        let start = gate.open();
        let sent = join(sender)?;
        let mut bytes = 0;
        let mut ends = Vec::new();
        for r in receivers {
            let (got, end) = join(r)?;
            bytes += got;
            ends.push(end);
        }
        expect_bytes(bytes, sent * msg_size as u64, "tick")?;
        let msgs = bytes / msg_size as u64;
        Ok(msgs as f64 / until_last(start, ends).as_secs_f64())
    }

    fn run_latency(&self, ctx: &Ctx, l: &Latency) -> io::Result<Vec<Duration>> {
        let pl = &ctx.placement;
        let (a, b) = self.0.pair(pl, 2)?;
        // Requests A -> B and responses B -> A, each on its own simplex channel.
        let (mut req_w, req_r) = establish(pl, Side::A, &a, &b, &[(TAG_DATA, Prio::Normal)])?;
        let (mut resp_w, resp_r) = establish(pl, Side::B, &b, &a, &[(TAG_DATA, Prio::Normal)])?;
        let (mut req_r, mut resp_r) = (req_r.into_iter().next().unwrap().1, resp_r.into_iter().next().unwrap().1);
        let mut resp_w = resp_w.pop().unwrap();
        let size = l.msg_size;
        // The links stay owned here until both ends are done: closing a multiplexer is
        // not part of any measurement.
        let (a2, b2) = (a.clone(), b.clone());
        let server = pl.spawn(Side::B, move || -> io::Result<()> {
            let mut buf = vec![0u8; size];
            loop {
                match req_r.read_exact(&mut buf) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                    Err(e) => return Err(e),
                }
                resp_w.write_all(&buf)?;
                resp_w.flush()?;
            }
            b2.finish(resp_w)
        });
        let (warmup, round_trips) = (l.warmup, l.round_trips);
        let client = pl.spawn(Side::A, move || -> io::Result<Vec<Duration>> {
            let mut w = req_w.pop().unwrap();
            let mut buf = vec![0x17u8; size];
            let mut samples = Vec::with_capacity(round_trips);
            for i in 0..warmup + round_trips {
                let t0 = Instant::now();
                w.write_all(&buf)?;
                w.flush()?;
                resp_r.read_exact(&mut buf)?;
                if i >= warmup {
                    samples.push(t0.elapsed());
                }
            }
            a2.finish(w)?;
            let mut rest = Vec::new();
            resp_r.read_to_end(&mut rest)?;
            Ok(samples)
        });
        let samples = join(client)?;
        join(server)?;
        Ok(samples)
    }

    fn run_priority(&self, ctx: &Ctx, p: &PriorityLoad) -> io::Result<Vec<Duration>> {
        let pl = &ctx.placement;
        let (a, b) = self.0.pair(pl, 2)?;
        let (mut writers, readers) = establish(pl, Side::A, &a, &b, &[(TAG_LOW, Prio::Low), (TAG_HIGH, Prio::High)])?;
        let high_w = writers.pop().unwrap();
        let low_w = writers.pop().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let gate = Gate::new(4);

        let low_sender = {
            let (gate, stop, a) = (gate.clone(), stop.clone(), a.clone());
            let chunk = vec![0x33u8; p.low_chunk];
            pl.spawn(Side::A, move || -> io::Result<()> {
                let mut w = low_w;
                gate.wait();
                while !stop.load(Ordering::Relaxed) {
                    w.write_all(&chunk)?;
                }
                a.finish(w)
            })
        };
        let high_sender = {
            let (gate, stop, ctx, p, a) = (gate.clone(), stop.clone(), ctx.clone(), *p, a.clone());
            pl.spawn(Side::A, move || -> io::Result<()> {
                let mut w = high_w;
                let mut msg = vec![0x77u8; p.msg_size];
                gate.wait();
                // Let Low fill the pipe first.
                thread::sleep(Duration::from_millis(20));
                let deadline = Instant::now() + p.duration;
                while Instant::now() < deadline {
                    msg[..8].copy_from_slice(&ctx.stamp().to_be_bytes());
                    w.write_all(&msg)?;
                    w.flush()?;
                    thread::sleep(p.interval);
                }
                stop.store(true, Ordering::Relaxed);
                a.finish(w)
            })
        };
        let receivers: Vec<_> = readers
            .into_iter()
            .map(|(tag, mut r)| {
                let (gate, ctx, size) = (gate.clone(), ctx.clone(), p.msg_size);
                pl.spawn(Side::B, move || -> io::Result<Vec<Duration>> {
                    gate.wait();
                    if tag == TAG_LOW {
                        drain(&mut r, READ_BUF)?;
                        return Ok(Vec::new());
                    }
                    let mut msg = vec![0u8; size];
                    let mut lat = Vec::new();
                    loop {
                        match r.read_exact(&mut msg) {
                            Ok(()) => {}
                            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(lat),
                            Err(e) => return Err(e),
                        }
                        let stamp = u64::from_be_bytes(msg[..8].try_into().unwrap());
                        lat.push(ctx.since_stamp(stamp));
                    }
                })
            })
            .collect();
        gate.open();
        join(high_sender)?;
        join(low_sender)?;
        let mut lat = Vec::new();
        for r in receivers {
            lat.extend(join(r)?);
        }
        Ok(lat)
    }

    fn run_churn(&self, ctx: &Ctx, c: &Churn) -> io::Result<f64> {
        let pl = &ctx.placement;
        let (a, b) = self.0.pair(pl, c.window + 2)?;
        // Tokens bound the channels in flight (opened but not yet fully received).
        let (token_tx, token_rx) = mpsc::sync_channel::<()>(c.window);
        let gate = Gate::new(2);
        let accepter = {
            let (gate, b) = (gate.clone(), b.clone());
            pl.spawn(Side::B, move || -> io::Result<(u64, Instant)> {
                gate.wait();
                let mut done = 0u64;
                let mut last = Instant::now();
                let mut buf = [0u8; 16];
                loop {
                    let mut r = b.accept()?;
                    let mut got = Vec::with_capacity(1);
                    loop {
                        let n = r.read(&mut buf)?;
                        if n == 0 {
                            break;
                        }
                        got.extend_from_slice(&buf[..n]);
                    }
                    if got == [TAG_STOP] {
                        return Ok((done, last));
                    }
                    expect_bytes(got.len() as u64, 1, "churn")?;
                    done += 1;
                    last = Instant::now();
                    let _ = token_rx.recv();
                }
            })
        };
        let duration = c.duration;
        let opener = {
            let (gate, a) = (gate.clone(), a.clone());
            pl.spawn(Side::A, move || -> io::Result<u64> {
                gate.wait();
                let deadline = Instant::now() + duration;
                let mut opened = 0u64;
                while Instant::now() < deadline {
                    token_tx.send(()).map_err(to_io)?;
                    let mut w = a.open(&format!("c{opened}"), Prio::Normal)?;
                    w.write_all(&[TAG_DATA])?;
                    a.finish(w)?;
                    opened += 1;
                }
                let mut w = a.open("stop", Prio::Normal)?;
                w.write_all(&[TAG_STOP])?;
                a.finish(w)?;
                Ok(opened)
            })
        };
        let start = gate.open();
        let opened = join(opener)?;
        let (done, last) = join(accepter)?;
        if done != opened {
            return Err(io::Error::other(format!("churn: accepted {done} of {opened}")));
        }
        Ok(done as f64 / until_last(start, [last]).as_secs_f64())
    }

    fn run_idle_memory(&self, ctx: &Ctx, channels: usize) -> io::Result<f64> {
        let pl = &ctx.placement;
        let (a, b) = self.0.pair(pl, channels)?;
        let before = rss_bytes()?;
        let tags = vec![(TAG_DATA, Prio::Normal); channels];
        let (writers, readers) = establish(pl, Side::A, &a, &b, &tags)?;
        thread::sleep(Duration::from_millis(200));
        let after = rss_bytes()?;
        drop((writers, readers));
        Ok(per_channel(before, after, channels))
    }

    fn run_threads(&self, ctx: &Ctx, probe: usize) -> io::Result<Vec<f64>> {
        let pl = &ctx.placement;
        let before = settled_thread_count()?;
        let (a, b) = self.0.pair(pl, probe)?;
        let idle = settled_thread_count()?;
        let tags = vec![(TAG_DATA, Prio::Normal); probe];
        let (writers, readers) = establish(pl, Side::A, &a, &b, &tags)?;
        let busy = settled_thread_count()?;
        drop((writers, readers));
        // Two multiplexers (one per side) live in this process.
        Ok(vec![(idle as f64 - before as f64) / 2.0, (busy as f64 - before as f64) / 2.0])
    }
}

impl<S: BlockingSystem> System for Blocking<S> {
    fn name(&self) -> &'static str {
        S::NAME
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
        if !S::IDLE_CHANNELS {
            return na("one socket pair per channel");
        }
        Ok(vec![self.run_idle_memory(ctx, channels)?])
    }

    fn threads(&self, ctx: &Ctx, probe: usize) -> Outcome {
        if !S::MULTIPLEXER {
            return na("no multiplexer");
        }
        Ok(self.run_threads(ctx, probe)?)
    }
}
