//! Interoperability with an independent implementation.
//!
//! `tests/interop/ncpeer.py` is a Python peer written from `PROTOCOL.md` alone, and
//! `tests/interop/conformance.py` drives it against an echo server. This test starts
//! the `echo_server` example on port 0 and runs the conformance script against it, so
//! the Rust library is checked byte for byte against a second implementation rather
//! than against itself.
//!
//! Needs `python3` on `PATH` and the compiled example next to this test: plain
//! `cargo test` builds examples before it runs tests; when selecting this test alone,
//! build it first (`cargo build --example echo_server`, with `--release` when testing
//! in release). Until the example exists this test fails, saying so.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// How long the server may take to print its `listening on` line.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// The whole conformance run; the script bounds each scenario itself, this is a backstop.
const CONFORMANCE_TIMEOUT: Duration = Duration::from_secs(600);

/// Kills the child when dropped, so no server outlives a failed assertion.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `current_exe()` is `target/<profile>/deps/<test>-<hash>`; examples are built into
/// `target/<profile>/examples/`.
fn echo_server_path() -> PathBuf {
    let exe = std::env::current_exe().expect("cannot locate the test executable");
    let profile_dir =
        exe.parent().and_then(|deps| deps.parent()).expect("test executable is not under target/<profile>/deps");
    profile_dir.join("examples").join(format!("echo_server{}", std::env::consts::EXE_SUFFIX))
}

fn require_python3() {
    match Command::new("python3").arg("--version").output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!("`python3 --version` failed ({}): the interop test needs Python 3", out.status),
        Err(e) => panic!("python3 is required for the interop test but could not be run: {e}"),
    }
}

/// Reads the server's stdout on a thread: sends the address from the first
/// `listening on IP:PORT` line, then keeps draining so the server never blocks on a
/// full pipe.
fn listening_addr(stdout: ChildStdout) -> String {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("listening on ") {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(addr.trim().to_string());
                }
            }
        }
    });
    rx.recv_timeout(STARTUP_TIMEOUT).expect("echo_server did not print `listening on IP:PORT` in time (or exited)")
}

/// Runs the script; returns (success, combined output). Python's stdout closes when
/// it exits, so the reader thread's message doubles as the exit signal.
fn run_conformance(addr: &str) -> (bool, String) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/conformance.py");
    let mut child = Command::new("python3")
        .arg(script)
        .arg(addr)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start python3");
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    let mut child = KillOnDrop(child);
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let lines: Vec<String> = BufReader::new(stdout).lines().map_while(Result::ok).collect();
        let _ = tx.send(lines.join("\n"));
    });
    let err_reader =
        thread::spawn(move || BufReader::new(stderr).lines().map_while(Result::ok).collect::<Vec<_>>().join("\n"));
    let Ok(output) = rx.recv_timeout(CONFORMANCE_TIMEOUT) else {
        drop(child); // kills python
        panic!("conformance.py did not finish within {CONFORMANCE_TIMEOUT:?}");
    };
    let status = child.0.wait().expect("waiting for python3");
    let errors = err_reader.join().unwrap_or_default();
    (status.success(), format!("{output}\n{errors}"))
}

#[test]
fn python_peer_conformance_against_echo_server() {
    require_python3();
    let server_path = echo_server_path();
    assert!(
        server_path.exists(),
        "{} not found: build the echo_server example first (`cargo build --example echo_server`)",
        server_path.display()
    );
    let mut server = Command::new(&server_path)
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", server_path.display()));
    let stdout = server.stdout.take().expect("piped stdout");
    let _server = KillOnDrop(server);

    let addr = listening_addr(stdout);
    let (ok, output) = run_conformance(&addr);
    println!("{output}");
    assert!(ok, "conformance.py reported failures against {addr} (output above)");
}
