//! Shared by the examples: the echo service that `echo_server` runs per TCP
//! connection and `stdio_peer` runs over its stdin/stdout.
#![allow(dead_code)] // each example uses a part

use netconduit::{ChannelOptions, Error, Multiplexer, ReadChannel};
use std::io::{Read, Write};
use std::thread;

/// Echoes every channel the peer opens until no more can come (GOAWAY, or the
/// session ended), then closes the session gracefully, so the last echoes and FINs
/// reach the peer. Returns why the session ended.
///
/// Every channel with id X and priority P is answered by this side's own channel X
/// with priority P, carrying back every byte read, finished (FIN) after the peer's
/// FIN.
pub fn serve(mux: &Multiplexer) -> Error {
    let mut workers = Vec::new();
    for inbound in mux.incoming() {
        let mux = mux.clone();
        workers.push(thread::spawn(move || echo_channel(&mux, inbound)));
    }
    for worker in workers {
        let _ = worker.join();
    }
    mux.close();
    mux.error().unwrap_or(Error::Closed)
}

/// Echoes one channel. If the peer cancels the echo channel, stops writing and
/// finishes it, still draining the inbound channel to its end.
pub fn echo_channel(mux: &Multiplexer, mut inbound: ReadChannel) {
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
