//! The crate's error type and its deliberate mapping to `std::io::ErrorKind`.

use crate::proto::ErrorCode;
use std::io;
use std::sync::Arc;

/// Result with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in a session or on a channel.
///
/// `Error` is `Clone` because one session failure is reported to every channel
/// and every blocked caller. Channel IO (`Read`/`Write`) reports it as an
/// [`io::Error`] whose kind is chosen per variant (see [`Error::io_kind`]) and whose
/// inner error is this value: get it back with [`Error::from_io`].
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The peer broke the wire protocol. This side sent ERROR with `code` (a session
    /// error) or ERR on the channel, and the session or channel is over. Drop it.
    #[error("peer violated the protocol ({code}): {reason}")]
    ProtocolViolation {
        /// Wire code reported to the peer.
        code: ErrorCode,
        /// What was wrong.
        reason: String,
    },
    /// The peer ended the session with an ERROR message. Drop the multiplexer; a new
    /// connection may succeed.
    #[error("peer ended the session ({code}): {message}")]
    SessionError {
        /// Code from the peer's ERROR.
        code: ErrorCode,
        /// Message from the peer's ERROR.
        message: String,
    },
    /// The peer refused to open the channel (ERR answering INIT): REFUSED,
    /// CHANNEL_EXISTS or PROTOCOL_ERROR. Retrying with another id, or later, may work.
    #[error("peer refused the channel ({code}): {message}")]
    Refused {
        /// Code from the peer's ERR.
        code: ErrorCode,
        /// Message from the peer's ERR.
        message: String,
    },
    /// The peer stopped an open channel with ERR: CANCEL when its reader closed, or
    /// another code. Further writes fail; drop the channel.
    #[error("peer stopped the channel ({code}): {message}")]
    ChannelReset {
        /// Code from the peer's ERR.
        code: ErrorCode,
        /// Message from the peer's ERR.
        message: String,
    },
    /// A blocking call reached its deadline. The channel or session is unchanged and
    /// the call may be retried.
    #[error("{0} timed out")]
    Timeout(&'static str),
    /// A protocol timer ended the session or channel: the peer's HANDSHAKE did not
    /// come in time (`"handshake"`), or channels were still open when the GOAWAY
    /// grace period ran out (`"goaway"`). Not retryable; drop the channel.
    #[error("{0} timed out; the channel is over")]
    SessionTimeout(&'static str),
    /// The multiplexer was closed or aborted by this side. Drop the handle.
    #[error("multiplexer is closed")]
    Closed,
    /// No new channels: GOAWAY was sent or received. Open channels still work.
    #[error("session is going away ({code}); no new channels")]
    GoingAway {
        /// The GOAWAY's code.
        code: ErrorCode,
    },
    /// The transport failed or ended. Drop the multiplexer.
    #[error("transport failed: {0}")]
    Transport(#[source] Arc<io::Error>),
    /// The connection was declared dead by the heartbeat. Drop the multiplexer.
    #[error("peer unresponsive: {missed} pings unanswered")]
    PeerUnresponsive {
        /// Pings missed in a row.
        missed: u32,
    },
    /// A caller passed a value outside its documented range. Fix the call.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// This side already has an open outgoing channel with this id.
    #[error("channel id {0:?} is already open on this side")]
    ChannelIdInUse(String),
    /// The index space of this session is used up (0xFFFFFFFE channels opened);
    /// open further channels on a new session.
    #[error("channel index space exhausted")]
    IndexSpaceExhausted,
}

impl Error {
    /// The wire error code behind this error, where there is one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::ProtocolViolation { code, .. }
            | Error::SessionError { code, .. }
            | Error::Refused { code, .. }
            | Error::ChannelReset { code, .. }
            | Error::GoingAway { code } => Some(*code),
            Error::Timeout(_) | Error::SessionTimeout(_) | Error::PeerUnresponsive { .. } => Some(ErrorCode::TIMEOUT),
            _ => None,
        }
    }

    /// The `io::ErrorKind` channel IO reports for this error.
    pub fn io_kind(&self) -> io::ErrorKind {
        use io::ErrorKind as K;
        match self {
            Error::ProtocolViolation { .. } => K::InvalidData,
            Error::SessionError { .. } => K::ConnectionReset,
            Error::Refused { .. } | Error::GoingAway { .. } => K::ConnectionRefused,
            Error::ChannelReset { code, .. } if *code == ErrorCode::CANCEL => K::BrokenPipe,
            Error::ChannelReset { .. } => K::ConnectionReset,
            Error::Timeout(_) | Error::SessionTimeout(_) | Error::PeerUnresponsive { .. } => K::TimedOut,
            Error::Closed => K::ConnectionAborted,
            Error::Transport(e) => e.kind(),
            Error::InvalidArgument(_) => K::InvalidInput,
            Error::ChannelIdInUse(_) => K::AlreadyExists,
            Error::IndexSpaceExhausted => K::Other,
        }
    }

    /// The netconduit error inside an `io::Error` produced by a channel, if any.
    pub fn from_io(error: &io::Error) -> Option<&Error> {
        error.get_ref()?.downcast_ref::<Error>()
    }

    /// Wraps a transport's IO error.
    pub fn from_transport(error: io::Error) -> Error {
        Error::Transport(Arc::new(error))
    }
}

impl From<Error> for io::Error {
    fn from(error: Error) -> io::Error {
        match error {
            // An IO error passes through with its own kind and message.
            Error::Transport(inner) => io::Error::new(inner.kind(), Error::Transport(inner)),
            other => io::Error::new(other.io_kind(), other),
        }
    }
}

/// Recovers the netconduit error a channel put inside an `io::Error`; any other IO
/// error becomes [`Error::Transport`]. So `?` works on channel IO in functions
/// returning [`Result`].
impl From<io::Error> for Error {
    fn from(error: io::Error) -> Error {
        if Error::from_io(&error).is_some() {
            let inner = error.into_inner().expect("checked above");
            return *inner.downcast::<Error>().expect("checked above");
        }
        Error::from_transport(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_keep_kind_and_source() {
        let err = Error::ChannelReset { code: ErrorCode::CANCEL, message: String::new() };
        let io: io::Error = err.into();
        assert_eq!(io.kind(), io::ErrorKind::BrokenPipe);
        assert_eq!(Error::from_io(&io).and_then(Error::code), Some(ErrorCode::CANCEL));
        assert!(matches!(Error::from(io), Error::ChannelReset { .. }));
        let io: io::Error = Error::from_transport(io::ErrorKind::UnexpectedEof.into()).into();
        assert_eq!(io.kind(), io::ErrorKind::UnexpectedEof);
    }
}
