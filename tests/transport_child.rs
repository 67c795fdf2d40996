//! A child process as the transport: the `stdio_peer` example speaks netconduit on
//! its stdin/stdout and echoes every channel; this side runs over the child's pipes
//! and checks bulk transfers both ways by checksum, then closes and sees the child
//! exit cleanly.
//!
//! `cargo test` builds the examples before it runs tests; when running this file
//! alone, build the example first (`cargo build --example stdio_peer`).

mod common;
#[path = "transport/support.rs"]
mod support;

use common::*;
use netconduit::{ChannelOptions, Multiplexer, MultiplexerOptions};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

const BULK: u64 = 16 << 20;

/// Kills the child if a test fails before it exited.
struct KillOnDrop(Option<Child>);

impl KillOnDrop {
    /// Waits at most `timeout` for the child to exit on its own.
    fn wait(mut self, timeout: Duration) -> ExitStatus {
        let mut child = self.0.take().expect("child");
        let (tx, rx) = mpsc::channel();
        let id = child.id();
        let waiter = thread::spawn(move || {
            let status = child.wait();
            let _ = tx.send(());
            (child, status)
        });
        if rx.recv_timeout(timeout).is_err() {
            // Only this test's own child, by its pid.
            let _ = Command::new("kill").arg("-9").arg(id.to_string()).status();
            let _ = waiter.join();
            panic!("stdio_peer did not exit within {timeout:?} after the session closed");
        }
        let (_, status) = waiter.join().expect("waiter thread");
        status.expect("wait for stdio_peer")
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `current_exe()` is `target/<profile>/deps/<test>-<hash>`; examples are built into
/// `target/<profile>/examples/`.
fn stdio_peer_path() -> PathBuf {
    let exe = std::env::current_exe().expect("cannot locate the test executable");
    let profile_dir =
        exe.parent().and_then(|deps| deps.parent()).expect("test executable is not under target/<profile>/deps");
    let path = profile_dir.join("examples").join(format!("stdio_peer{}", std::env::consts::EXE_SUFFIX));
    assert!(path.exists(), "{} is missing: build it with `cargo build --example stdio_peer`", path.display());
    path
}

/// Spawns the peer and starts a multiplexer over its pipes, handshake done.
fn spawn_peer() -> (Multiplexer, KillOnDrop) {
    let mut child = Command::new(stdio_peer_path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn stdio_peer");
    let to_child = child.stdin.take().expect("piped stdin");
    let from_child = child.stdout.take().expect("piped stdout");
    let guard = KillOnDrop(Some(child));
    let mux = Multiplexer::new(from_child, to_child, MultiplexerOptions::default()).expect("multiplexer starts");
    mux.wait_ready(TIMEOUT).expect("handshake with stdio_peer");
    (mux, guard)
}

/// Sends `len` bytes on channel `id` and reads the echo back, both at once; returns
/// (sent, echoed) checksums.
fn echo(mux: &Multiplexer, id: &'static str, seed: u64, len: u64) -> ((u64, u64), (u64, u64)) {
    let sender = {
        let mux = mux.clone();
        thread::spawn(move || {
            let mut channel = mux.open_channel(ChannelOptions::new(id)).expect("open");
            let sent = write_pattern(&mut channel, seed, len).expect("write to the child");
            channel.close().expect("finish");
            sent
        })
    };
    let mut back = mux.accept_channel_timeout(id, TIMEOUT).expect("the child echoes the channel");
    let echoed = read_checksum(&mut back, 64 * 1024).expect("read the echo");
    (sender.join().expect("sender thread"), echoed)
}

#[test]
fn bulk_through_a_child_process_stdio() {
    bounded(Duration::from_secs(120), || {
        let (mux, child) = spawn_peer();
        let started = Instant::now();
        // Two channels at once, each carrying BULK bytes to the child and back.
        let other = {
            let mux = mux.clone();
            thread::spawn(move || echo(&mux, "second", 22, BULK))
        };
        let (sent, echoed) = echo(&mux, "first", 21, BULK);
        assert_eq!(echoed, sent, "channel first: the echo differs (checksum, length)");
        let (sent, echoed) = other.join().expect("second channel");
        assert_eq!(echoed, sent, "channel second: the echo differs (checksum, length)");
        support::report("child process stdio (echo)", 4 * BULK, started);

        mux.close();
        let status = child.wait(TIMEOUT);
        assert!(status.success(), "stdio_peer exited with {status}");
    });
}
