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
#[derive(Debug)]
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
#[derive(Debug)]
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
