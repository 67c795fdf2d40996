//! An in-memory, bounded, blocking byte pipe: two connected ends for running a
//! pair of multiplexers in one process (tests, examples, doctests).
//!
//! A writer blocks while the pipe is full; a reader blocks while it is empty and
//! gets end of stream once the writer is dropped. Shutting an end down (what a
//! closing multiplexer does) closes both of its directions, so its own blocked
//! reader returns and the far end sees end of stream.

use parking_lot::{Condvar, Mutex};
use std::collections::VecDeque;
use std::io::{self, IoSlice, Read, Write};
use std::sync::Arc;

/// Default capacity of each direction: 256 KiB.
pub const DEFAULT_CAPACITY: usize = 256 * 1024;

#[derive(Debug)]
struct State {
    bytes: VecDeque<u8>,
    capacity: usize,
    writer_closed: bool,
    reader_closed: bool,
}

#[derive(Debug)]
struct Pipe {
    state: Mutex<State>,
    readable: Condvar,
    writable: Condvar,
}

impl Pipe {
    fn new(capacity: usize) -> Arc<Pipe> {
        Arc::new(Pipe {
            state: Mutex::new(State { bytes: VecDeque::new(), capacity, writer_closed: false, reader_closed: false }),
            readable: Condvar::new(),
            writable: Condvar::new(),
        })
    }

    fn close(&self, writer: bool, reader: bool) {
        let mut state = self.state.lock();
        state.writer_closed |= writer;
        state.reader_closed |= reader;
        self.readable.notify_all();
        self.writable.notify_all();
    }
}

/// The reading half of one direction.
#[derive(Debug)]
pub struct PipeReader {
    pipe: Arc<Pipe>,
}

/// The writing half of one direction. It also holds the reverse direction of the
/// same end, so [`PipeWriter::shutdown_handle`] can interrupt that end's reader.
#[derive(Debug)]
pub struct PipeWriter {
    pipe: Arc<Pipe>,
    reverse: Arc<Pipe>,
}

/// Closes both directions of one end from any thread.
#[derive(Clone, Debug)]
pub struct ShutdownHandle {
    outgoing: Arc<Pipe>,
    incoming: Arc<Pipe>,
}

impl ShutdownHandle {
    /// Closes both directions: blocked reads return end of stream (or the bytes
    /// still buffered first), blocked and later writes fail with `BrokenPipe`.
    pub fn shutdown(&self) {
        self.shutdown_direction(std::net::Shutdown::Both);
    }

    /// Closes one or both directions, like `TcpStream::shutdown`: `Write` makes the
    /// far end's reads return end of stream after the buffered bytes; `Read` makes
    /// the far end's writes fail and this end's reads return end of stream.
    pub fn shutdown_direction(&self, how: std::net::Shutdown) {
        use std::net::Shutdown;
        if matches!(how, Shutdown::Write | Shutdown::Both) {
            self.outgoing.close(true, false);
        }
        if matches!(how, Shutdown::Read | Shutdown::Both) {
            self.incoming.close(false, true);
        }
    }
}

/// One end of a [`duplex`] pipe.
#[derive(Debug)]
pub struct MemoryStream {
    reader: PipeReader,
    writer: PipeWriter,
}

/// Two connected ends, each direction buffering up to [`DEFAULT_CAPACITY`] bytes.
pub fn duplex() -> (MemoryStream, MemoryStream) {
    duplex_with_capacity(DEFAULT_CAPACITY)
}

/// Two connected ends, each direction buffering up to `capacity` bytes.
pub fn duplex_with_capacity(capacity: usize) -> (MemoryStream, MemoryStream) {
    let a_to_b = Pipe::new(capacity.max(1));
    let b_to_a = Pipe::new(capacity.max(1));
    let a = MemoryStream {
        reader: PipeReader { pipe: b_to_a.clone() },
        writer: PipeWriter { pipe: a_to_b.clone(), reverse: b_to_a.clone() },
    };
    let b = MemoryStream {
        reader: PipeReader { pipe: a_to_b.clone() },
        writer: PipeWriter { pipe: b_to_a, reverse: a_to_b },
    };
    (a, b)
}

impl MemoryStream {
    /// The two halves, for `Multiplexer::new(reader, writer, ..)`.
    pub fn split(self) -> (PipeReader, PipeWriter) {
        (self.reader, self.writer)
    }

    /// A handle that shuts this end down.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.writer.shutdown_handle()
    }
}

impl PipeWriter {
    /// A handle that shuts down this writer's end (both directions).
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle { outgoing: self.pipe.clone(), incoming: self.reverse.clone() }
    }
}

impl Read for PipeReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut state = self.pipe.state.lock();
        while state.bytes.is_empty() && !state.writer_closed && !state.reader_closed {
            self.pipe.readable.wait(&mut state);
        }
        if state.reader_closed {
            return Ok(0);
        }
        let n = state.bytes.len().min(buf.len());
        let (front, back) = state.bytes.as_slices();
        let from_front = n.min(front.len());
        buf[..from_front].copy_from_slice(&front[..from_front]);
        buf[from_front..n].copy_from_slice(&back[..n - from_front]);
        state.bytes.drain(..n);
        self.pipe.writable.notify_all();
        Ok(n)
    }
}

impl Write for PipeWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if total == 0 {
            return Ok(0);
        }
        let mut state = self.pipe.state.lock();
        loop {
            if state.reader_closed || state.writer_closed {
                return Err(io::Error::new(io::ErrorKind::BrokenPipe, "memory pipe closed"));
            }
            if state.bytes.len() < state.capacity {
                break;
            }
            self.pipe.writable.wait(&mut state);
        }
        let mut room = state.capacity - state.bytes.len();
        let mut written = 0;
        for buf in bufs {
            let take = room.min(buf.len());
            state.bytes.extend(&buf[..take]);
            written += take;
            room -= take;
            if room == 0 {
                break;
            }
        }
        self.pipe.readable.notify_all();
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for MemoryStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reader.read(buf)
    }
}

impl Write for MemoryStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer.write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.writer.write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for PipeWriter {
    fn drop(&mut self) {
        self.pipe.close(true, false);
    }
}

impl Drop for PipeReader {
    fn drop(&mut self) {
        self.pipe.close(false, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_flow_and_end_of_stream_follows_drop() {
        let (a, b) = duplex_with_capacity(4);
        let (_ra, mut wa) = a.split();
        let (mut rb, _wb) = b.split();
        let writer = std::thread::spawn(move || {
            wa.write_all(b"hello world").unwrap();
        });
        let mut got = Vec::new();
        rb.read_to_end(&mut got).unwrap();
        writer.join().unwrap();
        assert_eq!(got, b"hello world");
    }

    #[test]
    fn shutdown_unblocks_own_reader_and_fails_writes() {
        let (a, _b) = duplex();
        let handle = a.shutdown_handle();
        let (mut ra, mut wa) = a.split();
        let reader = std::thread::spawn(move || ra.read(&mut [0; 8]).unwrap());
        handle.shutdown();
        assert_eq!(reader.join().unwrap(), 0);
        assert_eq!(wa.write(b"x").unwrap_err().kind(), io::ErrorKind::BrokenPipe);
    }
}
