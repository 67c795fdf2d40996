//! The transport's reading half and the buffers its reads land in.
//!
//! Whoever holds the session's input role reads through [`Input`]. Reads land in a
//! reference-counted buffer that channels may keep ranges of (large payloads are
//! not copied again, see `RecvBuffer::push_shared`), so the next read needs a
//! buffer nobody refers to: an earlier one all channels are done with, or a fresh
//! one.

use std::collections::VecDeque;
use std::io::{self, Read};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The transport's reading half and the buffer its reads land in, used by whoever
/// holds the session's input role.
pub(crate) struct Input {
    pub transport: Box<dyn Read + Send>,
    /// Channels may keep ranges of it (see `RecvBuffer::push_shared`).
    pub buffer: Arc<Vec<u8>>,
    /// Earlier read buffers, oldest first, reused once no channel refers to them
    /// any more. Channels drain in arrival order, so the oldest frees up first.
    spares: VecDeque<Arc<Vec<u8>>>,
    /// When a read last found its buffer still held by channels.
    last_held: Instant,
}

/// Bytes of earlier read buffers kept for reuse. With many busy channels each
/// holds parts of recent buffers; without enough spares every read would take
/// fresh memory from the allocator (page faults and zeroing cost the receiver as
/// much as a copy). Beyond this, a buffer is left to the channels that refer to
/// it and freed with their last reference.
const MAX_SPARE_BYTES: usize = 32 * 1024 * 1024;

/// Spares kept once reads have found their buffer free for `CALM_AFTER`: a burst's
/// buffers are given back instead of staying with the session.
const CALM_SPARES: usize = 4;

/// How long reads must find the read buffer free (channels caught up) before
/// spares beyond `CALM_SPARES` are freed. Short gaps between busy stretches keep
/// them, so a busy session does not churn through the allocator.
const CALM_AFTER: Duration = Duration::from_secs(1);

impl Input {
    pub fn new(transport: Box<dyn Read + Send>, buffer_size: usize) -> Input {
        Input { transport, buffer: Arc::new(vec![0; buffer_size]), spares: VecDeque::new(), last_held: Instant::now() }
    }

    /// Reads into the read buffer at `now`, first swapping it for one no channel
    /// refers to if channels still hold parts of it.
    pub fn read_buffered(&mut self, now: Instant) -> io::Result<usize> {
        if Arc::get_mut(&mut self.buffer).is_some() {
            if self.spares.len() > CALM_SPARES && now.saturating_duration_since(self.last_held) >= CALM_AFTER {
                self.spares.truncate(CALM_SPARES);
            }
        } else {
            self.last_held = now;
            let free = self.spares.iter().position(|spare| Arc::strong_count(spare) == 1);
            let fresh = match free.and_then(|at| self.spares.remove(at)) {
                Some(spare) => spare,
                None => Arc::new(vec![0; self.buffer.len()]),
            };
            let held = std::mem::replace(&mut self.buffer, fresh);
            if self.spares.len() < (MAX_SPARE_BYTES / held.len()).max(CALM_SPARES) {
                self.spares.push_back(held);
            }
        }
        let buffer = Arc::get_mut(&mut self.buffer).expect("nobody else refers to it");
        self.transport.read(buffer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A transport that always has `n` more bytes.
    struct Endless;

    impl Read for Endless {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            out.fill(7);
            Ok(out.len())
        }
    }

    fn input(buffer_size: usize) -> Input {
        Input::new(Box::new(Endless), buffer_size)
    }

    /// While a channel holds the read buffer, the next read lands in another; once
    /// the channel lets go, that buffer is read into again instead of a fresh one.
    #[test]
    fn a_buffer_channels_let_go_of_is_read_into_again() {
        let mut input = input(1024);
        let now = Instant::now();
        assert_eq!(input.read_buffered(now).unwrap(), 1024);
        let first = input.buffer.clone(); // a channel keeps a range of it
        input.read_buffered(now).unwrap();
        assert!(!Arc::ptr_eq(&first, &input.buffer), "a held buffer is not overwritten");
        let _second = input.buffer.clone();
        let reused = Arc::as_ptr(&first);
        drop(first);
        input.read_buffered(now).unwrap();
        assert_eq!(Arc::as_ptr(&input.buffer), reused, "the spare the channel let go of");
    }

    /// Spares are bounded by `MAX_SPARE_BYTES`, and beyond `CALM_SPARES` freed once
    /// reads found their buffer free for `CALM_AFTER`, not before.
    #[test]
    fn spares_are_bounded_and_given_back_when_calm() {
        let size = MAX_SPARE_BYTES / 8;
        let mut input = input(size);
        let now = Instant::now();
        let mut held = Vec::new();
        for _ in 0..20 {
            input.read_buffered(now).unwrap();
            held.push(input.buffer.clone());
        }
        assert_eq!(input.spares.len(), 8, "at most MAX_SPARE_BYTES of spares");
        drop(held);
        input.read_buffered(now + CALM_AFTER / 2).unwrap();
        assert_eq!(input.spares.len(), 8, "a short calm keeps them");
        input.read_buffered(now + CALM_AFTER).unwrap();
        assert_eq!(input.spares.len(), CALM_SPARES);
    }
}
