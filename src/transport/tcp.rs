//! TCP: connect to or accept a peer and get a multiplexer whose handshake is done.
//!
//! Every function here sets `TCP_NODELAY` (the writer thread batches frames itself,
//! so Nagle's algorithm would only add latency), splits the socket with
//! [`TcpStream::try_clone`] into the reader and writer halves, and starts the
//! multiplexer with [`Multiplexer::new`], which shuts the socket down when the
//! session ends: a closing or aborted multiplexer half-closes, then unblocks its own
//! reader thread, so no thread stays behind in `read`.
//!
//! They all return a **ready** multiplexer: they wait for the peer's HANDSHAKE, at
//! most `options.handshake_timeout` (10 s by default), and otherwise fail with
//! [`Error::Timeout`] (a peer that says nothing) or the session's error (a peer
//! that speaks something else). The failed session ends as after any session
//! error: its ERROR frame tells the peer why, and the connection is shut down once
//! the peer ends it too, at most `options.linger_timeout` later.
//!
//! ```
//! use netconduit::{transport::tcp, ChannelOptions, MultiplexerOptions};
//! use std::io::{Read, Write};
//! use std::net::TcpListener;
//!
//! let listener = TcpListener::bind("127.0.0.1:0")?;
//! let addr = listener.local_addr()?;
//! let server = std::thread::spawn(move || -> netconduit::Result<Vec<u8>> {
//!     let (mux, _peer) = tcp::accept(&listener, MultiplexerOptions::default())?;
//!     let mut greeting = Vec::new();
//!     mux.accept_channel("greeting")?.read_to_end(&mut greeting)?;
//!     Ok(greeting)
//! });
//!
//! let client = tcp::connect(addr, MultiplexerOptions::default())?;
//! let mut channel = client.open_channel(ChannelOptions::new("greeting"))?;
//! channel.write_all(b"hello")?;
//! channel.close()?;
//! assert_eq!(server.join().unwrap()?, b"hello");
//! client.close();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::error::{Error, Result};
use crate::options::MultiplexerOptions;
use crate::Multiplexer;
use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// The connect timeout of [`connect`]: 10 s.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects to `addr` and returns a ready multiplexer; see [`connect_timeout`].
/// Establishing the TCP connection takes at most [`DEFAULT_CONNECT_TIMEOUT`].
pub fn connect(addr: impl ToSocketAddrs, options: MultiplexerOptions) -> Result<Multiplexer> {
    connect_timeout(addr, DEFAULT_CONNECT_TIMEOUT, options)
}

/// Connects to `addr` and returns a ready multiplexer.
///
/// Tries every address `addr` resolves to (a host name may resolve to an IPv6 and an
/// IPv4 address), in order, until one accepts; `timeout` bounds all the attempts
/// together (name resolution itself is the system resolver's and has no deadline
/// here). Then waits for the peer's handshake, at most `options.handshake_timeout`.
///
/// Errors:
/// - [`Error::Transport`] when no address accepted the connection, with the last
///   attempt's error kind (`ConnectionRefused`, `TimedOut`, ...) and its address in
///   the message; `InvalidInput` when `addr` resolved to nothing or `timeout` is zero.
/// - [`Error::Timeout`] when the peer accepted the connection but sent no
///   handshake in time; the session's error when it sent something else.
/// - [`Error::InvalidArgument`] when `options` are invalid.
pub fn connect_timeout(
    addr: impl ToSocketAddrs,
    timeout: Duration,
    options: MultiplexerOptions,
) -> Result<Multiplexer> {
    options.validate()?;
    let stream = connect_stream(addr, timeout).map_err(Error::from_transport)?;
    multiplexer(stream, options)
}

/// Accepts the next connection on `listener` and returns a ready multiplexer and the
/// peer's address.
///
/// Waits for a connection (as long as [`TcpListener::accept`] does), then for its
/// handshake: a client that connects and then stays silent or misbehaves holds this
/// call at most `options.handshake_timeout + options.linger_timeout`. A server
/// facing untrusted clients may rather accept streams itself and call
/// [`multiplexer`] on a thread per connection.
///
/// Errors: [`Error::Transport`] when `accept` fails; for a failed handshake the
/// errors of [`multiplexer`].
pub fn accept(listener: &TcpListener, options: MultiplexerOptions) -> Result<(Multiplexer, SocketAddr)> {
    let (stream, peer) = listener.accept().map_err(Error::from_transport)?;
    Ok((multiplexer(stream, options)?, peer))
}

/// An endless iterator of ready multiplexers, one per accepted connection.
///
/// Each item is what [`accept`] returns, without the address: a connection that
/// fails (a refused accept, a handshake that times out or goes wrong) yields its
/// error, and the next call accepts the next connection. The iteration never ends
/// by itself; `listener` must be in blocking mode.
///
/// ```no_run
/// use netconduit::{transport::tcp, MultiplexerOptions};
/// use std::net::TcpListener;
///
/// let listener = TcpListener::bind("0.0.0.0:7000")?;
/// for mux in tcp::incoming(&listener, MultiplexerOptions::default()) {
///     match mux {
///         Ok(mux) => {
///             std::thread::spawn(move || {
///                 for channel in mux.incoming() {
///                     println!("peer opened {}", channel.channel_id());
///                 }
///             });
///         }
///         Err(error) => eprintln!("connection failed: {error}"),
///     }
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn incoming(listener: &TcpListener, options: MultiplexerOptions) -> Incoming<'_> {
    Incoming { listener, options }
}

/// Iterator returned by [`incoming`].
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
    options: MultiplexerOptions,
}

impl Iterator for Incoming<'_> {
    type Item = Result<Multiplexer>;

    fn next(&mut self) -> Option<Result<Multiplexer>> {
        Some(accept(self.listener, self.options.clone()).map(|(mux, _)| mux))
    }
}

/// Starts a multiplexer over a connected `stream` and waits for the handshake, at
/// most `options.handshake_timeout`. Sets `TCP_NODELAY`; the multiplexer shuts the
/// socket down when it closes.
///
/// Errors: [`Error::Transport`] when the socket cannot be configured or cloned,
/// [`Error::Timeout`] when the peer sent no handshake in time, the session's error
/// when it sent something else, [`Error::InvalidArgument`] for invalid `options`.
/// After an error the connection is shut down (see the [module docs](self)).
pub fn multiplexer(stream: TcpStream, options: MultiplexerOptions) -> Result<Multiplexer> {
    stream.set_nodelay(true).map_err(Error::from_transport)?;
    let reader = stream.try_clone().map_err(Error::from_transport)?;
    let handshake_timeout = options.handshake_timeout;
    let mux = Multiplexer::new(reader, stream, options)?;
    super::when_ready(mux, handshake_timeout)
}

/// Connects to the first address that accepts within the shared deadline.
pub(crate) fn connect_stream(addr: impl ToSocketAddrs, timeout: Duration) -> io::Result<TcpStream> {
    if timeout.is_zero() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "connect timeout must be positive"));
    }
    let deadline = Instant::now() + timeout;
    let mut last_error = None;
    for addr in addr.to_socket_addrs()? {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            last_error = Some(ConnectError::wrap(addr, io::ErrorKind::TimedOut.into()));
            break;
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(stream) => return Ok(stream),
            Err(error) => last_error = Some(ConnectError::wrap(addr, error)),
        }
    }
    Err(last_error
        .unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the address resolved to no socket address")))
}

/// A failed connection attempt: the address in the message, the OS error as the
/// source, and the OS error's kind on the `io::Error` around it.
#[derive(Debug)]
struct ConnectError {
    addr: SocketAddr,
    source: io::Error,
}

impl ConnectError {
    fn wrap(addr: SocketAddr, source: io::Error) -> io::Error {
        io::Error::new(source.kind(), ConnectError { addr, source })
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot connect to {}: {}", self.addr, self.source)
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}
