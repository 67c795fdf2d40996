//! Ready multiplexers over a WebSocket: connect or accept, upgrade, start the
//! session and wait for its handshake — the WebSocket counterpart of
//! [`transport::tcp`](crate::transport::tcp).

use super::{accept_stream, client_stream, plain_endpoint, tungstenite_error, WsConfig, WsReader, WsWriter};
use crate::error::{Error, Result};
use crate::options::MultiplexerOptions;
use crate::transport::tcp::{connect_stream, DEFAULT_CONNECT_TIMEOUT};
use crate::Multiplexer;
use std::io;
use std::net::TcpStream;
use std::time::Duration;
use tungstenite::client::IntoClientRequest;

/// Connects to a `ws://` URL (or any [`IntoClientRequest`], e.g. a request with
/// extra headers for a proxy), performs the HTTP upgrade and returns a ready
/// multiplexer.
///
/// The TCP connection takes at most [`DEFAULT_CONNECT_TIMEOUT`] (every address the
/// host resolves to is tried), the upgrade and then the netconduit handshake at most
/// `options.handshake_timeout` each. Messages use the default [`WsConfig`]; for
/// other settings connect with [`client_stream`] and pass the halves to
/// [`multiplexer`].
///
/// Errors: [`Error::Transport`] for a bad URL (`InvalidInput`), `wss://`
/// (`Unsupported`: no TLS here), a failed connection, or an upgrade the server
/// refused (`ConnectionRefused`) or garbled (`InvalidData`); [`Error::Timeout`] when
/// the upgrade or the handshake did not complete in time; the session's error when
/// the server speaks something other than netconduit.
///
/// ```no_run
/// use netconduit::{transport::websocket, ChannelOptions, MultiplexerOptions};
/// use std::io::Write;
///
/// let mux = websocket::connect("ws://example.com:8080/conduit", MultiplexerOptions::default())?;
/// let mut channel = mux.open_channel(ChannelOptions::new("log"))?;
/// channel.write_all(b"hello over HTTP")?;
/// channel.close()?;
/// mux.close();
/// # Ok::<(), netconduit::Error>(())
/// ```
pub fn connect<R: IntoClientRequest>(request: R, options: MultiplexerOptions) -> Result<Multiplexer> {
    options.validate()?;
    let request = request
        .into_client_request()
        .map_err(|e| Error::from_transport(tungstenite_error(e, "invalid WebSocket request")))?;
    let endpoint = plain_endpoint(&request).map_err(Error::from_transport)?;
    let tcp = connect_stream(endpoint, DEFAULT_CONNECT_TIMEOUT).map_err(Error::from_transport)?;
    let halves =
        upgrade_within(tcp, options.handshake_timeout, |tcp| client_stream(request, tcp, &WsConfig::default()))?;
    multiplexer(halves, options)
}

/// Performs the server side of the HTTP upgrade on an accepted connection and
/// returns a ready multiplexer. The upgrade and then the netconduit handshake take
/// at most `options.handshake_timeout` each.
///
/// Errors: [`Error::Transport`] when the request is not a valid WebSocket upgrade
/// (`InvalidData`) or the socket fails, [`Error::Timeout`] when the upgrade or the
/// handshake did not complete in time, the session's error otherwise.
///
/// To answer the HTTP request yourself (check a path, a header, a token), upgrade
/// with `tungstenite::accept_hdr` and pass
/// [`from_websocket(ws, Role::Server)`](super::from_websocket) to [`multiplexer`].
///
/// ```no_run
/// use netconduit::{transport::websocket, MultiplexerOptions};
/// use std::net::TcpListener;
///
/// let listener = TcpListener::bind("0.0.0.0:8080")?;
/// for stream in listener.incoming() {
///     let stream = stream?;
///     std::thread::spawn(move || match websocket::accept(stream, MultiplexerOptions::default()) {
///         Ok(mux) => mux.incoming().for_each(|channel| println!("channel {}", channel.channel_id())),
///         Err(error) => eprintln!("WebSocket client failed: {error}"),
///     });
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn accept(tcp: TcpStream, options: MultiplexerOptions) -> Result<Multiplexer> {
    options.validate()?;
    let halves = upgrade_within(tcp, options.handshake_timeout, accept_stream)?;
    multiplexer(halves, options)
}

/// Starts a multiplexer over the two halves of an upgraded WebSocket (from
/// [`connect_stream`](super::connect_stream), [`client_stream`],
/// [`accept_stream`], [`from_websocket`](super::from_websocket) or their `_with_config`
/// variants) and waits for the handshake, at most `options.handshake_timeout`.
///
/// The multiplexer shuts the WebSocket down when it closes, which unblocks its
/// reader thread. After an error the connection is shut down, as in
/// [`tcp::multiplexer`](crate::transport::tcp::multiplexer).
///
/// ```no_run
/// use netconduit::{transport::websocket, MultiplexerOptions};
/// use tungstenite::protocol::Role;
///
/// let listener = std::net::TcpListener::bind("0.0.0.0:8080")?;
/// let (stream, _) = listener.accept()?;
/// let ws = tungstenite::accept(stream)?; // or accept_hdr, checking the request
/// let mux = websocket::multiplexer(websocket::from_websocket(ws, Role::Server)?, MultiplexerOptions::default())?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn multiplexer((reader, writer): (WsReader, WsWriter), options: MultiplexerOptions) -> Result<Multiplexer> {
    let handshake_timeout = options.handshake_timeout;
    let mux = Multiplexer::new(reader, writer, options)?;
    crate::transport::when_ready(mux, handshake_timeout)
}

/// Runs the HTTP upgrade with reads bounded by `timeout` (a read timeout on the
/// socket, lifted again afterwards), so a silent peer cannot hold it forever.
fn upgrade_within(
    tcp: TcpStream,
    timeout: Duration,
    upgrade: impl FnOnce(TcpStream) -> io::Result<(WsReader, WsWriter)>,
) -> Result<(WsReader, WsWriter)> {
    // The clone shares the socket, and with it the timeout setting.
    let socket = tcp.try_clone().map_err(Error::from_transport)?;
    socket.set_read_timeout(Some(timeout)).map_err(Error::from_transport)?;
    match upgrade(tcp) {
        Ok(halves) => {
            socket.set_read_timeout(None).map_err(Error::from_transport)?;
            Ok(halves)
        }
        // An expired read timeout shows as `WouldBlock` on Unix, `TimedOut` on Windows.
        Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
            Err(Error::Timeout("WebSocket upgrade"))
        }
        Err(e) => Err(Error::from_transport(e)),
    }
}
