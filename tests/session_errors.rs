//! Every session error of PROTOCOL.md (sections 1, 2, 4, 5 and 7), provoked by a
//! hand-crafted raw peer: the multiplexer answers ERROR with the right code on the
//! control channel and closes the transport; `error()`, blocked calls and readers
//! all report it (readers after the bytes that arrived before it).

mod common;

use common::*;
use netconduit::proto::control::Control;
use netconduit::proto::frame::{self, FrameType};
use netconduit::{ChannelOptions, ErrorCode, Multiplexer, MultiplexerOptions, ReadChannel, Result, WriteChannel};
use std::io::{self, Read};
use std::thread::{self, JoinHandle};
use std::time::Duration;

const PROTOCOL: ErrorCode = ErrorCode::PROTOCOL_ERROR;
const FLOW: ErrorCode = ErrorCode::FLOW_CONTROL_ERROR;

/// A raw header with any type byte and length.
fn header(index: u32, kind: u8, len: u32) -> Vec<u8> {
    let mut out = index.to_be_bytes().to_vec();
    out.push(kind);
    out.extend_from_slice(&len.to_be_bytes());
    out
}

/// A frame with any type byte and payload.
fn raw_frame(index: u32, kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = header(index, kind, payload.len() as u32);
    out.extend_from_slice(payload);
    out
}

/// A control-channel DATA frame with any payload.
fn control_payload(payload: &[u8]) -> Vec<u8> {
    raw_frame(0, 0, payload)
}

/// A session after the handshake, with an accepted incoming channel holding
/// unread bytes and a thread blocked in `accept`.
struct Up {
    mux: Multiplexer,
    peer: RawPeer,
    reader: ReadChannel,
    blocked_accept: JoinHandle<Result<ReadChannel>>,
    /// Channels kept open until the end (dropping one would send FIN).
    keep: Vec<WriteChannel>,
}

fn up(transport: Transport, options: MultiplexerOptions) -> Up {
    let (mux, mut peer) = raw(transport, options);
    peer.send_init(1, 128, "in");
    peer.expect(1, FrameType::Ack);
    peer.send_data(1, b"abc");
    let reader = mux.accept_channel_timeout("in", TIMEOUT).unwrap();
    assert!(wait_for(|| reader.buffered() == 3, TIMEOUT));
    let blocked_accept = {
        let mux = mux.clone();
        thread::spawn(move || mux.accept_channel_timeout("never", TIMEOUT))
    };
    Up { mux, peer, reader, blocked_accept, keep: Vec::new() }
}

/// Checks everything a session error must cause.
fn assert_session_error(mut up: Up, code: ErrorCode) {
    up.peer.expect_session_error(code);
    let error = up.mux.error().expect("the session ended");
    assert_eq!(violation_code(&error), code, "{error}");
    let accept_error = up.blocked_accept.join().unwrap().expect_err("blocked accept fails");
    assert_eq!(violation_code(&accept_error), code);
    // The reader gets the bytes that arrived first, then the error, not end of stream.
    let mut buf = [0u8; 16];
    assert_eq!(up.reader.read(&mut buf).unwrap(), 3);
    assert_eq!(&buf[..3], b"abc");
    let read_error = up.reader.read(&mut buf).expect_err("reader sees an error, not a clean end");
    assert_eq!(read_error.kind(), io::ErrorKind::InvalidData);
    assert_eq!(violation_code(inner(&read_error)), code);
    // New operations fail with the same error.
    let open_error = up.mux.open_channel(ChannelOptions::new("late")).unwrap_err();
    assert_eq!(violation_code(&open_error), code);
}

/// Runs a case: `provoke` sends the violation (and may set up what it needs).
fn case(
    transport: Transport,
    options: MultiplexerOptions,
    code: ErrorCode,
    provoke: impl FnOnce(&mut Up) + Send + 'static,
) {
    bounded(Duration::from_secs(60), move || {
        let mut up = up(transport, options);
        provoke(&mut up);
        assert_session_error(up, code);
    });
}

fn memory_case(code: ErrorCode, provoke: impl FnOnce(&mut Up) + Send + 'static) {
    case(Transport::Memory, MultiplexerOptions::default(), code, provoke);
}

fn send(bytes: Vec<u8>) -> impl FnOnce(&mut Up) + Send + 'static {
    move |up: &mut Up| up.peer.send_ok(&bytes)
}

/// Starts `open_channel` on a thread and returns the INIT's index; the opener
/// then fails with the session error.
fn opening(up: &mut Up) -> u32 {
    let mux = up.mux.clone();
    thread::spawn(move || {
        let result = mux.open_channel(ChannelOptions::new("out").open_timeout(TIMEOUT));
        assert!(result.is_err(), "open fails with the session");
    });
    let init = up.peer.expect(1, FrameType::Init);
    init.index
}

// ----- frame layer (section 1) ---------------------------------------------------

#[test]
fn unknown_frame_type() {
    memory_case(PROTOCOL, send(header(1, 0x05, 0)));
}

#[test]
fn unknown_frame_type_high() {
    memory_case(PROTOCOL, send(raw_frame(1, 0xFF, b"xyz")));
}

#[test]
fn unknown_frame_type_over_tcp() {
    case(Transport::Tcp, MultiplexerOptions::default(), PROTOCOL, send(header(3, 0x10, 0)));
}

#[test]
fn length_above_max_frame_size() {
    let options = MultiplexerOptions { max_frame_size: 16 * 1024, ..Default::default() };
    // Only the header: the length must be refused before any payload is read.
    case(Transport::Memory, options, PROTOCOL, send(header(1, 0x00, 16 * 1024 + 1)));
}

#[test]
fn length_above_default_max_frame_size() {
    memory_case(PROTOCOL, send(header(0, 0x00, 16 * 1024 * 1024 + 1)));
}

#[test]
fn length_above_max_frame_size_over_tcp() {
    let options = MultiplexerOptions { max_frame_size: 16 * 1024, ..Default::default() };
    case(Transport::Tcp, options, PROTOCOL, send(header(1, 0x01, u32::MAX)));
}

#[test]
fn init_on_control_channel() {
    let mut init = Vec::new();
    frame::put_init(&mut init, 0, 128, "zero");
    memory_case(PROTOCOL, send(init));
}

#[test]
fn fin_on_control_channel() {
    memory_case(PROTOCOL, send(header(0, 0x02, 0)));
}

#[test]
fn ack_on_control_channel() {
    memory_case(PROTOCOL, send(raw_frame(0, 0x03, &[0, 0, 1, 0])));
}

#[test]
fn err_on_control_channel() {
    memory_case(PROTOCOL, send(raw_frame(0, 0x04, &[0, 8])));
}

#[test]
fn data_on_reserved_index() {
    memory_case(PROTOCOL, send(raw_frame(u32::MAX, 0x00, b"x")));
}

#[test]
fn ack_on_reserved_index() {
    memory_case(PROTOCOL, send(raw_frame(u32::MAX, 0x03, &[0, 0, 0, 1])));
}

#[test]
fn init_on_reserved_index() {
    let mut init = Vec::new();
    frame::put_init(&mut init, u32::MAX, 128, "max");
    memory_case(PROTOCOL, send(init));
}

#[test]
fn fin_with_payload() {
    memory_case(PROTOCOL, send(raw_frame(1, 0x02, b"!")));
}

#[test]
fn ack_shorter_than_4_bytes() {
    memory_case(PROTOCOL, |up| {
        let index = opening(up);
        up.peer.send_ok(&raw_frame(index, 0x03, &[0, 1, 0]));
    });
}

#[test]
fn err_shorter_than_2_bytes() {
    memory_case(PROTOCOL, |up| {
        let index = opening(up);
        up.peer.send_ok(&raw_frame(index, 0x04, &[7]));
    });
}

// ----- control channel (section 5) -------------------------------------------------

#[test]
fn empty_control_payload() {
    memory_case(PROTOCOL, send(control_payload(&[])));
}

#[test]
fn ping_too_short() {
    memory_case(PROTOCOL, send(control_payload(&[0x01, 0, 0, 0, 0, 0, 0, 1])));
}

#[test]
fn pong_too_short() {
    memory_case(PROTOCOL, send(control_payload(&[0x02, 0])));
}

#[test]
fn credit_grant_too_short() {
    memory_case(PROTOCOL, send(control_payload(&[0x04, 0, 0, 0, 1, 0, 0, 1])));
}

#[test]
fn error_too_short() {
    memory_case(PROTOCOL, send(control_payload(&[0x05, 0])));
}

#[test]
fn goaway_too_short() {
    memory_case(PROTOCOL, send(control_payload(&[0x06, 0, 0, 0, 0, 0])));
}

#[test]
fn second_handshake() {
    memory_case(PROTOCOL, |up| up.peer.send_handshake(8, None));
}

#[test]
fn reconnect_after_handshake() {
    let mut body = vec![0x07];
    body.extend_from_slice(&9u64.to_be_bytes());
    body.extend_from_slice(&0x1234u64.to_be_bytes());
    body.extend_from_slice(&16384u32.to_be_bytes());
    body.extend_from_slice(&0u32.to_be_bytes());
    memory_case(PROTOCOL, send(control_payload(&body)));
}

// ----- channel indices and credits (sections 2 and 4) ------------------------------

#[test]
fn init_index_repeated() {
    // Index 1 was used by the channel "in".
    memory_case(PROTOCOL, |up| up.peer.send_init(1, 128, "again"));
}

#[test]
fn init_index_going_down() {
    memory_case(PROTOCOL, |up| {
        up.peer.send_init(5, 128, "five");
        up.peer.expect(5, FrameType::Ack);
        up.peer.send_init(3, 128, "three");
    });
}

#[test]
fn init_index_repeated_after_refusal() {
    // A refused INIT still counts: its index may not come again.
    memory_case(PROTOCOL, |up| {
        up.peer.send_init(2, 128, "in");
        up.peer.expect_err(2, ErrorCode::CHANNEL_EXISTS);
        up.peer.send_init(2, 128, "other");
    });
}

#[test]
fn ack_for_index_never_allocated() {
    memory_case(PROTOCOL, |up| up.peer.send_ack(1, 100, None));
}

#[test]
fn ack_above_every_allocated_index() {
    memory_case(PROTOCOL, |up| {
        let (index, channel) = open_from_mux(&up.mux, &mut up.peer, "out", 10);
        drop(channel);
        up.peer.expect(index, FrameType::Fin);
        up.peer.send_ack(index + 1, 100, None);
    });
}

#[test]
fn err_for_index_never_allocated() {
    memory_case(PROTOCOL, |up| up.peer.send_err(4, ErrorCode::CANCEL, ""));
}

#[test]
fn credit_grant_for_index_never_allocated() {
    memory_case(PROTOCOL, |up| up.peer.send_control(Control::CreditGrant { index: 2, credits: 10 }));
}

#[test]
fn ack_overflowing_the_allowance() {
    memory_case(FLOW, |up| {
        let (index, channel) = open_from_mux(&up.mux, &mut up.peer, "out", u32::MAX);
        up.peer.send_ack(index, 1, None);
        up.keep.push(channel);
    });
}

#[test]
fn credit_grant_overflowing_the_allowance() {
    memory_case(FLOW, |up| {
        let (index, channel) = open_from_mux(&up.mux, &mut up.peer, "out", u32::MAX - 5);
        up.peer.send_control(Control::CreditGrant { index, credits: 6 });
        up.keep.push(channel);
    });
}

#[test]
fn consumed_beyond_bytes_sent() {
    memory_case(PROTOCOL, |up| {
        let (index, channel) = open_from_mux(&up.mux, &mut up.peer, "out", 100);
        up.peer.send_ack(index, 10, Some(1));
        up.keep.push(channel);
    });
}

#[test]
fn consumed_going_backwards() {
    memory_case(PROTOCOL, |up| {
        let (index, mut channel) = open_from_mux(&up.mux, &mut up.peer, "out", 100);
        io::Write::write_all(&mut channel, &[1; 50]).unwrap();
        assert_eq!(up.peer.expect(index, FrameType::Data).payload.len(), 50);
        up.peer.send_ack(index, 10, Some(40));
        up.peer.send_ack(index, 10, Some(30));
        up.keep.push(channel);
    });
}

// ----- handshake (section 5) ---------------------------------------------------------

/// Before the handshake there is no channel to check; `wait_ready` is the blocked
/// call that must report the error.
fn handshake_case(code: ErrorCode, provoke: impl FnOnce(&mut RawPeer) + Send + 'static) {
    bounded(Duration::from_secs(60), move || {
        let (mux, mut peer) = raw_memory_unshaken(MultiplexerOptions::default());
        let (id, max) = peer.expect_handshake();
        assert_ne!(id, 0);
        assert_eq!(max, Some(16 * 1024 * 1024));
        let waiter = {
            let mux = mux.clone();
            thread::spawn(move || mux.wait_ready(TIMEOUT))
        };
        provoke(&mut peer);
        peer.expect_session_error(code);
        let error = waiter.join().unwrap().expect_err("wait_ready fails");
        assert_eq!(violation_code(&error), code, "{error}");
        assert_eq!(violation_code(&mux.error().unwrap()), code);
        assert!(!mux.is_ready());
    });
}

#[test]
fn init_before_handshake() {
    handshake_case(PROTOCOL, |peer| peer.send_init(1, 128, "early"));
}

#[test]
fn data_before_handshake() {
    handshake_case(PROTOCOL, |peer| peer.send_data(1, b"early"));
}

#[test]
fn ack_before_handshake() {
    handshake_case(PROTOCOL, |peer| peer.send_ack(1, 10, None));
}

#[test]
fn ping_before_handshake() {
    handshake_case(PROTOCOL, |peer| peer.send_control(Control::Ping(1)));
}

#[test]
fn handshake_with_zero_session_id() {
    handshake_case(PROTOCOL, |peer| peer.send_handshake(0, None));
}

#[test]
fn handshake_with_max_frame_size_below_16384() {
    handshake_case(PROTOCOL, |peer| peer.send_handshake(5, Some(16383)));
}

#[test]
fn reconnect_with_zero_session_id() {
    handshake_case(PROTOCOL, |peer| {
        let mut body = Vec::new();
        body.extend_from_slice(&0u64.to_be_bytes());
        body.extend_from_slice(&5u64.to_be_bytes());
        body.extend_from_slice(&16384u32.to_be_bytes());
        body.extend_from_slice(&0u32.to_be_bytes());
        peer.send_control(Control::Reconnect(&body));
    });
}

#[test]
fn reconnect_without_a_session_to_resume() {
    handshake_case(ErrorCode::SESSION_MISMATCH, |peer| {
        let mut body = Vec::new();
        body.extend_from_slice(&3u64.to_be_bytes());
        body.extend_from_slice(&5u64.to_be_bytes());
        body.extend_from_slice(&16384u32.to_be_bytes());
        body.extend_from_slice(&0u32.to_be_bytes());
        peer.send_control(Control::Reconnect(&body));
    });
}

/// Frames in the same read as the violation: what came before it is processed,
/// nothing after it.
#[test]
fn frames_after_the_violation_are_ignored() {
    bounded(Duration::from_secs(60), || {
        let Up { mux, mut peer, mut reader, blocked_accept, .. } = up(Transport::Memory, Default::default());
        let mut bytes = Vec::new();
        frame::put_data(&mut bytes, 1, b"def");
        bytes.extend(header(1, 0x09, 0));
        frame::put_init(&mut bytes, 2, 128, "after");
        peer.send_ok(&bytes);
        peer.expect_session_error(PROTOCOL);
        let mut got = Vec::new();
        let error = reader.read_to_end(&mut got).unwrap_err();
        assert_eq!(got, b"abcdef", "bytes before the violation are delivered");
        assert_eq!(violation_code(inner(&error)), PROTOCOL);
        assert_eq!(violation_code(&blocked_accept.join().unwrap().unwrap_err()), PROTOCOL);
        let late = mux.accept_channel_timeout("after", Duration::from_millis(1)).unwrap_err();
        assert_eq!(violation_code(&late), PROTOCOL, "the INIT after the violation was not processed");
    });
}

#[test]
fn reconnect_malformed() {
    // Announces one entry but carries none.
    handshake_case(PROTOCOL, |peer| {
        let mut body = Vec::new();
        body.extend_from_slice(&3u64.to_be_bytes());
        body.extend_from_slice(&5u64.to_be_bytes());
        body.extend_from_slice(&16384u32.to_be_bytes());
        body.extend_from_slice(&1u32.to_be_bytes());
        peer.send_control(Control::Reconnect(&body));
    });
}
