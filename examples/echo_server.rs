//! Interop echo server: every channel the peer opens with id X and priority P is
//! answered by this side's own channel X with priority P, carrying back every byte
//! read, and finished (FIN) after the peer's FIN.
//!
//! ```text
//! cargo run --release --example echo_server -- --listen 127.0.0.1:0
//! ```
//!
//! Prints exactly one line `listening on IP:PORT` once bound. Every connection is
//! one session on its own threads; a broken or hostile connection ends only itself.

use netconduit::{ChannelOptions, Multiplexer, MultiplexerOptions, ReadChannel};
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;

fn main() -> io::Result<()> {
    let addr = parse_listen_arg().unwrap_or_else(|| {
        eprintln!("usage: echo_server --listen ADDR");
        std::process::exit(2);
    });
    let listener = TcpListener::bind(&addr)?;
    println!("listening on {}", listener.local_addr()?);
    io::stdout().flush()?;
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                thread::spawn(move || {
                    if let Err(error) = serve_connection(stream) {
                        eprintln!("connection ended: {error}");
                    }
                });
            }
            Err(error) => eprintln!("accept failed: {error}"),
        }
    }
    Ok(())
}

fn parse_listen_arg() -> Option<String> {
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--listen" {
            return args.next();
        }
        if let Some(addr) = arg.strip_prefix("--listen=") {
            return Some(addr.to_owned());
        }
    }
    None
}

/// Runs one session until the peer goes away, echoing each channel on a thread.
fn serve_connection(stream: TcpStream) -> netconduit::Result<()> {
    stream.set_nodelay(true).map_err(netconduit::Error::from_transport)?;
    let reader = stream.try_clone().map_err(netconduit::Error::from_transport)?;
    let mux = Multiplexer::new(reader, stream, MultiplexerOptions::default())?;
    let mut workers = Vec::new();
    for inbound in mux.incoming() {
        let mux = mux.clone();
        workers.push(thread::spawn(move || echo_channel(&mux, inbound)));
    }
    for worker in workers {
        let _ = worker.join();
    }
    // No more channels can come (GOAWAY or the session ended): let the last echoes
    // and FINs reach the peer before the transport closes.
    mux.close();
    Err(mux.error().unwrap_or(netconduit::Error::Closed))
}

/// Echoes one channel. If the peer cancels the echo channel, stops writing and
/// finishes it, still draining the inbound channel to its end.
fn echo_channel(mux: &Multiplexer, mut inbound: ReadChannel) {
    let options = ChannelOptions::new(inbound.channel_id()).priority(inbound.priority());
    let mut outbound = mux.open_channel(options).ok();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = match inbound.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(channel) = outbound.as_mut() {
            if channel.write_all(&buffer[..n]).is_err() {
                // Cancelled by the peer (or the session failed): stop writing there.
                outbound.take();
            }
        }
    }
    if let Some(channel) = outbound {
        let _ = channel.close();
    }
}
