//! A 10 MiB message arrives whole, as a byte frame and as JSON, over the in-memory
//! pipe and TCP loopback; the default 16 MiB limit admits it.
mod common;

use common::{bounded, pair, Checksum, Pattern, Transport};
use netconduit::transit::FrameTransit;
use netconduit::MultiplexerOptions;
use std::thread;
use std::time::{Duration, Instant};

const SIZE: usize = 10 * 1024 * 1024;
const LIMIT: Duration = Duration::from_secs(120);

fn frame(transport: Transport) {
    bounded(LIMIT, move || {
        let (a, b) = pair(transport, MultiplexerOptions::default(), MultiplexerOptions::default());
        let started = Instant::now();
        // The peer thread gets a clone: the last handle's drop would end the session
        // before the answer was written.
        let b_side = b.clone();
        let peer = thread::spawn(move || {
            let mut transit = FrameTransit::open(&b_side, "big").unwrap();
            let message = transit.recv().unwrap();
            let small = transit.recv().unwrap();
            // Answer with the checksum, so the sender knows it arrived intact.
            let (hash, len) = Checksum::of(&message);
            transit.send(&[hash.to_be_bytes(), len.to_be_bytes()].concat()).unwrap();
            assert_eq!(small, b"after");
        });
        let mut transit = FrameTransit::open(&a, "big").unwrap();
        let message = Pattern::bytes(7, SIZE);
        transit.send(&message).unwrap();
        transit.send(b"after").unwrap();
        let answer = transit.recv().unwrap();
        let (hash, len) = Checksum::of(&message);
        assert_eq!(answer, [hash.to_be_bytes(), len.to_be_bytes()].concat());
        peer.join().unwrap();
        eprintln!("10 MiB frame over {transport:?}: {:.2?}", started.elapsed());
    });
}

#[test]
fn ten_mib_message_over_memory() {
    frame(Transport::Memory);
    #[cfg(feature = "json")]
    json::json(Transport::Memory);
}

#[test]
fn ten_mib_message_over_tcp() {
    frame(Transport::Tcp);
    #[cfg(feature = "json")]
    json::json(Transport::Tcp);
}

#[cfg(feature = "json")]
mod json {
    use super::*;
    use netconduit::transit::MessageTransit;
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize)]
    struct Upload {
        name: String,
        /// Hex text, so the JSON is about 10 MiB too.
        body: String,
        after: u32,
    }

    fn hex(bytes: &[u8]) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(bytes.len() * 2);
        for &b in bytes {
            out.push(DIGITS[(b >> 4) as usize] as char);
            out.push(DIGITS[(b & 15) as usize] as char);
        }
        out
    }

    pub fn json(transport: Transport) {
        bounded(LIMIT, move || {
            let (a, b) = pair(transport, MultiplexerOptions::default(), MultiplexerOptions::default());
            let body = hex(&Pattern::bytes(11, SIZE / 2));
            let expected = Checksum::of(body.as_bytes());
            let started = Instant::now();
            let b_side = b.clone();
            let peer = thread::spawn(move || {
                let mut transit: MessageTransit<(u64, u64), Upload> = MessageTransit::open(&b_side, "upload").unwrap();
                let upload = transit.recv().unwrap();
                assert_eq!((upload.name.as_str(), upload.after), ("payload.bin", 42));
                transit.send(&Checksum::of(upload.body.as_bytes())).unwrap();
            });
            let mut transit: MessageTransit<Upload, (u64, u64)> = MessageTransit::open(&a, "upload").unwrap();
            transit.send(&Upload { name: "payload.bin".into(), body, after: 42 }).unwrap();
            assert_eq!(transit.recv().unwrap(), expected);
            peer.join().unwrap();
            eprintln!("10 MiB JSON message over {transport:?}: {:.2?}", started.elapsed());
        });
    }
}
