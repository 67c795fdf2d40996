//! Incremental frame decoding.
//!
//! The decoder is fed whatever the transport returned, in any split, and calls a
//! [`FrameSink`] for what it recognised. DATA frames on channels are *streamed*: the
//! sink sees their payload in pieces as bytes arrive, so a large frame never needs a
//! buffer of its own and bytes are copied once, straight into the channel. Every
//! other frame is small by nature and is handed over whole, borrowed from the input
//! when it arrived in one piece and from an internal buffer otherwise. The declared
//! length is checked against `max_frame_size` before any byte of the payload is
//! buffered.

use super::frame::{FrameError, FrameHeader, FrameType, CONTROL_INDEX, HEADER_LEN};

/// Receives decoded frames from a [`Decoder`].
pub trait FrameSink {
    /// Error returned by the sink; frame errors convert into it.
    type Error: From<FrameError>;

    /// A complete frame other than channel DATA (control frames included).
    fn frame(&mut self, header: FrameHeader, payload: &[u8]) -> Result<(), Self::Error>;

    /// A DATA frame's header on a channel, once, as soon as it is parsed and before
    /// any piece of its payload.
    fn data_start(&mut self, _header: FrameHeader) -> Result<(), Self::Error> {
        Ok(())
    }

    /// A piece of a DATA frame's payload on a channel. Called at least once per frame
    /// (with empty `bytes` for an empty frame); `offset` is the position of `bytes`
    /// within the payload, so `offset == 0` marks the start of a frame and
    /// `offset + bytes.len() == header.len` its end.
    fn data(&mut self, header: FrameHeader, offset: u32, bytes: &[u8]) -> Result<(), Self::Error>;
}

#[derive(Debug)]
enum State {
    /// Collecting a header; `have` bytes of it are in `header`.
    Header { header: [u8; HEADER_LEN], have: usize },
    /// Collecting a whole non-DATA (or control) payload in `body`.
    Body(FrameHeader),
    /// Streaming a channel DATA payload; `offset` bytes already went to the sink.
    Data { header: FrameHeader, offset: u32 },
}

/// Incremental decoder for the frame stream of one transport.
#[derive(Debug)]
pub struct Decoder {
    max_frame_size: u32,
    state: State,
    body: Vec<u8>,
}

/// Bodies larger than this are not kept around once handled.
const KEEP_BODY_CAPACITY: usize = 64 * 1024;

impl Decoder {
    /// A decoder that accepts payloads up to `max_frame_size` bytes.
    pub fn new(max_frame_size: u32) -> Self {
        Decoder { max_frame_size, state: State::Header { header: [0; HEADER_LEN], have: 0 }, body: Vec::new() }
    }

    /// True when no partial frame is pending.
    pub fn is_at_frame_boundary(&self) -> bool {
        self.header_missing() == Some(HEADER_LEN)
    }

    /// How many bytes of the next frame's header are still to come (all of them
    /// at a frame boundary); `None` inside a payload.
    pub fn header_missing(&self) -> Option<usize> {
        match self.state {
            State::Header { have, .. } => Some(HEADER_LEN - have),
            _ => None,
        }
    }

    /// The channel DATA frame whose payload is arriving, and how many of its
    /// payload bytes are still to come; `None` between DATA payloads.
    pub fn data_remaining(&self) -> Option<(FrameHeader, u32)> {
        match self.state {
            State::Data { header, offset } => Some((header, header.len - offset)),
            _ => None,
        }
    }

    /// Decodes all of `input`, calling `sink` for each frame or DATA piece. On an
    /// error the decoder's state is unspecified: the session is over.
    pub fn feed<S: FrameSink>(&mut self, mut input: &[u8], sink: &mut S) -> Result<(), S::Error> {
        while !input.is_empty() {
            match &mut self.state {
                State::Header { header, have } => {
                    let header = if *have == 0 && input.len() >= HEADER_LEN {
                        let parsed = FrameHeader::parse(input, self.max_frame_size)?;
                        input = &input[HEADER_LEN..];
                        parsed
                    } else {
                        let take = (HEADER_LEN - *have).min(input.len());
                        header[*have..*have + take].copy_from_slice(&input[..take]);
                        *have += take;
                        input = &input[take..];
                        FrameHeader::parse(&header[..*have], self.max_frame_size)?
                    };
                    if let Some(header) = header {
                        self.start_payload(header, &mut input, sink)?;
                    }
                }
                State::Body(header) => {
                    let header = *header;
                    let take = (header.len as usize - self.body.len()).min(input.len());
                    self.body.extend_from_slice(&input[..take]);
                    input = &input[take..];
                    if self.body.len() == header.len as usize {
                        self.reset();
                        let result = sink.frame(header, &self.body);
                        self.release_body();
                        result?;
                    }
                }
                State::Data { header, offset } => {
                    let header = *header;
                    let start = *offset;
                    let take = ((header.len - start) as usize).min(input.len());
                    let (piece, rest) = input.split_at(take);
                    input = rest;
                    if start + take as u32 == header.len {
                        self.reset();
                    } else {
                        *offset += take as u32;
                    }
                    sink.data(header, start, piece)?;
                }
            }
        }
        Ok(())
    }

    /// Handles the payload of a freshly parsed header from what `input` holds.
    fn start_payload<S: FrameSink>(
        &mut self,
        header: FrameHeader,
        input: &mut &[u8],
        sink: &mut S,
    ) -> Result<(), S::Error> {
        let len = header.len as usize;
        if header.kind == FrameType::Data && header.index != CONTROL_INDEX {
            sink.data_start(header)?;
            let take = len.min(input.len());
            if take == 0 && len > 0 {
                // Nothing of the payload yet: the first piece will carry offset 0.
                self.state = State::Data { header, offset: 0 };
                return Ok(());
            }
            let (piece, rest) = input.split_at(take);
            *input = rest;
            if take == len {
                self.reset();
            } else {
                self.state = State::Data { header, offset: take as u32 };
            }
            return sink.data(header, 0, piece);
        }
        if input.len() >= len {
            // The whole payload is here: hand it over without copying.
            let (payload, rest) = input.split_at(len);
            *input = rest;
            self.reset();
            return sink.frame(header, payload);
        }
        self.body.clear();
        self.body.reserve(len);
        self.body.extend_from_slice(input);
        *input = &[];
        self.state = State::Body(header);
        Ok(())
    }

    fn reset(&mut self) {
        self.state = State::Header { header: [0; HEADER_LEN], have: 0 };
    }

    fn release_body(&mut self) {
        self.body.clear();
        if self.body.capacity() > KEEP_BODY_CAPACITY {
            self.body = Vec::new();
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::frame::{put_data, put_fin, put_init};
    use super::*;

    /// Records what the decoder produced, joining DATA pieces back into frames.
    #[derive(Default, Debug, PartialEq)]
    pub(crate) struct Recorder {
        pub frames: Vec<(FrameHeader, Vec<u8>)>,
    }

    impl FrameSink for Recorder {
        type Error = FrameError;
        fn frame(&mut self, header: FrameHeader, payload: &[u8]) -> Result<(), FrameError> {
            self.frames.push((header, payload.to_vec()));
            Ok(())
        }
        fn data(&mut self, header: FrameHeader, offset: u32, bytes: &[u8]) -> Result<(), FrameError> {
            if offset == 0 {
                self.frames.push((header, Vec::new()));
            }
            let (last_header, payload) = self.frames.last_mut().expect("data starts with offset 0");
            assert_eq!(*last_header, header);
            assert_eq!(payload.len(), offset as usize);
            payload.extend_from_slice(bytes);
            Ok(())
        }
    }

    #[test]
    fn decodes_byte_by_byte() {
        let mut wire = Vec::new();
        put_init(&mut wire, 1, 128, "video");
        put_data(&mut wire, 1, b"hi");
        put_data(&mut wire, 1, b"");
        put_fin(&mut wire, 1);
        let mut whole = Recorder::default();
        Decoder::new(1 << 20).feed(&wire, &mut whole).unwrap();
        assert_eq!(whole.frames.len(), 4);
        assert_eq!(whole.frames[1].1, b"hi");

        let mut decoder = Decoder::new(1 << 20);
        let mut split = Recorder::default();
        for byte in &wire {
            decoder.feed(std::slice::from_ref(byte), &mut split).unwrap();
        }
        assert_eq!(split, whole);
        assert!(decoder.is_at_frame_boundary());
    }

    #[test]
    fn oversized_length_fails_before_buffering() {
        let mut decoder = Decoder::new(16 * 1024);
        let mut sink = Recorder::default();
        let header = [0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
        let err = decoder.feed(&header, &mut sink).unwrap_err();
        assert!(matches!(err, FrameError::TooLarge { .. }));
        assert_eq!(decoder.body.capacity(), 0);
    }
}
