//! Event callbacks may call back into the multiplexer (accept, look up, close
//! channels, read stats, even abort) without deadlocking: they run after the
//! session lock was released.
//!
//! A callback that holds a `Multiplexer` clone keeps the session alive (the
//! callback is owned by the session), so each test ends with an explicit `abort`.

mod common;

use common::*;
use netconduit::{ChannelOptions, Direction, Error, ErrorCode, Event, Multiplexer};
use std::io::{Read, Write};
use std::sync::mpsc;
use std::time::Duration;

/// The callback accepts every incoming channel itself and hands it to the test.
#[test]
fn callback_accepts_channels() {
    bounded(Duration::from_secs(60), || {
        let (a, b) = memory_pair();
        let (tx, rx) = mpsc::channel();
        {
            let b2 = b.clone();
            let tx = std::sync::Mutex::new(tx);
            b.on_event(move |event| {
                if let Event::ChannelOpened { id, direction: Direction::Incoming, .. } = event {
                    // Calls into the multiplexer from the callback.
                    let stats = b2.stats();
                    assert!(stats.open_channels >= 1);
                    let _ = b2.active_channel_ids();
                    let channel = b2.accept_channel_timeout(id, TIMEOUT).expect("accept from the callback");
                    assert!(b2.read_channel(id).is_some());
                    tx.lock().unwrap().send(channel).unwrap();
                }
            });
        }
        for i in 0..50 {
            let mut writer = a.open_channel(ChannelOptions::new(format!("cb{i}"))).unwrap();
            writer.write_all(format!("message {i}").as_bytes()).unwrap();
            writer.close().unwrap();
        }
        for i in 0..50 {
            let mut channel: netconduit::ReadChannel = rx.recv_timeout(TIMEOUT).expect("channel from the callback");
            assert_eq!(channel.channel_id(), format!("cb{i}"));
            let mut text = String::new();
            channel.read_to_string(&mut text).unwrap();
            assert_eq!(text, format!("message {i}"));
        }
        b.abort();
    });
}

/// The callback closes the incoming channel at once: the writer sees CANCEL.
#[test]
fn callback_closes_channels() {
    bounded(Duration::from_secs(60), || {
        let (a, b) = memory_pair();
        {
            let b2 = b.clone();
            b.on_event(move |event| {
                if let Event::ChannelOpened { id, direction: Direction::Incoming, .. } = event {
                    b2.accept_channel_timeout(id, TIMEOUT).unwrap().close();
                }
            });
        }
        // The cancel may arrive right behind the ACK, before `open_channel` returns.
        match a.open_channel(ChannelOptions::new("rejected")) {
            Ok(mut writer) => {
                let error = loop {
                    if let Err(error) = writer.write(&[1; 4096]) {
                        break error;
                    }
                };
                assert_eq!(inner(&error).code(), Some(ErrorCode::CANCEL));
            }
            Err(error) => assert_eq!(error.code(), Some(ErrorCode::CANCEL), "{error:?}"),
        }
        b.abort();
    });
}

/// A callback on the writer thread (outgoing channels close there) looks channels
/// up, sends GOAWAY and hands out a clone of the multiplexer.
#[test]
fn callback_looks_up_and_sends_goaway() {
    bounded(Duration::from_secs(60), || {
        let (a, b) = memory_pair();
        let (tx, rx) = mpsc::channel::<Multiplexer>();
        {
            let tx = std::sync::Mutex::new(tx);
            let a2 = a.clone();
            a.on_event(move |event| {
                // Look-ups and GOAWAY from inside a callback.
                if let Event::ChannelClosed { id, direction: Direction::Outgoing, .. } = event {
                    assert!(a2.write_channel(id).is_none());
                    if &**id == "last" {
                        a2.go_away(ErrorCode::NO_ERROR);
                        tx.lock().unwrap().send(a2.clone()).unwrap();
                    }
                }
            });
        }
        for id in ["first", "last"] {
            let mut writer = a.open_channel(ChannelOptions::new(id)).unwrap();
            writer.write_all(id.as_bytes()).unwrap();
            writer.close().unwrap();
        }
        let from_callback = rx.recv_timeout(TIMEOUT).unwrap();
        for id in ["first", "last"] {
            let mut text = String::new();
            b.accept_channel(id).unwrap().read_to_string(&mut text).unwrap();
            assert_eq!(text, id);
        }
        // GOAWAY from the callback took effect.
        assert!(matches!(a.open_channel(ChannelOptions::new("more")), Err(Error::GoingAway { .. })));
        drop(from_callback);
        a.abort();
    });
}

/// A callback may abort the session it reports on, even on the reader thread.
#[test]
fn callback_aborts_the_session() {
    bounded(Duration::from_secs(60), || {
        let (a, b) = memory_pair();
        {
            let b2 = b.clone();
            b.on_event(move |event| {
                if let Event::ChannelOpened { id, .. } = event {
                    if &**id == "stop" {
                        b2.abort();
                    }
                }
            });
        }
        let result = a.open_channel(ChannelOptions::new("stop").open_timeout(TIMEOUT));
        // The ACK may or may not have gone out before the abort.
        if let Ok(mut writer) = result {
            let _ = writer.write_all(b"x");
        }
        // A blocked accept on B returns: the session is over. (Another id: "stop"
        // itself may be accepted here before the callback ran.)
        let error = b.accept_channel_timeout("never", TIMEOUT).unwrap_err();
        assert!(matches!(error, Error::Closed), "{error:?}");
        assert!(matches!(b.error(), Some(Error::Closed)));
        // A sees the transport end.
        let error = a.accept_timeout(TIMEOUT).unwrap_err();
        assert!(!matches!(error, Error::Timeout(_)), "{error:?}");
    });
}

/// Events raised while a callback runs (by the callback itself) are delivered
/// after it returns, in order, never nested.
#[test]
fn events_raised_inside_a_callback_are_delivered_in_order() {
    bounded(Duration::from_secs(60), || {
        let (mux, mut peer) = raw_memory(netconduit::MultiplexerOptions::default());
        let (tx, rx) = mpsc::channel::<String>();
        {
            let mux2 = mux.clone();
            let tx = std::sync::Mutex::new(tx);
            let depth = std::sync::atomic::AtomicUsize::new(0);
            mux.on_event(move |event| {
                let nested = depth.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                assert_eq!(nested, 0, "callbacks never run nested");
                match event {
                    Event::ChannelOpened { id, .. } => {
                        tx.lock().unwrap().send(format!("opened {id}")).unwrap();
                        // INIT, DATA and FIN came in one read: the channel is
                        // complete, so dropping it closes it now, raising
                        // ChannelClosed inside this callback.
                        let channel = mux2.accept_channel_timeout(id, TIMEOUT).unwrap();
                        assert_eq!(channel.buffered(), 3);
                        drop(channel);
                        tx.lock().unwrap().send(format!("dropped {id}")).unwrap();
                    }
                    Event::ChannelClosed { id, error, .. } => {
                        assert!(error.is_none(), "{error:?}");
                        tx.lock().unwrap().send(format!("closed {id}")).unwrap();
                    }
                    _ => {}
                }
                depth.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            });
        }
        let mut bytes = Vec::new();
        netconduit::proto::frame::put_init(&mut bytes, 1, 128, "n");
        netconduit::proto::frame::put_data(&mut bytes, 1, b"abc");
        netconduit::proto::frame::put_fin(&mut bytes, 1);
        peer.send_ok(&bytes);
        for want in ["opened n", "dropped n", "closed n"] {
            assert_eq!(rx.recv_timeout(TIMEOUT).unwrap(), want);
        }
        mux.abort();
    });
}
