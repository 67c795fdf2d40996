//! Channels writing bulk data in 64 KiB writes, every byte checksummed: one and
//! three channels (their writes pipelined through the writer thread) and twelve
//! (their writes staged, sent in batches by the writing threads themselves),
//! over TCP loopback, where the multiplexer can shut the transport down and
//! batches writes.

mod common;

use common::*;
use netconduit::{ChannelOptions, Multiplexer, MultiplexerOptions};
use std::thread;
use std::time::Duration;

const WRITE: usize = 64 * 1024;
const PER_CHANNEL: u64 = 6 << 20;

/// Each of `channels` writers sends `PER_CHANNEL` bytes of its own pattern in
/// 64 KiB writes; each reader must get exactly those bytes.
fn bulk(channels: u64) {
    let (a, b) = pair(Transport::Tcp, MultiplexerOptions::default(), MultiplexerOptions::default());
    let readers: Vec<_> = (0..channels)
        .map(|i| {
            let b = b.clone();
            thread::spawn(move || {
                let mut channel = b.accept_channel_timeout(&format!("bulk-{i}"), TIMEOUT).expect("accept");
                read_checksum(&mut channel, WRITE).expect("read")
            })
        })
        .collect();
    let writers: Vec<_> = (0..channels)
        .map(|i| {
            let a: Multiplexer = a.clone();
            thread::spawn(move || {
                let mut channel = a.open_channel(ChannelOptions::new(format!("bulk-{i}"))).expect("open");
                let sum = write_pattern_in(&mut channel, i, PER_CHANNEL, |_| WRITE).expect("write");
                channel.close().expect("close");
                sum
            })
        })
        .collect();
    let sent: Vec<_> = writers.into_iter().map(|w| w.join().expect("writer")).collect();
    let received: Vec<_> = readers.into_iter().map(|r| r.join().expect("reader")).collect();
    assert_eq!(received, sent, "every channel's bytes, in order");
    assert!(sent.iter().all(|&(_, len)| len == PER_CHANNEL));
    assert!(a.error().is_none() && b.error().is_none());
}

#[test]
fn one_channel_pipelined() {
    bounded(Duration::from_secs(120), || bulk(1));
}

#[test]
fn three_channels_pipelined() {
    bounded(Duration::from_secs(120), || bulk(3));
}

#[test]
fn twelve_channels_staged() {
    bounded(Duration::from_secs(120), || bulk(12));
}

/// The peer aborting while twelve channels stage their writes: every writer ends
/// with an error instead of hanging, whether it was staging, sending a batch for
/// the others or waiting for credits, and the session reports the failure.
#[test]
fn staging_writers_get_errors_when_the_peer_aborts() {
    bounded(Duration::from_secs(120), || {
        let (a, b) = pair(Transport::Tcp, MultiplexerOptions::default(), MultiplexerOptions::default());
        let readers: Vec<_> = (0..12)
            .map(|i| {
                let b = b.clone();
                thread::spawn(move || {
                    let mut channel = b.accept_channel_timeout(&format!("bulk-{i}"), TIMEOUT).expect("accept");
                    let mut buf = vec![0u8; WRITE];
                    let mut got = 0;
                    while got < 1 << 20 {
                        got += std::io::Read::read(&mut channel, &mut buf).expect("read");
                    }
                    // Kept open: a reader closing its channel would stop the
                    // writer (BrokenPipe) before the abort does.
                    channel
                })
            })
            .collect();
        let writers: Vec<_> = (0..12)
            .map(|i| {
                let a = a.clone();
                thread::spawn(move || {
                    let mut channel = a.open_channel(ChannelOptions::new(format!("bulk-{i}"))).expect("open");
                    let chunk = vec![7u8; WRITE];
                    loop {
                        if let Err(error) = std::io::Write::write_all(&mut channel, &chunk) {
                            return error;
                        }
                    }
                })
            })
            .collect();
        let open: Vec<_> = readers.into_iter().map(|reader| reader.join().expect("reader")).collect();
        b.abort();
        for writer in writers {
            let error = writer.join().expect("writer");
            assert_ne!(error.kind(), std::io::ErrorKind::TimedOut, "ended by the failure, not a timeout: {error}");
        }
        assert!(a.error().is_some(), "the session saw its peer go");
        drop(open);
    });
}
