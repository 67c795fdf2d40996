//! Transports: the byte streams a multiplexer runs over.
//!
//! Any `Read + Write` pair works with [`Multiplexer::new`](crate::Multiplexer::new).
//! This module adds an in-memory pipe for tests and examples, and knows how to
//! shut down the standard library's sockets so a closing multiplexer can unblock
//! its reader thread.

pub mod memory;
#[cfg(feature = "websocket")]
pub mod websocket;

use crate::driver::ShutdownFn;
use std::any::Any;
use std::net::TcpStream;

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
