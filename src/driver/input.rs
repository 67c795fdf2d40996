//! The transport's reading half and the buffers its reads land in.
//!
//! Whoever holds the session's input role reads through [`Input`]. Reads land in a
//! reference-counted buffer that channels may keep ranges of (large payloads are
//! not copied again, see `RecvBuffer::push_shared`), so the next read needs a
//! buffer nobody refers to: an earlier one all channels are done with, or a fresh
//! one. Reads start at a chosen offset in a page of their buffer (see [`READ_AT`]).

use crate::proto::session::FrameEnds;
use std::collections::VecDeque;
use std::io::{self, Read};
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The transport's reading half and the buffers its reads land in, used by whoever
/// holds the session's input role.
pub(crate) struct Input {
    pub transport: Box<dyn Read + Send>,
    /// Bytes a read may take (each buffer has a page more, to start at
    /// [`READ_AT`]).
    size: usize,
    /// The buffer shareable reads land in; channels may keep ranges of it.
    buffer: Arc<Vec<u8>>,
    /// Earlier shareable buffers, oldest first, reused once no channel refers to
    /// them any more. Channels drain in arrival order, so the oldest frees up first.
    spares: VecDeque<Arc<Vec<u8>>>,
    /// Where a read lands when channels hold every shareable buffer allowed: its
    /// pieces are copied, so it is free again once the read was handled.
    overflow: Option<Vec<u8>>,
    /// Whether the last read landed in `buffer` (else in `overflow`).
    shared: bool,
    /// Channels kept parts of the last shareable read: large payloads are
    /// arriving, so reads take the whole buffer (see `SMALL_READ`).
    keeps_payloads: bool,
    /// When a read last found its buffer still held by channels.
    last_held: Instant,
}

/// The bytes of the last read, as the session should take them.
pub(crate) enum Landed<'a> {
    /// In a buffer channels may keep ranges of, at this range of it.
    Shared(&'a Arc<Vec<u8>>, Range<usize>),
    /// In a buffer whose bytes must be copied.
    Private(&'a [u8]),
}

/// Most bytes of shareable read buffers per session: what channels holding parts
/// of recent reads can pin, whatever their number or how little of each buffer
/// they hold. With many busy channels each holds parts of recent buffers; reusing
/// them spares the allocator (fresh memory's page faults and zeroing cost the
/// receiver as much as a copy). Beyond this, reads land in a private buffer and
/// their payloads are copied.
const MAX_SHARED_BYTES: usize = 32 * 1024 * 1024;

/// Most bytes read at once while channels keep nothing of the reads (small
/// messages, copied out at once): the session decodes each read under its lock,
/// and with many channels' readers waiting for that lock shorter reads measured
/// faster (1000 channels of 64-byte messages: ~10%). While channels keep large
/// payloads, reads take the whole buffer: fewer reads, lock round trips and
/// wake-ups per byte.
const SMALL_READ: usize = 64 * 1024;

/// Spares kept once reads have found their buffer free for `CALM_AFTER`: a burst's
/// buffers are given back instead of staying with the session.
const CALM_SPARES: usize = 4;

/// How long reads must find the read buffer free (channels caught up) before
/// spares beyond `CALM_SPARES` are freed. Short gaps between busy stretches keep
/// them, so a busy session does not churn through the allocator.
const CALM_AFTER: Duration = Duration::from_secs(1);

/// The page size whose offsets the copies below depend on.
const PAGE: usize = 4096;

/// Where in a page of their buffer reads start: 64 bytes before its end.
///
/// On some CPUs (AMD Zen 3, whose fast short `rep movsb` both the kernel and
/// glibc's `memcpy` use) a copy runs three to five times slower when its
/// destination lies 1 to 31 bytes past its source modulo 4 KiB, and a buffered
/// payload is copied twice: by the kernel from its pages into the read buffer,
/// then out to the application's buffer. The bytes arriving mostly sit near
/// the start of the kernel's pages (each writer's turn starts a page over: a
/// frame header at 0, its payload at 9), so from here the kernel's copy puts
/// its destination 64 to 100 bytes before its source; and the copy out lands
/// 71 or 80 bytes past its source in an application buffer 16 bytes into a
/// page, where glibc puts a fresh large allocation (from a page boundary it
/// landed 7 or 16 bytes past). docs/PERFORMANCE.md has the measurements.
const READ_AT: usize = PAGE - 64;

impl Input {
    pub fn new(transport: Box<dyn Read + Send>, buffer_size: usize) -> Input {
        Input {
            transport,
            size: buffer_size,
            buffer: Arc::new(new_buffer(buffer_size)),
            spares: VecDeque::new(),
            overflow: None,
            shared: true,
            keeps_payloads: false,
            last_held: Instant::now(),
        }
    }

    /// Reads from the transport at `now` into a buffer no channel refers to: the
    /// current one, an earlier one channels let go of, a fresh one while within
    /// `MAX_SHARED_BYTES`, else the private overflow buffer. See [`landed`](Self::landed).
    /// While large frames arrive (`ends`), the read takes the whole buffer and
    /// stops at the end of a frame if one is in reach.
    pub fn read_buffered(&mut self, now: Instant, ends: Option<FrameEnds>) -> io::Result<usize> {
        self.shared = true;
        if Arc::get_mut(&mut self.buffer).is_some() {
            if now.saturating_duration_since(self.last_held) >= CALM_AFTER {
                self.spares.truncate(CALM_SPARES);
                self.overflow = None;
            }
        } else {
            self.last_held = now;
            let free = self.spares.iter().position(|spare| Arc::strong_count(spare) == 1);
            let size = self.size;
            let next = match free.and_then(|at| self.spares.remove(at)) {
                Some(spare) => spare,
                None if (self.spares.len() + 2) * size <= MAX_SHARED_BYTES => Arc::new(new_buffer(size)),
                None => {
                    self.shared = false;
                    let overflow = self.overflow.get_or_insert_with(|| new_buffer(size));
                    let len = ends.map_or(size, |ends| ends.read_len(size));
                    let range = read_range(overflow, len);
                    return self.transport.read(&mut overflow[range]);
                }
            };
            let held = std::mem::replace(&mut self.buffer, next);
            self.spares.push_back(held);
        }
        let len = match ends {
            Some(ends) => ends.read_len(self.size),
            None if self.keeps_payloads => self.size,
            None => self.size.min(SMALL_READ),
        };
        let buffer = Arc::get_mut(&mut self.buffer).expect("nobody else refers to it");
        let range = read_range(buffer, len);
        self.transport.read(&mut buffer[range])
    }

    /// The session handled the last read: notes whether channels kept parts of it.
    pub fn handled(&mut self) {
        if self.shared {
            self.keeps_payloads = Arc::strong_count(&self.buffer) > 1;
        }
    }

    /// The `len` bytes the last [`read_buffered`](Self::read_buffered) read, where
    /// they landed.
    pub fn landed(&self, len: usize) -> Landed<'_> {
        match &self.overflow {
            Some(overflow) if !self.shared => Landed::Private(&overflow[read_range(overflow, len)]),
            _ => Landed::Shared(&self.buffer, read_range(&self.buffer, len)),
        }
    }
}

/// A read buffer for reads of up to `size` bytes from [`READ_AT`].
fn new_buffer(size: usize) -> Vec<u8> {
    vec![0; size + PAGE - 1]
}

/// Where a read of `len` bytes into `buffer` goes: from its first address at
/// [`READ_AT`] in a page (a function of the buffer's address alone, so the bytes
/// read are found again the same way).
fn read_range(buffer: &[u8], len: usize) -> Range<usize> {
    let start = READ_AT.wrapping_sub(buffer.as_ptr() as usize) % PAGE;
    start..start + len
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
        assert_eq!(input.read_buffered(now, None).unwrap(), 1024);
        let first = input.buffer.clone(); // a channel keeps a range of it
        input.read_buffered(now, None).unwrap();
        assert!(!Arc::ptr_eq(&first, &input.buffer), "a held buffer is not overwritten");
        let _second = input.buffer.clone();
        let reused = Arc::as_ptr(&first);
        drop(first);
        input.read_buffered(now, None).unwrap();
        assert_eq!(Arc::as_ptr(&input.buffer), reused, "the spare the channel let go of");
    }

    /// Channels pin at most `MAX_SHARED_BYTES` of read buffers: beyond, reads land
    /// in the private overflow buffer (to be copied) until a buffer frees up. Spares
    /// beyond `CALM_SPARES` are freed once reads found their buffer free for
    /// `CALM_AFTER`, not before.
    #[test]
    fn shared_buffers_are_bounded_and_given_back_when_calm() {
        let mut input = input(MAX_SHARED_BYTES / 8);
        let now = Instant::now();
        let mut held = Vec::new();
        for _ in 0..8 {
            input.read_buffered(now, None).unwrap();
            let Landed::Shared(buffer, _) = input.landed(10) else { panic!("within the bound") };
            held.push(buffer.clone());
        }
        assert_eq!(input.read_buffered(now, None).unwrap(), MAX_SHARED_BYTES / 8);
        let Landed::Private(bytes) = input.landed(10) else { panic!("every shareable buffer is held") };
        assert_eq!(bytes, [7; 10]);
        assert_eq!(input.spares.len(), 7);
        drop(held.remove(3));
        input.read_buffered(now, None).unwrap();
        assert!(matches!(input.landed(10), Landed::Shared(..)), "a buffer freed up");
        drop(held);
        input.read_buffered(now + CALM_AFTER / 2, None).unwrap();
        assert_eq!(input.spares.len(), 7, "a short calm keeps them");
        input.read_buffered(now + CALM_AFTER, None).unwrap();
        assert_eq!(input.spares.len(), CALM_SPARES);
        assert!(input.overflow.is_none());
    }

    /// Every read starts at `READ_AT` in a page, in shareable buffers and in
    /// the overflow buffer alike, and `landed` points at it.
    #[test]
    fn reads_start_at_the_chosen_page_offset() {
        let size = MAX_SHARED_BYTES / 4;
        let mut input = input(size);
        let now = Instant::now();
        let (mut held, mut private) = (Vec::new(), 0);
        for _ in 0..6 {
            let n = input.read_buffered(now, None).unwrap();
            let bytes = match input.landed(n) {
                Landed::Shared(buffer, range) => {
                    held.push(buffer.clone()); // a channel keeps it: the next read needs another
                    &buffer[range]
                }
                Landed::Private(bytes) => {
                    private += 1;
                    bytes
                }
            };
            assert_eq!(bytes.as_ptr() as usize % PAGE, READ_AT);
            assert!(bytes.iter().all(|&b| b == 7), "the range is where the read went");
        }
        assert!(private > 0 && held.len() > 1, "both kinds of buffer were read into");
    }

    /// While large frames arrive, a read takes the whole buffer but stops at the
    /// last frame end within it.
    #[test]
    fn a_read_stops_where_a_frame_ends() {
        let mut input = input(4 * SMALL_READ);
        let ends = FrameEnds { next: 100, step: SMALL_READ + 9 };
        assert_eq!(input.read_buffered(Instant::now(), Some(ends)).unwrap(), 100 + 3 * (SMALL_READ + 9));
    }

    /// Reads take `SMALL_READ` bytes until channels keep parts of one, then the
    /// whole buffer, and the short length again once they keep nothing.
    #[test]
    fn reads_grow_while_channels_keep_payloads() {
        let mut input = input(4 * SMALL_READ);
        let now = Instant::now();
        assert_eq!(input.read_buffered(now, None).unwrap(), SMALL_READ);
        let Landed::Shared(buffer, _) = input.landed(SMALL_READ) else { panic!("shareable") };
        let kept = buffer.clone(); // a channel keeps a large payload piece
        input.handled();
        assert_eq!(input.read_buffered(now, None).unwrap(), 4 * SMALL_READ);
        input.handled(); // nothing of this one kept
        drop(kept);
        assert_eq!(input.read_buffered(now, None).unwrap(), SMALL_READ);
    }
}
