//! A multiplexer from `transport::tcp` leaves no thread behind after `close` or
//! `abort`, even while the peer keeps the connection open and never sends end of
//! stream: the multiplexer shuts the socket down, which unblocks its reader. A single
//! test in its own file (its own process), so no other test's threads come and go
//! while /proc/self/task is counted.
#![cfg(target_os = "linux")]

mod common;

use common::*;
use netconduit::proto::control::Control;
use netconduit::transport::tcp;
use netconduit::{Multiplexer, MultiplexerOptions};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").expect("/proc/self/task").count()
}

/// Exited threads leave /proc/self/task shortly after `join` returns: poll.
fn assert_back_to(base: usize, what: &str) {
    let settled = wait_for(|| thread_count() == base, TIMEOUT);
    assert!(settled, "{what}: {} threads, expected {base}", thread_count());
}

/// A client multiplexer and the raw peer socket it is connected to. The peer answers
/// the handshake by hand, then neither reads nor closes: only the multiplexer's own
/// shutdown can end its reader thread.
fn connect_to_raw_peer(options: MultiplexerOptions) -> (Multiplexer, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client = thread::spawn(move || tcp::connect(addr, options).expect("connect"));
    let (mut peer, _) = listener.accept().unwrap();
    let mut handshake = Vec::new();
    Control::Handshake { session_id: 7, max_frame_size: None }.encode(&mut handshake);
    peer.write_all(&handshake).unwrap();
    (client.join().unwrap(), peer)
}

/// The peer sees the connection end (the multiplexer's frames, then end of stream).
fn assert_peer_sees_eof(mut peer: TcpStream) {
    peer.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut rest = Vec::new();
    peer.read_to_end(&mut rest).expect("end of stream, not the read timeout");
}

#[test]
fn no_thread_outlives_close_or_abort_while_the_peer_holds_on() {
    bounded(Duration::from_secs(120), || {
        let base = thread_count();

        let (client, peer) = connect_to_raw_peer(MultiplexerOptions::default());
        assert!(thread_count() >= base + 3, "a multiplexer runs three threads");
        client.abort();
        assert_back_to(base, "after abort(), the peer still connected");
        assert_peer_sees_eof(peer);

        // close() lingers for the peer's end of stream, which never comes, then shuts
        // the socket down.
        let options = MultiplexerOptions { linger_timeout: Duration::from_millis(200), ..Default::default() };
        let (client, peer) = connect_to_raw_peer(options);
        client.close();
        assert_back_to(base, "after close(), the peer still connected");
        assert_peer_sees_eof(peer);

        // Dropping the last handle does the same as abort().
        let (client, peer) = connect_to_raw_peer(MultiplexerOptions::default());
        drop(client);
        assert_back_to(base, "after dropping the multiplexer, the peer still connected");
        assert_peer_sees_eof(peer);
    });
}
