//! Who may write to the transport, and direct writes.
//!
//! One transmission runs at a time: the writer thread's batch or an application
//! thread's *direct write*. A thread writing a channel that finds the link idle
//! (nothing queued, nobody transmitting) claims the transmission and writes its own
//! frames, the payload straight from its buffer: no copy into the channel's queue
//! and no hand-off to the writer thread, which is what a raw socket write costs. It
//! holds back no other frame, since none was waiting; frames queued meanwhile go
//! out after it, in priority order, through the writer thread.

use super::channel::OutState;
use super::{Phase, Session};
use crate::error::Result;
use crate::proto::frame::{self, FrameType, HEADER_LEN};
use std::io::IoSlice;
use std::task::Poll;
use std::time::{Duration, Instant};

/// A write shorter than one chunk goes direct only after the link has been idle
/// this long. Closer together, small writes are queued, so a stream of small
/// messages is coalesced into few frames and syscalls by the writer thread rather
/// than paying a syscall each; a lone request still leaves at once.
pub(crate) const SMALL_WRITE_IDLE: Duration = Duration::from_micros(5);

/// What a channel write did with the caller's bytes.
#[derive(Debug)]
pub enum Written {
    /// The first `n` bytes were queued for the writer thread.
    Queued(usize),
    /// The caller now holds the transmission and must write these frames itself,
    /// then end it with [`Session::end_transmit`].
    Direct(DirectWrite),
}

/// Frames a caller writes itself: their headers, and the length of the payload
/// taken from the front of its buffer.
#[derive(Debug)]
pub struct DirectWrite {
    headers: Vec<u8>,
    frame_len: usize,
    len: usize,
}

impl DirectWrite {
    /// Payload bytes carried: the first `payload_len()` bytes of the caller's buffer.
    pub fn payload_len(&self) -> usize {
        self.len
    }

    /// The frames as the transport should see them: header, payload, header, ...
    /// `data` is the buffer the write was claimed for.
    pub fn slices<'a>(&'a self, data: &'a [u8]) -> Vec<IoSlice<'a>> {
        let headers = self.headers.chunks(HEADER_LEN);
        let payloads = data[..self.len].chunks(self.frame_len);
        headers.zip(payloads).flat_map(|(header, payload)| [IoSlice::new(header), IoSlice::new(payload)]).collect()
    }
}

impl Session {
    /// Writes `data` on outgoing channel `index`: as a direct write when the link
    /// is idle (see the module docs), else queued like [`write`](Self::write).
    pub fn write_or_claim(&mut self, index: u32, data: &[u8], now: Instant) -> Poll<Result<Written>> {
        if let Some(direct) = self.claim_direct_write(index, data.len(), now) {
            return Poll::Ready(Ok(Written::Direct(direct)));
        }
        self.write(index, data).map_ok(Written::Queued)
    }

    /// True while a transmission (a writer batch or a direct write) is under way.
    pub fn is_transmitting(&self) -> bool {
        self.transmitting
    }

    /// Marks the start of a writer-thread batch.
    pub(super) fn begin_transmit(&mut self) {
        debug_assert!(!self.transmitting, "one transmission at a time");
        self.transmitting = true;
    }

    /// Ends the current transmission (the transport took its bytes, or failed).
    pub fn end_transmit(&mut self, now: Instant) {
        if std::mem::replace(&mut self.transmitting, false) {
            self.last_transmit = now;
        }
    }

    /// Claims the transmission for a direct write of up to `len` bytes on channel
    /// `index`, spending its credits, if the link is idle and the channel can send
    /// now. At most `write_batch_size` bytes, in frames of at most the peer's
    /// `max_frame_size`.
    fn claim_direct_write(&mut self, index: u32, len: usize, now: Instant) -> Option<DirectWrite> {
        let link_idle = self.phase == Phase::Open && !self.transmitting && !self.wants_transmit();
        if !self.config.direct_writes || !link_idle || len == 0 {
            return None;
        }
        if len < self.config.chunk_size && now.saturating_duration_since(self.last_transmit) < SMALL_WRITE_IDLE {
            return None;
        }
        // Nothing waits behind a direct write, so its frames need not be chunked
        // for priorities: as large as the peer takes, so the reader on the far
        // side can take most of the payload straight into its buffer.
        let frame_len = self.peer_max_frame as usize;
        let channel = self.outgoing.get_mut(&index)?;
        let sendable = matches!(channel.state, OutState::Open) && !channel.fin_queued && channel.pre_ack.is_empty();
        if !sendable || channel.scheduled {
            return None;
        }
        let len = (channel.credit.available().min(len as u64) as usize).min(self.config.write_batch_size);
        if len == 0 {
            return None;
        }
        let frames = len.div_ceil(frame_len);
        let mut headers = Vec::with_capacity(frames * HEADER_LEN);
        for start in (0..len).step_by(frame_len) {
            frame::put_header(&mut headers, index, FrameType::Data, (len - start).min(frame_len));
        }
        channel.credit.spend(len as u64);
        channel.frames_sent += frames as u64;
        self.bytes_sent += (len + headers.len()) as u64;
        self.transmitting = true;
        Some(DirectWrite { headers, frame_len, len })
    }
}
