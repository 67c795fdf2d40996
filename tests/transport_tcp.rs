//! `transport::tcp`: connect, accept and incoming return multiplexers whose
//! handshake is done; connection and handshake failures are reported clearly, and
//! one failed connection never ends `incoming`.

mod common;
#[path = "transport/support.rs"]
mod support;

use common::*;
use netconduit::proto::control::Control;
use netconduit::transport::tcp;
use netconduit::{ChannelOptions, Error, MultiplexerOptions};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

fn quick_handshake() -> MultiplexerOptions {
    MultiplexerOptions {
        handshake_timeout: Duration::from_millis(300),
        linger_timeout: Duration::from_millis(300),
        ..Default::default()
    }
}

#[test]
fn connect_and_accept_carry_bulk_both_ways() {
    bounded(Duration::from_secs(120), || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || tcp::accept(&listener, MultiplexerOptions::default()).expect("accept"));
        let client = tcp::connect(addr, MultiplexerOptions::default()).expect("connect");
        let (server, peer) = server.join().unwrap();
        assert!(peer.ip().is_loopback(), "accept reports the peer's address, got {peer}");
        assert!(client.is_ready() && server.is_ready(), "both handshakes are done on return");

        support::bulk_both_ways("tcp loopback", &client, &server, 32 << 20);
        client.close();
        server.close();
        assert!(client.error().is_some() && server.error().is_some(), "both sessions ended");
    });
}

#[test]
fn connect_tries_every_address_a_name_resolves_to() {
    bounded(TIMEOUT, || {
        // "localhost" may resolve to ::1 before 127.0.0.1; only the latter listens.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = thread::spawn(move || tcp::accept(&listener, MultiplexerOptions::default()).expect("accept").0);
        let client = tcp::connect(("localhost", port), MultiplexerOptions::default()).expect("connect by name");
        let server = server.join().unwrap();
        let mut tx = client.open_channel(ChannelOptions::new("hello")).unwrap();
        tx.write_all(b"by name").unwrap();
        tx.close().unwrap();
        let mut got = Vec::new();
        server.accept_channel("hello").unwrap().read_to_end(&mut got).unwrap();
        assert_eq!(got, b"by name");
    });
}

#[test]
fn refused_connection_names_the_address() {
    bounded(TIMEOUT, || {
        // A port that was just free: nothing listens there any more.
        let addr = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let error = tcp::connect_timeout(addr, Duration::from_secs(20), MultiplexerOptions::default())
            .expect_err("nothing listens there");
        match &error {
            Error::Transport(io) => assert_eq!(io.kind(), io::ErrorKind::ConnectionRefused, "{error}"),
            other => panic!("expected a transport error, got {other:?}"),
        }
        let message = error.to_string();
        assert!(message.contains(&addr.to_string()), "the message names the address: {message}");
    });
}

#[test]
fn zero_connect_timeout_is_invalid_input() {
    let error = tcp::connect_timeout("127.0.0.1:9", Duration::ZERO, MultiplexerOptions::default()).unwrap_err();
    assert_eq!(error.io_kind(), io::ErrorKind::InvalidInput, "{error}");
}

#[test]
fn silent_peer_fails_the_handshake_and_is_disconnected() {
    bounded(TIMEOUT, || {
        // Accepts and never answers; reads what comes until the connection ends.
        let (addr, silent) = support::silent_server();
        let error = tcp::connect(addr, quick_handshake()).expect_err("no handshake came");
        // The wait and the session's own handshake timer run out together: either may report it.
        assert!(
            matches!(error, Error::Timeout("handshake") | Error::SessionTimeout("handshake")),
            "expected a handshake timeout, got {error:?}"
        );
        let received = silent.join().unwrap().expect("the connection ends (no read timeout)");
        assert!(!received.is_empty(), "the client sent its HANDSHAKE before giving up");
    });
}

#[test]
fn incoming_yields_errors_and_goes_on() {
    bounded(TIMEOUT, || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();

        // Queued in this order before the server accepts anything: one client that
        // speaks HTTP, one that says nothing, then a real one.
        let mut http = TcpStream::connect(addr).unwrap();
        http.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        http.shutdown(Shutdown::Write).unwrap();
        let silent = TcpStream::connect(addr).unwrap();
        let client = thread::spawn(move || {
            let client = tcp::connect(addr, MultiplexerOptions::default()).expect("connect");
            let mut tx = client.open_channel(ChannelOptions::new("after")).unwrap();
            tx.write_all(b"still served").unwrap();
            tx.close().unwrap();
            client
        });

        let mut incoming = tcp::incoming(&listener, quick_handshake());
        let garbage = incoming.next().expect("never ends").expect_err("HTTP is not netconduit");
        assert!(matches!(garbage, Error::ProtocolViolation { .. }), "HTTP bytes: {garbage:?}");
        let timeout = incoming.next().expect("never ends").expect_err("the silent client");
        assert!(
            matches!(timeout, Error::Timeout("handshake") | Error::SessionTimeout("handshake")),
            "silent client: {timeout:?}"
        );
        let server = incoming.next().expect("never ends").expect("the real client");
        let mut got = Vec::new();
        server.accept_channel_timeout("after", TIMEOUT).unwrap().read_to_end(&mut got).unwrap();
        assert_eq!(got, b"still served");

        let client = client.join().unwrap();
        client.close();
        drop((http, silent));
    });
}

/// Answers a multiplexer's handshake by hand and keeps the connection open without
/// ever closing it: only the multiplexer's own shutdown can end its reader.
pub fn handshake_by_hand(stream: &mut TcpStream) {
    let mut handshake = Vec::new();
    Control::Handshake { session_id: 7, max_frame_size: None }.encode(&mut handshake);
    stream.write_all(&handshake).unwrap();
}

#[test]
fn abort_shuts_the_socket_down_while_the_peer_keeps_it_open() {
    bounded(TIMEOUT, || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = thread::spawn(move || tcp::connect(addr, MultiplexerOptions::default()).expect("connect"));
        let (mut peer, _) = listener.accept().unwrap();
        handshake_by_hand(&mut peer);
        let client = client.join().unwrap();

        // abort joins the reader thread only if it can unblock it: returning while the
        // peer still holds the connection open means the socket was shut down.
        client.abort();
        peer.set_read_timeout(Some(TIMEOUT)).unwrap();
        let mut rest = Vec::new();
        peer.read_to_end(&mut rest).expect("the peer sees end of stream, not its read timeout");
    });
}
