//! Control messages: DATA frames on index 0 whose first payload byte is a subtype
//! (PROTOCOL.md section 5). Unknown subtypes and trailing bytes are ignored for
//! forward compatibility.

use super::error_code::ErrorCode;
use super::frame::{put_header, read_u16, read_u32, read_u64, FrameError, FrameType, CONTROL_INDEX};

const PING: u8 = 0x01;
const PONG: u8 = 0x02;
const HANDSHAKE: u8 = 0x03;
const CREDIT_GRANT: u8 = 0x04;
const ERROR: u8 = 0x05;
const GOAWAY: u8 = 0x06;
const RECONNECT: u8 = 0x07;

/// One control message, borrowed from the frame payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control<'a> {
    /// Liveness probe; the peer answers with the same timestamp.
    Ping(u64),
    /// Answer to a PING.
    Pong(u64),
    /// First message on a new transport.
    Handshake {
        /// The sender's session id (never zero on the wire).
        session_id: u64,
        /// The sender's receive limit; `None` means 16 MiB.
        max_frame_size: Option<u32>,
    },
    /// A credit grant for one channel, equivalent to an ACK on that index.
    CreditGrant {
        /// The receiver's outgoing channel.
        index: u32,
        /// Credits added.
        credits: u32,
    },
    /// A session error; the sender closes the transport after it.
    Error {
        /// Error code.
        code: ErrorCode,
        /// Message bytes (UTF-8 by contract).
        message: &'a [u8],
    },
    /// Graceful shutdown announcement.
    GoAway {
        /// Reason, NO_ERROR for a normal shutdown.
        code: ErrorCode,
        /// Highest index of the receiver's channels the sender accepted.
        last_channel_index: u32,
    },
    /// Session resumption on a new transport (section 6); the body is kept raw.
    Reconnect(&'a [u8]),
    /// A subtype this version does not know; ignored.
    Unknown(u8),
}

impl<'a> Control<'a> {
    /// Parses a control payload. An empty payload or one too short for its
    /// subtype's fields is a session error.
    pub fn parse(payload: &'a [u8]) -> Result<Control<'a>, FrameError> {
        let (&subtype, body) = payload.split_first().ok_or(FrameError::Truncated { what: "control", len: 0 })?;
        let short = |what| FrameError::Truncated { what, len: payload.len() };
        Ok(match subtype {
            PING => Control::Ping(read_u64(body, 0).ok_or(short("PING"))?),
            PONG => Control::Pong(read_u64(body, 0).ok_or(short("PONG"))?),
            HANDSHAKE => Control::Handshake {
                session_id: read_u64(body, 0).ok_or(short("HANDSHAKE"))?,
                max_frame_size: read_u32(body, 8),
            },
            CREDIT_GRANT => Control::CreditGrant {
                index: read_u32(body, 0).ok_or(short("CREDIT_GRANT"))?,
                credits: read_u32(body, 4).ok_or(short("CREDIT_GRANT"))?,
            },
            ERROR => Control::Error { code: ErrorCode(read_u16(body, 0).ok_or(short("ERROR"))?), message: &body[2..] },
            GOAWAY => Control::GoAway {
                code: ErrorCode(read_u16(body, 0).ok_or(short("GOAWAY"))?),
                last_channel_index: read_u32(body, 2).ok_or(short("GOAWAY"))?,
            },
            RECONNECT => Control::Reconnect(body),
            other => Control::Unknown(other),
        })
    }

    /// Appends this message as a complete frame on the control channel.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        put_header(out, CONTROL_INDEX, FrameType::Data, 0);
        match *self {
            Control::Ping(ts) => put(out, PING, &ts.to_be_bytes()),
            Control::Pong(ts) => put(out, PONG, &ts.to_be_bytes()),
            Control::Handshake { session_id, max_frame_size } => {
                put(out, HANDSHAKE, &session_id.to_be_bytes());
                if let Some(max) = max_frame_size {
                    out.extend_from_slice(&max.to_be_bytes());
                }
            }
            Control::CreditGrant { index, credits } => {
                put(out, CREDIT_GRANT, &index.to_be_bytes());
                out.extend_from_slice(&credits.to_be_bytes());
            }
            Control::Error { code, message } => {
                put(out, ERROR, &code.0.to_be_bytes());
                out.extend_from_slice(message);
            }
            Control::GoAway { code, last_channel_index } => {
                put(out, GOAWAY, &code.0.to_be_bytes());
                out.extend_from_slice(&last_channel_index.to_be_bytes());
            }
            Control::Reconnect(body) => put(out, RECONNECT, body),
            Control::Unknown(subtype) => out.push(subtype),
        }
        let len = out.len() - start - super::frame::HEADER_LEN;
        super::frame::set_len(&mut out[start..], len);
    }
}

fn put(out: &mut Vec<u8>, subtype: u8, fields: &[u8]) {
    out.push(subtype);
    out.extend_from_slice(fields);
}

#[cfg(test)]
mod tests {
    use super::super::frame::HEADER_LEN;
    use super::*;

    fn round_trip(message: Control<'_>) {
        let mut out = Vec::new();
        message.encode(&mut out);
        assert_eq!(Control::parse(&out[HEADER_LEN..]), Ok(message));
    }

    #[test]
    fn every_subtype_round_trips() {
        round_trip(Control::Ping(u64::MAX));
        round_trip(Control::Pong(7));
        round_trip(Control::Handshake { session_id: 42, max_frame_size: Some(1 << 24) });
        round_trip(Control::Handshake { session_id: 42, max_frame_size: None });
        round_trip(Control::CreditGrant { index: 3, credits: 100 });
        round_trip(Control::Error { code: ErrorCode::INTERNAL, message: b"boom" });
        round_trip(Control::GoAway { code: ErrorCode::NO_ERROR, last_channel_index: 9 });
        round_trip(Control::Reconnect(&[1, 2, 3]));
        round_trip(Control::Unknown(0x42));
    }

    #[test]
    fn short_and_empty_payloads_are_errors() {
        assert!(Control::parse(&[]).is_err());
        assert!(Control::parse(&[PING, 0, 0, 0]).is_err());
        assert!(Control::parse(&[CREDIT_GRANT, 0, 0, 0, 1, 0]).is_err());
        assert!(Control::parse(&[GOAWAY, 0, 0, 0]).is_err());
        assert!(Control::parse(&[ERROR, 0]).is_err());
    }

    #[test]
    fn trailing_bytes_and_unknown_subtypes_are_ignored() {
        assert_eq!(Control::parse(&[PONG, 0, 0, 0, 0, 0, 0, 0, 5, 0xAA]), Ok(Control::Pong(5)));
        assert_eq!(Control::parse(&[0x99, 1, 2]), Ok(Control::Unknown(0x99)));
        // A max_frame_size needs all 4 bytes to count as present.
        assert_eq!(
            Control::parse(&[HANDSHAKE, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]),
            Ok(Control::Handshake { session_id: 1, max_frame_size: None })
        );
    }
}
