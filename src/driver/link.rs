//! The link: the transport's writing half, and who may write to it.
//!
//! One thread at a time holds the link: the writer thread sending a batch of
//! queued frames, or an application thread writing its own frames (a direct
//! write, see `proto::session::direct`). Only the holder takes frames from the
//! session or claims a direct write, so holding the link is what makes a
//! transmission the only one.
//!
//! Many threads may wait for the link at once (every channel writing large
//! buffers). They sleep on a condvar until it is let go. A general-purpose mutex
//! would not do here: a waiter first spins, yielding its CPU a few times, and with
//! dozens of writers on one core every wait became a round of context switches
//! through the other writers. As with a mutex, a holder that lets the link go and
//! comes straight back may take it again before the woken waiter runs, so a thread
//! with a run of writes keeps the link without a context switch per write.

use parking_lot::{Condvar, Mutex, MutexGuard};
use std::io::{self, IoSlice, Write};
use std::time::Instant;

/// The transport's writing half, as the threads that write to it share it.
pub(crate) type Transport = Box<dyn Write + Send>;

/// The transport's writing half and the right to write to it.
pub(crate) struct LinkLock {
    /// Whether some thread holds the link. Its mutex is held only to change it,
    /// never across IO.
    held: Mutex<bool>,
    /// Waiters for the link sleep here.
    freed: Condvar,
    /// Locked by the holder of the link only, so never contended; `None` once
    /// the writer thread closed it.
    transport: Mutex<Option<Transport>>,
}

/// The link, held: its holder is the only thread writing to the transport.
/// Dropping it lets the link go.
pub(crate) struct Link<'a> {
    lock: &'a LinkLock,
    /// Always `Some` until dropped: released before the link is let go.
    transport: Option<MutexGuard<'a, Option<Transport>>>,
}

impl LinkLock {
    pub fn new(transport: Transport) -> LinkLock {
        LinkLock { held: Mutex::new(false), freed: Condvar::new(), transport: Mutex::new(Some(transport)) }
    }

    /// Takes the link if nobody holds it.
    pub fn try_take(&self) -> Option<Link<'_>> {
        let mut held = self.held.lock();
        if *held {
            return None;
        }
        *held = true;
        drop(held);
        Some(self.held_link())
    }

    /// Waits for the link, at most until `deadline` when there is one.
    pub fn take(&self, deadline: Option<Instant>) -> Option<Link<'_>> {
        let mut held = self.held.lock();
        while *held {
            match deadline {
                Some(deadline) => {
                    if self.freed.wait_until(&mut held, deadline).timed_out() && *held {
                        return None;
                    }
                }
                None => self.freed.wait(&mut held),
            }
        }
        *held = true;
        drop(held);
        Some(self.held_link())
    }

    fn held_link(&self) -> Link<'_> {
        let transport = self.transport.try_lock().expect("only the link's holder locks the transport");
        Link { lock: self, transport: Some(transport) }
    }
}

impl Link<'_> {
    /// Writes `slices` completely, then flushes the transport if asked to.
    pub fn transmit(&mut self, slices: &mut [IoSlice<'_>], flush: bool) -> io::Result<()> {
        let transport = self.transport_mut().as_mut().ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))?;
        write_all_vectored(transport, slices)?;
        if flush {
            transport.flush()?;
        }
        Ok(())
    }

    /// Flushes and drops the transport's writing half (which closes pipes and
    /// child stdin): later holders find it closed.
    pub fn close(&mut self) {
        if let Some(mut transport) = self.transport_mut().take() {
            let _ = transport.flush();
        }
    }

    fn transport_mut(&mut self) -> &mut Option<Transport> {
        self.transport.as_mut().expect("held until dropped")
    }
}

impl Drop for Link<'_> {
    fn drop(&mut self) {
        drop(self.transport.take());
        *self.lock.held.lock() = false;
        self.lock.freed.notify_one();
    }
}

/// Writes every slice completely, with as few syscalls as the writer allows.
fn write_all_vectored(writer: &mut dyn Write, mut slices: &mut [IoSlice<'_>]) -> io::Result<()> {
    while !slices.is_empty() {
        match writer.write_vectored(slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
