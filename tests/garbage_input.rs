//! Garbage and truncated input end a session with an error or end of stream in
//! bounded time: never a panic, never a hang. What the multiplexer writes stays a
//! valid frame stream throughout.

mod common;

use common::*;
use netconduit::proto::control::Control;
use netconduit::proto::decoder::{Decoder, FrameSink};
use netconduit::proto::frame::{self, FrameError, FrameHeader};
use netconduit::transport::memory;
use netconduit::{Error, Multiplexer, MultiplexerOptions};
use proptest::prelude::*;
use std::io::{self, Read, Write};
use std::thread;
use std::time::Duration;

/// Accepts any well-formed frame; the decoder rejects malformed ones.
#[derive(Default)]
struct Valid;

impl FrameSink for Valid {
    type Error = FrameError;
    fn frame(&mut self, _: FrameHeader, _: &[u8]) -> Result<(), FrameError> {
        Ok(())
    }
    fn data(&mut self, _: FrameHeader, _: u32, _: &[u8]) -> Result<(), FrameError> {
        Ok(())
    }
}

/// Feeds `input` to a fresh multiplexer over the memory pipe, then closes the
/// input. Returns the session's error. Fails (never hangs) if the session does not
/// end, or if the multiplexer's own output is not a valid frame stream.
fn feed(input: Vec<u8>) -> Error {
    bounded(Duration::from_secs(30), move || {
        let (ours, theirs) = memory::duplex();
        let (reader, writer) = ours.split();
        let options = MultiplexerOptions { handshake_timeout: TIMEOUT, ..Default::default() };
        let mux = Multiplexer::new(reader, writer, options).unwrap();
        let (mut from_mux, mut to_mux) = theirs.split();

        // Drain what the multiplexer writes until it closes, checking it decodes.
        let drain = thread::spawn(move || {
            let mut decoder = Decoder::new(frame::DEFAULT_MAX_FRAME_SIZE);
            let mut valid = Valid;
            let mut buf = [0u8; 4096];
            loop {
                let n = from_mux.read(&mut buf).unwrap();
                if n == 0 {
                    assert!(decoder.is_at_frame_boundary(), "the multiplexer's output ends inside a frame");
                    return;
                }
                decoder.feed(&buf[..n], &mut valid).expect("the multiplexer writes valid frames");
            }
        });

        // The multiplexer may stop reading (and close) at any point.
        let _ = to_mux.write_all(&input);
        drop(to_mux);

        // Accept until the session reports its end; a random INIT may get through.
        let error = loop {
            match mux.accept_timeout(TIMEOUT) {
                Ok(channel) => drop(channel),
                Err(Error::Timeout(_)) => panic!("the session did not end after its input closed"),
                Err(error) => break error,
            }
        };
        assert!(mux.error().is_some());
        drop(mux);
        // (Its HANDSHAKE may never have gone out if the input ended first.)
        drain.join().expect("the multiplexer's output decodes");
        error
    })
}

fn handshake() -> Vec<u8> {
    let mut out = Vec::new();
    Control::Handshake { session_id: 11, max_frame_size: None }.encode(&mut out);
    out
}

/// A plausible frame: a header with a small index and any of the frame types (or a
/// bad one), and a payload of the declared length.
fn plausible_frame() -> impl Strategy<Value = Vec<u8>> {
    (prop_oneof![Just(0u32), 1u32..5, Just(u32::MAX)], 0u8..7, proptest::collection::vec(any::<u8>(), 0..48)).prop_map(
        |(index, kind, payload)| {
            let mut out = index.to_be_bytes().to_vec();
            out.push(kind);
            out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
            out.extend_from_slice(&payload);
            out
        },
    )
}

/// Frames and garbage mixed, optionally after a valid HANDSHAKE, optionally cut
/// anywhere.
fn garbage() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        3 => plausible_frame(),
        1 => proptest::collection::vec(any::<u8>(), 0..64),
    ];
    (any::<bool>(), proptest::collection::vec(piece, 0..12), any::<prop::sample::Index>()).prop_map(
        |(shake, pieces, cut)| {
            let mut out = if shake { handshake() } else { Vec::new() };
            for piece in pieces {
                out.extend(piece);
            }
            let keep = cut.index(out.len() + 1).max(out.len().min(if shake { 22 } else { 0 }));
            out.truncate(keep);
            out
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Pure random bytes.
    #[test]
    fn random_bytes_end_the_session(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        feed(bytes);
    }

    /// Random frames and garbage, with and without a handshake first.
    #[test]
    fn random_frames_end_the_session(input in garbage()) {
        feed(input);
    }
}

#[test]
fn empty_input_is_end_of_stream() {
    let error = feed(Vec::new());
    assert_eq!(error.io_kind(), io::ErrorKind::UnexpectedEof, "{error:?}");
}

#[test]
fn truncated_header_is_end_of_stream() {
    let mut input = handshake();
    input.extend_from_slice(&[0, 0, 0, 1, 1]);
    let error = feed(input);
    assert!(matches!(error, Error::Transport(_)), "{error:?}");
    assert_eq!(error.io_kind(), io::ErrorKind::UnexpectedEof);
}

#[test]
fn truncated_payload_is_end_of_stream() {
    let mut input = handshake();
    frame::put_init(&mut input, 1, 128, "cut");
    frame::put_header(&mut input, 1, frame::FrameType::Data, 1000);
    input.extend_from_slice(&[9; 10]);
    let error = feed(input);
    assert!(matches!(error, Error::Transport(_)), "{error:?}");
}

#[test]
fn truncated_handshake_is_end_of_stream() {
    let input = handshake()[..15].to_vec();
    let error = feed(input);
    assert!(matches!(error, Error::Transport(_)), "{error:?}");
}

/// A reader of a channel cut off by a truncated stream sees the bytes that came,
/// then an error: never a clean end.
#[test]
fn truncated_stream_fails_open_readers() {
    bounded(Duration::from_secs(30), || {
        let (mux, mut peer) = raw_memory(MultiplexerOptions::default());
        peer.send_init(1, 128, "cut");
        peer.expect(1, frame::FrameType::Ack);
        peer.send_data(1, b"partial");
        let mut header = Vec::new();
        frame::put_header(&mut header, 1, frame::FrameType::Data, 100);
        peer.send_ok(&header);
        peer.send_ok(b"12345");
        let mut reader = mux.accept_channel("cut").unwrap();
        let mut first = [0u8; 12];
        let mut got = Vec::new();
        // The 5 bytes of the unfinished frame are already deliverable.
        while got.len() < 12 {
            let n = reader.read(&mut first).unwrap();
            got.extend_from_slice(&first[..n]);
        }
        assert_eq!(got, b"partial12345");
        peer.close();
        let error = reader.read(&mut first).expect_err("an error, not end of stream");
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
        assert!(matches!(inner(&error), Error::Transport(_)));
    });
}

/// A peer that sends a header announcing a huge payload and then nothing more
/// is not waited on with a buffer of that size, and its close ends the session.
#[test]
fn huge_declared_length_within_the_limit_then_close() {
    let mut input = handshake();
    frame::put_header(&mut input, 0, frame::FrameType::Data, 16 * 1024 * 1024);
    input.push(0x01);
    let error = feed(input);
    assert!(matches!(error, Error::Transport(_)), "{error:?}");
}
