//! Who may write to the transport, and direct writes.
//!
//! The transport's writing half is the *link*. Its holder is the only thread that
//! writes to it, and one transmission runs at a time: the writer thread's batch
//! of queued frames, or an application thread's *direct write*, its own frames
//! with the payload straight from its buffer: no copy into the channel's queue and
//! no hand-off to the writer thread, which is what a raw socket write costs.
//!
//! A write goes direct when no frame that should leave first is waiting (a
//! control frame, a channel of higher priority, its own channel's earlier
//! frames), no large write of a higher priority waits for the link, and its
//! caller can take the link. A small write also needs
//! the link to have been idle a moment ([`SMALL_WRITE_IDLE`]), so streams of
//! small messages are coalesced by the writer thread. A large write (a chunk or
//! more) that finds the link busy waits for it, as a write to a shared socket
//! waits for the socket's lock, instead of copying its bytes into the queue: many
//! channels writing large buffers then take turns on the link like threads on one
//! socket. The session only decides; the driver owns the link (a lock) and asks
//! the session while holding it or trying to take it.
//!
//! A direct write holds back no frame that should go first, since none was
//! waiting when it was claimed; frames queued meanwhile wait for the link, and
//! leave through the writer thread in priority order.
//!
//! One exception makes a large write queue: while few channels write bulk data
//! (at most [`PIPELINED_BULK_WRITERS`] made large writes within the last
//! [`BULK_COMPANY`]) and no channel of a higher priority wrote in that time,
//! their writes shorter than `pipeline_below` (half a write batch by default)
//! are *pipelined*: copied, and sent by the writer thread in batches of up to
//! `write_batch_size` while the applications fill the next. The kernel's cost
//! per write (the syscall, pushing the segments, waking the reader on the far
//! side) is then paid once per batch instead of once per write, which saves more
//! than the copy costs (one channel of 64 KiB writes over TCP loopback,
//! alternating runs: about 1.07x raw TCP's throughput pipelined, against 0.90x
//! direct; see docs/PERFORMANCE.md). With more channels writing bulk data the
//! copies would not stay in cache and the writer thread would compete with every
//! writing thread for the CPU, which measured slower than direct writes taking
//! turns.
//!
//! So while more channels write bulk data, their writes are *staged* instead:
//! copied into the send queues as long as these hold at most `stage_limit`
//! bytes in all (two batches by default, which stay in cache), behind the
//! channel's own queued frames too. A write that would go beyond the limit is
//! told to send a batch of what is staged itself ([`Written::StagingFull`]),
//! as the writer thread would, then queues. The threads taking turns at the link
//! thus send batches of many channels' frames rather than one 64 KiB write each,
//! and none waits for the writer thread to get the CPU (100 channels of 64 KiB
//! writes: about 1.02x raw TCP staged, against 0.88x direct; see
//! docs/PERFORMANCE.md).

use super::channel::OutState;
use super::{Phase, Session};
use crate::error::Result;
use crate::proto::frame::{FrameHeader, FrameType, HEADER_LEN};
use std::io::IoSlice;
use std::task::Poll;
use std::time::{Duration, Instant};

/// A write shorter than one chunk goes direct only after the link has been idle
/// this long. Closer together, small writes are queued, so a stream of small
/// messages is coalesced into few frames and syscalls by the writer thread rather
/// than paying a syscall each; a lone request still leaves at once.
pub(crate) const SMALL_WRITE_IDLE: Duration = Duration::from_micros(5);

/// A channel counts as writing bulk data for this long after its last large
/// write. Long enough that threads taking turns at the link, each waiting for
/// several others' scheduler time slices, all keep counting (with 10 ms, 10
/// channels of 64 KiB writes found themselves few now and then and had a
/// quarter of their writes queued).
pub(crate) const BULK_COMPANY: Duration = Duration::from_millis(100);

/// Most channels writing bulk data at once whose large writes still pipeline
/// through the writer thread (see the module docs). Measured on a 2-vCPU VM
/// (docs/PERFORMANCE.md): pipelining paid with up to 4 such channels and cost
/// from 6 on.
pub(crate) const PIPELINED_BULK_WRITERS: usize = 4;

/// Which channels wrote lately, as far as pipelining cares: those that made a
/// large write within the last [`BULK_COMPANY`] (up to one more than
/// [`PIPELINED_BULK_WRITERS`], since beyond that how many no longer matters),
/// and the highest priority that wrote at all in that time.
#[derive(Debug, Default)]
pub(crate) struct RecentWriters {
    bulk: [Option<(u32, Instant)>; PIPELINED_BULK_WRITERS + 1],
    top: Option<(u8, Instant)>,
}

impl RecentWriters {
    /// Records a write on channel `index` of `priority` at `now` (`large`: of a
    /// chunk or more) and tells how it may be batched: a large write is
    /// pipelined while at most [`PIPELINED_BULK_WRITERS`] channels write bulk
    /// data, staged while more do, and neither once a higher priority wrote
    /// lately (its frames would wait behind the batches, which measured slower
    /// for them than direct writes).
    fn note(&mut self, index: u32, priority: u8, large: bool, now: Instant) -> Batching {
        let lately = |at: Instant| now.saturating_duration_since(at) < BULK_COMPANY;
        if self.top.is_none_or(|(top, at)| priority >= top || !lately(at)) {
            self.top = Some((priority, now));
        }
        if !large {
            return Batching::Off;
        }
        for entry in &mut self.bulk {
            if entry.is_some_and(|(_, at)| !lately(at)) {
                *entry = None;
            }
        }
        let slot = self
            .position(|entry| entry.is_some_and(|(channel, _)| channel == index))
            .or_else(|| self.position(|entry| entry.is_none()))
            .unwrap_or_else(|| self.oldest());
        self.bulk[slot] = Some((index, now));
        if self.top.is_some_and(|(top, _)| top > priority) {
            Batching::Off
        } else if self.bulk.iter().flatten().count() <= PIPELINED_BULK_WRITERS {
            Batching::Pipeline
        } else {
            Batching::Stage
        }
    }

    fn position(&self, found: impl Fn(Option<(u32, Instant)>) -> bool) -> Option<usize> {
        self.bulk.iter().position(|&entry| found(entry))
    }

    /// The slot of the least recent bulk writer (every slot is taken).
    fn oldest(&self) -> usize {
        (0..self.bulk.len()).min_by_key(|&slot| self.bulk[slot].map(|(_, at)| at)).unwrap_or(0)
    }
}

/// How a large write may be batched with others into fewer, larger transport
/// writes (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Batching {
    /// Few channels write bulk data: queued for the writer thread.
    Pipeline,
    /// Many do: staged in the send queues, which a write finding them full
    /// sends itself.
    Stage,
    /// Neither: a small write, or a higher priority wrote lately.
    Off,
}

/// Where a write goes (see [`Session::write_or_claim`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// Direct, if its caller can take the link.
    Direct(WriteSize),
    /// Into the channel's queue.
    Queue,
    /// Into the queue once its caller sent a batch of what is staged.
    SendStagedFirst,
}

/// What a channel write did with the caller's bytes.
#[derive(Debug)]
pub enum Written {
    /// The first `n` bytes were queued for the writer thread.
    Queued(usize),
    /// The caller took the link: it must write these frames itself before it
    /// lets the link go.
    Direct(DirectWrite),
    /// A large write found the link busy: the caller should wait until it can take
    /// the link (or give up), report that with [`Session::link_wait_over`], and
    /// write again holding it. Meanwhile lower priorities do not take the link.
    AwaitLink,
    /// Many channels write bulk data and their staged bytes (the send queues)
    /// reached the session's `stage_limit`: the caller should take the link,
    /// send a batch of queued frames ([`Session::poll_transmit`]) and queue its
    /// bytes after that ([`Session::write`]), whatever the queues then hold.
    StagingFull,
}

/// Most frames one direct write carries, so its caller can lay the write out in
/// a fixed array of `2 * MAX_DIRECT_FRAMES` slices and a direct write allocates
/// nothing. With the default `write_batch_size` (512 KiB) that is never a
/// limit: even the smallest frames a peer may ask for (16 KiB) take 32 for a
/// batch.
pub const MAX_DIRECT_FRAMES: usize = 32;

/// Frames a caller writes itself: their headers, and the length of the payload
/// taken from the front of its buffer. Every frame but the last is full
/// (`frame_len` bytes of payload), so two headers describe them all.
#[derive(Debug)]
pub struct DirectWrite {
    full: [u8; HEADER_LEN],
    last: [u8; HEADER_LEN],
    frames: usize,
    frame_len: usize,
    len: usize,
    small: bool,
}

impl DirectWrite {
    /// Payload bytes carried: the first `payload_len()` bytes of the caller's buffer.
    pub fn payload_len(&self) -> usize {
        self.len
    }

    /// True for a small write: its caller must report its end with
    /// [`Session::end_small_direct_write`], which the small-write idle rule
    /// counts from. (For large writes the rule counts from the claim: they skip
    /// the extra trip to the session, which many threads taking turns on the link
    /// would queue on.)
    pub fn is_small(&self) -> bool {
        self.small
    }

    /// The frames as the transport should see them: header, payload, header, ...
    /// laid out in `out`, which must hold two slices per frame (`2 *
    /// MAX_DIRECT_FRAMES` always do); returns the part in use. `data` is the
    /// buffer the write was claimed for.
    pub fn slices<'a, 'b>(&'a self, data: &'a [u8], out: &'b mut [IoSlice<'a>]) -> &'b mut [IoSlice<'a>] {
        let used = &mut out[..2 * self.frames];
        for (pair, payload) in used.chunks_exact_mut(2).zip(data[..self.len].chunks(self.frame_len)) {
            pair[0] = IoSlice::new(&self.full);
            pair[1] = IoSlice::new(payload);
        }
        used[2 * self.frames - 2] = IoSlice::new(&self.last);
        used
    }
}

impl Session {
    /// Writes `data` on outgoing channel `index`: as a direct write if it may go
    /// direct (see the module docs) and `take_link` takes the link for the
    /// caller; as [`Written::AwaitLink`] if it is large and the link is busy;
    /// else queued like [`write`](Self::write). `take_link` is called at most once,
    /// and only when the write would go direct; a caller that already holds the
    /// link passes `|| true`.
    pub fn write_or_claim(
        &mut self,
        index: u32,
        data: &[u8],
        now: Instant,
        take_link: impl FnOnce() -> bool,
    ) -> Poll<Result<Written>> {
        match self.route(index, data.len(), now) {
            Route::Direct(size) => {
                if take_link() {
                    let direct = self.claim_direct_write(index, data.len(), size == WriteSize::Small, now);
                    return Poll::Ready(Ok(Written::Direct(direct)));
                }
                if size == WriteSize::Large {
                    let priority = self.outgoing[&index].priority;
                    self.link_waiters.add(priority);
                    return Poll::Ready(Ok(Written::AwaitLink));
                }
            }
            Route::SendStagedFirst => return Poll::Ready(Ok(Written::StagingFull)),
            Route::Queue => {}
        }
        self.write(index, data).map_ok(Written::Queued)
    }

    /// The caller told to wait for the link ([`Written::AwaitLink`]) for channel
    /// `index` stopped waiting: it took the link, or gave up.
    pub fn link_wait_over(&mut self, index: u32) {
        if let Some(channel) = self.outgoing.get(&index) {
            self.link_waiters.remove(channel.priority);
        }
    }

    /// A small direct write ended: the link was busy until `now`.
    pub fn end_small_direct_write(&mut self, now: Instant) {
        self.last_transmit = now;
    }

    /// Where a write of `len` bytes on channel `index` goes; records the write
    /// with [`RecentWriters`], whose answer says how it may be batched.
    fn route(&mut self, index: u32, len: usize, now: Instant) -> Route {
        if !self.config.direct_writes || self.phase != Phase::Open || len == 0 {
            return Route::Queue;
        }
        let Some(channel) = self.outgoing.get(&index) else { return Route::Queue };
        let batching = self.recent_writers.note(index, channel.priority, len >= self.config.chunk_size, now);
        let sendable = matches!(channel.state, OutState::Open) && !channel.fin_queued && channel.pre_ack.is_empty();
        if !sendable || channel.credit.available() == 0 {
            return Route::Queue;
        }
        // Batched writes: the rest of a write cut short stays direct (below), and
        // writes of half a batch or more are transport writes large enough alone.
        let batchable = !channel.cut_short && len < self.config.pipeline_below;
        if batching == Batching::Stage && batchable && self.config.stage_limit > 0 {
            // Staged behind the channel's own queued frames too: the limit holds
            // for every write, which keeps the staged bytes in cache.
            let full = self.queued + len > self.config.stage_limit;
            return if full { Route::SendStagedFirst } else { Route::Queue };
        }
        if channel.scheduled {
            return Route::Queue;
        }
        // The rest of a write that the last direct write cut short (credits or
        // the batch size ran out) is as large as the write it belongs to:
        // queueing it would make the channel's next writes queue behind it.
        if len >= self.config.chunk_size || channel.cut_short {
            // Only control frames and higher priorities go first, queued or
            // waiting for the link. Lower ones would leave after this write
            // anyway; equal ones get their turn when the writer thread next takes
            // the link. (Queueing behind equals instead would make every large
            // write of a busy priority level queue for as long as any of them
            // does, and all of them copy.)
            let higher = self.scheduler.highest().max(self.link_waiters.highest()) > Some(channel.priority);
            let outranked = !self.urgent.is_empty() || higher;
            let pipelined = batching == Batching::Pipeline && batchable;
            return if outranked || pipelined { Route::Queue } else { Route::Direct(WriteSize::Large) };
        }
        let idle = !self.wants_transmit() && now.saturating_duration_since(self.last_transmit) >= SMALL_WRITE_IDLE;
        if idle {
            Route::Direct(WriteSize::Small)
        } else {
            Route::Queue
        }
    }

    /// Claims a direct write of up to `len` bytes on channel `index`, which
    /// [`route`](Self::route) sent direct, for a caller
    /// holding the link, spending its credits: at most `write_batch_size` bytes, in
    /// at most [`MAX_DIRECT_FRAMES`] frames of at most the peer's `max_frame_size`.
    fn claim_direct_write(&mut self, index: u32, len: usize, small: bool, now: Instant) -> DirectWrite {
        // Nothing that should go first waits behind a direct write, so its frames
        // need not be chunked for priorities: as large as the peer takes, so the
        // reader on the far side can take most of the payload straight into its
        // buffer.
        let frame_len = self.peer_max_frame as usize;
        let channel = self.outgoing.get_mut(&index).expect("route found the channel");
        let asked = len;
        let most = self.config.write_batch_size.min(MAX_DIRECT_FRAMES * frame_len);
        let len = (channel.credit.available().min(len as u64) as usize).min(most);
        channel.cut_short = len < asked;
        debug_assert!(len > 0, "route saw bytes and credits");
        let frames = len.div_ceil(frame_len);
        let header = |len: usize| FrameHeader { index, kind: FrameType::Data, len: len as u32 }.to_bytes();
        let (full, last) = (header(frame_len), header(len - (frames - 1) * frame_len));
        channel.credit.spend(len as u64);
        channel.frames_sent += frames as u64;
        self.bytes_sent += (len + frames * HEADER_LEN) as u64;
        self.last_transmit = now;
        DirectWrite { full, last, frames, frame_len, len, small }
    }
}

/// How a write that may go direct counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriteSize {
    /// Under a chunk: direct only on an idle link.
    Small,
    /// A chunk or more: worth waiting for the link.
    Large,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Channels count as writing bulk data for `BULK_COMPANY` after their last
    /// large write; a further channel takes the least recent one's slot and keeps
    /// the count above the bound; small writes only count for their priority.
    #[test]
    fn recent_writers_count_channels_within_the_company_window() {
        let start = Instant::now();
        let mut writers = RecentWriters::default();
        for index in 0..PIPELINED_BULK_WRITERS as u32 {
            assert_eq!(writers.note(index, 7, true, start), Batching::Pipeline, "{} writers are few", index + 1);
        }
        assert_eq!(writers.note(100, 7, true, start), Batching::Stage, "one more is many");
        assert_eq!(writers.note(101, 7, true, start), Batching::Stage, "a further one takes the oldest slot");
        assert_eq!(writers.note(0, 7, false, start), Batching::Off, "a small write is never batched");

        let later = start + BULK_COMPANY / 2;
        assert_eq!(writers.note(0, 7, true, later), Batching::Stage, "the others still count");
        let after = start + BULK_COMPANY;
        assert_eq!(writers.note(0, 7, true, after), Batching::Pipeline, "the others' writes are over");

        assert_eq!(writers.note(0, 6, true, after), Batching::Off, "a higher priority wrote lately");
        assert_eq!(writers.note(0, 6, true, after + BULK_COMPANY), Batching::Pipeline, "not lately any more");
    }
}
