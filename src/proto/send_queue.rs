//! A channel's outgoing frames, encoded and ready for the wire.
//!
//! Frames are encoded once, straight from the application's buffer, into
//! *segments*: pooled buffers of at most one chunk of payload. Writes are
//! coalesced: while the last DATA frame's header is still queued, the frame is
//! extended instead of starting a new one, so 64-byte messages cost a memcpy, not
//! a 9-byte header each, and a stream of writes becomes frames of up to
//! `max_frame` bytes spanning several segments: the far side's reader then finds
//! long runs of one channel's payload it can read straight into its buffer. The
//! writer thread takes a frame's segments together, never splitting a frame.

use super::frame::{put_fin, put_header, set_len, FrameType, HEADER_LEN};
use super::pool::BufferPool;
use std::collections::VecDeque;

/// Queued, encoded frames of one channel.
#[derive(Debug, Default)]
pub struct SendQueue {
    /// Each segment, and whether the next one continues its last frame.
    segments: VecDeque<(Vec<u8>, bool)>,
    /// The last popped segment's frame continues in the next one.
    mid_frame: bool,
    /// Segments popped so far: turns a segment's sequence number into its place.
    popped: u64,
    /// The trailing DATA frame while it may still grow.
    open_data: Option<OpenFrame>,
    /// Payload bytes in the last segment.
    tail_payload: usize,
    /// Encoded bytes queued, headers included.
    bytes: usize,
}

/// Where the trailing DATA frame's header lies, and its payload length so far.
#[derive(Debug, Clone, Copy)]
struct OpenFrame {
    /// Sequence number of the segment holding the header.
    seq: u64,
    /// The header's offset in that segment.
    start: usize,
    len: usize,
}

impl SendQueue {
    /// Encodes `data` as DATA frames of at most `max_frame` payload bytes for
    /// channel `index`, in segments of at most `chunk` payload bytes, extending the
    /// last frame while its header is queued. Returns the number of frames started.
    pub fn push_data(
        &mut self,
        index: u32,
        mut data: &[u8],
        max_frame: usize,
        chunk: usize,
        pool: &mut BufferPool,
    ) -> usize {
        let mut frames = 0;
        while !data.is_empty() {
            let open = self.open_data.filter(|frame| frame.len < max_frame);
            if self.segments.is_empty() || self.tail_payload >= chunk {
                match (open, self.segments.back_mut()) {
                    (Some(_), Some((_, continued))) => *continued = true,
                    _ => self.open_data = None,
                }
                self.segments.push_back((pool.get(chunk + 2 * HEADER_LEN), false));
                self.tail_payload = 0;
            }
            let mut frame = match open {
                Some(frame) => frame,
                None => {
                    let tail = &mut self.segments.back_mut().expect("a segment was just ensured").0;
                    let start = tail.len();
                    put_header(tail, index, FrameType::Data, 0);
                    self.bytes += HEADER_LEN;
                    frames += 1;
                    OpenFrame { seq: self.popped + self.segments.len() as u64 - 1, start, len: 0 }
                }
            };
            let take = (max_frame - frame.len).min(chunk - self.tail_payload).min(data.len());
            self.segments.back_mut().expect("a segment was just ensured").0.extend_from_slice(&data[..take]);
            frame.len += take;
            set_len(&mut self.segments[(frame.seq - self.popped) as usize].0[frame.start..], frame.len);
            self.open_data = Some(frame);
            self.tail_payload += take;
            self.bytes += take;
            data = &data[take..];
        }
        frames
    }

    /// Appends FIN for channel `index`; nothing may follow it.
    pub fn push_fin(&mut self, index: u32, pool: &mut BufferPool) {
        if self.segments.is_empty() {
            self.segments.push_back((pool.get(HEADER_LEN), false));
            self.tail_payload = 0;
        }
        put_fin(&mut self.segments.back_mut().expect("a segment was just ensured").0, index);
        self.bytes += HEADER_LEN;
        self.open_data = None;
    }

    /// Takes the oldest segment for the wire. If [`mid_frame`](Self::mid_frame)
    /// then holds, the next segment must follow it on the wire.
    pub fn pop(&mut self) -> Option<Vec<u8>> {
        let (segment, continued) = self.segments.pop_front()?;
        if self.open_data.is_some_and(|frame| frame.seq == self.popped) {
            self.open_data = None; // its header goes to the wire
        }
        self.popped += 1;
        self.mid_frame = continued;
        self.bytes -= segment.len();
        if self.segments.is_empty() {
            self.open_data = None;
            self.tail_payload = 0;
        }
        Some(segment)
    }

    /// True when the last popped segment ended inside a frame.
    pub fn mid_frame(&self) -> bool {
        self.mid_frame
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
        for (segment, _) in self.segments.drain(..) {
            pool.put(segment);
        }
        self.mid_frame = false;
        self.bytes = 0;
        self.open_data = None;
        self.tail_payload = 0;
    }
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
    fn popped_frames_are_never_extended() {
        let mut pool = BufferPool::new(64, 4);
        let mut queue = SendQueue::default();
        queue.push_data(1, b"ab", 100, 100, &mut pool);
        let first = queue.pop().unwrap();
        queue.push_data(1, b"cd", 100, 100, &mut pool);
        let frames = decode(&[first, queue.pop().unwrap()]).frames;
        assert_eq!(frames.len(), 2);
    }

    /// Frames grow to `max_frame` across segments of a chunk, across writes, and
    /// `mid_frame` keeps a frame's segments together.
    #[test]
    fn frames_span_segments_up_to_max_frame() {
        let mut pool = BufferPool::new(64, 4);
        let mut queue = SendQueue::default();
        let data: Vec<u8> = (0..250u8).collect();
        assert_eq!(queue.push_data(1, &data[..120], 100, 40, &mut pool), 2);
        assert_eq!(queue.push_data(1, &data[120..], 100, 40, &mut pool), 1, "the second frame grows");
        let mut segments = Vec::new();
        let mut continued = Vec::new();
        while let Some(segment) = queue.pop() {
            segments.push(segment);
            continued.push(queue.mid_frame());
        }
        // Segments of 40 payload bytes; frames 0..100, 100..200 (starting in the
        // third segment, ending with the fifth) and 200..250 (sixth and seventh).
        assert_eq!(continued, [true, true, true, true, false, true, false]);
        let frames = decode(&segments).frames;
        let sizes: Vec<usize> = frames.iter().map(|f| f.1.len()).collect();
        assert_eq!(sizes, [100, 100, 50]);
        assert_eq!(frames.iter().flat_map(|f| f.1.clone()).collect::<Vec<_>>(), data);
        assert_eq!(queue.len(), 0);
    }

    /// Once the segment holding a frame's header left for the wire, the frame is
    /// not extended: the next write starts a new one.
    #[test]
    fn a_frame_whose_header_left_is_not_extended() {
        let mut pool = BufferPool::new(64, 4);
        let mut queue = SendQueue::default();
        queue.push_data(1, &[1; 50], 100, 40, &mut pool);
        let first = queue.pop().unwrap();
        assert!(queue.mid_frame());
        queue.push_data(1, &[2; 10], 100, 40, &mut pool);
        let rest: Vec<Vec<u8>> = std::iter::from_fn(|| queue.pop()).collect();
        let frames = decode(&[vec![first], rest].concat()).frames;
        let sizes: Vec<usize> = frames.iter().map(|f| f.1.len()).collect();
        assert_eq!(sizes, [50, 10]);
    }
}
