//! The length-prefix codec shared by every message transit: each message is
//! `[length u32 BE][payload]`.
//!
//! Both halves keep their progress in the value, never on the stack of a
//! blocking call, so a read or write that times out half-way loses nothing: the
//! next call resumes where the last one stopped.

use super::error::TransitError;
use std::io::{self, Read, Write};

/// Bytes in the length prefix.
pub(crate) const HEADER_LEN: usize = 4;

/// The largest payload the prefix can describe.
pub(crate) const WIRE_MAX: usize = u32::MAX as usize;

/// Read-ahead buffer size: small messages are pulled from the channel many at a
/// time (one channel read takes the session lock).
const READ_AHEAD: usize = 8 * 1024;

/// A payload buffer grows in steps from this size while bytes arrive, so a
/// declared length pins memory only as the bytes really come.
const INITIAL_PAYLOAD: usize = 64 * 1024;

/// Reused buffers above this capacity are released after use, so one huge message
/// does not pin its memory for the transit's life.
const KEEP_CAPACITY: usize = 1024 * 1024;

/// The writing half: encodes frames into one reused buffer and hands the buffer to
/// the writer, remembering how much of it went out.
pub(crate) struct FrameEncoder {
    max: usize,
    /// Encoded frames; `buf[sent..]` is not yet written.
    buf: Vec<u8>,
    sent: usize,
}

impl FrameEncoder {
    pub(crate) fn new(max: usize) -> FrameEncoder {
        FrameEncoder { max: max.min(WIRE_MAX), buf: Vec::new(), sent: 0 }
    }

    /// Bytes encoded and not yet handed to the writer.
    pub(crate) fn pending(&self) -> usize {
        self.buf.len() - self.sent
    }

    /// Appends one frame whose payload `fill` writes into the buffer. If `fill`
    /// fails or the payload is too large, the buffer is left as it was.
    pub(crate) fn encode(
        &mut self,
        fill: impl FnOnce(&mut Vec<u8>) -> Result<(), TransitError>,
    ) -> Result<(), TransitError> {
        // Drop what was already written, so the buffer only holds the unsent rest.
        if self.sent > 0 {
            self.buf.drain(..self.sent);
            self.sent = 0;
        }
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0; HEADER_LEN]);
        let filled = fill(&mut self.buf);
        let len = self.buf.len() - start - HEADER_LEN;
        let result = match filled {
            Ok(()) if len > self.max => Err(TransitError::SendTooLarge { len, max: self.max }),
            other => other,
        };
        if result.is_err() {
            self.buf.truncate(start);
            self.release_if_idle();
            return result;
        }
        self.buf[start..start + HEADER_LEN].copy_from_slice(&(len as u32).to_be_bytes());
        Ok(())
    }

    /// Appends one frame carrying `payload`.
    pub(crate) fn encode_bytes(&mut self, payload: &[u8]) -> Result<(), TransitError> {
        // Checked first, so an oversized payload is never copied.
        if payload.len() > self.max {
            return Err(TransitError::SendTooLarge { len: payload.len(), max: self.max });
        }
        self.encode(|buf| {
            buf.extend_from_slice(payload);
            Ok(())
        })
    }

    /// Writes every pending byte. On an error the unwritten rest stays pending and
    /// the next call continues with it.
    pub(crate) fn write_pending<W: Write>(&mut self, writer: &mut W) -> io::Result<()> {
        while self.sent < self.buf.len() {
            match writer.write(&self.buf[self.sent..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.sent += n,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        self.buf.clear();
        self.sent = 0;
        self.release_if_idle();
        Ok(())
    }

    fn release_if_idle(&mut self) {
        if self.buf.is_empty() && self.buf.capacity() > KEEP_CAPACITY {
            self.buf = Vec::new();
        }
    }
}

/// Where the decoder is inside the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Reading the length prefix; `got` of its bytes are in `header`.
    Header { got: usize },
    /// Reading a payload of `len` bytes; `got` of them are in `payload`.
    Payload { len: usize, got: usize },
    /// Discarding the rest of an oversized message.
    Skip { len: usize, got: usize },
}

/// The reading half: an incremental decoder over any reader, passed in per call.
///
/// It reads ahead into its own buffer (so many small frames cost one read), checks
/// a declared length against the limit before allocating anything, and grows the
/// payload buffer only as bytes arrive.
pub(crate) struct FrameDecoder {
    max: usize,
    stage: Stage,
    header: [u8; HEADER_LEN],
    payload: Vec<u8>,
    ahead: Box<[u8]>,
    start: usize,
    end: usize,
}

impl FrameDecoder {
    pub(crate) fn new(max: usize) -> FrameDecoder {
        FrameDecoder {
            max: max.min(WIRE_MAX),
            stage: Stage::Header { got: 0 },
            header: [0; HEADER_LEN],
            payload: Vec::new(),
            ahead: vec![0; READ_AHEAD].into_boxed_slice(),
            start: 0,
            end: 0,
        }
    }

    /// True when the decoder holds part of a message (a timeout interrupted it).
    pub(crate) fn is_partial(&self) -> bool {
        self.stage != Stage::Header { got: 0 }
    }

    /// Bytes read from the channel and not yet decoded.
    pub(crate) fn read_ahead(&self) -> usize {
        self.end - self.start
    }

    /// Decodes the next frame, reading from `reader` as needed.
    ///
    /// `Ok(true)`: a frame is complete; take it with [`payload`](Self::payload) or
    /// [`take_payload`](Self::take_payload) before the next call. `Ok(false)`: the
    /// stream ended cleanly at a frame boundary. An error from `reader` leaves the
    /// state as it was, so the call can be repeated; [`TransitError::TooLarge`]
    /// arms the decoder to skip that frame's payload on the next call.
    pub(crate) fn decode<R: Read>(&mut self, reader: &mut R) -> Result<bool, TransitError> {
        loop {
            match self.stage {
                Stage::Header { mut got } => {
                    while got < HEADER_LEN {
                        if self.start == self.end && self.fill(reader)? == 0 {
                            if got == 0 {
                                return Ok(false);
                            }
                            return Err(truncated("length prefix", got, HEADER_LEN));
                        }
                        let n = (HEADER_LEN - got).min(self.end - self.start);
                        self.header[got..got + n].copy_from_slice(&self.ahead[self.start..self.start + n]);
                        self.start += n;
                        got += n;
                        self.stage = Stage::Header { got };
                    }
                    let len = u32::from_be_bytes(self.header) as usize;
                    if len > self.max {
                        self.stage = Stage::Skip { len, got: 0 };
                        return Err(TransitError::TooLarge { len, max: self.max });
                    }
                    self.payload.clear();
                    if self.payload.capacity() > KEEP_CAPACITY {
                        self.payload = Vec::new();
                    }
                    self.stage = Stage::Payload { len, got: 0 };
                }
                Stage::Payload { len, mut got } => {
                    while got < len {
                        if got == self.payload.len() {
                            let grown = (got * 2).max(INITIAL_PAYLOAD).min(len);
                            self.payload.resize(grown, 0);
                        }
                        if self.start == self.end {
                            if len - got >= self.ahead.len() {
                                // A large rest goes straight into the payload, saving a copy.
                                let n = read_some(reader, &mut self.payload[got..])?;
                                if n == 0 {
                                    return Err(truncated("payload", got, len));
                                }
                                got += n;
                                self.stage = Stage::Payload { len, got };
                                continue;
                            }
                            if self.fill(reader)? == 0 {
                                return Err(truncated("payload", got, len));
                            }
                        }
                        let n = (self.end - self.start).min(self.payload.len() - got);
                        self.payload[got..got + n].copy_from_slice(&self.ahead[self.start..self.start + n]);
                        self.start += n;
                        got += n;
                        self.stage = Stage::Payload { len, got };
                    }
                    self.stage = Stage::Header { got: 0 };
                    return Ok(true);
                }
                Stage::Skip { len, mut got } => {
                    while got < len {
                        if self.start == self.end && self.fill(reader)? == 0 {
                            return Err(truncated("payload", got, len));
                        }
                        let n = (self.end - self.start).min(len - got);
                        self.start += n;
                        got += n;
                        self.stage = Stage::Skip { len, got };
                    }
                    self.stage = Stage::Header { got: 0 };
                }
            }
        }
    }

    /// The frame completed by the last successful [`decode`](Self::decode).
    #[cfg(feature = "json")] // only the JSON transit uses it
    pub(crate) fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// Takes the completed frame out of the decoder.
    pub(crate) fn take_payload(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.payload)
    }

    /// Refills the empty read-ahead buffer with one read; 0 means end of stream.
    fn fill<R: Read>(&mut self, reader: &mut R) -> Result<usize, TransitError> {
        debug_assert_eq!(self.start, self.end);
        let n = read_some(reader, &mut self.ahead)?;
        self.start = 0;
        self.end = n;
        Ok(n)
    }
}

/// One read, retried on `Interrupted`; other errors become transit errors.
fn read_some<R: Read>(reader: &mut R, buf: &mut [u8]) -> Result<usize, TransitError> {
    loop {
        match reader.read(buf) {
            Ok(n) => return Ok(n),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(TransitError::from_io(error)),
        }
    }
}

fn truncated(part: &'static str, received: usize, expected: usize) -> TransitError {
    TransitError::Truncated { part, received, expected }
}

impl std::fmt::Debug for FrameEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameEncoder").field("max", &self.max).field("pending", &self.pending()).finish()
    }
}

impl std::fmt::Debug for FrameDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameDecoder")
            .field("max", &self.max)
            .field("stage", &self.stage)
            .field("read_ahead", &self.read_ahead())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A reader handing out `data` in chunks of the scripted sizes; a size of 0
    /// stands for a `TimedOut` error (a deadline passing between bytes).
    struct Scripted {
        data: Vec<u8>,
        at: usize,
        steps: Vec<usize>,
        step: usize,
    }

    impl Scripted {
        fn new(data: Vec<u8>, steps: Vec<usize>) -> Scripted {
            Scripted { data, at: 0, steps, step: 0 }
        }
    }

    impl Read for Scripted {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let size = if self.steps.is_empty() { usize::MAX } else { self.steps[self.step % self.steps.len()] };
            self.step += 1;
            if size == 0 {
                return Err(io::ErrorKind::TimedOut.into());
            }
            let n = size.min(buf.len()).min(self.data.len() - self.at);
            buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    /// A writer accepting the scripted numbers of bytes per call; 0 is a timeout.
    struct Choking {
        out: Vec<u8>,
        steps: Vec<usize>,
        step: usize,
    }

    impl Write for Choking {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let size = self.steps[self.step % self.steps.len()];
            self.step += 1;
            if size == 0 {
                return Err(io::ErrorKind::TimedOut.into());
            }
            let n = size.min(buf.len());
            self.out.extend_from_slice(&buf[..n]);
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Frames of the given lengths filled with a counting pattern from each seed
    /// (cheaper to generate than random bytes, and still position-sensitive).
    fn patterned(specs: &[(usize, u8)]) -> Vec<Vec<u8>> {
        specs.iter().map(|&(len, seed)| (0..len).map(|i| seed.wrapping_add(i as u8)).collect()).collect()
    }

    fn encode_all(frames: &[Vec<u8>]) -> Vec<u8> {
        let mut encoder = FrameEncoder::new(WIRE_MAX);
        let mut out = Vec::new();
        for frame in frames {
            encoder.encode_bytes(frame).unwrap();
            encoder.write_pending(&mut out).unwrap();
        }
        out
    }

    /// Decodes everything, retrying after every timeout; returns the frames and
    /// the error that ended the stream, if any.
    fn decode_all(decoder: &mut FrameDecoder, reader: &mut impl Read) -> (Vec<Vec<u8>>, Option<TransitError>) {
        let mut frames = Vec::new();
        loop {
            match decoder.decode(reader) {
                Ok(true) => frames.push(decoder.take_payload()),
                Ok(false) => return (frames, None),
                Err(TransitError::Timeout) => continue,
                Err(error) => return (frames, Some(error)),
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn frames_survive_any_chunking_and_timeouts(
            frames in prop::collection::vec((prop_oneof![0usize..64, 0usize..20_000], any::<u8>()), 0..10),
            steps in prop::collection::vec(prop_oneof![0usize..16, 0usize..30_000], 1..8),
        ) {
            // At least one step must make progress.
            let mut steps = steps;
            steps.push(100);
            let frames = patterned(&frames);
            let mut reader = Scripted::new(encode_all(&frames), steps);
            let mut decoder = FrameDecoder::new(WIRE_MAX);
            let (got, error) = decode_all(&mut decoder, &mut reader);
            prop_assert!(error.is_none(), "unexpected error {error:?}");
            prop_assert_eq!(got, frames);
        }

        #[test]
        fn a_choking_writer_loses_nothing(
            frames in prop::collection::vec((0usize..5_000, any::<u8>()), 1..12),
            steps in prop::collection::vec(0usize..3_000, 1..8),
        ) {
            let mut steps = steps;
            steps.push(7);
            let frames = patterned(&frames);
            let mut writer = Choking { out: Vec::new(), steps, step: 0 };
            let mut encoder = FrameEncoder::new(WIRE_MAX);
            for frame in &frames {
                encoder.encode_bytes(frame).unwrap();
                // A timeout leaves the rest pending; the next frame queues behind it.
                let _ = encoder.write_pending(&mut writer);
            }
            while encoder.write_pending(&mut writer).is_err() {}
            prop_assert_eq!(encoder.pending(), 0);
            prop_assert_eq!(writer.out, encode_all(&frames));
        }
    }

    #[test]
    fn oversized_frame_is_rejected_before_allocating_then_skipped() {
        let mut data = encode_all(&[vec![1; 100], vec![2; 10]]);
        data.extend(encode_all(&[vec![3; 5]]));
        let mut decoder = FrameDecoder::new(50);
        let mut reader = Scripted::new(data, vec![]);
        match decoder.decode(&mut reader) {
            Err(TransitError::TooLarge { len: 100, max: 50 }) => {}
            other => panic!("expected TooLarge, got {other:?}"),
        }
        assert_eq!(decoder.payload.capacity(), 0, "nothing allocated for the oversized frame");
        let (got, error) = decode_all(&mut decoder, &mut reader);
        assert!(error.is_none());
        assert_eq!(got, [vec![2; 10], vec![3; 5]]);
    }

    #[test]
    fn huge_declared_length_allocates_only_what_arrived() {
        let mut data = (u32::MAX - 1).to_be_bytes().to_vec();
        data.extend([7; 1000]);
        let mut decoder = FrameDecoder::new(WIRE_MAX);
        match decoder.decode(&mut Scripted::new(data, vec![])) {
            Err(TransitError::Truncated { part: "payload", received: 1000, expected }) => {
                assert_eq!(expected, (u32::MAX - 1) as usize)
            }
            other => panic!("expected Truncated, got {other:?}"),
        }
        assert!(decoder.payload.capacity() <= INITIAL_PAYLOAD);
    }

    #[test]
    fn end_of_stream_is_clean_only_at_a_boundary() {
        let whole = encode_all(&[b"abc".to_vec()]);
        for cut in 0..whole.len() {
            let mut decoder = FrameDecoder::new(WIRE_MAX);
            let result = decoder.decode(&mut Scripted::new(whole[..cut].to_vec(), vec![]));
            let expected = if cut < HEADER_LEN { ("length prefix", cut, 4) } else { ("payload", cut - 4, 3) };
            match result {
                Ok(false) if cut == 0 => {}
                Err(TransitError::Truncated { part, received, expected: due }) => {
                    assert_eq!((part, received, due), expected)
                }
                other => panic!("cut at {cut}: {other:?}"),
            }
            // The error repeats: a truncated stream never turns into a clean end.
            if cut > 0 {
                let again = decoder.decode(&mut Scripted::new(Vec::new(), vec![]));
                assert!(matches!(again, Err(TransitError::Truncated { .. })), "{again:?}");
            }
        }
    }

    #[test]
    fn encoder_refuses_oversized_and_failed_payloads_without_trace() {
        let mut encoder = FrameEncoder::new(4);
        assert!(matches!(encoder.encode_bytes(&[0; 5]), Err(TransitError::SendTooLarge { len: 5, max: 4 })));
        let failed = encoder.encode(|buf| {
            buf.extend_from_slice(b"partial");
            Err(TransitError::Timeout)
        });
        assert!(failed.is_err());
        let grown = encoder.encode(|buf| {
            buf.extend_from_slice(b"12345");
            Ok(())
        });
        assert!(matches!(grown, Err(TransitError::SendTooLarge { len: 5, max: 4 })));
        assert_eq!(encoder.pending(), 0);
        encoder.encode_bytes(b"ok").unwrap();
        let mut out = Vec::new();
        encoder.write_pending(&mut out).unwrap();
        assert_eq!(out, [0, 0, 0, 2, b'o', b'k']);
    }
}
