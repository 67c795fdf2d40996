//! The three threads of a multiplexer: reader, writer and timer. Each is a loop
//! around one blocking call; none holds the session lock across IO.

use super::shared::Shared;
use crate::proto::session::{CloseKind, Session};
use parking_lot::MutexGuard;
use std::io::{self, IoSlice, Read};
use std::net::Shutdown;
use std::sync::Arc;
use std::time::Instant;

/// Reads the transport and feeds the session. After the session ended it keeps
/// reading (and discarding) until the peer's end of stream, unless it was aborted.
pub(crate) fn run_reader<R: Read>(shared: Arc<Shared>, mut reader: R, buffer_size: usize) {
    let mut buffer = vec![0u8; buffer_size];
    loop {
        let read = reader.read(&mut buffer);
        let mut session = shared.lock();
        let now = Instant::now();
        let ended = match read {
            Ok(0) => {
                session.handle_transport_closed(None, now);
                true
            }
            Ok(n) => {
                session.handle_input(&buffer[..n], now);
                false
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => false,
            Err(e) => {
                session.handle_transport_closed(Some(e), now);
                true
            }
        };
        // Unless the session was aborted, reading goes on after its end until the
        // peer's end of stream (bounded by the linger timer): closing a socket with
        // unread bytes would reset the connection and could destroy the last frames
        // (an ERROR, the final FINs) before the peer reads them.
        let stop = session.close_kind() == Some(CloseKind::Abort);
        shared.finish(session);
        if ended {
            shared.shutdown_transport(Shutdown::Both);
        }
        if ended || stop {
            return;
        }
    }
}

/// Moves frames from the session to the transport, batching what is ready into one
/// vectored write, until the session ends and its last frames are written; then
/// half-closes the transport (the reader drains it) or, after an abort, shuts it
/// down. It waits while a direct write holds the transmission.
pub(crate) fn run_writer(shared: Arc<Shared>) {
    let mut batch: Vec<Vec<u8>> = Vec::new();
    let mut failed = false;
    loop {
        let mut session = shared.lock();
        session.transmitted(&mut batch, Instant::now());
        if !wait_for_frames(&shared, &mut session) {
            break;
        }
        session.poll_transmit(&mut batch, Instant::now());
        let more = session.wants_transmit();
        shared.finish(session);
        let mut slices: Vec<IoSlice<'_>> = batch.iter().filter(|b| !b.is_empty()).map(|b| IoSlice::new(b)).collect();
        if let Err(error) = shared.write_transport(&mut slices, !more) {
            let mut session = shared.lock();
            session.transmitted(&mut batch, Instant::now());
            session.handle_transport_closed(Some(error), Instant::now());
            shared.finish(session);
            failed = true;
            break;
        }
    }
    let lingering = !failed && shared.lock().close_kind() != Some(CloseKind::Abort);
    shared.close_transport();
    shared.shutdown_transport(if lingering { Shutdown::Write } else { Shutdown::Both });
}

/// Waits until frames are ready and nobody transmits; false when the session is
/// over and everything it wanted sent was handed out.
fn wait_for_frames(shared: &Shared, session: &mut MutexGuard<'_, Session>) -> bool {
    loop {
        if session.wants_transmit() && !session.is_transmitting() {
            return true;
        }
        if session.should_close_transport() {
            return false;
        }
        shared.writer_cv.wait(session);
    }
}

/// Sleeps until the session's next deadline and hands it the time. It never wakes
/// when nothing is due: with no deadline armed it waits for a notification only.
/// It ends once the session ended and no deadline (a closing transport's linger)
/// is left.
pub(crate) fn run_timer(shared: Arc<Shared>) {
    let mut session = shared.lock();
    loop {
        match session.next_deadline() {
            None if session.is_closed() => return,
            None => shared.timer_cv.wait(&mut session),
            Some(at) if at <= Instant::now() => {
                session.handle_timeout(Instant::now());
                shared.finish(session);
                session = shared.lock();
            }
            Some(at) => {
                shared.timer_cv.wait_until(&mut session, at);
            }
        }
    }
}
