//! A free list of byte buffers, so the hot path does not allocate per frame: send
//! segments and receive chunks come from here and return here once drained.

/// A bounded free list of `Vec<u8>` buffers of one nominal capacity.
#[derive(Debug)]
pub struct BufferPool {
    free: Vec<Vec<u8>>,
    capacity: usize,
    max_free: usize,
}

impl BufferPool {
    /// A pool handing out buffers of `capacity` bytes, keeping at most `max_free` idle.
    pub fn new(capacity: usize, max_free: usize) -> Self {
        BufferPool { free: Vec::new(), capacity, max_free }
    }

    /// Nominal capacity of the buffers this pool hands out.
    pub fn buffer_capacity(&self) -> usize {
        self.capacity
    }

    /// An empty buffer with at least `min` bytes of capacity.
    pub fn get(&mut self, min: usize) -> Vec<u8> {
        if min <= self.capacity {
            if let Some(buf) = self.free.pop() {
                return buf;
            }
        }
        Vec::with_capacity(min.max(self.capacity))
    }

    /// Returns a buffer. Buffers of a foreign size or beyond the idle limit are freed,
    /// so the pool's memory stays bounded.
    pub fn put(&mut self, mut buf: Vec<u8>) {
        if buf.capacity() == self.capacity && self.free.len() < self.max_free {
            buf.clear();
            self.free.push(buf);
        }
    }

    /// Number of idle buffers held.
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
}
