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
            match deadline {
                Some(deadline) => {
                    if self.signal.wait_until(&mut session, deadline).timed_out() {
                        return Err(Error::Timeout(what));
                    }
                }
                None => self.signal.wait(&mut session),
            }
        }
    }

    /// Runs `f` on the session once, then wakes whoever it concerns.
    pub fn update(&self, f: impl FnOnce(&mut Session, u32)) {
        let mut session = self.shared.lock();
        f(&mut session, self.index);
        self.shared.finish(session);
    }
}

impl std::fmt::Debug for ChannelHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel").field("id", &self.id).field("index", &self.index).finish()
    }
}
