//! Timeouts never break the framing: `recv_timeout` and `try_recv` that stop in
//! the middle of a message keep it and the next call completes it, `try_recv`
//! never blocks, and a send that times out keeps its unsent rest for later.

mod common;

use common::{bounded, pair, Checksum, Pattern, Transport, TIMEOUT};
use netconduit::transit::{FrameReceiver, FrameSender, TransitError};
use netconduit::{ChannelOptions, Multiplexer, MultiplexerOptions, WriteChannel};
use std::io::Write;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(payload);
    out
}

fn raw_and_receiver() -> (Multiplexer, Multiplexer, WriteChannel, FrameReceiver) {
    let (a, b) = pair(Transport::Memory, MultiplexerOptions::default(), MultiplexerOptions::default());
    let raw = a.open_channel(ChannelOptions::new("frames")).unwrap();
    let rx = FrameReceiver::new(b.accept_channel("frames").unwrap());
    (a, b, raw, rx)
}

/// Bytes written in one small `write` travel in one DATA frame, so once the first
/// message of such a write was received, the rest of the write has arrived too.
#[test]
fn recv_timeout_in_the_middle_of_a_message_keeps_it() {
    bounded(TIMEOUT, || {
        let (_a, _b, mut raw, mut rx) = raw_and_receiver();
        let second = frame(b"the second message, sent in two parts");
        let mut first_write = frame(b"first");
        first_write.extend_from_slice(&second[..12]); // its length and 8 payload bytes
        raw.write_all(&first_write).unwrap();

        assert_eq!(rx.recv().unwrap(), b"first");
        let started = Instant::now();
        assert!(matches!(rx.recv_timeout(Duration::from_millis(100)), Err(TransitError::Timeout)));
        assert!(started.elapsed() >= Duration::from_millis(100));
        assert!(rx.has_partial_message(), "the first part was taken and is kept");
        assert!(matches!(rx.recv_timeout(Duration::ZERO), Err(TransitError::Timeout)));

        raw.write_all(&second[12..]).unwrap();
        assert_eq!(rx.recv_timeout(TIMEOUT).unwrap(), b"the second message, sent in two parts");
        assert!(!rx.has_partial_message());
    });
}

#[test]
fn recv_timeout_with_nothing_waits_the_time_and_fails() {
    bounded(TIMEOUT, || {
        let (_a, _b, _raw, mut rx) = raw_and_receiver();
        let started = Instant::now();
        assert!(matches!(rx.recv_timeout(Duration::from_millis(150)), Err(TransitError::Timeout)));
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(150) && waited < TIMEOUT, "{waited:?}");
        assert!(!rx.has_partial_message());
    });
}

#[test]
fn try_recv_returns_only_complete_messages_and_never_blocks() {
    bounded(TIMEOUT, || {
        let (_a, _b, mut raw, mut rx) = raw_and_receiver();
        let started = Instant::now();
        assert_eq!(rx.try_recv().unwrap(), None);
        assert!(started.elapsed() < Duration::from_secs(1), "try_recv does not wait");

        let third = frame(b"third, in two parts");
        let mut write = [frame(b"one"), frame(b"two")].concat();
        write.extend_from_slice(&third[..6]);
        raw.write_all(&write).unwrap();
        assert_eq!(rx.recv().unwrap(), b"one");
        assert_eq!(rx.try_recv().unwrap().as_deref(), Some(&b"two"[..]));
        assert_eq!(rx.try_recv().unwrap(), None, "the third message is incomplete");
        assert!(rx.has_partial_message());

        let mut write = third[6..].to_vec();
        write.extend_from_slice(&frame(b"four"));
        raw.write_all(&write).unwrap();
        assert_eq!(rx.recv().unwrap(), b"third, in two parts");
        assert_eq!(rx.try_recv().unwrap().as_deref(), Some(&b"four"[..]));
        assert_eq!(rx.try_recv().unwrap(), None);

        raw.close().unwrap();
        assert!(matches!(rx.recv_timeout(TIMEOUT), Err(TransitError::Closed)));
        assert!(matches!(rx.try_recv(), Err(TransitError::Closed)), "the end is reported, not Ok(None)");
    });
}

/// A 1 MiB message delivered through many timeouts: the payload stage (read straight
/// into the message buffer) resumes after each.
#[test]
fn many_timeouts_inside_a_large_message_lose_nothing() {
    bounded(TIMEOUT, || {
        let (_a, _b, raw, mut rx) = raw_and_receiver();
        let message = Pattern::bytes(3, 1024 * 1024);
        let expected = Checksum::of(&message);
        let framed = frame(&message);
        let (first_done_tx, first_done) = mpsc::channel();
        let (go, go_rx) = mpsc::channel::<()>();
        let writer = thread::spawn(move || {
            let mut raw = raw;
            raw.write_all(&framed[..600 * 1024]).unwrap();
            first_done_tx.send(()).unwrap();
            go_rx.recv_timeout(TIMEOUT).unwrap();
            raw.write_all(&framed[600 * 1024..]).unwrap();
            raw.close().unwrap();
        });

        // The writer can only finish its first part once this side read most of it
        // (the window is 64 KiB), so every call here stops inside the message.
        let mut timeouts = 0;
        loop {
            match rx.recv_timeout(Duration::from_millis(5)) {
                Err(TransitError::Timeout) => timeouts += 1,
                other => panic!("expected a timeout, got {:?}", other.map(|m| m.len())),
            }
            if first_done.try_recv().is_ok() {
                break;
            }
        }
        assert!(rx.has_partial_message());
        assert_eq!(rx.try_recv().unwrap(), None);
        go.send(()).unwrap();
        let received = rx.recv_timeout(TIMEOUT).unwrap();
        assert_eq!(Checksum::of(&received), expected, "intact after {timeouts} timeouts");
        assert!(matches!(rx.recv_timeout(TIMEOUT), Err(TransitError::Closed)));
        writer.join().unwrap();
    });
}

/// A receiver that does not read keeps the sender's window shut; the send times out,
/// keeps the rest, and a later send queues behind it. Once the receiver reads,
/// `flush` hands both to the channel, whole and in order.
#[test]
fn send_timeout_keeps_the_unsent_rest() {
    bounded(TIMEOUT, || {
        let small_window = MultiplexerOptions { initial_window: 16 * 1024, ..Default::default() };
        let (a, b) = pair(Transport::Memory, MultiplexerOptions::default(), small_window);
        let channel = a.open_channel(ChannelOptions::new("slow").send_timeout(Duration::from_millis(100))).unwrap();
        let mut tx = FrameSender::new(channel);
        let big = Pattern::bytes(5, 200 * 1024);

        assert!(matches!(tx.send(&big), Err(TransitError::Timeout)));
        let pending = tx.pending();
        assert!(pending > 0 && pending <= big.len() + 4 - 16 * 1024, "pending {pending}");
        assert!(matches!(tx.send(b"next"), Err(TransitError::Timeout)));
        assert_eq!(tx.pending(), pending + 8, "the next message queued behind the rest");

        let mut rx = FrameReceiver::new(b.accept_channel("slow").unwrap());
        let reader = thread::spawn(move || {
            let messages: Vec<Vec<u8>> = rx.iter().map(Result::unwrap).collect();
            messages
        });
        tx.set_send_timeout(TIMEOUT);
        tx.flush().unwrap();
        assert_eq!(tx.pending(), 0);
        tx.wait_sent().unwrap();
        tx.send(b"last").unwrap();
        tx.close().unwrap();
        let messages = reader.join().unwrap();
        assert_eq!(messages.len(), 3);
        assert_eq!(Checksum::of(&messages[0]), Checksum::of(&big));
        assert_eq!(messages[1..], [b"next".to_vec(), b"last".to_vec()]);
    });
}
