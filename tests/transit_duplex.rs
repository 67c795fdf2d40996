//! DuplexStream: opened from both sides by one name, used as one `Read + Write`,
//! half-closed with `shutdown_write`, split back into channels; over the in-memory
//! pipe and TCP loopback.

mod common;

use common::{bounded, pair, read_checksum, write_pattern, Transport, TIMEOUT};
use netconduit::transit::DuplexStream;
use netconduit::{ChannelOptions, Error, MultiplexerOptions};
use std::io::{self, Read, Write};
use std::thread;
use std::time::{Duration, Instant};

fn half_close(transport: Transport) {
    bounded(TIMEOUT, move || {
        let (a, b) = pair(transport, MultiplexerOptions::default(), MultiplexerOptions::default());
        let server = thread::spawn(move || {
            let mut conn = b.open_duplex("shout").unwrap();
            let mut request = Vec::new();
            conn.read_to_end(&mut request).unwrap(); // ends at the client's shutdown_write
                                                     // The client shut down its writing side only: it still reads.
            conn.write_all(&request.to_ascii_uppercase()).unwrap();
            conn.write_all(b"!").unwrap();
            conn.close().unwrap();
            b
        });
        let mut conn = DuplexStream::open(&a, "shout").unwrap();
        conn.write_all(b"hello, ").unwrap();
        conn.write_all(b"world").unwrap();
        conn.shutdown_write().unwrap();
        assert!(conn.is_write_shutdown());
        conn.shutdown_write().unwrap(); // again: nothing to do
        let error = conn.write(b"late").unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::BrokenPipe);
        conn.flush().unwrap();

        let mut reply = String::new();
        conn.read_to_string(&mut reply).unwrap();
        assert_eq!(reply, "HELLO, WORLD!");
        assert_eq!(conn.read(&mut [0; 8]).unwrap(), 0, "the end repeats");
        let _b = server.join().unwrap();
    });
}

#[test]
fn half_close_over_memory() {
    half_close(Transport::Memory);
}

#[test]
fn half_close_over_tcp() {
    half_close(Transport::Tcp);
}

/// Both directions at once, 8 MiB each, through split halves on separate threads.
fn bulk_both_ways(transport: Transport) {
    bounded(TIMEOUT, move || {
        let (a, b) = pair(transport, MultiplexerOptions::default(), MultiplexerOptions::default());
        const SIZE: u64 = 8 * 1024 * 1024;
        let sides: Vec<_> = [(a, 1u64), (b, 2u64)]
            .into_iter()
            .map(|(mux, seed)| {
                thread::spawn(move || {
                    let (mut reader, writer) = mux.open_duplex("bulk").unwrap().split();
                    let mut writer = writer.expect("not shut down");
                    let sending = thread::spawn(move || {
                        let sum = write_pattern(&mut writer, seed, SIZE).unwrap();
                        writer.close().unwrap();
                        sum
                    });
                    let received = read_checksum(&mut reader, 64 * 1024).unwrap();
                    (sending.join().unwrap(), received, mux)
                })
            })
            .collect();
        let results: Vec<_> = sides.into_iter().map(|side| side.join().unwrap()).collect();
        assert_eq!(results[0].0, results[1].1, "A to B intact");
        assert_eq!(results[1].0, results[0].1, "B to A intact");
        assert_eq!(results[0].0 .1, SIZE);
    });
}

#[test]
fn bulk_both_ways_over_memory() {
    bulk_both_ways(Transport::Memory);
}

#[test]
fn bulk_both_ways_over_tcp() {
    bulk_both_ways(Transport::Tcp);
}

#[test]
fn dropping_a_stream_stops_the_peer_writing() {
    bounded(TIMEOUT, || {
        let (a, b) = pair(Transport::Memory, MultiplexerOptions::default(), MultiplexerOptions::default());
        let peer = thread::spawn(move || {
            let conn = b.open_duplex("gone").unwrap();
            drop(conn);
            b
        });
        let mut conn = a.open_duplex("gone").unwrap();
        let _b = peer.join().unwrap();
        // The peer's FIN arrives: reading ends cleanly.
        assert_eq!(conn.read(&mut [0; 8]).unwrap(), 0);
        // Its ERR CANCEL arrives too: writing fails with BrokenPipe, at the latest
        // once the window is used up.
        let error = loop {
            if let Err(error) = conn.write(&[0; 4096]) {
                break error;
            }
        };
        assert_eq!(error.kind(), io::ErrorKind::BrokenPipe);
        assert!(conn.shutdown_write().is_err(), "the channel's failure is reported");
    });
}

#[test]
fn read_timeout_leaves_the_stream_usable() {
    bounded(TIMEOUT, || {
        let (a, b) = pair(Transport::Memory, MultiplexerOptions::default(), MultiplexerOptions::default());
        let b_side = b.clone(); // `b` stays alive here: its last handle ends the session
        let peer = thread::spawn(move || b_side.open_duplex("slow").unwrap());
        let mut conn = a.open_duplex("slow").unwrap();
        let mut peer_conn = peer.join().unwrap();
        conn.set_read_timeout(Some(Duration::from_millis(50)));
        let error = conn.read(&mut [0; 8]).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        peer_conn.write_all(b"later").unwrap();
        conn.set_read_timeout(Some(TIMEOUT));
        let mut buf = [0; 5];
        conn.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"later");
    });
}

#[test]
fn open_times_out_when_the_peer_never_opens() {
    bounded(TIMEOUT, || {
        let (a, _b) = pair(Transport::Memory, MultiplexerOptions::default(), MultiplexerOptions::default());
        let started = Instant::now();
        let options = ChannelOptions::new("lonely").open_timeout(Duration::from_millis(200));
        let error = DuplexStream::open_with(&a, options).unwrap_err();
        assert!(matches!(error, Error::Timeout(_)), "{error:?}");
        assert!(started.elapsed() >= Duration::from_millis(200));
    });
}

#[test]
fn new_and_split_round_trip_the_channels() {
    bounded(TIMEOUT, || {
        let (a, b) = pair(Transport::Memory, MultiplexerOptions::default(), MultiplexerOptions::default());
        let writer = a.open_channel(ChannelOptions::new("to-b")).unwrap();
        let peer_writer = b.open_channel(ChannelOptions::new("to-a")).unwrap();
        let reader = a.accept_channel("to-a").unwrap();
        let mut conn = DuplexStream::new(reader, writer);
        assert_eq!(conn.reader().channel_id(), "to-a");
        assert_eq!(conn.writer().map(|w| w.channel_id()), Some("to-b"));
        conn.write_all(b"ping").unwrap();
        let (reader, writer) = conn.split();
        assert!(writer.is_some());
        drop((reader, writer, peer_writer));
        let mut from_a = b.accept_channel("to-b").unwrap();
        let mut text = String::new();
        from_a.read_to_string(&mut text).unwrap();
        assert_eq!(text, "ping");
    });
}
