//! Transports: the byte streams a multiplexer runs over.
//!
//! Any `Read + Write` pair works with [`Multiplexer::new`](crate::Multiplexer::new).
//! This module adds an in-memory pipe for tests and examples, TCP and WebSocket
//! helpers that return ready multiplexers, and knows how to shut down the standard
//! library's sockets so a closing multiplexer can unblock its reader thread. The
//! README's "Transports" section shows the others (Unix sockets, FIFOs, a child
//! process's stdio, serial ports, Windows named pipes).

pub mod memory;
pub mod tcp;
#[cfg(feature = "websocket")]
pub mod websocket;

use crate::driver::ShutdownFn;
use crate::{Multiplexer, Result};
use std::any::Any;
use std::net::TcpStream;
use std::time::Duration;

/// Returns `mux` once its handshake completed, within `timeout`; otherwise ends it
/// and returns the error. A session that already failed (the peer broke the
/// protocol, or the session's own handshake timer fired) is closed, not aborted: an
/// abort would discard the ERROR frame telling the peer why. Closing writes it and
/// waits at most `linger_timeout` for the peer's end of stream.
pub(crate) fn when_ready(mux: Multiplexer, timeout: Duration) -> Result<Multiplexer> {
    match mux.wait_ready(timeout) {
        Ok(()) => Ok(mux),
        Err(error) => {
            if mux.error().is_some() {
                mux.close();
            } else {
                mux.abort();
            }
            Err(error)
        }
    }
}

/// A shutdown hook for the writers whose type this crate recognises: a
/// `TcpStream`, a `UnixStream`, a WebSocket writer or a memory pipe writer.
pub(crate) fn shutdown_for<W: Any>(writer: &W) -> Option<ShutdownFn> {
    let writer = writer as &dyn Any;
    if let Some(stream) = writer.downcast_ref::<TcpStream>() {
        let stream = stream.try_clone().ok()?;
        return Some(Box::new(move |how| {
            let _ = stream.shutdown(how);
        }));
    }
    #[cfg(unix)]
    if let Some(stream) = writer.downcast_ref::<std::os::unix::net::UnixStream>() {
        let stream = stream.try_clone().ok()?;
        return Some(Box::new(move |how| {
            let _ = stream.shutdown(how);
        }));
    }
    #[cfg(feature = "websocket")]
    if let Some(writer) = writer.downcast_ref::<websocket::WsWriter>() {
        // A WebSocket cannot half-close: only the final shutdown is passed on.
        let handle = writer.shutdown_handle();
        return Some(Box::new(move |how| {
            if how == std::net::Shutdown::Both {
                let _ = handle.shutdown();
            }
        }));
    }
    if let Some(writer) = writer.downcast_ref::<memory::PipeWriter>() {
        let handle = writer.shutdown_handle();
        return Some(Box::new(move |how| handle.shutdown_direction(how)));
    }
    None
}
