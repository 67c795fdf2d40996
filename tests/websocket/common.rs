//! Helpers shared by the `websocket_*` integration tests.
#![allow(dead_code, unknown_lints, clippy::manual_is_multiple_of)]

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// Upper bound for any single blocking socket operation in the tests, so a bug fails a test
/// instead of hanging it.
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);

// Test data and its checksum come from the suite's shared helpers, so every
// transport is checked the same way.
#[path = "../common/mod.rs"]
mod shared;
pub use shared::{Checksum, Pattern};

/// A pseudo-random piece size in `1..=max`, from its own pattern.
fn piece_size(sizes: &mut Pattern, max: usize) -> usize {
    let mut word = [0u8; 8];
    sizes.fill(&mut word);
    (u64::from_le_bytes(word) % max as u64) as usize + 1
}

/// The bytes `send` will produce for `seed`/`total`, checksummed.
pub fn expected_checksum(seed: u64, total: usize) -> (u64, u64) {
    let mut gen = Pattern::new(seed);
    let mut sum = Checksum::default();
    let mut buf = vec![0u8; 64 * 1024];
    let mut left = total;
    while left > 0 {
        let n = left.min(buf.len());
        gen.fill(&mut buf[..n]);
        sum.update(&buf[..n]);
        left -= n;
    }
    sum.finish()
}

/// Writes `total` pseudo-random bytes in irregular pieces (plain and vectored writes, flushes
/// now and then), then flushes. Returns the checksum of what was written.
pub fn send(writer: &mut impl Write, seed: u64, total: usize) -> io::Result<(u64, u64)> {
    let mut gen = Pattern::new(seed);
    let mut sizes = Pattern::new(seed ^ 0xdead_beef);
    let mut sum = Checksum::default();
    let mut buf = vec![0u8; 200_000];
    let mut sent = 0;
    let mut round = 0u64;
    while sent < total {
        let n = piece_size(&mut sizes, 150_000).min(total - sent);
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
    Ok(sum.finish())
}

/// Reads exactly `total` bytes in irregular pieces, checksumming them.
pub fn receive(reader: &mut impl Read, total: usize) -> io::Result<(u64, u64)> {
    let mut sum = Checksum::default();
    let mut buf = vec![0u8; 100_000];
    let mut sizes = Pattern::new(total as u64);
    let mut got = 0;
    while got < total {
        let want = piece_size(&mut sizes, 100_000).min(total - got);
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
    Ok(sum.finish())
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
