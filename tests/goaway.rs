//! GOAWAY and graceful shutdown: new channels are refused on both sides, channels
//! in flight complete, and the session ends by itself once they finished, or fails
//! the stragglers after `goaway_timeout`.

mod common;

use common::*;
use netconduit::{ChannelOptions, Error, ErrorCode, MultiplexerOptions};
use std::io::{Read, Write};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

const CHANNELS: usize = 10;
const SIZE: u64 = 2 * 1024 * 1024;

#[test]
fn goaway_while_ten_channels_transfer_lets_them_all_complete() {
    for transport in [Transport::Memory, Transport::Tcp] {
        bounded(Duration::from_secs(120), move || {
            let (a, b) = pair(transport, MultiplexerOptions::default(), MultiplexerOptions::default());
            let halfway = Arc::new(Barrier::new(CHANNELS + 1));
            let writers: Vec<_> = (0..CHANNELS)
                .map(|i| {
                    let (a, halfway) = (a.clone(), halfway.clone());
                    thread::spawn(move || {
                        let mut channel = a.open_channel(ChannelOptions::new(format!("c{i}"))).unwrap();
                        let first = write_pattern(&mut channel, i as u64, SIZE / 2).unwrap();
                        halfway.wait();
                        let mut rest = Pattern::new(i as u64);
                        let mut skip = vec![0u8; (SIZE / 2) as usize];
                        rest.fill(&mut skip); // the pattern continues where it left off
                        let mut block = vec![0u8; 64 * 1024];
                        for _ in 0..(SIZE / 2) / block.len() as u64 {
                            rest.fill(&mut block);
                            channel.write_all(&block).unwrap();
                        }
                        channel.close().unwrap();
                        first
                    })
                })
                .collect();
            let readers: Vec<_> = (0..CHANNELS)
                .map(|i| {
                    let b = b.clone();
                    thread::spawn(move || {
                        let mut channel = b.accept_channel(&format!("c{i}")).unwrap();
                        read_checksum(&mut channel, 32 * 1024).unwrap()
                    })
                })
                .collect();
            halfway.wait();
            b.go_away(ErrorCode::NO_ERROR);
            // New channels are refused on both sides from now on.
            assert!(wait_for(
                || matches!(a.open_channel(ChannelOptions::new("late")), Err(Error::GoingAway { .. })),
                TIMEOUT
            ));
            assert!(matches!(b.open_channel(ChannelOptions::new("late")), Err(Error::GoingAway { .. })));
            for (i, (writer, reader)) in writers.into_iter().zip(readers).enumerate() {
                writer.join().unwrap();
                let expected = Checksum::of(&Pattern::bytes(i as u64, SIZE as usize));
                assert_eq!(reader.join().unwrap(), expected, "channel {i}");
            }
            // Every channel finished: both sessions end on their own, cleanly.
            assert!(wait_for(|| a.error().is_some() && b.error().is_some(), TIMEOUT));
            assert!(matches!(a.error(), Some(Error::GoingAway { code: ErrorCode::NO_ERROR })), "{:?}", a.error());
            assert!(matches!(b.error(), Some(Error::GoingAway { .. })), "{:?}", b.error());
        });
    }
}

#[test]
fn channels_still_open_after_the_grace_period_fail_with_a_timeout() {
    bounded(Duration::from_secs(60), || {
        let quick = MultiplexerOptions { goaway_timeout: Duration::from_millis(200), ..Default::default() };
        let (a, b) = memory_pair_with(quick.clone(), quick);
        let mut writer = a.open_channel(ChannelOptions::new("lingering")).unwrap();
        let mut reader = b.accept_channel("lingering").unwrap();
        writer.write_all(b"before goaway").unwrap();
        a.go_away(ErrorCode::NO_ERROR);
        // The writer never finishes its channel: the grace period runs out.
        let mut got = [0u8; 13];
        reader.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"before goaway");
        let read_error = reader.read(&mut [0u8; 8]).unwrap_err();
        // Its own grace period ran out, or the peer's did first and closed the transport.
        assert!(
            matches!(Error::from_io(&read_error), Some(Error::SessionTimeout("goaway") | Error::Transport(_))),
            "{read_error:?}"
        );
        // Both sides run the grace period; whichever ends first closes the transport,
        // so the writer's side fails by its own timer or by the peer's end of stream.
        assert!(wait_for(|| a.error().is_some(), TIMEOUT));
        let write_error = writer.write(b"after").unwrap_err();
        assert!(
            matches!(write_error.kind(), std::io::ErrorKind::TimedOut | std::io::ErrorKind::UnexpectedEof),
            "{write_error:?}"
        );
    });
}

#[test]
fn abort_wakes_every_blocked_call() {
    bounded(Duration::from_secs(60), || {
        let small = MultiplexerOptions { initial_window: 1024, ..Default::default() };
        let (a, b) = memory_pair_with(small.clone(), small);
        let mut writer = a.open_channel(ChannelOptions::new("full")).unwrap();
        let _held = b.accept_channel("full").unwrap(); // never read: the writer blocks
        let mut inbound_writer = b.open_channel(ChannelOptions::new("empty")).unwrap();
        let mut reader = a.accept_channel("empty").unwrap();
        inbound_writer.flush().unwrap();
        let blocked: Vec<thread::JoinHandle<Error>> = vec![
            thread::spawn(move || Error::from(writer.write_all(&[0u8; 4096]).unwrap_err())),
            thread::spawn(move || Error::from(reader.read(&mut [0u8; 16]).unwrap_err())),
            {
                let a = a.clone();
                thread::spawn(move || a.accept_channel("never").unwrap_err())
            },
            {
                let a = a.clone();
                thread::spawn(move || a.accept().unwrap_err())
            },
        ];
        // The waiters are blocked (or about to block): nothing can release them but abort.
        a.abort();
        for waiter in blocked {
            let error = waiter.join().unwrap();
            assert!(matches!(error, Error::Closed), "{error:?}");
        }
        // The peer learns the transport ended.
        assert!(wait_for(|| b.error().is_some(), TIMEOUT));
    });
}
