//! State shared by the multiplexer handle, its channels and its threads: the
//! session behind one mutex, the condvars global waiters sleep on, and the event hub.
//!
//! Every operation follows one pattern: lock, call into the session, then
//! [`Shared::finish`], which wakes whoever the operation concerns, queues the
//! events the session raised (in order, under the lock) and dispatches them after
//! the lock is released, so callbacks may call back into the multiplexer.

use super::events::EventHub;
use crate::proto::session::Session;
use parking_lot::{Condvar, Mutex, MutexGuard};

/// Interrupts the transport so blocked reads and writes return.
pub(crate) type ShutdownFn = Box<dyn FnOnce() + Send>;

pub(crate) struct Shared {
    pub session: Mutex<Session>,
    /// The writer thread waits here for frames.
    pub writer_cv: Condvar,
    /// The timer thread waits here for the next deadline.
    pub timer_cv: Condvar,
    /// `accept` callers wait here.
    pub accept_cv: Condvar,
    /// `wait_ready` callers wait here.
    pub ready_cv: Condvar,
    pub events: EventHub,
    shutdown: Mutex<Option<ShutdownFn>>,
}

impl Shared {
    pub fn new(session: Session, shutdown: Option<ShutdownFn>) -> Shared {
        Shared {
            session: Mutex::new(session),
            writer_cv: Condvar::new(),
            timer_cv: Condvar::new(),
            accept_cv: Condvar::new(),
            ready_cv: Condvar::new(),
            events: EventHub::default(),
            shutdown: Mutex::new(shutdown),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, Session> {
        self.session.lock()
    }

    /// Ends an operation on the session: wakes the threads it concerns, releases the
    /// lock and dispatches events.
    pub fn finish(&self, mut session: MutexGuard<'_, Session>) {
        let wakeups = session.take_wakeups();
        let closed = session.is_closed();
        if session.wants_transmit() || closed {
            self.writer_cv.notify_one();
        }
        let queued = session.has_events() && self.events.enqueue(session.take_events());
        drop(session);
        if wakeups.accept {
            self.accept_cv.notify_all();
        }
        if wakeups.ready {
            self.ready_cv.notify_all();
        }
        if wakeups.timer {
            self.timer_cv.notify_one();
        }
        if queued {
            self.events.dispatch();
        }
    }

    /// Interrupts the transport, once.
    pub fn shutdown_transport(&self) {
        if let Some(shutdown) = self.shutdown.lock().take() {
            shutdown();
        }
    }

    /// True when a shutdown hook exists (or already ran), so the reader thread can
    /// be interrupted and joined.
    pub fn can_interrupt_reader(&self) -> bool {
        self.shutdown.lock().is_some()
    }
}
