//! The three threads of a multiplexer: reader, writer and timer. Each is a loop
//! around one blocking call; none holds the session lock across IO.

use super::shared::Shared;
use crate::proto::session::Session;
use parking_lot::MutexGuard;
use std::io::{self, IoSlice, Read, Write};
use std::sync::Arc;
use std::time::Instant;

/// Reads the transport and feeds the session until either ends.
pub(crate) fn run_reader<R: Read>(shared: Arc<Shared>, mut reader: R, buffer_size: usize) {
    let mut buffer = vec![0u8; buffer_size];
    loop {
        let read = reader.read(&mut buffer);
        let mut session = shared.lock();
        let done = match read {
            Ok(0) => {
                session.handle_transport_closed(None);
                true
            }
            Ok(n) => {
                session.handle_input(&buffer[..n], Instant::now());
                session.is_closed()
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => false,
            Err(e) => {
                session.handle_transport_closed(Some(e));
                true
            }
        };
        shared.finish(session);
        if done {
            return;
        }
    }
}

/// Moves frames from the session to the transport, batching what is ready into one
/// vectored write, until the session ends; then closes the transport.
pub(crate) fn run_writer<W: Write>(shared: Arc<Shared>, mut writer: W) {
    let mut batch: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut session = shared.lock();
        session.recycle(&mut batch);
        if !wait_for_frames(&shared, &mut session) {
            drop(session);
            break;
        }
        session.poll_transmit(&mut batch);
        let more = session.wants_transmit();
        shared.finish(session);
        let result = write_all_vectored(&mut writer, &batch).and_then(|()| if more { Ok(()) } else { writer.flush() });
        if let Err(error) = result {
            let mut session = shared.lock();
            session.handle_transport_closed(Some(error));
            shared.finish(session);
            break;
        }
    }
    let _ = writer.flush();
    drop(writer);
    shared.shutdown_transport();
}

/// Waits until frames are ready; false when the session is over and everything it
/// wanted sent was written.
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

/// Writes every buffer completely, with as few syscalls as the writer allows.
fn write_all_vectored<W: Write>(writer: &mut W, buffers: &[Vec<u8>]) -> io::Result<()> {
    let mut slices: Vec<IoSlice<'_>> = buffers.iter().filter(|b| !b.is_empty()).map(|b| IoSlice::new(b)).collect();
    let mut slices = &mut slices[..];
    while !slices.is_empty() {
        match writer.write_vectored(slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Sleeps until the session's next deadline and hands it the time, until the
/// session ends. It never wakes when nothing is due: with no deadline armed it
/// waits for a notification only.
pub(crate) fn run_timer(shared: Arc<Shared>) {
    let mut session = shared.lock();
    loop {
        if session.is_closed() {
            return;
        }
        match session.next_deadline() {
            Some(at) if at <= Instant::now() => {
                session.handle_timeout(Instant::now());
                shared.finish(session);
                session = shared.lock();
            }
            Some(at) => {
                shared.timer_cv.wait_until(&mut session, at);
            }
            None => shared.timer_cv.wait(&mut session),
        }
    }
}
