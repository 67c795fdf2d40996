//! The control channel (PROTOCOL.md section 5): PING is answered with PONG,
//! unknown subtypes and trailing bytes are ignored, CREDIT_GRANT works like ACK.

mod common;

use common::*;
use netconduit::proto::control::Control;
use netconduit::proto::frame::{self, FrameType};
use netconduit::{ChannelOptions, MultiplexerOptions};
use std::io::Write;
use std::thread;
use std::time::Duration;

fn control_frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    frame::put_data(&mut out, 0, payload);
    out
}

#[test]
fn ping_is_answered_with_the_same_timestamp() {
    bounded(Duration::from_secs(30), || {
        let (_mux, mut peer) = raw_memory(MultiplexerOptions::default());
        for stamp in [0, 1, u64::MAX, 0x0102_0304_0506_0708] {
            peer.send_control(Control::Ping(stamp));
            assert_eq!(peer.frame().control(), Some(Control::Pong(stamp)));
        }
    });
}

#[test]
fn trailing_bytes_after_fields_are_ignored() {
    bounded(Duration::from_secs(30), || {
        let (mux, mut peer) = raw_memory(MultiplexerOptions::default());
        let mut ping = vec![0x01];
        ping.extend_from_slice(&77u64.to_be_bytes());
        ping.extend_from_slice(b"future fields");
        peer.send_ok(&control_frame(&ping));
        assert_eq!(peer.frame().control(), Some(Control::Pong(77)));
        // A PONG with trailing bytes needs no answer.
        let mut pong = vec![0x02];
        pong.extend_from_slice(&5u64.to_be_bytes());
        pong.push(0xEE);
        peer.send_ok(&control_frame(&pong));
        assert_eq!(peer.barrier(), vec![]);
        assert!(mux.error().is_none());
    });
}

#[test]
fn unknown_subtypes_are_ignored() {
    bounded(Duration::from_secs(30), || {
        let (mux, mut peer) = raw_memory(MultiplexerOptions::default());
        for subtype in [0x00u8, 0x08, 0x42, 0xFF] {
            peer.send_ok(&control_frame(&[subtype]));
            peer.send_ok(&control_frame(&[subtype, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]));
        }
        assert_eq!(peer.barrier(), vec![]);
        assert!(mux.error().is_none());
    });
}

#[test]
fn handshake_with_trailing_bytes_is_accepted() {
    bounded(Duration::from_secs(30), || {
        let (mux, mut peer) = raw_memory_unshaken(MultiplexerOptions::default());
        peer.expect_handshake();
        let mut handshake = vec![0x03];
        handshake.extend_from_slice(&99u64.to_be_bytes());
        handshake.extend_from_slice(&(1u32 << 20).to_be_bytes());
        handshake.extend_from_slice(b"more");
        peer.send_ok(&control_frame(&handshake));
        mux.wait_ready(TIMEOUT).unwrap();
        assert_eq!(mux.peer_session_id(), Some(99));
    });
}

/// CREDIT_GRANT naming a channel counts as its first grant, like ACK.
#[test]
fn credit_grant_opens_and_refills_a_channel() {
    bounded(Duration::from_secs(30), || {
        let (mux, mut peer) = raw_memory(MultiplexerOptions::default());
        let opener = {
            let mux = mux.clone();
            thread::spawn(move || mux.open_channel(ChannelOptions::new("cg")))
        };
        let init = peer.expect(1, FrameType::Init);
        peer.send_control(Control::CreditGrant { index: init.index, credits: 5 });
        let mut channel = opener.join().unwrap().expect("CREDIT_GRANT opens the channel");
        assert_eq!(channel.available_credits(), 5);
        channel.write_all(b"12345").unwrap();
        assert_eq!(channel.available_credits(), 0);
        assert_eq!(peer.expect(init.index, FrameType::Data).payload, b"12345");
        peer.send_control(Control::CreditGrant { index: init.index, credits: 3 });
        channel.write_all(b"678").unwrap();
        assert_eq!(peer.expect(init.index, FrameType::Data).payload, b"678");
        channel.close().unwrap();
        peer.expect(init.index, FrameType::Fin);
    });
}

/// Before the peer's HANDSHAKE a sender keeps payloads at 16,384 bytes; after it,
/// within the announced size (here the smallest, 16,384, with a large chunk size).
#[test]
fn data_frames_respect_the_peers_max_frame_size() {
    bounded(Duration::from_secs(30), || {
        let options = MultiplexerOptions { frame_chunk_size: 64 * 1024, ..Default::default() };
        let (mux, mut peer) = raw_memory_unshaken(options);
        peer.expect_handshake();
        peer.send_handshake(3, Some(16 * 1024));
        mux.wait_ready(TIMEOUT).unwrap();
        let (index, mut channel) = open_from_mux(&mux, &mut peer, "big", 1 << 20);
        let data = Pattern::bytes(4, 200_000);
        channel.write_all(&data).unwrap();
        channel.close().unwrap();
        assert_eq!(peer.data_until_fin(index, 16 * 1024), data);
    });
}

/// A peer that never sends HANDSHAKE is given up on after `handshake_timeout`.
#[test]
fn silent_peer_is_given_up_after_handshake_timeout() {
    bounded(Duration::from_secs(30), || {
        let options = MultiplexerOptions { handshake_timeout: Duration::from_millis(100), ..Default::default() };
        let (mux, mut peer) = raw_memory_unshaken(options);
        peer.expect_handshake();
        let error = mux.wait_ready(TIMEOUT).unwrap_err();
        assert!(matches!(error, netconduit::Error::SessionTimeout("handshake")), "{error:?}");
        // The transport is closed (after an ERROR TIMEOUT, if any).
        loop {
            match peer.next_event(TIMEOUT) {
                Some(PeerEvent::Frame(frame)) => {
                    let control = frame.control();
                    assert!(matches!(control, Some(Control::Error { .. })), "{frame:?}")
                }
                Some(PeerEvent::Eof) | Some(PeerEvent::Failed(_)) => break,
                None => panic!("the transport stayed open"),
            }
        }
        assert!(mux.open_channel(ChannelOptions::new("x")).is_err());
    });
}
