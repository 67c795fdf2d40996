//! 256 MiB through one channel arrive complete and unaltered (checksum), over the
//! memory pipe and over TCP loopback.

mod common;

use common::*;
use netconduit::{ChannelOptions, MultiplexerOptions};
use std::thread;
use std::time::{Duration, Instant};

const TOTAL: u64 = 256 * 1024 * 1024;

fn transfer(transport: Transport) {
    let started = Instant::now();
    let (a, b) = pair(transport, MultiplexerOptions::default(), MultiplexerOptions::default());
    let writer = thread::spawn(move || {
        let mut channel = a.open_channel(ChannelOptions::new("bulk")).expect("open");
        let sum = write_pattern(&mut channel, 0xB01C, TOTAL).expect("write 256 MiB");
        channel.close().expect("close cleanly");
        (sum, a)
    });
    let mut channel = b.accept_channel("bulk").expect("accept");
    let received = read_checksum(&mut channel, 100_000).expect("read to end");
    let (sent, a) = writer.join().expect("writer thread");
    assert_eq!(received.1, TOTAL, "byte count");
    assert_eq!(received, sent, "checksum of received bytes");
    let stats = channel.stats();
    assert_eq!(stats.bytes_received, TOTAL);
    assert!(a.error().is_none() && b.error().is_none());
    eprintln!("{transport:?}: 256 MiB in {:?}", started.elapsed());
}

#[test]
fn bulk_256_mib_over_memory_pipe() {
    bounded(Duration::from_secs(600), || transfer(Transport::Memory));
}

#[test]
fn bulk_256_mib_over_tcp() {
    bounded(Duration::from_secs(600), || transfer(Transport::Tcp));
}
