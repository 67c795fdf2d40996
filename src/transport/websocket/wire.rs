//! The write side shared by both halves: the write lock, the control queue, frame encoding.

use std::collections::hash_map::RandomState;
use std::collections::VecDeque;
use std::hash::BuildHasher;
use std::io::{self, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use tungstenite::protocol::frame::coding::{CloseCode, Control, Data, OpCode};
use tungstenite::protocol::frame::FrameHeader;
use tungstenite::protocol::Role;
use tungstenite::Bytes;

use super::{shut_down_error, tungstenite_error, HEADER_ROOM};

pub(super) struct Shared {
    pub(super) role: Role,
    /// Written through `&TcpStream` by whoever holds `write`; also used for `shutdown`.
    pub(super) tcp: TcpStream,
    /// The write lock: whoever holds it may put frames on the wire.
    pub(super) write: Mutex<WriteSide>,
    /// Control frames the reader wants sent. Never held during I/O.
    pub(super) control: Mutex<ControlQueue>,
    /// Mirrors `WriteSide::stopped.is_some()` so writers can fail fast without the lock.
    pub(super) write_stopped: AtomicBool,
    /// Set by [`WsShutdown::shutdown`](super::WsShutdown::shutdown).
    pub(super) shut_down: AtomicBool,
}

#[derive(Default)]
pub(super) struct ControlQueue {
    pub(super) pongs: VecDeque<Bytes>,
    /// A Close frame to send (reply to the peer's Close, or failing the connection).
    pub(super) close: Option<QueuedClose>,
    /// We received the peer's Close frame.
    pub(super) peer_closed: bool,
    /// Our Close frame is on the wire.
    pub(super) close_sent: bool,
}

impl ControlQueue {
    pub(super) fn has_work(&self) -> bool {
        !self.pongs.is_empty() || self.close.is_some()
    }
}

pub(super) struct QueuedClose {
    pub(super) payload: Vec<u8>,
    /// Why writing stops once this Close is sent: error kind and message for later writes.
    pub(super) then: (io::ErrorKind, String),
}

pub(super) struct WriteSide {
    pub(super) masks: MaskGen,
    /// Buffer for control frames (HEADER_ROOM + payload).
    pub(super) scratch: Vec<u8>,
    /// Why data can no longer be sent (Close sent, earlier write failed, ...).
    pub(super) stopped: Option<(io::ErrorKind, String)>,
}

impl Shared {
    /// Sends one binary message; `buf` holds HEADER_ROOM bytes followed by the payload.
    pub(super) fn send_message(&self, buf: &mut [u8]) -> io::Result<()> {
        let mut w = self.write.lock();
        let result = w
            .drain_control(self)
            .and_then(|()| w.check_open(self))
            .and_then(|()| w.write_frame(self, OpCode::Data(Data::Binary), buf));
        if result.is_ok() {
            // Errors here are recorded in `stopped` and reported by the next call.
            let _ = w.drain_control(self);
        }
        drop(w);
        self.pump_control();
        result
    }

    /// Sends our own Close frame (code 1000) unless writing has already stopped.
    pub(super) fn send_local_close(&self) -> io::Result<()> {
        let mut w = self.write.lock();
        let result = w.drain_control(self).and_then(|()| match &w.stopped {
            None => {
                let then = (io::ErrorKind::BrokenPipe, "the WebSocket writer was closed".to_owned());
                w.write_close(self, &u16::from(CloseCode::Normal).to_be_bytes(), then)
            }
            // A Close frame already went out (ours or the reply to the peer's): closed.
            Some(_) if self.control.lock().close_sent => Ok(()),
            Some(_) => w.check_open(self),
        });
        drop(w);
        self.pump_control();
        result
    }

    /// Gets queued control frames onto the wire without ever waiting for the write lock: if the
    /// lock is taken, its holder sends the queue before and after its frame and calls this again
    /// after unlocking, so nothing is left behind.
    pub(super) fn pump_control(&self) {
        loop {
            if !self.control.lock().has_work() {
                return;
            }
            let Some(mut w) = self.write.try_lock() else { return };
            let _ = w.drain_control(self); // failures are recorded in `stopped`
        }
    }

    pub(super) fn queue_close(&self, code: CloseCode, reason: &str, then: (io::ErrorKind, String)) {
        let mut payload = u16::from(code).to_be_bytes().to_vec();
        payload.extend_from_slice(&reason.as_bytes()[..reason.len().min(123)]);
        let mut c = self.control.lock();
        if !c.close_sent && c.close.is_none() {
            c.close = Some(QueuedClose { payload, then });
        }
    }
}

impl WriteSide {
    pub(super) fn check_open(&self, shared: &Shared) -> io::Result<()> {
        if shared.shut_down.load(Ordering::Acquire) {
            return Err(shut_down_error());
        }
        match &self.stopped {
            None => Ok(()),
            Some((kind, msg)) => Err(io::Error::new(*kind, msg.clone())),
        }
    }

    fn stop(&mut self, shared: &Shared, kind: io::ErrorKind, msg: String) {
        if self.stopped.is_none() {
            self.stopped = Some((kind, msg));
            shared.write_stopped.store(true, Ordering::Release);
        }
    }

    /// Writes one complete frame. `buf` = HEADER_ROOM bytes of room + payload; the header is
    /// formatted right-aligned into the room and the payload masked in place (client role), so
    /// the frame goes out with one `write_all` and can never interleave with another frame.
    fn write_frame(&mut self, shared: &Shared, opcode: OpCode, buf: &mut [u8]) -> io::Result<()> {
        self.check_open(shared)?;
        let len = (buf.len() - HEADER_ROOM) as u64;
        let mask = match shared.role {
            Role::Client => Some(self.masks.next()),
            Role::Server => None,
        };
        let header = FrameHeader { is_final: true, rsv1: false, rsv2: false, rsv3: false, opcode, mask };
        let start = HEADER_ROOM - header.len(len);
        header
            .format(len, &mut &mut buf[start..HEADER_ROOM])
            .map_err(|e| tungstenite_error(e, "encoding a WebSocket frame header failed"))?;
        if let Some(mask) = mask {
            apply_mask(&mut buf[HEADER_ROOM..], mask, 0);
        }
        (&shared.tcp).write_all(&buf[start..]).inspect_err(|e| {
            let msg = if shared.shut_down.load(Ordering::Acquire) {
                "the WebSocket transport was shut down locally".to_owned()
            } else {
                format!("an earlier WebSocket write failed, the stream is unusable: {e}")
            };
            self.stop(shared, e.kind(), msg);
        })
    }

    fn write_control(&mut self, shared: &Shared, ctl: Control, payload: &[u8]) -> io::Result<()> {
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        buf.resize(HEADER_ROOM, 0);
        buf.extend_from_slice(payload);
        let result = self.write_frame(shared, OpCode::Control(ctl), &mut buf);
        self.scratch = buf;
        result
    }

    fn write_close(&mut self, shared: &Shared, payload: &[u8], then: (io::ErrorKind, String)) -> io::Result<()> {
        self.write_control(shared, Control::Close, payload)?;
        self.stop(shared, then.0, then.1);
        let peer_closed = {
            let mut c = shared.control.lock();
            c.close_sent = true;
            c.peer_closed
        };
        if peer_closed {
            shared.close_handshake_done();
        }
        Ok(())
    }

    /// Sends everything in the control queue (pongs first, then a queued Close). Pongs and
    /// Closes that come after our own Close are dropped.
    fn drain_control(&mut self, shared: &Shared) -> io::Result<()> {
        loop {
            let (pongs, close) = {
                let mut c = shared.control.lock();
                (std::mem::take(&mut c.pongs), c.close.take())
            };
            if pongs.is_empty() && close.is_none() {
                return Ok(());
            }
            if self.stopped.is_some() || shared.shut_down.load(Ordering::Acquire) {
                continue; // nothing may be sent any more; drop them
            }
            for pong in pongs {
                self.write_control(shared, Control::Pong, &pong)?;
            }
            if let Some(close) = close {
                self.write_close(shared, &close.payload, close.then)?;
            }
        }
    }
}

impl Shared {
    /// Close frames went both ways: nothing more may be sent, so shut our TCP write side down
    /// (FIN). For the server this is RFC 6455's "the server closes the TCP connection first";
    /// a client MAY close once it has sent and received Close (7.1.1). Either way the peer does
    /// not have to wait until our application drops the halves.
    pub(super) fn close_handshake_done(&self) {
        let _ = self.tcp.shutdown(Shutdown::Write);
    }
}

/// Random masks for client frames: SipHash with per-process random keys over a counter.
pub(super) struct MaskGen {
    pub(super) keys: RandomState,
    pub(super) counter: u64,
}

impl MaskGen {
    fn next(&mut self) -> [u8; 4] {
        self.counter = self.counter.wrapping_add(1);
        (self.keys.hash_one(self.counter) as u32).to_ne_bytes()
    }
}

/// XORs `buf` with `mask`, where `buf[0]` is byte number `offset` of the masked payload.
pub(super) fn apply_mask(buf: &mut [u8], mask: [u8; 4], offset: usize) {
    let r = offset & 3;
    let m = [mask[r], mask[(r + 1) & 3], mask[(r + 2) & 3], mask[(r + 3) & 3]];
    let wide = u64::from_ne_bytes([m[0], m[1], m[2], m[3], m[0], m[1], m[2], m[3]]);
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(word) ^ wide).to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= m[i & 3];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_matches_bytewise_xor_at_any_offset() {
        let mask = [0x12, 0x34, 0x56, 0x78];
        let data: Vec<u8> = (0..100u8).collect();
        for offset in 0..8 {
            for len in [0, 1, 3, 7, 8, 9, 31, 92] {
                let mut buf = data[offset..offset + len].to_vec();
                apply_mask(&mut buf, mask, offset);
                let expected: Vec<u8> = (0..len).map(|i| data[offset + i] ^ mask[(offset + i) % 4]).collect();
                assert_eq!(buf, expected, "offset {offset} len {len}");
            }
        }
    }

    #[test]
    fn masks_vary() {
        let mut gen = MaskGen { keys: RandomState::new(), counter: 0 };
        let masks: std::collections::HashSet<[u8; 4]> = (0..1000).map(|_| gen.next()).collect();
        assert!(masks.len() > 990);
    }
}
