//! `close()` is graceful: GOAWAY, every channel in both directions runs to its
//! FIN, every byte a `write` accepted reaches the peer, then the transport closes.
//! Channels still open after `goaway_timeout` fail with a timeout.

mod common;

use common::*;
use netconduit::{ChannelOptions, Error, MultiplexerOptions};
use std::io::{Read, Write};
use std::thread;
use std::time::Duration;

const SIZE: u64 = 4 * 1024 * 1024;

/// Everything written before `close()` arrives, then a clean end of stream.
fn close_delivers_everything(transport: Transport) {
    let (a, b) = pair(transport, MultiplexerOptions::default(), MultiplexerOptions::default());
    let reader = {
        let b = b.clone();
        thread::spawn(move || {
            let mut channel = b.accept_channel_timeout("last words", TIMEOUT).unwrap();
            read_checksum(&mut channel, 50_000).expect("a clean end, not an error")
        })
    };
    let mut channel = a.open_channel(ChannelOptions::new("last words")).unwrap();
    let sent = write_pattern(&mut channel, 77, SIZE).unwrap();
    // Most of it is still queued or in flight: close must not cut it off.
    channel.close().unwrap();
    a.close();
    assert_eq!(reader.join().unwrap(), sent);
    assert!(matches!(a.error(), Some(Error::Closed)), "{:?}", a.error());
    // The peer's session ends too, without a protocol error.
    let error = b.accept_timeout(TIMEOUT).unwrap_err();
    assert!(!matches!(error, Error::Timeout(_) | Error::ProtocolViolation { .. }), "{error:?}");
    // Nothing new opens after close.
    assert!(a.open_channel(ChannelOptions::new("after")).is_err());
}

#[test]
fn close_delivers_everything_over_memory_pipe() {
    bounded(Duration::from_secs(120), || close_delivers_everything(Transport::Memory));
}

#[test]
fn close_delivers_everything_over_tcp() {
    bounded(Duration::from_secs(120), || close_delivers_everything(Transport::Tcp));
}

/// close() waits for the peer's channels too: the peer finishes writing after
/// close() began, and its bytes still arrive.
#[test]
fn close_waits_for_the_peers_channels() {
    bounded(Duration::from_secs(120), || {
        let (a, b) = memory_pair();
        let mut from_b = b.open_channel(ChannelOptions::new("b to a")).unwrap();
        let mut incoming = a.accept_channel("b to a").unwrap();
        let reader = thread::spawn(move || read_checksum(&mut incoming, 10_000).unwrap());
        let closer = {
            let a = a.clone();
            thread::spawn(move || a.close())
        };
        // The peer learns of the GOAWAY: its new opens fail...
        let refused = loop {
            match b.open_channel(ChannelOptions::new("probe")) {
                Err(error) => break error,
                Ok(probe) => drop(probe), // GOAWAY not there yet
            }
        };
        assert!(matches!(refused, Error::GoingAway { .. } | Error::Refused { .. }), "{refused:?}");
        // ...while its open channel still carries everything.
        let sent = write_pattern(&mut from_b, 8, 1024 * 1024).unwrap();
        from_b.close().unwrap();
        closer.join().expect("close returns once the peer's channel finished");
        assert_eq!(reader.join().unwrap(), sent);
    });
}

/// A channel that never finishes does not hold close() forever: after
/// `goaway_timeout` it fails with a timeout and the session ends.
#[test]
fn close_gives_up_after_goaway_timeout() {
    bounded(Duration::from_secs(60), || {
        let options = MultiplexerOptions { goaway_timeout: Duration::from_millis(200), ..Default::default() };
        let (a, b) = memory_pair_with(options, MultiplexerOptions::default());
        let mut stuck = a.open_channel(ChannelOptions::new("never closed")).unwrap();
        let mut reader = b.accept_channel("never closed").unwrap();
        stuck.write_all(b"partial").unwrap();
        a.close();
        let error = stuck.write(b"more").unwrap_err();
        assert!(Error::from_io(&error).is_some(), "{error:?}");
        // The peer's reader gets what was sent, then an error: the channel never
        // finished, so no clean end.
        let mut got = Vec::new();
        let read_error = reader.read_to_end(&mut got).expect_err("not a clean end");
        assert_eq!(got, b"partial");
        assert!(Error::from_io(&read_error).is_some(), "{read_error:?}");
    });
}
