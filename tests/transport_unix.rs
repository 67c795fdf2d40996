//! Unix domain sockets: a connected pair and a listener on a path carry checksummed
//! bulk transfers both ways; the multiplexer recognises `UnixStream` and shuts it
//! down when it closes.
#![cfg(unix)]

mod common;
#[path = "transport/support.rs"]
mod support;

use common::*;
use netconduit::{Multiplexer, MultiplexerOptions};
use std::os::unix::net::{UnixListener, UnixStream};
use std::thread;
use std::time::Duration;

const BULK: u64 = 32 << 20;

/// A multiplexer over one end of a Unix socket, handshake not yet done.
fn start(stream: UnixStream) -> Multiplexer {
    let reader = stream.try_clone().expect("clone the socket");
    Multiplexer::new(reader, stream, MultiplexerOptions::default()).expect("multiplexer starts")
}

fn ready(a: &Multiplexer, b: &Multiplexer) {
    a.wait_ready(TIMEOUT).expect("handshake A");
    b.wait_ready(TIMEOUT).expect("handshake B");
}

#[test]
fn socket_pair_carries_bulk_both_ways() {
    bounded(Duration::from_secs(120), || {
        let (a, b) = UnixStream::pair().expect("socketpair");
        let (a, b) = (start(a), start(b));
        ready(&a, &b);
        support::bulk_both_ways("unix socket pair", &a, &b, BULK);
        a.close();
        b.close();
    });
}

#[test]
fn listener_on_a_path_carries_bulk_both_ways() {
    bounded(Duration::from_secs(120), || {
        let dir = support::TempDir::new("unix");
        let path = dir.path().join("conduit.sock");
        let listener = UnixListener::bind(&path).expect("bind the socket path");
        let server = thread::spawn(move || start(listener.accept().expect("accept").0));
        let client = start(UnixStream::connect(&path).expect("connect to the socket path"));
        let server = server.join().unwrap();
        ready(&client, &server);
        support::bulk_both_ways("unix socket by path", &client, &server, BULK);
        client.close();
        server.close();
    });
}

#[test]
fn abort_ends_the_peer_session() {
    bounded(TIMEOUT, || {
        let (a, b) = UnixStream::pair().expect("socketpair");
        let (a, b) = (start(a), start(b));
        ready(&a, &b);
        a.abort();
        // The socket was shut down: B's session ends and its accept fails.
        let error = b.accept_timeout(TIMEOUT).expect_err("the session ended");
        assert!(!matches!(error, netconduit::Error::Timeout(_)), "B saw the end, not its timeout: {error:?}");
    });
}
