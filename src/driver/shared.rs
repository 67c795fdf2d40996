//! State shared by the multiplexer handle, its channels and its threads: the
//! session behind one mutex, the condvars global waiters sleep on, the event hub,
//! the transport's two halves and its shutdown hook.
//!
//! Every operation follows one pattern: lock, call into the session, then
//! [`Shared::finish`], which wakes whoever the operation concerns, queues the
//! events the session raised (in order, under the lock), releases the lock, and
//! only then dispatches events and shuts the transport down if the session asked
//! for it — so callbacks may call back into the multiplexer and no lock is held
//! across IO.

use super::events::EventHub;
use super::input::{Input, Landed};
use super::link::{Link, LinkLock, Transport};
use crate::error::{Error, Result};
use crate::proto::frame::HEADER_LEN;
use crate::proto::session::{
    frames_landed, frames_layout, frames_slices, DirectWrite, ReadPlan, Session, MAX_DIRECT_FRAMES, MAX_READ_FRAMES,
};
use parking_lot::{Condvar, Mutex, MutexGuard};
use std::io::{self, IoSlice, Read};
use std::net::Shutdown;
use std::time::Instant;

/// Shuts the transport down in one or both directions, making blocked reads and
/// writes return. Called at most once per direction.
pub(crate) type ShutdownFn = Box<dyn Fn(Shutdown) + Send + Sync>;

#[derive(Default)]
struct Closer {
    hook: Option<ShutdownFn>,
    write_shut: bool,
    both_shut: bool,
}

pub(crate) struct Shared {
    pub session: Mutex<Session>,
    /// The writer thread waits here for frames.
    pub writer_cv: Condvar,
    /// The reader thread waits here for the input role.
    pub reader_cv: Condvar,
    /// The timer thread waits here for the next deadline.
    pub timer_cv: Condvar,
    /// `accept` callers wait here.
    pub accept_cv: Condvar,
    /// `wait_ready`, `ping` and `close` callers wait here for session state changes.
    pub state_cv: Condvar,
    pub events: EventHub,
    /// The transport's writing half: written by the link's holder only (the
    /// writer thread or a direct writer), never with the session lock held.
    link: LinkLock,
    /// Read by whoever holds the session's input role, never with the session lock
    /// held; `None` once the reader thread closed it.
    input: Mutex<Option<Input>>,
    /// A shutdown hook exists, so a thread blocked in the transport can be freed.
    interruptible: bool,
    closer: Mutex<Closer>,
}

impl Shared {
    pub fn new(session: Session, input: Input, transport: Transport, hook: Option<ShutdownFn>) -> Shared {
        Shared {
            session: Mutex::new(session),
            writer_cv: Condvar::new(),
            reader_cv: Condvar::new(),
            timer_cv: Condvar::new(),
            accept_cv: Condvar::new(),
            state_cv: Condvar::new(),
            events: EventHub::default(),
            link: LinkLock::new(transport),
            input: Mutex::new(Some(input)),
            interruptible: hook.is_some(),
            closer: Mutex::new(Closer { hook, ..Closer::default() }),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, Session> {
        self.session.lock()
    }

    /// Ends an operation on the session: wakes the threads it concerns, releases the
    /// lock, shuts the transport down if asked to, and dispatches events.
    pub fn finish(&self, mut session: MutexGuard<'_, Session>) {
        let wakeups = session.take_wakeups();
        if session.wants_transmit() || session.is_closed() {
            self.writer_cv.notify_one();
        }
        if wakeups.reader || session.is_closed() {
            self.reader_cv.notify_one();
        }
        let shutdown = session.take_shutdown_request();
        let queued = session.has_events() && self.events.enqueue(session.take_events());
        drop(session);
        if wakeups.accept {
            self.accept_cv.notify_all();
        }
        if wakeups.state {
            self.state_cv.notify_all();
        }
        if wakeups.timer {
            self.timer_cv.notify_one();
        }
        if shutdown {
            self.shutdown_transport(Shutdown::Both);
        }
        if queued {
            self.events.dispatch();
        }
    }

    /// Reads the transport once and feeds the session, then wakes whoever that
    /// concerns; after the end of input, shuts the transport down. The caller holds
    /// the session's input role (and gives it back here) and the lock, which is
    /// released for the read and then for good.
    ///
    /// `reading`: the caller reads channel `index` into `out`; bytes of its payload
    /// may then be read straight into `out` (see [`ReadPlan`]), and their count is
    /// returned.
    pub fn pump_input(&self, mut session: MutexGuard<'_, Session>, reading: Option<(u32, &mut [u8])>) -> Option<usize> {
        // The application reading a channel, if it has room for bytes.
        let reader = reading.as_ref().filter(|(_, out)| !out.is_empty()).map(|(index, _)| *index);
        let (index, out) = match reading {
            Some((index, out)) => (index, out),
            None => (0, &mut [][..]),
        };
        let plan = session.plan_read(reader.map(|index| (index, out.len())));
        let ends = if plan == ReadPlan::Buffered { session.frame_ends() } else { None };
        let mut heads = [[0u8; HEADER_LEN]; MAX_READ_FRAMES];
        let (mut input, result) = MutexGuard::unlocked(&mut session, || {
            let mut input = self.input.lock();
            let result = match (input.as_mut(), plan) {
                (None, _) => Ok(0),
                (Some(input), ReadPlan::Payload(len)) => input.transport.read(&mut out[..len]),
                (Some(input), ReadPlan::Frames { frames, payload }) => {
                    let mut slices = frames_slices();
                    input.transport.read_vectored(frames_layout(&mut heads[..frames], out, payload, &mut slices))
                }
                (Some(input), ReadPlan::HeaderOnly(len)) => input.transport.read(&mut heads[0][..len]),
                (Some(input), ReadPlan::Buffered) => input.read_buffered(Instant::now(), ends),
            };
            (input, result)
        });
        let now = Instant::now();
        let mut delivered = 0;
        let ended = match result {
            Ok(0) => {
                session.handle_transport_closed(None, now);
                true
            }
            Ok(n) => {
                match plan {
                    ReadPlan::Buffered => {
                        let input = input.as_mut().expect("read from it");
                        match input.landed(n) {
                            Landed::Shared(buffer, range) => session.handle_shared_input(buffer, range, now),
                            Landed::Private(bytes) => session.handle_input(bytes, now),
                        }
                        input.handled();
                    }
                    ReadPlan::Payload(_) => delivered = session.handle_read_into(index, &[(&[], &out[..n])], now),
                    ReadPlan::Frames { frames, payload } => {
                        let mut pieces = [(&[][..], &[][..]); MAX_READ_FRAMES];
                        let pieces = frames_landed(&heads[..frames], out, payload, n, &mut pieces);
                        delivered = session.handle_read_into(index, pieces, now);
                    }
                    ReadPlan::HeaderOnly(_) => session.handle_input(&heads[0][..n], now),
                }
                false
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => false,
            Err(e) => {
                session.handle_transport_closed(Some(e), now);
                true
            }
        };
        drop(input);
        session.release_input(ended, reader, now);
        self.finish(session);
        if ended {
            self.shutdown_transport(Shutdown::Both);
        }
        (delivered > 0).then_some(delivered)
    }

    /// Drops the transport's reading half; the reader thread's last act.
    pub fn close_input(&self) {
        drop(self.input.lock().take());
    }

    /// Waits on `condvar` until notified or `deadline` for something only input
    /// brings, telling the session so, so the reader thread reads meanwhile. True
    /// when the deadline passed.
    pub fn wait_for_input(
        &self,
        condvar: &Condvar,
        session: &mut MutexGuard<'_, Session>,
        deadline: Option<Instant>,
    ) -> bool {
        if session.add_input_waiter() {
            self.reader_cv.notify_one();
        }
        let timed_out = match deadline {
            Some(deadline) => condvar.wait_until(session, deadline).timed_out(),
            None => {
                condvar.wait(session);
                false
            }
        };
        session.remove_input_waiter();
        timed_out
    }

    /// Takes the link (the transport's writing half) if nobody holds it. May be
    /// called with the session lock held.
    pub fn try_link(&self) -> Option<Link<'_>> {
        self.link.try_take()
    }

    /// Waits for the link, at most until `deadline` when there is one. Never
    /// called with the session lock held: a holder of the link may lock the
    /// session (the lock order is link, then session).
    pub fn link(&self, deadline: Option<Instant>) -> Option<Link<'_>> {
        self.link.take(deadline)
    }

    /// Flushes and drops the transport's writing half (which closes pipes and
    /// child stdin) once the link is free; the writer thread's last act before
    /// the shutdown.
    pub fn close_transport(&self) {
        if let Some(mut link) = self.link(None) {
            link.close();
        }
    }

    /// Performs a direct write claimed from the session for the start of `data`
    /// while holding `link`, then lets the link go. A transport failure ends the
    /// session. A large write's success needs no word to the session: it spent
    /// the credits when the write was claimed, and the writer thread waits for
    /// the link, not for a notification.
    pub fn transmit_direct(&self, mut link: Link<'_>, frames: &DirectWrite, data: &[u8]) -> Result<usize> {
        let mut slices = [IoSlice::new(&[]); 2 * MAX_DIRECT_FRAMES];
        let result = link.transmit(frames.slices(data, &mut slices), true);
        drop(link);
        if result.is_ok() && !frames.is_small() {
            return Ok(frames.payload_len());
        }
        let mut session = self.lock();
        let now = Instant::now();
        let outcome = match result {
            Ok(()) => {
                session.end_small_direct_write(now);
                Ok(frames.payload_len())
            }
            Err(error) => {
                session.handle_transport_closed(Some(error), now);
                Err(session.error().cloned().unwrap_or(Error::Closed))
            }
        };
        self.finish(session);
        outcome
    }

    /// Sends one batch of queued frames ([`Session::poll_transmit`]) through
    /// `link`, without the session lock while writing; returns the session locked
    /// again and whether the transport failed (the session then knows).
    pub fn transmit_queued<'a>(
        &'a self,
        link: &mut Link<'_>,
        mut session: MutexGuard<'a, Session>,
        batch: &mut Vec<Vec<u8>>,
    ) -> (MutexGuard<'a, Session>, bool) {
        session.poll_transmit(batch, Instant::now());
        let more = session.wants_transmit();
        self.finish(session);
        let mut slices: Vec<IoSlice<'_>> = batch.iter().filter(|b| !b.is_empty()).map(|b| IoSlice::new(b)).collect();
        let result = link.transmit(&mut slices, !more);
        drop(slices);
        let mut session = self.lock();
        session.transmitted(batch, Instant::now());
        let failed = result.is_err();
        if let Err(error) = result {
            session.handle_transport_closed(Some(error), Instant::now());
        }
        (session, failed)
    }

    /// Shuts the transport down (`Write`: half-close; `Both`: for good). Must be
    /// called without the session lock held.
    pub fn shutdown_transport(&self, how: Shutdown) {
        {
            let mut closer = self.closer.lock();
            if closer.both_shut || (how == Shutdown::Write && closer.write_shut) {
                return;
            }
            if let Some(hook) = &closer.hook {
                hook(how);
            }
            closer.write_shut = true;
            closer.both_shut = how == Shutdown::Both;
        }
        if how == Shutdown::Both {
            let mut session = self.lock();
            session.handle_transport_shut();
            self.finish(session);
        }
    }

    /// True when a shutdown hook exists, so a thread blocked in the transport (the
    /// reader thread, or an application thread reading or writing it directly) can
    /// be freed when the session ends.
    pub fn is_interruptible(&self) -> bool {
        self.interruptible
    }
}
