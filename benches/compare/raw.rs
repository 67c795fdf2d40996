//! Raw blocking TCP baselines.
//!
//! * `RawPerChannel` gives every channel its own TCP connection; it plugs into the
//!   generic blocking scenarios (`blocking.rs`), so it runs exactly the workload code
//!   netconduit runs.
//! * `RawSingle` puts everything on one connection with no framing at all: N writer
//!   threads take turns on one socket (bulk), one loop writes every message to it
//!   (small messages), one duplex socket echoes (latency). It is the ceiling a
//!   multiplexer over one connection can approach.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::blocking::{BlockingSystem, Link};
use crate::common::*;
use crate::loopback::tcp_pair;

// ---------------------------------------------------------------------------------------
// One connection per channel
// ---------------------------------------------------------------------------------------

pub struct RawPerChannel;

/// A side: its own listener (channels the peer opens) and the peer's address.
pub struct RawLink {
    listener: TcpListener,
    peer: SocketAddr,
}

impl Link for RawLink {
    type Writer = TcpStream;
    type Reader = TcpStream;

    fn open(&self, _id: &str, _prio: Prio) -> io::Result<TcpStream> {
        let s = TcpStream::connect(self.peer)?;
        s.set_nodelay(true)?;
        Ok(s)
    }

    fn accept(&self) -> io::Result<TcpStream> {
        let (s, _) = self.listener.accept()?;
        s.set_nodelay(true)?;
        Ok(s)
    }

    fn finish(&self, w: TcpStream) -> io::Result<()> {
        w.shutdown(Shutdown::Write)
    }
}

impl BlockingSystem for RawPerChannel {
    type Link = RawLink;
    const NAME: &'static str = "raw TCP (conn/channel)";
    const MULTIPLEXER: bool = false;
    const IDLE_CHANNELS: bool = false;

    fn pair(&self, _pl: &Placement, _channels: usize) -> io::Result<(Arc<RawLink>, Arc<RawLink>)> {
        let la = TcpListener::bind("127.0.0.1:0")?;
        let lb = TcpListener::bind("127.0.0.1:0")?;
        let (pa, pb) = (la.local_addr()?, lb.local_addr()?);
        Ok((Arc::new(RawLink { listener: la, peer: pb }), Arc::new(RawLink { listener: lb, peer: pa })))
    }
}

// ---------------------------------------------------------------------------------------
// Everything on one connection
// ---------------------------------------------------------------------------------------

pub struct RawSingle;

/// Spawns the receiving end on side B: drains `server` and returns the byte count and
/// the instant of the last byte.
fn spawn_drain(
    pl: &Placement,
    gate: &Gate,
    mut server: TcpStream,
    buf_size: usize,
) -> std::thread::JoinHandle<io::Result<(u64, Instant)>> {
    let gate = gate.clone();
    pl.spawn(Side::B, move || {
        let mut buf = vec![0u8; buf_size];
        gate.wait();
        let (mut got, mut last) = (0u64, Instant::now());
        loop {
            let n = server.read(&mut buf)?;
            if n == 0 {
                return Ok((got, last));
            }
            got += n as u64;
            last = Instant::now();
        }
    })
}

impl RawSingle {
    fn run_bulk(&self, ctx: &Ctx, b: &Bulk) -> io::Result<f64> {
        let pl = &ctx.placement;
        let (client, server) = tcp_pair()?;
        let shut = client.try_clone()?;
        let client = Arc::new(Mutex::new(client));
        let gate = Gate::new(b.channels + 1);
        let receiver = spawn_drain(pl, &gate, server, b.read_buf);
        let senders: Vec<_> = (0..b.channels)
            .map(|i| {
                let (gate, client, share, chunk) = (gate.clone(), client.clone(), b.share(i), b.chunk);
                pl.spawn(Side::A, move || -> io::Result<()> {
                    let buf = vec![0x5Au8; chunk];
                    gate.wait();
                    let mut left = share;
                    while left > 0 {
                        let n = left.min(chunk as u64) as usize;
                        client.lock().unwrap().write_all(&buf[..n])?;
                        left -= n as u64;
                    }
                    Ok(())
                })
            })
            .collect();
        let start = gate.open();
        for s in senders {
            join(s)?;
        }
        shut.shutdown(Shutdown::Write)?;
        let (got, end) = join(receiver)?;
        if got != b.total {
            return Err(io::Error::other(format!("bulk: received {got} of {}", b.total)));
        }
        Ok(b.mib_per_s(until_last(start, [end])))
    }

    fn run_tick(&self, ctx: &Ctx, t: &Tick) -> io::Result<f64> {
        let pl = &ctx.placement;
        let (mut client, server) = tcp_pair()?;
        let gate = Gate::new(2);
        let receiver = spawn_drain(pl, &gate, server, READ_BUF);
        let (channels, size, duration) = (t.channels, t.msg_size, t.duration);
        let sender = {
            let gate = gate.clone();
            pl.spawn(Side::A, move || -> io::Result<u64> {
                let msg = vec![0x42u8; size];
                gate.wait();
                let deadline = Instant::now() + duration;
                let mut sent = 0u64;
                while Instant::now() < deadline {
                    for _ in 0..channels {
                        client.write_all(&msg)?;
                    }
                    sent += channels as u64;
                }
                client.shutdown(Shutdown::Write)?;
                Ok(sent)
            })
        };
        let start = gate.open();
        let sent = join(sender)?;
        let (got, end) = join(receiver)?;
        if got != sent * size as u64 {
            return Err(io::Error::other(format!("tick: received {got} of {}", sent * size as u64)));
        }
        Ok((got / size as u64) as f64 / until_last(start, [end]).as_secs_f64())
    }

    fn run_latency(&self, ctx: &Ctx, l: &Latency) -> io::Result<Vec<Duration>> {
        let pl = &ctx.placement;
        let (mut client, mut server) = tcp_pair()?;
        let size = l.msg_size;
        let echo = pl.spawn(Side::B, move || -> io::Result<()> {
            let mut buf = vec![0u8; size];
            loop {
                match server.read_exact(&mut buf) {
                    Ok(()) => server.write_all(&buf)?,
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
                    Err(e) => return Err(e),
                }
            }
        });
        let (warmup, round_trips) = (l.warmup, l.round_trips);
        let samples = pl
            .spawn(Side::A, move || -> io::Result<Vec<Duration>> {
                let mut buf = vec![0x17u8; size];
                let mut samples = Vec::with_capacity(round_trips);
                for i in 0..warmup + round_trips {
                    let t0 = Instant::now();
                    client.write_all(&buf)?;
                    client.read_exact(&mut buf)?;
                    if i >= warmup {
                        samples.push(t0.elapsed());
                    }
                }
                client.shutdown(Shutdown::Write)?;
                Ok(samples)
            })
            .join()
            .map_err(|_| io::Error::other("client panicked"))??;
        join(echo)?;
        Ok(samples)
    }
}

impl System for RawSingle {
    fn name(&self) -> &'static str {
        "raw TCP (1 conn)"
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

    fn priority(&self, _ctx: &Ctx, _p: &PriorityLoad) -> Outcome {
        na("one unframed stream")
    }

    fn churn(&self, _ctx: &Ctx, _c: &Churn) -> Outcome {
        na("one connection")
    }

    fn idle_memory(&self, _ctx: &Ctx, _channels: usize) -> Outcome {
        na("one connection")
    }
}
