//! Transits: meaning on top of channels.
//!
//! The multiplexer moves bytes; a transit decides what they are. This module has
//! four, all blocking like the channels under them:
//!
//! | Transit | What it carries | Made from |
//! |---|---|---|
//! | [`DuplexStream`] | a `Read + Write` connection | a write channel and a read channel |
//! | [`MessageTransit<S, R>`] | serde values as JSON messages (feature `json`) | a channel pair |
//! | [`FrameTransit`] | `Vec<u8>` messages | a channel pair |
//! | the channels themselves | a byte stream in one direction | [`WriteChannel`] is `Write`, [`ReadChannel`] is `Read` |
//!
//! Every two-way transit can be made from both sides with one name: each side
//! opens its channel `name` and accepts the peer's channel `name`
//! ([`Multiplexer::open_duplex`], [`Multiplexer::open_message_transit`],
//! [`Multiplexer::open_frame_transit`], or the types' `open`). The message
//! transits also come as halves ([`MessageSender`], [`MessageReceiver`],
//! [`FrameSender`], [`FrameReceiver`]) over one channel each, and `split()` turns a
//! transit into its halves for use on two threads.
//!
//! # A connection: [`DuplexStream`]
//!
//! ```
//! use netconduit::{transport::memory, Multiplexer, MultiplexerOptions};
//! use std::io::{Read, Write};
//!
//! let (a, b) = memory::duplex();
//! let ((ra, wa), (rb, wb)) = (a.split(), b.split());
//! let client = Multiplexer::new(ra, wa, MultiplexerOptions::default())?;
//! let server = Multiplexer::new(rb, wb, MultiplexerOptions::default())?;
//!
//! // The server side shouts back whatever it read, once the client stops writing.
//! let server_side = server.clone();
//! let shouter = std::thread::spawn(move || -> std::io::Result<()> {
//!     let mut conn = server_side.open_duplex("shout")?;
//!     let mut request = Vec::new();
//!     conn.read_to_end(&mut request)?; // until the client's shutdown_write
//!     conn.write_all(&request.to_ascii_uppercase())?;
//!     Ok(()) // dropping `conn` ends its writing side too
//! });
//!
//! let mut conn = client.open_duplex("shout")?;
//! conn.write_all(b"hello")?;
//! conn.shutdown_write()?; // half-close: the server sees the end, can still answer
//! let mut reply = String::new();
//! conn.read_to_string(&mut reply)?;
//! assert_eq!(reply, "HELLO");
//! shouter.join().unwrap()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Typed messages: [`MessageTransit`]
//!
//! Each message is `[length u32 BE][JSON]`. `S` is what this side sends and `R`
//! what it receives, so the peer's transit has them the other way round.
//!
//! ```
//! # #[cfg(feature = "json")]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use netconduit::transit::{MessageTransit, TransitError};
//! use netconduit::{transport::memory, Multiplexer, MultiplexerOptions};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, Debug)]
//! enum Request {
//!     Add(i64, i64),
//!     Sum(Vec<i64>),
//! }
//!
//! #[derive(Serialize, Deserialize, Debug, PartialEq)]
//! struct Answer {
//!     value: i64,
//! }
//!
//! let (a, b) = memory::duplex();
//! let ((ra, wa), (rb, wb)) = (a.split(), b.split());
//! let client = Multiplexer::new(ra, wa, MultiplexerOptions::default())?;
//! let server = Multiplexer::new(rb, wb, MultiplexerOptions::default())?;
//!
//! let server_side = server.clone();
//! let calculator = std::thread::spawn(move || -> Result<u32, TransitError> {
//!     let mut rpc: MessageTransit<Answer, Request> = server_side.open_message_transit("calc")?;
//!     let mut served = 0;
//!     loop {
//!         let value = match rpc.recv() {
//!             Ok(Request::Add(a, b)) => a + b,
//!             Ok(Request::Sum(values)) => values.iter().sum(),
//!             Err(TransitError::Closed) => return Ok(served), // the client is done
//!             Err(error) => return Err(error),
//!         };
//!         rpc.send(&Answer { value })?;
//!         served += 1;
//!     }
//! });
//!
//! let mut rpc: MessageTransit<Request, Answer> = client.open_message_transit("calc")?;
//! rpc.send(&Request::Add(2, 3))?;
//! assert_eq!(rpc.recv()?, Answer { value: 5 });
//! rpc.send(&Request::Sum(vec![1, 2, 3, 4]))?;
//! assert_eq!(rpc.recv()?, Answer { value: 10 });
//! rpc.close()?;
//! assert_eq!(calculator.join().unwrap()?, 2);
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "json"))]
//! # fn main() {}
//! ```
//!
//! # Byte messages: [`FrameTransit`]
//!
//! The same framing without JSON, for payloads that are already encoded. Here one
//! side only sends and the other only receives, so each uses a half.
//!
//! ```
//! use netconduit::transit::{FrameReceiver, FrameSender};
//! use netconduit::{transport::memory, ChannelOptions, Multiplexer, MultiplexerOptions};
//! use std::time::Duration;
//!
//! let (a, b) = memory::duplex();
//! let ((ra, wa), (rb, wb)) = (a.split(), b.split());
//! let client = Multiplexer::new(ra, wa, MultiplexerOptions::default())?;
//! let server = Multiplexer::new(rb, wb, MultiplexerOptions::default())?;
//!
//! let mut tx = FrameSender::new(client.open_channel(ChannelOptions::new("blobs"))?);
//! let mut rx = FrameReceiver::new(server.accept_channel("blobs")?);
//!
//! assert_eq!(rx.try_recv()?, None); // nothing yet, and no waiting
//! tx.send(b"first")?;
//! tx.send(&[0xFF; 3])?;
//! tx.send(b"")?; // an empty message is a message
//! tx.close()?;
//!
//! assert_eq!(rx.recv_timeout(Duration::from_secs(5))?, b"first");
//! let rest: Vec<Vec<u8>> = rx.iter().collect::<Result<_, _>>()?; // ends at the close
//! assert_eq!(rest, [vec![0xFF; 3], vec![]]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Streams: the channels themselves
//!
//! A single channel needs no wrapper to be used as a stream: [`WriteChannel`]
//! implements [`Write`](std::io::Write) and [`ReadChannel`] implements
//! [`Read`](std::io::Read), so `std::io` adapters apply directly. (This is the
//! seed's `StreamTransit`; a type for it would add nothing.)
//!
//! ```
//! use netconduit::{transport::memory, ChannelOptions, Multiplexer, MultiplexerOptions};
//! use std::io::{BufRead, BufReader, Write};
//!
//! let (a, b) = memory::duplex();
//! let ((ra, wa), (rb, wb)) = (a.split(), b.split());
//! let client = Multiplexer::new(ra, wa, MultiplexerOptions::default())?;
//! let server = Multiplexer::new(rb, wb, MultiplexerOptions::default())?;
//!
//! let mut log = client.open_channel(ChannelOptions::new("log"))?;
//! writeln!(log, "started")?;
//! writeln!(log, "stopped")?;
//! log.close()?;
//!
//! let lines: Vec<String> = BufReader::new(server.accept_channel("log")?).lines().collect::<Result<_, _>>()?;
//! assert_eq!(lines, ["started", "stopped"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Timeouts and partial messages
//!
//! The message transits keep their framing state in the value, never on the stack
//! of a blocking call, so giving up never breaks the stream:
//!
//! - `recv_timeout` and `try_recv` may stop in the middle of a message. Its bytes
//!   stay in the receiver and the next receive call, of any kind, continues it.
//!   `try_recv` takes only bytes that already arrived, so it returns a message only
//!   when the message is complete, and never blocks.
//! - A send that times out (the peer does not read, so its window stays full) keeps
//!   the unsent rest of the message in the sender; it goes out first on the next
//!   send, `flush` or `close`. The message counts as sent.
//!
//! # Malformed input
//!
//! Receivers check a message's declared length against
//! [`TransitOptions::max_message_size`] before allocating anything, and grow the
//! buffer only as bytes arrive. What goes wrong is reported precisely and, where the
//! framing allows, the transit stays usable ([`TransitError::is_recoverable`]):
//!
//! | Input | Error | Afterwards |
//! |---|---|---|
//! | length above the limit | [`TransitError::TooLarge`] | the message is skipped; next message |
//! | payload not JSON | `TransitError::InvalidJson` | next message |
//! | JSON of another type | `TransitError::WrongShape` | next message |
//! | stream ends inside a message | [`TransitError::Truncated`] | finished |
//! | stream ends between messages | [`TransitError::Closed`] | finished (the normal end) |
//!
//! [`WriteChannel`]: crate::WriteChannel
//! [`ReadChannel`]: crate::ReadChannel

mod bytes;
mod duplex;
mod error;
mod framing;
#[cfg(feature = "json")]
mod message;

pub use bytes::{FrameIter, FrameReceiver, FrameSender, FrameTransit};
pub use duplex::DuplexStream;
pub use error::TransitError;
#[cfg(feature = "json")]
pub use message::{MessageReceiver, MessageSender, MessageTransit, Messages};

use crate::Multiplexer;

/// The default largest message: 16 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024;

/// Settings of a message transit: the defaults, changed with the builder methods.
///
/// ```
/// use netconduit::transit::TransitOptions;
/// let options = TransitOptions::default().max_message_size(64 * 1024);
/// assert_eq!(options.max_message_size, 65_536);
/// ```
#[derive(Clone, Debug)]
pub struct TransitOptions {
    /// Largest message payload, in bytes, sent or accepted (default 16 MiB). A
    /// receiver rejects a larger declared length before allocating; a sender
    /// refuses a larger message before sending any of it. Values above
    /// `u32::MAX`, the most the 4-byte length prefix can carry, act as `u32::MAX`.
    pub max_message_size: usize,
}

impl Default for TransitOptions {
    fn default() -> Self {
        TransitOptions { max_message_size: DEFAULT_MAX_MESSAGE_SIZE }
    }
}

impl TransitOptions {
    /// Sets the largest message payload, in bytes.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }
}

/// Convenience constructors for transits, the Rust counterparts of the seed's
/// `AsDuplexStream()` and friends. Each opens this side's channel `id` and
/// accepts the peer's channel `id`, which the peer does too.
impl Multiplexer {
    /// A [`DuplexStream`] to the peer's `open_duplex(id)`; see [`DuplexStream::open`].
    pub fn open_duplex(&self, id: &str) -> crate::Result<DuplexStream> {
        DuplexStream::open(self, id)
    }

    /// A [`FrameTransit`] to the peer's `open_frame_transit(id)`; see
    /// [`FrameTransit::open`].
    pub fn open_frame_transit(&self, id: &str) -> crate::Result<FrameTransit> {
        FrameTransit::open(self, id)
    }

    /// A [`MessageTransit`] to the peer's `open_message_transit(id)`, sending `S`
    /// and receiving `R`; see [`MessageTransit::open`].
    #[cfg(feature = "json")]
    pub fn open_message_transit<S: ?Sized, R>(&self, id: &str) -> crate::Result<MessageTransit<S, R>> {
        MessageTransit::open(self, id)
    }
}
