//! netconduit adapter: the only file that names the netconduit API. It maps the crate
//! onto `blocking::Link`, so netconduit runs exactly the workload code raw TCP runs.
//!
//! PLUG-IN: the adapter is compiled out until the crate's core API has landed. To enable
//! it, delete the `#[cfg(any())]` line above `mod real`, and in `system()` below swap the
//! stub for `Box::new(Blocking(real::NetConduit))`. Then fix whatever the final API
//! renamed (it is written against the planned API: `Multiplexer::new(reader, writer,
//! MultiplexerOptions::default())`, `wait_ready`, `open_channel(ChannelOptions::new(id)
//! .priority(..))`, `accept()`, `WriteChannel::close(self)`).

#[allow(unused_imports)]
use crate::blocking::Blocking;
use crate::common::*;

/// The netconduit contender.
pub fn system() -> Box<dyn System> {
    Box::new(Stub)
}

/// Placeholder until the adapter is enabled: every scenario reports "n/a".
struct Stub;

impl System for Stub {
    fn name(&self) -> &'static str {
        "netconduit"
    }
    fn bulk(&self, _: &Ctx, _: &Bulk) -> Outcome {
        na("adapter not enabled")
    }
    fn tick(&self, _: &Ctx, _: &Tick) -> Outcome {
        na("adapter not enabled")
    }
    fn latency(&self, _: &Ctx, _: &Latency) -> Outcome {
        na("adapter not enabled")
    }
    fn priority(&self, _: &Ctx, _: &PriorityLoad) -> Outcome {
        na("adapter not enabled")
    }
    fn churn(&self, _: &Ctx, _: &Churn) -> Outcome {
        na("adapter not enabled")
    }
    fn idle_memory(&self, _: &Ctx, _: usize) -> Outcome {
        na("adapter not enabled")
    }
    fn threads(&self, _: &Ctx, _: usize) -> Outcome {
        na("adapter not enabled")
    }
}

#[cfg(any())] // PLUG-IN: delete this line once the netconduit core API exists.
mod real {
    use std::io;
    use std::net::{TcpListener, TcpStream};
    use std::sync::Arc;
    use std::time::Duration;

    use netconduit::{ChannelOptions, Multiplexer, MultiplexerOptions, Priority, ReadChannel, WriteChannel};

    use crate::blocking::{BlockingSystem, Link};
    use crate::common::{join, to_io, Placement, Prio, Side};

    pub struct NetConduit;

    pub struct NcLink {
        mux: Multiplexer,
    }

    impl Drop for NcLink {
        fn drop(&mut self) {
            let _ = self.mux.close();
        }
    }

    /// Options for every benchmark multiplexer. The idle-memory scenario holds up to
    /// 100,000 channels open at once: raise any channel-count limit here.
    fn options() -> MultiplexerOptions {
        MultiplexerOptions::default()
    }

    fn link(stream: TcpStream) -> io::Result<NcLink> {
        stream.set_nodelay(true)?;
        let reader = stream.try_clone()?;
        let mux = Multiplexer::new(reader, stream, options()).map_err(to_io)?;
        Ok(NcLink { mux })
    }

    impl Link for NcLink {
        type Writer = WriteChannel;
        type Reader = ReadChannel;

        fn open(&self, id: &str, prio: Prio) -> io::Result<WriteChannel> {
            let priority = match prio {
                Prio::High => Priority::HIGH,
                Prio::Low => Priority::LOW,
                Prio::Normal => Priority::NORMAL,
            };
            self.mux
                .open_channel(ChannelOptions::new(id).priority(priority))
                .map_err(to_io)
        }

        fn accept(&self) -> io::Result<ReadChannel> {
            self.mux.accept().map_err(to_io)
        }

        fn finish(&self, w: WriteChannel) -> io::Result<()> {
            w.close().map_err(to_io)
        }
    }

    impl BlockingSystem for NetConduit {
        type Link = NcLink;
        const NAME: &'static str = "netconduit";
        const MULTIPLEXER: bool = true;
        const IDLE_CHANNELS: bool = true;

        fn pair(&self, pl: &Placement) -> io::Result<(Arc<NcLink>, Arc<NcLink>)> {
            // Each multiplexer is built on a thread pinned to its side, so the threads
            // it spawns inherit that CPU.
            let listener = TcpListener::bind("127.0.0.1:0")?;
            let addr = listener.local_addr()?;
            let b = pl.spawn(Side::B, move || link(listener.accept()?.0));
            let a = join(pl.spawn(Side::A, move || link(TcpStream::connect(addr)?)))?;
            let b = join(b)?;
            for side in [&a, &b] {
                side.mux.wait_ready(Duration::from_secs(10)).map_err(to_io)?;
            }
            Ok((Arc::new(a), Arc::new(b)))
        }
    }
}
