//! The multiplexer running over the WebSocket transport: two channels echoed through a
//! server, several MiB each, checksummed.
#![cfg(feature = "websocket")]

#[path = "websocket/common.rs"]
mod common;

use std::io::{Read, Write};
use std::thread;
use std::time::Duration;

use common::*;
use netconduit::transport::websocket::{accept_stream, client_stream, WsConfig, WsReader, WsWriter};
use netconduit::{ChannelOptions, Multiplexer, MultiplexerOptions};

const TOTAL: usize = 4 * 1024 * 1024;
const WAIT: Duration = Duration::from_secs(30);

/// The glue: the multiplexer gets the two halves, and the shutdown handle to unblock its
/// reader thread when the session ends.
fn multiplexer_over((reader, writer): (WsReader, WsWriter)) -> Multiplexer {
    let shutdown = writer.shutdown_handle();
    Multiplexer::with_shutdown(
        reader,
        writer,
        move || {
            let _ = shutdown.shutdown();
        },
        MultiplexerOptions::default(),
    )
    .unwrap()
}

#[test]
fn multiplexer_channels_echo_over_websocket() {
    let (client_tcp, server_tcp) = tcp_pair();
    let server = thread::spawn(move || {
        let mux = multiplexer_over(accept_stream(server_tcp).unwrap());
        let mut echoes = Vec::new();
        for _ in 0..2 {
            let mut inbound = mux.accept_timeout(WAIT).unwrap();
            let mux = mux.clone();
            echoes.push(thread::spawn(move || {
                let mut outbound = mux.open_channel(ChannelOptions::new(inbound.channel_id())).unwrap();
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    match inbound.read(&mut buf).unwrap() {
                        0 => break,
                        n => outbound.write_all(&buf[..n]).unwrap(),
                    }
                }
                outbound.close().unwrap();
            }));
        }
        for echo in echoes {
            echo.join().unwrap();
        }
        // The session ends when the client closes its multiplexer.
        assert!(mux.accept_timeout(WAIT).is_err());
        mux.close();
    });

    let mux = multiplexer_over(client_stream("ws://localhost/mux", client_tcp, &WsConfig::default()).unwrap());
    mux.wait_ready(WAIT).unwrap();
    let workers: Vec<_> = ["alpha", "beta"]
        .into_iter()
        .enumerate()
        .map(|(i, id)| {
            let mux = mux.clone();
            thread::spawn(move || {
                let seed = 100 + i as u64;
                let mut out = mux.open_channel(ChannelOptions::new(id)).unwrap();
                let sender = thread::spawn(move || {
                    let sum = send(&mut out, seed, TOTAL).unwrap();
                    out.close().unwrap();
                    sum
                });
                let mut back = mux.accept_channel_timeout(id, WAIT).unwrap();
                let got = receive(&mut back, TOTAL).unwrap();
                assert_eq!(back.read(&mut [0u8; 8]).unwrap(), 0, "{id}: FIN after the echo");
                assert_eq!(got, sender.join().unwrap(), "{id}: echo corrupted");
                assert_eq!(got, expected_checksum(seed, TOTAL));
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    mux.close();
    server.join().unwrap();
}
