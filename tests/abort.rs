//! `abort()` and dropping the last handle end a session at once, also while a
//! session that already ended lingers (waiting for the peer's end of stream after
//! its last frames, bounded by `linger_timeout`).

mod common;

use common::*;
use netconduit::{Error, ErrorCode, MultiplexerOptions};
use std::thread;
use std::time::Duration;

/// Long enough that a test waiting for it fails by its bound instead.
fn lingering() -> MultiplexerOptions {
    MultiplexerOptions { linger_timeout: Duration::from_secs(300), ..Default::default() }
}

/// After a session error the multiplexer writes ERROR, half-closes and lingers
/// while the peer keeps its side open; dropping it must not wait for the linger.
#[test]
fn drop_after_session_error_does_not_wait_for_linger() {
    bounded(Duration::from_secs(30), || {
        let (mux, mut peer) = raw_memory(lingering());
        peer.send_ok(&[0, 0, 0, 1, 0x42, 0, 0, 0, 0]);
        peer.expect_session_error(ErrorCode::PROTOCOL_ERROR);
        // The raw peer keeps its writing side open: the multiplexer lingers.
        drop(mux);
        // Shut down for good: the peer's writes fail now.
        assert!(peer.send(b"anything").is_err(), "the transport was shut down");
    });
}

#[test]
fn abort_after_session_error_does_not_wait_for_linger() {
    bounded(Duration::from_secs(30), || {
        let (mux, mut peer) = raw_tcp(lingering());
        peer.send_ok(&[0, 0, 0, 1, 0x42, 0, 0, 0, 0]);
        peer.expect_session_error(ErrorCode::PROTOCOL_ERROR);
        mux.abort();
        assert!(matches!(mux.error(), Some(Error::ProtocolViolation { .. })), "the first error stays");
    });
}

/// A graceful close waiting for the peer's end of stream is cut short by abort.
#[test]
fn abort_cuts_a_lingering_close_short() {
    bounded(Duration::from_secs(30), || {
        let (mux, mut peer) = raw_memory(lingering());
        let closer = {
            let mux = mux.clone();
            thread::spawn(move || mux.close())
        };
        // GOAWAY, then the half-close: the peer sees end of stream.
        let goaway = peer.frame();
        assert!(matches!(goaway.control(), Some(netconduit::proto::control::Control::GoAway { .. })), "{goaway:?}");
        peer.expect_eof();
        // close() now lingers for the peer's end of stream; abort ends it.
        mux.abort();
        closer.join().expect("close returned");
        assert!(peer.send(b"anything").is_err(), "the transport was shut down");
    });
}
