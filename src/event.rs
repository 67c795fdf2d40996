//! Events a multiplexer reports: channels opening and closing, session errors.

use crate::error::Error;
use std::sync::Arc;

/// Which side opened a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// This side opened it and writes to it.
    Outgoing,
    /// The peer opened it and this side reads from it.
    Incoming,
}

/// Something that happened in a multiplexer.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Event {
    /// A channel was opened: the peer's ACK arrived (outgoing) or the peer's INIT was
    /// accepted by the protocol layer (incoming; the application may not have called
    /// `accept` yet).
    ChannelOpened {
        /// Channel id.
        id: Arc<str>,
        /// Wire index in the opener's index space.
        index: u32,
        /// Who opened it.
        direction: Direction,
    },
    /// A channel ended, cleanly (`error: None`) or with an error.
    ChannelClosed {
        /// Channel id.
        id: Arc<str>,
        /// Wire index in the opener's index space.
        index: u32,
        /// Who opened it.
        direction: Direction,
        /// Why it failed, if it did.
        error: Option<Error>,
    },
    /// The session failed; every channel not yet finished failed with it.
    SessionError(Error),
}
