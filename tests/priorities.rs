//! Scheduling (PROTOCOL.md section 8): once a higher-priority channel has data
//! queued, no lower-priority DATA goes out until it is done; the frames of one
//! channel never overtake each other; large writes are split into frames of at
//! most one turn.

mod common;

use common::*;
use netconduit::proto::frame::FrameType;
use netconduit::{ChannelOptions, MultiplexerOptions, Priority};
use std::io::Write;
use std::time::Duration;

#[test]
fn higher_priority_data_goes_first() {
    bounded(Duration::from_secs(60), || {
        let (mux, mut peer) = raw_memory(queue_everything());
        let (low, mut low_channel) = open_from_mux(&mux, &mut peer, "low", 16 << 20);
        let options = ChannelOptions::new("high").priority(Priority::HIGH);
        let (high, mut high_channel) = open_from_mux_with(&mux, &mut peer, options, 16 << 20);
        assert_eq!(low_channel.priority(), Priority::NORMAL);
        assert_eq!(high_channel.priority(), Priority::HIGH);
        let low_data = Pattern::bytes(1, 8 << 20);
        let high_data = Pattern::bytes(2, 1 << 20);
        // One write each, so each channel's whole data is queued at once: first the
        // low one, then the high one, which must overtake what is left of the low
        // one. The peer does not read meanwhile, so the transport backs up and the
        // writer thread cannot send the low data ahead.
        peer.pause_reading();
        low_channel.write_all(&low_data).unwrap();
        high_channel.write_all(&high_data).unwrap();
        high_channel.close().unwrap();
        low_channel.close().unwrap();
        peer.resume_reading();
        let (mut got_low, mut got_high) = (Vec::new(), Vec::new());
        let (mut low_done, mut high_done) = (false, false);
        let mut high_started = false;
        let mut low_before_high = 0;
        while !(low_done && high_done) {
            let frame = peer.frame();
            match (frame.index, frame.kind) {
                (i, FrameType::Data) if i == high => {
                    high_started = true;
                    assert!(frame.payload.len() <= 256 * 1024, "frames of at most one turn, 256 KiB");
                    got_high.extend_from_slice(&frame.payload);
                }
                (i, FrameType::Data) if i == low => {
                    assert!(
                        !high_started || high_done || got_high.len() == high_data.len(),
                        "low-priority DATA went out while high-priority DATA was queued"
                    );
                    got_low.extend_from_slice(&frame.payload);
                    if !high_started {
                        low_before_high = got_low.len();
                    }
                }
                (i, FrameType::Fin) if i == high => high_done = true,
                (i, FrameType::Fin) if i == low => low_done = true,
                _ => panic!("unexpected {frame:?}"),
            }
        }
        assert!(low_before_high < low_data.len(), "the high-priority data overtook the low");
        assert_eq!(got_high, high_data);
        assert_eq!(got_low, low_data);
    });
}

/// Channels of equal priority take turns, one quantum (256 KiB, sixteen 16 KiB
/// frames) each.
#[test]
fn equal_priorities_take_turns() {
    bounded(Duration::from_secs(60), || {
        let (mux, mut peer) = raw_memory(queue_everything());
        let (x, mut x_channel) = open_from_mux(&mux, &mut peer, "x", 16 << 20);
        let (y, mut y_channel) = open_from_mux(&mux, &mut peer, "y", 16 << 20);
        let size = 2 << 20;
        peer.pause_reading();
        x_channel.write_all(&Pattern::bytes(3, size)).unwrap();
        y_channel.write_all(&Pattern::bytes(4, size)).unwrap();
        peer.resume_reading();
        x_channel.close().unwrap();
        y_channel.close().unwrap();

        // The runs of consecutive DATA payload per channel, until one channel has
        // sent everything.
        let mut runs: Vec<(u32, usize)> = Vec::new();
        let (mut x_bytes, mut y_bytes) = (0, 0);
        while x_bytes < size && y_bytes < size {
            let frame = peer.frame();
            assert_eq!(frame.kind, FrameType::Data, "{frame:?}");
            if frame.index == x {
                x_bytes += frame.payload.len();
            } else {
                assert_eq!(frame.index, y);
                y_bytes += frame.payload.len();
            }
            match runs.last_mut() {
                Some((index, len)) if *index == frame.index => *len += frame.payload.len(),
                _ => runs.push((frame.index, frame.payload.len())),
            }
        }
        // Before y was queued x may have gone alone; from y's first run on they
        // alternate, a quantum at most each turn.
        let first_y = runs.iter().position(|&(i, _)| i == y).expect("y was sent");
        for &(_, len) in &runs[first_y..] {
            assert!(len <= 256 * 1024, "a turn longer than the quantum: {len} bytes");
        }
        assert!(runs[first_y..].len() >= 8, "the two channels interleaved: {:?}", &runs[first_y..]);
    });
}

/// These tests queue each channel's whole data while the peer does not read, so
/// they lift the per-channel send buffer bound above it and turn direct writes off
/// (which would wait in the stalled transport instead of queueing).
fn queue_everything() -> MultiplexerOptions {
    MultiplexerOptions { send_buffer_size: 16 << 20, direct_writes: false, ..Default::default() }
}
