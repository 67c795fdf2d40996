//! The threaded driver: a [`Multiplexer`] runs a session over a reader and a
//! writer with three threads (reader, priority writer, timer) and hands out
//! blocking channel handles.

mod events;
mod handle;
mod input;
mod link;
mod read_channel;
mod shared;
mod threads;
mod write_channel;

pub use read_channel::ReadChannel;
pub use write_channel::WriteChannel;

use self::handle::ChannelHandle;
use self::input::Input;
use self::shared::Shared;
pub(crate) use self::shared::ShutdownFn;
use crate::error::{Error, Result};
use crate::event::Event;
use crate::options::{ChannelOptions, MultiplexerOptions, Priority};
use crate::proto::heartbeat::HeartbeatConfig;
use crate::proto::session::{Session, SessionConfig, Signal};
use crate::proto::ErrorCode;
use crate::stats::{ChannelStats, MultiplexerStats};
use crossbeam_channel::Receiver;
use parking_lot::Mutex;
use std::io::{Read, Write};
use std::sync::Arc;
use std::task::Poll;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Pipelined opens beyond this many unanswered INITs wait for their ACK.
const MAX_UNACKED_OPENS: usize = 256;

/// One side of a netconduit session over a byte stream.
///
/// A cheap, cloneable, `Send + Sync` handle: clones share one session, so many
/// threads can open, accept and look up channels at once. Dropping the last handle
/// aborts the session (see [`abort`](Self::abort)) and joins its threads; channels
/// do not keep the session alive and fail with [`Error::Closed`] afterwards.
///
/// ```
/// use netconduit::{transport::memory, ChannelOptions, Multiplexer, MultiplexerOptions};
/// use std::io::{Read, Write};
///
/// let (a, b) = memory::duplex();
/// let (ra, wa) = a.split();
/// let (rb, wb) = b.split();
/// let client = Multiplexer::new(ra, wa, MultiplexerOptions::default())?;
/// let server = Multiplexer::new(rb, wb, MultiplexerOptions::default())?;
///
/// let mut tx = client.open_channel(ChannelOptions::new("greeting"))?;
/// tx.write_all(b"hello")?;
/// tx.close()?;
///
/// let mut rx = server.accept_channel("greeting")?;
/// let mut text = String::new();
/// rx.read_to_string(&mut text)?;
/// assert_eq!(text, "hello");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Multiplexer {
    inner: Arc<Inner>,
}

/// A handle that does not keep the session alive, for event callbacks and other
/// observers: [`upgrade`](WeakMultiplexer::upgrade) gives a `Multiplexer` while one
/// still exists.
#[derive(Clone, Debug)]
pub struct WeakMultiplexer {
    inner: std::sync::Weak<Inner>,
}

impl WeakMultiplexer {
    /// The multiplexer, unless every strong handle was dropped.
    pub fn upgrade(&self) -> Option<Multiplexer> {
        self.inner.upgrade().map(|inner| Multiplexer { inner })
    }
}

/// Owns the threads; dropped with the last `Multiplexer` handle.
struct Inner {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    reader_thread: Mutex<Option<JoinHandle<()>>>,
}

/// A snapshot of one channel, from [`Multiplexer::write_channel`] or
/// [`Multiplexer::read_channel`]. Channel handles are owned by whoever opened or
/// accepted them (their drop has a meaning), so lookups return this description.
#[derive(Clone, Debug)]
pub struct ChannelInfo {
    /// Channel id.
    pub id: String,
    /// Wire index in the opener's index space.
    pub index: u32,
    /// Priority.
    pub priority: Priority,
    /// Counters.
    pub stats: ChannelStats,
}

impl Multiplexer {
    /// Starts a session over `reader` and `writer` and returns at once; the
    /// handshake runs in the background (see [`wait_ready`](Self::wait_ready)).
    ///
    /// When `writer` is a `TcpStream`, a `UnixStream` or a memory pipe writer, the
    /// multiplexer shuts the stream down when it closes, which unblocks its reader
    /// thread. For other transports use [`with_shutdown`](Self::with_shutdown);
    /// without it the reader thread ends only when the transport's `read` returns
    /// (end of stream or error), and is then detached rather than joined.
    pub fn new<R, W>(reader: R, writer: W, options: MultiplexerOptions) -> Result<Multiplexer>
    where
        R: Read + Send + 'static,
        W: Write + Send + 'static,
    {
        let shutdown = crate::transport::shutdown_for(&writer);
        Self::start(reader, writer, shutdown, options)
    }

    /// Like [`new`](Self::new), with `shutdown` called once when the session ends:
    /// it must make pending and future `read`s and `write`s on the transport return
    /// (for example by shutting a socket down). Since it cannot half-close, a
    /// graceful close then waits for the peer's end of stream at most
    /// `linger_timeout`.
    pub fn with_shutdown<R, W, F>(reader: R, writer: W, shutdown: F, options: MultiplexerOptions) -> Result<Multiplexer>
    where
        R: Read + Send + 'static,
        W: Write + Send + 'static,
        F: FnOnce() + Send + 'static,
    {
        let shutdown = Mutex::new(Some(shutdown));
        let hook: ShutdownFn = Box::new(move |how| {
            if how == std::net::Shutdown::Both {
                if let Some(shutdown) = shutdown.lock().take() {
                    shutdown();
                }
            }
        });
        Self::start(reader, writer, Some(hook), options)
    }

    fn start<R, W>(
        reader: R,
        writer: W,
        shutdown: Option<ShutdownFn>,
        options: MultiplexerOptions,
    ) -> Result<Multiplexer>
    where
        R: Read + Send + 'static,
        W: Write + Send + 'static,
    {
        options.validate()?;
        let config = SessionConfig {
            session_id: random_session_id(),
            max_frame_size: options.max_frame_size,
            initial_window: options.initial_window,
            grant_threshold_permille: (options.grant_threshold * 1000.0).round() as u32,
            max_channel_window: options.max_channel_window.max(options.initial_window),
            max_session_window_growth: options.max_session_window_growth,
            chunk_size: options.frame_chunk_size,
            send_buffer_size: options.send_buffer_size,
            // An application thread may only block in the transport if closing the
            // session can free it.
            direct_writes: options.direct_writes && shutdown.is_some(),
            write_batch_size: options.write_batch_size,
            // A write of half a batch or more is a large enough transport write
            // on its own: pipelining it would only add the copy.
            pipeline_below: options.write_batch_size / 2,
            // Two batches: one leaving while the next fills, little enough to stay
            // in cache (four measured slower).
            stage_limit: 2 * options.write_batch_size,
            handshake_timeout: options.handshake_timeout,
            max_incoming_channels: options.max_incoming_channels,
            max_pending_accepts: options.max_pending_accepts,
            heartbeat: HeartbeatConfig {
                interval: options.ping_interval,
                timeout: options.ping_timeout,
                max_missed: options.max_missed_pings,
            },
            goaway_timeout: options.goaway_timeout,
            linger: options.linger_timeout,
        };
        let input = Input::new(Box::new(reader), options.read_buffer_size);
        let shared = Arc::new(Shared::new(Session::new(config, Instant::now()), input, Box::new(writer), shutdown));
        let spawn = |name: &str, body: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new().name(format!("netconduit-{name}")).spawn(body).map_err(Error::from_transport)
        };
        let (s1, s2, s3) = (shared.clone(), shared.clone(), shared.clone());
        let writer = spawn("writer", Box::new(move || threads::run_writer(s1)))?;
        let timer = spawn("timer", Box::new(move || threads::run_timer(s2)))?;
        let reader = spawn("reader", Box::new(move || threads::run_reader(s3)))?;
        Ok(Multiplexer {
            inner: Arc::new(Inner {
                shared,
                threads: Mutex::new(vec![writer, timer]),
                reader_thread: Mutex::new(Some(reader)),
            }),
        })
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.inner.shared
    }

    /// Waits until the peer's HANDSHAKE arrived. Fails with [`Error::Timeout`]
    /// after `timeout`, or with the session's error if it ended.
    pub fn wait_ready(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let mut session = self.shared().lock();
        loop {
            if let Some(error) = session.error() {
                return Err(error.clone());
            }
            if session.is_ready() {
                return Ok(());
            }
            if self.shared().wait_for_input(&self.shared().state_cv, &mut session, Some(deadline)) {
                return Err(Error::Timeout("handshake"));
            }
        }
    }

    /// A handle that does not keep the session alive.
    pub fn downgrade(&self) -> WeakMultiplexer {
        WeakMultiplexer { inner: Arc::downgrade(&self.inner) }
    }

    /// True once the handshake completed and until the session ends.
    pub fn is_ready(&self) -> bool {
        self.shared().lock().is_ready()
    }

    /// Opens a channel and waits for the peer to accept it (its ACK) or refuse it
    /// (its ERR), at most `options.open_timeout`. With
    /// [`ChannelOptions::wait_for_ack`] off it returns at once instead (a pipelined
    /// open).
    ///
    /// Fails with [`Error::Refused`] (REFUSED, CHANNEL_EXISTS, ...), with
    /// [`Error::ChannelIdInUse`] if this side already has the id open, with
    /// [`Error::GoingAway`] after GOAWAY, with [`Error::Timeout`] (the channel is then
    /// finished as soon as the peer answers), or with the session's error.
    pub fn open_channel(&self, options: ChannelOptions) -> Result<WriteChannel> {
        options.validate()?;
        let shared = self.shared();
        let signal = Signal::default();
        let deadline = Instant::now() + options.open_timeout;
        let mut session = shared.lock();
        let index = session.open(&options.id, options.priority.0, signal.clone(), Instant::now())?;
        shared.writer_cv.notify_one();
        // A pipelined open still waits once too many opens are unanswered, so an
        // opener cannot run arbitrarily far ahead of the peer.
        if options.wait_for_ack || session.unacked_opens() > MAX_UNACKED_OPENS {
            loop {
                match session.poll_open(index) {
                    Poll::Ready(Ok(())) => break,
                    Poll::Ready(Err(error)) => {
                        session.finish(index, Instant::now());
                        shared.finish(session);
                        return Err(error);
                    }
                    Poll::Pending => {
                        if shared.wait_for_input(&signal, &mut session, Some(deadline)) {
                            session.finish(index, Instant::now());
                            shared.finish(session);
                            return Err(Error::Timeout("open_channel"));
                        }
                    }
                }
            }
        }
        let (id, _) = session.outgoing_info(index).expect("open channel exists");
        shared.finish(session);
        let handle = ChannelHandle { shared: shared.clone(), index, id, priority: options.priority, signal };
        Ok(WriteChannel::new(handle, options.send_timeout))
    }

    /// Waits for the peer's channel with id `id` and accepts it. Channels with the
    /// same id are accepted oldest first.
    ///
    /// Fails with the session's error once it ended, or [`Error::GoingAway`] when
    /// GOAWAY means no such channel can come any more.
    pub fn accept_channel(&self, id: &str) -> Result<ReadChannel> {
        self.accept_where(Some(id), None)
    }

    /// Like [`accept_channel`](Self::accept_channel), failing with
    /// [`Error::Timeout`] after `timeout`.
    pub fn accept_channel_timeout(&self, id: &str, timeout: Duration) -> Result<ReadChannel> {
        self.accept_where(Some(id), Some(Instant::now() + timeout))
    }

    /// Waits for the peer's next channel, whatever its id, and accepts it.
    pub fn accept(&self) -> Result<ReadChannel> {
        self.accept_where(None, None)
    }

    /// Like [`accept`](Self::accept), failing with [`Error::Timeout`] after `timeout`.
    pub fn accept_timeout(&self, timeout: Duration) -> Result<ReadChannel> {
        self.accept_where(None, Some(Instant::now() + timeout))
    }

    /// An iterator accepting channels as they come, ending when no more can come
    /// (the session ended or GOAWAY).
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { multiplexer: self }
    }

    fn accept_where(&self, id: Option<&str>, deadline: Option<Instant>) -> Result<ReadChannel> {
        let shared = self.shared();
        let mut session = shared.lock();
        loop {
            match session.accept(id) {
                Poll::Ready(Ok(index)) => {
                    let (id, priority, signal) = session.incoming_handle(index).expect("accepted channel exists");
                    drop(session);
                    let handle =
                        ChannelHandle { shared: shared.clone(), index, id, priority: Priority(priority), signal };
                    return Ok(ReadChannel::new(handle));
                }
                Poll::Ready(Err(error)) => return Err(error),
                Poll::Pending => {
                    if shared.wait_for_input(&shared.accept_cv, &mut session, deadline) {
                        return Err(Error::Timeout("accept"));
                    }
                }
            }
        }
    }

    /// Describes this side's open outgoing channel `id`.
    pub fn write_channel(&self, id: &str) -> Option<ChannelInfo> {
        let session = self.shared().lock();
        let index = session.outgoing_index(id)?;
        let (id, priority) = session.outgoing_info(index)?;
        let stats = session.outgoing_stats(index, Instant::now())?;
        Some(ChannelInfo { id: id.to_string(), index, priority: Priority(priority), stats })
    }

    /// Describes the accepted incoming channel `id` (the oldest, if several).
    pub fn read_channel(&self, id: &str) -> Option<ChannelInfo> {
        let session = self.shared().lock();
        let index = session.accepted_index(id)?;
        let (id, priority, _) = session.incoming_handle(index)?;
        let stats = session.incoming_stats(index, Instant::now())?;
        Some(ChannelInfo { id: id.to_string(), index, priority: Priority(priority), stats })
    }

    /// Ids of this side's open outgoing channels, oldest first.
    pub fn opened_channel_ids(&self) -> Vec<String> {
        self.shared().lock().outgoing_ids()
    }

    /// Ids of incoming channels accepted and still held, oldest first.
    pub fn accepted_channel_ids(&self) -> Vec<String> {
        self.shared().lock().accepted_ids()
    }

    /// Ids of open outgoing and accepted incoming channels.
    pub fn active_channel_ids(&self) -> Vec<String> {
        let session = self.shared().lock();
        let mut ids = session.outgoing_ids();
        ids.extend(session.accepted_ids());
        ids
    }

    /// Number of open outgoing and accepted incoming channels.
    pub fn active_channel_count(&self) -> usize {
        self.shared().lock().active_count()
    }

    /// Session counters.
    pub fn stats(&self) -> MultiplexerStats {
        self.shared().lock().stats(Instant::now())
    }

    /// This side's session id.
    pub fn session_id(&self) -> u64 {
        self.shared().lock().session_id()
    }

    /// The peer's session id, once the handshake completed.
    pub fn peer_session_id(&self) -> Option<u64> {
        self.shared().lock().peer_session_id()
    }

    /// The error that ended the session, if it ended.
    pub fn error(&self) -> Option<Error> {
        self.shared().lock().error().cloned()
    }

    /// Calls `callback` for every event from now on. Callbacks run on the thread
    /// that caused the event, one at a time and in order, after the session lock was
    /// released: they may call into the multiplexer without deadlock (events they
    /// raise are delivered after they return).
    ///
    /// Keep them short and never let them *wait* on the peer — `open_channel`
    /// waiting for an ACK, reading a channel, `ping`, `close` — since the reader
    /// thread may be the one running them, and it is the thread that would deliver
    /// the answer. A callback that needs the multiplexer should capture a
    /// [`WeakMultiplexer`] (see [`downgrade`](Self::downgrade)): a captured
    /// `Multiplexer` keeps the session alive after every other handle is dropped.
    pub fn on_event(&self, callback: impl Fn(&Event) + Send + Sync + 'static) {
        self.shared().events.add_callback(Arc::new(callback));
    }

    /// A receiver of every event from now on (unbounded: drain it or drop it).
    pub fn subscribe(&self) -> Receiver<Event> {
        self.shared().events.subscribe()
    }

    /// Sends a PING and waits for its PONG, at most `timeout`; returns the round
    /// trip. Fails with [`Error::Timeout`] or the session's error.
    pub fn ping(&self, timeout: Duration) -> Result<Duration> {
        let shared = self.shared();
        let deadline = Instant::now() + timeout;
        let mut session = shared.lock();
        let timestamp = session.send_ping(Instant::now())?;
        shared.writer_cv.notify_one();
        let result = loop {
            if let Poll::Ready(result) = session.poll_ping(timestamp) {
                break result;
            }
            if shared.wait_for_input(&shared.state_cv, &mut session, Some(deadline)) {
                break Err(Error::Timeout("ping"));
            }
        };
        session.forget_ping(timestamp);
        result
    }

    /// Sends GOAWAY with `code`: neither side opens new channels from now on
    /// (opens fail with [`Error::GoingAway`], the peer's INITs are refused with
    /// REFUSED), open channels in both directions continue until their FIN. Once
    /// every channel finished the session ends and the transport is closed; channels
    /// still open after `goaway_timeout` fail with [`Error::SessionTimeout`].
    pub fn go_away(&self, code: ErrorCode) {
        let mut session = self.shared().lock();
        session.go_away(code, Instant::now());
        self.shared().finish(session);
    }

    /// Ends the session at once: queued bytes are dropped, every blocked call
    /// returns [`Error::Closed`], the transport is shut down and the threads are
    /// joined. Dropping the last handle does the same.
    pub fn abort(&self) {
        self.inner.abort();
        self.inner.join();
    }

    /// Closes the session gracefully and waits for it: sends GOAWAY (no new
    /// channels), waits until every channel in both directions finished — so every
    /// byte a `write` accepted reaches the peer — or `goaway_timeout` passed (then
    /// the remaining channels fail with [`Error::SessionTimeout`]), writes the last frames,
    /// half-closes the transport, waits (at most `linger_timeout`) for the peer's end
    /// of stream, and joins the threads.
    ///
    /// Channels this side opened must be closed (or dropped) by their owners for
    /// the session to finish before the timeout. Do not call `close` from an event
    /// callback (it waits for the threads, one of which runs the callback).
    pub fn close(&self) {
        let shared = self.shared();
        let mut session = shared.lock();
        session.close(Instant::now());
        shared.finish(session);
        let mut session = shared.lock();
        while !session.is_closed() {
            shared.wait_for_input(&shared.state_cv, &mut session, None);
        }
        drop(session);
        self.inner.join();
    }
}

impl Inner {
    fn abort(&self) {
        let mut session = self.shared.lock();
        session.abort(Error::Closed, Instant::now());
        self.shared.finish(session);
    }

    /// Joins the threads, except the calling one (a callback may drop the last
    /// handle) and a reader that cannot be interrupted.
    fn join(&self) {
        let current = std::thread::current().id();
        let handles: Vec<JoinHandle<()>> = self.threads.lock().drain(..).collect();
        for handle in handles {
            if handle.thread().id() != current {
                let _ = handle.join();
            }
        }
        if let Some(reader) = self.reader_thread.lock().take() {
            let interruptible = self.shared.is_interruptible() || reader.is_finished();
            if reader.thread().id() != current && interruptible {
                let _ = reader.join();
            }
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.abort();
        self.join();
    }
}

/// Iterator returned by [`Multiplexer::incoming`].
pub struct Incoming<'a> {
    multiplexer: &'a Multiplexer,
}

impl Iterator for Incoming<'_> {
    type Item = ReadChannel;

    fn next(&mut self) -> Option<ReadChannel> {
        self.multiplexer.accept().ok()
    }
}

/// A random non-zero session id. `RandomState` is seeded from the operating
/// system's randomness once per process and per-instance thereafter; mixing in the
/// time and a counter keeps ids distinct even within one process.
fn random_session_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    if let Ok(since_epoch) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        hasher.write_u128(since_epoch.as_nanos());
    }
    hasher.finish().max(1)
}

impl std::fmt::Debug for Multiplexer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Multiplexer").field("session_id", &self.session_id()).finish()
    }
}
