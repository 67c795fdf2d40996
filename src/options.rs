//! Options for a multiplexer and for a channel, with the protocol's defaults.

use crate::error::{Error, Result};
use crate::proto::frame::{MAX_CHANNEL_ID_LEN, MIN_MAX_FRAME_SIZE};
use std::time::Duration;

/// A channel's scheduling priority, 0 to 255, higher first (PROTOCOL.md section 8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Priority(pub u8);

impl Priority {
    /// 0.
    pub const LOWEST: Priority = Priority(0);
    /// 64.
    pub const LOW: Priority = Priority(64);
    /// 128, the default.
    pub const NORMAL: Priority = Priority(128);
    /// 192.
    pub const HIGH: Priority = Priority(192);
    /// 255.
    pub const HIGHEST: Priority = Priority(255);
}

impl Default for Priority {
    fn default() -> Self {
        Priority::NORMAL
    }
}

impl From<u8> for Priority {
    fn from(value: u8) -> Self {
        Priority(value)
    }
}

/// Settings of one multiplexer. Construct with `Default` and struct update syntax:
///
/// ```
/// use netconduit::MultiplexerOptions;
/// let options = MultiplexerOptions { initial_window: 256 * 1024, ..Default::default() };
/// assert_eq!(options.max_frame_size, 16 * 1024 * 1024);
/// ```
#[derive(Clone, Debug)]
pub struct MultiplexerOptions {
    /// Largest frame payload this side accepts, announced in HANDSHAKE
    /// (default 16 MiB, at least 16 KiB).
    pub max_frame_size: u32,
    /// Credits granted to each incoming channel in its first ACK (default 64 KiB):
    /// the bytes a peer may send before this side's application reads.
    pub initial_window: u32,
    /// Fraction of the window that, once consumed, is granted back (default 0.5).
    pub grant_threshold: f64,
    /// Largest window an incoming channel grows to when its reader keeps up
    /// (default 16 MiB; set it to `initial_window` to turn auto-tuning off).
    pub max_channel_window: u32,
    /// Most bytes of window growth, beyond the initial windows, all incoming
    /// channels together may have (default 256 MiB): bounds what a fast peer can
    /// make this side buffer.
    pub max_session_window_growth: u64,
    /// Unit of queued DATA (default 16 KiB): the writer thread's segments hold at
    /// most one chunk of payload, a channel's turn is sixteen chunks, and queued
    /// frames grow to at most one turn (within the peer's `max_frame_size`). A
    /// direct write (see `direct_writes`), which holds no other frame back, sends
    /// frames up to the peer's `max_frame_size`.
    pub frame_chunk_size: usize,
    /// Most bytes one outgoing channel holds queued for the writer thread (default
    /// 1 MiB): `write` blocks beyond it even with credits to spare, so a fast
    /// writer's data stays in cache on its way to the transport instead of piling up
    /// to the peer's whole window.
    pub send_buffer_size: usize,
    /// Whether a `write` may write its frames to the transport itself, straight
    /// from the caller's buffer, instead of copying them for the writer thread
    /// (default true): when no frame that should go first is waiting (control
    /// frames, higher priorities, the channel's own earlier frames), a write of a
    /// chunk or more takes the link (waiting for it while another write holds it,
    /// at most until `send_timeout`, then queueing), a smaller one only an idle
    /// link. One exception: while at most four channels write bulk data (made
    /// writes of a chunk or more within the last 100 ms) and no channel of a
    /// higher priority wrote in that time, their writes shorter than
    /// half of `write_batch_size` are queued, so the writer thread sends them in
    /// batches while the applications fill the next (fewer, larger transport
    /// writes, which cost far less per byte than the copy does); while more
    /// channels do, such writes are queued while the queues hold at most two
    /// batches in all, and a write finding them full sends a batch itself. A direct write
    /// returns once the transport took the bytes, so it may
    /// block in the transport as a plain socket write would, beyond `send_timeout`,
    /// until the peer reads or the connection fails. Turn it off for links that can
    /// stall for long (a slow serial line) when `send_timeout` must bound every write.
    /// Only used on transports the multiplexer can shut down (see
    /// [`Multiplexer::new`](crate::Multiplexer::new) and `with_shutdown`), so closing
    /// the session always frees such a write.
    pub direct_writes: bool,
    /// Most bytes the writer thread hands the transport in one write (default 512 KiB),
    /// plus the rest of a frame begun in it. A frame that becomes ready meanwhile
    /// waits for the write: this bounds how long a higher priority waits.
    pub write_batch_size: usize,
    /// Size of the transport read buffer (default 256 KiB). Reads take all of it
    /// while channels keep large payloads (they stay in the buffer they were read
    /// into until their channel reads them, so a session keeps several such
    /// buffers, at most 32 MiB in all, beyond which payloads are copied out of a
    /// private buffer), and at most 64 KiB otherwise.
    pub read_buffer_size: usize,
    /// How long to wait for the peer's HANDSHAKE (default 10 s).
    pub handshake_timeout: Duration,
    /// Most incoming channels open at once; further INITs are refused with REFUSED
    /// (default 4096). With `initial_window` this bounds the memory a peer can pin.
    pub max_incoming_channels: usize,
    /// Most incoming channels waiting for `accept`; further INITs are refused with
    /// REFUSED (default 1024).
    pub max_pending_accepts: usize,
    /// Time between heartbeat PINGs (default 30 s); `None` turns the heartbeat off
    /// (the peer's PINGs are still answered).
    pub ping_interval: Option<Duration>,
    /// How long each PING waits for its PONG (default 10 s).
    pub ping_timeout: Duration,
    /// Unanswered PINGs in a row after which the connection is declared dead
    /// (default 3). A dead link is detected within
    /// `ping_interval + max_missed_pings × ping_timeout`.
    pub max_missed_pings: u32,
    /// How long channels may take to finish after GOAWAY before they fail with a
    /// timeout and the transport is closed (default 30 s).
    pub goaway_timeout: Duration,
    /// How long a closing session lets the transport flush its last frames and
    /// waits for the peer's end of stream before shutting it down (default 5 s).
    pub linger_timeout: Duration,
}

impl Default for MultiplexerOptions {
    fn default() -> Self {
        MultiplexerOptions {
            max_frame_size: 16 * 1024 * 1024,
            initial_window: 64 * 1024,
            grant_threshold: 0.5,
            max_channel_window: 16 * 1024 * 1024,
            max_session_window_growth: 256 * 1024 * 1024,
            frame_chunk_size: 16 * 1024,
            send_buffer_size: 1024 * 1024,
            direct_writes: true,
            write_batch_size: 512 * 1024,
            read_buffer_size: 256 * 1024,
            handshake_timeout: Duration::from_secs(10),
            max_incoming_channels: 4096,
            max_pending_accepts: 1024,
            ping_interval: Some(Duration::from_secs(30)),
            ping_timeout: Duration::from_secs(10),
            max_missed_pings: 3,
            goaway_timeout: Duration::from_secs(30),
            linger_timeout: Duration::from_secs(5),
        }
    }
}

impl MultiplexerOptions {
    /// Checks every value against its documented range.
    pub fn validate(&self) -> Result<()> {
        let fail = |what: &str| Err(Error::InvalidArgument(what.to_owned()));
        if self.max_frame_size < MIN_MAX_FRAME_SIZE {
            return fail("max_frame_size must be at least 16384");
        }
        if self.initial_window == 0 {
            return fail("initial_window must be positive");
        }
        if !(self.grant_threshold > 0.0 && self.grant_threshold <= 1.0) {
            return fail("grant_threshold must be in (0, 1]");
        }
        if self.frame_chunk_size == 0 || self.frame_chunk_size > MIN_MAX_FRAME_SIZE as usize * 64 {
            return fail("frame_chunk_size must be in 1..=1 MiB");
        }
        if self.send_buffer_size == 0 || self.write_batch_size == 0 || self.read_buffer_size < 16 {
            return fail("send_buffer_size, write_batch_size and read_buffer_size must be positive");
        }
        if self.max_incoming_channels == 0 || self.max_pending_accepts == 0 {
            return fail("channel limits must be positive");
        }
        if self.ping_interval.is_some_and(|i| i.is_zero()) || self.ping_timeout.is_zero() || self.max_missed_pings == 0
        {
            return fail("ping_interval, ping_timeout and max_missed_pings must be positive");
        }
        Ok(())
    }
}

/// Settings of one outgoing channel.
///
/// ```
/// use netconduit::{ChannelOptions, Priority};
/// use std::time::Duration;
/// let options = ChannelOptions::new("video").priority(Priority::HIGH).send_timeout(Duration::from_secs(5));
/// assert_eq!(options.id, "video");
/// ```
#[derive(Clone, Debug)]
pub struct ChannelOptions {
    /// Channel id, 0 to 1024 bytes of UTF-8, unique among this side's open channels.
    pub id: String,
    /// Scheduling priority (default Normal).
    pub priority: Priority,
    /// How long `write` waits for credits before failing with `TimedOut` (default 30 s).
    pub send_timeout: Duration,
    /// How long `open_channel` waits for the peer's ACK or ERR (default 30 s).
    pub open_timeout: Duration,
    /// Whether `open_channel` waits for the peer's ACK (default `true`). With
    /// `false` (a pipelined open) it returns as soon as INIT is queued: the first
    /// writes (up to one frame chunk) are held until the peer's first grant, and a
    /// refusal shows up as the error of a later `write` or `close`. This saves a
    /// round trip per channel. Once 256 opens are unanswered, further opens wait
    /// for their ACK all the same.
    pub wait_for_ack: bool,
}

impl ChannelOptions {
    /// Options for channel `id` with default priority and timeouts.
    pub fn new(id: impl Into<String>) -> Self {
        ChannelOptions {
            id: id.into(),
            priority: Priority::NORMAL,
            send_timeout: Duration::from_secs(30),
            open_timeout: Duration::from_secs(30),
            wait_for_ack: true,
        }
    }

    /// Sets the priority.
    pub fn priority(mut self, priority: impl Into<Priority>) -> Self {
        self.priority = priority.into();
        self
    }

    /// Sets the send timeout.
    pub fn send_timeout(mut self, timeout: Duration) -> Self {
        self.send_timeout = timeout;
        self
    }

    /// Sets whether `open_channel` waits for the peer's ACK (see the field).
    pub fn wait_for_ack(mut self, wait: bool) -> Self {
        self.wait_for_ack = wait;
        self
    }

    /// Sets the open timeout.
    pub fn open_timeout(mut self, timeout: Duration) -> Self {
        self.open_timeout = timeout;
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.id.len() > MAX_CHANNEL_ID_LEN {
            return Err(Error::InvalidArgument(format!(
                "channel id is {} bytes, at most {MAX_CHANNEL_ID_LEN} allowed",
                self.id.len()
            )));
        }
        Ok(())
    }
}
