//! The session state machine: everything one side of a connection knows, driven
//! by calls that carry bytes and time in and frames out. No threads, sockets or
//! clocks live here; the driver (`crate::driver`) owns those and holds the session
//! behind one mutex.
//!
//! Inputs: [`Session::handle_input`] (transport bytes), [`Session::handle_timeout`]
//! (the current time), [`Session::handle_transport_closed`], and the application's
//! operations (`open`, `write`, `finish`, `accept`, `read`, `cancel`, ...).
//! Outputs: [`Session::poll_transmit`] (frames for the wire), [`Session::next_deadline`],
//! per-channel [`Signal`]s notified when a blocked caller may proceed, the
//! [`Wakeups`] flags for the driver's global waiters, and [`Event`]s.

mod channel;
mod direct;
mod inbound;
mod input;
mod window;

use self::channel::{InChannel, InState, OutChannel, OutState};
use self::direct::RecentWriters;
pub use self::direct::{DirectWrite, Written, MAX_DIRECT_FRAMES};
pub use self::input::{frames_landed, frames_layout, frames_slices, FrameEnds, ReadPlan, ReaderTurn, MAX_READ_FRAMES};
use self::input::{InputRole, Run};
use super::control::Control;
use super::credit::RecvWindow;
use super::decoder::Decoder;
use super::error_code::ErrorCode;
use super::frame::{self, MAX_CHANNEL_INDEX, MIN_MAX_FRAME_SIZE};
use super::heartbeat::{Beat, Heartbeat, HeartbeatConfig, RttStats};
use super::levels::LevelCounts;
use super::pool::BufferPool;
use super::scheduler::Scheduler;
use super::timer::{Timer, Timers};
use crate::error::{Error, Result};
use crate::event::{Direction, Event};
use crate::stats::{ChannelStats, MultiplexerStats};
use std::collections::{HashMap, VecDeque};
use std::ops::Range;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

/// Wakes the threads blocked on one channel. The session only ever notifies it; the
/// driver's callers wait on it together with the session mutex.
pub type Signal = Arc<parking_lot::Condvar>;

/// Fixed settings of a session, derived from `MultiplexerOptions`.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// This side's session id (non-zero).
    pub session_id: u64,
    /// Largest payload this side accepts.
    pub max_frame_size: u32,
    /// First grant for each incoming channel.
    pub initial_window: u32,
    /// Fraction of a channel's window, in thousandths, whose consumption triggers
    /// a grant.
    pub grant_threshold_permille: u32,
    /// Largest window one incoming channel may grow to.
    pub max_channel_window: u32,
    /// Most bytes of window growth (beyond the initial windows) all incoming
    /// channels together may have.
    pub max_session_window_growth: u64,
    /// Largest DATA payload per frame this side sends.
    pub chunk_size: usize,
    /// Most encoded bytes one outgoing channel may hold queued.
    pub send_buffer_size: usize,
    /// Writers that find the link idle may transmit their frames themselves.
    pub direct_writes: bool,
    /// Target bytes per `poll_transmit` batch.
    pub write_batch_size: usize,
    /// Large writes shorter than this, while few channels write bulk data, are
    /// queued for the writer thread rather than sent direct (see `direct`); 0
    /// sends them direct.
    pub pipeline_below: usize,
    /// While many channels write bulk data, their large writes shorter than
    /// `pipeline_below` are staged in the send queues up to this many bytes in
    /// all (see `direct`); 0 sends them direct.
    pub stage_limit: usize,
    /// Deadline for the peer's HANDSHAKE.
    pub handshake_timeout: Duration,
    /// Limit of incoming channel records.
    pub max_incoming_channels: usize,
    /// Limit of channels waiting for `accept`.
    pub max_pending_accepts: usize,
    /// Liveness checking.
    pub heartbeat: HeartbeatConfig,
    /// How long channels may take to finish after GOAWAY.
    pub goaway_timeout: Duration,
    /// How long a closing transport may take to flush and drain before it is shut.
    pub linger: Duration,
}

/// Which of the driver's global waiters should be woken.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Wakeups {
    /// A channel became acceptable, or accepting became impossible.
    pub accept: bool,
    /// The session's state changed: handshake done, session over, a PONG arrived.
    pub state: bool,
    /// A deadline changed.
    pub timer: bool,
    /// The reader thread should take the input role (or exit).
    pub reader: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for the peer's HANDSHAKE.
    Handshaking,
    /// Up.
    Open,
    /// Over; `Session::error` says why, `CloseKind` how the transport ends.
    Closed(CloseKind),
}

/// How the transport of an ended session is to be closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseKind {
    /// Shut it down at once (local abort, dead peer, transport failure).
    Abort,
    /// Write the queued ERROR, then shut it down (session error).
    Flush,
    /// Write everything queued, half-close, and keep reading until the peer's end
    /// of stream, so nothing in flight is cut off (GOAWAY drained, close()).
    Graceful,
}

/// Where the DATA frame being streamed in goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DataTarget {
    Deliver(u32),
    Discard,
}

/// One side of a netconduit session.
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    phase: Phase,
    error: Option<Error>,
    decoder: Decoder,
    data_target: DataTarget,
    /// The channel whose run of large DATA frames the input is in (see
    /// `Session::note_data_frame`).
    run: Option<Run>,
    peer_session_id: Option<u64>,
    peer_max_frame: u32,
    started: Instant,

    outgoing: HashMap<u32, OutChannel>,
    outgoing_ids: HashMap<Arc<str>, u32>,
    next_index: u32,
    /// Outgoing channels whose INIT the peer has not answered yet.
    unacked_opens: usize,
    /// Channels whose INIT is not written yet, in index order.
    pending_inits: VecDeque<u32>,
    /// Ids whose previous channel's FIN is queued but not yet handed out: an INIT
    /// reusing the id must wait for it, or the peer would see the id still open.
    finishing_ids: HashMap<Arc<str>, u32>,

    incoming: HashMap<u32, InChannel>,
    incoming_ids: HashMap<Arc<str>, u32>,
    last_peer_index: u32,
    last_accepted_peer_index: u32,
    pending: VecDeque<u32>,

    goaway_sent: Option<ErrorCode>,
    goaway_received: Option<ErrorCode>,

    urgent: Vec<u8>,
    scheduler: Scheduler,
    /// Priorities of the large writes waiting for the link (see `direct`).
    link_waiters: LevelCounts,
    /// Which channels wrote lately, for pipelining (see `direct`).
    recent_writers: RecentWriters,
    /// Encoded bytes in the outgoing channels' send queues, together (bounds
    /// staged writes, see `direct`).
    queued: usize,
    /// Who reads the transport.
    input: InputRole,
    /// When the last transmission began (a direct write) or ended (a batch).
    last_transmit: Instant,
    pool: BufferPool,
    timers: Timers,
    wakeups: Wakeups,
    events: Vec<Event>,

    /// Window growth granted to incoming channels, beyond their initial windows.
    window_growth: u64,
    /// The highest priority that received DATA lately, and when it last did.
    top_active_priority: Option<(u8, Instant)>,
    heartbeat: Heartbeat,
    /// Outstanding `ping()` calls: timestamp → round trip once answered.
    user_pings: HashMap<u64, Option<Duration>>,
    /// `close()` was called here.
    closing: bool,
    /// The driver should shut the transport down in both directions now.
    shutdown_requested: bool,

    bytes_sent: u64,
    bytes_received: u64,
    total_opened: u64,
    total_closed: u64,
}

impl Session {
    /// A new session that has queued its HANDSHAKE and armed the handshake timer.
    pub fn new(config: SessionConfig, now: Instant) -> Session {
        let mut timers = Timers::default();
        timers.set(Timer::Handshake, now + config.handshake_timeout);
        let pool = BufferPool::new(config.chunk_size + 2 * frame::HEADER_LEN, POOL_MAX_IDLE);
        let mut session = Session {
            decoder: Decoder::new(config.max_frame_size),
            phase: Phase::Handshaking,
            error: None,
            data_target: DataTarget::Discard,
            run: None,
            peer_session_id: None,
            peer_max_frame: MIN_MAX_FRAME_SIZE,
            started: now,
            outgoing: HashMap::new(),
            outgoing_ids: HashMap::new(),
            next_index: 1,
            unacked_opens: 0,
            pending_inits: VecDeque::new(),
            finishing_ids: HashMap::new(),
            incoming: HashMap::new(),
            incoming_ids: HashMap::new(),
            last_peer_index: 0,
            last_accepted_peer_index: 0,
            pending: VecDeque::new(),
            goaway_sent: None,
            goaway_received: None,
            urgent: Vec::new(),
            scheduler: Scheduler::default(),
            link_waiters: LevelCounts::default(),
            recent_writers: RecentWriters::default(),
            queued: 0,
            input: InputRole::default(),
            last_transmit: now,
            pool,
            timers,
            wakeups: Wakeups::default(),
            events: Vec::new(),
            window_growth: 0,
            top_active_priority: None,
            heartbeat: Heartbeat::new(config.heartbeat, now),
            user_pings: HashMap::new(),
            closing: false,
            shutdown_requested: false,
            bytes_sent: 0,
            bytes_received: 0,
            total_opened: 0,
            total_closed: 0,
            config,
        };
        let handshake = Control::Handshake {
            session_id: session.config.session_id,
            max_frame_size: Some(session.config.max_frame_size),
        };
        handshake.encode(&mut session.urgent);
        session
    }

    // ----- state queries -------------------------------------------------------

    /// True once the peer's HANDSHAKE arrived and until the session ends.
    pub fn is_ready(&self) -> bool {
        self.phase == Phase::Open
    }

    /// True once the session ended.
    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed(_))
    }

    /// How the transport is to be closed, once the session ended.
    pub fn close_kind(&self) -> Option<CloseKind> {
        match self.phase {
            Phase::Closed(kind) => Some(kind),
            _ => None,
        }
    }

    /// True (once) when the driver must shut the transport down now.
    pub fn take_shutdown_request(&mut self) -> bool {
        std::mem::take(&mut self.shutdown_requested)
    }

    /// The driver shut the transport down in both directions: nothing is left to
    /// linger for.
    pub fn handle_transport_shut(&mut self) {
        self.timers.clear(Timer::Linger);
        self.wakeups.timer = true;
    }

    /// Why the session ended, once it did.
    pub fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }

    /// The peer's session id, once its HANDSHAKE arrived.
    pub fn peer_session_id(&self) -> Option<u64> {
        self.peer_session_id
    }

    /// This side's session id.
    pub fn session_id(&self) -> u64 {
        self.config.session_id
    }

    /// The earliest deadline the driver must wake up for.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Takes the global wake-up flags raised since the last call.
    pub fn take_wakeups(&mut self) -> Wakeups {
        std::mem::take(&mut self.wakeups)
    }

    /// Takes the events raised since the last call.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// True when events are waiting for [`take_events`](Self::take_events).
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    // ----- time ----------------------------------------------------------------

    /// Handles every deadline due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.timers.pop_expired(now) {
            match timer {
                Timer::Handshake => {
                    let report = Some((ErrorCode::TIMEOUT, "no HANDSHAKE received"));
                    self.fail(Error::SessionTimeout("handshake"), report, CloseKind::Flush, now);
                }
                Timer::Ping => {
                    let beat = self.heartbeat.on_ping_timer(now, &mut self.timers);
                    self.beat(beat, now);
                }
                Timer::PingTimeout => {
                    let beat = self.heartbeat.on_ping_timeout(now, &mut self.timers);
                    self.beat(beat, now);
                }
                Timer::GoAway => self.fail(Error::SessionTimeout("goaway"), None, CloseKind::Graceful, now),
                Timer::Linger => self.shutdown_requested = true,
                Timer::PoolTrim => {
                    if self.pool.trim(POOL_KEEP_IDLE) > POOL_KEEP_IDLE && !self.is_closed() {
                        self.timers.set(Timer::PoolTrim, now + POOL_TRIM_PERIOD);
                    }
                }
            }
        }
        self.wakeups.timer = true;
    }

    fn beat(&mut self, beat: Beat, now: Instant) {
        match beat {
            Beat::Idle => {}
            Beat::Ping(timestamp) => Control::Ping(timestamp).encode(&mut self.urgent),
            Beat::Dead(missed) => self.fail(Error::PeerUnresponsive { missed }, None, CloseKind::Abort, now),
        }
    }

    /// Sends a PING for `ping()`; wait for its answer with [`poll_ping`](Self::poll_ping).
    pub fn send_ping(&mut self, now: Instant) -> Result<u64> {
        if let Some(error) = &self.error {
            return Err(error.clone());
        }
        let timestamp = self.heartbeat.timestamp(now);
        Control::Ping(timestamp).encode(&mut self.urgent);
        self.user_pings.insert(timestamp, None);
        Ok(timestamp)
    }

    /// The round trip of a `ping()` once its PONG arrived.
    pub fn poll_ping(&self, timestamp: u64) -> Poll<Result<Duration>> {
        match self.user_pings.get(&timestamp) {
            Some(Some(rtt)) => Poll::Ready(Ok(*rtt)),
            _ if self.error.is_some() => Poll::Ready(Err(self.error.clone().expect("checked"))),
            _ => Poll::Pending,
        }
    }

    /// Forgets a `ping()` that completed or gave up.
    pub fn forget_ping(&mut self, timestamp: u64) {
        self.user_pings.remove(&timestamp);
    }

    /// Round-trip statistics.
    pub fn rtt_stats(&self) -> RttStats {
        self.heartbeat.stats()
    }

    // ----- transport -----------------------------------------------------------

    /// Handles bytes read from the transport, in any split.
    pub fn handle_input(&mut self, input: &[u8], now: Instant) {
        self.feed(input, None, None, now);
    }

    /// Like [`handle_input`](Self::handle_input) for the bytes at `range` of a
    /// read buffer that channels may share: large DATA payload pieces are kept as
    /// ranges of it instead of copied. The caller must not write to `buffer` while
    /// other references to it exist.
    pub fn handle_shared_input(&mut self, buffer: &Arc<Vec<u8>>, range: Range<usize>, now: Instant) {
        self.feed(&buffer[range], None, Some(buffer), now);
    }

    /// Decodes transport bytes; DATA for channel `direct` is accounted for but not
    /// copied (its application already holds it); input lying in `shared` may be
    /// kept by reference.
    fn feed(&mut self, input: &[u8], direct: Option<u32>, shared: Option<&Arc<Vec<u8>>>, now: Instant) {
        if self.is_closed() {
            return;
        }
        self.bytes_received += input.len() as u64;
        let mut decoder = std::mem::replace(&mut self.decoder, Decoder::new(0));
        let mut sink = inbound::Inbound { session: self, now, direct, shared };
        let result = decoder.feed(input, &mut sink);
        self.decoder = decoder;
        if let Err(violation) = result {
            self.fail_violation(violation, now);
        }
        self.check_drained(now);
    }

    /// The transport ended (`None`: clean end of stream) or failed.
    pub fn handle_transport_closed(&mut self, error: Option<std::io::Error>, now: Instant) {
        if self.is_closed() {
            return;
        }
        // After GOAWAY the peer closes once every channel finished; if ours have all
        // queued their FIN (the peer got them, or it would not have closed), its end
        // of stream is that graceful end, not a failure.
        let all_finished = self.outgoing.values().all(|c| c.fin_queued);
        if error.is_none() && all_finished && self.end_if_finished(now) {
            return;
        }
        let error =
            error.unwrap_or_else(|| std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "transport closed by peer"));
        self.fail(Error::from_transport(error), None, CloseKind::Abort, now);
    }

    /// True when frames wait for the writer.
    pub fn wants_transmit(&self) -> bool {
        !self.urgent.is_empty() || !self.scheduler.is_empty()
    }

    /// True when the writer should close the transport: the session ended and its
    /// last frames (an ERROR) were handed out. (A direct write under way holds the
    /// link, which closing the transport waits for.)
    pub fn should_close_transport(&self) -> bool {
        self.is_closed() && !self.wants_transmit()
    }

    /// Starts a transmission (its caller holds the link, see `direct`): moves
    /// frames for the wire into `batch`, about
    /// `write_batch_size` bytes at most: control frames (ACK, ERR, INIT, control
    /// channel) first, then one segment per scheduling turn, highest priority first,
    /// round-robin among equals. Returns the bytes moved. Once they were written,
    /// [`transmitted`](Self::transmitted) ends the transmission.
    pub fn poll_transmit(&mut self, batch: &mut Vec<Vec<u8>>, now: Instant) -> usize {
        let mut total = 0;
        if !self.urgent.is_empty() {
            let fresh = self.pool.get(0);
            let urgent = std::mem::replace(&mut self.urgent, fresh);
            total += urgent.len();
            batch.push(urgent);
        }
        let quantum = self.turn_size();
        while total < self.config.write_batch_size {
            let Some((priority, index)) = self.scheduler.pop() else { break };
            let Some(channel) = self.outgoing.get_mut(&index) else { continue };
            // One turn: up to a quantum of this channel's segments, so a reader on
            // the far side wakes once per quantum rather than once per frame.
            let mut turn = 0;
            while (turn < quantum && total < self.config.write_batch_size) || channel.queue.mid_frame() {
                let Some(segment) = channel.queue.pop() else { break };
                self.queued = self.queued.saturating_sub(segment.len());
                turn += segment.len();
                total += segment.len();
                batch.push(segment);
            }
            if channel.waiting_for_room && channel.queue.len() <= self.config.send_buffer_size / 2 {
                // Half the buffer free, not one byte: a blocked writer wakes once
                // per half buffer instead of once per segment.
                channel.waiting_for_room = false;
                channel.signal.notify_all();
            }
            if channel.queue.is_empty() {
                channel.scheduled = false;
                channel.signal.notify_all(); // `flush` waiters
                if channel.fin_queued {
                    self.fin_released(index);
                }
                self.retire_outgoing(index);
            } else {
                self.scheduler.push(priority, index);
            }
        }
        self.bytes_sent += total as u64;
        self.check_drained(now);
        total
    }

    /// Ends the transmission of a batch from [`poll_transmit`](Self::poll_transmit)
    /// and returns its buffers for reuse.
    pub fn transmitted(&mut self, batch: &mut Vec<Vec<u8>>, now: Instant) {
        for buffer in batch.drain(..) {
            self.pool.put(buffer);
        }
        self.last_transmit = now;
        self.schedule_pool_trim(now);
    }

    /// Arms the pool's trim timer once it holds more idle buffers than it keeps
    /// (not after the session ended: its timer thread is then winding down).
    fn schedule_pool_trim(&mut self, now: Instant) {
        if self.pool.idle() > POOL_KEEP_IDLE && self.timers.get(Timer::PoolTrim).is_none() && !self.is_closed() {
            self.timers.set(Timer::PoolTrim, now + POOL_TRIM_PERIOD);
            self.wakeups.timer = true;
        }
    }

    // ----- outgoing channels ---------------------------------------------------

    /// Opens a channel: allocates its index and queues INIT. The caller waits with
    /// [`poll_open`](Self::poll_open) on `signal`.
    pub fn open(&mut self, id: &str, priority: u8, signal: Signal, now: Instant) -> Result<u32> {
        self.check_can_open()?;
        if id.len() > frame::MAX_CHANNEL_ID_LEN {
            return Err(Error::InvalidArgument(format!("channel id of {} bytes exceeds 1024", id.len())));
        }
        if self.outgoing_ids.contains_key(id) {
            return Err(Error::ChannelIdInUse(id.to_owned()));
        }
        if self.next_index > MAX_CHANNEL_INDEX {
            return Err(Error::IndexSpaceExhausted);
        }
        let index = self.next_index;
        self.next_index += 1;
        let id: Arc<str> = Arc::from(id);
        self.outgoing_ids.insert(id.clone(), index);
        self.outgoing.insert(index, OutChannel::new(id, priority, signal, now));
        self.unacked_opens += 1;
        self.pending_inits.push_back(index);
        self.write_pending_inits();
        Ok(index)
    }

    /// Writes the INITs that may go now. INITs leave in index order (indices must
    /// count up on the wire), and one reusing an id waits until the FIN of the id's
    /// previous channel was handed out, so the peer never sees the id still open.
    fn write_pending_inits(&mut self) {
        while let Some(&index) = self.pending_inits.front() {
            let Some(channel) = self.outgoing.get(&index) else {
                self.pending_inits.pop_front();
                continue;
            };
            if self.finishing_ids.contains_key(&channel.id) {
                return;
            }
            frame::put_init(&mut self.urgent, index, channel.priority, &channel.id);
            self.pending_inits.pop_front();
        }
    }

    /// The FIN of channel `index` was handed out (or will never be sent): INITs
    /// reusing its id may go.
    fn fin_released(&mut self, index: u32) {
        let Some(channel) = self.outgoing.get(&index) else { return };
        if self.finishing_ids.get(&channel.id) == Some(&index) {
            self.finishing_ids.remove(&channel.id);
            self.write_pending_inits();
        }
    }

    fn check_can_open(&self) -> Result<()> {
        if let Some(error) = &self.error {
            return Err(error.clone());
        }
        if let Some(code) = self.goaway_sent.or(self.goaway_received) {
            return Err(Error::GoingAway { code });
        }
        Ok(())
    }

    /// Whether the peer answered INIT: `Ready(Ok)` once granted, the refusal or
    /// session error otherwise.
    ///
    /// A channel the peer granted counts as opened even if it failed right after
    /// (the peer cancelled it at once): the open succeeded, and the failure shows
    /// on the channel's next write, as it would a moment later.
    pub fn poll_open(&self, index: u32) -> Poll<Result<()>> {
        match self.outgoing.get(&index) {
            Some(OutChannel { state: OutState::Opening, .. }) => Poll::Pending,
            Some(OutChannel { state: OutState::Open, .. }) => Poll::Ready(Ok(())),
            Some(channel) if channel.credit.is_granted() => Poll::Ready(Ok(())),
            Some(OutChannel { state: OutState::Failed(error), .. }) => Poll::Ready(Err(error.clone())),
            None => Poll::Ready(Err(self.error.clone().unwrap_or(Error::Closed))),
        }
    }

    /// Queues as much of `data` as the channel's credits allow, encoded as frames.
    /// `Pending` means no credits: wait on the channel's signal.
    ///
    /// Before the peer's first grant (a pipelined open), up to one chunk is held
    /// back unframed and sent once credits arrive.
    pub fn write(&mut self, index: u32, data: &[u8]) -> Poll<Result<usize>> {
        let pre_ack_limit = self.config.chunk_size;
        let Some(channel) = self.outgoing.get_mut(&index) else {
            return Poll::Ready(Err(self.error.clone().unwrap_or(Error::Closed)));
        };
        if let OutState::Failed(error) = &channel.state {
            return Poll::Ready(Err(error.clone()));
        }
        debug_assert!(!channel.fin_queued, "no write after finish");
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if matches!(channel.state, OutState::Opening) || !channel.pre_ack.is_empty() {
            let n = pre_ack_limit.saturating_sub(channel.pre_ack.len()).min(data.len());
            if n == 0 {
                return Poll::Pending;
            }
            channel.pre_ack.extend_from_slice(&data[..n]);
            return Poll::Ready(Ok(n));
        }
        match self.enqueue_data(index, data) {
            0 => Poll::Pending,
            n => Poll::Ready(Ok(n)),
        }
    }

    /// Bytes of one channel's DATA per round-robin turn, and the largest queued frame.
    fn turn_size(&self) -> usize {
        TURN_CHUNKS * self.config.chunk_size
    }

    /// Frames as much of `data` as the credits of open channel `index` allow,
    /// queues it and schedules the channel. Returns the bytes taken.
    fn enqueue_data(&mut self, index: u32, data: &[u8]) -> usize {
        // Large writes go out in frames of a whole turn (see `SendQueue`).
        let max_frame = self.turn_size().min(self.peer_max_frame as usize);
        let chunk = self.config.chunk_size;
        let channel = self.outgoing.get_mut(&index).expect("caller checked");
        let room = self.config.send_buffer_size.saturating_sub(channel.queue.len());
        channel.waiting_for_room = room == 0;
        let n = (channel.credit.available().min(data.len() as u64) as usize).min(room);
        if n == 0 {
            return 0;
        }
        let before = channel.queue.len();
        channel.frames_sent += channel.queue.push_data(index, &data[..n], max_frame, chunk, &mut self.pool) as u64;
        self.queued += channel.queue.len() - before;
        channel.credit.spend(n as u64);
        if !channel.scheduled {
            channel.scheduled = true;
            self.scheduler.push(channel.priority, index);
        }
        n
    }

    /// After a grant: sends what was written before the first grant, as far as
    /// credits allow, and the FIN of a channel already finished by its handle.
    fn release_pre_ack(&mut self, index: u32) {
        let Some(channel) = self.outgoing.get_mut(&index) else { return };
        if !matches!(channel.state, OutState::Open) {
            return;
        }
        if !channel.pre_ack.is_empty() {
            let held = std::mem::take(&mut channel.pre_ack);
            let sent = self.enqueue_data(index, &held);
            let channel = self.outgoing.get_mut(&index).expect("still there");
            channel.pre_ack = held;
            channel.pre_ack.drain(..sent);
            channel.signal.notify_all();
        }
        let channel = self.outgoing.get(&index).expect("still there");
        if channel.pre_ack.is_empty() && !channel.has_handle && !channel.fin_queued {
            // Finished by its handle before the grant: the FIN follows the bytes.
            self.queue_fin(index);
        }
    }

    /// Outgoing channels whose INIT the peer has not answered yet.
    pub fn unacked_opens(&self) -> usize {
        self.unacked_opens
    }

    /// `Ready` once every frame queued on an outgoing channel was handed to the
    /// writer thread; with the channel's error if it failed.
    pub fn poll_flushed(&self, index: u32) -> Poll<Result<()>> {
        match self.outgoing.get(&index) {
            Some(OutChannel { state: OutState::Failed(error), .. }) => Poll::Ready(Err(error.clone())),
            Some(channel) if channel.scheduled || !channel.pre_ack.is_empty() => Poll::Pending,
            Some(_) => Poll::Ready(Ok(())),
            None => Poll::Ready(Err(self.error.clone().unwrap_or(Error::Closed))),
        }
    }

    /// Credits available on an outgoing channel now.
    pub fn available_credits(&self, index: u32) -> u64 {
        self.outgoing.get(&index).map_or(0, |c| c.credit.available())
    }

    /// Ends an outgoing channel: queues FIN behind its data (if the peer expects
    /// one) and releases the handle. Also used when a handle is dropped or an open
    /// is abandoned.
    pub fn finish(&mut self, index: u32, now: Instant) {
        let Some(channel) = self.outgoing.get_mut(&index) else { return };
        channel.has_handle = false;
        let needs_fin = match &channel.state {
            // Bytes held for the first grant go first; `release_pre_ack` sends the FIN.
            OutState::Open => !channel.fin_queued && channel.pre_ack.is_empty(),
            // The grant may still come: FIN is queued when it does.
            OutState::Opening => false,
            OutState::Failed(_) => false,
        };
        if needs_fin {
            self.queue_fin(index);
        }
        if let Some(channel) = self.outgoing.get(&index) {
            if !matches!(channel.state, OutState::Opening) {
                self.outgoing_ids.remove(&channel.id);
            }
        }
        self.retire_outgoing(index);
        self.check_drained(now);
    }

    fn queue_fin(&mut self, index: u32) {
        let channel = self.outgoing.get_mut(&index).expect("caller checked");
        channel.fin_queued = true;
        let before = channel.queue.len();
        channel.queue.push_fin(index, &mut self.pool);
        self.queued += channel.queue.len() - before;
        if !channel.scheduled {
            channel.scheduled = true;
            self.scheduler.push(channel.priority, index);
        }
        if self.outgoing_ids.get(&channel.id) == Some(&index) {
            self.outgoing_ids.remove(&channel.id);
        }
        self.finishing_ids.insert(channel.id.clone(), index);
    }

    fn retire_outgoing(&mut self, index: u32) {
        let Some(channel) = self.outgoing.get(&index) else { return };
        if !channel.is_retired() || matches!(channel.state, OutState::Opening) {
            return;
        }
        let channel = self.outgoing.remove(&index).expect("checked above");
        if self.outgoing_ids.get(&channel.id) == Some(&index) {
            self.outgoing_ids.remove(&channel.id);
        }
        let error = match channel.state {
            OutState::Failed(error) => Some(error),
            _ => None,
        };
        self.channel_closed(channel.id, index, Direction::Outgoing, error);
    }

    /// Statistics of an outgoing channel.
    pub fn outgoing_stats(&self, index: u32, now: Instant) -> Option<ChannelStats> {
        self.outgoing.get(&index).map(|c| c.stats(now))
    }

    // ----- incoming channels ---------------------------------------------------

    /// Takes the oldest incoming channel waiting for `accept` (with id `id`, if
    /// given). `Pending` means none yet; an error means none will come.
    pub fn accept(&mut self, id: Option<&str>) -> Poll<Result<u32>> {
        let position = self
            .pending
            .iter()
            .position(|index| id.is_none_or(|id| self.incoming.get(index).is_some_and(|c| &*c.id == id)));
        if let Some(position) = position {
            let index = self.pending.remove(position).expect("position is in range");
            let channel = self.incoming.get_mut(&index).expect("pending channels exist");
            channel.accepted = true;
            channel.has_handle = true;
            return Poll::Ready(Ok(index));
        }
        if let Some(error) = &self.error {
            return Poll::Ready(Err(error.clone()));
        }
        if let Some(code) = self.goaway_sent.or(self.goaway_received) {
            return Poll::Ready(Err(Error::GoingAway { code }));
        }
        Poll::Pending
    }

    /// The id and signal of an incoming channel, for its handle.
    pub fn incoming_handle(&self, index: u32) -> Option<(Arc<str>, u8, Signal)> {
        self.incoming.get(&index).map(|c| (c.id.clone(), c.priority, c.signal.clone()))
    }

    /// The id and priority of an outgoing channel.
    pub fn outgoing_info(&self, index: u32) -> Option<(Arc<str>, u8)> {
        self.outgoing.get(&index).map(|c| (c.id.clone(), c.priority))
    }

    /// Reads buffered bytes of an incoming channel into `out` and grants credits
    /// back at the threshold. `Ready(Ok(0))` is end of stream; `Pending` means wait.
    pub fn read(&mut self, index: u32, out: &mut [u8], now: Instant) -> Poll<Result<usize>> {
        let Some(channel) = self.incoming.get_mut(&index) else {
            return Poll::Ready(Err(self.error.clone().unwrap_or(Error::Closed)));
        };
        if !channel.buffer.is_empty() {
            if out.is_empty() {
                return Poll::Ready(Ok(0));
            }
            let n = channel.buffer.read(out, &mut self.pool);
            self.account_consumed(index, n, now);
            self.schedule_pool_trim(now);
            return Poll::Ready(Ok(n));
        }
        if let Some(error) = &channel.failure {
            return Poll::Ready(Err(error.clone()));
        }
        match channel.state {
            InState::Finished => Poll::Ready(Ok(0)),
            _ => Poll::Pending,
        }
    }

    /// Bytes buffered on an incoming channel.
    pub fn buffered(&self, index: u32) -> usize {
        self.incoming.get(&index).map_or(0, |c| c.buffer.len())
    }

    /// Releases an incoming channel's handle. Unless its FIN already arrived, the
    /// peer is told to stop with `ERR CANCEL` and later DATA is discarded.
    pub fn cancel(&mut self, index: u32, now: Instant) {
        let Some(channel) = self.incoming.get_mut(&index) else { return };
        channel.has_handle = false;
        channel.buffer.clear(&mut self.pool);
        if channel.state == InState::Open {
            channel.state = InState::Discarding;
            frame::put_err(&mut self.urgent, index, ErrorCode::CANCEL, "reader closed the channel");
        }
        self.retire_incoming(index);
        self.check_drained(now);
    }

    fn retire_incoming(&mut self, index: u32) {
        if !self.incoming.get(&index).is_some_and(InChannel::is_retired) {
            return;
        }
        let mut channel = self.incoming.remove(&index).expect("checked above");
        self.window_growth -= u64::from(channel.window.window() - channel.window.initial());
        channel.buffer.clear(&mut self.pool);
        self.channel_closed(channel.id, index, Direction::Incoming, channel.failure);
    }

    /// Statistics of an incoming channel.
    pub fn incoming_stats(&self, index: u32, now: Instant) -> Option<ChannelStats> {
        self.incoming.get(&index).map(|c| c.stats(now))
    }

    // ----- session-wide --------------------------------------------------------

    /// Ids of open outgoing channels, in index order.
    pub fn outgoing_ids(&self) -> Vec<String> {
        ids_in_index_order(self.outgoing.iter().filter(|(_, c)| c.is_writable()).map(|(i, c)| (*i, &c.id)))
    }

    /// Ids of incoming channels the application accepted and still holds, in index
    /// order.
    pub fn accepted_ids(&self) -> Vec<String> {
        ids_in_index_order(self.incoming.iter().filter(|(_, c)| c.has_handle).map(|(i, c)| (*i, &c.id)))
    }

    /// Open outgoing plus accepted incoming channels, counted without collecting ids.
    pub fn active_count(&self) -> usize {
        self.outgoing.values().filter(|c| c.is_writable()).count()
            + self.incoming.values().filter(|c| c.has_handle).count()
    }

    /// Looks up an open outgoing channel by id.
    pub fn outgoing_index(&self, id: &str) -> Option<u32> {
        self.outgoing_ids.get(id).copied()
    }

    /// Looks up an accepted incoming channel by id.
    pub fn accepted_index(&self, id: &str) -> Option<u32> {
        self.incoming.iter().filter(|(_, c)| c.has_handle && &*c.id == id).map(|(&i, _)| i).min()
    }

    /// Session counters.
    pub fn stats(&self, now: Instant) -> MultiplexerStats {
        MultiplexerStats {
            bytes_sent: self.bytes_sent,
            bytes_received: self.bytes_received,
            open_channels: self.outgoing.len() + self.incoming.len(),
            total_opened: self.total_opened,
            total_closed: self.total_closed,
            uptime: now.saturating_duration_since(self.started),
            rtt: self.heartbeat.stats(),
        }
    }

    /// Sends GOAWAY: no new channels in either direction from now on; the session
    /// ends once every channel finished, or after `goaway_timeout`.
    pub fn go_away(&mut self, code: ErrorCode, now: Instant) {
        if self.goaway_sent.is_some() || self.is_closed() {
            return;
        }
        self.goaway_sent = Some(code);
        Control::GoAway { code, last_channel_index: self.last_accepted_peer_index }.encode(&mut self.urgent);
        self.start_goaway_timer(now);
        self.wakeups.accept = true;
        self.check_drained(now);
    }

    fn start_goaway_timer(&mut self, now: Instant) {
        if self.timers.get(Timer::GoAway).is_none() {
            self.timers.set(Timer::GoAway, now + self.config.goaway_timeout);
            self.wakeups.timer = true;
        }
    }

    /// Graceful close: GOAWAY, then the session ends once every channel finished
    /// (or after `goaway_timeout`) and the transport is drained, not cut.
    pub fn close(&mut self, now: Instant) {
        self.closing = true;
        self.go_away(ErrorCode::NO_ERROR, now);
        self.check_drained(now);
    }

    /// Ends the session if GOAWAY was exchanged and every channel in both
    /// directions finished: outgoing ones sent FIN (all written), incoming ones got
    /// FIN (their bytes may still be read).
    fn check_drained(&mut self, now: Instant) {
        if self.is_closed() || !self.outgoing.is_empty() || self.wants_transmit() {
            return;
        }
        self.end_if_finished(now);
    }

    /// Ends the session gracefully if GOAWAY was exchanged and every incoming
    /// channel got its FIN; the caller checked the outgoing side. True if it ended.
    fn end_if_finished(&mut self, now: Instant) -> bool {
        let Some(code) = self.goaway_sent.or(self.goaway_received) else { return false };
        if self.incoming.values().any(|c| c.state != InState::Finished) {
            return false;
        }
        let error = if self.closing { Error::Closed } else { Error::GoingAway { code } };
        self.fail(error, None, CloseKind::Graceful, now);
        true
    }

    /// Ends the session at once with `error` (no ERROR frame): the local abort.
    pub fn abort(&mut self, error: Error, now: Instant) {
        if let Phase::Closed(kind) = self.phase {
            // Already over, maybe lingering until the peer's end of stream: an
            // abort cuts that short (the first error stays the session's error).
            if kind != CloseKind::Abort {
                self.phase = Phase::Closed(CloseKind::Abort);
                self.urgent.clear();
                self.timers.clear(Timer::Linger);
                self.shutdown_requested = true;
                self.wakeups.timer = true;
            }
            return;
        }
        self.fail(error, None, CloseKind::Abort, now);
    }

    /// Ends the session because the peer broke the protocol.
    fn fail_violation(&mut self, error: Error, now: Instant) {
        let code = error.code().unwrap_or(ErrorCode::PROTOCOL_ERROR);
        let reason = error.to_string();
        self.fail(error, Some((code, &reason)), CloseKind::Flush, now);
    }

    /// Ends the session: optionally queues ERROR for the peer, drops the channel
    /// data not yet sent, fails every unfinished channel and wakes every waiter.
    /// A graceful end keeps the control frames already queued.
    fn fail(&mut self, error: Error, report: Option<(ErrorCode, &str)>, kind: CloseKind, now: Instant) {
        if self.is_closed() {
            return;
        }
        self.phase = Phase::Closed(kind);
        self.error = Some(error.clone());
        self.timers = Timers::default();
        match kind {
            CloseKind::Abort => self.shutdown_requested = true,
            CloseKind::Flush | CloseKind::Graceful => self.timers.set(Timer::Linger, now + self.config.linger),
        }
        self.scheduler.clear();
        self.unacked_opens = 0;
        self.pending_inits.clear();
        self.finishing_ids.clear();
        if kind != CloseKind::Graceful {
            self.urgent.clear();
        }
        if let Some((code, message)) = report {
            let message = &message.as_bytes()[..message.len().min(512)];
            Control::Error { code, message }.encode(&mut self.urgent);
        }
        for channel in self.outgoing.values_mut() {
            self.queued = self.queued.saturating_sub(channel.queue.len());
            channel.queue.clear(&mut self.pool);
            channel.pre_ack = Vec::new();
            channel.scheduled = false;
            if !channel.fin_queued || matches!(channel.state, OutState::Opening) {
                channel.state = OutState::Failed(error.clone());
            }
            channel.signal.notify_all();
        }
        for channel in self.incoming.values_mut() {
            if channel.state != InState::Finished {
                channel.state = InState::Finished;
                channel.failure.get_or_insert_with(|| error.clone());
            }
            channel.signal.notify_all();
        }
        // Unaccepted channels stay acceptable: their bytes arrived, and the
        // application may still read them (then the session's error, or the end of
        // stream where FIN arrived).
        let outgoing: Vec<u32> = self.outgoing.keys().copied().collect();
        for index in outgoing {
            self.retire_outgoing(index);
        }
        let incoming: Vec<u32> = self.incoming.keys().copied().collect();
        for index in incoming {
            self.retire_incoming(index);
        }
        self.events.push(Event::SessionError(error));
        self.wakeups = Wakeups { accept: true, state: true, timer: true, reader: true };
    }

    fn channel_closed(&mut self, id: Arc<str>, index: u32, direction: Direction, error: Option<Error>) {
        self.total_closed += 1;
        self.events.push(Event::ChannelClosed { id, index, direction, error });
    }

    fn channel_opened(&mut self, id: Arc<str>, index: u32, direction: Direction) {
        self.total_opened += 1;
        self.events.push(Event::ChannelOpened { id, index, direction });
    }

    /// Creates the record for an accepted INIT and queues its first ACK.
    fn admit(&mut self, index: u32, priority: u8, id: &str, now: Instant) {
        let id: Arc<str> = Arc::from(id);
        let window = RecvWindow::new(self.config.initial_window, self.config.grant_threshold_permille);
        frame::put_ack(&mut self.urgent, index, window.initial(), None);
        let signal = Signal::default();
        self.incoming.insert(index, InChannel::new(id.clone(), priority, window, signal, now));
        self.incoming_ids.insert(id.clone(), index);
        self.pending.push_back(index);
        self.last_accepted_peer_index = index;
        self.wakeups.accept = true;
        self.channel_opened(id, index, Direction::Incoming);
    }
}

/// The ids of `channels`, ordered by index.
fn ids_in_index_order<'a>(channels: impl Iterator<Item = (u32, &'a Arc<str>)>) -> Vec<String> {
    let mut ids: Vec<(u32, &Arc<str>)> = channels.collect();
    ids.sort_unstable_by_key(|(index, _)| *index);
    ids.into_iter().map(|(_, id)| id.to_string()).collect()
}

/// Idle pooled buffers a session may hold (64 MiB with 16 KiB chunks): enough for
/// many busy channels to cycle their buffers without the allocator.
const POOL_MAX_IDLE: usize = 4096;

/// Idle pooled buffers kept however long the session idles.
const POOL_KEEP_IDLE: usize = 64;

/// How often idle pooled buffers nobody took are released.
const POOL_TRIM_PERIOD: Duration = Duration::from_secs(1);

/// Chunks of one channel's frames the writer takes per round-robin turn (256 KiB,
/// one default write batch, with the default 16 KiB chunk): fewer wake-ups for
/// readers of many busy channels of equal priority, while higher priorities still
/// go first within a batch.
const TURN_CHUNKS: usize = 16;

#[cfg(test)]
mod tests;
