//! Liveness over a real driver: PINGs are answered, RTT is measured, and a peer
//! that stops answering without closing the transport is declared dead within
//! `ping_interval + max_missed_pings × ping_timeout`, waking every blocked call.

mod common;

use common::*;
use netconduit::proto::control::Control;
use netconduit::proto::frame::FrameType;
use netconduit::{ChannelOptions, Error, Event, MultiplexerOptions};
use std::io::{Read, Write};
use std::thread;
use std::time::{Duration, Instant};

fn fast_heartbeat() -> MultiplexerOptions {
    MultiplexerOptions {
        ping_interval: Some(Duration::from_millis(100)),
        ping_timeout: Duration::from_millis(100),
        max_missed_pings: 3,
        initial_window: 16 * 1024,
        ..Default::default()
    }
}

#[test]
fn pings_are_answered_and_rtt_is_measured() {
    bounded(Duration::from_secs(60), || {
        let (a, b) = tcp_pair_with(fast_heartbeat(), fast_heartbeat());
        let rtt = a.ping(TIMEOUT).expect("ping answered");
        assert!(rtt < TIMEOUT);
        // The heartbeat itself measures too, and misses nothing on a live link.
        assert!(wait_for(|| a.stats().rtt.pongs_received >= 3 && b.stats().rtt.pongs_received >= 3, TIMEOUT));
        let stats = a.stats().rtt;
        assert!(stats.last.is_some() && stats.smoothed.is_some());
        assert_eq!(stats.missed, 0);
        assert!(a.error().is_none() && b.error().is_none());
    });
}

#[test]
fn heartbeat_can_be_turned_off() {
    bounded(Duration::from_secs(60), || {
        let quiet = MultiplexerOptions { ping_interval: None, ..Default::default() };
        let (mux, mut peer) = raw_memory(quiet);
        // A barrier ping from the raw peer is answered, but nothing else arrives.
        assert_eq!(peer.barrier(), vec![]);
        assert_eq!(mux.stats().rtt.pings_sent, 0);
    });
}

#[test]
fn silent_peer_is_declared_dead_and_every_blocked_call_wakes() {
    bounded(Duration::from_secs(60), || {
        let (mux, mut peer) = raw_memory(fast_heartbeat());
        let events = mux.subscribe();
        // One open channel whose writer runs out of credits, one open pending.
        let opener = {
            let mux = mux.clone();
            thread::spawn(move || mux.open_channel(ChannelOptions::new("stalled")).unwrap())
        };
        let init = next_non_ping(&mut peer);
        assert_eq!(init.kind, FrameType::Init);
        peer.send_ack(init.index, 10, None);
        let mut writer = opener.join().unwrap();
        let opener = {
            let mux = mux.clone();
            thread::spawn(move || mux.open_channel(ChannelOptions::new("never answered")).unwrap_err())
        };
        let acceptor = {
            let mux = mux.clone();
            thread::spawn(move || mux.accept_channel("never sent").unwrap_err())
        };
        peer.send_init(1, 128, "silent inbound");
        let mut reader = mux.accept_channel("silent inbound").unwrap();
        let started = Instant::now();
        // From here on the peer answers nothing but keeps the transport open.
        let write_error = writer.write_all(&[0u8; 100]).unwrap_err();
        let read_error = reader.read(&mut [0u8; 16]).unwrap_err();
        let detected = started.elapsed();
        let open_error = opener.join().unwrap();
        let accept_error = acceptor.join().unwrap();

        for error in [
            Error::from_io(&write_error).cloned().unwrap(),
            Error::from_io(&read_error).cloned().unwrap(),
            open_error,
            accept_error,
        ] {
            assert!(matches!(error, Error::PeerUnresponsive { missed: 3 }), "{error:?}");
        }
        assert_eq!(write_error.kind(), std::io::ErrorKind::TimedOut);
        // The bound of the options: 100 ms + 3 × 100 ms, plus a generous margin.
        assert!(detected < Duration::from_secs(5), "detected after {detected:?}");
        // The raw peer saw the pings it never answered.
        let late = drain_frames(&mut peer);
        let pings = peer.log.iter().chain(&late).filter(|f| matches!(f.control(), Some(Control::Ping(_)))).count();
        assert!(pings >= 1);
        let disconnect = events.iter().find(|e| matches!(e, Event::SessionError(_))).unwrap();
        assert!(matches!(disconnect, Event::SessionError(Error::PeerUnresponsive { .. })));
        assert_eq!(mux.stats().rtt.missed, 3);
    });
}

/// The next frame that is not a heartbeat PING (those may come at any time).
fn next_non_ping(peer: &mut RawPeer) -> RawFrame {
    loop {
        let frame = peer.frame();
        if !matches!(frame.control(), Some(Control::Ping(_))) {
            return frame;
        }
    }
}

/// Every frame the raw peer still has, up to its end of stream.
fn drain_frames(peer: &mut RawPeer) -> Vec<RawFrame> {
    let mut frames = Vec::new();
    while let Some(PeerEvent::Frame(frame)) = peer.next_event(Duration::from_millis(200)) {
        frames.push(frame);
    }
    frames
}
