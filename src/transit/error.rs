//! The transit layer's error type.

use std::io;

/// Everything that can go wrong sending or receiving a message on a transit.
///
/// Most variants say whether the transit is still usable; [`is_recoverable`]
/// answers it in code. A blocking `recv` that returns a recoverable error can
/// simply be called again: the next call continues with the next message.
///
/// [`is_recoverable`]: TransitError::is_recoverable
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransitError {
    /// The peer closed its channel at a message boundary: every message it sent was
    /// received and no more will come. Not a failure; stop receiving.
    #[error("the peer closed the transit; no more messages")]
    Closed,
    /// No complete message arrived (or could be handed to the channel) before the
    /// deadline. Nothing was lost: a partly received message is kept and completed
    /// by the next receive call, and a partly sent message stays queued in the
    /// transit and goes out first with the next send or `flush`. Retry, or give up.
    #[error("timed out")]
    Timeout,
    /// An incoming message declared a length above the receiver's
    /// `max_message_size`. Nothing was allocated for it; its bytes are discarded by
    /// the next receive call, which then returns the following message. Raise the
    /// limit if such messages are legitimate.
    #[error("incoming message of {len} bytes exceeds the limit of {max} bytes; it will be skipped")]
    TooLarge {
        /// The length the message declared.
        len: usize,
        /// The receiver's limit.
        max: usize,
    },
    /// A message to send is longer than the sender's `max_message_size` (or than
    /// the 4-byte length prefix can carry). Nothing was sent; the transit is unchanged.
    #[error("message of {len} bytes is too large to send (limit {max} bytes)")]
    SendTooLarge {
        /// The message's length.
        len: usize,
        /// The sender's limit.
        max: usize,
    },
    /// An incoming message is not valid JSON. It was consumed whole, so the
    /// transit is usable: the next receive returns the following message. The peer
    /// is probably not speaking this transit's format.
    #[cfg(feature = "json")]
    #[error("message of {len} bytes is not valid JSON: {source}")]
    InvalidJson {
        /// The message's length.
        len: usize,
        /// What the parser found.
        source: serde_json::Error,
    },
    /// An incoming message is valid JSON but not a value of the expected type (a
    /// missing field, a string where a number was expected, ...). It was consumed
    /// whole, so the transit is usable. The two peers disagree about the type.
    #[cfg(feature = "json")]
    #[error("message of {len} bytes does not match the expected type: {source}")]
    WrongShape {
        /// The message's length.
        len: usize,
        /// What did not match.
        source: serde_json::Error,
    },
    /// The value to send could not be serialised (for example a map with
    /// non-string keys). Nothing was sent; the transit is unchanged. Fix the type.
    #[cfg(feature = "json")]
    #[error("message could not be encoded as JSON: {0}")]
    Encode(#[source] serde_json::Error),
    /// The stream ended in the middle of a message: the peer closed its channel
    /// after sending only `received` of the `expected` bytes of the message's
    /// `part`. The message is lost and no more will come; drop the transit.
    #[error("stream ended inside a message: got {received} of {expected} bytes of its {part}")]
    Truncated {
        /// `"length prefix"` or `"payload"`.
        part: &'static str,
        /// Bytes of that part that arrived.
        received: usize,
        /// Bytes of that part that were due.
        expected: usize,
    },
    /// The channel or the session failed (the peer cancelled the channel, the
    /// connection broke, the multiplexer was closed, ...). See the inner error;
    /// the transit is finished, drop it.
    #[error("channel failed: {0}")]
    Channel(#[source] crate::Error),
    /// An IO error that did not come from a netconduit channel. The transit's
    /// framing state is kept, but the stream is probably unusable; drop the transit.
    #[error("IO error: {0}")]
    Io(#[source] io::Error),
}

impl TransitError {
    /// True when the transit stays usable after this error: the next call
    /// continues with the next message ([`Timeout`], [`TooLarge`],
    /// [`SendTooLarge`], and the JSON decode and encode errors).
    ///
    /// [`Timeout`]: TransitError::Timeout
    /// [`TooLarge`]: TransitError::TooLarge
    /// [`SendTooLarge`]: TransitError::SendTooLarge
    pub fn is_recoverable(&self) -> bool {
        match self {
            TransitError::Timeout | TransitError::TooLarge { .. } | TransitError::SendTooLarge { .. } => true,
            #[cfg(feature = "json")]
            TransitError::InvalidJson { .. } | TransitError::WrongShape { .. } | TransitError::Encode(_) => true,
            _ => false,
        }
    }

    /// Sorts an IO error from a channel (or any reader or writer).
    ///
    /// A channel call that reached its own deadline (`read`, `write` or `wait_sent`
    /// with [`Error::Timeout`](crate::Error::Timeout) inside) left the channel
    /// unchanged and becomes [`Timeout`](TransitError::Timeout); so does a plain
    /// `TimedOut` or `WouldBlock` error from another reader. Any other netconduit
    /// error becomes [`Channel`](TransitError::Channel), even one reported as
    /// `TimedOut`: a session that failed on a timeout (an unanswered heartbeat, a
    /// GOAWAY drain that ran out) is finished, not retryable. Anything else is
    /// [`Io`](TransitError::Io).
    pub fn from_io(error: io::Error) -> TransitError {
        match crate::Error::from_io(&error) {
            Some(_) => {
                let inner = error.into_inner().expect("checked above");
                TransitError::from(*inner.downcast::<crate::Error>().expect("checked above"))
            }
            None if matches!(error.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock) => {
                TransitError::Timeout
            }
            None => TransitError::Io(error),
        }
    }

    /// The `io::ErrorKind` this error maps to when converted into an `io::Error`.
    pub fn io_kind(&self) -> io::ErrorKind {
        use io::ErrorKind as K;
        match self {
            TransitError::Closed | TransitError::Truncated { .. } => K::UnexpectedEof,
            TransitError::Timeout => K::TimedOut,
            TransitError::TooLarge { .. } => K::InvalidData,
            TransitError::SendTooLarge { .. } => K::InvalidInput,
            #[cfg(feature = "json")]
            TransitError::InvalidJson { .. } | TransitError::WrongShape { .. } => K::InvalidData,
            #[cfg(feature = "json")]
            TransitError::Encode(_) => K::InvalidInput,
            TransitError::Channel(error) => error.io_kind(),
            TransitError::Io(error) => error.kind(),
        }
    }
}

/// A channel call's own deadline becomes [`TransitError::Timeout`], any other
/// netconduit error [`TransitError::Channel`] (see [`TransitError::from_io`]).
impl From<crate::Error> for TransitError {
    fn from(error: crate::Error) -> TransitError {
        match error {
            // The channel calls' own deadlines: the transit stays usable. Other
            // multiplexer deadlines (`open_channel`, `ping`) are not a transit's retry,
            // and protocol timers that end channels are `Error::SessionTimeout`.
            crate::Error::Timeout("read" | "write" | "wait_sent") => TransitError::Timeout,
            other => TransitError::Channel(other),
        }
    }
}

impl From<io::Error> for TransitError {
    fn from(error: io::Error) -> TransitError {
        TransitError::from_io(error)
    }
}

/// Keeps the transit error as the source; an [`Io`](TransitError::Io) error is
/// passed through unchanged.
impl From<TransitError> for io::Error {
    fn from(error: TransitError) -> io::Error {
        match error {
            TransitError::Io(inner) => inner,
            other => io::Error::new(other.io_kind(), other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Error, ErrorCode};

    #[test]
    fn only_a_call_deadline_is_a_retryable_timeout() {
        for call in ["read", "write", "wait_sent"] {
            assert!(matches!(TransitError::from_io(Error::Timeout(call).into()), TransitError::Timeout));
        }
        // A session that failed on a timeout is reported as TimedOut too, but is over.
        for failed in [Error::SessionTimeout("goaway"), Error::PeerUnresponsive { missed: 3 }] {
            let error = TransitError::from_io(failed.into());
            assert!(matches!(error, TransitError::Channel(_)) && !error.is_recoverable(), "{error:?}");
        }
        assert!(matches!(TransitError::from(Error::Timeout("write")), TransitError::Timeout));
        assert!(matches!(TransitError::from(Error::Timeout("open_channel")), TransitError::Channel(_)));
        let reset = Error::ChannelReset { code: ErrorCode::CANCEL, message: String::new() };
        assert!(matches!(TransitError::from_io(reset.into()), TransitError::Channel(Error::ChannelReset { .. })));
        assert!(matches!(TransitError::from_io(io::ErrorKind::WouldBlock.into()), TransitError::Timeout));
        assert!(matches!(TransitError::from_io(io::ErrorKind::BrokenPipe.into()), TransitError::Io(_)));
    }

    #[test]
    fn io_conversion_keeps_kind_and_source() {
        let io: io::Error = TransitError::TooLarge { len: 10, max: 5 }.into();
        assert_eq!(io.kind(), io::ErrorKind::InvalidData);
        assert!(io.to_string().contains("exceeds the limit of 5"));
        let io: io::Error = TransitError::Channel(Error::Closed).into();
        assert_eq!(io.kind(), io::ErrorKind::ConnectionAborted);
        let io: io::Error = TransitError::Io(io::ErrorKind::NotFound.into()).into();
        assert_eq!(io.kind(), io::ErrorKind::NotFound);
    }
}
