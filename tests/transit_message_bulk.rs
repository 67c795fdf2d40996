//! 100,000 small messages arrive complete and in order, over the in-memory pipe and
//! TCP loopback, as JSON messages and as byte frames.
mod common;

use common::{bounded, pair, Transport};
use netconduit::transit::{FrameReceiver, FrameSender};
use netconduit::{ChannelOptions, MultiplexerOptions};
use std::thread;
use std::time::{Duration, Instant};

const COUNT: u64 = 100_000;
const LIMIT: Duration = Duration::from_secs(120);

fn byte_frames(transport: Transport) {
    bounded(LIMIT, move || {
        let (a, b) = pair(transport, MultiplexerOptions::default(), MultiplexerOptions::default());
        let started = Instant::now();
        let writer = a.open_channel(ChannelOptions::new("frames")).unwrap();
        let sender = thread::spawn(move || {
            let mut tx = FrameSender::new(writer);
            for seq in 0..COUNT {
                // Lengths 0..=16 bytes: the sequence number, cut to vary the framing.
                let bytes = seq.to_be_bytes();
                let frame: Vec<u8> = bytes.iter().chain(bytes.iter()).copied().take((seq % 17) as usize).collect();
                tx.send(&frame).unwrap();
            }
            tx.close().unwrap();
        });
        let mut rx = FrameReceiver::new(b.accept_channel("frames").unwrap());
        let mut seq = 0u64;
        for frame in rx.iter() {
            let frame = frame.unwrap();
            let bytes = seq.to_be_bytes();
            let expected: Vec<u8> = bytes.iter().chain(bytes.iter()).copied().take((seq % 17) as usize).collect();
            assert_eq!(frame, expected, "frame {seq}");
            seq += 1;
        }
        assert_eq!(seq, COUNT);
        sender.join().unwrap();
        eprintln!("{COUNT} byte frames over {transport:?}: {:.2?}", started.elapsed());
    });
}

#[test]
fn hundred_thousand_byte_frames_in_order_over_memory() {
    byte_frames(Transport::Memory);
}

#[test]
fn hundred_thousand_byte_frames_in_order_over_tcp() {
    byte_frames(Transport::Tcp);
}

/// The same with JSON messages.
#[cfg(feature = "json")]
mod json {
    use super::*;
    use common::Checksum;
    use netconduit::transit::{MessageReceiver, MessageSender};
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Tick {
        seq: u64,
        label: String,
    }

    fn tick(seq: u64) -> Tick {
        Tick { seq, label: format!("t{}", seq % 1000) }
    }

    fn json_messages(transport: Transport) {
        bounded(LIMIT, move || {
            let (a, b) = pair(transport, MultiplexerOptions::default(), MultiplexerOptions::default());
            let started = Instant::now();
            let writer = a.open_channel(ChannelOptions::new("ticks")).unwrap();
            let sender = thread::spawn(move || {
                let mut tx = MessageSender::<Tick>::new(writer);
                let mut sum = Checksum::default();
                for seq in 0..COUNT {
                    let tick = tick(seq);
                    sum.update(tick.label.as_bytes());
                    tx.send(&tick).unwrap();
                }
                tx.close().unwrap();
                sum.finish()
            });
            let mut rx = MessageReceiver::<Tick>::new(b.accept_channel("ticks").unwrap());
            let mut sum = Checksum::default();
            let mut expected = 0;
            for tick in rx.iter() {
                let tick = tick.unwrap();
                assert_eq!(tick.seq, expected, "messages arrive in order");
                sum.update(tick.label.as_bytes());
                expected += 1;
            }
            assert_eq!(expected, COUNT);
            assert_eq!(sender.join().unwrap(), sum.finish());
            eprintln!("{COUNT} JSON messages over {transport:?}: {:.2?}", started.elapsed());
        });
    }

    #[test]
    fn hundred_thousand_json_messages_in_order_over_memory() {
        json_messages(Transport::Memory);
    }

    #[test]
    fn hundred_thousand_json_messages_in_order_over_tcp() {
        json_messages(Transport::Tcp);
    }
}
