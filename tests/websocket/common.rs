//! Helpers shared by the `websocket_*` integration tests.
#![allow(dead_code, unknown_lints, clippy::manual_is_multiple_of)]

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// Upper bound for any single blocking socket operation in the tests, so a bug fails a test
/// instead of hanging it.
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// Deterministic pseudo-random bytes (xorshift64*), reproducible on both ends of a transfer.
/// The byte sequence does not depend on how it is cut into `fill` calls.
pub struct Stream {
    state: u64,
    pending: [u8; 8],
    used: usize,
}

impl Stream {
    pub fn new(seed: u64) -> Self {
        Stream { state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1, pending: [0; 8], used: 8 }
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            if self.used == 8 {
                self.pending = self.next_u64().to_le_bytes();
                self.used = 0;
            }
            *b = self.pending[self.used];
            self.used += 1;
        }
    }
}

/// FNV-1a, 64 bit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checksum(pub u64);

impl Default for Checksum {
    fn default() -> Self {
        Checksum(0xcbf2_9ce4_8422_2325)
    }
}

impl Checksum {
    pub fn update(&mut self, data: &[u8]) {
        for &b in data {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// The bytes `send` will produce for `seed`/`total`, checksummed.
pub fn expected_checksum(seed: u64, total: usize) -> Checksum {
    let mut gen = Stream::new(seed);
    let mut sum = Checksum::default();
    let mut buf = vec![0u8; 64 * 1024];
    let mut left = total;
    while left > 0 {
        let n = left.min(buf.len());
        gen.fill(&mut buf[..n]);
        sum.update(&buf[..n]);
        left -= n;
    }
    sum
}

/// Writes `total` pseudo-random bytes in irregular pieces (plain and vectored writes, flushes
/// now and then), then flushes. Returns the checksum of what was written.
pub fn send(writer: &mut impl Write, seed: u64, total: usize) -> io::Result<Checksum> {
    let mut gen = Stream::new(seed);
    let mut sizes = Stream::new(seed ^ 0xdead_beef);
    let mut sum = Checksum::default();
    let mut buf = vec![0u8; 200_000];
    let mut sent = 0;
    let mut round = 0u64;
    while sent < total {
        let n = ((sizes.next_u64() % 150_000) as usize + 1).min(total - sent);
        gen.fill(&mut buf[..n]);
        sum.update(&buf[..n]);
        if round % 3 == 0 && n > 10 {
            // A vectored write: a small "header" and the rest, like a multiplexer would.
            let (a, b) = buf[..n].split_at(7);
            let mut done = 0;
            while done < n {
                let slices = if done < 7 {
                    [io::IoSlice::new(&a[done..]), io::IoSlice::new(b)]
                } else {
                    [io::IoSlice::new(&b[done - 7..]), io::IoSlice::new(&[])]
                };
                let w = writer.write_vectored(&slices)?;
                assert!(w > 0, "write_vectored wrote nothing");
                done += w;
            }
        } else {
            writer.write_all(&buf[..n])?;
        }
        if round % 5 == 0 {
            writer.flush()?;
        }
        sent += n;
        round += 1;
    }
    writer.flush()?;
    Ok(sum)
}

/// Reads exactly `total` bytes in irregular pieces, checksumming them.
pub fn receive(reader: &mut impl Read, total: usize) -> io::Result<Checksum> {
    let mut sum = Checksum::default();
    let mut buf = vec![0u8; 100_000];
    let mut sizes = Stream::new(total as u64);
    let mut got = 0;
    while got < total {
        let want = ((sizes.next_u64() % 100_000) as usize + 1).min(total - got);
        let n = reader.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("stream ended after {got} of {total} bytes"),
            ));
        }
        sum.update(&buf[..n]);
        got += n;
    }
    Ok(sum)
}

/// A connected loopback TCP pair (client, server), both with [`IO_TIMEOUT`] set.
pub fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    for s in [&client, &server] {
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    }
    (client, server)
}
