//! Messages interleaved across 10 transits at once stay on their transit and in
//! order: ten thread pairs talking concurrently, and one thread driving all ten
//! round-robin against a peer that answers on each.
#![cfg(feature = "json")]

mod common;

use common::{bounded, pair, Transport, TIMEOUT};
use netconduit::transit::MessageTransit;
use netconduit::MultiplexerOptions;
use serde::{Deserialize, Serialize};
use std::thread;

const TRANSITS: usize = 10;
const MESSAGES: u64 = 2_000;

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Note {
    transit: usize,
    seq: u64,
    text: String,
}

fn note(transit: usize, seq: u64) -> Note {
    // Sizes vary per transit and message, so frames of different transits interleave
    // at different offsets.
    Note { transit, seq, text: "x".repeat(((seq as usize * 31 + transit * 97) % 700) + 1) }
}

/// Each of ten transits on its own thread pair, both directions at once.
fn concurrent(transport: Transport) {
    bounded(TIMEOUT, move || {
        let (a, b) = pair(transport, MultiplexerOptions::default(), MultiplexerOptions::default());
        let mut threads = Vec::new();
        for (side, mux) in [(0usize, a.clone()), (1, b.clone())] {
            for transit in 0..TRANSITS {
                let mux = mux.clone();
                threads.push(thread::spawn(move || {
                    let id = format!("t{transit}");
                    let (mut tx, mut rx) = MessageTransit::<Note, Note>::open(&mux, &id).unwrap().split();
                    // Send on one thread, receive on another: the peer does the same.
                    let sending = thread::spawn(move || {
                        for seq in 0..MESSAGES {
                            tx.send(&note(transit * 2 + side, seq)).unwrap();
                        }
                        tx.close().unwrap();
                    });
                    let mut expected = 0;
                    for received in rx.iter() {
                        assert_eq!(received.unwrap(), note(transit * 2 + (1 - side), expected));
                        expected += 1;
                    }
                    assert_eq!(expected, MESSAGES);
                    sending.join().unwrap();
                }));
            }
        }
        for thread in threads {
            thread.join().unwrap();
        }
    });
}

/// One thread sends on all ten transits in turn, then receives from all ten in
/// turn; the peer echoes on each transit from its own thread.
fn round_robin(transport: Transport) {
    bounded(TIMEOUT, move || {
        let (a, b) = pair(transport, MultiplexerOptions::default(), MultiplexerOptions::default());
        let echoes: Vec<_> = (0..TRANSITS)
            .map(|transit| {
                let b = b.clone();
                thread::spawn(move || {
                    let (mut tx, mut rx) =
                        MessageTransit::<Note, Note>::open(&b, &format!("rr{transit}")).unwrap().split();
                    for received in rx.iter() {
                        tx.send(&received.unwrap()).unwrap();
                    }
                    tx.close().unwrap();
                })
            })
            .collect();
        let mut transits: Vec<MessageTransit<Note, Note>> =
            (0..TRANSITS).map(|transit| MessageTransit::open(&a, &format!("rr{transit}")).unwrap()).collect();
        const BATCH: u64 = 20;
        for round in 0..(MESSAGES / 10 / BATCH) {
            for (transit, t) in transits.iter_mut().enumerate() {
                for seq in round * BATCH..(round + 1) * BATCH {
                    t.send(&note(transit, seq)).unwrap();
                }
            }
            for (transit, t) in transits.iter_mut().enumerate() {
                for seq in round * BATCH..(round + 1) * BATCH {
                    assert_eq!(t.recv().unwrap(), note(transit, seq));
                }
            }
        }
        for t in transits {
            let (tx, mut rx) = t.split();
            tx.close().unwrap();
            assert!(rx.iter().next().is_none(), "the echo closes after our close");
        }
        for echo in echoes {
            echo.join().unwrap();
        }
    });
}

#[test]
fn ten_transits_interleave_over_memory() {
    concurrent(Transport::Memory);
    round_robin(Transport::Memory);
}

#[test]
fn ten_transits_interleave_over_tcp() {
    concurrent(Transport::Tcp);
    round_robin(Transport::Tcp);
}
