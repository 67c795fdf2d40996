//! 256 MiB through one channel arrive complete and unaltered (checksum), over the
//! memory pipe and over TCP loopback; and channels read into large buffers.

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

/// `channels` channels at once, `each` bytes apiece, each read into a 1 MiB
/// buffer. A reader lays its reads out for several frames of its channel like
/// the last one (payloads end to end); bytes that break the pattern (another
/// channel's frame, a frame of another length) are decoded as usual. `pieces`:
/// writes of that many bytes, else of sizes that keep changing. Every channel's
/// bytes arrive complete and unaltered.
fn transfer_into_large_buffers(transport: Transport, channels: u64, each: u64, pieces: Option<usize>) {
    let (a, b) = pair(transport, MultiplexerOptions::default(), MultiplexerOptions::default());
    let writers: Vec<_> = (0..channels)
        .map(|i| {
            let a = a.clone();
            thread::spawn(move || {
                let mut channel = a.open_channel(ChannelOptions::new(format!("large-{i}"))).expect("open");
                let seed = 0x1A26E + i;
                let sum = match pieces {
                    Some(piece) => write_pattern_in(&mut channel, seed, each, |_| piece),
                    None => write_pattern(&mut channel, seed, each),
                };
                channel.close().expect("close cleanly");
                sum.expect("write")
            })
        })
        .collect();
    let readers: Vec<_> = (0..channels)
        .map(|i| {
            let b = b.clone();
            thread::spawn(move || {
                let mut channel = b.accept_channel(&format!("large-{i}")).expect("accept");
                read_checksum(&mut channel, 1 << 20).expect("read to end")
            })
        })
        .collect();
    for (i, (writer, reader)) in writers.into_iter().zip(readers).enumerate() {
        let sent = writer.join().expect("writer thread");
        let received = reader.join().expect("reader thread");
        assert_eq!(received.1, each, "byte count of channel {i}");
        assert_eq!(received, sent, "checksum of channel {i}");
    }
    assert!(a.error().is_none() && b.error().is_none());
}

#[test]
fn one_channel_of_64_kib_writes_into_1_mib_read_buffers_over_tcp() {
    bounded(Duration::from_secs(600), || transfer_into_large_buffers(Transport::Tcp, 1, 64 << 20, Some(64 << 10)));
}

#[test]
fn four_channels_into_1_mib_read_buffers_over_tcp() {
    bounded(Duration::from_secs(600), || transfer_into_large_buffers(Transport::Tcp, 4, 32 << 20, None));
}
