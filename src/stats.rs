//! Statistics snapshots for channels and multiplexers.

pub use crate::proto::heartbeat::RttStats;
use std::time::Duration;

/// Counters of one channel, as seen from this side.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChannelStats {
    /// Payload bytes written (outgoing channel) or zero.
    pub bytes_sent: u64,
    /// Payload bytes received (incoming channel) or zero.
    pub bytes_received: u64,
    /// DATA frames queued for sending.
    pub frames_sent: u64,
    /// DATA frames received.
    pub frames_received: u64,
    /// Credits granted: by the peer (outgoing) or by this side (incoming).
    pub credits_granted: u64,
    /// Bytes consumed by the reading application: as reported by the peer (outgoing)
    /// or read here (incoming).
    pub credits_consumed: u64,
    /// Time since the channel was opened or accepted.
    pub open_duration: Duration,
}

/// Counters of one multiplexer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MultiplexerStats {
    /// Bytes written to the transport (headers included).
    pub bytes_sent: u64,
    /// Bytes read from the transport (headers included).
    pub bytes_received: u64,
    /// Channels open now, both directions.
    pub open_channels: usize,
    /// Channels opened or accepted since the start, both directions.
    pub total_opened: u64,
    /// Channels closed since the start, both directions.
    pub total_closed: u64,
    /// Time since the multiplexer was created.
    pub uptime: Duration,
    /// Round-trip times and missed pings, from the heartbeat and `ping()`.
    pub rtt: RttStats,
}
