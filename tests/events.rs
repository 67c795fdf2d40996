//! Events: channels opening and closing (cleanly or with an error) and session
//! errors reach subscribers and callbacks, in order.

mod common;

use common::*;
use crossbeam_channel::Receiver;
use netconduit::{ChannelOptions, Direction, Error, ErrorCode, Event, MultiplexerOptions};
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The next event, at most `TIMEOUT` away.
fn next(events: &Receiver<Event>) -> Event {
    events.recv_timeout(TIMEOUT).expect("an event within the timeout")
}

fn assert_opened(event: Event, want_id: &str, want_index: u32, want_direction: Direction) {
    match event {
        Event::ChannelOpened { id, index, direction } => {
            assert_eq!((&*id, index, direction), (want_id, want_index, want_direction));
        }
        other => panic!("expected ChannelOpened {want_id}, got {other:?}"),
    }
}

fn closed(event: Event, want_id: &str, want_direction: Direction) -> Option<Error> {
    match event {
        Event::ChannelClosed { id, direction, error, .. } => {
            assert_eq!((&*id, direction), (want_id, want_direction));
            error
        }
        other => panic!("expected ChannelClosed {want_id}, got {other:?}"),
    }
}

#[test]
fn clean_channel_opens_and_closes_on_both_sides() {
    bounded(Duration::from_secs(60), || {
        let (a, b) = memory_pair();
        let a_events = a.subscribe();
        let b_events = b.subscribe();
        let mut writer = a.open_channel(ChannelOptions::new("e")).unwrap();
        assert_opened(next(&a_events), "e", 1, Direction::Outgoing);
        assert_opened(next(&b_events), "e", 1, Direction::Incoming);
        writer.write_all(b"data").unwrap();
        writer.close().unwrap();
        let mut text = String::new();
        let mut reader = b.accept_channel("e").unwrap();
        reader.read_to_string(&mut text).unwrap();
        drop(reader);
        assert_eq!(closed(next(&a_events), "e", Direction::Outgoing).map(|e| e.to_string()), None);
        assert_eq!(closed(next(&b_events), "e", Direction::Incoming).map(|e| e.to_string()), None);
        assert!(a_events.try_recv().is_err() && b_events.try_recv().is_err(), "no other events");
        assert_eq!(a.stats().total_closed, 1);
    });
}

#[test]
fn cancelled_channel_closes_with_its_error() {
    bounded(Duration::from_secs(60), || {
        let (a, b) = memory_pair();
        let a_events = a.subscribe();
        let mut writer = a.open_channel(ChannelOptions::new("c")).unwrap();
        assert_opened(next(&a_events), "c", 1, Direction::Outgoing);
        b.accept_channel("c").unwrap().close();
        // Blocking until the cancel arrives: writes fail then.
        let error = loop {
            if let Err(error) = writer.write(&[0; 4096]) {
                break error;
            }
        };
        assert_eq!(inner(&error).code(), Some(ErrorCode::CANCEL));
        drop(writer);
        let error = closed(next(&a_events), "c", Direction::Outgoing).expect("closed with an error");
        assert!(matches!(&error, Error::ChannelReset { code, .. } if *code == ErrorCode::CANCEL), "{error:?}");
    });
}

#[test]
fn refused_channel_raises_no_event() {
    bounded(Duration::from_secs(60), || {
        let (a, b) = memory_pair();
        // An open channel keeps the session up after GOAWAY (it ends once every
        // channel finished).
        let _keep = a.open_channel(ChannelOptions::new("keep")).unwrap();
        let a_events = a.subscribe();
        // After B's GOAWAY, A's open fails: locally (GOAWAY arrived) or by REFUSED.
        b.go_away(ErrorCode::NO_ERROR);
        let error = a.open_channel(ChannelOptions::new("late")).unwrap_err();
        assert!(matches!(error, Error::GoingAway { .. } | Error::Refused { .. }), "{error:?}");
        // A refused channel was never opened, so it is not reported as opened; if
        // it was announced at all, only as closed with its refusal.
        while let Ok(event) = a_events.try_recv() {
            assert!(!matches!(event, Event::ChannelOpened { .. }), "{event:?}");
        }
    });
}

#[test]
fn session_error_is_reported_and_fails_open_channels() {
    bounded(Duration::from_secs(60), || {
        let (mux, mut peer) = raw_memory(MultiplexerOptions::default());
        let events = mux.subscribe();
        peer.send_init(1, 128, "in");
        peer.expect(1, netconduit::proto::frame::FrameType::Ack);
        assert_opened(next(&events), "in", 1, Direction::Incoming);
        let reader = mux.accept_channel("in").unwrap();
        peer.send_ok(&[0, 0, 0, 1, 0x77, 0, 0, 0, 0]);
        peer.expect_session_error(ErrorCode::PROTOCOL_ERROR);
        match next(&events) {
            Event::SessionError(error) => assert_eq!(violation_code(&error), ErrorCode::PROTOCOL_ERROR),
            other => panic!("expected SessionError, got {other:?}"),
        }
        drop(reader);
        let error = closed(next(&events), "in", Direction::Incoming).expect("failed with the session");
        assert_eq!(violation_code(&error), ErrorCode::PROTOCOL_ERROR);
    });
}

/// Callbacks and subscribers see the same events in the same order.
#[test]
fn callbacks_see_what_subscribers_see() {
    bounded(Duration::from_secs(60), || {
        let (a, b) = memory_pair();
        let seen = Arc::new(Mutex::new(Vec::new()));
        {
            let seen = seen.clone();
            b.on_event(move |event| seen.lock().unwrap().push(format!("{event:?}")));
        }
        let events = b.subscribe();
        for i in 0..20 {
            let mut writer = a.open_channel(ChannelOptions::new(format!("c{i}"))).unwrap();
            writer.write_all(b"x").unwrap();
            writer.close().unwrap();
            let mut reader = b.accept_channel(&format!("c{i}")).unwrap();
            reader.read_to_end(&mut Vec::new()).unwrap();
        }
        let mut from_subscriber = Vec::new();
        while from_subscriber.len() < 40 {
            from_subscriber.push(format!("{:?}", next(&events)));
        }
        let from_callback = seen.lock().unwrap().clone();
        assert_eq!(from_callback, from_subscriber);
        // Opened before closed, per channel.
        for i in 0..20 {
            let id = format!("\"c{i}\"");
            let opened = from_callback.iter().position(|e| e.contains("ChannelOpened") && e.contains(&id));
            let closed = from_callback.iter().position(|e| e.contains("ChannelClosed") && e.contains(&id));
            assert!(opened.unwrap() < closed.unwrap(), "c{i}");
        }
    });
}

/// A dropped subscriber is simply forgotten.
#[test]
fn dropped_subscriber_does_not_block() {
    bounded(Duration::from_secs(60), || {
        let (a, b) = memory_pair();
        drop(a.subscribe());
        drop(b.subscribe());
        let mut writer = a.open_channel(ChannelOptions::new("x")).unwrap();
        writer.write_all(b"ok").unwrap();
        writer.close().unwrap();
        let mut text = String::new();
        b.accept_channel("x").unwrap().read_to_string(&mut text).unwrap();
        assert_eq!(text, "ok");
    });
}
