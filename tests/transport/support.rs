//! Shared by the `transport_*` tests: a checksummed bulk transfer in both directions
//! at once, reporting the throughput it saw (informally, with `--nocapture`), and
//! temporary directories for socket and FIFO paths, and a server that never answers.
#![allow(dead_code)] // each test file uses a part

use crate::common::{read_checksum, write_pattern, TIMEOUT};
use netconduit::{ChannelOptions, Multiplexer};
use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::thread::{self, JoinHandle};
use std::time::Instant;

/// A TCP server that accepts one connection and never answers: it reads what
/// comes until the connection ends and returns it (an error if it did not end
/// within the tests' timeout).
pub fn silent_server() -> (SocketAddr, JoinHandle<io::Result<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let silent = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        let mut received = Vec::new();
        stream.read_to_end(&mut received).map(|_| received)
    });
    (addr, silent)
}

/// Sends `len` bytes from `a` to `b` and `len` other bytes from `b` to `a`, both at
/// once, each on its own channel, and checks every byte by checksum.
pub fn bulk_both_ways(label: &str, a: &Multiplexer, b: &Multiplexer, len: u64) {
    let started = Instant::now();
    let transfers = [(a, b, "a-to-b", 11), (b, a, "b-to-a", 12)].map(|(from, to, id, seed)| {
        let (from, to) = (from.clone(), to.clone());
        let sender = thread::spawn(move || {
            let mut channel = from.open_channel(ChannelOptions::new(id)).expect("open the bulk channel");
            let sent = write_pattern(&mut channel, seed, len).expect("write the bulk channel");
            channel.close().expect("finish the bulk channel");
            sent
        });
        let receiver = thread::spawn(move || {
            let mut channel = to.accept_channel(id).expect("accept the bulk channel");
            read_checksum(&mut channel, 64 * 1024).expect("read the bulk channel")
        });
        (id, sender, receiver)
    });
    for (id, sender, receiver) in transfers {
        let sent = sender.join().expect("sender thread");
        let received = receiver.join().expect("receiver thread");
        assert_eq!(received, sent, "{label}: channel {id} arrived corrupted (checksum, length)");
    }
    report(label, 2 * len, started);
}

/// Prints the throughput of `bytes` moved since `started`.
pub fn report(label: &str, bytes: u64, started: Instant) {
    let seconds = started.elapsed().as_secs_f64();
    eprintln!("{label}: {} MiB in {seconds:.2} s, {:.1} MB/s", bytes >> 20, bytes as f64 / seconds / 1e6);
}

/// A fresh directory under the system's temporary directory, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("netconduit-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).expect("create a temporary directory");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
