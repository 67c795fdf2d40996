//! Channel errors of PROTOCOL.md sections 2, 3 and 5, provoked by a raw peer: each
//! earns ERR with the right code on the right index, and the session lives on.

mod common;

use common::*;
use netconduit::proto::control::Control;
use netconduit::proto::frame::{self, FrameType};
use netconduit::{ChannelOptions, Error, ErrorCode, Multiplexer, MultiplexerOptions};
use std::io::{self, Read, Write};
use std::time::Duration;

fn run(options: MultiplexerOptions, body: impl FnOnce(&Multiplexer, &mut RawPeer) + Send + 'static) {
    bounded(Duration::from_secs(60), move || {
        let (mux, mut peer) = raw_memory(options);
        body(&mux, &mut peer);
        // The session is still up and nothing else was sent.
        assert_eq!(peer.barrier(), vec![], "unexpected frames after the case");
        assert!(mux.error().is_none(), "the session must survive: {:?}", mux.error());
    });
}

fn init_payload(priority: u8, id_len: u16, id: &[u8]) -> Vec<u8> {
    let mut payload = vec![priority];
    payload.extend_from_slice(&id_len.to_be_bytes());
    payload.extend_from_slice(id);
    payload
}

fn send_raw_init(peer: &mut RawPeer, index: u32, payload: &[u8]) {
    let mut out = Vec::new();
    frame::put_header(&mut out, index, FrameType::Init, payload.len());
    out.extend_from_slice(payload);
    peer.send_ok(&out);
}

// ----- UNKNOWN_CHANNEL ----------------------------------------------------------------

#[test]
fn data_on_never_opened_index() {
    run(Default::default(), |_, peer| {
        peer.send_data(9, b"who?");
        peer.expect_err(9, ErrorCode::UNKNOWN_CHANNEL);
    });
}

#[test]
fn fin_on_never_opened_index() {
    run(Default::default(), |_, peer| {
        peer.send_fin(4);
        peer.expect_err(4, ErrorCode::UNKNOWN_CHANNEL);
    });
}

#[test]
fn data_and_fin_after_fin() {
    run(Default::default(), |mux, peer| {
        peer.send_init(1, 128, "c");
        peer.expect(1, FrameType::Ack);
        peer.send_data(1, b"hello");
        peer.send_fin(1);
        peer.send_data(1, b"late");
        peer.expect_err(1, ErrorCode::UNKNOWN_CHANNEL);
        peer.send_fin(1);
        peer.expect_err(1, ErrorCode::UNKNOWN_CHANNEL);
        // The channel itself ended cleanly with its bytes.
        let mut text = String::new();
        mux.accept_channel("c").unwrap().read_to_string(&mut text).unwrap();
        assert_eq!(text, "hello");
    });
}

#[test]
fn data_on_refused_index() {
    run(Default::default(), |_, peer| {
        send_raw_init(peer, 1, &[1]);
        peer.expect_err(1, ErrorCode::PROTOCOL_ERROR);
        peer.send_data(1, b"x");
        peer.expect_err(1, ErrorCode::UNKNOWN_CHANNEL);
    });
}

#[test]
fn empty_data_is_a_no_op() {
    run(Default::default(), |mux, peer| {
        peer.send_data(1, b"");
        // An empty DATA on an unknown channel still names an unknown channel.
        peer.expect_err(1, ErrorCode::UNKNOWN_CHANNEL);
        peer.send_init(1, 128, "c");
        peer.expect(1, FrameType::Ack);
        peer.send_data(1, b"");
        peer.send_data(1, b"x");
        peer.send_data(1, b"");
        peer.send_fin(1);
        let mut got = Vec::new();
        mux.accept_channel("c").unwrap().read_to_end(&mut got).unwrap();
        assert_eq!(got, b"x");
    });
}

// ----- CHANNEL_EXISTS ----------------------------------------------------------------

#[test]
fn init_with_an_id_already_open() {
    run(Default::default(), |mux, peer| {
        peer.send_init(1, 128, "dup");
        peer.expect(1, FrameType::Ack);
        peer.send_init(2, 128, "dup");
        peer.expect_err(2, ErrorCode::CHANNEL_EXISTS);
        // The first channel is untouched.
        peer.send_data(1, b"first");
        peer.send_fin(1);
        let mut text = String::new();
        mux.accept_channel("dup").unwrap().read_to_string(&mut text).unwrap();
        assert_eq!(text, "first");
        // Once its FIN arrived, the id is free again.
        peer.send_init(3, 128, "dup");
        peer.expect(3, FrameType::Ack);
    });
}

#[test]
fn same_id_open_in_both_directions() {
    run(Default::default(), |mux, peer| {
        let (index, mut out) = open_from_mux(mux, peer, "echo", 1000);
        peer.send_init(1, 128, "echo");
        peer.expect(1, FrameType::Ack);
        out.write_all(b"ping").unwrap();
        assert_eq!(peer.expect(index, FrameType::Data).payload, b"ping");
        peer.send_data(1, b"pong");
        peer.send_fin(1);
        let mut text = String::new();
        mux.accept_channel("echo").unwrap().read_to_string(&mut text).unwrap();
        assert_eq!(text, "pong");
        drop(out);
        peer.expect(index, FrameType::Fin);
    });
}

// ----- malformed INIT: PROTOCOL_ERROR on the channel ---------------------------------

#[test]
fn init_shorter_than_3_bytes() {
    run(Default::default(), |_, peer| {
        send_raw_init(peer, 1, &[128, 0]);
        peer.expect_err(1, ErrorCode::PROTOCOL_ERROR);
        send_raw_init(peer, 2, &[]);
        peer.expect_err(2, ErrorCode::PROTOCOL_ERROR);
    });
}

#[test]
fn init_id_len_beyond_payload() {
    run(Default::default(), |_, peer| {
        send_raw_init(peer, 1, &init_payload(128, 6, b"short"));
        peer.expect_err(1, ErrorCode::PROTOCOL_ERROR);
    });
}

#[test]
fn init_id_len_above_1024() {
    run(Default::default(), |_, peer| {
        send_raw_init(peer, 1, &init_payload(128, 1025, &[b'a'; 1025]));
        peer.expect_err(1, ErrorCode::PROTOCOL_ERROR);
    });
}

#[test]
fn init_id_not_utf8() {
    run(Default::default(), |_, peer| {
        send_raw_init(peer, 1, &init_payload(128, 2, &[0xC3, 0x28]));
        peer.expect_err(1, ErrorCode::PROTOCOL_ERROR);
    });
}

#[test]
fn init_with_trailing_bytes_is_accepted() {
    run(Default::default(), |mux, peer| {
        let mut payload = init_payload(7, 2, b"ok");
        payload.extend_from_slice(b"ignored extension");
        send_raw_init(peer, 1, &payload);
        peer.expect(1, FrameType::Ack);
        peer.send_fin(1);
        let mut channel = mux.accept_channel("ok").unwrap();
        assert_eq!(channel.priority().0, 7);
        assert_eq!(channel.read(&mut [0; 4]).unwrap(), 0);
    });
}

#[test]
fn init_with_1024_byte_id_and_empty_id_are_accepted() {
    run(Default::default(), |mux, peer| {
        let long = "é".repeat(512);
        assert_eq!(long.len(), 1024);
        peer.send_init(1, 128, &long);
        peer.expect(1, FrameType::Ack);
        peer.send_init(2, 128, "");
        peer.expect(2, FrameType::Ack);
        peer.send_fin(1);
        peer.send_fin(2);
        for (id, index) in [(long.as_str(), 1), ("", 2)] {
            let mut channel = mux.accept_channel(id).unwrap();
            assert_eq!(channel.channel_index(), index);
            assert_eq!(channel.read(&mut [0; 4]).unwrap(), 0);
        }
    });
}

// ----- FLOW_CONTROL_ERROR ------------------------------------------------------------

#[test]
fn data_beyond_credits() {
    let options = MultiplexerOptions { initial_window: 1000, ..Default::default() };
    run(options, |mux, peer| {
        peer.send_init(1, 128, "flow");
        assert_eq!(peer.expect(1, FrameType::Ack).ack_credits(), 1000);
        peer.send_data(1, &[1; 600]);
        peer.send_data(1, &[2; 300]);
        // 900 + 101 > 1000: none of this frame is delivered.
        peer.send_data(1, &[3; 101]);
        peer.expect_err(1, ErrorCode::FLOW_CONTROL_ERROR);
        // Later DATA is discarded silently until FIN, and so is the FIN itself.
        peer.send_data(1, &[4; 10]);
        assert_eq!(peer.barrier(), vec![]);
        peer.send_fin(1);

        let mut reader = mux.accept_channel("flow").unwrap();
        let mut got = Vec::new();
        let error = reader.read_to_end(&mut got).expect_err("an error, not a clean end");
        assert_eq!(got.len(), 900, "the bytes of earlier frames are delivered");
        assert!(got[..600].iter().all(|&b| b == 1) && got[600..].iter().all(|&b| b == 2));
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert_eq!(inner(&error).code(), Some(ErrorCode::FLOW_CONTROL_ERROR));
        // Reading again still reports the error.
        assert!(reader.read(&mut [0; 8]).is_err());
        drop(reader);
        // The id is free again after the FIN.
        peer.send_init(2, 128, "flow");
        peer.expect(2, FrameType::Ack);
    });
}

#[test]
fn data_beyond_credits_after_a_grant() {
    // A fixed window (no auto-tuning), so the grant is exactly what was consumed.
    let options = MultiplexerOptions { initial_window: 1000, max_channel_window: 1000, ..Default::default() };
    run(options, |mux, peer| {
        peer.send_init(1, 128, "flow");
        peer.expect(1, FrameType::Ack);
        peer.send_data(1, &[1; 1000]);
        let mut reader = mux.accept_channel("flow").unwrap();
        let mut buf = vec![0u8; 1000];
        reader.read_exact(&mut buf).unwrap();
        // Consuming the window grants it back: 1000 more, with `consumed`.
        let ack = peer.expect(1, FrameType::Ack);
        let fields = frame::parse_ack(&ack.payload).unwrap();
        assert_eq!(fields.credits, 1000);
        assert_eq!(fields.consumed, Some(1000));
        peer.send_data(1, &[2; 1000]);
        peer.send_data(1, &[3; 1]);
        peer.expect_err(1, ErrorCode::FLOW_CONTROL_ERROR);
        peer.send_fin(1);
        let mut got = Vec::new();
        let error = reader.read_to_end(&mut got).unwrap_err();
        assert_eq!(got, vec![2; 1000]);
        assert_eq!(inner(&error).code(), Some(ErrorCode::FLOW_CONTROL_ERROR));
    });
}

// ----- REFUSED -----------------------------------------------------------------------

#[test]
fn refused_after_sending_goaway() {
    run(Default::default(), |mux, peer| {
        // A second open channel keeps the session up after "before" finishes: once
        // every channel finished after GOAWAY, the session ends (section 5).
        peer.send_init(2, 128, "keep");
        peer.expect(2, FrameType::Ack);
        peer.send_init(3, 128, "before");
        peer.expect(3, FrameType::Ack);
        mux.go_away(ErrorCode::NO_ERROR);
        let goaway = peer.frame();
        assert_eq!(
            goaway.control(),
            Some(Control::GoAway { code: ErrorCode::NO_ERROR, last_channel_index: 3 }),
            "GOAWAY names the last accepted index"
        );
        peer.send_init(4, 128, "after");
        peer.expect_err(4, ErrorCode::REFUSED);
        // Channels already open continue.
        peer.send_data(3, b"still");
        peer.send_fin(3);
        let mut text = String::new();
        mux.accept_channel("before").unwrap().read_to_string(&mut text).unwrap();
        assert_eq!(text, "still");
        // And this side opens nothing new.
        assert!(matches!(mux.open_channel(ChannelOptions::new("x")), Err(Error::GoingAway { .. })));
        let accept = mux.accept_channel_timeout("another", TIMEOUT).unwrap_err();
        assert!(matches!(accept, Error::GoingAway { .. }), "{accept:?}");
    });
}

#[test]
fn refused_after_receiving_goaway() {
    run(Default::default(), |mux, peer| {
        // An open channel keeps the session up: with none, GOAWAY ends it at once.
        peer.send_init(1, 128, "keep");
        peer.expect(1, FrameType::Ack);
        peer.send_control(Control::GoAway { code: ErrorCode::NO_ERROR, last_channel_index: 0 });
        peer.send_init(2, 128, "after");
        peer.expect_err(2, ErrorCode::REFUSED);
        assert!(matches!(mux.open_channel(ChannelOptions::new("x")), Err(Error::GoingAway { .. })));
    });
}

#[test]
fn refused_at_max_incoming_channels() {
    let options = MultiplexerOptions { max_incoming_channels: 2, ..Default::default() };
    run(options, |mux, peer| {
        peer.send_init(1, 128, "a");
        peer.expect(1, FrameType::Ack);
        peer.send_init(2, 128, "b");
        peer.expect(2, FrameType::Ack);
        // Both accepted by the application: the limit counts open channels.
        let a = mux.accept_channel("a").unwrap();
        let mut b = mux.accept_channel("b").unwrap();
        peer.send_init(3, 128, "c");
        peer.expect_err(3, ErrorCode::REFUSED);
        // Finishing one channel makes room.
        peer.send_fin(1);
        let mut rest = Vec::new();
        let mut a = a;
        a.read_to_end(&mut rest).unwrap();
        drop(a);
        peer.send_init(4, 128, "d");
        peer.expect(4, FrameType::Ack);
        peer.send_fin(2);
        peer.send_fin(4);
        assert_eq!(b.read(&mut [0; 4]).unwrap(), 0);
        assert_eq!(mux.accept_channel("d").unwrap().read(&mut [0; 4]).unwrap(), 0);
    });
}

#[test]
fn refused_at_max_pending_accepts() {
    let options = MultiplexerOptions { max_pending_accepts: 2, ..Default::default() };
    run(options, |mux, peer| {
        peer.send_init(1, 128, "a");
        peer.expect(1, FrameType::Ack);
        peer.send_init(2, 128, "b");
        peer.expect(2, FrameType::Ack);
        peer.send_init(3, 128, "c");
        peer.expect_err(3, ErrorCode::REFUSED);
        // Accepting one makes room.
        let a = mux.accept_channel("a").unwrap();
        peer.send_init(4, 128, "d");
        peer.expect(4, FrameType::Ack);
        for index in [1, 2, 4] {
            peer.send_fin(index);
        }
        let b = mux.accept_timeout(TIMEOUT).unwrap();
        let d = mux.accept_timeout(TIMEOUT).unwrap();
        assert_eq!((b.channel_id(), d.channel_id()), ("b", "d"), "accepted oldest first");
        for mut channel in [a, b, d] {
            assert_eq!(channel.read(&mut [0; 4]).unwrap(), 0);
        }
    });
}

// ----- refusals seen from the opening side -------------------------------------------

#[test]
fn opener_sees_refusals() {
    run(Default::default(), |mux, peer| {
        for (expected_index, (code, kind)) in (1..).zip([
            (ErrorCode::REFUSED, io::ErrorKind::ConnectionRefused),
            (ErrorCode::CHANNEL_EXISTS, io::ErrorKind::ConnectionRefused),
            (ErrorCode::PROTOCOL_ERROR, io::ErrorKind::ConnectionRefused),
        ]) {
            let opener = {
                let mux = mux.clone();
                std::thread::spawn(move || mux.open_channel(ChannelOptions::new("refused")))
            };
            let init = peer.expect(expected_index, FrameType::Init);
            peer.send_err(init.index, code, "no");
            let error = opener.join().unwrap().unwrap_err();
            assert!(matches!(&error, Error::Refused { code: got, .. } if *got == code), "{error:?}");
            assert_eq!(error.io_kind(), kind);
        }
        // A refused channel is never finished with FIN: nothing follows (checked by
        // the barrier of `run`).
    });
}

// ----- indices (section 2) -------------------------------------------------------------

#[test]
fn init_indices_may_have_gaps_up_to_the_highest() {
    run(Default::default(), |mux, peer| {
        for (index, id) in [(1, "one"), (10, "ten"), (0xFFFF_FFFE, "last")] {
            peer.send_init(index, 128, id);
            peer.expect(index, FrameType::Ack);
            peer.send_data(index, id.as_bytes());
            peer.send_fin(index);
            let mut channel = mux.accept_channel(id).unwrap();
            assert_eq!(channel.channel_index(), index);
            let mut text = String::new();
            channel.read_to_string(&mut text).unwrap();
            assert_eq!(text, id);
        }
    });
}
