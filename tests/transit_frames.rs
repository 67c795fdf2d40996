//! FrameTransit: byte messages of any length, including empty, opened
//! symmetrically; its limits on both sides; its halves on two threads.

mod common;

use common::{bounded, pair, Checksum, Pattern, Transport, TIMEOUT};
use netconduit::transit::{FrameReceiver, FrameSender, TransitError, TransitOptions};
use netconduit::{ChannelOptions, MultiplexerOptions};
use std::thread;

/// Lengths around the read-ahead buffer (8 KiB), the frame chunk (16 KiB), the
/// window (64 KiB) and the payload growth step (64 KiB).
const LENGTHS: [usize; 16] = [0, 1, 3, 4, 5, 8191, 8192, 8193, 16_384, 16_389, 65_535, 65_536, 65_537, 131_073, 1, 0];

fn echo_lengths(transport: Transport) {
    bounded(TIMEOUT, move || {
        let (a, b) = pair(transport, MultiplexerOptions::default(), MultiplexerOptions::default());
        let b_side = b.clone();
        let echo = thread::spawn(move || {
            let (mut tx, mut rx) = b_side.open_frame_transit("lengths").unwrap().split();
            for message in rx.iter() {
                tx.send(&message.unwrap()).unwrap();
            }
            tx.close().unwrap();
        });
        let mut transit = a.open_frame_transit("lengths").unwrap();
        for (i, &len) in LENGTHS.iter().enumerate() {
            let message = Pattern::bytes(i as u64, len);
            transit.send(&message).unwrap();
            let back = transit.recv().unwrap();
            assert_eq!((back.len(), Checksum::of(&back)), (len, Checksum::of(&message)), "length {len}");
        }
        // All at once too: the receive side sees many frames per read.
        let (mut tx, mut rx) = transit.split();
        let sending = thread::spawn(move || {
            for (i, &len) in LENGTHS.iter().enumerate() {
                tx.send(&Pattern::bytes(100 + i as u64, len)).unwrap();
            }
            tx.close().unwrap();
        });
        let back: Vec<Vec<u8>> = rx.iter().map(Result::unwrap).collect();
        let expected: Vec<Vec<u8>> =
            LENGTHS.iter().enumerate().map(|(i, &len)| Pattern::bytes(100 + i as u64, len)).collect();
        assert!(back == expected, "batch echoed intact");
        sending.join().unwrap();
        echo.join().unwrap();
    });
}

#[test]
fn every_length_echoes_over_memory() {
    echo_lengths(Transport::Memory);
}

#[test]
fn every_length_echoes_over_tcp() {
    echo_lengths(Transport::Tcp);
}

#[test]
fn limits_apply_on_both_sides_and_iteration_continues_past_an_oversized_message() {
    bounded(TIMEOUT, || {
        let (a, b) = pair(Transport::Memory, MultiplexerOptions::default(), MultiplexerOptions::default());
        let small = TransitOptions::default().max_message_size(1000);
        let large = TransitOptions::default().max_message_size(100_000);
        let mut tx = FrameSender::with_options(a.open_channel(ChannelOptions::new("sized")).unwrap(), &large);
        let mut rx = FrameReceiver::with_options(b.accept_channel("sized").unwrap(), &small);

        assert!(matches!(tx.send(&[1; 100_001]), Err(TransitError::SendTooLarge { len: 100_001, max: 100_000 })));
        tx.send(&[2; 1000]).unwrap();
        tx.send(&[3; 50_000]).unwrap(); // the sender allows it, the receiver does not
        tx.send(&[4; 10]).unwrap();
        tx.close().unwrap();

        let items: Vec<Result<Vec<u8>, TransitError>> = rx.iter().collect();
        assert_eq!(items.len(), 3);
        assert_eq!(items[0].as_ref().unwrap(), &vec![2; 1000]);
        assert!(matches!(items[1], Err(TransitError::TooLarge { len: 50_000, max: 1000 })));
        assert_eq!(items[2].as_ref().unwrap(), &vec![4; 10]);
    });
}

#[test]
fn limits_above_the_length_prefix_act_as_its_maximum() {
    bounded(TIMEOUT, || {
        let (a, b) = pair(Transport::Memory, MultiplexerOptions::default(), MultiplexerOptions::default());
        let unlimited = TransitOptions::default().max_message_size(usize::MAX);
        let mut raw = a.open_channel(ChannelOptions::new("huge")).unwrap();
        let mut rx = FrameReceiver::with_options(b.accept_channel("huge").unwrap(), &unlimited);
        std::io::Write::write_all(&mut raw, &[0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3]).unwrap();
        raw.close().unwrap();
        // The largest length the prefix can carry is accepted (no TooLarge), and
        // only the bytes that came were stored.
        let error = rx.recv().unwrap_err();
        assert!(
            matches!(error, TransitError::Truncated { part: "payload", received: 3, expected } if expected == u32::MAX as usize),
            "{error:?}"
        );
    });
}
