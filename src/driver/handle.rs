//! What both channel handles hold, and the one blocking loop they share.

use super::shared::Shared;
use crate::error::{Error, Result};
use crate::options::Priority;
use crate::proto::session::{Session, Signal};
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

/// A channel's place in the session: its index, id, priority and wake-up signal.
pub(crate) struct ChannelHandle {
    pub shared: Arc<Shared>,
    pub index: u32,
    pub id: Arc<str>,
    pub priority: Priority,
    pub signal: Signal,
}

impl ChannelHandle {
    /// Runs `poll` under the session lock until it is ready, sleeping on the
    /// channel's signal in between, at most until `deadline` (then
    /// `Error::Timeout(what)`). Wakes whoever the operation concerns afterwards.
    pub fn block_on<T>(
        &self,
        deadline: Option<Instant>,
        what: &'static str,
        mut poll: impl FnMut(&mut Session, u32) -> Poll<Result<T>>,
    ) -> Result<T> {
        let mut session = self.shared.lock();
        loop {
            if let Poll::Ready(result) = poll(&mut session, self.index) {
                self.shared.finish(session);
                return result;
            }
            if self.shared.wait_for_input(&self.signal, &mut session, deadline) {
                return Err(Error::Timeout(what));
            }
        }
    }

    /// Reads the incoming channel into `out`, blocking like [`block_on`](Self::block_on).
    /// With no deadline, the caller reads the transport itself when the session's
    /// input role is free instead of sleeping, straight into `out` when the bytes
    /// arriving are this channel's (a blocking read cannot keep a deadline, so a
    /// caller with one never does; nor one on a transport that closing the
    /// session could not interrupt).
    pub fn read(&self, out: &mut [u8], deadline: Option<Instant>) -> Result<usize> {
        let shared = &self.shared;
        if deadline.is_some() || !shared.is_interruptible() {
            return self.block_on(deadline, "read", |session, index| session.read(index, out, Instant::now()));
        }
        let mut session = shared.lock();
        loop {
            if let Poll::Ready(result) = session.read(self.index, out, Instant::now()) {
                session.withdraw_input_claim(self.index);
                shared.finish(session);
                return result;
            }
            if session.claim_input(self.index, &self.signal, Instant::now()) {
                if let Some(n) = shared.pump_input(session, Some((self.index, &mut *out))) {
                    return Ok(n);
                }
                session = shared.lock();
                continue;
            }
            // A candidate for the input role: woken by its bytes or when the role
            // frees up.
            self.signal.wait(&mut session);
        }
    }

    /// Runs `f` on the session once, then wakes whoever it concerns; returns what
    /// `f` returned.
    pub fn update<T>(&self, f: impl FnOnce(&mut Session, u32) -> T) -> T {
        let mut session = self.shared.lock();
        let result = f(&mut session, self.index);
        self.shared.finish(session);
        result
    }
}

impl std::fmt::Debug for ChannelHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel").field("id", &self.id).field("index", &self.index).finish()
    }
}
