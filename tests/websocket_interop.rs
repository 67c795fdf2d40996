//! Interoperability with a WebSocket implementation that is not tungstenite: Python's
//! `websockets` package, running `tests/websocket/relay.py` between two of our clients.
//!
//! The test installs `websockets` itself (`pip install --target` into Cargo's test scratch
//! directory, falling back to a venv there) unless an importable one is already present. It
//! needs `python3` (or `$NETCONDUIT_PYTHON`) with pip and access to PyPI the first time; set
//! `NETCONDUIT_SKIP_PYTHON_INTEROP=1` to skip it deliberately.
#![cfg(feature = "websocket")]

#[path = "websocket/common.rs"]
mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::thread;
use std::time::Duration;

use common::*;
use netconduit::transport::websocket::{client_stream, WsConfig, WsReader, WsWriter};

const RELAY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/websocket/relay.py");
const TOTAL: usize = 8 * 1024 * 1024;
const WEBSOCKETS_REQ: &str = "websockets>=13";

/// How to run a Python that can `import websockets.asyncio.server`.
#[derive(Clone, Debug)]
struct Python {
    exe: PathBuf,
    pythonpath: Option<PathBuf>,
}

impl Python {
    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.exe);
        if let Some(path) = &self.pythonpath {
            cmd.env("PYTHONPATH", path);
        }
        cmd
    }

    fn has_websockets(&self) -> bool {
        self.command()
            .args(["-c", "import websockets.asyncio.server"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

fn run_quietly(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr)))
    }
}

/// Finds or installs Python's `websockets`. Cached for the test binary.
fn python() -> Result<Python, String> {
    static PYTHON: OnceLock<Result<Python, String>> = OnceLock::new();
    PYTHON.get_or_init(find_or_install_python).clone()
}

fn find_or_install_python() -> Result<Python, String> {
    let exe = PathBuf::from(std::env::var_os("NETCONDUIT_PYTHON").unwrap_or_else(|| "python3".into()));
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("netconduit-ws-python");
    let target = Python { exe: exe.clone(), pythonpath: Some(dir.join("site")) };
    let venv = Python { exe: dir.join("venv/bin/python"), pythonpath: None };
    let system = Python { exe: exe.clone(), pythonpath: None };
    // Already installed by an earlier run, or present on the machine?
    for candidate in [&target, &venv, &system] {
        if candidate.has_websockets() {
            return Ok(candidate.clone());
        }
    }
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    eprintln!("installing Python `{WEBSOCKETS_REQ}` into {}", dir.display());
    let pip_target = run_quietly(
        Command::new(&exe)
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target"])
            .arg(dir.join("site"))
            .arg(WEBSOCKETS_REQ),
    );
    if pip_target.is_ok() && target.has_websockets() {
        return Ok(target);
    }
    // Some Pythons refuse `--target` (e.g. externally managed ones); a venv always works.
    let venv_result = run_quietly(Command::new(&exe).args(["-m", "venv"]).arg(dir.join("venv"))).and_then(|()| {
        run_quietly(
            Command::new(&venv.exe)
                .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
                .arg(WEBSOCKETS_REQ),
        )
    });
    if venv_result.is_ok() && venv.has_websockets() {
        return Ok(venv);
    }
    Err(format!(
        "could not install Python `{WEBSOCKETS_REQ}`:\n  pip --target: {pip_target:?}\n  venv: {venv_result:?}"
    ))
}

/// Kills the relay if the test fails before it exits.
struct RelayProcess(Child);

impl Drop for RelayProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn connect(port: u16) -> (WsReader, WsWriter) {
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    tcp.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    client_stream(format!("ws://127.0.0.1:{port}/relay"), tcp, &WsConfig::default()).unwrap()
}

#[test]
fn python_websockets_relay_carries_both_directions_and_gets_pongs() {
    if std::env::var_os("NETCONDUIT_SKIP_PYTHON_INTEROP").is_some_and(|v| v == "1") {
        eprintln!("skipped: NETCONDUIT_SKIP_PYTHON_INTEROP=1");
        return;
    }
    let python = python().unwrap_or_else(|e| panic!("{e}"));

    let mut child = python
        .command()
        .arg("-u")
        .arg(RELAY)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start relay.py");
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let mut relay = RelayProcess(child);
    let (lines_tx, lines) = mpsc::channel::<String>();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            eprintln!("relay: {line}");
            let _ = lines_tx.send(line);
        }
    });
    let stderr_reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });

    let first = lines.recv_timeout(Duration::from_secs(60)).expect("relay did not announce its port");
    let port: u16 = first.strip_prefix("PORT ").and_then(|p| p.parse().ok()).expect(&first);

    let (mut a_read, mut a_write) = connect(port);
    let (mut b_read, mut b_write) = connect(port);
    let a_recv = thread::spawn(move || (receive(&mut a_read, TOTAL).unwrap(), a_read));
    let b_recv = thread::spawn(move || (receive(&mut b_read, TOTAL).unwrap(), b_read));
    // Nothing is written yet: the relay's pings are answered by the readers alone,
    // blocked in `read`. Each client answers five before any data flows.
    let mut answered = [false; 2];
    while answered != [true; 2] {
        let line = lines.recv_timeout(Duration::from_secs(60)).expect("relay did not report pongs");
        match line.as_str() {
            "PONGS 0" => answered[0] = true,
            "PONGS 1" => answered[1] = true,
            other => panic!("relay, before any data: {other}"),
        }
    }

    let a_send = thread::spawn(move || (send(&mut a_write, 11, TOTAL).unwrap(), a_write));
    let b_send = thread::spawn(move || (send(&mut b_write, 22, TOTAL).unwrap(), b_write));
    let (a_sent, mut a_write) = a_send.join().unwrap();
    let (b_sent, mut b_write) = b_send.join().unwrap();
    let (a_got, mut a_read) = a_recv.join().unwrap();
    let (b_got, mut b_read) = b_recv.join().unwrap();
    assert_eq!(b_got, a_sent, "A -> relay -> B corrupted");
    assert_eq!(a_got, b_sent, "B -> relay -> A corrupted");
    assert_eq!(a_sent, expected_checksum(11, TOTAL));

    a_write.close().unwrap();
    b_write.close().unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(a_read.read(&mut buf).unwrap(), 0, "A: EOF after the relay's Close reply");
    assert_eq!(b_read.read(&mut buf).unwrap(), 0, "B: EOF after the relay's Close reply");

    let result = loop {
        let line = lines.recv_timeout(Duration::from_secs(60)).expect("relay did not report");
        if line.starts_with("RESULT ") {
            break line;
        }
    };
    // ERROR lines follow RESULT; the channel closes when the relay's stdout does.
    let errors: Vec<String> = std::iter::from_fn(|| match lines.recv_timeout(Duration::from_secs(60)) {
        Ok(line) => Some(line),
        Err(mpsc::RecvTimeoutError::Disconnected) => None,
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("relay did not exit"),
    })
    .filter(|l| l.starts_with("ERROR "))
    .collect();
    let status = relay.0.wait().unwrap();
    let stderr = stderr_reader.join().unwrap();
    assert!(status.success() && errors.is_empty(), "relay: {result}\n{errors:#?}\n{stderr}");

    let fields: HashMap<&str, &str> = result.split_whitespace().filter_map(|f| f.split_once('=')).collect();
    for idx in 0..2 {
        let num = |key: &str| -> u64 { fields[format!("{key}{idx}").as_str()].parse().unwrap() };
        assert_eq!(num("bytes"), TOTAL as u64, "client {idx} bytes at the relay: {result}");
        assert_eq!(num("close"), 1000, "{result}");
        assert!(num("pongs") >= 5, "client {idx} answered too few pings: {result}");
        assert!(num("messages") >= (TOTAL / WsConfig::default().max_message_size) as u64);
    }
}
