// The crate documentation is the README: its examples run as doctests, and the
// modules' own docs (`transit`, `transport`, `Multiplexer`, the channels) go deeper.
#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod driver;
pub mod error;
pub mod event;
pub mod options;
pub mod proto;
pub mod stats;
pub mod transit;
pub mod transport;

pub use driver::{ChannelInfo, Incoming, Multiplexer, ReadChannel, WeakMultiplexer, WriteChannel};
pub use error::{Error, Result};
pub use event::{Direction, Event};
pub use options::{ChannelOptions, MultiplexerOptions, Priority};
pub use proto::ErrorCode;
pub use stats::{ChannelStats, MultiplexerStats};

#[cfg(test)]
mod tests {
    /// The handles cross threads: the multiplexer is shared, channels are moved.
    #[test]
    fn handles_are_send_and_sync_where_promised() {
        fn send_sync<T: Send + Sync>() {}
        fn send<T: Send>() {}
        send_sync::<crate::Multiplexer>();
        send_sync::<crate::WeakMultiplexer>();
        send::<crate::WriteChannel>();
        send::<crate::ReadChannel>();
        send_sync::<crate::Error>();
    }
}
