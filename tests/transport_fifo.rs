//! A pair of named pipes (FIFOs), one per direction, as the transport: checksummed
//! bulk transfers both ways, then a graceful close. A FIFO cannot be shut down from
//! another thread, and needs no hook: when a closing multiplexer's writer thread
//! ends it drops its end, the peer reads end of stream, ends its session and drops
//! its own writing end in turn.
#![cfg(unix)]

mod common;
#[path = "transport/support.rs"]
mod support;

use common::*;
use netconduit::{Error, Multiplexer, MultiplexerOptions};
use std::fs::{File, OpenOptions};
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::Duration;

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().expect("run mkfifo");
    assert!(status.success(), "mkfifo {} failed: {status}", path.display());
}

/// Opens one side: `outgoing` for writing, `incoming` for reading. Opening a FIFO
/// blocks until its other end is opened too, so the two sides open their FIFOs in
/// the same order (side A writes the first, side B reads it).
fn open_side(outgoing: &Path, incoming: &Path, writer_first: bool) -> (File, File) {
    let open_writer = || OpenOptions::new().write(true).open(outgoing).expect("open the outgoing FIFO");
    let open_reader = || File::open(incoming).expect("open the incoming FIFO");
    if writer_first {
        let writer = open_writer();
        (open_reader(), writer)
    } else {
        let reader = open_reader();
        (reader, open_writer())
    }
}

#[test]
fn fifo_pair_carries_bulk_both_ways_and_closes() {
    bounded(Duration::from_secs(120), || {
        let dir = support::TempDir::new("fifo");
        let (a_to_b, b_to_a) = (dir.path().join("a-to-b"), dir.path().join("b-to-a"));
        mkfifo(&a_to_b);
        mkfifo(&b_to_a);

        let side_b = {
            let (a_to_b, b_to_a) = (a_to_b.clone(), b_to_a.clone());
            thread::spawn(move || open_side(&b_to_a, &a_to_b, false))
        };
        let (reader, writer) = open_side(&a_to_b, &b_to_a, true);
        let a = Multiplexer::new(reader, writer, MultiplexerOptions::default()).expect("A starts");
        let (reader, writer) = side_b.join().unwrap();
        let b = Multiplexer::new(reader, writer, MultiplexerOptions::default()).expect("B starts");
        a.wait_ready(TIMEOUT).expect("handshake A");
        b.wait_ready(TIMEOUT).expect("handshake B");

        support::bulk_both_ways("fifo pair", &a, &b, 32 << 20);

        a.close();
        let error = b.accept_timeout(TIMEOUT).expect_err("B's session ended with A's");
        assert!(!matches!(error, Error::Timeout(_)), "B saw the end, not its own timeout: {error:?}");
        b.close();
    });
}
