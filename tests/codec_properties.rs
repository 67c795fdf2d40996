//! Property tests of the frame codec: any valid frame sequence survives encode ->
//! decode unchanged, however the bytes are split into reads.

use netconduit::proto::control::Control;
use netconduit::proto::decoder::{Decoder, FrameSink};
use netconduit::proto::frame::{self, FrameError, FrameHeader, FrameType};
use netconduit::ErrorCode;
use proptest::prelude::*;

/// A frame as a test describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Frame {
    Data { index: u32, payload: Vec<u8> },
    Init { index: u32, priority: u8, id: String },
    Fin { index: u32 },
    Ack { index: u32, credits: u32, consumed: Option<u64> },
    Err { index: u32, code: u16, message: String },
    Control(OwnedControl),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum OwnedControl {
    Ping(u64),
    Pong(u64),
    Handshake { session_id: u64, max_frame_size: Option<u32> },
    CreditGrant { index: u32, credits: u32 },
    Error { code: u16, message: Vec<u8> },
    GoAway { code: u16, last_channel_index: u32 },
    Reconnect(Vec<u8>),
    Unknown(u8),
}

impl OwnedControl {
    fn borrow(&self) -> Control<'_> {
        match self {
            OwnedControl::Ping(t) => Control::Ping(*t),
            OwnedControl::Pong(t) => Control::Pong(*t),
            OwnedControl::Handshake { session_id, max_frame_size } => {
                Control::Handshake { session_id: *session_id, max_frame_size: *max_frame_size }
            }
            OwnedControl::CreditGrant { index, credits } => Control::CreditGrant { index: *index, credits: *credits },
            OwnedControl::Error { code, message } => Control::Error { code: ErrorCode(*code), message },
            OwnedControl::GoAway { code, last_channel_index } => {
                Control::GoAway { code: ErrorCode(*code), last_channel_index: *last_channel_index }
            }
            OwnedControl::Reconnect(body) => Control::Reconnect(body),
            OwnedControl::Unknown(subtype) => Control::Unknown(*subtype),
        }
    }

    fn from(control: Control<'_>) -> OwnedControl {
        match control {
            Control::Ping(t) => OwnedControl::Ping(t),
            Control::Pong(t) => OwnedControl::Pong(t),
            Control::Handshake { session_id, max_frame_size } => OwnedControl::Handshake { session_id, max_frame_size },
            Control::CreditGrant { index, credits } => OwnedControl::CreditGrant { index, credits },
            Control::Error { code, message } => OwnedControl::Error { code: code.0, message: message.to_vec() },
            Control::GoAway { code, last_channel_index } => OwnedControl::GoAway { code: code.0, last_channel_index },
            Control::Reconnect(body) => OwnedControl::Reconnect(body.to_vec()),
            Control::Unknown(subtype) => OwnedControl::Unknown(subtype),
        }
    }
}

fn encode(frames: &[Frame]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in frames {
        match f {
            Frame::Data { index, payload } => frame::put_data(&mut out, *index, payload),
            Frame::Init { index, priority, id } => frame::put_init(&mut out, *index, *priority, id),
            Frame::Fin { index } => frame::put_fin(&mut out, *index),
            Frame::Ack { index, credits, consumed } => frame::put_ack(&mut out, *index, *credits, *consumed),
            Frame::Err { index, code, message } => frame::put_err(&mut out, *index, ErrorCode(*code), message),
            Frame::Control(control) => control.borrow().encode(&mut out),
        }
    }
    out
}

/// Turns decoded frames back into descriptions, joining streamed DATA pieces and
/// checking the piece offsets.
#[derive(Default)]
struct Collect {
    frames: Vec<Frame>,
    data_header: Option<FrameHeader>,
}

impl FrameSink for Collect {
    type Error = FrameError;

    fn frame(&mut self, header: FrameHeader, payload: &[u8]) -> Result<(), FrameError> {
        assert!(self.data_header.is_none(), "a frame interrupted a DATA payload");
        assert_eq!(header.len as usize, payload.len());
        let index = header.index;
        let f = match header.kind {
            FrameType::Data => {
                assert_eq!(index, frame::CONTROL_INDEX, "channel DATA must be streamed");
                Frame::Control(OwnedControl::from(Control::parse(payload)?))
            }
            FrameType::Init => {
                let fields = frame::parse_init(payload).expect("valid INIT");
                Frame::Init { index, priority: fields.priority, id: fields.id.to_owned() }
            }
            FrameType::Fin => Frame::Fin { index },
            FrameType::Ack => {
                let ack = frame::parse_ack(payload)?;
                Frame::Ack { index, credits: ack.credits, consumed: ack.consumed }
            }
            FrameType::Err => {
                let err = frame::parse_err(payload)?;
                Frame::Err { index, code: err.code.0, message: String::from_utf8(err.message.to_vec()).unwrap() }
            }
        };
        self.frames.push(f);
        Ok(())
    }

    fn data(&mut self, header: FrameHeader, offset: u32, bytes: &[u8]) -> Result<(), FrameError> {
        assert_eq!(header.kind, FrameType::Data);
        if offset == 0 {
            assert!(self.data_header.is_none(), "new DATA before the previous one ended");
            self.frames.push(Frame::Data { index: header.index, payload: Vec::new() });
            self.data_header = Some(header);
        }
        assert_eq!(self.data_header, Some(header), "DATA piece for another frame");
        let Some(Frame::Data { payload, .. }) = self.frames.last_mut() else { panic!("DATA piece without a frame") };
        assert_eq!(payload.len(), offset as usize, "DATA pieces out of order");
        payload.extend_from_slice(bytes);
        if offset as usize + bytes.len() == header.len as usize {
            self.data_header = None;
        }
        Ok(())
    }
}

fn decode_in_pieces(bytes: &[u8], cuts: &[usize]) -> Vec<Frame> {
    let mut decoder = Decoder::new(frame::DEFAULT_MAX_FRAME_SIZE);
    let mut sink = Collect::default();
    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&bytes.len())) {
        let cut = cut.clamp(start, bytes.len());
        decoder.feed(&bytes[start..cut], &mut sink).expect("valid frames decode");
        start = cut;
    }
    assert!(decoder.is_at_frame_boundary(), "input ended inside a frame");
    assert!(sink.data_header.is_none());
    sink.frames
}

fn channel_index() -> impl Strategy<Value = u32> {
    prop_oneof![1u32..16, 1u32..frame::MAX_CHANNEL_INDEX]
}

fn control() -> impl Strategy<Value = OwnedControl> {
    prop_oneof![
        any::<u64>().prop_map(OwnedControl::Ping),
        any::<u64>().prop_map(OwnedControl::Pong),
        (1u64.., proptest::option::of(frame::MIN_MAX_FRAME_SIZE..=frame::DEFAULT_MAX_FRAME_SIZE))
            .prop_map(|(session_id, max_frame_size)| OwnedControl::Handshake { session_id, max_frame_size }),
        (channel_index(), any::<u32>()).prop_map(|(index, credits)| OwnedControl::CreditGrant { index, credits }),
        (any::<u16>(), proptest::collection::vec(any::<u8>(), 0..64))
            .prop_map(|(code, message)| OwnedControl::Error { code, message }),
        (any::<u16>(), any::<u32>())
            .prop_map(|(code, last_channel_index)| OwnedControl::GoAway { code, last_channel_index }),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(OwnedControl::Reconnect),
        prop_oneof![Just(0u8), 0x08u8..=0xff].prop_map(OwnedControl::Unknown),
    ]
}

fn any_frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        4 => (channel_index(), proptest::collection::vec(any::<u8>(), 0..3000))
            .prop_map(|(index, payload)| Frame::Data { index, payload }),
        2 => (channel_index(), any::<u8>(), "\\PC{0,40}").prop_map(|(index, priority, id)| Frame::Init { index, priority, id }),
        1 => channel_index().prop_map(|index| Frame::Fin { index }),
        2 => (channel_index(), any::<u32>(), proptest::option::of(any::<u64>()))
            .prop_map(|(index, credits, consumed)| Frame::Ack { index, credits, consumed }),
        1 => (channel_index(), any::<u16>(), "\\PC{0,40}").prop_map(|(index, code, message)| Frame::Err { index, code, message }),
        3 => control().prop_map(Frame::Control),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Encoding then decoding in one piece gives back the same frames.
    #[test]
    fn frames_round_trip(frames in proptest::collection::vec(any_frame(), 0..24)) {
        let bytes = encode(&frames);
        prop_assert_eq!(decode_in_pieces(&bytes, &[]), frames);
    }

    /// Any split of the input decodes to the same frames as the whole.
    #[test]
    fn any_split_decodes_the_same(
        frames in proptest::collection::vec(any_frame(), 1..16),
        mut cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..40),
    ) {
        let bytes = encode(&frames);
        let mut cuts: Vec<usize> = cuts.drain(..).map(|i| i.index(bytes.len() + 1)).collect();
        cuts.sort_unstable();
        prop_assert_eq!(decode_in_pieces(&bytes, &cuts), frames);
    }

    /// Byte by byte, the most extreme split, also gives the same frames.
    #[test]
    fn byte_by_byte_decodes_the_same(frames in proptest::collection::vec(any_frame(), 1..6)) {
        let bytes = encode(&frames);
        let cuts: Vec<usize> = (1..bytes.len()).collect();
        prop_assert_eq!(decode_in_pieces(&bytes, &cuts), frames);
    }

    /// A header's declared length is checked before the payload is read: a length
    /// above the limit fails at once, with no payload byte fed.
    #[test]
    fn oversized_length_fails_at_the_header(index in 0u32..frame::RESERVED_INDEX, kind in 0u8..2, excess in 1u32..1000) {
        let max = frame::MIN_MAX_FRAME_SIZE;
        let mut header = index.to_be_bytes().to_vec();
        header.push(kind);
        header.extend_from_slice(&(max + excess).to_be_bytes());
        let mut decoder = Decoder::new(max);
        let result = decoder.feed(&header, &mut Collect::default());
        let too_large = matches!(result, Err(FrameError::TooLarge { .. }));
        prop_assert!(too_large, "expected TooLarge, got {:?}", result);
    }
}
