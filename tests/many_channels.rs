//! 10,000 channels opened and closed in waves, each carrying one checked byte;
//! afterwards no channel record is left on either side.

mod common;

use common::*;
use netconduit::{ChannelOptions, Multiplexer, MultiplexerOptions};
use std::io::{Read, Write};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

const TOTAL: usize = 10_000;
const WAVE: usize = 500;

fn byte_of(i: usize) -> u8 {
    (i.wrapping_mul(31) ^ (i >> 8)) as u8
}

fn run(transport: Transport) {
    let (a, b) = pair(transport, MultiplexerOptions::default(), MultiplexerOptions::default());
    let (wave_tx, wave_rx) = mpsc::channel::<usize>();
    let (done_tx, done_rx) = mpsc::channel::<usize>();

    let opener = {
        let a = a.clone();
        thread::spawn(move || {
            for wave in 0..TOTAL / WAVE {
                for i in wave * WAVE..(wave + 1) * WAVE {
                    let mut channel = a.open_channel(ChannelOptions::new(format!("ch-{i}"))).expect("open");
                    assert_eq!(channel.channel_index() as usize, i + 1, "indices count up from 1");
                    channel.write_all(&[byte_of(i)]).unwrap();
                    channel.close().expect("close");
                }
                wave_tx.send(wave).unwrap();
                // The next wave starts once the peer has read this one, so the
                // unaccepted backlog stays below max_pending_accepts.
                assert_eq!(done_rx.recv_timeout(TIMEOUT).expect("wave read"), wave);
            }
        })
    };

    let reader = {
        let b = b.clone();
        thread::spawn(move || {
            let mut buf = [0u8; 4];
            for wave in 0..TOTAL / WAVE {
                assert_eq!(wave_rx.recv_timeout(TIMEOUT).expect("wave written"), wave);
                for _ in 0..WAVE {
                    let mut channel = b.accept_timeout(TIMEOUT).expect("accept");
                    let i: usize = channel.channel_id()[3..].parse().unwrap();
                    assert_eq!(channel.channel_index() as usize, i + 1);
                    let mut got = Vec::new();
                    while let n @ 1.. = channel.read(&mut buf).expect("read") {
                        got.extend_from_slice(&buf[..n]);
                    }
                    assert_eq!(got, [byte_of(i)], "payload of ch-{i}");
                }
                done_tx.send(wave).unwrap();
            }
        })
    };
    opener.join().expect("opener");
    reader.join().expect("reader");

    for (name, mux) in [("A", &a), ("B", &b)] {
        let stats = mux.stats();
        assert_eq!(stats.total_opened, TOTAL as u64, "{name} opened");
        assert_eq!(stats.total_closed, TOTAL as u64, "{name} closed");
        assert_eq!(stats.open_channels, 0, "{name} keeps no channel record");
        assert_eq!(mux.active_channel_count(), 0);
        assert!(mux.error().is_none());
    }
    assert_same_id_reusable(&a, &b);
}

/// Ids are freed with the channels: the first wave's ids open again.
fn assert_same_id_reusable(a: &Multiplexer, b: &Multiplexer) {
    let mut channel = a.open_channel(ChannelOptions::new("ch-0")).expect("reopen ch-0");
    channel.write_all(b"again").unwrap();
    channel.close().unwrap();
    let mut text = String::new();
    b.accept_channel_timeout("ch-0", TIMEOUT).unwrap().read_to_string(&mut text).unwrap();
    assert_eq!(text, "again");
}

#[test]
fn ten_thousand_channels_over_memory_pipe() {
    bounded(Duration::from_secs(300), || run(Transport::Memory));
}

#[test]
fn ten_thousand_channels_over_tcp() {
    bounded(Duration::from_secs(300), || run(Transport::Tcp));
}
