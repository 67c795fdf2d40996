//! A pseudo-terminal pair standing in for a serial line: `socat` links two ptys in
//! raw mode, one multiplexer opens each slave device like a serial port
//! (`/dev/pts/N`, read + write), and checksummed bulk transfers go both ways.
//!
//! A tty has no end of stream, so a graceful close waits `linger_timeout` for one
//! that never comes; then the shutdown hook hangs the line up (ends socat), which
//! makes the blocked reads return, and every thread is joined.
//!
//! Needs `socat` (Debian package `socat`; `.ci/run` installs it). When it is missing
//! the test tries `apt-get install socat` and, if that fails too, skips with a
//! message saying so.
#![cfg(target_os = "linux")]

mod common;
#[path = "transport/support.rs"]
mod support;

use common::*;
use netconduit::{Multiplexer, MultiplexerOptions};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

/// Bytes each way: socat copies through two ptys, far slower than a socket.
const BULK: u64 = 4 << 20;

fn socat_runs() -> bool {
    Command::new("socat").arg("-V").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// True when socat is available, installing it with apt-get if it is not.
fn ensure_socat() -> bool {
    if socat_runs() {
        return true;
    }
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let _ =
        apt(&["install", "-y", "-qq", "socat"]) || (apt(&["update", "-qq"]) && apt(&["install", "-y", "-qq", "socat"]));
    socat_runs()
}

/// The socat process linking the two ptys; ending it hangs both lines up.
#[derive(Clone)]
struct Line(Arc<Mutex<Child>>);

impl Line {
    /// Starts socat and returns it with the two pty paths, once it is copying.
    fn start() -> (Line, PathBuf, PathBuf) {
        let mut child = Command::new("socat")
            .args(["-d", "-d", "pty,rawer", "pty,rawer"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start socat");
        let stderr = child.stderr.take().expect("piped stderr");
        let line = Line(Arc::new(Mutex::new(child)));
        // socat logs "N PTY is /dev/pts/N" twice, then "N starting data transfer
        // loop"; its stderr is drained to the end so it never blocks on it.
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for text in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(text);
            }
        });
        let mut paths = Vec::new();
        loop {
            let text = rx.recv_timeout(TIMEOUT).expect("socat reports its ptys and starts copying");
            if let Some((_, path)) = text.split_once("PTY is ") {
                paths.push(PathBuf::from(path.trim()));
            } else if text.contains("starting data transfer loop") {
                break;
            }
        }
        assert_eq!(paths.len(), 2, "socat reported two ptys: {paths:?}");
        (line, paths.remove(0), paths.remove(0))
    }

    fn hang_up(&self) {
        let mut child = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Opens a pty like a serial port and starts a multiplexer on it, with hanging up
/// the line as its shutdown hook.
fn start(path: &PathBuf, line: &Line) -> Multiplexer {
    let port: File = OpenOptions::new().read(true).write(true).open(path).expect("open the pty");
    let reader = port.try_clone().expect("clone the pty handle");
    let line = line.clone();
    let options = MultiplexerOptions { linger_timeout: Duration::from_millis(300), ..Default::default() };
    Multiplexer::with_shutdown(reader, port, move || line.hang_up(), options).expect("multiplexer starts")
}

#[test]
fn pty_pair_carries_bulk_both_ways() {
    if !ensure_socat() {
        eprintln!("SKIPPED transport_pty: socat is not installed and `apt-get install socat` failed");
        return;
    }
    bounded(Duration::from_secs(120), || {
        let (line, first, second) = Line::start();
        let a = start(&first, &line);
        let b = start(&second, &line);
        a.wait_ready(TIMEOUT).expect("handshake A");
        b.wait_ready(TIMEOUT).expect("handshake B");

        support::bulk_both_ways("pty pair via socat", &a, &b, BULK);

        a.close();
        b.close();
        assert!(a.error().is_some() && b.error().is_some(), "both sessions ended");
        line.hang_up();
    });
}
