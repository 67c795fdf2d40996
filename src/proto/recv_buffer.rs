//! Bytes received on a channel and not yet read by the application.
//!
//! A queue of chunks, allocated on demand and returned when drained, so an idle
//! channel holds no buffer at all. A chunk is either a pooled buffer the bytes were
//! copied into, or a range of a shared transport read buffer: a large payload read
//! from the transport is not copied again, the channel keeps a reference to the
//! buffer it landed in. Only pieces of at least [`SHARE_MIN`] bytes are shared, so
//! a channel pins at most `read buffer size / SHARE_MIN` times the bytes it holds;
//! the driver bounds what all channels of a session pin together (32 MiB), beyond
//! which payloads are copied.

use super::pool::BufferPool;
use std::collections::VecDeque;
use std::sync::Arc;

/// Pieces at least this large are kept as ranges of the shared read buffer rather
/// than copied.
pub const SHARE_MIN: usize = 16 * 1024;

/// One queued run of bytes.
#[derive(Debug)]
enum Chunk {
    /// A pooled buffer; its bytes are `..len()`.
    Owned(Vec<u8>),
    /// A range of a transport read buffer shared with other channels.
    Shared { buffer: Arc<Vec<u8>>, start: usize, end: usize },
}

impl Chunk {
    fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Owned(bytes) => bytes,
            Chunk::Shared { buffer, start, end } => &buffer[*start..*end],
        }
    }

    fn recycle(self, pool: &mut BufferPool) {
        if let Chunk::Owned(bytes) = self {
            pool.put(bytes);
        }
    }
}

/// A channel's receive buffer.
#[derive(Debug, Default)]
pub struct RecvBuffer {
    chunks: VecDeque<Chunk>,
    /// Bytes of the front chunk already read.
    head: usize,
    len: usize,
}

impl RecvBuffer {
    /// Appends a copy of `bytes`, filling the last pooled chunk first.
    pub fn push(&mut self, mut bytes: &[u8], pool: &mut BufferPool) {
        self.len += bytes.len();
        while !bytes.is_empty() {
            let tail = match self.chunks.back_mut() {
                Some(Chunk::Owned(tail)) if tail.len() < tail.capacity() => tail,
                _ => {
                    self.chunks.push_back(Chunk::Owned(pool.get(bytes.len().min(pool.buffer_capacity()))));
                    let Some(Chunk::Owned(tail)) = self.chunks.back_mut() else { unreachable!("just pushed") };
                    tail
                }
            };
            let take = (tail.capacity() - tail.len()).min(bytes.len());
            tail.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
        }
    }

    /// Appends `buffer[start..end]` without copying it when the range is at least
    /// [`SHARE_MIN`] bytes; copies it otherwise.
    pub fn push_shared(&mut self, buffer: &Arc<Vec<u8>>, start: usize, end: usize, pool: &mut BufferPool) {
        if end - start < SHARE_MIN {
            return self.push(&buffer[start..end], pool);
        }
        self.len += end - start;
        self.chunks.push_back(Chunk::Shared { buffer: buffer.clone(), start, end });
    }

    /// Moves up to `out.len()` bytes into `out`; returns how many.
    pub fn read(&mut self, out: &mut [u8], pool: &mut BufferPool) -> usize {
        let mut copied = 0;
        while copied < out.len() {
            let Some(front) = self.chunks.front() else { break };
            let bytes = front.bytes();
            let take = (bytes.len() - self.head).min(out.len() - copied);
            out[copied..copied + take].copy_from_slice(&bytes[self.head..self.head + take]);
            copied += take;
            self.head += take;
            if self.head == bytes.len() {
                self.chunks.pop_front().expect("front exists").recycle(pool);
                self.head = 0;
            }
        }
        self.len -= copied;
        copied
    }

    /// Bytes buffered.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Drops everything buffered, returning pooled chunks.
    pub fn clear(&mut self, pool: &mut BufferPool) {
        for chunk in self.chunks.drain(..) {
            chunk.recycle(pool);
        }
        self.head = 0;
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_come_out_in_order_and_chunks_return() {
        let mut pool = BufferPool::new(8, 8);
        let mut buf = RecvBuffer::default();
        let data: Vec<u8> = (0..=255).collect();
        for piece in data.chunks(7) {
            buf.push(piece, &mut pool);
        }
        assert_eq!(buf.len(), 256);
        let mut out = vec![0; 300];
        let mut got = 0;
        while !buf.is_empty() {
            got += buf.read(&mut out[got..got + 5.min(300 - got)], &mut pool);
        }
        assert_eq!(&out[..got], &data[..]);
        assert_eq!(pool.idle(), 8);
    }

    #[test]
    fn large_ranges_are_shared_small_ones_copied_and_order_holds() {
        let mut pool = BufferPool::new(1024, 8);
        let read: Arc<Vec<u8>> = Arc::new((0..3 * SHARE_MIN).map(|i| (i % 251) as u8).collect());
        let mut buf = RecvBuffer::default();
        buf.push_shared(&read, 0, 10, &mut pool); // small: copied
        buf.push_shared(&read, 10, 10 + SHARE_MIN, &mut pool); // shared
        buf.push(b"tail", &mut pool);
        assert_eq!(Arc::strong_count(&read), 2, "one chunk refers to the read buffer");
        let mut out = vec![0; SHARE_MIN + 100];
        let n = buf.read(&mut out, &mut pool);
        assert_eq!(n, SHARE_MIN + 14);
        assert_eq!(&out[..10 + SHARE_MIN], &read[..10 + SHARE_MIN]);
        assert_eq!(&out[10 + SHARE_MIN..n], b"tail");
        assert_eq!(Arc::strong_count(&read), 1, "released once read");
        buf.push_shared(&read, 0, 2 * SHARE_MIN, &mut pool);
        buf.clear(&mut pool);
        assert_eq!((buf.len(), Arc::strong_count(&read)), (0, 1));
    }
}
