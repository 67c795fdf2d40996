//! [`WsReader`]: frames in, payload bytes out.

use std::fmt;
use std::io::{self, Read};
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tungstenite::error::{CapacityError, ProtocolError};
use tungstenite::protocol::frame::coding::{CloseCode, Control, Data, OpCode};
use tungstenite::protocol::frame::{Frame, FrameSocket};
use tungstenite::protocol::Role;
use tungstenite::Bytes;

use super::wire::{apply_mask, QueuedClose, Shared};
use super::{wrap, WsShutdown, MAX_QUEUED_PONGS};

/// The receiving half: the payload bytes of incoming binary messages as one byte stream.
///
/// Blocks in `read` without holding any lock shared with [`WsWriter`](super::WsWriter). Returns
/// `Ok(0)` after the peer's Close frame, after our Close was answered by end-of-stream, and after
/// [`WsShutdown::shutdown`]. See the [module docs](super) for the error kinds.
pub struct WsReader {
    pub(super) socket: FrameSocket<TcpStream>,
    pub(super) shared: Arc<Shared>,
    pub(super) max_frame_size: usize,
    /// Payload of the current data frame, `pos` bytes already returned.
    pub(super) data: Bytes,
    pub(super) pos: usize,
    /// Mask of the current data frame (frames from a client).
    pub(super) mask: Option<[u8; 4]>,
    /// Inside a fragmented binary message (continuation frames expected).
    pub(super) in_fragmented: bool,
    pub(super) state: ReadState,
}

pub(super) enum ReadState {
    Open,
    Closed,
    Failed(io::ErrorKind, String),
}

impl WsReader {
    /// A handle that can shut the connection down from any thread, unblocking this reader.
    pub fn shutdown_handle(&self) -> WsShutdown {
        WsShutdown { shared: Arc::clone(&self.shared) }
    }

    fn on_eof(&mut self) -> io::Result<usize> {
        if self.shared.shut_down.load(Ordering::Acquire) || self.shared.control.lock().close_sent {
            // We shut down, or we sent Close and the peer hung up: a deliberate end.
            self.state = ReadState::Closed;
            return Ok(0);
        }
        let msg = "the peer closed the TCP connection without a WebSocket close handshake";
        self.state = ReadState::Failed(io::ErrorKind::UnexpectedEof, msg.to_owned());
        Err(wrap(
            io::ErrorKind::UnexpectedEof,
            msg.to_owned(),
            Some(ProtocolError::ResetWithoutClosingHandshake.into()),
        ))
    }

    /// Fails the connection: later reads fail too, and a Close frame with `code` is sent.
    fn fail(
        &mut self,
        kind: io::ErrorKind,
        code: CloseCode,
        msg: String,
        source: Option<tungstenite::Error>,
    ) -> io::Error {
        self.state = ReadState::Failed(kind, msg.clone());
        let then = (io::ErrorKind::ConnectionAborted, format!("the WebSocket connection failed: {msg}"));
        let reason = match code {
            CloseCode::Unsupported => "binary messages only",
            CloseCode::Size => "frame too large",
            _ => "protocol error",
        };
        self.shared.queue_close(code, reason, then);
        self.shared.pump_control();
        wrap(kind, msg, source)
    }

    fn protocol_error(&mut self, err: ProtocolError) -> io::Error {
        let msg = format!("WebSocket protocol violation by the peer: {err}");
        self.fail(io::ErrorKind::InvalidData, CloseCode::Protocol, msg, Some(err.into()))
    }

    fn handle_frame(&mut self, frame: Frame) -> Result<(), io::Error> {
        let header = frame.header();
        let (fin, opcode, mask) = (header.is_final, header.opcode, header.mask);
        if header.rsv1 || header.rsv2 || header.rsv3 {
            return Err(self.protocol_error(ProtocolError::NonZeroReservedBits));
        }
        match (self.shared.role, mask) {
            (Role::Client, Some(_)) => return Err(self.protocol_error(ProtocolError::MaskedFrameFromServer)),
            (Role::Server, None) => return Err(self.protocol_error(ProtocolError::UnmaskedFrameFromClient)),
            _ => {}
        }
        match opcode {
            OpCode::Data(Data::Text) => {
                let msg = "received a WebSocket text message; this transport carries binary messages only".to_owned();
                Err(self.fail(io::ErrorKind::InvalidData, CloseCode::Unsupported, msg, None))
            }
            OpCode::Data(Data::Binary) if self.in_fragmented => {
                Err(self.protocol_error(ProtocolError::ExpectedFragment(Data::Binary)))
            }
            OpCode::Data(Data::Continue) if !self.in_fragmented => {
                Err(self.protocol_error(ProtocolError::UnexpectedContinueFrame))
            }
            OpCode::Data(Data::Binary | Data::Continue) => {
                self.in_fragmented = !fin;
                self.data = frame.into_payload();
                self.pos = 0;
                self.mask = mask;
                Ok(())
            }
            OpCode::Data(Data::Reserved(op)) => Err(self.protocol_error(ProtocolError::UnknownDataFrameType(op))),
            OpCode::Control(_) if !fin => Err(self.protocol_error(ProtocolError::FragmentedControlFrame)),
            OpCode::Control(_) if frame.payload().len() > 125 => {
                Err(self.protocol_error(ProtocolError::ControlFrameTooBig))
            }
            OpCode::Control(Control::Reserved(op)) => {
                Err(self.protocol_error(ProtocolError::UnknownControlFrameType(op)))
            }
            OpCode::Control(Control::Pong) => Ok(()),
            OpCode::Control(ctl @ (Control::Ping | Control::Close)) => {
                let mut payload = frame.into_payload().to_vec();
                if let Some(mask) = mask {
                    apply_mask(&mut payload, mask, 0);
                }
                if ctl == Control::Ping {
                    let mut c = self.shared.control.lock();
                    if !c.close_sent {
                        if c.pongs.len() == MAX_QUEUED_PONGS {
                            c.pongs.pop_front();
                        }
                        c.pongs.push_back(payload.into());
                    }
                    drop(c);
                    self.shared.pump_control();
                    Ok(())
                } else {
                    self.handle_close(payload)
                }
            }
        }
    }

    fn handle_close(&mut self, payload: Vec<u8>) -> Result<(), io::Error> {
        if payload.len() == 1 {
            return Err(self.protocol_error(ProtocolError::InvalidCloseSequence));
        }
        if payload.len() >= 2 {
            let code = CloseCode::from(u16::from_be_bytes([payload[0], payload[1]]));
            if !code.is_allowed() {
                return Err(self.protocol_error(ProtocolError::InvalidCloseSequence));
            }
            if let Err(e) = std::str::from_utf8(&payload[2..]) {
                let msg = format!("WebSocket close reason is not UTF-8: {e}");
                return Err(self.fail(io::ErrorKind::InvalidData, CloseCode::Invalid, msg, Some(e.into())));
            }
        }
        self.state = ReadState::Closed;
        let close_sent = {
            let mut c = self.shared.control.lock();
            c.peer_closed = true;
            if !c.close_sent && c.close.is_none() {
                // Echo the status code, as RFC 6455 5.5.1 suggests.
                let then = (io::ErrorKind::BrokenPipe, "the peer closed the WebSocket connection".to_owned());
                c.close = Some(QueuedClose { payload: payload[..payload.len().min(2)].to_vec(), then });
            }
            c.close_sent
        };
        if close_sent {
            self.shared.close_handshake_done();
        }
        self.shared.pump_control();
        Ok(())
    }
}

impl Read for WsReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.shared.shut_down.load(Ordering::Acquire) {
                return Ok(0);
            }
            if self.pos < self.data.len() {
                let n = buf.len().min(self.data.len() - self.pos);
                buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
                if let Some(mask) = self.mask {
                    apply_mask(&mut buf[..n], mask, self.pos);
                }
                self.pos += n;
                return Ok(n);
            }
            match &self.state {
                ReadState::Open => {}
                ReadState::Closed => return Ok(0),
                ReadState::Failed(kind, msg) => {
                    return Err(io::Error::new(*kind, format!("WebSocket stream already failed: {msg}")))
                }
            }
            let frame = match self.socket.read(Some(self.max_frame_size)) {
                Ok(Some(frame)) => frame,
                Ok(None) => return self.on_eof(),
                Err(tungstenite::Error::Io(e)) => match e.kind() {
                    io::ErrorKind::Interrupted => continue,
                    // Read timeouts set on the socket: the frame decoder keeps its state.
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => return Err(e),
                    _ if self.shared.shut_down.load(Ordering::Acquire) => return Ok(0),
                    kind => {
                        self.state = ReadState::Failed(kind, e.to_string());
                        return Err(e);
                    }
                },
                Err(e @ tungstenite::Error::Capacity(CapacityError::MessageTooLong { .. })) => {
                    let msg = format!("incoming WebSocket frame too large: {e}");
                    return Err(self.fail(io::ErrorKind::InvalidData, CloseCode::Size, msg, Some(e)));
                }
                Err(e) => {
                    let msg = format!("invalid WebSocket frame: {e}");
                    return Err(self.fail(io::ErrorKind::InvalidData, CloseCode::Protocol, msg, Some(e)));
                }
            };
            self.handle_frame(frame)?;
        }
    }
}

impl fmt::Debug for WsReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsReader")
            .field("role", &self.shared.role)
            .field("peer", &self.shared.tcp.peer_addr().ok())
            .field("buffered", &(self.data.len() - self.pos))
            .finish_non_exhaustive()
    }
}
