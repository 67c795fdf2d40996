//! Frame layout (PROTOCOL.md section 1): the 9-byte header, the five frame types and
//! the payloads of INIT, ACK and ERR. Encoding appends to a caller's `Vec<u8>` so the
//! hot path reuses buffers; parsing borrows from the input and never allocates.

use super::error_code::ErrorCode;
use thiserror::Error;

/// Length of a frame header: index u32, type u8, payload length u32.
pub const HEADER_LEN: usize = 9;
/// Index of the control channel.
pub const CONTROL_INDEX: u32 = 0;
/// Reserved index, never allocated; any frame naming it is a session error.
pub const RESERVED_INDEX: u32 = u32::MAX;
/// Highest index a side may allocate for its own channels.
pub const MAX_CHANNEL_INDEX: u32 = u32::MAX - 1;
/// Default and largest useful `max_frame_size`: 16 MiB.
pub const DEFAULT_MAX_FRAME_SIZE: u32 = 16 * 1024 * 1024;
/// Smallest `max_frame_size` a side may announce, and the payload limit that applies
/// before the peer's HANDSHAKE has arrived.
pub const MIN_MAX_FRAME_SIZE: u32 = 16 * 1024;
/// Longest channel id in bytes.
pub const MAX_CHANNEL_ID_LEN: usize = 1024;

/// The five frame types. Values are single codes, never bit flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameType {
    /// Channel bytes, sent by the opener.
    Data = 0x00,
    /// Opens a channel.
    Init = 0x01,
    /// Ends a channel.
    Fin = 0x02,
    /// Grants credits, sent by the accepter.
    Ack = 0x03,
    /// Refuses or stops a channel, sent by the accepter.
    Err = 0x04,
}

impl FrameType {
    fn from_u8(value: u8) -> Option<Self> {
        Some(match value {
            0x00 => Self::Data,
            0x01 => Self::Init,
            0x02 => Self::Fin,
            0x03 => Self::Ack,
            0x04 => Self::Err,
            _ => return None,
        })
    }
}

/// A malformed frame. Every variant is a session error; `code()` says which code the
/// ERROR frame carries.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The type byte is not one of the five frame types.
    #[error("unknown frame type 0x{0:02x}")]
    UnknownType(u8),
    /// The payload length is above the receiver's `max_frame_size`.
    #[error("frame payload of {len} bytes exceeds max_frame_size {max}")]
    TooLarge {
        /// Declared payload length.
        len: u32,
        /// The receiver's limit.
        max: u32,
    },
    /// A frame other than DATA on the control channel.
    #[error("{0:?} frame on the control channel")]
    NotDataOnControl(FrameType),
    /// A frame on the reserved index 0xFFFFFFFF.
    #[error("frame on reserved index 0xffffffff")]
    ReservedIndex,
    /// A FIN frame that carries a payload.
    #[error("FIN frame with a {0}-byte payload")]
    FinWithPayload(u32),
    /// A payload too short for its fields.
    #[error("{what} payload too short: {len} bytes")]
    Truncated {
        /// Which payload.
        what: &'static str,
        /// Its actual length.
        len: usize,
    },
}

impl FrameError {
    /// The error code a receiver reports for this error.
    pub fn code(&self) -> ErrorCode {
        ErrorCode::PROTOCOL_ERROR
    }
}

/// A decoded frame header. `parse` has already checked the type, the length limit and
/// the index rules that do not depend on session state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Channel index.
    pub index: u32,
    /// Frame type.
    pub kind: FrameType,
    /// Payload length in bytes.
    pub len: u32,
}

impl FrameHeader {
    /// Parses a header from the first 9 bytes of `input`.
    ///
    /// Returns `Ok(None)` when fewer than 9 bytes are available (nothing is consumed),
    /// and an error when the header breaks a rule that holds for any session state:
    /// unknown type, length above `max_len`, non-DATA on the control channel, the
    /// reserved index, or a FIN with a payload. The length is checked here, before
    /// anybody allocates for the payload.
    pub fn parse(input: &[u8], max_len: u32) -> Result<Option<FrameHeader>, FrameError> {
        let Some(bytes) = input.get(..HEADER_LEN) else {
            return Ok(None);
        };
        let index = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        let kind = FrameType::from_u8(bytes[4]).ok_or(FrameError::UnknownType(bytes[4]))?;
        let len = u32::from_be_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]);
        if index == RESERVED_INDEX {
            return Err(FrameError::ReservedIndex);
        }
        if len > max_len {
            return Err(FrameError::TooLarge { len, max: max_len });
        }
        if index == CONTROL_INDEX && kind != FrameType::Data {
            return Err(FrameError::NotDataOnControl(kind));
        }
        if kind == FrameType::Fin && len != 0 {
            return Err(FrameError::FinWithPayload(len));
        }
        Ok(Some(FrameHeader { index, kind, len }))
    }

    /// The header's 9 wire bytes.
    pub fn to_bytes(self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[..4].copy_from_slice(&self.index.to_be_bytes());
        out[4] = self.kind as u8;
        set_len(&mut out, self.len as usize);
        out
    }
}

/// Sets the payload length of the encoded header at the start of `header`, for
/// frames whose length is known only once their payload was appended.
pub fn set_len(header: &mut [u8], len: usize) {
    debug_assert!(len <= u32::MAX as usize);
    header[5..HEADER_LEN].copy_from_slice(&(len as u32).to_be_bytes());
}

/// Appends a frame header to `out`.
pub fn put_header(out: &mut Vec<u8>, index: u32, kind: FrameType, len: usize) {
    debug_assert!(len <= u32::MAX as usize);
    out.extend_from_slice(&FrameHeader { index, kind, len: len as u32 }.to_bytes());
}

/// Appends a DATA frame carrying `payload`.
pub fn put_data(out: &mut Vec<u8>, index: u32, payload: &[u8]) {
    put_header(out, index, FrameType::Data, payload.len());
    out.extend_from_slice(payload);
}

/// Appends an INIT frame. `id` must be at most [`MAX_CHANNEL_ID_LEN`] bytes.
pub fn put_init(out: &mut Vec<u8>, index: u32, priority: u8, id: &str) {
    debug_assert!(id.len() <= MAX_CHANNEL_ID_LEN);
    put_header(out, index, FrameType::Init, 3 + id.len());
    out.push(priority);
    out.extend_from_slice(&(id.len() as u16).to_be_bytes());
    out.extend_from_slice(id.as_bytes());
}

/// Appends a FIN frame.
pub fn put_fin(out: &mut Vec<u8>, index: u32) {
    put_header(out, index, FrameType::Fin, 0);
}

/// Appends an ACK frame; `consumed` adds the optional 8-byte field.
pub fn put_ack(out: &mut Vec<u8>, index: u32, credits: u32, consumed: Option<u64>) {
    let len = if consumed.is_some() { 12 } else { 4 };
    put_header(out, index, FrameType::Ack, len);
    out.extend_from_slice(&credits.to_be_bytes());
    if let Some(consumed) = consumed {
        out.extend_from_slice(&consumed.to_be_bytes());
    }
}

/// Appends an ERR frame.
pub fn put_err(out: &mut Vec<u8>, index: u32, code: ErrorCode, message: &str) {
    put_header(out, index, FrameType::Err, 2 + message.len());
    out.extend_from_slice(&code.0.to_be_bytes());
    out.extend_from_slice(message.as_bytes());
}

/// The fields of an INIT payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InitFields<'a> {
    /// Channel priority, 0 to 255, higher first.
    pub priority: u8,
    /// Channel id.
    pub id: &'a str,
}

/// Why an INIT payload was malformed. The accepter answers these with
/// `ERR index PROTOCOL_ERROR` on the channel, not with a session error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum InitError {
    /// Shorter than the 3 fixed bytes.
    #[error("INIT payload shorter than 3 bytes")]
    Truncated,
    /// `id_len` larger than the rest of the payload.
    #[error("INIT id_len {0} exceeds the payload")]
    IdBeyondPayload(u16),
    /// `id_len` larger than 1024.
    #[error("INIT id_len {0} exceeds 1024")]
    IdTooLong(u16),
    /// The id is not valid UTF-8.
    #[error("INIT id is not valid UTF-8")]
    IdNotUtf8,
}

/// Parses an INIT payload. Bytes after the id are ignored, as the protocol requires.
pub fn parse_init(payload: &[u8]) -> Result<InitFields<'_>, InitError> {
    let [priority, hi, lo, rest @ ..] = payload else {
        return Err(InitError::Truncated);
    };
    let id_len = u16::from_be_bytes([*hi, *lo]);
    if id_len as usize > MAX_CHANNEL_ID_LEN {
        return Err(InitError::IdTooLong(id_len));
    }
    let id = rest.get(..id_len as usize).ok_or(InitError::IdBeyondPayload(id_len))?;
    let id = std::str::from_utf8(id).map_err(|_| InitError::IdNotUtf8)?;
    Ok(InitFields { priority: *priority, id })
}

/// The fields of an ACK payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AckFields {
    /// Credits added to the opener's allowance.
    pub credits: u32,
    /// Total bytes the accepter's application consumed, when present.
    pub consumed: Option<u64>,
}

/// Parses an ACK payload (at least 4 bytes; `consumed` when 8 more follow).
pub fn parse_ack(payload: &[u8]) -> Result<AckFields, FrameError> {
    let credits = read_u32(payload, 0).ok_or(FrameError::Truncated { what: "ACK", len: payload.len() })?;
    Ok(AckFields { credits, consumed: read_u64(payload, 4) })
}

/// The fields of an ERR payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrFields<'a> {
    /// Error code.
    pub code: ErrorCode,
    /// Message bytes; UTF-8 by contract, decoded leniently by [`message_text`].
    pub message: &'a [u8],
}

/// Parses an ERR payload (at least 2 bytes).
pub fn parse_err(payload: &[u8]) -> Result<ErrFields<'_>, FrameError> {
    let code = read_u16(payload, 0).ok_or(FrameError::Truncated { what: "ERR", len: payload.len() })?;
    Ok(ErrFields { code: ErrorCode(code), message: &payload[2..] })
}

/// Decodes a peer's error message, replacing invalid UTF-8 rather than failing: the
/// code is what matters, the message is for humans. Long messages are cut at 1024
/// bytes so a hostile peer cannot make us keep large strings around.
pub fn message_text(message: &[u8]) -> String {
    const LIMIT: usize = 1024;
    String::from_utf8_lossy(&message[..message.len().min(LIMIT)]).into_owned()
}

pub(crate) fn read_u16(buf: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(buf.get(at..at + 2)?.try_into().ok()?))
}

pub(crate) fn read_u32(buf: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(buf.get(at..at + 4)?.try_into().ok()?))
}

pub(crate) fn read_u64(buf: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(buf.get(at..at + 8)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: u32 = DEFAULT_MAX_FRAME_SIZE;

    #[test]
    fn header_round_trips() {
        let header = FrameHeader { index: 0x0102_0304, kind: FrameType::Ack, len: 12 };
        assert_eq!(FrameHeader::parse(&header.to_bytes(), MAX), Ok(Some(header)));
    }

    #[test]
    fn short_header_needs_more() {
        assert_eq!(FrameHeader::parse(&[0; 8], MAX), Ok(None));
    }

    #[test]
    fn header_rules_are_enforced_before_the_payload() {
        let bytes = |index: u32, kind: u8, len: u32| {
            let mut b = index.to_be_bytes().to_vec();
            b.push(kind);
            b.extend_from_slice(&len.to_be_bytes());
            b
        };
        assert_eq!(FrameHeader::parse(&bytes(1, 5, 0), MAX), Err(FrameError::UnknownType(5)));
        assert_eq!(
            FrameHeader::parse(&bytes(1, 0, u32::MAX), MAX),
            Err(FrameError::TooLarge { len: u32::MAX, max: MAX })
        );
        assert_eq!(FrameHeader::parse(&bytes(0, 1, 3), MAX), Err(FrameError::NotDataOnControl(FrameType::Init)));
        assert_eq!(FrameHeader::parse(&bytes(u32::MAX, 0, 0), MAX), Err(FrameError::ReservedIndex));
        assert_eq!(FrameHeader::parse(&bytes(1, 2, 1), MAX), Err(FrameError::FinWithPayload(1)));
        assert!(FrameHeader::parse(&bytes(1, 0, MAX), MAX).unwrap().is_some());
    }

    #[test]
    fn init_payload_rules() {
        let mut out = Vec::new();
        put_init(&mut out, 1, 128, "video");
        assert_eq!(parse_init(&out[HEADER_LEN..]), Ok(InitFields { priority: 128, id: "video" }));
        assert_eq!(parse_init(&[1, 0]), Err(InitError::Truncated));
        assert_eq!(parse_init(&[1, 0, 2, b'a']), Err(InitError::IdBeyondPayload(2)));
        assert_eq!(parse_init(&[1, 0x04, 0x01]), Err(InitError::IdTooLong(1025)));
        assert_eq!(parse_init(&[1, 0, 1, 0xff]), Err(InitError::IdNotUtf8));
        // Extra bytes after the id are ignored.
        assert_eq!(parse_init(&[7, 0, 1, b'x', 9, 9]), Ok(InitFields { priority: 7, id: "x" }));
        assert_eq!(parse_init(&[7, 0, 0]), Ok(InitFields { priority: 7, id: "" }));
    }

    #[test]
    fn ack_and_err_payloads() {
        assert_eq!(parse_ack(&[0, 1, 0, 0]), Ok(AckFields { credits: 65536, consumed: None }));
        let mut out = Vec::new();
        put_ack(&mut out, 3, 10, Some(99));
        assert_eq!(parse_ack(&out[HEADER_LEN..]), Ok(AckFields { credits: 10, consumed: Some(99) }));
        // Fewer than 8 trailing bytes: no consumed field.
        assert_eq!(parse_ack(&[0, 0, 0, 1, 0, 0]).unwrap().consumed, None);
        assert!(parse_ack(&[0, 0, 1]).is_err());
        assert_eq!(parse_err(&[0, 8]).unwrap().code, ErrorCode::CANCEL);
        assert!(parse_err(&[0]).is_err());
        assert_eq!(message_text(&[b'o', 0xff, b'k']), "o\u{fffd}k");
    }
}
