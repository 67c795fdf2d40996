//! A loopback TCP connection for the benchmarks (shared by `compare` and
//! `copy_alignment`).

use std::io;
use std::net::{TcpListener, TcpStream};

/// A connected loopback TCP pair (client, server), Nagle off on both.
pub fn tcp_pair() -> io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let client = TcpStream::connect(listener.local_addr()?)?;
    let (server, _) = listener.accept()?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    Ok((client, server))
}
