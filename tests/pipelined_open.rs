//! Pipelined opens (`ChannelOptions::wait_for_ack(false)`): the channel is usable at
//! once, bytes wait for the peer's first grant, and a refusal surfaces on the
//! channel afterwards.

mod common;

use common::*;
use netconduit::proto::frame::{self, FrameType};
use netconduit::{ChannelOptions, Error, ErrorCode, MultiplexerOptions};
use std::io::{Read, Write};
use std::thread;
use std::time::Duration;

const CHANNELS: usize = 10_000;

#[test]
fn ten_thousand_pipelined_channels_each_deliver_their_bytes() {
    bounded(Duration::from_secs(120), || {
        // The accepter may lag behind: let unaccepted channels pile up.
        let roomy =
            MultiplexerOptions { max_pending_accepts: CHANNELS, max_incoming_channels: CHANNELS, ..Default::default() };
        let (a, b) = tcp_pair_with(MultiplexerOptions::default(), roomy);
        let reader = thread::spawn(move || {
            let mut seen = vec![false; CHANNELS];
            for _ in 0..CHANNELS {
                let mut channel = b.accept_timeout(TIMEOUT).unwrap();
                let i: usize = channel.channel_id().parse().unwrap();
                let mut got = Vec::new();
                channel.read_to_end(&mut got).unwrap();
                assert_eq!(got, (i as u32).to_be_bytes(), "channel {i}");
                assert!(!std::mem::replace(&mut seen[i], true), "channel {i} twice");
            }
            b
        });
        for i in 0..CHANNELS {
            let options = ChannelOptions::new(i.to_string()).wait_for_ack(false);
            let mut channel = a.open_channel(options).unwrap();
            channel.write_all(&(i as u32).to_be_bytes()).unwrap();
            channel.close().unwrap();
        }
        let _b = reader.join().unwrap();
        assert!(a.error().is_none());
    });
}

#[test]
fn refusal_of_a_pipelined_open_fails_the_channel_later() {
    bounded(Duration::from_secs(60), || {
        let (mux, mut peer) = raw_memory(MultiplexerOptions::default());
        let mut channel = mux.open_channel(ChannelOptions::new("refused").wait_for_ack(false)).unwrap();
        channel.write_all(b"held back").unwrap();
        let init = peer.expect(1, FrameType::Init);
        assert_eq!(frame::parse_init(&init.payload).unwrap().id, "refused");
        peer.send_err(1, ErrorCode::REFUSED, "not today");
        assert!(wait_for(|| channel.state().is_err(), TIMEOUT));
        let error = channel.write(b"more").unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused);
        assert!(matches!(Error::from_io(&error), Some(Error::Refused { code: ErrorCode::REFUSED, .. })));
        assert!(channel.close().is_err());
        // The held bytes were never sent: nothing but what the raw peer expects.
        assert_eq!(peer.barrier(), vec![]);
    });
}
