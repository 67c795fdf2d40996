//! Bytes received on a channel and not yet read by the application.
//!
//! A queue of pooled chunks, allocated on demand and returned when drained, so an
//! idle channel holds no buffer at all.

use super::pool::BufferPool;
use std::collections::VecDeque;

/// A channel's receive buffer.
#[derive(Debug, Default)]
pub struct RecvBuffer {
    chunks: VecDeque<Vec<u8>>,
    /// Read position in the front chunk.
    head: usize,
    len: usize,
}

impl RecvBuffer {
    /// Appends received bytes.
    pub fn push(&mut self, mut bytes: &[u8], pool: &mut BufferPool) {
        self.len += bytes.len();
        while !bytes.is_empty() {
            let tail = match self.chunks.back_mut() {
                Some(tail) if tail.len() < tail.capacity() => tail,
                _ => {
                    self.chunks.push_back(pool.get(bytes.len().min(pool.buffer_capacity())));
                    self.chunks.back_mut().expect("just pushed")
                }
            };
            let take = (tail.capacity() - tail.len()).min(bytes.len());
            tail.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
        }
    }

    /// Copies up to `out.len()` bytes into `out`, returning how many.
    pub fn read(&mut self, out: &mut [u8], pool: &mut BufferPool) -> usize {
        let mut copied = 0;
        while copied < out.len() {
            let Some(front) = self.chunks.front() else { break };
            let take = (front.len() - self.head).min(out.len() - copied);
            out[copied..copied + take].copy_from_slice(&front[self.head..self.head + take]);
            copied += take;
            self.head += take;
            if self.head == front.len() {
                let drained = self.chunks.pop_front().expect("front exists");
                pool.put(drained);
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

    /// Discards everything, returning the chunks to `pool`.
    pub fn clear(&mut self, pool: &mut BufferPool) {
        for chunk in self.chunks.drain(..) {
            pool.put(chunk);
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
}
