//! Credit accounting (PROTOCOL.md section 4), one struct per side of a channel.
//!
//! Positions are absolute byte counts since the channel opened (`u64`, never wrap):
//! the opener keeps `sent`, `granted` and the last reported `consumed`; the accepter
//! keeps `received`, `consumed` and `granted`. These are exactly the positions that
//! reconnection with replay (section 6) exchanges, so they are kept from the start.

use super::error_code::ErrorCode;
use thiserror::Error;

/// A grant that breaks section 4. Both are session errors.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CreditError {
    /// The grant would raise the outstanding allowance above 2^32-1.
    #[error("credit grant overflows the allowance: {outstanding} bytes outstanding")]
    Overflow {
        /// Allowance the grant would have produced.
        outstanding: u64,
    },
    /// `consumed` went backwards or beyond the bytes sent.
    #[error("ACK consumed {consumed} is outside {previous}..={sent}")]
    BadConsumed {
        /// Reported value.
        consumed: u64,
        /// Previously known value.
        previous: u64,
        /// Bytes sent so far.
        sent: u64,
    },
}

impl CreditError {
    /// The wire code of the ERROR frame this earns.
    pub fn code(&self) -> ErrorCode {
        match self {
            CreditError::Overflow { .. } => ErrorCode::FLOW_CONTROL_ERROR,
            CreditError::BadConsumed { .. } => ErrorCode::PROTOCOL_ERROR,
        }
    }
}

/// Writes shorter than this are not worth lining grants up with (see
/// `RecvWindow::consume`): a split one costs little, and queued writes leave in
/// chunks whatever their size.
pub(crate) const GRID_MIN_WRITE: u32 = 32 * 1024;

/// The opener's view of a channel's credits.
#[derive(Debug, Clone, Default)]
pub struct SendCredit {
    /// DATA payload bytes sent (queued for sending) so far.
    pub sent: u64,
    /// Sum of all grants, the first (initial window) included.
    pub granted: u64,
    /// Bytes the accepter reported consumed (or inferred, see `grant`).
    pub consumed: u64,
    /// The first grant, used to infer `consumed` when an ACK omits it.
    initial: Option<u32>,
}

impl SendCredit {
    /// Bytes that may be sent now.
    pub fn available(&self) -> u64 {
        self.granted - self.sent
    }

    /// True once the first grant arrived.
    pub fn is_granted(&self) -> bool {
        self.initial.is_some()
    }

    /// Applies a grant (ACK or CREDIT_GRANT).
    pub fn grant(&mut self, credits: u32, consumed: Option<u64>) -> Result<(), CreditError> {
        let granted = self.granted + u64::from(credits);
        let outstanding = granted - self.sent;
        if outstanding > u64::from(u32::MAX) {
            return Err(CreditError::Overflow { outstanding });
        }
        let initial = *self.initial.get_or_insert(credits);
        let consumed = match consumed {
            Some(consumed) if consumed < self.consumed || consumed > self.sent => {
                return Err(CreditError::BadConsumed { consumed, previous: self.consumed, sent: self.sent });
            }
            Some(consumed) => consumed,
            // Without the field the window is taken as fixed: consumed = granted - initial.
            None => (granted - u64::from(initial)).clamp(self.consumed, self.sent),
        };
        self.granted = granted;
        self.consumed = consumed;
        Ok(())
    }

    /// Records `n` bytes as sent; `n` must not exceed [`available`](Self::available).
    pub fn spend(&mut self, n: u64) {
        debug_assert!(n <= self.available());
        self.sent += n;
    }
}

/// The accepter's view of a channel's credits.
///
/// The window is the credit kept outstanding: each grant tops `granted - consumed`
/// back up to it once the threshold fraction of it was consumed. It starts at the
/// protocol's initial window and may be resized (auto-tuning): a larger window is
/// granted by granting more than was consumed, a smaller one by granting less.
#[derive(Debug, Clone)]
pub struct RecvWindow {
    /// DATA payload bytes received.
    pub received: u64,
    /// Bytes the application consumed.
    pub consumed: u64,
    /// Sum of all grants, the initial window included.
    pub granted: u64,
    /// The window kept outstanding now.
    window: u32,
    /// The first grant.
    initial: u32,
    /// Fraction of the window, in thousandths, whose consumption triggers a grant.
    threshold_permille: u32,
    /// The grid the opener's writes follow, as a `received` position where one
    /// began and their length: known once two DATA frames in a row had the same
    /// length (see `off_grid`).
    write_grid: Option<(u64, u32)>,
    /// Length of the last DATA frame.
    last_frame_len: u32,
}

impl RecvWindow {
    /// A window whose first grant is `initial` bytes, granting back once
    /// `threshold_permille`/1000 of the window was consumed.
    pub fn new(initial: u32, threshold_permille: u32) -> Self {
        RecvWindow {
            received: 0,
            consumed: 0,
            granted: u64::from(initial),
            window: initial,
            initial,
            threshold_permille: threshold_permille.clamp(1, 1000),
            write_grid: None,
            last_frame_len: 0,
        }
    }

    /// The initial grant to send in the first ACK.
    pub fn initial(&self) -> u32 {
        self.initial
    }

    /// The window kept outstanding now.
    pub fn window(&self) -> u32 {
        self.window
    }

    /// Changes the window; the next grants converge to it.
    pub fn resize(&mut self, window: u32) {
        self.window = window.max(1);
    }

    /// True when the opener has used every credit it was granted: it is waiting
    /// for a grant, so the window, not the writer, limits the transfer.
    pub fn peer_starved(&self) -> bool {
        self.received == self.granted
    }

    /// Accounts for an incoming DATA frame of `len` bytes; `false` when it goes beyond
    /// the credits granted (FLOW_CONTROL_ERROR) and nothing was recorded.
    pub fn receive(&mut self, len: u32) -> bool {
        if self.received + u64::from(len) > self.granted {
            return false;
        }
        // A frame of another length (a write cut short by credits, its rest)
        // leaves the grid as it was.
        if len == self.last_frame_len && len >= GRID_MIN_WRITE {
            self.write_grid = Some((self.received, len));
        }
        self.last_frame_len = len;
        self.received += u64::from(len);
        true
    }

    /// Bytes received and not yet consumed.
    pub fn buffered(&self) -> u64 {
        self.received - self.consumed
    }

    /// Accounts for `n` bytes consumed by the application and returns the credits
    /// to grant back now, if the threshold was reached.
    pub fn consume(&mut self, n: usize) -> Option<u32> {
        self.consumed += n as u64;
        let due = self.due(self.consumed)?;
        let due = due - self.off_grid(self.granted + due).filter(|&off| off < due).unwrap_or(0);
        self.granted += due;
        Some(due as u32)
    }

    /// How far a grant's limit `limit` lies past the last write boundary on the
    /// grid of the opener's writes. Where a limit falls inside a write, the
    /// opener sends what the credits allow and the rest later, a frame of its
    /// own, often a few bytes (writes need not line up with windows: one
    /// odd-sized write shifts every later one). A grant that stops on the grid,
    /// holding the difference back for the next one, lets writes leave whole.
    /// Only for writes of [`GRID_MIN_WRITE`] up to a quarter of the window.
    fn off_grid(&self, limit: u64) -> Option<u64> {
        let (start, len) = self.write_grid?;
        (len <= self.window / 4 && limit > start).then(|| (limit - start) % u64::from(len))
    }

    /// True when consuming `n` more bytes would make a grant due.
    pub fn grant_due_after(&self, n: usize) -> bool {
        self.due(self.consumed + n as u64).is_some()
    }

    /// The grant due once `consumed` bytes were consumed: what tops the outstanding
    /// allowance back up to the window, if that reaches the threshold.
    fn due(&self, consumed: u64) -> Option<u64> {
        let outstanding = self.granted.saturating_sub(consumed);
        let due = u64::from(self.window).saturating_sub(outstanding);
        let threshold = (u64::from(self.window) * u64::from(self.threshold_permille) / 1000).max(1);
        (due >= threshold).then_some(due)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Once two frames in a row had the same large length, a grant stops on the
    /// grid of the opener's writes, holding the rest back for the next grant; with
    /// no grid it tops the allowance up to the window.
    #[test]
    fn grants_stop_on_the_grid_of_the_writes() {
        let (write, window) = (65_536u64, 262_144u32);
        let mut gridded = RecvWindow::new(window, 500);
        assert!(gridded.receive(write as u32) && gridded.receive(write as u32));
        assert_eq!(gridded.consume(140_000), Some(131_072));
        assert_eq!(gridded.granted % write, 0, "a whole number of writes");
        assert_eq!(gridded.consume(0), None, "the rest waits for the next grant");

        let mut plain = RecvWindow::new(window, 500);
        assert!(plain.receive(65_535) && plain.receive(65_537));
        assert_eq!(plain.consume(140_000), Some(140_000));
    }

    #[test]
    fn send_credit_tracks_positions() {
        let mut credit = SendCredit::default();
        assert!(!credit.is_granted());
        credit.grant(100, None).unwrap();
        credit.spend(60);
        assert_eq!(credit.available(), 40);
        credit.grant(60, None).unwrap();
        assert_eq!((credit.sent, credit.granted, credit.consumed), (60, 160, 60));
        credit.grant(10, Some(60)).unwrap();
        assert_eq!(credit.available(), 110);
    }

    #[test]
    fn send_credit_rejects_bad_grants() {
        let mut credit = SendCredit::default();
        credit.grant(u32::MAX, None).unwrap();
        assert_eq!(credit.grant(1, None).unwrap_err().code(), ErrorCode::FLOW_CONTROL_ERROR);
        credit.spend(10);
        assert_eq!(credit.grant(1, Some(11)).unwrap_err().code(), ErrorCode::PROTOCOL_ERROR);
        credit.grant(1, Some(5)).unwrap();
        assert!(matches!(credit.grant(1, Some(4)), Err(CreditError::BadConsumed { .. })));
    }

    #[test]
    fn recv_window_grows_and_shrinks_through_its_grants() {
        let mut window = RecvWindow::new(100, 500);
        assert!(window.receive(100));
        assert!(window.peer_starved());
        window.resize(400);
        assert_eq!(window.consume(100), Some(400)); // tops up to the new window
        assert!(window.receive(400));
        window.resize(100);
        assert_eq!(window.consume(300), None); // 100 still outstanding: nothing due
        assert_eq!(window.consume(100), Some(100));
        assert_eq!(window.granted - window.consumed, 100);
    }

    #[test]
    fn recv_window_grants_at_threshold() {
        let mut window = RecvWindow::new(100, 500);
        assert!(window.receive(100));
        assert!(!window.receive(1));
        assert_eq!(window.consume(49), None);
        assert!(!window.grant_due_after(0));
        assert!(window.grant_due_after(1));
        assert_eq!(window.consume(1), Some(50));
        assert!(window.receive(50));
        assert!(!window.receive(1));
        assert_eq!(window.buffered(), 100);
        assert_eq!(window.consume(100), Some(100));
        assert_eq!(window.granted, 250);
    }
}
