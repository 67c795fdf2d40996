//! Per-channel records kept by the session, one type per direction.

use super::super::credit::{RecvWindow, SendCredit};
use super::super::recv_buffer::RecvBuffer;
use super::super::send_queue::SendQueue;
use super::Signal;
use crate::error::Error;
use crate::stats::ChannelStats;
use std::sync::Arc;
use std::time::Instant;

/// Where an outgoing channel stands.
#[derive(Debug, Clone)]
pub(crate) enum OutState {
    /// INIT sent, no grant yet.
    Opening,
    /// Granted; DATA may flow. FIN may be queued (`fin_queued`).
    Open,
    /// Refused, stopped by the peer, or failed with the session.
    Failed(Error),
}

/// A channel this side opened.
#[derive(Debug)]
pub(crate) struct OutChannel {
    pub id: Arc<str>,
    pub priority: u8,
    pub state: OutState,
    pub credit: SendCredit,
    pub queue: SendQueue,
    /// Bytes written before the peer's first grant (pipelined open), not yet
    /// framed: no DATA may be sent before credits arrive.
    pub pre_ack: Vec<u8>,
    /// In the scheduler now.
    pub scheduled: bool,
    /// A write found the send buffer full; the writer thread wakes it once half
    /// of it went out.
    pub waiting_for_room: bool,
    /// FIN is queued (or written); nothing may follow.
    pub fin_queued: bool,
    /// The last direct write took less than it was given: the next write is
    /// likely the rest.
    pub cut_short: bool,
    /// The application holds the `WriteChannel` (or is still opening it).
    pub has_handle: bool,
    pub signal: Signal,
    pub opened_at: Instant,
    pub frames_sent: u64,
}

impl OutChannel {
    pub fn new(id: Arc<str>, priority: u8, signal: Signal, now: Instant) -> Self {
        OutChannel {
            id,
            priority,
            state: OutState::Opening,
            credit: SendCredit::default(),
            queue: SendQueue::default(),
            pre_ack: Vec::new(),
            scheduled: false,
            waiting_for_room: false,
            fin_queued: false,
            cut_short: false,
            has_handle: true,
            signal,
            opened_at: now,
            frames_sent: 0,
        }
    }

    /// Open and not finished: the application may still write to it.
    pub fn is_writable(&self) -> bool {
        matches!(self.state, OutState::Open) && !self.fin_queued
    }

    /// True when the record is no longer needed: no handle, nothing left to send.
    pub fn is_retired(&self) -> bool {
        !self.has_handle && self.queue.is_empty() && !self.scheduled && self.pre_ack.is_empty()
    }

    pub fn stats(&self, now: Instant) -> ChannelStats {
        ChannelStats {
            bytes_sent: self.credit.sent,
            frames_sent: self.frames_sent,
            credits_granted: self.credit.granted,
            credits_consumed: self.credit.consumed,
            open_duration: now.saturating_duration_since(self.opened_at),
            ..ChannelStats::default()
        }
    }
}

/// Where an incoming channel stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InState {
    /// DATA is delivered.
    Open,
    /// Cancelled here or failed on flow control: DATA is discarded until FIN.
    Discarding,
    /// FIN received, or failed with the session: the index is unknown from now on.
    Finished,
}

/// A channel the peer opened.
#[derive(Debug)]
pub(crate) struct InChannel {
    pub id: Arc<str>,
    pub priority: u8,
    pub state: InState,
    /// The error the reader sees once the buffered bytes are read.
    pub failure: Option<Error>,
    pub window: RecvWindow,
    pub buffer: RecvBuffer,
    /// Handed to the application by `accept`.
    pub accepted: bool,
    /// The application holds the `ReadChannel`.
    pub has_handle: bool,
    pub signal: Signal,
    pub opened_at: Instant,
    /// When the application last read (for window auto-tuning).
    pub last_read: Instant,
    /// When credits were last granted (for window auto-tuning).
    pub last_grant: Instant,
    /// The writer used every credit since the last grant (for window auto-tuning).
    pub starved: bool,
    pub frames_received: u64,
}

impl InChannel {
    pub fn new(id: Arc<str>, priority: u8, window: RecvWindow, signal: Signal, now: Instant) -> Self {
        InChannel {
            id,
            priority,
            state: InState::Open,
            failure: None,
            window,
            buffer: RecvBuffer::default(),
            accepted: false,
            has_handle: false,
            signal,
            opened_at: now,
            last_read: now,
            last_grant: now,
            starved: false,
            frames_received: 0,
        }
    }

    /// True when the record is no longer needed.
    pub fn is_retired(&self) -> bool {
        self.accepted && !self.has_handle && self.state == InState::Finished
    }

    pub fn stats(&self, now: Instant) -> ChannelStats {
        ChannelStats {
            bytes_received: self.window.received,
            frames_received: self.frames_received,
            credits_granted: self.window.granted,
            credits_consumed: self.window.consumed,
            open_duration: now.saturating_duration_since(self.opened_at),
            ..ChannelStats::default()
        }
    }
}
