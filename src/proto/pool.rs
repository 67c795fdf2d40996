//! A free list of byte buffers, so the hot path does not allocate per frame: send
//! segments and receive chunks come from here and return here once drained.
//!
//! A busy session with many channels cycles thousands of buffers; handing them
//! back to the allocator each time costs more than the copies they carry (the heap
//! shrinks and regrows, every regrown page faults). So the free list may hold many
//! buffers, and [`trim`](BufferPool::trim), called periodically, releases the ones
//! nobody needed since the last trim: a steady load keeps what it uses, an idle
//! session returns to `keep` buffers within two periods.

/// A bounded free list of `Vec<u8>` buffers of one nominal capacity.
#[derive(Debug)]
pub struct BufferPool {
    free: Vec<Vec<u8>>,
    capacity: usize,
    max_free: usize,
    /// The shortest the free list was since the last trim: buffers below this
    /// mark were never taken.
    low_water: usize,
}

impl BufferPool {
    /// A pool of buffers of `capacity` bytes, holding at most `max_free` idle ones.
    pub fn new(capacity: usize, max_free: usize) -> Self {
        BufferPool { free: Vec::new(), capacity, max_free, low_water: 0 }
    }

    /// The nominal capacity of pooled buffers.
    pub fn buffer_capacity(&self) -> usize {
        self.capacity
    }

    /// An empty buffer with room for at least `min` bytes: a pooled one when `min`
    /// fits the nominal capacity, a fresh one otherwise.
    pub fn get(&mut self, min: usize) -> Vec<u8> {
        if min <= self.capacity {
            if let Some(buf) = self.free.pop() {
                self.low_water = self.low_water.min(self.free.len());
                return buf;
            }
        }
        Vec::with_capacity(min.max(self.capacity))
    }

    /// Returns a buffer; kept if it has the nominal capacity and there is room.
    pub fn put(&mut self, mut buf: Vec<u8>) {
        if buf.capacity() == self.capacity && self.free.len() < self.max_free {
            buf.clear();
            self.free.push(buf);
        }
    }

    /// Releases the idle buffers not taken since the last trim, keeping at least
    /// `keep`. Returns how many remain idle.
    pub fn trim(&mut self, keep: usize) -> usize {
        let surplus = self.low_water.saturating_sub(keep);
        self.free.truncate(self.free.len() - surplus);
        self.free.shrink_to(self.free.len().max(keep));
        self.low_water = self.free.len();
        self.free.len()
    }

    /// Idle buffers held.
    pub fn idle(&self) -> usize {
        self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_and_bounds_buffers() {
        let mut pool = BufferPool::new(16, 1);
        let a = pool.get(4);
        let b = pool.get(4);
        assert_eq!(a.capacity(), 16);
        pool.put(a);
        pool.put(b);
        assert_eq!(pool.idle(), 1);
        pool.put(Vec::with_capacity(1000));
        assert_eq!(pool.idle(), 1);
        assert!(pool.get(100).capacity() >= 100);
        assert_eq!(pool.get(1).capacity(), 16);
        assert_eq!(pool.idle(), 0);
    }

    #[test]
    fn trim_releases_only_buffers_nobody_took() {
        let mut pool = BufferPool::new(16, 100);
        let taken: Vec<Vec<u8>> = (0..10).map(|_| pool.get(16)).collect();
        taken.into_iter().for_each(|b| pool.put(b));
        assert_eq!(pool.trim(2), 10, "all ten were in use during the period");
        // Next period: only three are taken at a time.
        for _ in 0..5 {
            let in_use: Vec<Vec<u8>> = (0..3).map(|_| pool.get(16)).collect();
            in_use.into_iter().for_each(|b| pool.put(b));
        }
        assert_eq!(pool.trim(2), 5, "seven stayed idle all period: the three used and two kept remain");
        assert_eq!(pool.trim(2), 2, "an idle period leaves `keep`");
        assert_eq!(pool.trim(0), 0);
    }
}
