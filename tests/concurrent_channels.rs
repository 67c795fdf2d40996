//! 100 channels in each direction at once, each with its own data and checksum,
//! over the memory pipe and over TCP loopback.

mod common;

use common::*;
use netconduit::{ChannelOptions, Multiplexer, MultiplexerOptions, Priority};
use std::thread::{self, JoinHandle};
use std::time::Duration;

const CHANNELS: u64 = 100;

/// Sizes differ per channel so streams of different lengths interleave.
fn size_of(channel: u64) -> u64 {
    64 * 1024 + channel * 3331
}

/// Opens `CHANNELS` channels on `mux` and writes each its own pattern; returns
/// (id, checksum) per channel.
fn writers(mux: &Multiplexer, side: &'static str) -> Vec<JoinHandle<(String, (u64, u64))>> {
    (0..CHANNELS)
        .map(|i| {
            let mux = mux.clone();
            thread::spawn(move || {
                let id = format!("{side}-{i}");
                // Spread priorities so the scheduler mixes levels.
                let priority = Priority((i % 4 * 64) as u8);
                let mut channel = mux.open_channel(ChannelOptions::new(&id).priority(priority)).expect("open");
                let seed = if side == "a" { i } else { 1000 + i };
                let sum = write_pattern(&mut channel, seed, size_of(i)).expect("write");
                channel.close().expect("close");
                (id, sum)
            })
        })
        .collect()
}

/// Accepts the peer's channels by id, each on its own thread; returns (id, checksum).
fn readers(mux: &Multiplexer, peer_side: &'static str) -> Vec<JoinHandle<(String, (u64, u64))>> {
    (0..CHANNELS)
        .map(|i| {
            let mux = mux.clone();
            thread::spawn(move || {
                let id = format!("{peer_side}-{i}");
                let mut channel = mux.accept_channel_timeout(&id, TIMEOUT).expect("accept");
                assert_eq!(channel.priority(), Priority((i % 4 * 64) as u8));
                let sum = read_checksum(&mut channel, 4096 + i as usize * 97).expect("read");
                (id, sum)
            })
        })
        .collect()
}

fn run(transport: Transport) {
    let (a, b) = pair(transport, MultiplexerOptions::default(), MultiplexerOptions::default());
    let a_readers = readers(&a, "b");
    let b_readers = readers(&b, "a");
    let a_writers = writers(&a, "a");
    let b_writers = writers(&b, "b");

    let collect = |handles: Vec<JoinHandle<(String, (u64, u64))>>| -> Vec<(String, (u64, u64))> {
        let mut all: Vec<_> = handles.into_iter().map(|h| h.join().expect("channel thread")).collect();
        all.sort();
        all
    };
    let sent_by_a = collect(a_writers);
    let sent_by_b = collect(b_writers);
    let read_by_b = collect(b_readers);
    let read_by_a = collect(a_readers);
    assert_eq!(read_by_b, sent_by_a, "channels A -> B");
    assert_eq!(read_by_a, sent_by_b, "channels B -> A");
    for (id, (_, len)) in &read_by_b {
        let i: u64 = id[2..].parse().unwrap();
        assert_eq!(*len, size_of(i), "length of {id}");
    }
    assert!(a.error().is_none() && b.error().is_none());
    assert_eq!(a.stats().total_opened, 2 * CHANNELS);
    assert_eq!(b.stats().total_opened, 2 * CHANNELS);
}

#[test]
fn hundred_channels_each_way_over_memory_pipe() {
    bounded(Duration::from_secs(300), || run(Transport::Memory));
}

#[test]
fn hundred_channels_each_way_over_tcp() {
    bounded(Duration::from_secs(300), || run(Transport::Tcp));
}
