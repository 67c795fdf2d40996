//! The reading end of a channel the peer opened.

use super::handle::ChannelHandle;
use crate::options::Priority;
use crate::stats::ChannelStats;
use std::io::{self, Read};
use std::time::{Duration, Instant};

/// The reading end of an incoming channel, from [`Multiplexer::accept`] or
/// [`Multiplexer::accept_channel`].
///
/// # Blocking
/// [`read`](Read::read) returns buffered bytes at once, or blocks until some
/// arrive. It returns `Ok(0)` only for a clean end: the peer sent FIN and every
/// byte before it was read. When the channel or the session failed it returns the
/// bytes that arrived before the failure first, then an error (never `Ok(0)`). With
/// a read timeout set, a read that waited that long fails with
/// [`io::ErrorKind::TimedOut`] and the channel stays usable. Reading grants
/// credits back to the writer as the protocol's threshold is reached.
///
/// A read with no timeout may read the transport itself instead of sleeping until
/// the reader thread hands it the bytes (its own payload straight into `buf`), and
/// then delivers whatever else arrives to the other channels: one wake-up and up
/// to two copies less per message. Nothing changes for the caller, except that it
/// does this work.
///
/// # Closing
/// [`close`](ReadChannel::close) or dropping the channel before its end tells the
/// writer to stop (`ERR CANCEL`): its later writes fail with `BrokenPipe`. Bytes
/// still buffered are discarded.
///
/// [`Multiplexer::accept`]: crate::Multiplexer::accept
/// [`Multiplexer::accept_channel`]: crate::Multiplexer::accept_channel
pub struct ReadChannel {
    handle: ChannelHandle,
    read_timeout: Option<Duration>,
    released: bool,
}

impl ReadChannel {
    pub(crate) fn new(handle: ChannelHandle) -> Self {
        ReadChannel { handle, read_timeout: None, released: false }
    }

    /// The channel's id.
    pub fn channel_id(&self) -> &str {
        &self.handle.id
    }

    /// The channel's wire index in the peer's index space.
    pub fn channel_index(&self) -> u32 {
        self.handle.index
    }

    /// The priority the peer opened the channel with.
    pub fn priority(&self) -> Priority {
        self.handle.priority
    }

    /// Bytes received and not yet read.
    pub fn buffered(&self) -> usize {
        self.handle.shared.lock().buffered(self.handle.index)
    }

    /// The channel's counters.
    pub fn stats(&self) -> ChannelStats {
        self.handle.shared.lock().incoming_stats(self.handle.index, Instant::now()).unwrap_or_default()
    }

    /// Bounds how long one `read` blocks (`None`, the default: until data, end or
    /// error).
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) {
        self.read_timeout = timeout;
    }

    /// Stops the channel: the writer is told to stop (`ERR CANCEL`) unless the
    /// channel already ended, and buffered bytes are discarded.
    pub fn close(mut self) {
        self.release();
    }

    fn release(&mut self) {
        if !std::mem::replace(&mut self.released, true) {
            self.handle.update(|session, index| session.cancel(index, Instant::now()));
        }
    }
}

impl Read for ReadChannel {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let deadline = self.read_timeout.map(|t| Instant::now() + t);
        Ok(self.handle.read(buf, deadline)?)
    }
}

impl Drop for ReadChannel {
    fn drop(&mut self) {
        self.release();
    }
}

impl std::fmt::Debug for ReadChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ReadChannel").field(&self.handle).finish()
    }
}
