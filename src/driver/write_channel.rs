//! The writing end of a channel this side opened.

use super::handle::ChannelHandle;
use crate::error::Result;
use crate::options::Priority;
use crate::proto::session::Written;
use crate::stats::ChannelStats;
use std::io::{self, Write};
use std::task::Poll;
use std::time::{Duration, Instant};

/// The writing end of an outgoing channel, from [`Multiplexer::open_channel`].
///
/// # Blocking
/// [`write`](Write::write) takes as many bytes as the peer granted credits for and
/// returns how many (at least one). When no frame that should go first is waiting
/// (control frames, higher priorities queued or waiting to write, this channel's
/// earlier frames) it writes
/// their frames to the transport itself, straight from `buf`, and returns once the
/// transport took them, so it may block in the transport like a socket write (see
/// [`MultiplexerOptions::direct_writes`]): a write of at least `frame_chunk_size`
/// bytes waits for another thread's write to end, as threads sharing a socket
/// take turns; a smaller one does so only on an idle link. (Writes under half of
/// `write_batch_size` of channels writing bulk data, unless a higher priority
/// writes, are queued instead and leave in batches, which a write may have to
/// send itself: see [`MultiplexerOptions::direct_writes`].) Otherwise it copies
/// them, encoded as frames, into the channel's queue for the writer thread (at
/// most `send_buffer_size` bytes queued) and returns at once.
/// With no credits or a full queue it blocks until a grant arrives or the queue
/// drains. After the channel's
/// `send_timeout` it fails with [`io::ErrorKind::TimedOut`] (inner error
/// [`Error::Timeout`](crate::Error::Timeout)) and the channel stays open: retry or give up.
/// [`flush`](Write::flush) never blocks (frames are sent as soon as the writer thread
/// gets to them); [`wait_sent`](WriteChannel::wait_sent) blocks until every queued
/// byte of this channel was handed to the transport. Once the peer stops the channel (`ERR CANCEL`, its reader
/// closed) writes fail with [`io::ErrorKind::BrokenPipe`]; once the session fails
/// they fail with the session's error.
///
/// # Closing
/// [`close`](WriteChannel::close) or dropping the channel sends FIN after the queued
/// bytes; the peer's reader then sees end of stream once it read them all.
///
/// [`Multiplexer::open_channel`]: crate::Multiplexer::open_channel
/// [`MultiplexerOptions::direct_writes`]: crate::MultiplexerOptions::direct_writes
pub struct WriteChannel {
    handle: ChannelHandle,
    send_timeout: Duration,
    finished: bool,
}

impl WriteChannel {
    pub(crate) fn new(handle: ChannelHandle, send_timeout: Duration) -> Self {
        WriteChannel { handle, send_timeout, finished: false }
    }

    /// The channel's id.
    pub fn channel_id(&self) -> &str {
        &self.handle.id
    }

    /// The channel's wire index in this side's index space.
    pub fn channel_index(&self) -> u32 {
        self.handle.index
    }

    /// The channel's priority.
    pub fn priority(&self) -> Priority {
        self.handle.priority
    }

    /// Bytes that can be written now without blocking.
    pub fn available_credits(&self) -> u64 {
        self.handle.shared.lock().available_credits(self.handle.index)
    }

    /// The channel's counters.
    pub fn stats(&self) -> ChannelStats {
        self.handle.shared.lock().outgoing_stats(self.handle.index, Instant::now()).unwrap_or_default()
    }

    /// `Ok` while the channel can be written; the error that ended it otherwise.
    pub fn state(&self) -> Result<()> {
        match self.handle.shared.lock().write(self.handle.index, &[]) {
            Poll::Ready(Err(error)) => Err(error),
            _ => Ok(()),
        }
    }

    /// Blocks until every byte queued on this channel was handed to the transport,
    /// at most `send_timeout`. Fails with the channel's error if it failed.
    pub fn wait_sent(&mut self) -> Result<()> {
        let deadline = Instant::now() + self.send_timeout;
        self.handle.block_on(Some(deadline), "wait_sent", |session, index| session.poll_flushed(index))
    }

    /// Changes how long `write` waits for credits.
    pub fn set_send_timeout(&mut self, timeout: Duration) {
        self.send_timeout = timeout;
    }

    /// Sends FIN after the queued bytes. Returns the channel's error if it failed
    /// (for example the peer cancelled it), since bytes may then not have arrived.
    pub fn close(mut self) -> Result<()> {
        let state = self.state();
        self.finish();
        state
    }

    fn finish(&mut self) {
        if !std::mem::replace(&mut self.finished, true) {
            self.handle.update(|session, index| session.finish(index, Instant::now()));
        }
    }
}

impl Write for WriteChannel {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // One clock read serves the deadline and the first try, which is usually
        // the only one (a clock read is a noticeable part of a write's own cost).
        let start = Instant::now();
        let deadline = start + self.send_timeout;
        let mut now = Some(start);
        let shared = &self.handle.shared;
        let mut link = None;
        let mut written = self.handle.block_on(Some(deadline), "write", |session, index| {
            session.write_or_claim(index, buf, now.take().unwrap_or_else(Instant::now), || {
                link = shared.try_link();
                link.is_some()
            })
        })?;
        loop {
            match written {
                Written::Queued(n) => return Ok(n),
                Written::Direct(frames) => {
                    let link = link.expect("a direct write holds the link");
                    return Ok(shared.transmit_direct(link, &frames, buf)?);
                }
                Written::StagingFull => {
                    // Send what is staged, as the writer thread would, then queue
                    // behind it; past the deadline, queue at once.
                    drop(link.take());
                    if let Some(mut held) = shared.link(Some(deadline)) {
                        let mut session = shared.lock();
                        if session.wants_transmit() {
                            (session, _) = shared.transmit_queued(&mut held, session, &mut Vec::new());
                        }
                        drop(held);
                        shared.finish(session);
                    }
                    return self.queue(buf, deadline);
                }
                Written::AwaitLink => {
                    // Wait for the link as a socket write waits for the socket,
                    // rather than copying the bytes into the queue; past the
                    // deadline they are queued after all.
                    drop(link.take());
                    let Some(held) = shared.link(Some(deadline)) else {
                        self.handle.update(|session, index| session.link_wait_over(index));
                        return self.queue(buf, deadline);
                    };
                    link = Some(held);
                    let again = self.handle.update(|session, index| {
                        session.link_wait_over(index);
                        session.write_or_claim(index, buf, Instant::now(), || true)
                    });
                    written = match again {
                        Poll::Ready(result) => result?,
                        Poll::Pending => {
                            drop(link.take()); // never wait for room holding the link
                            return self.queue(buf, deadline);
                        }
                    };
                }
            }
        }
    }

    /// Never blocks: queued frames are already on their way (the writer thread sends
    /// as soon as it can, there is no user-space buffer to push). Fails only if the
    /// channel failed. To wait until the bytes were handed to the transport, use
    /// [`wait_sent`](WriteChannel::wait_sent).
    fn flush(&mut self) -> io::Result<()> {
        Ok(self.state()?)
    }
}

impl WriteChannel {
    /// Queues `buf` for the writer thread, waiting for credits and room until
    /// `deadline`.
    fn queue(&self, buf: &[u8], deadline: Instant) -> io::Result<usize> {
        Ok(self.handle.block_on(Some(deadline), "write", |session, index| session.write(index, buf))?)
    }
}

impl Drop for WriteChannel {
    fn drop(&mut self) {
        self.finish();
    }
}

impl std::fmt::Debug for WriteChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("WriteChannel").field(&self.handle).finish()
    }
}
