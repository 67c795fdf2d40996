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
use std::net::{Shutdown, TcpStream};

/// A shutdown hook for the writers whose type this crate recognises: a
/// `TcpStream`, a `UnixStream` or a memory pipe writer.
pub(crate) fn shutdown_for<W: Any>(writer: &W) -> Option<ShutdownFn> {
    let writer = writer as &dyn Any;
    if let Some(stream) = writer.downcast_ref::<TcpStream>() {
        let stream = stream.try_clone().ok()?;
        return Some(Box::new(move || {
            let _ = stream.shutdown(Shutdown::Both);
        }));
    }
    #[cfg(unix)]
    if let Some(stream) = writer.downcast_ref::<std::os::unix::net::UnixStream>() {
        let stream = stream.try_clone().ok()?;
        return Some(Box::new(move || {
            let _ = stream.shutdown(Shutdown::Both);
        }));
    }
    if let Some(writer) = writer.downcast_ref::<memory::PipeWriter>() {
        let handle = writer.shutdown_handle();
        return Some(Box::new(move || handle.shutdown()));
    }
    None
}
