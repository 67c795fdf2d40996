//! A netconduit peer on its own stdin/stdout: the link to a parent process, with
//! no network stack involved. Every channel the parent opens is echoed back (as in
//! `echo_server`); the process exits once the parent closes the session.
//!
//! ```text
//! cargo build --example stdio_peer   # then spawn target/debug/examples/stdio_peer
//! ```
//!
//! The parent spawns it with piped stdio and runs its own multiplexer over the
//! child's pipes:
//!
//! ```no_run
//! use netconduit::{Multiplexer, MultiplexerOptions};
//! use std::process::{Command, Stdio};
//!
//! let mut child = Command::new("target/debug/examples/stdio_peer")
//!     .stdin(Stdio::piped())
//!     .stdout(Stdio::piped())
//!     .spawn()?;
//! let (to_child, from_child) = (child.stdin.take().unwrap(), child.stdout.take().unwrap());
//! let mux = Multiplexer::new(from_child, to_child, MultiplexerOptions::default())?;
//! // ... open and accept channels ...
//! mux.close(); // the child sees end of stream on stdin, finishes and exits
//! child.wait()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Stdout belongs to the protocol: anything else printed there would corrupt it, so
//! diagnostics go to stderr. Pipes cannot be interrupted from another thread, so
//! neither side passes a shutdown hook: each reader thread ends when the other
//! process closes its end (at exit at the latest).

mod common;

use netconduit::{Error, Multiplexer, MultiplexerOptions};
use std::io;

fn main() {
    match serve() {
        // The parent closing the session is the normal end.
        Ok(()) => {}
        Err(error) => {
            eprintln!("stdio_peer: {error}");
            std::process::exit(1);
        }
    }
}

fn serve() -> netconduit::Result<()> {
    let mux = Multiplexer::new(io::stdin(), io::stdout(), MultiplexerOptions::default())?;
    match common::serve(&mux) {
        Error::Closed | Error::GoingAway { .. } => Ok(()),
        Error::Transport(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(()),
        error => Err(error),
    }
}
