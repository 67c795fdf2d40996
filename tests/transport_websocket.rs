//! `transport::websocket::{connect, accept, multiplexer}`: ready multiplexers over a
//! WebSocket, checksummed bulk both ways, a hand-made upgrade, and bounded upgrades.
#![cfg(feature = "websocket")]

mod common;
#[path = "transport/support.rs"]
mod support;

use common::*;
use netconduit::transport::websocket;
use netconduit::{Error, MultiplexerOptions};
use std::io;
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;
use tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tungstenite::protocol::Role;

fn quick_handshake() -> MultiplexerOptions {
    MultiplexerOptions { handshake_timeout: Duration::from_millis(300), ..Default::default() }
}

#[test]
fn connect_and_accept_carry_bulk_both_ways() {
    bounded(Duration::from_secs(120), || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            websocket::accept(stream, MultiplexerOptions::default()).expect("accept")
        });
        let client =
            websocket::connect(format!("ws://{addr}/conduit"), MultiplexerOptions::default()).expect("connect");
        let server = server.join().unwrap();
        assert!(client.is_ready() && server.is_ready(), "both handshakes are done on return");

        support::bulk_both_ways("websocket loopback", &client, &server, 16 << 20);
        client.close();
        server.close();
    });
}

/// The request callback of `tungstenite::accept_hdr` (its signature is tungstenite's).
#[allow(clippy::result_large_err)]
fn check_path(request: &Request, response: Response) -> Result<Response, ErrorResponse> {
    assert_eq!(request.uri().path(), "/mux");
    Ok(response)
}

#[test]
fn multiplexer_over_a_hand_made_upgrade() {
    bounded(TIMEOUT, || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let ws = tungstenite::accept_hdr(stream, check_path).expect("upgrade");
            let halves = websocket::from_websocket(ws, Role::Server).expect("take over the socket");
            websocket::multiplexer(halves, MultiplexerOptions::default()).expect("handshake")
        });
        let client = websocket::connect(format!("ws://{addr}/mux"), MultiplexerOptions::default()).expect("connect");
        let server = server.join().unwrap();
        support::bulk_both_ways("websocket, hand-made upgrade", &client, &server, 1 << 20);
        client.close();
        server.close();
    });
}

#[test]
fn upgrade_read_timeout_is_lifted_afterwards() {
    bounded(TIMEOUT, || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || websocket::accept(listener.accept().unwrap().0, quick_handshake()).unwrap());
        let client = websocket::connect(format!("ws://{addr}/"), quick_handshake()).expect("connect");
        let server = server.join().unwrap();
        // Silence for longer than the upgrade's read timeout: had it stayed on the
        // socket, the readers would fail and the sessions end instead of timing out.
        let waited = server.accept_timeout(Duration::from_millis(900)).expect_err("nothing was opened");
        assert!(matches!(waited, Error::Timeout(_)), "the session is still up: {waited:?}");
        client.ping(TIMEOUT).expect("both sessions still answer");
        client.close();
        server.close();
    });
}

#[test]
fn silent_server_times_the_upgrade_out() {
    bounded(TIMEOUT, || {
        // Accepts and never answers the HTTP request.
        let (addr, silent) = support::silent_server();
        let error = websocket::connect(format!("ws://{addr}/"), quick_handshake()).expect_err("no upgrade came");
        assert!(matches!(error, Error::Timeout("WebSocket upgrade")), "{error:?}");
        let request = silent.join().unwrap().expect("the connection ends (no read timeout)");
        assert!(request.starts_with(b"GET / HTTP/1.1"), "the client sent its upgrade request");
    });
}

#[test]
fn silent_client_times_the_upgrade_out() {
    bounded(TIMEOUT, || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let _silent = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (stream, _) = listener.accept().unwrap();
        let error = websocket::accept(stream, quick_handshake()).expect_err("no upgrade request came");
        assert!(matches!(error, Error::Timeout("WebSocket upgrade")), "{error:?}");
    });
}

#[test]
fn wss_is_refused_as_unsupported() {
    let error = websocket::connect("wss://127.0.0.1:1/", MultiplexerOptions::default()).unwrap_err();
    assert_eq!(error.io_kind(), io::ErrorKind::Unsupported, "{error}");
}
