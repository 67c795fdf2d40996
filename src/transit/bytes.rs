//! Length-prefixed byte messages: [`FrameTransit`] and its halves
//! [`FrameSender`] and [`FrameReceiver`].

use super::duplex::open_pair;
use super::error::TransitError;
use super::framing::{FrameDecoder, FrameEncoder};
use super::TransitOptions;
use crate::{ChannelOptions, Multiplexer, ReadChannel, WriteChannel};
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

/// How long one receive call may block.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Wait {
    /// Until a message, the end or an error (`recv`).
    Forever,
    /// Until this instant (`recv_timeout`).
    Until(Instant),
    /// Not at all: only bytes already received count (`try_recv`).
    Never,
}

/// A read channel whose every read is bounded by one call's [`Wait`]: the deadline
/// covers the whole receive call, however many reads it takes.
struct TimedReader<'a> {
    channel: &'a mut ReadChannel,
    wait: Wait,
}

impl Read for TimedReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let timeout = match self.wait {
            Wait::Forever => None,
            Wait::Until(deadline) => Some(deadline.saturating_duration_since(Instant::now())),
            // A zero timeout still returns bytes, end of stream or an error that is
            // already there; it only never waits.
            Wait::Never => Some(Duration::ZERO),
        };
        self.channel.set_read_timeout(timeout);
        self.channel.read(buf)
    }
}

/// The sending half of a [`FrameTransit`]: writes each message as
/// `[length u32 BE][bytes]` on a [`WriteChannel`].
///
/// # Blocking and timeouts
/// [`send`](Self::send) returns once the whole message was handed to the channel
/// (the channel's flow control may make it wait for the peer to read). If the
/// channel's send timeout passes without progress, `send` fails with
/// [`TransitError::Timeout`] and keeps the unsent rest of the message: it goes out,
/// in order, before anything else on the next [`send`](Self::send),
/// [`flush`](Self::flush) or [`close`](Self::close). The message counts as sent;
/// do not send it again. [`pending`](Self::pending) tells how many bytes wait.
///
/// # Closing
/// [`close`](Self::close) sends what is pending, then FIN: the receiver gets every
/// message, then [`TransitError::Closed`]. Dropping the sender sends FIN at once; if
/// bytes were still pending the receiver sees [`TransitError::Truncated`].
#[derive(Debug)]
pub struct FrameSender {
    channel: WriteChannel,
    encoder: FrameEncoder,
}

impl FrameSender {
    /// A sender over `channel` with default options.
    pub fn new(channel: WriteChannel) -> FrameSender {
        FrameSender::with_options(channel, &TransitOptions::default())
    }

    /// A sender over `channel` refusing messages above `options.max_message_size`.
    pub fn with_options(channel: WriteChannel, options: &TransitOptions) -> FrameSender {
        FrameSender { channel, encoder: FrameEncoder::new(options.max_message_size) }
    }

    /// Sends one message. Fails with [`TransitError::SendTooLarge`] (nothing sent)
    /// if it is above the limit, with [`TransitError::Timeout`] as described above,
    /// or with [`TransitError::Channel`] once the channel failed.
    pub fn send(&mut self, message: &[u8]) -> Result<(), TransitError> {
        self.encoder.encode_bytes(message)?;
        self.write_pending()
    }

    /// Sends one message that `fill` encodes straight into the send buffer.
    #[cfg(feature = "json")] // only the JSON transit uses it
    pub(crate) fn send_with(
        &mut self,
        fill: impl FnOnce(&mut Vec<u8>) -> Result<(), TransitError>,
    ) -> Result<(), TransitError> {
        self.encoder.encode(fill)?;
        self.write_pending()
    }

    /// Hands the bytes left pending by a timeout to the channel, waiting for the
    /// peer's window as `send` does. Like [`Write::flush`] on [`WriteChannel`] it
    /// does not wait for the transport: the channel's writer thread sends queued
    /// bytes as soon as it can. See [`wait_sent`](Self::wait_sent) for that.
    pub fn flush(&mut self) -> Result<(), TransitError> {
        self.write_pending()?;
        self.channel.flush().map_err(TransitError::from_io)
    }

    /// [`flush`](Self::flush), then blocks until every byte was handed to the
    /// transport ([`WriteChannel::wait_sent`]), at most the send timeout.
    pub fn wait_sent(&mut self) -> Result<(), TransitError> {
        self.flush()?;
        self.channel.wait_sent().map_err(TransitError::from)
    }

    /// Bytes of earlier messages not yet handed to the channel (non-zero only after
    /// a [`TransitError::Timeout`]).
    pub fn pending(&self) -> usize {
        self.encoder.pending()
    }

    /// Changes how long a send waits for the peer to make room.
    pub fn set_send_timeout(&mut self, timeout: Duration) {
        self.channel.set_send_timeout(timeout);
    }

    /// The underlying channel (its id, counters and credits).
    pub fn channel(&self) -> &WriteChannel {
        &self.channel
    }

    /// Sends what is pending, then ends the channel with FIN. Returns the error
    /// that kept a pending message or the channel from completing.
    pub fn close(mut self) -> Result<(), TransitError> {
        let pending = self.write_pending();
        let closed = self.channel.close().map_err(TransitError::Channel);
        pending.and(closed)
    }

    fn write_pending(&mut self) -> Result<(), TransitError> {
        self.encoder.write_pending(&mut self.channel).map_err(TransitError::from_io)
    }
}

/// The receiving half of a [`FrameTransit`]: reads `[length u32 BE][bytes]`
/// messages from a [`ReadChannel`].
///
/// # Blocking and partial messages
/// [`recv`](Self::recv) blocks until a whole message arrived.
/// [`recv_timeout`](Self::recv_timeout) gives up after a time and
/// [`try_recv`](Self::try_recv) does not wait at all. A message that has only
/// partly arrived when they give up is kept inside the receiver, and the next
/// receive call of any kind continues it: timeouts never break the framing.
/// (The receiver sets the channel's read timeout itself on every call.)
///
/// # End and errors
/// When the peer closed its channel after a whole message, receive calls fail
/// with [`TransitError::Closed`], and [`iter`](Self::iter) ends. A stream that ends
/// inside a message gives [`TransitError::Truncated`] instead. An oversized message
/// gives [`TransitError::TooLarge`] without allocating and is skipped by the next
/// call.
///
/// # Closing
/// Dropping the receiver before the end tells the sender to stop (`ERR CANCEL`):
/// its sends then fail with [`TransitError::Channel`].
#[derive(Debug)]
pub struct FrameReceiver {
    channel: ReadChannel,
    decoder: FrameDecoder,
}

impl FrameReceiver {
    /// A receiver over `channel` with default options.
    pub fn new(channel: ReadChannel) -> FrameReceiver {
        FrameReceiver::with_options(channel, &TransitOptions::default())
    }

    /// A receiver over `channel` rejecting messages above `options.max_message_size`.
    pub fn with_options(channel: ReadChannel, options: &TransitOptions) -> FrameReceiver {
        FrameReceiver { channel, decoder: FrameDecoder::new(options.max_message_size) }
    }

    /// Blocks until the next message arrived and returns it.
    pub fn recv(&mut self) -> Result<Vec<u8>, TransitError> {
        self.poll(Wait::Forever)?;
        Ok(self.decoder.take_payload())
    }

    /// Like [`recv`](Self::recv), failing with [`TransitError::Timeout`] if no whole
    /// message arrived within `timeout` (a partly received one is kept).
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Vec<u8>, TransitError> {
        self.poll(Wait::Until(Instant::now() + timeout))?;
        Ok(self.decoder.take_payload())
    }

    /// Returns the next message if it already arrived whole, `Ok(None)` if not;
    /// never blocks. Bytes of a message that is still arriving are kept.
    pub fn try_recv(&mut self) -> Result<Option<Vec<u8>>, TransitError> {
        match self.poll(Wait::Never) {
            Ok(()) => Ok(Some(self.decoder.take_payload())),
            Err(TransitError::Timeout) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// An iterator of received messages; see [`FrameIter`].
    pub fn iter(&mut self) -> FrameIter<'_> {
        FrameIter { receiver: self, done: false }
    }

    /// True while part of a message has arrived and the rest is awaited.
    pub fn has_partial_message(&self) -> bool {
        self.decoder.is_partial()
    }

    /// The underlying channel (its id and counters).
    pub fn channel(&self) -> &ReadChannel {
        &self.channel
    }

    /// Bytes received and not yet returned as messages, in the receiver and in the
    /// channel.
    pub fn buffered(&self) -> usize {
        self.decoder.read_ahead() + self.channel.buffered()
    }

    /// Decodes the next frame into the decoder; [`TransitError::Closed`] at a clean
    /// end. The shared path of every receiving transit.
    pub(crate) fn poll(&mut self, wait: Wait) -> Result<(), TransitError> {
        let mut reader = TimedReader { channel: &mut self.channel, wait };
        match self.decoder.decode(&mut reader)? {
            true => Ok(()),
            false => Err(TransitError::Closed),
        }
    }

    /// The frame completed by the last successful [`poll`](Self::poll).
    #[cfg(feature = "json")] // only the JSON transit uses it
    pub(crate) fn payload(&self) -> &[u8] {
        self.decoder.payload()
    }
}

/// Iterator over the messages of a [`FrameReceiver`] or [`FrameTransit`], blocking
/// for each.
///
/// It yields `Ok(message)` per message and ends when the peer closed the channel
/// cleanly. An error is yielded as `Err`; after a recoverable one (see
/// [`TransitError::is_recoverable`]) iteration continues with the next message,
/// after any other it ends.
#[derive(Debug)]
pub struct FrameIter<'a> {
    receiver: &'a mut FrameReceiver,
    done: bool,
}

impl Iterator for FrameIter<'_> {
    type Item = Result<Vec<u8>, TransitError>;

    fn next(&mut self) -> Option<Self::Item> {
        next_item(&mut self.done, self.receiver.recv())
    }
}

impl<'a> IntoIterator for &'a mut FrameReceiver {
    type Item = Result<Vec<u8>, TransitError>;
    type IntoIter = FrameIter<'a>;

    fn into_iter(self) -> FrameIter<'a> {
        self.iter()
    }
}

/// The iterators' shared rule: end at a clean close, end after a fatal error.
pub(crate) fn next_item<T>(done: &mut bool, result: Result<T, TransitError>) -> Option<Result<T, TransitError>> {
    if *done {
        return None;
    }
    match result {
        Err(TransitError::Closed) => {
            *done = true;
            None
        }
        Err(error) => {
            // A blocking receive cannot time out; if a timeout shows up anyway,
            // yielding it again and again would never end.
            *done = !error.is_recoverable() || matches!(error, TransitError::Timeout);
            Some(Err(error))
        }
        ok => Some(ok),
    }
}

/// Length-prefixed byte messages in both directions over a channel pair: a
/// [`FrameSender`] and a [`FrameReceiver`] in one value. Each message is
/// `[length u32 BE][bytes]` on the wire.
///
/// See the [module documentation](super) for an example; the halves document
/// blocking, timeouts and closing.
#[derive(Debug)]
pub struct FrameTransit {
    sender: FrameSender,
    receiver: FrameReceiver,
}

impl FrameTransit {
    /// Opens channel `id` to the peer and accepts the peer's channel `id`; the peer
    /// does the same (see [`DuplexStream::open`](super::DuplexStream::open)).
    pub fn open(multiplexer: &Multiplexer, id: &str) -> crate::Result<FrameTransit> {
        FrameTransit::open_with(multiplexer, ChannelOptions::new(id), &TransitOptions::default())
    }

    /// Like [`open`](Self::open) with channel and transit options; both the open and
    /// the accept are bounded by `channel.open_timeout`.
    pub fn open_with(
        multiplexer: &Multiplexer,
        channel: ChannelOptions,
        options: &TransitOptions,
    ) -> crate::Result<FrameTransit> {
        let (reader, writer) = open_pair(multiplexer, channel)?;
        Ok(FrameTransit::with_options(reader, writer, options))
    }

    /// A transit over two channels, with default options.
    pub fn new(reader: ReadChannel, writer: WriteChannel) -> FrameTransit {
        FrameTransit::with_options(reader, writer, &TransitOptions::default())
    }

    /// A transit over two channels; `options` apply to both directions.
    pub fn with_options(reader: ReadChannel, writer: WriteChannel, options: &TransitOptions) -> FrameTransit {
        FrameTransit {
            sender: FrameSender::with_options(writer, options),
            receiver: FrameReceiver::with_options(reader, options),
        }
    }

    /// See [`FrameSender::send`].
    pub fn send(&mut self, message: &[u8]) -> Result<(), TransitError> {
        self.sender.send(message)
    }

    /// See [`FrameSender::flush`].
    pub fn flush(&mut self) -> Result<(), TransitError> {
        self.sender.flush()
    }

    /// See [`FrameSender::wait_sent`].
    pub fn wait_sent(&mut self) -> Result<(), TransitError> {
        self.sender.wait_sent()
    }

    /// See [`FrameReceiver::recv`].
    pub fn recv(&mut self) -> Result<Vec<u8>, TransitError> {
        self.receiver.recv()
    }

    /// See [`FrameReceiver::recv_timeout`].
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Vec<u8>, TransitError> {
        self.receiver.recv_timeout(timeout)
    }

    /// See [`FrameReceiver::try_recv`].
    pub fn try_recv(&mut self) -> Result<Option<Vec<u8>>, TransitError> {
        self.receiver.try_recv()
    }

    /// See [`FrameReceiver::iter`].
    pub fn iter(&mut self) -> FrameIter<'_> {
        self.receiver.iter()
    }

    /// The sending half.
    pub fn sender(&mut self) -> &mut FrameSender {
        &mut self.sender
    }

    /// The receiving half.
    pub fn receiver(&mut self) -> &mut FrameReceiver {
        &mut self.receiver
    }

    /// The two halves, for sending and receiving on different threads.
    pub fn split(self) -> (FrameSender, FrameReceiver) {
        (self.sender, self.receiver)
    }

    /// Closes the sending half (see [`FrameSender::close`]) and drops the receiving
    /// half, which tells the peer's sender to stop if it has not finished. For an
    /// orderly end in both directions, [`split`](Self::split), close the sender and
    /// receive until [`TransitError::Closed`].
    pub fn close(self) -> Result<(), TransitError> {
        self.sender.close()
    }
}
