//! A channel's outgoing frames, encoded and ready for the wire.
//!
//! Frames are encoded once, straight from the application's buffer, into
//! *segments*: pooled buffers holding whole frames with at most one chunk of
//! payload in all. The writer thread takes one segment per scheduling turn, so a
//! higher-priority channel waits at most one chunk. Small writes are coalesced: while
//! the last DATA frame is still queued it is extended instead of starting a new frame,
//! so 64-byte messages cost a memcpy, not a 9-byte header each.

use super::frame::{put_fin, put_header, FrameType, HEADER_LEN};
use super::pool::BufferPool;
use std::collections::VecDeque;

/// Queued, encoded frames of one channel.
#[derive(Debug, Default)]
pub struct SendQueue {
    segments: VecDeque<Vec<u8>>,
    /// Offset of the last segment's trailing DATA frame, while it may still grow.
    open_data: Option<usize>,
    /// Payload bytes in the last segment.
    tail_payload: usize,
    /// Encoded bytes queued, headers included.
    bytes: usize,
}

impl SendQueue {
    /// Encodes `data` as DATA frames for channel `index`: each frame at most
    /// `max_frame` payload bytes, each segment at most `chunk` payload bytes.
    pub fn push_data(&mut self, index: u32, mut data: &[u8], max_frame: usize, chunk: usize, pool: &mut BufferPool) {
        while !data.is_empty() {
            if self.segments.is_empty() || self.tail_payload >= chunk {
                self.segments.push_back(pool.get(chunk + 2 * HEADER_LEN));
                self.open_data = None;
                self.tail_payload = 0;
            }
            let segment = self.segments.back_mut().expect("a segment was just ensured");
            let before = segment.len();
            let start = match self.open_data {
                Some(start) if frame_len(segment, start) < max_frame => start,
                _ => {
                    let start = segment.len();
                    put_header(segment, index, FrameType::Data, 0);
                    self.open_data = Some(start);
                    start
                }
            };
            let room = (max_frame - frame_len(segment, start)).min(chunk - self.tail_payload);
            let take = room.min(data.len());
            segment.extend_from_slice(&data[..take]);
            let len = frame_len(segment, start) + take;
            set_frame_len(segment, start, len);
            self.tail_payload += take;
            self.bytes += segment.len() - before;
            data = &data[take..];
        }
    }

    /// Appends FIN for channel `index`; nothing may follow it.
    pub fn push_fin(&mut self, index: u32, pool: &mut BufferPool) {
        if self.segments.is_empty() {
            self.segments.push_back(pool.get(HEADER_LEN));
            self.tail_payload = 0;
        }
        put_fin(self.segments.back_mut().expect("a segment was just ensured"), index);
        self.bytes += HEADER_LEN;
        self.open_data = None;
    }

    /// Takes the oldest segment for the wire.
    pub fn pop(&mut self) -> Option<Vec<u8>> {
        let segment = self.segments.pop_front()?;
        self.bytes -= segment.len();
        if self.segments.is_empty() {
            self.open_data = None;
            self.tail_payload = 0;
        }
        Some(segment)
    }

    /// Encoded bytes queued, frame headers included.
    pub fn len(&self) -> usize {
        self.bytes
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// Drops every queued frame, returning the buffers to `pool`.
    pub fn clear(&mut self, pool: &mut BufferPool) {
        for segment in self.segments.drain(..) {
            pool.put(segment);
        }
        self.bytes = 0;
        self.open_data = None;
        self.tail_payload = 0;
    }
}

fn frame_len(segment: &[u8], start: usize) -> usize {
    u32::from_be_bytes(segment[start + 5..start + 9].try_into().expect("4 bytes")) as usize
}

fn set_frame_len(segment: &mut [u8], start: usize, len: usize) {
    segment[start + 5..start + 9].copy_from_slice(&(len as u32).to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::super::decoder::{tests::Recorder, Decoder};
    use super::*;

    fn drain(queue: &mut SendQueue) -> Vec<Vec<u8>> {
        std::iter::from_fn(|| queue.pop()).collect()
    }

    fn decode(segments: &[Vec<u8>]) -> Recorder {
        let mut recorder = Recorder::default();
        Decoder::new(1 << 24).feed(&segments.concat(), &mut recorder).unwrap();
        recorder
    }

    #[test]
    fn small_writes_coalesce_into_one_frame() {
        let mut pool = BufferPool::new(64, 4);
        let mut queue = SendQueue::default();
        for _ in 0..4 {
            queue.push_data(7, b"abcd", 1024, 64, &mut pool);
        }
        queue.push_fin(7, &mut pool);
        let segments = drain(&mut queue);
        assert_eq!(segments.len(), 1);
        let frames = decode(&segments).frames;
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].1, b"abcdabcdabcdabcd");
        assert_eq!(frames[1].0.kind, FrameType::Fin);
    }

    #[test]
    fn large_writes_split_by_frame_and_chunk_limits() {
        let mut pool = BufferPool::new(64, 4);
        let mut queue = SendQueue::default();
        let data: Vec<u8> = (0..100u8).collect();
        queue.push_data(1, &data, 30, 40, &mut pool);
        let segments = drain(&mut queue);
        assert_eq!(segments.len(), 3);
        let frames = decode(&segments).frames;
        let sizes: Vec<usize> = frames.iter().map(|f| f.1.len()).collect();
        assert_eq!(sizes, [30, 10, 30, 10, 20]);
        assert_eq!(frames.iter().flat_map(|f| f.1.clone()).collect::<Vec<_>>(), data);
    }

    #[test]
    fn popped_frames_are_never_extended() {
        let mut pool = BufferPool::new(64, 4);
        let mut queue = SendQueue::default();
        queue.push_data(1, b"ab", 100, 100, &mut pool);
        let first = queue.pop().unwrap();
        queue.push_data(1, b"cd", 100, 100, &mut pool);
        let frames = decode(&[first, queue.pop().unwrap()]).frames;
        assert_eq!(frames.len(), 2);
    }
}
