//! The wire error codes of PROTOCOL.md section 7.

use std::fmt;

/// A 16-bit error code as carried by ERR frames, ERROR and GOAWAY control messages.
///
/// Codes this crate does not know are kept as they are (`ErrorCode(0x1234)`), so a
/// newer peer's code is reported faithfully instead of being squashed.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCode(pub u16);

impl ErrorCode {
    /// GOAWAY for a normal shutdown.
    pub const NO_ERROR: ErrorCode = ErrorCode(0x0000);
    /// A frame names a channel that does not exist.
    pub const UNKNOWN_CHANNEL: ErrorCode = ErrorCode(0x0001);
    /// INIT with an id or index already open.
    pub const CHANNEL_EXISTS: ErrorCode = ErrorCode(0x0002);
    /// Malformed frame, bad type, bad state.
    pub const PROTOCOL_ERROR: ErrorCode = ErrorCode(0x0003);
    /// DATA beyond credits, credit overflow.
    pub const FLOW_CONTROL_ERROR: ErrorCode = ErrorCode(0x0004);
    /// An operation timed out.
    pub const TIMEOUT: ErrorCode = ErrorCode(0x0005);
    /// An internal error.
    pub const INTERNAL: ErrorCode = ErrorCode(0x0006);
    /// Channel open refused.
    pub const REFUSED: ErrorCode = ErrorCode(0x0007);
    /// The accepter stopped the channel.
    pub const CANCEL: ErrorCode = ErrorCode(0x0008);
    /// RECONNECT for another session.
    pub const SESSION_MISMATCH: ErrorCode = ErrorCode(0x0009);

    /// The code's name in PROTOCOL.md, or `None` for a code this crate does not know.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::NO_ERROR => "NO_ERROR",
            Self::UNKNOWN_CHANNEL => "UNKNOWN_CHANNEL",
            Self::CHANNEL_EXISTS => "CHANNEL_EXISTS",
            Self::PROTOCOL_ERROR => "PROTOCOL_ERROR",
            Self::FLOW_CONTROL_ERROR => "FLOW_CONTROL_ERROR",
            Self::TIMEOUT => "TIMEOUT",
            Self::INTERNAL => "INTERNAL",
            Self::REFUSED => "REFUSED",
            Self::CANCEL => "CANCEL",
            Self::SESSION_MISMATCH => "SESSION_MISMATCH",
            _ => return None,
        })
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} (0x{:04x})", self.0),
            None => write!(f, "0x{:04x}", self.0),
        }
    }
}

impl fmt::Debug for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_known_and_unknown_codes() {
        assert_eq!(ErrorCode::CANCEL.to_string(), "CANCEL (0x0008)");
        assert_eq!(ErrorCode(0x1234).to_string(), "0x1234");
    }
}
