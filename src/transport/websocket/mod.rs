//! WebSocket transport: a WebSocket connection as a plain byte stream.
//!
//! The multiplexer wants a reader (`Read + Send`) and a writer (`Write + Send`) that it drives
//! from two different threads. This module turns a WebSocket over a [`TcpStream`] into exactly
//! that pair, [`WsReader`] and [`WsWriter`]:
//!
//! * bytes written to the [`WsWriter`] travel as **binary** WebSocket messages: they are buffered
//!   and sent as one message when the buffer holds [`WsConfig::max_message_size`] bytes, on
//!   [`flush`](Write::flush), and on [`close`](WsWriter::close) / drop. **Call `flush`** when a
//!   batch is complete, as with [`std::io::BufWriter`];
//! * [`WsReader`] yields the payload bytes of incoming binary messages (fragmented or not) as one
//!   byte stream, without message boundaries. An incoming text message is a protocol error
//!   ([`io::ErrorKind::InvalidData`]); pings are answered with pongs; a Close frame is answered
//!   and then reads return `Ok(0)`.
//!
//! For a multiplexer, [`connect`] (client) and [`accept`] (server, on an accepted `TcpStream`)
//! do everything and return it ready, its handshake done; [`multiplexer`] starts one over halves
//! you made yourself:
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use netconduit::transport::websocket::{self, connect_stream};
//! use netconduit::MultiplexerOptions;
//!
//! let mux = websocket::connect("ws://127.0.0.1:9000/conduit", MultiplexerOptions::default())?;
//! // the same, by hand: `Multiplexer::new` recognises the `WsWriter` and shuts the WebSocket
//! // down when the session ends, which unblocks its reader thread
//! let (reader, writer) = connect_stream("ws://127.0.0.1:9000/conduit")?;
//! let mux = netconduit::Multiplexer::new(reader, writer, MultiplexerOptions::default())?;
//! # Ok(()) }
//! ```
//!
//! On the server side use [`accept_stream`] on an accepted `TcpStream` instead. The halves also
//! work on their own:
//!
//! ```no_run
//! # fn main() -> std::io::Result<()> {
//! use std::io::{Read, Write};
//! use netconduit::transport::websocket::connect_stream;
//!
//! let (mut reader, mut writer) = connect_stream("ws://127.0.0.1:9000/conduit")?;
//! let shutdown = reader.shutdown_handle();
//! std::thread::spawn(move || {
//!     let mut buf = [0u8; 4096];
//!     while reader.read(&mut buf).map(|n| n > 0).unwrap_or(false) {}
//! });
//! writer.write_all(b"hello")?;
//! writer.flush()?;
//! writer.close()?; // Close frame; the reader sees Ok(0) once the peer answers it
//! shutdown.shutdown()?; // or: unblock the reader thread at once
//! # Ok(()) }
//! ```
//!
//! # Design: one WebSocket, two threads
//!
//! tungstenite's [`WebSocket`] is a single object for both directions, and its `read` may itself
//! write (queued pongs and close replies). Sharing it between a thread blocked in `read` and a
//! writing thread would need a lock around the blocking read, which starves the writer. So the
//! `WebSocket` object is only used for the HTTP upgrade; afterwards the connection is driven with
//! tungstenite's frame-level API on two clones of the [`TcpStream`]:
//!
//! * **Reading** — [`WsReader`] owns a [`FrameSocket`] over its own clone of the socket and holds
//!   no lock while it blocks in `read`. It checks each frame the way `WebSocketContext` does (RSV
//!   bits, masking direction, control-frame rules, fragmentation order, frame size limit) and
//!   copies binary payloads straight into the caller's buffer, unmasking client frames on the fly.
//! * **Writing** — every frame, data or control, is encoded into one contiguous buffer (header via
//!   [`FrameHeader::format`](tungstenite::protocol::frame::FrameHeader::format), payload masked in
//!   place when we are the client) and written with a single `write_all` while holding the *write
//!   lock* (a mutex around the write side only). A frame is therefore never interleaved with
//!   another, and the write lock is never held during a read.
//! * **Control replies** — when the reader sees a Ping (or a Close, or has to fail the
//!   connection), it does not write itself unconditionally: it queues the reply in a small
//!   *control queue* and then *tries* the write lock. If the lock is free (the writer is idle) the
//!   reader sends the reply at once, so pongs go out even if the application never writes. If the
//!   lock is taken, the thread holding it sends the queue after its current frame and checks the
//!   queue again after releasing the lock, so no reply is stranded. The reader never waits for
//!   the write lock. (It can block while writing a pong of at most 131 bytes into a full socket
//!   send buffer — i.e. only when the peer has stopped reading altogether.)
//! * **Masks** — client frames are masked as RFC 6455 requires, with 32-bit masks taken from
//!   SipHash keyed by the standard library's per-process random keys (`RandomState`) over a
//!   counter: unpredictable to the peer and to intermediaries, no extra dependency.
//! * **Handshake leftovers** — during [`connect_stream`] / [`client_stream`] / [`accept_stream`]
//!   the handshake reads the socket line by line with `peek`, so tungstenite never reads past the
//!   end of the HTTP header: frames the peer sends right behind its handshake stay in the kernel
//!   buffer and reach [`WsReader`] intact.
//!
//! # Closing and shutting down
//!
//! * [`WsWriter::close`] (and dropping an unclosed writer) flushes buffered data and sends a Close
//!   frame (code 1000). The peer answers with its own Close, after which [`WsReader`] returns
//!   `Ok(0)`. A WebSocket close is **not** a half-close: once either side has sent Close, the
//!   other side answers it as soon as its current frame is out and can send no more data. A
//!   protocol on top must therefore finish its own exchange before closing.
//! * When the peer closes first, the reader returns `Ok(0)` after the Close frame, the reply is
//!   sent automatically, and later writes fail with [`io::ErrorKind::BrokenPipe`].
//! * To unblock a thread blocked in [`WsReader::read`] (e.g. at multiplexer teardown, or when the
//!   peer does not answer a Close), call [`WsShutdown::shutdown`] on a handle from
//!   [`WsReader::shutdown_handle`] or [`WsWriter::shutdown_handle`]: it shuts the TCP socket down
//!   in both directions; the reader then returns `Ok(0)` and writes fail with
//!   [`io::ErrorKind::ConnectionAborted`]. Dropping an unclosed writer after a shutdown does not
//!   try to send a Close frame.
//! * Once Close frames went both ways, the TCP write side is shut down (FIN), so the peer sees
//!   the end of the connection without waiting for the application to drop the halves (as the
//!   server this is RFC 6455's "the server closes the TCP connection first").
//!
//! # Errors
//!
//! All errors are [`io::Error`]s with deliberate kinds. Where tungstenite produced or names the
//! failure, the [`tungstenite::Error`] is the error's [`source`](std::error::Error::source):
//!
//! | condition | kind |
//! |---|---|
//! | text message, bad frame, masking violation, bad close frame, bad HTTP upgrade | `InvalidData` |
//! | incoming frame larger than [`WsConfig::max_frame_size`] | `InvalidData` |
//! | TCP closed without a WebSocket close handshake | `UnexpectedEof` |
//! | write after the peer closed / after [`WsWriter::close`] | `BrokenPipe` |
//! | write after [`WsShutdown::shutdown`], or after the reader failed the connection | `ConnectionAborted` |
//! | server refused the upgrade (HTTP status other than 101) | `ConnectionRefused` |
//! | bad URL or request, `wss://` (TLS is not provided here) | `InvalidInput` / `Unsupported` |
//! | operating-system errors (`ConnectionReset`, `TimedOut`, …) | passed through unchanged |
//!
//! After a protocol error the reader sends a Close frame with the matching code (1002, 1003 for
//! text, 1007, 1009) when it can, and keeps failing; the connection should be dropped.

mod reader;
mod ready;
mod wire;
mod writer;

use reader::ReadState;
pub use reader::WsReader;
pub use ready::{accept, connect, multiplexer};
pub use writer::{WsShutdown, WsWriter};

use std::collections::hash_map::RandomState;
use std::error::Error as StdError;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use parking_lot::Mutex;
use tungstenite::client::IntoClientRequest;
use tungstenite::error::ProtocolError;
use tungstenite::handshake::client::Request;
use tungstenite::handshake::{HandshakeError, HandshakeRole};
use tungstenite::protocol::frame::FrameSocket;
use tungstenite::protocol::Role;
use tungstenite::stream::Mode;
use tungstenite::{Bytes, WebSocket};

use wire::{ControlQueue, MaskGen, Shared, WriteSide};

/// Room reserved in front of every outgoing payload for the largest frame header.
const HEADER_ROOM: usize = 14;
/// Unanswered pongs kept at most; RFC 6455 allows answering only the most recent ping.
const MAX_QUEUED_PONGS: usize = 16;

/// Settings for a WebSocket byte-stream pair.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WsConfig {
    /// Largest payload of one outgoing binary message, in bytes (default 64 KiB). Larger writes
    /// are split into several messages. Keep it below the peer's message limit (Python's
    /// `websockets` accepts 1 MiB by default).
    pub max_message_size: usize,
    /// Largest payload of one incoming frame, in bytes (default 16 MiB). A larger frame fails the
    /// connection with [`io::ErrorKind::InvalidData`]. Messages are streamed, not assembled, so
    /// only single frames are buffered.
    pub max_frame_size: usize,
}

impl Default for WsConfig {
    fn default() -> Self {
        WsConfig { max_message_size: 64 * 1024, max_frame_size: 16 * 1024 * 1024 }
    }
}

impl WsConfig {
    /// Sets [`max_message_size`](Self::max_message_size).
    ///
    /// # Panics
    /// If `bytes` is zero.
    pub fn with_max_message_size(mut self, bytes: usize) -> Self {
        assert!(bytes > 0, "max_message_size must be at least 1");
        self.max_message_size = bytes;
        self
    }

    /// Sets [`max_frame_size`](Self::max_frame_size).
    ///
    /// # Panics
    /// If `bytes` is zero.
    pub fn with_max_frame_size(mut self, bytes: usize) -> Self {
        assert!(bytes > 0, "max_frame_size must be at least 1");
        self.max_frame_size = bytes;
        self
    }
}

// ---------------------------------------------------------------------------------------------
// Constructors
// ---------------------------------------------------------------------------------------------

/// Connects to a `ws://` URL (or any [`IntoClientRequest`], e.g. an `http::Request` with extra
/// headers) and performs the client handshake; `TCP_NODELAY` is set.
///
/// `wss://` fails with [`io::ErrorKind::Unsupported`]: this transport speaks plain TCP.
pub fn connect_stream<R: IntoClientRequest>(request: R) -> io::Result<(WsReader, WsWriter)> {
    connect_stream_with_config(request, &WsConfig::default())
}

/// [`connect_stream`] with explicit settings.
pub fn connect_stream_with_config<R: IntoClientRequest>(
    request: R,
    config: &WsConfig,
) -> io::Result<(WsReader, WsWriter)> {
    let request = request.into_client_request().map_err(|e| tungstenite_error(e, "invalid WebSocket request"))?;
    let tcp = TcpStream::connect(plain_endpoint(&request)?)?;
    client_stream(request, tcp, config)
}

/// Host and port a `ws://` request connects to; `wss://` fails with
/// [`io::ErrorKind::Unsupported`].
fn plain_endpoint(request: &Request) -> io::Result<(&str, u16)> {
    let uri = request.uri();
    match tungstenite::client::uri_mode(uri).map_err(|e| tungstenite_error(e, "invalid URL"))? {
        Mode::Plain => {}
        Mode::Tls => {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "wss:// needs TLS, which the netconduit WebSocket transport does not provide",
            ))
        }
    }
    let host = uri.host().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "WebSocket URL has no host"))?;
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    Ok((host, uri.port_u16().unwrap_or(80)))
}

/// Performs the client handshake over an already connected `tcp` stream; `TCP_NODELAY` is set.
pub fn client_stream<R: IntoClientRequest>(
    request: R,
    tcp: TcpStream,
    config: &WsConfig,
) -> io::Result<(WsReader, WsWriter)> {
    tcp.set_nodelay(true)?;
    let (ws, _response) = tungstenite::client(request, HandshakeStream(tcp)).map_err(handshake_error)?;
    split(ws.into_inner().0, Role::Client, config)
}

/// Performs the server handshake on an accepted `tcp` stream; `TCP_NODELAY` is set.
///
/// To inspect or answer the HTTP request yourself, use `tungstenite::accept_hdr` and pass the
/// result to [`from_websocket`] with [`Role::Server`].
pub fn accept_stream(tcp: TcpStream) -> io::Result<(WsReader, WsWriter)> {
    accept_stream_with_config(tcp, &WsConfig::default())
}

/// [`accept_stream`] with explicit settings.
pub fn accept_stream_with_config(tcp: TcpStream, config: &WsConfig) -> io::Result<(WsReader, WsWriter)> {
    tcp.set_nodelay(true)?;
    let ws = tungstenite::accept(HandshakeStream(tcp)).map_err(handshake_error)?;
    split(ws.into_inner().0, Role::Server, config)
}

/// Takes over an already upgraded tungstenite socket; `role` must be the role it was created
/// with (tungstenite does not expose it). Anything queued in `ws` is flushed first; `TCP_NODELAY`
/// is set.
///
/// Bytes tungstenite has already read from the socket but not yet returned as a message are
/// lost. That cannot happen for server sockets from `tungstenite::accept*` that have not been
/// read from (tungstenite rejects data behind the request, and a client must wait for the
/// upgrade). A client socket may hold frames the server sent right behind its handshake
/// response: on the client side prefer [`client_stream`] or [`connect_stream`], which keep them.
pub fn from_websocket(ws: WebSocket<TcpStream>, role: Role) -> io::Result<(WsReader, WsWriter)> {
    from_websocket_with_config(ws, role, &WsConfig::default())
}

/// [`from_websocket`] with explicit settings.
pub fn from_websocket_with_config(
    mut ws: WebSocket<TcpStream>,
    role: Role,
    config: &WsConfig,
) -> io::Result<(WsReader, WsWriter)> {
    if !ws.can_write() {
        return Err(io::Error::new(io::ErrorKind::NotConnected, "WebSocket is already closing"));
    }
    ws.flush().map_err(|e| tungstenite_error(e, "flushing the WebSocket failed"))?;
    let tcp = ws.into_inner();
    tcp.set_nodelay(true)?;
    split(tcp, role, config)
}

fn split(tcp: TcpStream, role: Role, config: &WsConfig) -> io::Result<(WsReader, WsWriter)> {
    assert!(config.max_message_size > 0 && config.max_frame_size > 0, "invalid WsConfig");
    let read_half = tcp.try_clone()?;
    let shared = Arc::new(Shared {
        role,
        tcp,
        write: Mutex::new(WriteSide {
            masks: MaskGen { keys: RandomState::new(), counter: 0 },
            scratch: Vec::with_capacity(HEADER_ROOM + 125),
            stopped: None,
        }),
        control: Mutex::new(ControlQueue::default()),
        write_stopped: AtomicBool::new(false),
        shut_down: AtomicBool::new(false),
    });
    let reader = WsReader {
        socket: FrameSocket::new(read_half),
        shared: Arc::clone(&shared),
        max_frame_size: config.max_frame_size,
        data: Bytes::new(),
        pos: 0,
        mask: None,
        in_fragmented: false,
        state: ReadState::Open,
    };
    let mut buf = Vec::with_capacity(HEADER_ROOM + config.max_message_size.min(1 << 20));
    buf.resize(HEADER_ROOM, 0);
    let writer = WsWriter { shared, buf, max_message_size: config.max_message_size, closed: false };
    Ok((reader, writer))
}

/// The socket during the HTTP upgrade: reads at most one line at a time (via `peek`), so the
/// handshake never consumes bytes that follow the HTTP header.
struct HandshakeStream(TcpStream);

impl Read for HandshakeStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = loop {
            match self.0.peek(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        let take = buf[..n].iter().position(|&b| b == b'\n').map_or(n, |i| i + 1);
        self.0.read_exact(&mut buf[..take])?;
        Ok(take)
    }
}

impl Write for HandshakeStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// The payload of our `io::Error`s: a message, with the tungstenite error as `source()`.
#[derive(Debug)]
struct WsError {
    message: String,
    source: Option<tungstenite::Error>,
}

impl fmt::Display for WsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for WsError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source.as_ref().map(|e| e as &(dyn StdError + 'static))
    }
}

fn wrap(kind: io::ErrorKind, message: String, source: Option<tungstenite::Error>) -> io::Error {
    io::Error::new(kind, WsError { message, source })
}

fn shut_down_error() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, "the WebSocket transport was shut down locally")
}

fn tungstenite_error(err: tungstenite::Error, context: &str) -> io::Error {
    use tungstenite::Error as E;
    let kind = match &err {
        E::Io(e) => e.kind(),
        E::ConnectionClosed | E::AlreadyClosed => io::ErrorKind::NotConnected,
        E::Protocol(ProtocolError::HandshakeIncomplete | ProtocolError::ResetWithoutClosingHandshake) => {
            io::ErrorKind::UnexpectedEof
        }
        E::Protocol(ProtocolError::SendAfterClosing) => io::ErrorKind::BrokenPipe,
        E::Capacity(_) | E::Protocol(_) | E::Utf8(_) | E::AttackAttempt | E::HttpFormat(_) => {
            io::ErrorKind::InvalidData
        }
        E::Url(_) => io::ErrorKind::InvalidInput,
        E::Http(_) => io::ErrorKind::ConnectionRefused,
        E::WriteBufferFull(_) => io::ErrorKind::WouldBlock,
        E::Tls(_) => io::ErrorKind::Unsupported,
    };
    wrap(kind, format!("{context}: {err}"), Some(err))
}

fn handshake_error<R: HandshakeRole>(err: HandshakeError<R>) -> io::Error {
    match err {
        HandshakeError::Failure(e) => tungstenite_error(e, "WebSocket handshake failed"),
        HandshakeError::Interrupted(_) => io::Error::new(
            io::ErrorKind::WouldBlock,
            "WebSocket handshake interrupted: the socket must be in blocking mode",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_are_send() {
        fn assert_send<T: Send + 'static>() {}
        assert_send::<WsReader>();
        assert_send::<WsWriter>();
        fn assert_sync<T: Send + Sync + Clone>() {}
        assert_sync::<WsShutdown>();
    }
}
