//! `close()` flushes: every byte a `write` accepted before `close()` reaches the
//! peer's reader, even when close comes right after the write.

mod common;

use common::*;
use netconduit::{ChannelOptions, Error, MultiplexerOptions};
use std::io::{Read, Write};
use std::thread;
use std::time::Duration;

const ITERATIONS: u64 = 1000;

#[test]
fn write_then_close_at_once_loses_nothing() {
    bounded(Duration::from_secs(300), || {
        for iteration in 0..ITERATIONS {
            let (a, b) = memory_pair();
            // Sizes from 1 byte to beyond one window, so some writes wait for credits.
            let len = 1 + (iteration * 7919) % (150 * 1024);
            let data = Pattern::bytes(iteration, len as usize);
            let reader = thread::spawn(move || {
                let mut channel = b.accept_channel("data").unwrap();
                let mut got = Vec::new();
                channel.read_to_end(&mut got).unwrap();
                (got, b) // keep the peer alive until the check below
            });
            let mut channel = a.open_channel(ChannelOptions::new("data")).unwrap();
            channel.write_all(&data).unwrap();
            drop(channel);
            a.close();
            let (got, _b) = reader.join().unwrap();
            assert_eq!(got.len(), data.len(), "iteration {iteration}");
            assert!(got == data, "iteration {iteration}: bytes differ");
            assert!(matches!(a.error(), Some(Error::Closed)), "{:?}", a.error());
        }
    });
}

#[test]
fn close_over_tcp_delivers_every_channel() {
    bounded(Duration::from_secs(120), || {
        for iteration in 0..50u64 {
            let (a, b) = tcp_pair();
            let readers: Vec<_> = (0..4)
                .map(|i| {
                    let b = b.clone();
                    thread::spawn(move || {
                        read_checksum(&mut b.accept_channel(&format!("c{i}")).unwrap(), 8192).unwrap()
                    })
                })
                .collect();
            let mut sent = Vec::new();
            for i in 0..4u64 {
                let mut channel = a.open_channel(ChannelOptions::new(format!("c{i}"))).unwrap();
                sent.push(write_pattern(&mut channel, iteration * 4 + i, 100_000 + i * 10_000).unwrap());
            }
            a.close(); // the handles above were dropped at the end of each loop turn
            for (reader, expected) in readers.into_iter().zip(sent) {
                assert_eq!(reader.join().unwrap(), expected, "iteration {iteration}");
            }
        }
    });
}

#[test]
fn close_with_a_channel_left_open_still_delivers_its_bytes() {
    bounded(Duration::from_secs(60), || {
        let quick = MultiplexerOptions { goaway_timeout: Duration::from_millis(300), ..Default::default() };
        let (a, b) = memory_pair_with(quick.clone(), quick);
        let mut channel = a.open_channel(ChannelOptions::new("open")).unwrap();
        channel.write_all(&Pattern::bytes(9, 40_000)).unwrap();
        a.close(); // `channel` is still held: close waits for the grace period
        let mut reader = b.accept_channel("open").unwrap();
        let mut got = vec![0u8; 40_000];
        reader.read_exact(&mut got).unwrap();
        assert!(got == Pattern::bytes(9, 40_000));
        // Then the reader learns the channel did not finish cleanly.
        let error = reader.read(&mut [0u8; 1]).unwrap_err();
        assert!(Error::from_io(&error).is_some(), "{error:?}");
        assert!(channel.write(b"late").is_err());
    });
}
