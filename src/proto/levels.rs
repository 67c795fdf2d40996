//! A set of the 256 priority levels, with the highest member found in O(1): the
//! occupancy map of the scheduler and of the writers waiting for the link.

/// Which priority levels are occupied.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Levels {
    bits: [u64; 4],
}

impl Levels {
    /// Marks `priority` occupied.
    pub fn insert(&mut self, priority: u8) {
        self.bits[priority as usize / 64] |= 1 << (priority % 64);
    }

    /// Marks `priority` free.
    pub fn remove(&mut self, priority: u8) {
        self.bits[priority as usize / 64] &= !(1 << (priority % 64));
    }

    /// The highest occupied level.
    pub fn highest(&self) -> Option<u8> {
        let word = (0..4).rev().find(|&w| self.bits[w] != 0)?;
        Some((word * 64 + 63 - self.bits[word].leading_zeros() as usize) as u8)
    }

    /// Frees every level.
    pub fn clear(&mut self) {
        self.bits = [0; 4];
    }
}

/// How many members each priority level has, and the highest one with any.
#[derive(Debug, Clone)]
pub struct LevelCounts {
    counts: [u32; 256],
    occupied: Levels,
}

impl Default for LevelCounts {
    fn default() -> Self {
        LevelCounts { counts: [0; 256], occupied: Levels::default() }
    }
}

impl LevelCounts {
    /// Adds a member at `priority`.
    pub fn add(&mut self, priority: u8) {
        self.counts[priority as usize] += 1;
        self.occupied.insert(priority);
    }

    /// Removes a member at `priority` (one that was added).
    pub fn remove(&mut self, priority: u8) {
        let count = &mut self.counts[priority as usize];
        *count = count.checked_sub(1).expect("a member was added at this priority");
        if *count == 0 {
            self.occupied.remove(priority);
        }
    }

    /// The highest level with a member.
    pub fn highest(&self) -> Option<u8> {
        self.occupied.highest()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_highest_level_follows_inserts_and_removals() {
        let mut levels = Levels::default();
        assert_eq!(levels.highest(), None);
        for priority in [0, 63, 64, 200, 255] {
            levels.insert(priority);
            assert_eq!(levels.highest(), Some(priority));
        }
        levels.remove(255);
        levels.remove(200);
        assert_eq!(levels.highest(), Some(64));
        levels.clear();
        assert_eq!(levels.highest(), None);
    }

    #[test]
    fn a_level_stays_occupied_until_its_last_member_leaves() {
        let mut counts = LevelCounts::default();
        counts.add(7);
        counts.add(7);
        counts.add(3);
        counts.remove(7);
        assert_eq!(counts.highest(), Some(7));
        counts.remove(7);
        assert_eq!(counts.highest(), Some(3));
        counts.remove(3);
        assert_eq!(counts.highest(), None);
    }
}
