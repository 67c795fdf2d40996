//! Window auto-tuning on the receiving side (PROTOCOL.md decision 19): how a
//! channel's window grows while the window is what limits it, shrinks back when
//! the channel idles or a higher priority becomes active, and when credits are
//! granted back as the application consumes.

use super::channel::{InChannel, InState};
use super::Session;
use crate::proto::frame;
use std::time::{Duration, Instant};

/// A channel idle this long has its window reset to the initial one.
pub(super) const IDLE_WINDOW_RESET: Duration = Duration::from_secs(1);

/// Grants closer together than this mean the window, not the reader, sets the
/// pace of ACKs: each grant costs both sides a wake-up, so the window grows until
/// grants are at least this far apart (a 1 GB/s channel then grants every few MiB).
pub(super) const FAST_GRANT_INTERVAL: Duration = Duration::from_millis(2);

/// While a channel of higher priority received DATA lately, a channel's window is
/// held at this many initial windows (256 KiB by default): what a large window puts
/// in flight sits in the transport's buffers ahead of every later frame, where the
/// scheduler cannot let a higher-priority frame overtake it.
pub(super) const OUTRANKED_WINDOWS: u32 = 4;

/// Below this a window that limits its channel grows sixteenfold rather than
/// doubling (from the initial 64 KiB to 1 MiB in one grant): at the start of a
/// transfer each step costs the writer a stall of a round trip, and with many
/// busy channels those stalls added up to a tenth of a 10 MiB transfer per
/// channel with doubling, and still a few percent with quadrupling.
pub(super) const FAST_START_WINDOW: u32 = 1 << 20;

/// Signs, seen as the application reads, that a channel's window is what limits it.
#[derive(Clone, Copy, Debug)]
struct WindowLimit {
    /// The writer used every credit since the last grant while the reader keeps
    /// its buffer under a quarter of the window: the window, not either
    /// application, holds the transfer back. (A slow reader's buffer sits near
    /// half the window when a grant falls due, so it does not grow.)
    starved: bool,
    /// A grant is due again within [`FAST_GRANT_INTERVAL`] of the last one: the
    /// reader keeps up and the window is small for the rate.
    fast_grants: bool,
}

/// Window auto-tuning, applied as the application reads. When the window limits
/// the channel (see [`WindowLimit`]) it doubles (grows sixteenfold below
/// [`FAST_START_WINDOW`]), within `max` and the session's
/// growth `budget`; above `max` (a higher priority became active) it shrinks to it.
/// A channel read again after being idle starts over from the initial window, so
/// idle channels do not keep large windows. Returns the change in the session's
/// window growth.
fn tune_window(channel: &mut InChannel, limit: WindowLimit, max: u32, budget: u64, now: Instant) -> i64 {
    let window = channel.window.window();
    let initial = channel.window.initial();
    let idle = now.saturating_duration_since(channel.last_read) >= IDLE_WINDOW_RESET;
    channel.last_read = now;
    let ceiling = if idle { initial } else { max.max(initial) };
    if window > ceiling {
        channel.window.resize(ceiling);
        return -i64::from(window - ceiling);
    }
    if !(limit.starved || limit.fast_grants) || window >= max {
        return 0;
    }
    // Below FAST_START_WINDOW a window grows sixteenfold, above it doubles.
    let factor = if window < FAST_START_WINDOW { 15 } else { 1 };
    let growth = u64::from(window.saturating_mul(factor).min(max - window)).min(budget) as u32;
    channel.window.resize(window + growth);
    i64::from(growth)
}

impl Session {
    /// Accounts for `n` bytes of incoming channel `index` that its application just
    /// consumed: tunes the window and queues an ACK once a grant is due.
    pub(super) fn account_consumed(&mut self, index: u32, n: usize, now: Instant) {
        let Some(channel) = self.incoming.get_mut(&index) else { return };
        let limited = WindowLimit {
            starved: channel.starved && channel.buffer.len() < channel.window.window() as usize / 4,
            fast_grants: channel.window.grant_due_after(n)
                && now.saturating_duration_since(channel.last_grant) < FAST_GRANT_INTERVAL,
        };
        let outranked = self.top_active_priority.is_some_and(|(priority, at)| {
            priority > channel.priority && now.saturating_duration_since(at) < IDLE_WINDOW_RESET
        });
        let max = match outranked {
            true => self.config.max_channel_window.min(channel.window.initial().saturating_mul(OUTRANKED_WINDOWS)),
            false => self.config.max_channel_window,
        };
        let budget = self.config.max_session_window_growth.saturating_sub(self.window_growth);
        let change = tune_window(channel, limited, max, budget, now);
        self.window_growth = self.window_growth.saturating_add_signed(change);
        let grant = channel.window.consume(n);
        if let (Some(credits), InState::Open) = (grant, channel.state) {
            channel.last_grant = now;
            channel.starved = false;
            frame::put_ack(&mut self.urgent, index, credits, Some(channel.window.consumed));
        }
    }

    /// Records DATA arriving on a channel of `priority`, for window auto-tuning.
    /// Only the highest recent priority is kept: O(1) per frame; once it was idle
    /// for `IDLE_WINDOW_RESET` any priority takes its place.
    pub(super) fn note_active_priority(&mut self, priority: u8, now: Instant) {
        let replace = match self.top_active_priority {
            Some((top, at)) => priority >= top || now.saturating_duration_since(at) >= IDLE_WINDOW_RESET,
            None => true,
        };
        if replace {
            self.top_active_priority = Some((priority, now));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::credit::RecvWindow;
    use crate::proto::session::Signal;

    #[test]
    fn a_limited_window_grows_sixteenfold_while_small_then_doubles() {
        let now = Instant::now();
        let window = RecvWindow::new(64 * 1024, 500);
        let mut channel = InChannel::new("x".into(), 0, window, Signal::default(), now);
        let limit = WindowLimit { starved: true, fast_grants: false };
        let sizes: Vec<u32> = (0..5)
            .map(|_| {
                tune_window(&mut channel, limit, 16 << 20, u64::MAX, now);
                channel.window.window() >> 10
            })
            .collect();
        assert_eq!(sizes, [1024, 2048, 4096, 8192, 16384]);
    }
}
