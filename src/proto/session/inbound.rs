//! Handling of frames from the peer: the rules of PROTOCOL.md sections 2 to 5 and 7.
//! A `Result::Err` from here is a session error: the session sends ERROR and ends.

use super::channel::{InState, OutState};
use super::{CloseKind, DataTarget, Phase, Session};
use crate::error::Error;
use crate::event::Direction;
use crate::proto::control::Control;
use crate::proto::decoder::FrameSink;
use crate::proto::error_code::ErrorCode;
use crate::proto::frame::{self, FrameError, FrameHeader, FrameType, InitFields, MIN_MAX_FRAME_SIZE};
use crate::proto::timer::Timer;
use std::sync::Arc;
use std::time::Instant;

/// The session as a [`FrameSink`] for one `handle_input` call.
pub(super) struct Inbound<'a> {
    pub session: &'a mut Session,
    pub now: Instant,
    /// The channel whose DATA payload is already in its application's buffer (a
    /// direct read): it is accounted for but not copied into the channel.
    pub direct: Option<u32>,
    /// The shared read buffer the input lies in, if it does: large payload pieces
    /// are then kept as ranges of it instead of copied.
    pub shared: Option<&'a Arc<Vec<u8>>>,
}

impl From<FrameError> for Error {
    fn from(error: FrameError) -> Error {
        violation(error.code(), error.to_string())
    }
}

/// Where `piece` lies within `buffer`, if it is a part of it.
fn range_within(buffer: &[u8], piece: &[u8]) -> Option<(usize, usize)> {
    let start = (piece.as_ptr() as usize).checked_sub(buffer.as_ptr() as usize)?;
    let end = start + piece.len();
    (end <= buffer.len()).then_some((start, end))
}

fn violation(code: ErrorCode, reason: impl Into<String>) -> Error {
    Error::ProtocolViolation { code, reason: reason.into() }
}

fn protocol(reason: impl Into<String>) -> Error {
    violation(ErrorCode::PROTOCOL_ERROR, reason)
}

/// The RECONNECT body of section 6: both ids non-zero, `max_frame_size` at least
/// 16,384, and room for `count` entries of 21 bytes.
fn reconnect_well_formed(body: &[u8]) -> bool {
    let field =
        |at: usize, len: usize| body.get(at..at + len).map(|b| b.iter().fold(0u64, |v, &x| v << 8 | u64::from(x)));
    let (Some(own), Some(peer), Some(max), Some(count)) = (field(0, 8), field(8, 8), field(16, 4), field(20, 4)) else {
        return false;
    };
    own != 0 && peer != 0 && max >= u64::from(MIN_MAX_FRAME_SIZE) && body.len() as u64 >= 24 + count * 21
}

impl FrameSink for Inbound<'_> {
    type Error = Error;

    fn frame(&mut self, header: FrameHeader, payload: &[u8]) -> Result<(), Error> {
        let s = &mut *self.session;
        if s.is_closed() {
            return Ok(());
        }
        if header.index == frame::CONTROL_INDEX {
            return self.control(Control::parse(payload)?);
        }
        if s.phase == Phase::Handshaking {
            return Err(protocol(format!("{:?} frame before the peer's HANDSHAKE", header.kind)));
        }
        match header.kind {
            FrameType::Init => self.init(header.index, payload),
            FrameType::Fin => {
                self.fin(header.index);
                Ok(())
            }
            FrameType::Ack => {
                let ack = frame::parse_ack(payload)?;
                self.grant(header.index, ack.credits, ack.consumed)
            }
            FrameType::Err => {
                let err = frame::parse_err(payload)?;
                self.err(header.index, err.code, &frame::message_text(err.message))
            }
            FrameType::Data => unreachable!("channel DATA is streamed through `data`"),
        }
    }

    fn data_start(&mut self, header: FrameHeader) -> Result<(), Error> {
        match self.session.phase {
            Phase::Closed(_) => return Ok(()),
            Phase::Handshaking => return Err(protocol("DATA frame before the peer's HANDSHAKE")),
            Phase::Open => {}
        }
        self.session.data_target = self.classify_data(header);
        self.session.note_data_frame(header);
        Ok(())
    }

    fn data(&mut self, _header: FrameHeader, _offset: u32, bytes: &[u8]) -> Result<(), Error> {
        if self.session.is_closed() {
            return Ok(());
        }
        let s = &mut *self.session;
        // A direct read's bytes are already where its reader wants them.
        let DataTarget::Deliver(index) = s.data_target else { return Ok(()) };
        if bytes.is_empty() || self.direct == Some(index) {
            return Ok(());
        }
        let channel = s.incoming.get_mut(&index).expect("delivery target exists");
        match self.shared.and_then(|buffer| Some((buffer, range_within(buffer, bytes)?))) {
            Some((buffer, (start, end))) => channel.buffer.push_shared(buffer, start, end, &mut s.pool),
            None => channel.buffer.push(bytes, &mut s.pool),
        }
        channel.signal.notify_all();
        Ok(())
    }
}

impl Inbound<'_> {
    /// Decides at a DATA frame's header where its payload goes, answering the
    /// channel-level errors of section 3.
    fn classify_data(&mut self, header: FrameHeader) -> DataTarget {
        let s = &mut *self.session;
        let index = header.index;
        let Some(channel) = s.incoming.get_mut(&index) else {
            frame::put_err(&mut s.urgent, index, ErrorCode::UNKNOWN_CHANNEL, "no such channel");
            return DataTarget::Discard;
        };
        match channel.state {
            InState::Open if channel.window.receive(header.len) => {
                channel.frames_received += 1;
                channel.starved |= channel.window.peer_starved();
                let priority = channel.priority;
                s.note_active_priority(priority, self.now);
                DataTarget::Deliver(index)
            }
            InState::Open => {
                channel.state = InState::Discarding;
                let reason = format!("DATA of {} bytes beyond the credits granted", header.len);
                channel.failure = Some(violation(ErrorCode::FLOW_CONTROL_ERROR, reason));
                channel.signal.notify_all();
                frame::put_err(&mut s.urgent, index, ErrorCode::FLOW_CONTROL_ERROR, "DATA beyond credits");
                DataTarget::Discard
            }
            InState::Discarding => DataTarget::Discard,
            InState::Finished => {
                frame::put_err(&mut s.urgent, index, ErrorCode::UNKNOWN_CHANNEL, "channel already finished");
                DataTarget::Discard
            }
        }
    }

    fn control(&mut self, control: Control<'_>) -> Result<(), Error> {
        let s = &mut *self.session;
        if s.phase == Phase::Handshaking {
            return match control {
                Control::Handshake { session_id, max_frame_size } => self.handshake(session_id, max_frame_size),
                Control::Reconnect(body) => {
                    // A malformed RECONNECT, or one with a zero id, is PROTOCOL_ERROR
                    // (sections 5 and 6); a well-formed one finds no session to resume,
                    // since resumption is not enabled on this side.
                    if !reconnect_well_formed(body) {
                        return Err(protocol("malformed RECONNECT or zero session id"));
                    }
                    Err(violation(ErrorCode::SESSION_MISMATCH, "RECONNECT but no session to resume"))
                }
                other => Err(protocol(format!("{other:?} before the peer's HANDSHAKE"))),
            };
        }
        match control {
            Control::Ping(timestamp) => Control::Pong(timestamp).encode(&mut s.urgent),
            Control::Pong(timestamp) => {
                if let Some(rtt) = s.heartbeat.on_pong(timestamp, self.now, &mut s.timers) {
                    if let Some(slot) = s.user_pings.get_mut(&timestamp) {
                        *slot = Some(rtt);
                        s.wakeups.state = true;
                    }
                }
            }
            Control::Handshake { .. } => return Err(protocol("second HANDSHAKE")),
            Control::Reconnect(_) => return Err(protocol("RECONNECT after the handshake")),
            Control::CreditGrant { index, credits } => return self.grant(index, credits, None),
            Control::Error { code, message } => {
                let message = frame::message_text(message);
                s.fail(Error::SessionError { code, message }, None, CloseKind::Abort, self.now);
            }
            Control::GoAway { code, .. } => {
                if s.goaway_received.is_none() {
                    s.goaway_received = Some(code);
                    s.start_goaway_timer(self.now);
                    s.wakeups.accept = true;
                }
            }
            Control::Unknown(_) => {}
        }
        Ok(())
    }

    fn handshake(&mut self, session_id: u64, max_frame_size: Option<u32>) -> Result<(), Error> {
        let s = &mut *self.session;
        if session_id == 0 {
            return Err(protocol("HANDSHAKE with session id 0"));
        }
        let max = max_frame_size.unwrap_or(frame::DEFAULT_MAX_FRAME_SIZE);
        if max < MIN_MAX_FRAME_SIZE {
            return Err(protocol(format!("HANDSHAKE max_frame_size {max} below 16384")));
        }
        s.peer_session_id = Some(session_id);
        s.peer_max_frame = max;
        s.phase = Phase::Open;
        s.timers.clear(Timer::Handshake);
        s.heartbeat.start(self.now, &mut s.timers);
        s.wakeups.state = true;
        s.wakeups.timer = true;
        Ok(())
    }

    fn init(&mut self, index: u32, payload: &[u8]) -> Result<(), Error> {
        let s = &mut *self.session;
        if index <= s.last_peer_index {
            return Err(protocol(format!("INIT index {index} does not count up from {}", s.last_peer_index)));
        }
        s.last_peer_index = index;
        let refuse = |s: &mut Session, code, message: &str| {
            frame::put_err(&mut s.urgent, index, code, message);
            Ok(())
        };
        let InitFields { priority, id } = match frame::parse_init(payload) {
            Ok(fields) => fields,
            Err(malformed) => return refuse(s, ErrorCode::PROTOCOL_ERROR, &malformed.to_string()),
        };
        if s.goaway_sent.is_some() || s.goaway_received.is_some() {
            return refuse(s, ErrorCode::REFUSED, "session is going away");
        }
        if s.incoming_ids.contains_key(id) {
            return refuse(s, ErrorCode::CHANNEL_EXISTS, "channel id already open");
        }
        if s.incoming.len() >= s.config.max_incoming_channels {
            return refuse(s, ErrorCode::REFUSED, "too many open channels");
        }
        if s.pending.len() >= s.config.max_pending_accepts {
            return refuse(s, ErrorCode::REFUSED, "too many channels waiting to be accepted");
        }
        s.admit(index, priority, id, self.now);
        Ok(())
    }

    fn fin(&mut self, index: u32) {
        let s = &mut *self.session;
        let Some(channel) = s.incoming.get_mut(&index).filter(|c| c.state != InState::Finished) else {
            frame::put_err(&mut s.urgent, index, ErrorCode::UNKNOWN_CHANNEL, "no such channel");
            return;
        };
        channel.state = InState::Finished;
        channel.signal.notify_all();
        if s.incoming_ids.get(&channel.id) == Some(&index) {
            s.incoming_ids.remove(&channel.id);
        }
        s.retire_incoming(index);
    }

    /// Checks that an ACK, ERR or CREDIT_GRANT names an index this side allocated.
    fn check_own_index(&self, index: u32, what: &str) -> Result<(), Error> {
        if index >= self.session.next_index {
            return Err(protocol(format!("{what} for index {index}, never allocated")));
        }
        Ok(())
    }

    fn grant(&mut self, index: u32, credits: u32, consumed: Option<u64>) -> Result<(), Error> {
        self.check_own_index(index, "credit grant")?;
        let s = &mut *self.session;
        let Some(channel) = s.outgoing.get_mut(&index) else {
            return Ok(()); // a late grant for a forgotten channel
        };
        if matches!(channel.state, OutState::Failed(_)) {
            return Ok(());
        }
        channel.credit.grant(credits, consumed).map_err(|e| violation(e.code(), e.to_string()))?;
        channel.signal.notify_all();
        if matches!(channel.state, OutState::Opening) {
            channel.state = OutState::Open;
            s.unacked_opens -= 1;
            let id = channel.id.clone();
            s.channel_opened(id, index, Direction::Outgoing);
        }
        // Bytes written before the first grant go out now, and the FIN of a channel
        // whose handle was closed meanwhile (or whose opener gave up waiting).
        s.release_pre_ack(index);
        Ok(())
    }

    fn err(&mut self, index: u32, code: ErrorCode, message: &str) -> Result<(), Error> {
        self.check_own_index(index, "ERR")?;
        let s = &mut *self.session;
        let Some(channel) = s.outgoing.get_mut(&index) else {
            return Ok(());
        };
        let message = message.to_owned();
        let (error, send_fin) = match channel.state {
            OutState::Failed(_) => return Ok(()),
            // An answer to INIT: the peer never opened the channel, so no FIN.
            OutState::Opening => {
                s.unacked_opens -= 1;
                (Error::Refused { code, message }, false)
            }
            // The peer forgot the channel (UNKNOWN_CHANNEL) or expects our FIN.
            OutState::Open => (Error::ChannelReset { code, message }, code != ErrorCode::UNKNOWN_CHANNEL),
        };
        channel.state = OutState::Failed(error);
        // Unsent bytes are dropped; a FIN already queued is queued again below.
        s.queued = s.queued.saturating_sub(channel.queue.len());
        channel.queue.clear(&mut s.pool);
        channel.pre_ack = Vec::new();
        channel.fin_queued = false;
        channel.signal.notify_all();
        if s.outgoing_ids.get(&channel.id) == Some(&index) {
            s.outgoing_ids.remove(&channel.id);
        }
        if send_fin {
            s.queue_fin(index);
        } else {
            s.fin_released(index);
        }
        // A scheduler entry left without segments is dropped by `poll_transmit`.
        s.retire_outgoing(index);
        Ok(())
    }
}
