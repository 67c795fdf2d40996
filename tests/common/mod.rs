//! Helpers shared by the integration tests: connected multiplexer pairs over the
//! in-memory pipe and TCP loopback, deterministic test data with a checksum, a
//! raw peer that speaks frames by hand, and bounded waits.
#![allow(dead_code)]

use netconduit::proto::control::Control;
use netconduit::proto::decoder::{Decoder, FrameSink};
use netconduit::proto::frame::{self, FrameError, FrameHeader, FrameType};
use netconduit::transport::memory;
use netconduit::{Error, ErrorCode, Multiplexer, MultiplexerOptions};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Upper bound for any single wait in the tests: a bug fails a test instead of
/// hanging it.
pub const TIMEOUT: Duration = Duration::from_secs(30);

// ----- bounded execution ------------------------------------------------------

/// Runs `body` on its own thread and waits at most `timeout` for it; a body that
/// hangs fails the test, a body that panics fails it with its own message.
pub fn bounded<T: Send + 'static>(timeout: Duration, body: impl FnOnce() -> T + Send + 'static) -> T {
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let handle = thread::spawn(move || {
        // Dropped on return and on panic alike, so the waiter wakes either way.
        let _done = done_tx;
        body()
    });
    match done_rx.recv_timeout(timeout) {
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("test body did not finish within {timeout:?}"),
        _ => match handle.join() {
            Ok(value) => value,
            Err(panic) => std::panic::resume_unwind(panic),
        },
    }
}

/// Polls `condition` with short sleeps until it holds or `timeout` passes. Only for
/// conditions no blocking call can wait for.
pub fn wait_for(mut condition: impl FnMut() -> bool, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(2));
    }
}

// ----- pairs -------------------------------------------------------------------

/// Two connected multiplexers over the in-memory pipe, handshake completed.
pub fn memory_pair() -> (Multiplexer, Multiplexer) {
    memory_pair_with(MultiplexerOptions::default(), MultiplexerOptions::default())
}

/// Two connected multiplexers over the in-memory pipe with the given options.
pub fn memory_pair_with(a: MultiplexerOptions, b: MultiplexerOptions) -> (Multiplexer, Multiplexer) {
    let (end_a, end_b) = memory::duplex();
    let (ra, wa) = end_a.split();
    let (rb, wb) = end_b.split();
    let a = Multiplexer::new(ra, wa, a).expect("multiplexer A starts");
    let b = Multiplexer::new(rb, wb, b).expect("multiplexer B starts");
    ready(&a, &b);
    (a, b)
}

/// A connected TCP loopback pair (port 0, Nagle off).
pub fn tcp_streams() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let client = TcpStream::connect(listener.local_addr().unwrap()).expect("connect loopback");
    let (server, _) = listener.accept().expect("accept loopback");
    client.set_nodelay(true).unwrap();
    server.set_nodelay(true).unwrap();
    (client, server)
}

/// Two connected multiplexers over TCP loopback, handshake completed.
pub fn tcp_pair() -> (Multiplexer, Multiplexer) {
    tcp_pair_with(MultiplexerOptions::default(), MultiplexerOptions::default())
}

/// Two connected multiplexers over TCP loopback with the given options.
pub fn tcp_pair_with(a: MultiplexerOptions, b: MultiplexerOptions) -> (Multiplexer, Multiplexer) {
    let (sa, sb) = tcp_streams();
    let a = Multiplexer::new(sa.try_clone().unwrap(), sa, a).expect("multiplexer A starts");
    let b = Multiplexer::new(sb.try_clone().unwrap(), sb, b).expect("multiplexer B starts");
    ready(&a, &b);
    (a, b)
}

/// Which transport a test runs over.
#[derive(Clone, Copy, Debug)]
pub enum Transport {
    Memory,
    Tcp,
}

/// A connected pair over `transport`.
pub fn pair(transport: Transport, a: MultiplexerOptions, b: MultiplexerOptions) -> (Multiplexer, Multiplexer) {
    match transport {
        Transport::Memory => memory_pair_with(a, b),
        Transport::Tcp => tcp_pair_with(a, b),
    }
}

fn ready(a: &Multiplexer, b: &Multiplexer) {
    a.wait_ready(TIMEOUT).expect("A completes the handshake");
    b.wait_ready(TIMEOUT).expect("B completes the handshake");
}

// ----- test data ---------------------------------------------------------------

/// Deterministic pseudo-random bytes (xorshift64*): the same seed gives the same
/// byte sequence however it is cut into `fill` calls.
pub struct Pattern {
    state: u64,
    word: [u8; 8],
    used: usize,
}

impl Pattern {
    pub fn new(seed: u64) -> Pattern {
        Pattern { state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1, word: [0; 8], used: 8 }
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        let mut i = 0;
        while i < buf.len() && self.used < 8 {
            buf[i] = self.word[self.used];
            self.used += 1;
            i += 1;
        }
        let mut words = buf[i..].chunks_exact_mut(8);
        for chunk in &mut words {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        for b in words.into_remainder() {
            if self.used == 8 {
                self.word = self.next_u64().to_le_bytes();
                self.used = 0;
            }
            *b = self.word[self.used];
            self.used += 1;
        }
    }

    /// `len` bytes of the sequence.
    pub fn bytes(seed: u64, len: usize) -> Vec<u8> {
        let mut out = vec![0; len];
        Pattern::new(seed).fill(&mut out);
        out
    }
}

/// A streaming 64-bit checksum in the FNV-1a style, over 8-byte words (with a
/// shift-xor so high bits mix down) and the length. The result does not depend on
/// how the input is split into `update` calls.
#[derive(Clone, Debug)]
pub struct Checksum {
    hash: u64,
    pending: [u8; 8],
    npending: usize,
    len: u64,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

impl Default for Checksum {
    fn default() -> Self {
        Checksum { hash: FNV_OFFSET, pending: [0; 8], npending: 0, len: 0 }
    }
}

impl Checksum {
    fn mix(&mut self, word: u64) {
        let h = (self.hash ^ word).wrapping_mul(FNV_PRIME);
        self.hash = h ^ (h >> 29);
    }

    pub fn update(&mut self, mut data: &[u8]) {
        self.len += data.len() as u64;
        while self.npending > 0 && !data.is_empty() {
            self.pending[self.npending] = data[0];
            self.npending += 1;
            data = &data[1..];
            if self.npending == 8 {
                self.npending = 0;
                self.mix(u64::from_le_bytes(self.pending));
            }
        }
        let mut words = data.chunks_exact(8);
        for word in &mut words {
            self.mix(u64::from_le_bytes(word.try_into().unwrap()));
        }
        for &b in words.remainder() {
            self.pending[self.npending] = b;
            self.npending += 1;
        }
    }

    /// (hash, length) of everything seen.
    pub fn finish(&self) -> (u64, u64) {
        let mut copy = self.clone();
        for i in 0..copy.npending {
            let b = copy.pending[i];
            copy.mix(u64::from(b) | 0x100);
        }
        copy.mix(copy.len);
        (copy.hash, copy.len)
    }

    pub fn of(data: &[u8]) -> (u64, u64) {
        let mut sum = Checksum::default();
        sum.update(data);
        sum.finish()
    }
}

/// Largest write of [`write_pattern`].
const MAX_PIECE: u64 = 256 * 1024;

/// Writes `len` bytes of pattern `seed` in pieces of varying size; returns their
/// checksum.
pub fn write_pattern(writer: &mut impl Write, seed: u64, len: u64) -> io::Result<(u64, u64)> {
    // Piece sizes cycle through odd values so frame and write boundaries shift.
    write_pattern_in(writer, seed, len, |step| ((step * 7919) % (MAX_PIECE - 1) + 1) as usize)
}

/// Writes `len` bytes of pattern `seed`, write number `step` of at most
/// `piece(step)` bytes; returns their checksum.
pub fn write_pattern_in(
    writer: &mut impl Write,
    seed: u64,
    len: u64,
    mut piece: impl FnMut(u64) -> usize,
) -> io::Result<(u64, u64)> {
    let mut pattern = Pattern::new(seed);
    let mut sum = Checksum::default();
    let mut buf = Vec::new();
    let mut left = len;
    let mut step = 0u64;
    while left > 0 {
        let piece = (piece(step) as u64).min(left) as usize;
        step += 1;
        buf.resize(buf.len().max(piece), 0);
        pattern.fill(&mut buf[..piece]);
        sum.update(&buf[..piece]);
        writer.write_all(&buf[..piece])?;
        left -= piece as u64;
    }
    Ok(sum.finish())
}

/// Reads to end of stream; returns the checksum of what was read.
pub fn read_checksum(reader: &mut impl Read, buf_len: usize) -> io::Result<(u64, u64)> {
    let mut sum = Checksum::default();
    let mut buf = vec![0u8; buf_len];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            return Ok(sum.finish());
        }
        sum.update(&buf[..n]);
    }
}

// ----- errors ------------------------------------------------------------------

/// The netconduit error inside an io::Error, or a panic.
pub fn inner(error: &io::Error) -> &Error {
    Error::from_io(error).unwrap_or_else(|| panic!("io error without a netconduit error inside: {error:?}"))
}

/// The code of a protocol violation this side detected, or a panic.
pub fn violation_code(error: &Error) -> ErrorCode {
    match error {
        Error::ProtocolViolation { code, .. } => *code,
        other => panic!("expected a protocol violation, got {other:?}"),
    }
}

// ----- raw peer ----------------------------------------------------------------

/// One frame as a raw peer saw it.
#[derive(Clone, PartialEq, Eq)]
pub struct RawFrame {
    pub index: u32,
    pub kind: FrameType,
    pub payload: Vec<u8>,
}

impl std::fmt::Debug for RawFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Payloads can be large: show the start only.
        let shown = &self.payload[..self.payload.len().min(16)];
        write!(f, "{:?} {} [{} bytes: {:02x?}", self.kind, self.index, self.payload.len(), shown)?;
        f.write_str(if shown.len() < self.payload.len() { " ...]" } else { "]" })
    }
}

impl RawFrame {
    /// The control message, for a frame on index 0.
    pub fn control(&self) -> Option<Control<'_>> {
        if self.index == frame::CONTROL_INDEX {
            Some(Control::parse(&self.payload).expect("well-formed control message"))
        } else {
            None
        }
    }

    /// The frame's wire bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        frame::put_header(&mut out, self.index, self.kind, self.payload.len());
        out.extend_from_slice(&self.payload);
        out
    }

    /// (code, message) of an ERR frame.
    pub fn err_fields(&self) -> (ErrorCode, String) {
        assert_eq!(self.kind, FrameType::Err, "expected ERR, got {self:?}");
        let fields = frame::parse_err(&self.payload).unwrap();
        (fields.code, frame::message_text(fields.message))
    }

    /// Credits of an ACK frame.
    pub fn ack_credits(&self) -> u32 {
        assert_eq!(self.kind, FrameType::Ack, "expected ACK, got {self:?}");
        frame::parse_ack(&self.payload).unwrap().credits
    }
}

/// What a raw peer's reader thread reports.
#[derive(Debug)]
pub enum PeerEvent {
    Frame(RawFrame),
    /// The other side closed the transport.
    Eof,
    /// The transport failed or the bytes were not valid frames.
    Failed(String),
}

/// Collects decoded frames, joining streamed DATA pieces (which may span reads).
#[derive(Default)]
struct Collector {
    frames: Vec<RawFrame>,
    partial: Option<RawFrame>,
}

impl FrameSink for Collector {
    type Error = FrameError;

    fn frame(&mut self, header: FrameHeader, payload: &[u8]) -> Result<(), FrameError> {
        self.frames.push(RawFrame { index: header.index, kind: header.kind, payload: payload.to_vec() });
        Ok(())
    }

    fn data(&mut self, header: FrameHeader, offset: u32, bytes: &[u8]) -> Result<(), FrameError> {
        let partial = self.partial.get_or_insert_with(|| RawFrame {
            index: header.index,
            kind: header.kind,
            payload: Vec::with_capacity(header.len as usize),
        });
        assert_eq!(partial.payload.len(), offset as usize, "DATA pieces in order");
        partial.payload.extend_from_slice(bytes);
        if partial.payload.len() == header.len as usize {
            self.frames.push(self.partial.take().unwrap());
        }
        Ok(())
    }
}

/// A hand-driven peer: writes whatever bytes a test gives it and decodes what the
/// multiplexer sends on a background thread, so every receive has a timeout.
pub struct RawPeer {
    writer: Box<dyn Write + Send>,
    events: mpsc::Receiver<PeerEvent>,
    shutdown: Option<Box<dyn FnOnce() + Send>>,
    reader: Option<JoinHandle<()>>,
    /// While true, the reader thread reads nothing (the transport fills up).
    paused: std::sync::Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>,
    /// Every frame received so far, in order (for assertions on the whole stream).
    pub log: Vec<RawFrame>,
    ping: u64,
}

impl RawPeer {
    fn start(
        mut reader: Box<dyn Read + Send>,
        writer: Box<dyn Write + Send>,
        shutdown: Box<dyn FnOnce() + Send>,
    ) -> RawPeer {
        let (tx, rx) = mpsc::channel();
        let paused = std::sync::Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
        let gate = paused.clone();
        let handle = thread::spawn(move || {
            let mut decoder = Decoder::new(frame::DEFAULT_MAX_FRAME_SIZE);
            let mut sink = Collector::default();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                {
                    let (lock, cvar) = &*gate;
                    let mut paused = lock.lock().unwrap();
                    while *paused {
                        paused = cvar.wait(paused).unwrap();
                    }
                }
                let n = match reader.read(&mut buf) {
                    Ok(0) => {
                        let _ = tx.send(PeerEvent::Eof);
                        return;
                    }
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        let _ = tx.send(PeerEvent::Failed(e.to_string()));
                        return;
                    }
                };
                let result = decoder.feed(&buf[..n], &mut sink);
                for frame in sink.frames.drain(..) {
                    if tx.send(PeerEvent::Frame(frame)).is_err() {
                        return;
                    }
                }
                if let Err(e) = result {
                    let _ = tx.send(PeerEvent::Failed(format!("undecodable frame: {e}")));
                    return;
                }
            }
        });
        RawPeer { writer, events: rx, shutdown: Some(shutdown), reader: Some(handle), paused, log: Vec::new(), ping: 1 }
    }

    /// A raw peer on one end of a memory pipe.
    pub fn memory(end: memory::MemoryStream) -> RawPeer {
        let handle = end.shutdown_handle();
        let (reader, writer) = end.split();
        RawPeer::start(Box::new(reader), Box::new(writer), Box::new(move || handle.shutdown()))
    }

    /// A raw peer on a TCP stream.
    pub fn tcp(stream: TcpStream) -> RawPeer {
        let reader = stream.try_clone().unwrap();
        let killer = stream.try_clone().unwrap();
        RawPeer::start(
            Box::new(reader),
            Box::new(stream),
            Box::new(move || {
                let _ = killer.shutdown(Shutdown::Both);
            }),
        )
    }

    /// Sends raw bytes. Errors are returned, not unwrapped: after a violation the
    /// multiplexer may already have closed the transport.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.writer.write_all(bytes)?;
        self.writer.flush()
    }

    /// Sends raw bytes that must be accepted by the transport.
    pub fn send_ok(&mut self, bytes: &[u8]) {
        self.send(bytes).expect("raw peer write");
    }

    pub fn send_control(&mut self, control: Control<'_>) {
        let mut out = Vec::new();
        control.encode(&mut out);
        self.send_ok(&out);
    }

    pub fn send_handshake(&mut self, session_id: u64, max_frame_size: Option<u32>) {
        self.send_control(Control::Handshake { session_id, max_frame_size });
    }

    pub fn send_init(&mut self, index: u32, priority: u8, id: &str) {
        let mut out = Vec::new();
        frame::put_init(&mut out, index, priority, id);
        self.send_ok(&out);
    }

    pub fn send_data(&mut self, index: u32, payload: &[u8]) {
        let mut out = Vec::new();
        frame::put_data(&mut out, index, payload);
        self.send_ok(&out);
    }

    pub fn send_fin(&mut self, index: u32) {
        let mut out = Vec::new();
        frame::put_fin(&mut out, index);
        self.send_ok(&out);
    }

    pub fn send_ack(&mut self, index: u32, credits: u32, consumed: Option<u64>) {
        let mut out = Vec::new();
        frame::put_ack(&mut out, index, credits, consumed);
        self.send_ok(&out);
    }

    pub fn send_err(&mut self, index: u32, code: ErrorCode, message: &str) {
        let mut out = Vec::new();
        frame::put_err(&mut out, index, code, message);
        self.send_ok(&out);
    }

    /// The next event from the multiplexer, waiting at most `timeout`.
    pub fn next_event(&mut self, timeout: Duration) -> Option<PeerEvent> {
        match self.events.recv_timeout(timeout) {
            Ok(event) => {
                if let PeerEvent::Frame(frame) = &event {
                    self.log.push(frame.clone());
                }
                Some(event)
            }
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => Some(PeerEvent::Eof),
        }
    }

    /// The next frame; panics on end of stream, failure or timeout.
    pub fn frame(&mut self) -> RawFrame {
        match self.next_event(TIMEOUT) {
            Some(PeerEvent::Frame(frame)) => frame,
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    /// The DATA payloads of channel `index` up to its FIN, each at most
    /// `max_payload` bytes; any other frame fails the test.
    pub fn data_until_fin(&mut self, index: u32, max_payload: usize) -> Vec<u8> {
        let mut got = Vec::new();
        loop {
            let frame = self.frame();
            assert_eq!(frame.index, index);
            match frame.kind {
                FrameType::Data => {
                    assert!(frame.payload.len() <= max_payload, "DATA of {} bytes", frame.payload.len());
                    got.extend_from_slice(&frame.payload);
                }
                FrameType::Fin => return got,
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    /// The next frame, which must be `kind` on `index`.
    pub fn expect(&mut self, index: u32, kind: FrameType) -> RawFrame {
        let frame = self.frame();
        assert_eq!((frame.index, frame.kind), (index, kind), "unexpected frame {frame:?}");
        frame
    }

    /// The multiplexer's HANDSHAKE: (session id, max frame size).
    pub fn expect_handshake(&mut self) -> (u64, Option<u32>) {
        let frame = self.frame();
        match frame.control() {
            Some(Control::Handshake { session_id, max_frame_size }) => (session_id, max_frame_size),
            _ => panic!("expected HANDSHAKE, got {frame:?}"),
        }
    }

    /// The next frame must be `ERR index` with `code`.
    pub fn expect_err(&mut self, index: u32, code: ErrorCode) -> String {
        let frame = self.expect(index, FrameType::Err);
        let (got, message) = frame.err_fields();
        assert_eq!(got, code, "ERR {index} carries the wrong code ({message})");
        message
    }

    /// The next frame must be a session ERROR with `code`, and the transport must
    /// close after it. Returns the message.
    pub fn expect_session_error(&mut self, code: ErrorCode) -> String {
        let frame = self.frame();
        let message = match frame.control() {
            Some(Control::Error { code: got, message }) => {
                assert_eq!(got, code, "ERROR carries the wrong code: {}", String::from_utf8_lossy(message));
                String::from_utf8_lossy(message).into_owned()
            }
            _ => panic!("expected ERROR {code}, got {frame:?}"),
        };
        self.expect_eof();
        message
    }

    /// Waits for the transport to close; no frame may come first.
    pub fn expect_eof(&mut self) {
        match self.next_event(TIMEOUT) {
            Some(PeerEvent::Eof) => {}
            // A reset instead of an orderly close still ends the connection.
            Some(PeerEvent::Failed(e)) if !e.starts_with("undecodable") => {}
            other => panic!("expected the transport to close, got {other:?}"),
        }
    }

    /// Sends PING and returns every frame that arrived before its PONG: a barrier
    /// that proves the multiplexer processed everything sent before it and is alive.
    pub fn barrier(&mut self) -> Vec<RawFrame> {
        self.ping += 1;
        let stamp = 0x5EED_0000_0000 + self.ping;
        self.send_control(Control::Ping(stamp));
        let mut before = Vec::new();
        loop {
            let frame = self.frame();
            if frame.control() == Some(Control::Pong(stamp)) {
                return before;
            }
            before.push(frame);
        }
    }

    /// Stops reading from the transport (after the read in progress, if any), so
    /// the multiplexer's writes back up.
    pub fn pause_reading(&self) {
        *self.paused.0.lock().unwrap() = true;
    }

    /// Reads again.
    pub fn resume_reading(&self) {
        *self.paused.0.lock().unwrap() = false;
        self.paused.1.notify_all();
    }

    /// Closes the raw peer's transport (both directions).
    pub fn close(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            shutdown();
        }
    }
}

impl Drop for RawPeer {
    fn drop(&mut self) {
        self.resume_reading();
        self.close();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// A multiplexer (returned first) and a raw peer over the memory pipe, before any
/// handshake: the raw peer has sent nothing.
pub fn raw_memory_unshaken(options: MultiplexerOptions) -> (Multiplexer, RawPeer) {
    let (ours, theirs) = memory::duplex();
    let (reader, writer) = ours.split();
    let mux = Multiplexer::new(reader, writer, options).expect("multiplexer starts");
    (mux, RawPeer::memory(theirs))
}

/// A multiplexer and a raw peer over TCP loopback, before any handshake.
pub fn raw_tcp_unshaken(options: MultiplexerOptions) -> (Multiplexer, RawPeer) {
    let (ours, theirs) = tcp_streams();
    let mux = Multiplexer::new(ours.try_clone().unwrap(), ours, options).expect("multiplexer starts");
    (mux, RawPeer::tcp(theirs))
}

/// Completes the handshake from the raw peer's side (session id 7, no max frame).
pub fn shake(mux: &Multiplexer, peer: &mut RawPeer) {
    let (id, _) = peer.expect_handshake();
    assert_ne!(id, 0);
    peer.send_handshake(7, None);
    mux.wait_ready(TIMEOUT).expect("handshake with the raw peer");
}

/// A multiplexer and a raw peer over the memory pipe, handshake done.
pub fn raw_memory(options: MultiplexerOptions) -> (Multiplexer, RawPeer) {
    let (mux, mut peer) = raw_memory_unshaken(options);
    shake(&mux, &mut peer);
    (mux, peer)
}

/// A multiplexer and a raw peer over TCP loopback, handshake done.
pub fn raw_tcp(options: MultiplexerOptions) -> (Multiplexer, RawPeer) {
    let (mux, mut peer) = raw_tcp_unshaken(options);
    shake(&mux, &mut peer);
    (mux, peer)
}

/// A raw pair over `transport`, handshake done.
pub fn raw(transport: Transport, options: MultiplexerOptions) -> (Multiplexer, RawPeer) {
    match transport {
        Transport::Memory => raw_memory(options),
        Transport::Tcp => raw_tcp(options),
    }
}

/// Has the multiplexer open channel `id`; the raw peer checks the INIT, grants
/// `credits` and gets the opened channel back.
pub fn open_from_mux(mux: &Multiplexer, peer: &mut RawPeer, id: &str, credits: u32) -> (u32, netconduit::WriteChannel) {
    open_from_mux_with(mux, peer, netconduit::ChannelOptions::new(id), credits)
}

/// Like [`open_from_mux`] with full channel options; checks the INIT's priority.
pub fn open_from_mux_with(
    mux: &Multiplexer,
    peer: &mut RawPeer,
    options: netconduit::ChannelOptions,
    credits: u32,
) -> (u32, netconduit::WriteChannel) {
    let (id, priority) = (options.id.clone(), options.priority);
    let opener = {
        let mux = mux.clone();
        thread::spawn(move || mux.open_channel(options.open_timeout(TIMEOUT)).expect("open_channel"))
    };
    let init = peer.frame();
    assert_eq!(init.kind, FrameType::Init, "expected INIT, got {init:?}");
    let fields = frame::parse_init(&init.payload).unwrap();
    assert_eq!((fields.id, fields.priority), (id.as_str(), priority.0));
    peer.send_ack(init.index, credits, None);
    let channel = opener.join().expect("opener thread");
    assert_eq!(channel.channel_index(), init.index);
    (init.index, channel)
}
