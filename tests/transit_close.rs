//! Both peers closing at once: half-closes cross on the wire and each side still
//! receives everything; full closes at once neither hang nor lose the session;
//! multiplexers closing under blocked receivers wake them with an error.
#![cfg(feature = "json")]

mod common;

use common::{bounded, pair, Transport, TIMEOUT};
use netconduit::transit::{MessageTransit, TransitError};
use netconduit::{Error, ErrorCode, Multiplexer, MultiplexerOptions};
use std::io::{Read, Write};
use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::Duration;

const MESSAGES: u32 = 1_000;

/// Each side sends, closes its sending half at the same moment as the other, and
/// receives until the peer's close.
fn crossing_half_closes(transport: Transport) {
    bounded(TIMEOUT, move || {
        let (a, b) = pair(transport, MultiplexerOptions::default(), MultiplexerOptions::default());
        let barrier = Arc::new(Barrier::new(2));
        let sides: Vec<_> = [(a, 0u32), (b, 1u32)]
            .into_iter()
            .map(|(mux, side)| {
                let barrier = barrier.clone();
                thread::spawn(move || {
                    let transit: MessageTransit<(u32, u32), (u32, u32)> = mux.open_message_transit("bye").unwrap();
                    let (mut tx, mut rx) = transit.split();
                    let receiving = thread::spawn(move || {
                        let received: Vec<(u32, u32)> = rx.iter().map(Result::unwrap).collect();
                        received
                    });
                    for seq in 0..MESSAGES {
                        tx.send(&(side, seq)).unwrap();
                    }
                    barrier.wait();
                    tx.close().unwrap();
                    let received = receiving.join().unwrap();
                    let expected: Vec<(u32, u32)> = (0..MESSAGES).map(|seq| (1 - side, seq)).collect();
                    assert_eq!(received, expected, "side {side} got everything, in order, then the end");
                    mux
                })
            })
            .collect();
        // Joined before any multiplexer is dropped: dropping the last handle aborts
        // the session, which would cut off the other side.
        let _muxes: Vec<_> = sides.into_iter().map(|side| side.join().unwrap()).collect();
    });
}

#[test]
fn crossing_half_closes_over_memory() {
    crossing_half_closes(Transport::Memory);
}

#[test]
fn crossing_half_closes_over_tcp() {
    crossing_half_closes(Transport::Tcp);
}

/// Both sides close the whole transit at once, after exchanging messages. Closing
/// also stops the receiving half, so a side may learn that the peer stopped
/// reading before its own FIN went out: `close` then reports the peer's CANCEL.
/// Nothing hangs, the sessions stay healthy, and the name can be used again at once.
#[test]
fn simultaneous_full_closes() {
    bounded(TIMEOUT, || {
        let (a, b) = pair(Transport::Memory, MultiplexerOptions::default(), MultiplexerOptions::default());
        for round in 0..20 {
            let barrier = Arc::new(Barrier::new(2));
            let sides: Vec<_> = [a.clone(), b.clone()]
                .into_iter()
                .map(|mux| {
                    let barrier = barrier.clone();
                    thread::spawn(move || {
                        let mut transit: MessageTransit<u32, u32> = mux.open_message_transit("full").unwrap();
                        transit.send(&round).unwrap();
                        assert_eq!(transit.recv().unwrap(), round);
                        barrier.wait();
                        transit.close()
                    })
                })
                .collect();
            for side in sides {
                match side.join().unwrap() {
                    Ok(()) => {}
                    Err(TransitError::Channel(Error::ChannelReset { code, .. })) if code == ErrorCode::CANCEL => {}
                    Err(other) => panic!("round {round}: unexpected close error {other:?}"),
                }
            }
        }
        assert!(a.error().is_none() && b.error().is_none(), "the sessions are unharmed");
    });
}

#[test]
fn crossing_duplex_shutdowns() {
    bounded(TIMEOUT, || {
        let (a, b) = pair(Transport::Tcp, MultiplexerOptions::default(), MultiplexerOptions::default());
        let barrier = Arc::new(Barrier::new(2));
        let sides: Vec<_> = [(a, b"from a"), (b, b"from b")]
            .into_iter()
            .map(|(mux, text)| {
                let barrier = barrier.clone();
                thread::spawn(move || {
                    let mut conn = mux.open_duplex("pipe").unwrap();
                    conn.write_all(text).unwrap();
                    barrier.wait();
                    conn.shutdown_write().unwrap();
                    let mut received = Vec::new();
                    conn.read_to_end(&mut received).unwrap();
                    (received, mux)
                })
            })
            .collect();
        let results: Vec<_> = sides.into_iter().map(|side| side.join().unwrap()).collect();
        let received: Vec<&[u8]> = results.iter().map(|(received, _mux)| received.as_slice()).collect();
        assert_eq!(received, [b"from b", b"from a"]);
    });
}

/// Two transits blocked in `recv`, one on each side; `end` then ends both
/// sessions at once. Returns what each `recv` returned.
fn end_both_under_blocked_receivers(
    options: MultiplexerOptions,
    end: fn(Multiplexer),
) -> Vec<Result<u32, TransitError>> {
    let (a, b) = pair(Transport::Memory, options.clone(), options);
    let (opened_tx, opened) = mpsc::channel();
    let receivers: Vec<_> = [a.clone(), b.clone()]
        .into_iter()
        .map(|mux| {
            let opened_tx = opened_tx.clone();
            thread::spawn(move || {
                let mut transit: MessageTransit<u32, u32> = MessageTransit::open(&mux, "idle").unwrap();
                drop(mux);
                opened_tx.send(()).unwrap();
                transit.recv()
            })
        })
        .collect();
    for _ in 0..2 {
        opened.recv_timeout(TIMEOUT).unwrap();
    }
    let barrier = Arc::new(Barrier::new(2));
    let enders: Vec<_> = [a, b]
        .into_iter()
        .map(|mux| {
            let barrier = barrier.clone();
            thread::spawn(move || {
                barrier.wait();
                end(mux);
            })
        })
        .collect();
    for ender in enders {
        ender.join().unwrap();
    }
    receivers.into_iter().map(|receiver| receiver.join().unwrap()).collect()
}

/// Both multiplexers abort while each side is blocked in `recv`: both wake with
/// the channel's failure, never with a clean end.
#[test]
fn aborts_at_once_wake_blocked_receivers() {
    bounded(TIMEOUT, || {
        for result in end_both_under_blocked_receivers(MultiplexerOptions::default(), |mux| mux.abort()) {
            assert!(matches!(result, Err(TransitError::Channel(_))), "expected a channel failure, got {result:?}");
        }
    });
}

/// Both multiplexers close gracefully at once while the transits stay open: after
/// the GOAWAY drain time the channels fail, and the receivers report that as a
/// failure of the channel, not as a retryable timeout.
#[test]
fn graceful_closes_at_once_fail_transits_left_open() {
    bounded(TIMEOUT, || {
        let options = MultiplexerOptions { goaway_timeout: Duration::from_millis(200), ..Default::default() };
        for result in end_both_under_blocked_receivers(options, |mux| mux.close()) {
            match result {
                // The drain's timeout on one side, the transport's end on the other.
                Err(TransitError::Channel(error)) => eprintln!("receiver woke with: {error}"),
                other => panic!("expected a channel failure, got {other:?}"),
            }
        }
    });
}
