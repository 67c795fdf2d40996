//! A callback holding a `WeakMultiplexer` does not keep the session alive: dropping
//! the last strong handle still aborts it.

mod common;

use common::*;
use netconduit::{ChannelOptions, Event};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[test]
fn a_weak_handle_in_a_callback_does_not_keep_the_session_alive() {
    bounded(Duration::from_secs(60), || {
        let (a, b) = memory_pair();
        let weak = a.downgrade();
        let lookups = Arc::new(AtomicUsize::new(0));
        let seen = lookups.clone();
        a.on_event(move |event| {
            if let (Event::ChannelOpened { .. }, Some(mux)) = (event, weak.upgrade()) {
                let _ = mux.active_channel_count(); // calling back in is fine
                seen.fetch_add(1, Ordering::SeqCst);
            }
        });
        let channel = a.open_channel(ChannelOptions::new("x")).unwrap();
        drop(channel);
        assert!(wait_for(|| lookups.load(Ordering::SeqCst) >= 1, TIMEOUT));
        drop(a);
        // The session ended: the peer sees its transport close.
        assert!(wait_for(|| b.error().is_some(), TIMEOUT), "the session outlived its last strong handle");
    });
}
