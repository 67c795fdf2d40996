//! Who reads the transport: the *input role*.
//!
//! The reader thread reads whenever nobody else does. An application thread that
//! blocks in a channel read (with no read timeout) may take the role instead and
//! read the transport itself, so the kernel wakes the very thread that waits for the
//! bytes instead of the reader thread, which would then have to wake it: a hand-off
//! that costs more than the rest of a small message's trip (leader/follower).
//!
//! With several application readers waiting, one reads for all (leader and
//! followers): whoever holds the role delivers what arrives for the others and
//! wakes them; when it leaves, the next waiting reader is woken to take over.
//!
//! After an application thread leaves with its bytes, the role stays free for a
//! short lease, so the same thread can come back for its next message; likewise
//! after a release that woke a waiting application reader to take it. Only then
//! does the reader thread take over. Threads that wait for input but do not read
//! themselves (readers with a timeout, writers waiting for credits, `accept`, ...)
//! cut the lease short, and a reader thread that finds an application holding the
//! role checks back at growing intervals, so unsolicited input (a PING, an INIT)
//! waits at most [`MAX_CHECK`].
//!
//! The holder of the role may also read a DATA payload for its own channel
//! straight into its buffer (a *direct read*), when that channel has nothing
//! buffered ahead of it: the bytes skip the channel buffer and both copies. At a
//! frame boundary it reads the next header into a small buffer and what follows
//! into its own, in one vectored read, so even a frame's first bytes can land
//! where they belong; it does so when the last DATA frame was its channel's, as
//! runs of frames for one channel are the rule. In a run of its channel's large
//! frames, that read is laid out for as many frames like the last as the run
//! had so far: headers apart, payloads end to end in its buffer (see
//! [`ReadPlan::Frames`]). A reader whose buffer is small (under
//! [`DIRECT_MIN_ROOM`]) and smaller than the payload coming for it reads through
//! the read buffer instead: one read of the transport then serves many of its
//! reads.
//!
//! With many busy channels the bytes arriving are mostly another channel's. When
//! a read ends inside a large DATA payload (at least [`HANDOFF_MIN`] still to
//! come) whose channel's reader reads itself (the holder, or a waiting candidate),
//! the role is kept for that reader for the lease: it takes the rest of the
//! payload straight into its buffer instead of someone copying it through the
//! read buffer. Writers send long runs of a channel as one frame (up to a turn,
//! see `SendQueue`) or as runs of large frames (direct writes), so most of a busy
//! channel's bytes arrive that way. Between the frames of such a run, the holder
//! of the role reads the next header alone when a reader could take its payload
//! (itself, or a waiting candidate): the header names the channel before any of
//! the payload is read, so the payload can go straight to its reader. A small
//! frame of the run's own channel does not end the run: a write cut short by
//! credits arrives as a large frame and a small rest, and a writer whose writes
//! are not a multiple of the credits cuts one short at every window.
//!
//! Reads into the read buffer stop where a frame ends while a run of large
//! frames arrives ([`FrameEnds`]): there one of the peer's writes ended too,
//! and the kernel hands over whole writes faster.

use super::{CloseKind, DataTarget, Phase, Session, Signal};
use crate::proto::frame::{FrameHeader, HEADER_LEN};
use std::io::IoSliceMut;
use std::time::{Duration, Instant};

/// How long the role stays free for the application thread that just left it, or
/// for the application reader just woken to take it.
pub(crate) const LEASE: Duration = Duration::from_micros(250);

/// Longest interval at which the reader thread checks on an application holding
/// the role.
pub(crate) const MAX_CHECK: Duration = Duration::from_millis(2);

/// A read into the caller's buffer starting at a frame boundary
/// ([`ReadPlan::Frames`]) is worth its vectored read only for buffers at least
/// this large.
const FRAMES_READ_MIN_ROOM: usize = 4096;

/// A reader whose buffer holds less than this reads a payload larger than its
/// buffer through the read buffer instead of straight into its own: one read of
/// the transport then serves many of its reads, each a copy out of a buffer
/// still in cache, where reads straight into its buffer would cost a read of
/// the transport (a syscall, and the session's work around it: 2-3 us here) per
/// buffer. Reading 64 KiB frames into 8 KiB buffers (`io::copy`'s size) ran at
/// 0.77x raw TCP's throughput that way, 1.05x through the read buffer; 16 and
/// 32 KiB buffers measured faster through it too (docs/PERFORMANCE.md).
const DIRECT_MIN_ROOM: usize = 64 * 1024;

/// The role is kept for the reader of a channel whose DATA payload is arriving
/// when at least this much of it is still to come: enough to be worth the
/// reader's wake-up, which it needs anyway to read what already arrived.
const HANDOFF_MIN: usize = 32 * 1024;

/// How an application holding the input role reads the transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadPlan {
    /// Into the shared read buffer, decoded from there.
    Buffered,
    /// Straight into the caller's buffer, at most this many bytes: the rest of a
    /// DATA payload for its channel.
    Payload(usize),
    /// One vectored read laid out for `frames` frames with `payload`-byte
    /// payloads: each header into a small buffer, each payload into the next
    /// `payload` bytes of the caller's buffer, where it stays if the frame is its
    /// channel's DATA and every frame before it in the read was too. (With no
    /// run of its frames arriving, one frame, whatever fits in the buffer.)
    Frames {
        /// Frames the read is laid out for, at most [`MAX_READ_FRAMES`].
        frames: usize,
        /// Bytes of the caller's buffer for each frame's payload.
        payload: usize,
    },
    /// Just the rest of the next frame header (this many bytes), into a small
    /// buffer: a run of large DATA frames is arriving, so another is likely
    /// coming, and once its header names the channel, that channel's reader can
    /// take the role and read the payload straight into its buffer (see
    /// [`Session::release_input`]). Also when a read into a caller's buffer ended
    /// a few bytes into the next header, as it does after a frame shorter than
    /// the buffer.
    HeaderOnly(usize),
}

/// A run of large DATA frames of one channel: its channel, the length of its
/// last large frame, and how many large frames it had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Run {
    pub channel: u32,
    pub frame_len: u32,
    pub frames: u32,
}

/// Most frames one [`ReadPlan::Frames`] read is laid out for.
pub const MAX_READ_FRAMES: usize = 16;

/// Where the frames arriving likely end: a read of the transport that stops at
/// one of these ends stops where one of the peer's writes did.
///
/// A peer writing large buffers sends each as frames of one write. Over Linux
/// loopback TCP, reads whose lengths did not line up with the peer's writes cost
/// the receiving side up to three times the CPU of reads of whole writes (the
/// copy to user space ran that much slower; docs/PERFORMANCE.md has the
/// measurements, not the kernel's reason). So a buffered read stops at the end
/// of the frame in progress, or of a later frame if frames keep the length of
/// the last large one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameEnds {
    /// Bytes from here to the end of the frame in progress (at a frame boundary,
    /// of the next frame, taken to be like the last one).
    pub next: usize,
    /// Bytes on the wire of each later frame, header included.
    pub step: usize,
}

impl FrameEnds {
    /// The longest read of at most `max` bytes that stops at one of these ends,
    /// or `max` when none is in reach.
    pub fn read_len(&self, max: usize) -> usize {
        if self.next == 0 || self.next > max || self.step == 0 {
            return max;
        }
        self.next + (max - self.next) / self.step * self.step
    }
}

/// The buffers of a [`ReadPlan::Frames`] read, in wire order: each header buffer,
/// then the next `payload` bytes of `out` (the plan fits its frames in `out`),
/// laid out in `slices`, which must hold two per frame (`2 * MAX_READ_FRAMES`
/// always do); returns the part in use.
pub fn frames_layout<'a, 'b>(
    heads: &'a mut [[u8; HEADER_LEN]],
    out: &'a mut [u8],
    payload: usize,
    slices: &'b mut [IoSliceMut<'a>],
) -> &'b mut [IoSliceMut<'a>] {
    let frames = heads.iter_mut().zip(out.chunks_mut(payload));
    let mut used = 0;
    for (pair, (head, payload)) in slices.chunks_exact_mut(2).zip(frames) {
        pair[0] = IoSliceMut::new(head);
        pair[1] = IoSliceMut::new(payload);
        used += 2;
    }
    &mut slices[..used]
}

/// Room for the slices of any [`ReadPlan::Frames`] read (see [`frames_layout`]).
pub fn frames_slices<'a>() -> [IoSliceMut<'a>; 2 * MAX_READ_FRAMES] {
    std::array::from_fn(|_| IoSliceMut::new(&mut []))
}

/// Where the `n` bytes of a [`ReadPlan::Frames`] read landed (see
/// [`frames_layout`]): pairs of a header buffer's bytes and `out`'s, in wire
/// order, written to `pieces` (one per frame; `MAX_READ_FRAMES` always do);
/// returns the part in use.
pub fn frames_landed<'a, 'b>(
    heads: &'a [[u8; HEADER_LEN]],
    out: &'a [u8],
    payload: usize,
    mut n: usize,
    pieces: &'b mut [(&'a [u8], &'a [u8])],
) -> &'b [(&'a [u8], &'a [u8])] {
    let frames = heads.iter().zip(out.chunks(payload));
    let mut used = 0;
    for (piece, (head, payload)) in pieces.iter_mut().zip(frames) {
        let in_head = n.min(HEADER_LEN);
        let in_payload = (n - in_head).min(payload.len());
        n -= in_head + in_payload;
        *piece = (&head[..in_head], &payload[..in_payload]);
        used += 1;
    }
    &pieces[..used]
}

/// What the reader thread should do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReaderTurn {
    /// Read the transport (it now holds the role).
    Read,
    /// Wait until then (or a wake-up) and ask again.
    WaitUntil(Instant),
    /// Stop: the transport's input ended, or the session was aborted.
    Exit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holder {
    Nobody,
    ReaderThread,
    Application,
}

/// The input role's state; lives in the session so it changes under its lock.
#[derive(Debug)]
pub(super) struct InputRole {
    holder: Holder,
    /// Until when the role is kept free for an application thread.
    lease: Option<Instant>,
    /// The reader thread's next check interval while an application holds it; it
    /// grows while applications keep the role and resets once the thread reads.
    check: Duration,
    /// Threads waiting for input that will not read it themselves.
    waiters: usize,
    /// Application readers waiting to take the role, with their wake-up signals.
    candidates: Vec<(u32, Signal)>,
    /// The channel whose reader the free role is kept for until the lease ends:
    /// the rest of a large DATA payload is arriving for it, to read straight into
    /// its buffer.
    reserved: Option<u32>,
    /// The transport reported end of stream or failed.
    ended: bool,
}

impl Default for InputRole {
    fn default() -> Self {
        InputRole {
            holder: Holder::Nobody,
            lease: None,
            check: LEASE,
            waiters: 0,
            candidates: Vec::new(),
            reserved: None,
            ended: false,
        }
    }
}

impl Session {
    /// An application reader of channel `index`, about to wait, takes the role if
    /// it is free and the session is up. Otherwise it becomes a candidate: its
    /// `signal` is notified when the role frees up and it is first in line.
    pub fn claim_input(&mut self, index: u32, signal: &Signal, now: Instant) -> bool {
        let role = &mut self.input;
        let kept_for_other = role.reserved.is_some_and(|r| r != index) && role.lease.is_some_and(|until| now < until);
        if role.holder == Holder::Nobody && self.phase == Phase::Open && !role.ended && !kept_for_other {
            role.reserved = None;
            role.holder = Holder::Application;
            role.candidates.retain(|(i, _)| *i != index);
            return true;
        }
        if !role.candidates.iter().any(|(i, _)| *i == index) {
            role.candidates.push((index, signal.clone()));
        }
        false
    }

    /// An application reader of channel `index` stopped waiting. If it was woken
    /// to take the free role, the next candidate is woken instead.
    pub fn withdraw_input_claim(&mut self, index: u32) {
        let role = &mut self.input;
        let Some(at) = role.candidates.iter().position(|(i, _)| *i == index) else { return };
        role.candidates.remove(at);
        if at == 0 && role.holder == Holder::Nobody {
            if let Some((_, next)) = role.candidates.first() {
                next.notify_all();
            }
        }
    }

    /// A thread starts waiting for something only input brings, without reading
    /// itself: the reader thread must not wait out a lease. True when the role is
    /// free, so the reader thread should be woken to take it now.
    pub fn add_input_waiter(&mut self) -> bool {
        self.input.waiters += 1;
        self.input.holder == Holder::Nobody
    }

    /// The waiter of [`add_input_waiter`](Self::add_input_waiter) stopped waiting.
    pub fn remove_input_waiter(&mut self) {
        self.input.waiters -= 1;
    }

    /// The role's holder, reading channel `reading` if an application, is done
    /// with one read. `ended`: the transport's input is over. If the rest of a
    /// large DATA payload is arriving for a channel whose reader reads itself (the
    /// holder, or a waiting candidate), the role is kept for it; if the holder
    /// read its own large frame to the end, the role is left free for it to come
    /// back (no candidate is woken, the lease keeps the reader thread away);
    /// otherwise a candidate (or the reader thread, if anyone needs input) is
    /// woken.
    pub fn release_input(&mut self, ended: bool, reading: Option<u32>, now: Instant) {
        let owner = self.payload_owner();
        let run_continues = reading.is_some() && self.run_owner() == reading;
        let role = &mut self.input;
        role.reserved = None;
        let owner_waits = owner.and_then(|owner| role.candidates.iter().position(|(i, _)| *i == owner));
        let candidate = match owner_waits {
            Some(at) => {
                role.reserved = owner;
                Some(&role.candidates[at])
            }
            None if owner.is_some() && owner == reading => {
                role.reserved = owner;
                None
            }
            // The holder read its own channel's large frame to the end: the next
            // frame likely continues the run, and the holder is on its way back
            // for it. Another reader woken now would read that frame's header
            // only to hand the role back (or copy the run through the read
            // buffer); the lease keeps the reader thread away meanwhile.
            None if run_continues => None,
            None => role.candidates.first(),
        };
        if let Some((_, signal)) = candidate {
            signal.notify_all();
        }
        if role.holder == Holder::Application || candidate.is_some() {
            role.lease = Some(now + LEASE);
        }
        role.holder = Holder::Nobody;
        role.ended |= ended;
        if role.ended || role.waiters > 0 || self.phase != Phase::Open {
            self.wakeups.reader = true;
        }
    }

    /// The channel the rest of a large DATA payload is arriving for, if its
    /// reader could take it straight into its buffer.
    fn payload_owner(&self) -> Option<u32> {
        let (header, remaining) = self.decoder.data_remaining()?;
        let index = header.index;
        let direct = remaining as usize >= HANDOFF_MIN && self.data_target == DataTarget::Deliver(index);
        direct.then_some(index)
    }

    /// Notes a DATA frame's header for run detection: a large frame starts (or
    /// continues) a run of its channel; a small frame of the same channel keeps
    /// it (the rest of a write that ran out of credits, a writer's odd-sized
    /// last write); any other channel's frame ends it.
    pub(super) fn note_data_frame(&mut self, header: FrameHeader) {
        let large = header.len as usize >= HANDOFF_MIN;
        self.run = match self.run {
            Some(run) if large && run.channel == header.index => {
                Some(Run { frame_len: header.len, frames: run.frames.saturating_add(1), ..run })
            }
            _ if large => Some(Run { channel: header.index, frame_len: header.len, frames: 1 }),
            Some(run) if run.channel == header.index => Some(run),
            _ => None,
        };
    }

    /// The run of large frames the input is in, if it is channel `index`'s.
    fn run_of(&self, index: u32) -> Option<Run> {
        self.run.filter(|run| run.channel == index)
    }

    /// The channel whose run of large frames the input is in, between two of
    /// its frames (the next header may have begun to arrive), if its reader could
    /// take the next payload straight into its buffer: runs of a channel's large
    /// frames are the rule.
    fn run_owner(&self) -> Option<u32> {
        let DataTarget::Deliver(index) = self.data_target else { return None };
        (self.run_of(index).is_some() && self.decoder.header_missing().is_some()).then_some(index)
    }

    /// Where the frames arriving likely end, for a buffered read that should stop
    /// there (see [`FrameEnds`]): known while a run of large frames arrives.
    pub fn frame_ends(&self) -> Option<FrameEnds> {
        let frame_len = self.run?.frame_len as usize;
        let next = match (self.decoder.data_remaining(), self.decoder.header_missing()) {
            (Some((_, remaining)), _) => remaining as usize,
            // A frame like the last one begins (or has begun) here.
            (None, Some(missing)) => missing + frame_len,
            (None, None) => return None,
        };
        Some(FrameEnds { next, step: HEADER_LEN + frame_len })
    }

    /// The reader thread's next step; `Read` hands it the role.
    pub fn reader_turn(&mut self, now: Instant) -> ReaderTurn {
        let closed = !matches!(self.phase, Phase::Open | Phase::Handshaking);
        let role = &mut self.input;
        if role.ended || self.phase == Phase::Closed(CloseKind::Abort) {
            return ReaderTurn::Exit;
        }
        match role.holder {
            Holder::Application => {
                let at = now + role.check;
                role.check = (role.check * 2).min(MAX_CHECK);
                ReaderTurn::WaitUntil(at)
            }
            Holder::Nobody => match role.lease {
                Some(until) if now < until && role.waiters == 0 && !closed => ReaderTurn::WaitUntil(until),
                _ => {
                    role.holder = Holder::ReaderThread;
                    role.lease = None;
                    role.check = LEASE;
                    ReaderTurn::Read
                }
            },
            Holder::ReaderThread => ReaderTurn::Read,
        }
    }

    /// How the holder of the input role, reading channel `index` into a buffer
    /// of `room` bytes if an application (`reading`), should read the transport
    /// next.
    pub fn plan_read(&self, reading: Option<(u32, usize)>) -> ReadPlan {
        if let Some((index, room)) = reading {
            if self.payload_outgrows(index, room) {
                return ReadPlan::Buffered;
            }
            if let Some(plan) = self.plan_direct_read(index, room) {
                return plan;
            }
        }
        // A header alone is worth its read only if a reader could then take the
        // payload: the holder, or an application reader waiting for the role.
        let handoff = reading.is_some() || !self.input.candidates.is_empty();
        match self.decoder.header_missing() {
            Some(missing) if handoff && self.run_owner().is_some() => ReadPlan::HeaderOnly(missing),
            _ => ReadPlan::Buffered,
        }
    }

    /// Whether the payload arriving for channel `index` (the rest of its frame
    /// in progress, or at a frame boundary in its run, a frame like the last)
    /// is larger than its reader's buffer of `room` bytes, and that buffer too
    /// small to be worth a read of its own (see [`DIRECT_MIN_ROOM`]).
    fn payload_outgrows(&self, index: u32, room: usize) -> bool {
        if room >= DIRECT_MIN_ROOM {
            return false;
        }
        let coming = match self.decoder.data_remaining() {
            Some((header, remaining)) if header.index == index => remaining as usize,
            Some(_) => 0,
            None => self.run_of(index).map_or(0, |run| run.frame_len as usize),
        };
        coming > room
    }

    /// A read straight into the buffer of the holder's channel `index`, if it
    /// has nothing buffered ahead and the bytes arriving are (likely) its own.
    fn plan_direct_read(&self, index: u32, room: usize) -> Option<ReadPlan> {
        let channel = self.incoming.get(&index)?;
        if !channel.buffer.is_empty() || channel.failure.is_some() || room == 0 {
            return None;
        }
        let own_data_came_last = self.data_target == DataTarget::Deliver(index);
        match self.decoder.data_remaining() {
            Some((header, remaining)) if header.index == index && own_data_came_last => {
                Some(ReadPlan::Payload((remaining as usize).min(room)))
            }
            // Only while the last DATA frame was its own: after another
            // channel's, the next frame is likely that channel's again, and its
            // payload would land here only to be copied out.
            None if self.decoder.is_at_frame_boundary() && room >= FRAMES_READ_MIN_ROOM && own_data_came_last => {
                Some(self.frames_read(index, room))
            }
            _ => None,
        }
    }

    /// The [`ReadPlan::Frames`] read for channel `index` into a buffer of `room`
    /// bytes, at a frame boundary. In a run of the channel's large frames, the
    /// read is laid out for frames like the last one, as many as the run had so
    /// far (so the guess grows while it holds), within the buffer: each payload
    /// lands in place, and the read stops where a frame, so the peer's write,
    /// ends. Laid out for fewer frames than arrive, a buffer larger than a frame
    /// would take the next frames' headers and payloads in one piece, and their
    /// bytes would be copied out again; with many busy channels the next frame
    /// is mostly another channel's (with 1 MiB buffers most bytes were copied
    /// that way).
    fn frames_read(&self, index: u32, room: usize) -> ReadPlan {
        match self.run_of(index) {
            Some(run) => {
                let payload = room.min(run.frame_len as usize);
                let frames = (run.frames as usize).min(room / payload).clamp(1, MAX_READ_FRAMES);
                ReadPlan::Frames { frames, payload }
            }
            _ => ReadPlan::Frames { frames: 1, payload: room },
        }
    }

    /// Handles a read made under [`ReadPlan::Payload`] or [`ReadPlan::Frames`]
    /// for channel `index`: `pieces` are what landed where, in wire order, as
    /// pairs of a header buffer's bytes (empty for `Payload`) and the caller's
    /// buffer's next bytes. Returns how many bytes at the start of the caller's
    /// buffer are the channel's payload, decoded without copying and consumed at
    /// once; everything else is decoded as usual.
    pub fn handle_read_into(&mut self, index: u32, pieces: &[(&[u8], &[u8])], now: Instant) -> usize {
        let mut delivered = 0;
        // The caller's buffer holds payload from its start up to here, and
        // nothing else: later payloads in place continue it.
        let mut in_place = true;
        for &(head, rest) in pieces {
            self.feed(head, None, None, now);
            let direct = match in_place.then(|| self.plan_direct_read(index, rest.len())).flatten() {
                Some(ReadPlan::Payload(len)) => len,
                _ => 0,
            };
            if direct > 0 {
                self.feed(&rest[..direct], Some(index), None, now);
                self.account_consumed(index, direct, now);
                delivered += direct;
            }
            in_place &= direct == rest.len();
            self.feed(&rest[direct..], None, None, now);
        }
        delivered
    }
}
