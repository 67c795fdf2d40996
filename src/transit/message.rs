//! Typed JSON messages: [`MessageTransit`] and its halves [`MessageSender`] and
//! [`MessageReceiver`], a serde layer over the frame transit.

use super::bytes::{next_item, FrameReceiver, FrameSender, Wait};
use super::duplex::open_pair;
use super::error::TransitError;
use super::TransitOptions;
use crate::{ChannelOptions, Multiplexer, ReadChannel, WriteChannel};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

/// The sending half of a [`MessageTransit`]: writes each value as
/// `[length u32 BE][JSON]` on a [`WriteChannel`].
///
/// Values are serialised straight into one reused buffer behind a placeholder
/// length, so a send allocates nothing once the buffer has grown, and the frame is
/// handed to the channel in one piece. Blocking, timeouts and closing work as for
/// [`FrameSender`]: in short, a send that times out keeps its unsent rest, which
/// goes out first with the next send, [`flush`](Self::flush) or
/// [`close`](Self::close).
pub struct MessageSender<S: ?Sized> {
    frames: FrameSender,
    _type: PhantomData<fn(&S)>,
}

impl<S: ?Sized> MessageSender<S> {
    /// A sender over `channel` with default options.
    pub fn new(channel: WriteChannel) -> Self {
        MessageSender::from_frames(FrameSender::new(channel))
    }

    /// A sender over `channel` refusing messages whose JSON is above
    /// `options.max_message_size`.
    pub fn with_options(channel: WriteChannel, options: &TransitOptions) -> Self {
        MessageSender::from_frames(FrameSender::with_options(channel, options))
    }

    /// A message sender over a frame sender (the wire format is the same).
    pub fn from_frames(frames: FrameSender) -> Self {
        MessageSender { frames, _type: PhantomData }
    }

    /// The frame sender underneath, for sending pre-encoded JSON.
    pub fn into_frames(self) -> FrameSender {
        self.frames
    }

    /// See [`FrameSender::flush`].
    pub fn flush(&mut self) -> Result<(), TransitError> {
        self.frames.flush()
    }

    /// See [`FrameSender::wait_sent`].
    pub fn wait_sent(&mut self) -> Result<(), TransitError> {
        self.frames.wait_sent()
    }

    /// See [`FrameSender::pending`].
    pub fn pending(&self) -> usize {
        self.frames.pending()
    }

    /// See [`FrameSender::set_send_timeout`].
    pub fn set_send_timeout(&mut self, timeout: Duration) {
        self.frames.set_send_timeout(timeout);
    }

    /// The underlying channel.
    pub fn channel(&self) -> &WriteChannel {
        self.frames.channel()
    }

    /// See [`FrameSender::close`].
    pub fn close(self) -> Result<(), TransitError> {
        self.frames.close()
    }
}

impl<S: Serialize + ?Sized> MessageSender<S> {
    /// Sends one value. Fails with [`TransitError::Encode`] if it cannot be
    /// serialised and [`TransitError::SendTooLarge`] if its JSON is above the limit
    /// (nothing sent in both cases), otherwise as [`FrameSender::send`].
    pub fn send(&mut self, value: &S) -> Result<(), TransitError> {
        self.frames.send_with(|buf| serde_json::to_writer(buf, value).map_err(TransitError::Encode))
    }
}

/// The receiving half of a [`MessageTransit`]: reads `[length u32 BE][JSON]`
/// messages from a [`ReadChannel`] and decodes each as an `R`.
///
/// Blocking, partial messages, the end and closing work as for [`FrameReceiver`]
/// (a timeout never breaks the framing). A message that is not JSON gives
/// [`TransitError::InvalidJson`], one that is JSON of another shape gives
/// [`TransitError::WrongShape`]; either was consumed whole, so the next receive
/// returns the following message. The JSON is decoded from a reused buffer.
pub struct MessageReceiver<R> {
    frames: FrameReceiver,
    _type: PhantomData<fn() -> R>,
}

impl<R> MessageReceiver<R> {
    /// A receiver over `channel` with default options.
    pub fn new(channel: ReadChannel) -> Self {
        MessageReceiver::from_frames(FrameReceiver::new(channel))
    }

    /// A receiver over `channel` rejecting messages above `options.max_message_size`.
    pub fn with_options(channel: ReadChannel, options: &TransitOptions) -> Self {
        MessageReceiver::from_frames(FrameReceiver::with_options(channel, options))
    }

    /// A message receiver over a frame receiver; a partial message in it is kept.
    pub fn from_frames(frames: FrameReceiver) -> Self {
        MessageReceiver { frames, _type: PhantomData }
    }

    /// The frame receiver underneath, for reading the raw JSON bytes.
    pub fn into_frames(self) -> FrameReceiver {
        self.frames
    }

    /// See [`FrameReceiver::has_partial_message`].
    pub fn has_partial_message(&self) -> bool {
        self.frames.has_partial_message()
    }

    /// See [`FrameReceiver::buffered`].
    pub fn buffered(&self) -> usize {
        self.frames.buffered()
    }

    /// The underlying channel.
    pub fn channel(&self) -> &ReadChannel {
        self.frames.channel()
    }
}

impl<R: DeserializeOwned> MessageReceiver<R> {
    /// Blocks until the next message arrived and returns it decoded.
    pub fn recv(&mut self) -> Result<R, TransitError> {
        self.receive(Wait::Forever)
    }

    /// Like [`recv`](Self::recv), failing with [`TransitError::Timeout`] if no whole
    /// message arrived within `timeout` (a partly received one is kept).
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<R, TransitError> {
        self.receive(Wait::Until(Instant::now() + timeout))
    }

    /// Returns the next message if it already arrived whole, `Ok(None)` if not;
    /// never blocks. Bytes of a message that is still arriving are kept.
    pub fn try_recv(&mut self) -> Result<Option<R>, TransitError> {
        match self.receive(Wait::Never) {
            Ok(value) => Ok(Some(value)),
            Err(TransitError::Timeout) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// An iterator of received messages; see [`Messages`].
    pub fn iter(&mut self) -> Messages<'_, R> {
        Messages { receiver: self, done: false }
    }

    fn receive(&mut self, wait: Wait) -> Result<R, TransitError> {
        self.frames.poll(wait)?;
        decode(self.frames.payload())
    }
}

/// Decodes one message, telling "not JSON" from "JSON of the wrong shape". The
/// typed parse alone cannot (serde_json reports an extra array element as trailing
/// characters, a syntax error), so a failed payload is parsed again as any JSON
/// value: that parse also gives the precise syntax error.
fn decode<R: DeserializeOwned>(payload: &[u8]) -> Result<R, TransitError> {
    serde_json::from_slice(payload).map_err(|typed| {
        let len = payload.len();
        match serde_json::from_slice::<serde::de::IgnoredAny>(payload) {
            Ok(_) => TransitError::WrongShape { len, source: typed },
            Err(syntax) => TransitError::InvalidJson { len, source: syntax },
        }
    })
}

/// Iterator over the messages of a [`MessageReceiver`] or [`MessageTransit`],
/// blocking for each.
///
/// It yields `Ok(value)` per message and ends when the peer closed the channel
/// cleanly. An error is yielded as `Err`; after a recoverable one (a malformed or
/// oversized message, see [`TransitError::is_recoverable`]) iteration continues
/// with the next message, after any other it ends.
pub struct Messages<'a, R> {
    receiver: &'a mut MessageReceiver<R>,
    done: bool,
}

impl<R: DeserializeOwned> Iterator for Messages<'_, R> {
    type Item = Result<R, TransitError>;

    fn next(&mut self) -> Option<Self::Item> {
        next_item(&mut self.done, self.receiver.recv())
    }
}

impl<'a, R: DeserializeOwned> IntoIterator for &'a mut MessageReceiver<R> {
    type Item = Result<R, TransitError>;
    type IntoIter = Messages<'a, R>;

    fn into_iter(self) -> Messages<'a, R> {
        self.iter()
    }
}

/// Typed messages in both directions over a channel pair: values of `S` go out,
/// values of `R` come in, each as `[length u32 BE][JSON]` on the wire.
///
/// A [`MessageSender`] and a [`MessageReceiver`] in one value; the halves document
/// blocking, timeouts and errors, and [`split`](Self::split) separates them for use
/// on two threads. See the [module documentation](super) for an example.
pub struct MessageTransit<S: ?Sized, R> {
    sender: MessageSender<S>,
    receiver: MessageReceiver<R>,
}

impl<S: ?Sized, R> MessageTransit<S, R> {
    /// Opens channel `id` to the peer and accepts the peer's channel `id`; the peer
    /// does the same (see [`DuplexStream::open`](super::DuplexStream::open)).
    pub fn open(multiplexer: &Multiplexer, id: &str) -> crate::Result<Self> {
        MessageTransit::open_with(multiplexer, ChannelOptions::new(id), &TransitOptions::default())
    }

    /// Like [`open`](Self::open) with channel and transit options; both the open and
    /// the accept are bounded by `channel.open_timeout`.
    pub fn open_with(
        multiplexer: &Multiplexer,
        channel: ChannelOptions,
        options: &TransitOptions,
    ) -> crate::Result<Self> {
        let (reader, writer) = open_pair(multiplexer, channel)?;
        Ok(MessageTransit::with_options(reader, writer, options))
    }

    /// A transit over two channels, with default options.
    pub fn new(reader: ReadChannel, writer: WriteChannel) -> Self {
        MessageTransit::with_options(reader, writer, &TransitOptions::default())
    }

    /// A transit over two channels; `options` apply to both directions.
    pub fn with_options(reader: ReadChannel, writer: WriteChannel, options: &TransitOptions) -> Self {
        MessageTransit {
            sender: MessageSender::with_options(writer, options),
            receiver: MessageReceiver::with_options(reader, options),
        }
    }

    /// See [`MessageSender::flush`].
    pub fn flush(&mut self) -> Result<(), TransitError> {
        self.sender.flush()
    }

    /// See [`MessageSender::wait_sent`].
    pub fn wait_sent(&mut self) -> Result<(), TransitError> {
        self.sender.wait_sent()
    }

    /// The sending half.
    pub fn sender(&mut self) -> &mut MessageSender<S> {
        &mut self.sender
    }

    /// The receiving half.
    pub fn receiver(&mut self) -> &mut MessageReceiver<R> {
        &mut self.receiver
    }

    /// The two halves, for sending and receiving on different threads.
    pub fn split(self) -> (MessageSender<S>, MessageReceiver<R>) {
        (self.sender, self.receiver)
    }

    /// Closes the sending half (see [`MessageSender::close`]) and drops the
    /// receiving half, which tells the peer's sender to stop if it has not
    /// finished. For an orderly end in both directions, [`split`](Self::split),
    /// close the sender and receive until [`TransitError::Closed`].
    pub fn close(self) -> Result<(), TransitError> {
        self.sender.close()
    }
}

impl<S: Serialize + ?Sized, R> MessageTransit<S, R> {
    /// See [`MessageSender::send`].
    pub fn send(&mut self, value: &S) -> Result<(), TransitError> {
        self.sender.send(value)
    }
}

impl<S: ?Sized, R: DeserializeOwned> MessageTransit<S, R> {
    /// See [`MessageReceiver::recv`].
    pub fn recv(&mut self) -> Result<R, TransitError> {
        self.receiver.recv()
    }

    /// See [`MessageReceiver::recv_timeout`].
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<R, TransitError> {
        self.receiver.recv_timeout(timeout)
    }

    /// See [`MessageReceiver::try_recv`].
    pub fn try_recv(&mut self) -> Result<Option<R>, TransitError> {
        self.receiver.try_recv()
    }

    /// See [`MessageReceiver::iter`].
    pub fn iter(&mut self) -> Messages<'_, R> {
        self.receiver.iter()
    }
}

impl<S: ?Sized> std::fmt::Debug for MessageSender<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageSender").field("frames", &self.frames).finish()
    }
}

impl<R> std::fmt::Debug for MessageReceiver<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageReceiver").field("frames", &self.frames).finish()
    }
}

impl<S: ?Sized, R> std::fmt::Debug for MessageTransit<S, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageTransit").field("sender", &self.sender).field("receiver", &self.receiver).finish()
    }
}

impl<R> std::fmt::Debug for Messages<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Messages").field("done", &self.done).finish()
    }
}
