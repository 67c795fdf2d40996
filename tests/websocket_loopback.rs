//! The WebSocket byte-stream layer over loopback TCP: our own client and server, and
//! tungstenite's `WebSocket` (or hand-made frames) as the peer.
#![cfg(feature = "websocket")]

#[path = "websocket/common.rs"]
mod common;

use std::error::Error as _;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use netconduit::transport::websocket::{
    accept_stream, accept_stream_with_config, client_stream, connect_stream, from_websocket, WsConfig, WsReader,
    WsWriter,
};
use tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tungstenite::protocol::frame::{CloseFrame, Frame};
use tungstenite::protocol::Role;
use tungstenite::{Message, WebSocket};

const URL: &str = "ws://localhost/netconduit";

/// Our client against our server over loopback; returns (client halves, server halves).
fn our_pair(config: &WsConfig) -> ((WsReader, WsWriter), (WsReader, WsWriter)) {
    let (client, server) = tcp_pair();
    let server_config = config.clone();
    let server = thread::spawn(move || accept_stream_with_config(server, &server_config).unwrap());
    let client = client_stream(URL, client, config).unwrap();
    (client, server.join().unwrap())
}

/// Our client (returned) against a tungstenite server peer.
fn ours_vs_tungstenite_server(config: &WsConfig) -> ((WsReader, WsWriter), WebSocket<TcpStream>) {
    let (client, server) = tcp_pair();
    let peer = thread::spawn(move || tungstenite::accept(server).unwrap());
    let ours = client_stream(URL, client, config).unwrap();
    (ours, peer.join().unwrap())
}

/// Our server (returned) against a tungstenite client peer.
fn ours_vs_tungstenite_client() -> ((WsReader, WsWriter), WebSocket<TcpStream>) {
    let (client, server) = tcp_pair();
    let peer = thread::spawn(move || tungstenite::client(URL, client).unwrap().0);
    let ours = accept_stream(server).unwrap();
    (ours, peer.join().unwrap())
}

/// Reads messages at the peer until `want` pongs arrived; returns the binary bytes seen.
fn peer_read_until_pongs(peer: &mut WebSocket<TcpStream>, want: &[&[u8]]) -> Vec<u8> {
    let mut data = Vec::new();
    let mut pongs = Vec::new();
    while pongs.len() < want.len() {
        match peer.read().expect("peer read") {
            Message::Pong(p) => pongs.push(p.to_vec()),
            Message::Binary(b) => data.extend_from_slice(&b),
            other => panic!("unexpected message at the peer: {other:?}"),
        }
    }
    assert_eq!(pongs, want.iter().map(|p| p.to_vec()).collect::<Vec<_>>());
    data
}

#[test]
fn round_trip_several_mib_both_directions() {
    const TOTAL: usize = 8 * 1024 * 1024;
    let ((mut c_read, mut c_write), (mut s_read, mut s_write)) = our_pair(&WsConfig::default());
    let started = Instant::now();

    let c_send = thread::spawn(move || (send(&mut c_write, 1, TOTAL).unwrap(), c_write));
    let s_send = thread::spawn(move || (send(&mut s_write, 2, TOTAL).unwrap(), s_write));
    let c_recv = thread::spawn(move || (receive(&mut c_read, TOTAL).unwrap(), c_read));
    let s_recv = thread::spawn(move || (receive(&mut s_read, TOTAL).unwrap(), s_read));

    let (c_sent, mut c_write) = c_send.join().unwrap();
    let (s_sent, mut s_write) = s_send.join().unwrap();
    let (c_got, mut c_read) = c_recv.join().unwrap();
    let (s_got, mut s_read) = s_recv.join().unwrap();
    assert_eq!(c_sent, expected_checksum(1, TOTAL));
    assert_eq!(s_sent, expected_checksum(2, TOTAL));
    assert_eq!(s_got, c_sent, "client -> server stream corrupted");
    assert_eq!(c_got, s_sent, "server -> client stream corrupted");
    eprintln!("2 x {} MiB in {:?}", TOTAL >> 20, started.elapsed());

    // Close handshake: the client closes, the server's reader sees EOF and replies, the
    // client's reader then sees EOF too.
    c_write.close().unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(s_read.read(&mut buf).unwrap(), 0);
    assert_eq!(c_read.read(&mut buf).unwrap(), 0);
    assert_eq!(c_read.read(&mut buf).unwrap(), 0, "EOF is sticky");
    let err = s_write.write_all(b"late").and_then(|()| s_write.flush()).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe, "{err}");
    s_write.close().unwrap(); // already closed by the reply: still Ok
}

#[test]
fn connect_stream_resolves_url_and_works() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/x", listener.local_addr().unwrap());
    let server = thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let (mut r, mut w) = accept_stream(tcp).unwrap();
        let mut buf = [0u8; 5];
        r.read_exact(&mut buf).unwrap();
        w.write_all(&buf).unwrap();
        w.flush().unwrap();
        let mut rest = Vec::new();
        r.read_to_end(&mut rest).unwrap(); // until the client's Close
        assert!(rest.is_empty());
    });
    let (mut r, mut w) = connect_stream(url.as_str()).unwrap();
    w.write_all(b"hello").unwrap();
    w.flush().unwrap();
    let mut buf = [0u8; 5];
    r.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"hello");
    drop(w); // dropping the writer sends Close
    assert_eq!(r.read(&mut buf).unwrap(), 0);
    server.join().unwrap();

    let err = connect_stream("wss://127.0.0.1:1/").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::Unsupported);
    let err = connect_stream("http://127.0.0.1:1/").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn messages_respect_max_message_size() {
    let config = WsConfig::default().with_max_message_size(1000);
    let ((_r, mut w), mut peer) = ours_vs_tungstenite_server(&config);
    let data: Vec<u8> = (0..10_500u32).map(|i| (i * 7) as u8).collect();
    w.write_all(&data).unwrap();
    w.flush().unwrap();
    w.write_all(b"tail").unwrap();
    w.flush().unwrap();
    let mut got = Vec::new();
    let mut sizes = Vec::new();
    while got.len() < data.len() + 4 {
        match peer.read().unwrap() {
            Message::Binary(b) => {
                sizes.push(b.len());
                got.extend_from_slice(&b);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(&got[..data.len()], &data[..]);
    assert_eq!(&got[data.len()..], b"tail");
    assert!(sizes.iter().all(|&s| s <= 1000), "{sizes:?}");
    assert_eq!(sizes, [vec![1000; 10], vec![500, 4]].concat());
}

#[test]
fn ping_answered_by_idle_client() {
    let ((mut r, _w), mut peer) = ours_vs_tungstenite_server(&WsConfig::default());
    // Only the reader runs; the writer is idle. The reader must get the pong out itself.
    let reader = thread::spawn(move || {
        let mut buf = [0u8; 64];
        let n = r.read(&mut buf).unwrap();
        (buf[..n].to_vec(), r)
    });
    peer.send(Message::Ping(b"are you there?"[..].into())).unwrap();
    peer.send(Message::Ping(b"second"[..].into())).unwrap();
    let data = peer_read_until_pongs(&mut peer, &[b"are you there?", b"second"]);
    assert!(data.is_empty());
    peer.send(Message::Binary(b"bye"[..].into())).unwrap();
    let (got, _r) = reader.join().unwrap();
    assert_eq!(got, b"bye");
}

#[test]
fn ping_answered_by_idle_server() {
    let ((mut r, _w), mut peer) = ours_vs_tungstenite_client();
    let reader = thread::spawn(move || {
        let mut buf = [0u8; 64];
        let n = r.read(&mut buf).unwrap();
        (buf[..n].to_vec(), r)
    });
    peer.send(Message::Ping(b"masked ping"[..].into())).unwrap();
    let data = peer_read_until_pongs(&mut peer, &[b"masked ping"]);
    assert!(data.is_empty());
    peer.send(Message::Binary(b"done"[..].into())).unwrap();
    assert_eq!(reader.join().unwrap().0, b"done");
}

#[test]
fn pings_answered_while_writer_is_busy() {
    const TOTAL: usize = 6 * 1024 * 1024;
    for role in [Role::Client, Role::Server] {
        let ((mut r, mut w), mut peer) = match role {
            Role::Client => ours_vs_tungstenite_server(&WsConfig::default()),
            Role::Server => ours_vs_tungstenite_client(),
        };
        let writer = thread::spawn(move || (send(&mut w, 9, TOTAL).unwrap(), w));
        let reader = thread::spawn(move || {
            let mut buf = [0u8; 64];
            let n = r.read(&mut buf).unwrap();
            assert_eq!(n, 0, "no data expected");
        });
        // Ping every 512 KiB received; all pongs must come back between the data frames
        // without corrupting them.
        let mut received = Vec::with_capacity(TOTAL);
        let mut pings = 0u32;
        let mut pongs = 0u32;
        while received.len() < TOTAL || pongs < pings {
            if received.len() >= (pings as usize) * 512 * 1024 && received.len() < TOTAL {
                peer.send(Message::Ping(pings.to_be_bytes().to_vec().into())).unwrap();
                pings += 1;
            }
            match peer.read().unwrap() {
                Message::Binary(b) => received.extend_from_slice(&b),
                Message::Pong(p) => {
                    assert_eq!(&p[..], &pongs.to_be_bytes());
                    pongs += 1;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        let (sent, _w) = writer.join().unwrap();
        let mut sum = Checksum::default();
        sum.update(&received);
        assert_eq!(received.len(), TOTAL);
        assert_eq!(sum.finish(), sent, "{role:?}: data corrupted by interleaved pongs");
        assert!(pings >= 10, "{role:?}: only {pings} pings");
        peer.close(None).unwrap();
        while peer.read().is_ok() {} // drive the close handshake
        reader.join().unwrap();
    }
}

#[test]
fn text_message_is_invalid_data() {
    let ((mut r, mut w), mut peer) = ours_vs_tungstenite_server(&WsConfig::default());
    peer.send(Message::Binary(b"abc"[..].into())).unwrap();
    peer.send(Message::Text("hello".into())).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(r.read(&mut buf).unwrap(), 3);
    assert_eq!(&buf[..3], b"abc");
    let err = r.read(&mut buf).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    assert!(err.to_string().contains("text message"), "{err}");
    let again = r.read(&mut buf).unwrap_err();
    assert_eq!(again.kind(), io::ErrorKind::InvalidData, "failure is sticky");
    // The peer is told why: Close 1003 (unsupported data).
    match peer.read().unwrap() {
        Message::Close(Some(CloseFrame { code, .. })) => assert_eq!(code, CloseCode::Unsupported),
        other => panic!("expected Close, got {other:?}"),
    }
    let err = w.write_all(b"x").and_then(|()| w.flush()).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionAborted, "{err}");
}

#[test]
fn fragmented_message_with_ping_in_between() {
    let ((mut r, _w), mut peer) = ours_vs_tungstenite_client();
    let frames = [
        Frame::message(&b"frag"[..], OpCode::Data(Data::Binary), false),
        Frame::ping(&b"mid"[..]),
        Frame::message(&b"ment"[..], OpCode::Data(Data::Continue), false),
        Frame::message(&b"ed!"[..], OpCode::Data(Data::Continue), true),
        Frame::message(&b"+next"[..], OpCode::Data(Data::Binary), true),
    ];
    for f in frames {
        peer.write(Message::Frame(f)).unwrap();
    }
    peer.flush().unwrap();
    let mut got = vec![0u8; 16];
    r.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"fragmented!+next");
    peer_read_until_pongs(&mut peer, &[b"mid"]);
}

#[test]
fn peer_close_gives_eof_and_reply() {
    let ((mut r, mut w), mut peer) = ours_vs_tungstenite_server(&WsConfig::default());
    peer.send(Message::Binary(b"last words"[..].into())).unwrap();
    peer.close(Some(CloseFrame { code: CloseCode::Away, reason: "bye".into() })).unwrap();
    let mut got = Vec::new();
    r.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"last words");
    // Our reply echoes the code.
    match peer.read().unwrap() {
        Message::Close(Some(CloseFrame { code, .. })) => assert_eq!(code, CloseCode::Away),
        other => panic!("expected Close, got {other:?}"),
    }
    let err = w.write_all(b"x").and_then(|()| w.flush()).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe, "{err}");
}

#[test]
fn server_closes_tcp_after_close_handshake() {
    let ((mut r, mut w), mut peer) = ours_vs_tungstenite_client();
    // As in a multiplexer, our reader thread is always reading.
    let reader = thread::spawn(move || {
        let mut got = Vec::new();
        r.read_to_end(&mut got).unwrap();
        got
    });
    w.write_all(b"payload").unwrap();
    w.close().unwrap();
    assert_eq!(&peer.read().unwrap().into_data()[..], b"payload");
    assert!(matches!(peer.read().unwrap(), Message::Close(Some(_))));
    // tungstenite sends its reply on the next read, then waits for the server to close TCP:
    // it must see a clean end (ConnectionClosed), not a timeout.
    match peer.read() {
        Err(tungstenite::Error::ConnectionClosed) => {}
        other => panic!("peer saw {other:?}"),
    }
    assert!(reader.join().unwrap().is_empty(), "our reader sees EOF after the reply");
}

#[test]
fn shutdown_unblocks_reader() {
    let ((mut c_read, mut c_write), (_s_read, _s_write)) = our_pair(&WsConfig::default());
    let handle = c_write.shutdown_handle();
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let reader = thread::spawn(move || {
        tid_tx.send(std::fs::read_link("/proc/thread-self").ok()).unwrap();
        let started = Instant::now();
        let mut buf = [0u8; 8];
        let n = c_read.read(&mut buf).unwrap();
        (n, started.elapsed())
    });
    // Shut down once the reader sleeps in its read (Linux: its state in /proc),
    // so the shutdown has a blocked read to end.
    if let Some(task) = tid_rx.recv().unwrap() {
        let stat = std::path::Path::new("/proc").join(task).join("stat");
        let sleeping =
            || std::fs::read_to_string(&stat).is_ok_and(|s| s.rsplit(") ").next().is_some_and(|f| f.starts_with('S')));
        let deadline = Instant::now() + Duration::from_secs(5);
        while !sleeping() {
            assert!(Instant::now() < deadline, "the reader never blocked");
            thread::sleep(Duration::from_millis(1));
        }
    }
    handle.shutdown().unwrap();
    let (n, waited) = reader.join().unwrap();
    assert_eq!(n, 0);
    assert!(waited < Duration::from_secs(5), "reader stayed blocked for {waited:?}");
    let err = c_write.write_all(b"x").and_then(|()| c_write.flush()).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionAborted, "{err}");
    handle.shutdown().unwrap(); // idempotent
}

#[test]
fn eof_without_close_handshake_is_unexpected_eof() {
    let ((mut r, _w), peer) = ours_vs_tungstenite_server(&WsConfig::default());
    drop(peer); // TCP FIN, no Close frame
    let err = r.read(&mut [0u8; 8]).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "{err}");
    let source = err.source().expect("tungstenite error as source");
    assert!(source.downcast_ref::<tungstenite::Error>().is_some(), "{source:?}");
}

/// Accepts the HTTP upgrade by hand on `tcp` and returns it, for tests that write raw frames.
fn raw_server_handshake(tcp: &mut TcpStream, extra: &[u8]) {
    let mut request = Vec::new();
    let mut byte = [0u8; 1];
    while !request.ends_with(b"\r\n\r\n") {
        tcp.read_exact(&mut byte).unwrap();
        request.push(byte[0]);
    }
    let request = String::from_utf8(request).unwrap();
    let key = request
        .lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: ").or_else(|| l.strip_prefix("sec-websocket-key: ")))
        .expect("key header")
        .trim();
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let mut response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    )
    .into_bytes();
    response.extend_from_slice(extra);
    tcp.write_all(&response).unwrap(); // response and first frames in one segment
}

fn raw_frame(frame: Frame) -> Vec<u8> {
    let mut out = Vec::new();
    frame.format(&mut out).unwrap();
    out
}

#[test]
fn frames_sent_along_with_the_handshake_response_are_kept() {
    let (client, mut server) = tcp_pair();
    let peer = thread::spawn(move || {
        let mut extra = raw_frame(Frame::message(&b"early "[..], OpCode::Data(Data::Binary), true));
        extra.extend(raw_frame(Frame::message(&b"bird"[..], OpCode::Data(Data::Binary), true)));
        raw_server_handshake(&mut server, &extra);
        server
    });
    let (mut r, _w) = client_stream(URL, client, &WsConfig::default()).unwrap();
    let _server = peer.join().unwrap();
    let mut got = [0u8; 10];
    r.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"early bird");
}

#[test]
fn masked_frame_from_server_is_invalid_data() {
    let (client, mut server) = tcp_pair();
    let peer = thread::spawn(move || {
        let mut frame = Frame::message(&b"nope"[..], OpCode::Data(Data::Binary), true);
        frame.header_mut().mask = Some([1, 2, 3, 4]);
        raw_server_handshake(&mut server, &raw_frame(frame));
        server
    });
    let (mut r, _w) = client_stream(URL, client, &WsConfig::default()).unwrap();
    let _server = peer.join().unwrap();
    let err = r.read(&mut [0u8; 8]).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    let source = err.source().and_then(|s| s.downcast_ref::<tungstenite::Error>());
    assert!(
        matches!(source, Some(tungstenite::Error::Protocol(tungstenite::error::ProtocolError::MaskedFrameFromServer))),
        "{err}: {source:?}"
    );
}

#[test]
fn oversized_frame_is_invalid_data() {
    let config = WsConfig::default().with_max_frame_size(1024);
    let ((mut r, _w), mut peer) = ours_vs_tungstenite_server(&config);
    peer.send(Message::Binary(vec![7u8; 1024].into())).unwrap();
    peer.send(Message::Binary(vec![8u8; 1025].into())).unwrap();
    let mut buf = vec![0u8; 1024];
    r.read_exact(&mut buf).unwrap();
    let err = r.read(&mut buf).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
    match peer.read().unwrap() {
        Message::Close(Some(CloseFrame { code, .. })) => assert_eq!(code, CloseCode::Size),
        other => panic!("expected Close, got {other:?}"),
    }
}

#[test]
fn from_websocket_takes_over_an_upgraded_socket() {
    let (client, server) = tcp_pair();
    let server = thread::spawn(move || {
        let mut ws = tungstenite::accept(server).unwrap();
        // Something already queued in tungstenite is flushed before the takeover.
        ws.write(Message::Binary(b"queued;"[..].into())).unwrap();
        let (mut r, mut w) = from_websocket(ws, Role::Server).unwrap();
        let mut buf = [0u8; 4];
        r.read_exact(&mut buf).unwrap();
        w.write_all(&buf).unwrap();
        w.close().unwrap();
        assert_eq!(r.read(&mut buf).unwrap(), 0);
    });
    let (mut r, mut w) = client_stream(URL, client, &WsConfig::default()).unwrap();
    w.write_all(b"ping").unwrap();
    w.flush().unwrap();
    let mut got = Vec::new();
    r.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"queued;ping");
    server.join().unwrap();
}

#[test]
fn refused_upgrade_is_connection_refused() {
    let (client, mut server) = tcp_pair();
    let peer = thread::spawn(move || {
        let mut request = Vec::new();
        let mut byte = [0u8; 1];
        while !request.ends_with(b"\r\n\r\n") {
            server.read_exact(&mut byte).unwrap();
            request.push(byte[0]);
        }
        server.write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n").unwrap();
        server
    });
    let err = client_stream(URL, client, &WsConfig::default()).unwrap_err();
    let _server = peer.join().unwrap();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
    assert!(err.to_string().contains("403"), "{err}");
    let source = err.source().and_then(|s| s.downcast_ref::<tungstenite::Error>());
    assert!(matches!(source, Some(tungstenite::Error::Http(_))), "{source:?}");
}
