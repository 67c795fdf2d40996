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
//! with a run of writes keeps the link without a context switch per write. And
//! while a woken waiter has not yet looked at the link, releases wake nobody else:
//! waking one per release had each waiter woken three or four times per turn it
//! got, finding the link taken again each time.

use parking_lot::{Condvar, Mutex, MutexGuard};
use std::io::{self, IoSlice, Write};
use std::time::Instant;

/// The transport's writing half, as the threads that write to it share it.
pub(crate) type Transport = Box<dyn Write + Send>;

/// The transport's writing half and the right to write to it.
pub(crate) struct LinkLock {
    /// Who holds and who waits for the link. Its mutex is held only to change
    /// it, never across IO.
    state: Mutex<LinkState>,
    /// Waiters for the link sleep here.
    freed: Condvar,
    /// Locked by the holder of the link only, so never contended; `None` once
    /// the writer thread closed it.
    transport: Mutex<Option<Transport>>,
}

#[derive(Default)]
struct LinkState {
    held: bool,
    /// Threads sleeping until the link is let go.
    waiting: usize,
    /// A waiter was woken and has not looked at the link yet. Waking another
    /// meanwhile (the link changing hands quickly) would only add context
    /// switches: once it looked, the next release wakes one again.
    waking: bool,
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
        LinkLock {
            state: Mutex::new(LinkState::default()),
            freed: Condvar::new(),
            transport: Mutex::new(Some(transport)),
        }
    }

    /// Takes the link if nobody holds it.
    pub fn try_take(&self) -> Option<Link<'_>> {
        let mut state = self.state.lock();
        if state.held {
            return None;
        }
        state.held = true;
        drop(state);
        Some(self.held_link())
    }

    /// Waits for the link, at most until `deadline` when there is one.
    pub fn take(&self, deadline: Option<Instant>) -> Option<Link<'_>> {
        let mut state = self.state.lock();
        while state.held {
            state.waiting += 1;
            let timed_out = match deadline {
                Some(deadline) => self.freed.wait_until(&mut state, deadline).timed_out(),
                None => {
                    self.freed.wait(&mut state);
                    false
                }
            };
            state.waiting -= 1;
            state.waking = false;
            if timed_out && state.held {
                return None;
            }
        }
        state.held = true;
        drop(state);
        Some(self.held_link())
    }

    /// Lets the link go, waking a waiter unless one is already on its way.
    fn release(&self) {
        let mut state = self.state.lock();
        state.held = false;
        let wake = state.waiting > 0 && !state.waking;
        state.waking |= wake;
        drop(state);
        if wake {
            self.freed.notify_one();
        }
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
        self.lock.release();
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    /// A transport that appends to a shared buffer.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn one_holder_at_a_time_and_a_deadline_gives_up() {
        let lock = LinkLock::new(Box::new(Sink::default()));
        let held = lock.try_take().expect("free");
        assert!(lock.try_take().is_none());
        assert!(lock.take(Some(Instant::now() + Duration::from_millis(5))).is_none(), "held all along");
        drop(held);
        assert!(lock.take(Some(Instant::now())).is_some(), "free again");
    }

    /// Many threads taking turns: every transmission arrives whole (writes never
    /// interleave) and no waiter is left asleep (every thread finishes).
    #[test]
    fn threads_take_turns_and_every_waiter_gets_its_turn() {
        let sink = Sink::default();
        let lock = Arc::new(LinkLock::new(Box::new(sink.clone())));
        let threads: Vec<_> = (0..8u8)
            .map(|id| {
                let lock = lock.clone();
                std::thread::spawn(move || {
                    for _ in 0..500 {
                        let mut link = lock.take(None).expect("no deadline");
                        let piece = [id; 16];
                        link.transmit(&mut [IoSlice::new(&piece[..7]), IoSlice::new(&piece[7..])], false).unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let bytes = sink.0.lock();
        assert_eq!(bytes.len(), 8 * 500 * 16);
        let mut counts = [0usize; 8];
        for piece in bytes.chunks(16) {
            assert!(piece.iter().all(|&b| b == piece[0]), "a transmission was interleaved");
            counts[piece[0] as usize] += 1;
        }
        assert_eq!(counts, [500; 8]);
    }

    #[test]
    fn a_closed_link_refuses_writes() {
        let lock = LinkLock::new(Box::new(Sink::default()));
        lock.take(None).expect("free").close();
        let error = lock.take(None).expect("free").transmit(&mut [IoSlice::new(b"x")], false).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotConnected);
    }
}
