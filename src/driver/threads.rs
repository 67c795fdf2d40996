//! The three threads of a multiplexer: reader, writer and timer. Each is a loop
//! around one blocking call; none holds the session lock across IO.

use super::shared::Shared;
use crate::proto::session::{CloseKind, ReaderTurn, Session};
use parking_lot::MutexGuard;
use std::net::Shutdown;
use std::sync::Arc;
use std::time::Instant;

/// Reads the transport and feeds the session whenever no application thread does
/// (see the session's input role). After the session ended it keeps reading (and
/// discarding) until the peer's end of stream, unless it was aborted: closing a
/// socket with unread bytes would reset the connection and could destroy the last
/// frames (an ERROR, the final FINs) before the peer reads them.
pub(crate) fn run_reader(shared: Arc<Shared>) {
    let mut session = shared.lock();
    loop {
        match session.reader_turn(Instant::now()) {
            ReaderTurn::Exit => break,
            ReaderTurn::WaitUntil(at) => {
                shared.reader_cv.wait_until(&mut session, at);
            }
            ReaderTurn::Read => {
                shared.pump_input(session, None);
                session = shared.lock();
            }
        }
    }
    drop(session);
    shared.close_input();
}

/// Moves frames from the session to the transport, batching what is ready into one
/// vectored write, until the session ends and its last frames are written; then
/// half-closes the transport (the reader drains it) or, after an abort, shuts it
/// down. It takes the link (the transport) before the frames, so it waits while a
/// direct write holds it.
pub(crate) fn run_writer(shared: Arc<Shared>) {
    let mut batch: Vec<Vec<u8>> = Vec::new();
    let mut failed = false;
    while !failed {
        let mut session = shared.lock();
        if !wait_for_frames(&shared, &mut session) {
            break;
        }
        // Frames are taken by the link's holder only. The lock order is link, then
        // session: waiting for the link means letting the session go.
        let mut link = match shared.try_link() {
            Some(link) => link,
            None => {
                drop(session);
                let link = shared.link(None).expect("no deadline");
                session = shared.lock();
                link
            }
        };
        while session.wants_transmit() && !failed {
            (session, failed) = shared.transmit_queued(&mut link, session, &mut batch);
        }
        drop(link);
        shared.finish(session);
    }
    let lingering = !failed && shared.lock().close_kind() != Some(CloseKind::Abort);
    shared.close_transport();
    shared.shutdown_transport(if lingering { Shutdown::Write } else { Shutdown::Both });
}

/// Waits until frames are ready; false when the session is over and everything
/// it wanted sent was handed out.
fn wait_for_frames(shared: &Shared, session: &mut MutexGuard<'_, Session>) -> bool {
    loop {
        if session.wants_transmit() {
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
