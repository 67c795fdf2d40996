//! netconduit adapter: the only file that names the netconduit API. It maps the crate
//! onto `blocking::Link`, so netconduit runs exactly the workload code raw TCP runs
//! (thread per channel end, same tags, clocks and placement).
//!
//! API used: `Multiplexer::new(reader, writer, MultiplexerOptions)`, `wait_ready`,
//! `open_channel(ChannelOptions::new(id).priority(..))`, `accept()`,
//! `WriteChannel::close(self)`, `Multiplexer::close`. If the API changes, this file is
//! the one to fix.

use std::io;
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use netconduit::{ChannelOptions, Multiplexer, MultiplexerOptions, Priority, ReadChannel, WriteChannel};

use crate::blocking::{Blocking, BlockingSystem, Link};
use crate::common::{join, to_io, Placement, Prio, Side, System};

/// The netconduit contender.
pub fn system() -> Box<dyn System> {
    Box::new(Blocking(NetConduit))
}

pub struct NetConduit;

pub struct NcLink {
    mux: Multiplexer,
}

impl Drop for NcLink {
    fn drop(&mut self) {
        self.mux.close();
    }
}

/// Default options; the channel-count limits (4096 open incoming channels, 1024
/// unaccepted) are raised only for scenarios that hold more channels at once (the
/// idle-memory scenario holds up to 100,000).
fn options(channels: usize) -> MultiplexerOptions {
    let mut options = MultiplexerOptions::default();
    if channels > options.max_pending_accepts.min(options.max_incoming_channels) {
        options.max_incoming_channels = options.max_incoming_channels.max(channels + 16);
        options.max_pending_accepts = options.max_pending_accepts.max(channels + 16);
    }
    options
}

fn link(stream: TcpStream, options: MultiplexerOptions) -> io::Result<NcLink> {
    stream.set_nodelay(true)?;
    let reader = stream.try_clone()?;
    let mux = Multiplexer::new(reader, stream, options).map_err(to_io)?;
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
        // Pipelined open, like a yamux stream open: no round trip before the first
        // write (bytes wait for the peer's grant). Set-up is untimed elsewhere; it
        // matters for churn.
        self.mux.open_channel(ChannelOptions::new(id).priority(priority).wait_for_ack(false)).map_err(to_io)
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

    fn pair(&self, pl: &Placement, channels: usize) -> io::Result<(Arc<NcLink>, Arc<NcLink>)> {
        // Each multiplexer is built on a thread pinned to its side, so the threads
        // it spawns inherit that CPU.
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let (opt_a, opt_b) = (options(channels), options(channels));
        let b = pl.spawn(Side::B, move || link(listener.accept()?.0, opt_b));
        let a = join(pl.spawn(Side::A, move || link(TcpStream::connect(addr)?, opt_a)))?;
        let b = join(b)?;
        for side in [&a, &b] {
            side.mux.wait_ready(Duration::from_secs(10)).map_err(to_io)?;
        }
        Ok((Arc::new(a), Arc::new(b)))
    }
}
