//! The outgoing priority scheduler (PROTOCOL.md section 8): channels with frames
//! ready, highest priority first, round-robin among equal priorities.
//!
//! One FIFO per priority level and a 256-bit occupancy map make `push` and `pop`
//! O(1) whatever the number of channels. The caller keeps each channel in the
//! scheduler at most once (a `scheduled` flag on the channel).

use super::levels::Levels;
use std::collections::VecDeque;

/// Ready channels by priority.
#[derive(Debug)]
pub struct Scheduler {
    levels: Vec<VecDeque<u32>>,
    occupied: Levels,
    len: usize,
}

impl Default for Scheduler {
    fn default() -> Self {
        Scheduler { levels: (0..256).map(|_| VecDeque::new()).collect(), occupied: Levels::default(), len: 0 }
    }
}

impl Scheduler {
    /// Queues channel `index` behind the others of its priority.
    pub fn push(&mut self, priority: u8, index: u32) {
        self.levels[priority as usize].push_back(index);
        self.occupied.insert(priority);
        self.len += 1;
    }

    /// Takes the next channel: the front of the highest non-empty priority level.
    pub fn pop(&mut self) -> Option<(u8, u32)> {
        let priority = self.highest()?;
        let level = &mut self.levels[priority as usize];
        let index = level.pop_front().expect("occupied level is non-empty");
        if level.is_empty() {
            self.occupied.remove(priority);
        }
        self.len -= 1;
        Some((priority, index))
    }

    /// The highest priority with a channel queued.
    pub fn highest(&self) -> Option<u8> {
        self.occupied.highest()
    }

    /// Number of queued channels.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no channel is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Removes every queued channel.
    pub fn clear(&mut self) {
        for level in &mut self.levels {
            level.clear();
        }
        self.occupied.clear();
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highest_priority_first_round_robin_within() {
        let mut s = Scheduler::default();
        s.push(128, 1);
        s.push(255, 2);
        s.push(128, 3);
        s.push(0, 4);
        s.push(64, 5);
        assert_eq!(s.highest(), Some(255));
        assert_eq!(s.pop(), Some((255, 2)));
        assert_eq!(s.highest(), Some(128));
        assert_eq!(s.pop(), Some((128, 1)));
        s.push(128, 1); // re-queued behind channel 3
        assert_eq!(s.pop(), Some((128, 3)));
        assert_eq!(s.pop(), Some((128, 1)));
        assert_eq!(s.pop(), Some((64, 5)));
        assert_eq!(s.pop(), Some((0, 4)));
        assert_eq!(s.pop(), None);
        assert_eq!(s.highest(), None);
        assert!(s.is_empty());
    }
}
