//! Timers as data: one table of deadlines, the next wake-up is its minimum.
//!
//! The session sets and clears deadlines; the driver's timer thread sleeps until
//! [`Timers::next`] and then hands the current time back to the session. Nothing
//! here reads the clock, so tests run on a virtual one.

use std::time::Instant;

/// What a deadline is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// The peer's HANDSHAKE must arrive by then.
    Handshake,
    /// Time to send the next PING.
    Ping,
    /// The outstanding PING counts as missed by then.
    PingTimeout,
    /// GOAWAY grace period ends.
    GoAway,
    /// A closing session's transport gets no more time to flush or drain.
    Linger,
    /// Idle pooled buffers nobody used lately are released.
    PoolTrim,
}

const ALL: [Timer; 6] =
    [Timer::Handshake, Timer::Ping, Timer::PingTimeout, Timer::GoAway, Timer::Linger, Timer::PoolTrim];

/// A deadline per [`Timer`].
#[derive(Debug, Default, Clone)]
pub struct Timers {
    deadlines: [Option<Instant>; ALL.len()],
}

impl Timers {
    /// Arms `timer` for `at`, replacing any earlier deadline.
    pub fn set(&mut self, timer: Timer, at: Instant) {
        self.deadlines[timer as usize] = Some(at);
    }

    /// Disarms `timer`.
    pub fn clear(&mut self, timer: Timer) {
        self.deadlines[timer as usize] = None;
    }

    /// The deadline of `timer`, if armed.
    pub fn get(&self, timer: Timer) -> Option<Instant> {
        self.deadlines[timer as usize]
    }

    /// The earliest armed deadline.
    pub fn next(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// Disarms and returns the first timer due at `now`, earliest first.
    pub fn pop_expired(&mut self, now: Instant) -> Option<Timer> {
        let timer =
            ALL.into_iter().filter(|&t| self.get(t).is_some_and(|at| at <= now)).min_by_key(|&t| self.get(t))?;
        self.clear(timer);
        Some(timer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn next_is_the_minimum_and_expiry_pops_in_order() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        assert_eq!(timers.next(), None);
        timers.set(Timer::Ping, t0 + Duration::from_secs(30));
        timers.set(Timer::Handshake, t0 + Duration::from_secs(10));
        assert_eq!(timers.next(), Some(t0 + Duration::from_secs(10)));
        assert_eq!(timers.pop_expired(t0), None);
        let later = t0 + Duration::from_secs(60);
        assert_eq!(timers.pop_expired(later), Some(Timer::Handshake));
        assert_eq!(timers.pop_expired(later), Some(Timer::Ping));
        assert_eq!(timers.pop_expired(later), None);
    }
}
