//! [`DuplexStream`]: a write channel and a read channel as one `Read + Write`
//! connection.

use crate::{ChannelOptions, Multiplexer, ReadChannel, Result, WriteChannel};
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

/// A connection to the peer: this side's write channel and the peer's read channel
/// joined into one `Read + Write` value.
///
/// [`open`](Self::open) makes one from both sides with one name: each side opens
/// channel `name` and accepts the peer's channel `name` (a channel id may be open in
/// both directions at once).
///
/// # Blocking
/// Reads and writes block as on [`ReadChannel`] and [`WriteChannel`]:
/// [`read`](Read::read) waits for bytes (bounded by
/// [`set_read_timeout`](Self::set_read_timeout)) and returns `Ok(0)` once the peer
/// shut down its writing side and every byte was read; [`write`](Write::write) waits
/// for the peer to make room (bounded by [`set_send_timeout`](Self::set_send_timeout)).
///
/// # Half-close and closing
/// [`shutdown_write`](Self::shutdown_write) sends FIN: the peer reads to the end of
/// the stream while both sides can still read what the other writes, like
/// `TcpStream::shutdown(Shutdown::Write)`. Writing afterwards fails with
/// `BrokenPipe`. Dropping the stream shuts down writing and stops reading: if the
/// peer is still writing, its writes fail with `BrokenPipe`.
#[derive(Debug)]
pub struct DuplexStream {
    reader: ReadChannel,
    writer: Option<WriteChannel>,
}

impl DuplexStream {
    /// Opens channel `id` to the peer, then accepts the peer's channel `id`. The
    /// peer calls `open` with the same id, in either order, so both get a stream to
    /// the other. The call returns once the peer's channel arrived, so the two
    /// sides must call it concurrently (two processes, or two threads of one);
    /// it waits at most 30 seconds for each step; see [`open_with`](Self::open_with).
    ///
    /// Fails as [`Multiplexer::open_channel`] and
    /// [`Multiplexer::accept_channel_timeout`] do, for example with
    /// [`Error::Timeout`](crate::Error::Timeout) when the peer did not open its channel in time.
    pub fn open(multiplexer: &Multiplexer, id: &str) -> Result<DuplexStream> {
        DuplexStream::open_with(multiplexer, ChannelOptions::new(id))
    }

    /// Like [`open`](Self::open) with the write channel's options; the open and the
    /// accept together take at most `options.open_timeout`.
    pub fn open_with(multiplexer: &Multiplexer, options: ChannelOptions) -> Result<DuplexStream> {
        let (reader, writer) = open_pair(multiplexer, options)?;
        Ok(DuplexStream::new(reader, writer))
    }

    /// Joins a read channel and a write channel.
    pub fn new(reader: ReadChannel, writer: WriteChannel) -> DuplexStream {
        DuplexStream { reader, writer: Some(writer) }
    }

    /// The two channels again; the write channel is `None` after
    /// [`shutdown_write`](Self::shutdown_write).
    pub fn split(self) -> (ReadChannel, Option<WriteChannel>) {
        (self.reader, self.writer)
    }

    /// Ends the writing side with FIN: the peer reads what was written, then end of
    /// stream. Reading goes on. Returns the channel's error if it had failed (bytes
    /// may then not have arrived); calling it again does nothing.
    pub fn shutdown_write(&mut self) -> Result<()> {
        match self.writer.take() {
            Some(writer) => writer.close(),
            None => Ok(()),
        }
    }

    /// True after [`shutdown_write`](Self::shutdown_write).
    pub fn is_write_shutdown(&self) -> bool {
        self.writer.is_none()
    }

    /// Bounds how long one read blocks (`None`, the default: until data, end or
    /// error); see [`ReadChannel::set_read_timeout`].
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) {
        self.reader.set_read_timeout(timeout);
    }

    /// Changes how long one write waits for the peer to make room; see
    /// [`WriteChannel::set_send_timeout`].
    pub fn set_send_timeout(&mut self, timeout: Duration) {
        if let Some(writer) = &mut self.writer {
            writer.set_send_timeout(timeout);
        }
    }

    /// The read channel (its id, counters and buffered bytes).
    pub fn reader(&self) -> &ReadChannel {
        &self.reader
    }

    /// The write channel, until [`shutdown_write`](Self::shutdown_write).
    pub fn writer(&self) -> Option<&WriteChannel> {
        self.writer.as_ref()
    }

    /// Shuts down writing (see [`shutdown_write`](Self::shutdown_write)) and stops
    /// reading.
    pub fn close(mut self) -> Result<()> {
        self.shutdown_write()
    }

    fn writer_mut(&mut self) -> io::Result<&mut WriteChannel> {
        self.writer.as_mut().ok_or_else(|| io::Error::new(io::ErrorKind::BrokenPipe, "write side was shut down"))
    }
}

impl Read for DuplexStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reader.read(buf)
    }
}

impl Write for DuplexStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer_mut()?.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.writer {
            Some(writer) => writer.flush(),
            None => Ok(()),
        }
    }
}

/// Opens this side's channel `options.id` and accepts the peer's channel of the
/// same id, within `options.open_timeout` in total. Opening first cannot deadlock
/// with a peer doing the same: the peer's session acknowledges the channel before
/// its application accepts it.
pub(crate) fn open_pair(multiplexer: &Multiplexer, options: ChannelOptions) -> Result<(ReadChannel, WriteChannel)> {
    let deadline = Instant::now() + options.open_timeout;
    let id = options.id.clone();
    let writer = multiplexer.open_channel(options)?;
    let reader = multiplexer.accept_channel_timeout(&id, deadline.saturating_duration_since(Instant::now()))?;
    Ok((reader, writer))
}
