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

mod common;

use netconduit::{transport::tcp, MultiplexerOptions};
use std::io::{self, Write};
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
    let mux = tcp::multiplexer(stream, MultiplexerOptions::default())?;
    Err(common::serve(&mux))
}
