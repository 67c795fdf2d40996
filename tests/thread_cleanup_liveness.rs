//! No thread outlives a session that ended by GOAWAY (drained or timed out) or by
//! the heartbeat declaring the peer dead. A single test in its own file (its own
//! process), so /proc/self/task counts only what it starts.

mod common;

use common::*;
use netconduit::{ChannelOptions, ErrorCode, MultiplexerOptions};
use std::io::{Read, Write};
use std::time::Duration;

fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").expect("/proc/self/task").count()
}

/// Exited threads leave /proc/self/task shortly after they end, and a session that
/// ended by itself has no call to block on: polling is the only way.
fn assert_back_to(base: usize, what: &str) {
    assert!(wait_for(|| thread_count() == base, TIMEOUT), "{what}: {} threads, expected {base}", thread_count());
}

#[test]
fn no_thread_survives_goaway_or_a_dead_peer() {
    bounded(Duration::from_secs(120), || {
        let base = thread_count();

        // GOAWAY, every channel finishes: both sessions end by themselves.
        let (a, b) = tcp_pair();
        let mut writer = a.open_channel(ChannelOptions::new("x")).unwrap();
        let mut reader = b.accept_channel("x").unwrap();
        a.go_away(ErrorCode::NO_ERROR);
        writer.write_all(b"last words").unwrap();
        writer.close().unwrap();
        let mut text = String::new();
        reader.read_to_string(&mut text).unwrap();
        assert_eq!(text, "last words");
        assert_back_to(base, "after a drained GOAWAY, handles still held");
        drop((a, b, reader));

        // GOAWAY whose grace period runs out.
        let quick = MultiplexerOptions { goaway_timeout: Duration::from_millis(100), ..Default::default() };
        let (a, b) = memory_pair_with(quick.clone(), quick);
        let _writer = a.open_channel(ChannelOptions::new("stuck")).unwrap();
        b.go_away(ErrorCode::NO_ERROR);
        assert_back_to(base, "after the GOAWAY grace period");
        drop((a, b));

        // A peer that stops answering.
        let fast = MultiplexerOptions {
            ping_interval: Some(Duration::from_millis(50)),
            ping_timeout: Duration::from_millis(50),
            ..Default::default()
        };
        let (mux, mut peer) = raw_tcp(fast);
        assert!(wait_for(|| mux.error().is_some(), TIMEOUT));
        peer.close();
        drop(peer);
        assert_back_to(base, "after the heartbeat declared the peer dead");
        drop(mux);
    });
}
