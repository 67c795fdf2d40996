//! Every malformed input gives a clear error naming what was wrong, and the
//! receiver stays usable wherever the framing allows: bad JSON, JSON of the wrong
//! shape, an oversized length, a truncated stream (never a clean end), plus the
//! sender-side refusals.
#![cfg(feature = "json")]

mod common;

use common::{bounded, pair, Transport, TIMEOUT};
use netconduit::transit::{MessageReceiver, MessageSender, TransitError, TransitOptions};
use netconduit::{ChannelOptions, Multiplexer, MultiplexerOptions, WriteChannel};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Point {
    x: i32,
    y: i32,
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(payload);
    out
}

/// A raw write channel on `a` and a point receiver on `b` for channel `id`.
fn raw_and_receiver(options: &TransitOptions) -> (Multiplexer, Multiplexer, WriteChannel, MessageReceiver<Point>) {
    let (a, b) = pair(Transport::Memory, MultiplexerOptions::default(), MultiplexerOptions::default());
    let raw = a.open_channel(ChannelOptions::new("points")).unwrap();
    let rx = MessageReceiver::with_options(b.accept_channel("points").unwrap(), options);
    (a, b, raw, rx)
}

fn expect_err(result: Result<Point, TransitError>) -> TransitError {
    match result {
        Ok(point) => panic!("expected an error, got {point:?}"),
        Err(error) => error,
    }
}

#[test]
fn bad_json_is_named_and_skipped() {
    bounded(TIMEOUT, || {
        let (_a, _b, mut raw, mut rx) = raw_and_receiver(&TransitOptions::default());
        let bad: [&[u8]; 5] = [
            br#"{"x": 1, "y": "#,            // cut short
            b"not json at all",              // not JSON
            br#"{"x": 1, "y": 2} trailing"#, // a value, then garbage
            b"",                             // empty
            br#"{"x": "one", oops}"#,        // wrong type first, broken later: still "not JSON"
        ];
        for payload in bad {
            raw.write_all(&frame(payload)).unwrap();
        }
        raw.write_all(&frame(br#"{"x": 3, "y": 4}"#)).unwrap();
        for payload in bad {
            let error = expect_err(rx.recv());
            assert!(matches!(error, TransitError::InvalidJson { len, .. } if len == payload.len()), "{error:?}");
            assert!(error.is_recoverable());
            let text = error.to_string();
            assert!(text.contains("not valid JSON") && text.contains(&format!("{} bytes", payload.len())), "{text}");
        }
        assert_eq!(rx.recv().unwrap(), Point { x: 3, y: 4 });
    });
}

#[test]
fn wrong_shape_is_named_and_skipped() {
    bounded(TIMEOUT, || {
        let (_a, _b, mut raw, mut rx) = raw_and_receiver(&TransitOptions::default());
        raw.write_all(&frame(br#"{"x": 1}"#)).unwrap(); // missing field
        raw.write_all(&frame(br#"{"x": "one", "y": 2}"#)).unwrap(); // wrong type
        raw.write_all(&frame(br#"[1, 2, 3]"#)).unwrap(); // too many elements
        raw.write_all(&frame(br#"{"x": 5000000000, "y": 2}"#)).unwrap(); // out of range
        raw.write_all(&frame(br#"[5, 6]"#)).unwrap(); // a struct as a sequence is fine
        let mut texts = Vec::new();
        for _ in 0..4 {
            let error = expect_err(rx.recv());
            assert!(matches!(error, TransitError::WrongShape { .. }), "{error:?}");
            assert!(error.is_recoverable());
            texts.push(error.to_string());
        }
        assert!(texts[0].contains("does not match the expected type") && texts[0].contains("missing field `y`"));
        assert!(texts[1].contains("invalid type: string \"one\""), "{}", texts[1]);
        assert_eq!(rx.recv().unwrap(), Point { x: 5, y: 6 });
    });
}

#[test]
fn oversized_length_is_refused_then_skipped() {
    bounded(TIMEOUT, || {
        let options = TransitOptions::default().max_message_size(1024);
        let (_a, _b, mut raw, mut rx) = raw_and_receiver(&options);
        let mut big = br#"{"x": 1, "y": 1, "pad": ""#.to_vec();
        big.resize(3000, b'p');
        big.extend_from_slice(br#""}"#);
        raw.write_all(&frame(&big)).unwrap();
        raw.write_all(&frame(br#"{"x": 7, "y": 8}"#)).unwrap();
        let error = expect_err(rx.recv());
        assert!(matches!(error, TransitError::TooLarge { len: 3002, max: 1024 }), "{error:?}");
        assert!(error.to_string().contains("3002 bytes exceeds the limit of 1024"), "{error}");
        assert!(error.is_recoverable());
        assert_eq!(rx.recv().unwrap(), Point { x: 7, y: 8 }, "the oversized message was skipped whole");
    });
}

#[test]
fn absurd_length_is_refused_and_the_missing_bytes_are_a_truncation() {
    bounded(TIMEOUT, || {
        let (_a, _b, mut raw, mut rx) = raw_and_receiver(&TransitOptions::default());
        raw.write_all(&u32::MAX.to_be_bytes()).unwrap();
        raw.write_all(b"only a little").unwrap();
        raw.close().unwrap();
        let error = expect_err(rx.recv());
        assert!(matches!(error, TransitError::TooLarge { len, max } if len == u32::MAX as usize && max == 16 << 20));
        let error = expect_err(rx.recv());
        assert!(
            matches!(error, TransitError::Truncated { part: "payload", received: 13, expected } if expected == u32::MAX as usize),
            "{error:?}"
        );
    });
}

#[test]
fn truncation_inside_the_length_prefix_is_an_error_not_an_end() {
    bounded(TIMEOUT, || {
        let (_a, _b, mut raw, mut rx) = raw_and_receiver(&TransitOptions::default());
        raw.write_all(&frame(br#"{"x": 1, "y": 2}"#)).unwrap();
        raw.write_all(&[0, 0]).unwrap();
        raw.close().unwrap();
        assert_eq!(rx.recv().unwrap(), Point { x: 1, y: 2 });
        for _ in 0..2 {
            let error = expect_err(rx.recv());
            assert!(
                matches!(error, TransitError::Truncated { part: "length prefix", received: 2, expected: 4 }),
                "{error:?}"
            );
            assert!(!error.is_recoverable());
            assert!(error.to_string().contains("got 2 of 4 bytes of its length prefix"), "{error}");
        }
    });
}

#[test]
fn truncation_inside_the_payload_is_an_error_and_ends_iteration() {
    bounded(TIMEOUT, || {
        let (_a, _b, mut raw, mut rx) = raw_and_receiver(&TransitOptions::default());
        raw.write_all(&frame(br#"{"x": 1, "y": 2}"#)).unwrap();
        raw.write_all(&frame(b"{oops")).unwrap();
        let cut = frame(br#"{"x": 3, "y": 4}"#);
        raw.write_all(&cut[..10]).unwrap();
        raw.close().unwrap();
        let mut items = rx.iter();
        assert_eq!(items.next().unwrap().unwrap(), Point { x: 1, y: 2 });
        // A malformed message does not end the iteration...
        assert!(matches!(items.next(), Some(Err(TransitError::InvalidJson { len: 5, .. }))));
        // ...a truncated stream does, after reporting it.
        let error = items.next().unwrap().unwrap_err();
        assert!(matches!(error, TransitError::Truncated { part: "payload", received: 6, expected: 16 }), "{error:?}");
        assert!(items.next().is_none());
        assert!(matches!(rx.try_recv(), Err(TransitError::Truncated { .. })), "still truncated, never a clean end");
    });
}

#[test]
fn clean_end_between_messages_is_closed() {
    bounded(TIMEOUT, || {
        let (_a, _b, mut raw, mut rx) = raw_and_receiver(&TransitOptions::default());
        raw.write_all(&frame(br#"{"x": 1, "y": 2}"#)).unwrap();
        raw.close().unwrap();
        assert_eq!(rx.recv().unwrap(), Point { x: 1, y: 2 });
        assert!(matches!(rx.recv(), Err(TransitError::Closed)));
        assert!(matches!(rx.try_recv(), Err(TransitError::Closed)));
        assert!(rx.iter().next().is_none());
    });
}

#[test]
fn sender_refusals_send_nothing_and_leave_the_sender_usable() {
    bounded(TIMEOUT, || {
        let (a, b) = pair(Transport::Memory, MultiplexerOptions::default(), MultiplexerOptions::default());
        let options = TransitOptions::default().max_message_size(64);
        let mut tx: MessageSender<serde_json::Value> =
            MessageSender::with_options(a.open_channel(ChannelOptions::new("values")).unwrap(), &options);
        let mut rx: MessageReceiver<serde_json::Value> = MessageReceiver::new(b.accept_channel("values").unwrap());

        let error = tx.send(&serde_json::json!({ "text": "y".repeat(100) })).unwrap_err();
        assert!(matches!(error, TransitError::SendTooLarge { len: 111, max: 64 }), "{error:?}");
        assert!(error.is_recoverable());

        // serde_json cannot write a map whose keys are not strings.
        let mut keyed: MessageSender<BTreeMap<Vec<u8>, u8>> = MessageSender::from_frames(tx.into_frames());
        let error = keyed.send(&BTreeMap::from([(vec![1], 1)])).unwrap_err();
        assert!(matches!(error, TransitError::Encode(_)), "{error:?}");
        assert!(error.to_string().contains("could not be encoded as JSON"), "{error}");

        let mut tx: MessageSender<serde_json::Value> = MessageSender::from_frames(keyed.into_frames());
        tx.send(&serde_json::json!([1, 2, 3])).unwrap();
        tx.close().unwrap();
        assert_eq!(rx.recv().unwrap(), serde_json::json!([1, 2, 3]), "only the good message went out");
        assert!(matches!(rx.recv(), Err(TransitError::Closed)));
    });
}
