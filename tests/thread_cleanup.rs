//! Every thread a multiplexer starts is gone after `close`, after `abort` and after
//! the last handle is dropped; and a session the peer ended stops its threads on
//! its own. A single test in its own file (its own process), so no other test's
//! threads come and go while /proc/self/task is counted.

mod common;

use common::*;
use netconduit::{ChannelOptions, Error, MultiplexerOptions};
use std::io::{Read, Write};
use std::thread;
use std::time::Duration;

fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").expect("/proc/self/task").count()
}

/// Waits until the thread count is back to `base`. Exited threads leave
/// /proc/self/task shortly after `join` returns, and a session the peer ended
/// has no call to block on: polling is the only way.
fn assert_back_to(base: usize, what: &str) {
    let settled = wait_for(|| thread_count() == base, TIMEOUT);
    assert!(settled, "{what}: {} threads, expected {base}", thread_count());
}

/// Some traffic both ways, every channel finished.
fn exercise(a: &netconduit::Multiplexer, b: &netconduit::Multiplexer) {
    for (from, to) in [(a, b), (b, a)] {
        let mut writer = from.open_channel(ChannelOptions::new("x")).unwrap();
        let mut reader = to.accept_channel("x").unwrap();
        let reading = thread::spawn(move || read_checksum(&mut reader, 10_000).unwrap());
        let sent = write_pattern(&mut writer, 5, 300_000).unwrap();
        writer.close().unwrap();
        let received = (sent, reading.join().unwrap());
        assert_eq!(received.0, received.1);
    }
}

#[test]
fn all_threads_end_after_close_abort_and_drop() {
    // The body runs on its own (bounded) thread, counted in `base`.
    bounded(Duration::from_secs(120), || {
        let base = thread_count();

        // close() over the memory pipe; the peer's threads stop on their own.
        let (a, b) = memory_pair();
        assert!(thread_count() >= base + 6, "three threads per multiplexer");
        exercise(&a, &b);
        a.close();
        // The peer's handle is still alive, but its session ended: its threads stop.
        assert_back_to(base, "after close(), with the peer's handle still held");
        assert!(b.error().is_some(), "the peer's session ended");
        drop((a, b));
        assert_back_to(base, "after dropping both");

        // abort() over TCP, with a clone and channels still held.
        let (a, b) = tcp_pair();
        exercise(&a, &b);
        let clone = a.clone();
        let mut held_writer = a.open_channel(ChannelOptions::new("held")).unwrap();
        let mut held_reader = b.accept_channel("held").unwrap();
        a.abort();
        assert_back_to(base, "after abort(), with the peer's handle still held");
        let error = held_writer.write(b"x").unwrap_err();
        assert!(matches!(Error::from_io(&error), Some(Error::Closed)), "{error:?}");
        assert!(held_reader.read(&mut [0; 4]).is_err(), "the peer's reader sees the failure");
        drop((a, b, clone));
        assert_back_to(base, "after dropping aborted pair");
        drop((held_writer, held_reader));

        // Dropping the last handles, no close(), channels outliving the multiplexers.
        let (a, b) = memory_pair();
        exercise(&a, &b);
        let mut writer = a.open_channel(ChannelOptions::new("outlives")).unwrap();
        let mut reader = b.accept_channel("outlives").unwrap();
        drop(a);
        drop(b);
        assert_back_to(base, "after dropping both handles");
        assert!(writer.write(b"x").is_err());
        assert!(reader.read(&mut [0; 4]).is_err());
        drop((writer, reader));

        // A blocked accept() is released by abort() from another thread.
        let (a, b) = tcp_pair();
        let blocked = {
            let a = a.clone();
            thread::spawn(move || a.accept())
        };
        a.abort();
        let error = blocked.join().unwrap().unwrap_err();
        assert!(matches!(error, Error::Closed), "{error:?}");
        drop((a, b));
        assert_back_to(base, "after releasing a blocked accept");

        // A session that failed (peer violation) stops its threads before any drop.
        let (mux, mut peer) = raw_tcp(MultiplexerOptions::default());
        peer.send_ok(&[0, 0, 0, 1, 0x09, 0, 0, 0, 0]);
        peer.expect_session_error(netconduit::ErrorCode::PROTOCOL_ERROR);
        drop(peer);
        assert_back_to(base, "a failed session's threads end on their own");
        drop(mux);
        assert_back_to(base, "after everything");
    });
}
