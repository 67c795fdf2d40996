//! [`WsWriter`] and [`WsShutdown`].

use std::fmt;
use std::io::{self, IoSlice, Write};
use std::net::Shutdown;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::wire::Shared;
use super::HEADER_ROOM;

/// Write timeout put on the socket (if it has none) for the best-effort close in `Drop`.
const DROP_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// The sending half: bytes written here travel as binary WebSocket messages.
///
/// Data is buffered until [`WsConfig::max_message_size`](super::WsConfig::max_message_size) bytes
/// are pending, [`flush`] is called, or the writer is closed; each such batch is one message.
/// Dropping an unclosed writer flushes and sends a Close frame, best effort: if the socket has no
/// write timeout, one of 5 seconds is set first, so a peer that stopped reading cannot hang the
/// drop. After [`WsShutdown::shutdown`], drop sends nothing.
///
/// [`flush`]: Write::flush
pub struct WsWriter {
    pub(super) shared: Arc<Shared>,
    /// HEADER_ROOM bytes of room for the frame header, then the pending payload.
    pub(super) buf: Vec<u8>,
    pub(super) max_message_size: usize,
    pub(super) closed: bool,
}

impl WsWriter {
    /// A handle that can shut the connection down from any thread, unblocking the reader.
    pub fn shutdown_handle(&self) -> WsShutdown {
        WsShutdown { shared: Arc::clone(&self.shared) }
    }

    /// Flushes buffered data and sends a Close frame (status 1000). Idempotent; succeeds without
    /// sending anything if the peer closed first. The reader returns `Ok(0)` once the peer
    /// answers; later writes fail with [`io::ErrorKind::BrokenPipe`].
    pub fn close(&mut self) -> io::Result<()> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        let flushed = self.send_buffered();
        let closed = self.shared.send_local_close();
        flushed.and(closed)
    }

    fn ensure_open(&self) -> io::Result<()> {
        if self.closed {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "the WebSocket writer was closed"));
        }
        if self.shared.write_stopped.load(Ordering::Acquire) || self.shared.shut_down.load(Ordering::Acquire) {
            return self.shared.write.lock().check_open(&self.shared);
        }
        Ok(())
    }

    fn send_buffered(&mut self) -> io::Result<()> {
        if self.buf.len() == HEADER_ROOM {
            self.shared.pump_control();
            return Ok(());
        }
        let result = self.shared.send_message(&mut self.buf);
        self.buf.truncate(HEADER_ROOM);
        result
    }
}

impl Write for WsWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(data)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.ensure_open()?;
        if bufs.iter().all(|b| b.is_empty()) {
            return Ok(0);
        }
        if self.buf.len() - HEADER_ROOM >= self.max_message_size {
            self.send_buffered()?;
        }
        let mut room = self.max_message_size - (self.buf.len() - HEADER_ROOM);
        let mut written = 0;
        for b in bufs {
            let take = room.min(b.len());
            self.buf.extend_from_slice(&b[..take]);
            written += take;
            room -= take;
            if room == 0 {
                break;
            }
        }
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.ensure_open()?;
        self.send_buffered()
    }
}

impl Drop for WsWriter {
    fn drop(&mut self) {
        if !self.closed && !self.shared.shut_down.load(Ordering::Acquire) {
            if matches!(self.shared.tcp.write_timeout(), Ok(None)) {
                let _ = self.shared.tcp.set_write_timeout(Some(DROP_CLOSE_TIMEOUT));
            }
            let _ = self.close();
        }
    }
}

impl fmt::Debug for WsWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsWriter")
            .field("role", &self.shared.role)
            .field("peer", &self.shared.tcp.peer_addr().ok())
            .field("buffered", &(self.buf.len() - HEADER_ROOM))
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

/// Shuts a WebSocket byte-stream pair down from any thread (cheap to clone).
///
/// [`shutdown`](Self::shutdown) is the way to unblock a thread blocked in
/// [`WsReader::read`](super::WsReader).
#[derive(Clone)]
pub struct WsShutdown {
    pub(super) shared: Arc<Shared>,
}

impl WsShutdown {
    /// Shuts the TCP socket down in both directions, without a close handshake. A blocked or
    /// later [`WsReader::read`](super::WsReader) returns `Ok(0)`; writes fail with
    /// [`io::ErrorKind::ConnectionAborted`]. Idempotent.
    pub fn shutdown(&self) -> io::Result<()> {
        self.shared.shut_down.store(true, Ordering::Release);
        match self.shared.tcp.shutdown(Shutdown::Both) {
            Err(e) if e.kind() != io::ErrorKind::NotConnected => Err(e),
            _ => Ok(()),
        }
    }
}

impl fmt::Debug for WsShutdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsShutdown")
            .field("shut_down", &self.shared.shut_down.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}
