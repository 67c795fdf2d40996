//! The session driven by hand: two sessions wired together on a virtual clock,
//! no threads, no sockets.

use super::*;
use crate::proto::decoder::tests::Recorder;
use crate::proto::frame::{FrameType, HEADER_LEN};

fn config(session_id: u64) -> SessionConfig {
    SessionConfig {
        session_id,
        max_frame_size: frame::DEFAULT_MAX_FRAME_SIZE,
        initial_window: 1000,
        grant_threshold_permille: 500,
        max_channel_window: 1000,
        max_session_window_growth: 0,
        chunk_size: 100,
        send_buffer_size: 1 << 20,
        direct_writes: true,
        write_batch_size: 1 << 20,
        pipeline_below: 0,
        stage_limit: 0,
        handshake_timeout: Duration::from_secs(10),
        max_incoming_channels: 4,
        max_pending_accepts: 2,
        heartbeat: HeartbeatConfig {
            interval: Some(Duration::from_secs(30)),
            timeout: Duration::from_secs(10),
            max_missed: 3,
        },
        goaway_timeout: Duration::from_secs(30),
        linger: Duration::from_secs(5),
    }
}

/// A config whose windows may grow to `max_window`.
fn tuned(session_id: u64, max_window: u32) -> SessionConfig {
    SessionConfig { max_channel_window: max_window, max_session_window_growth: 1 << 20, ..config(session_id) }
}

/// Two sessions and a virtual clock.
struct Pair {
    a: Session,
    b: Session,
    now: Instant,
}

impl Pair {
    fn new() -> Pair {
        Pair::with(config(1), config(2))
    }

    fn with(a: SessionConfig, b: SessionConfig) -> Pair {
        let now = Instant::now();
        let mut pair = Pair { a: Session::new(a, now), b: Session::new(b, now), now };
        pair.pump();
        assert!(pair.a.is_ready() && pair.b.is_ready());
        pair
    }

    /// Moves bytes both ways until neither side has anything to send.
    fn pump(&mut self) {
        while self.a.wants_transmit() || self.b.wants_transmit() {
            let bytes = transmit(&mut self.a);
            self.b.handle_input(&bytes, self.now);
            let bytes = transmit(&mut self.b);
            self.a.handle_input(&bytes, self.now);
        }
    }

    /// Two sessions with 16 KiB chunks and 256 KiB windows: room for a few
    /// large frames per channel before the first grant.
    fn large_frames() -> Pair {
        let large = |id| SessionConfig { chunk_size: 16 * 1024, initial_window: 256 * 1024, ..config(id) };
        Pair::with(large(1), large(2))
    }

    fn open(&mut self, id: &str, priority: u8) -> u32 {
        let index = self.a.open(id, priority, Signal::default(), self.now).unwrap();
        self.pump();
        assert!(matches!(self.a.poll_open(index), Poll::Ready(Ok(()))));
        index
    }

    /// The wire bytes of one whole write per `(channel, length)`, each
    /// transmitted before the next, so each becomes frames of its own.
    fn frames_of_writes(&mut self, writes: &[(u32, usize)]) -> Vec<u8> {
        let mut wire = Vec::new();
        for &(channel, len) in writes {
            assert!(matches!(self.a.write(channel, &vec![7; len]), Poll::Ready(Ok(n)) if n == len));
            wire.extend(transmit(&mut self.a));
        }
        wire
    }

    /// Opens channel `id` on `a` and accepts it on `b` (at most two opens wait
    /// for an accept): its index on each side.
    fn open_accepted(&mut self, id: &str, priority: u8) -> (u32, u32) {
        let index = self.open(id, priority);
        let Poll::Ready(Ok(accepted)) = self.b.accept(Some(id)) else { panic!("{id} arrived") };
        (index, accepted)
    }
}

fn transmit(session: &mut Session) -> Vec<u8> {
    let mut batch = Vec::new();
    session.poll_transmit(&mut batch, Instant::now());
    let in_queues: usize = session.outgoing.values().map(|channel| channel.queue.len()).sum();
    assert_eq!(session.queued, in_queues, "the queued bytes are accounted for");
    let bytes = batch.concat();
    session.transmitted(&mut batch, Instant::now());
    bytes
}

fn frames(bytes: &[u8]) -> Vec<(FrameHeader, Vec<u8>)> {
    let mut recorder = Recorder::default();
    crate::proto::decoder::Decoder::new(1 << 24).feed(bytes, &mut recorder).unwrap();
    recorder.frames
}

use crate::proto::frame::FrameHeader;

fn read_all(session: &mut Session, index: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 64];
    while let Poll::Ready(Ok(n)) = session.read(index, &mut buf, Instant::now()) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    out
}

#[test]
fn handshake_is_the_first_frame_and_carries_max_frame_size() {
    let mut session = Session::new(config(42), Instant::now());
    let bytes = transmit(&mut session);
    let frames = frames(&bytes);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].0.index, 0);
    assert_eq!(
        Control::parse(&frames[0].1).unwrap(),
        Control::Handshake { session_id: 42, max_frame_size: Some(frame::DEFAULT_MAX_FRAME_SIZE) }
    );
}

#[test]
fn bytes_flow_with_credits_and_end_with_fin() {
    let mut p = Pair::new();
    let index = p.open("x", 128);
    let data: Vec<u8> = (0..2500u32).map(|i| i as u8).collect();
    // Only the initial window can be queued before the reader consumes.
    let Poll::Ready(Ok(n)) = p.a.write(index, &data) else { panic!("write failed") };
    assert_eq!(n, 1000);
    assert!(p.a.write(index, &data[n..]).is_pending());
    p.pump();
    let Poll::Ready(Ok(accepted)) = p.b.accept(Some("x")) else { panic!("nothing to accept") };
    let mut received = read_all(&mut p.b, accepted);
    p.pump(); // the grant goes back
    let mut sent = n;
    while sent < data.len() {
        let Poll::Ready(Ok(n)) = p.a.write(index, &data[sent..]) else { panic!("no credits") };
        sent += n;
        p.pump();
        received.extend(read_all(&mut p.b, accepted));
        p.pump();
    }
    p.a.finish(index, p.now);
    p.pump();
    assert!(matches!(p.b.read(accepted, &mut [0; 8], p.now), Poll::Ready(Ok(0))));
    assert_eq!(received, data);
    let stats = p.b.incoming_stats(accepted, p.now).unwrap();
    assert_eq!(stats.bytes_received, 2500);
}

#[test]
fn reader_cancel_fails_the_writer_and_earns_fin() {
    let mut p = Pair::new();
    let index = p.open("x", 128);
    let Poll::Ready(Ok(accepted)) = p.b.accept(None) else { panic!() };
    p.b.cancel(accepted, p.now);
    p.pump();
    match p.a.write(index, b"late") {
        Poll::Ready(Err(Error::ChannelReset { code, .. })) => assert_eq!(code, ErrorCode::CANCEL),
        other => panic!("unexpected {other:?}"),
    }
    // The opener answered CANCEL with FIN, so the accepter forgot the channel.
    assert_eq!(p.b.stats(p.now).open_channels, 0);
}

#[test]
fn higher_priority_frames_go_first_and_equals_alternate() {
    let mut p = Pair::new();
    let mut open_accepted = |id, priority| {
        let index = p.open(id, priority);
        assert!(p.b.accept(Some(id)).is_ready());
        index
    };
    let low = open_accepted("low", 10);
    let high = open_accepted("high", 200);
    let peer = open_accepted("peer", 10);
    for index in [low, peer, high] {
        let Poll::Ready(Ok(_)) = p.a.write(index, &[index as u8; 900]) else { panic!() };
    }
    let sent: Vec<(u32, usize)> = frames(&transmit(&mut p.a)).iter().map(|(h, _)| (h.index, h.len as usize)).collect();
    // High first; then equal priorities take turns of up to sixteen chunks (1600
    // bytes here), so each sends its 900 bytes in one turn, in turn order: one
    // frame spanning nine chunk-sized segments each.
    assert_eq!(sent, [(high, 900), (low, 900), (peer, 900)]);
}

#[test]
fn flow_control_violation_fails_only_the_channel() {
    let mut p = Pair::new();
    let index = p.open("x", 128);
    let Poll::Ready(Ok(accepted)) = p.b.accept(None) else { panic!() };
    let mut wire = Vec::new();
    frame::put_data(&mut wire, index, &[1; 10]);
    frame::put_data(&mut wire, index, &[2; 1000]); // beyond the 1000-byte window
    p.b.handle_input(&wire, p.now);
    let answer = frames(&transmit(&mut p.b));
    assert_eq!(answer[0].0.kind, FrameType::Err);
    assert_eq!(frame::parse_err(&answer[0].1).unwrap().code, ErrorCode::FLOW_CONTROL_ERROR);
    let mut buf = [0u8; 64];
    assert!(matches!(p.b.read(accepted, &mut buf, p.now), Poll::Ready(Ok(10))));
    assert!(matches!(p.b.read(accepted, &mut buf, p.now), Poll::Ready(Err(Error::ProtocolViolation { .. }))));
    assert!(!p.b.is_closed());
}

#[test]
fn session_error_sends_error_and_fails_channels() {
    let mut p = Pair::new();
    let index = p.open("x", 128);
    p.b.handle_input(&[0, 0, 0, 1, 9, 0, 0, 0, 0], p.now); // unknown frame type
    assert!(p.b.is_closed());
    let answer = frames(&transmit(&mut p.b));
    let Control::Error { code, .. } = Control::parse(&answer[0].1).unwrap() else { panic!() };
    assert_eq!(code, ErrorCode::PROTOCOL_ERROR);
    assert!(p.b.should_close_transport());
    p.a.handle_input(
        &answer.iter().flat_map(|(h, b)| [h.to_bytes().to_vec(), b.clone()].concat()).collect::<Vec<_>>(),
        p.now,
    );
    assert!(matches!(p.a.write(index, b"x"), Poll::Ready(Err(Error::SessionError { .. }))));
    assert!(p.a.take_events().iter().any(|e| matches!(e, Event::SessionError(_))));
}

#[test]
fn handshake_timeout_on_the_virtual_clock() {
    let t0 = Instant::now();
    let mut session = Session::new(config(1), t0);
    assert_eq!(session.next_deadline(), Some(t0 + Duration::from_secs(10)));
    session.handle_timeout(t0 + Duration::from_secs(9));
    assert!(!session.is_closed());
    session.handle_timeout(t0 + Duration::from_secs(10));
    assert!(matches!(session.error(), Some(Error::SessionTimeout("handshake"))));
    let mut batch = Vec::new();
    session.poll_transmit(&mut batch, Instant::now());
    assert_eq!(batch.concat()[HEADER_LEN], 0x05); // ERROR after the unsent HANDSHAKE was dropped
}

#[test]
fn limits_refuse_with_refused() {
    let mut p = Pair::new();
    p.open("1", 0);
    p.open("2", 0);
    let third = p.a.open("3", 0, Signal::default(), p.now).unwrap();
    p.pump();
    assert!(matches!(p.a.poll_open(third), Poll::Ready(Err(Error::Refused { code: ErrorCode::REFUSED, .. }))));
}

#[test]
fn goaway_refuses_new_channels_both_ways() {
    let mut p = Pair::new();
    p.b.go_away(ErrorCode::NO_ERROR, p.now);
    p.pump();
    assert!(matches!(p.a.open("late", 0, Signal::default(), p.now), Err(Error::GoingAway { .. })));
    assert!(matches!(p.b.open("late", 0, Signal::default(), p.now), Err(Error::GoingAway { .. })));
}

#[test]
fn pipelined_open_holds_bytes_until_the_first_grant() {
    let mut p = Pair::new();
    let index = p.a.open("fast", 128, Signal::default(), p.now).unwrap();
    // Written and finished before the peer answered INIT.
    assert!(matches!(p.a.write(index, b"early bytes"), Poll::Ready(Ok(11))));
    p.a.finish(index, p.now);
    let first = frames(&transmit(&mut p.a));
    assert_eq!(first.len(), 1, "only INIT may leave before the grant: {first:?}");
    assert_eq!(first[0].0.kind, FrameType::Init);
    let wire: Vec<u8> = first.iter().flat_map(|(h, b)| [h.to_bytes().to_vec(), b.clone()].concat()).collect();
    p.b.handle_input(&wire, p.now);
    let ack = transmit(&mut p.b);
    p.a.handle_input(&ack, p.now);
    let after = frames(&transmit(&mut p.a));
    let kinds: Vec<FrameType> = after.iter().map(|(h, _)| h.kind).collect();
    assert_eq!(kinds, [FrameType::Data, FrameType::Fin]);
    assert_eq!(after[0].1, b"early bytes");
}

#[test]
fn pipelined_open_holds_at_most_one_chunk() {
    let mut p = Pair::new();
    let index = p.a.open("fast", 128, Signal::default(), p.now).unwrap();
    let data = vec![7u8; 500];
    assert!(matches!(p.a.write(index, &data), Poll::Ready(Ok(100)))); // chunk_size is 100
    assert!(p.a.write(index, &data).is_pending());
    p.pump();
    assert!(matches!(p.a.write(index, &data), Poll::Ready(Ok(n)) if n > 0));
}

#[test]
fn a_channel_cancelled_right_after_its_grant_still_counts_as_opened() {
    let mut p = Pair::new();
    let index = p.a.open("x", 128, Signal::default(), p.now).unwrap();
    let init = transmit(&mut p.a);
    p.b.handle_input(&init, p.now);
    let Poll::Ready(Ok(accepted)) = p.b.accept(None) else { panic!("nothing to accept") };
    p.b.cancel(accepted, p.now);
    // ACK and ERR CANCEL arrive in one read, before the opener looks.
    p.a.handle_input(&transmit(&mut p.b), p.now);
    assert!(matches!(p.a.poll_open(index), Poll::Ready(Ok(()))));
    assert!(matches!(p.a.write(index, b"late"), Poll::Ready(Err(Error::ChannelReset { code: ErrorCode::CANCEL, .. }))));
}

/// A grant due again within `FAST_GRANT_INTERVAL` of the last one grows the
/// window (the reader keeps up; the window sets the pace of ACKs): sixteenfold
/// below `FAST_START_WINDOW`. Grants further apart leave it as it is.
#[test]
fn frequent_grants_grow_the_window_and_slow_ones_do_not() {
    let mut p = Pair::with(tuned(1, 64_000), tuned(2, 64_000));
    let index = p.open("x", 128);
    let opened = p.now;
    // 600 of the 1000-byte window: the writer is not starved, so only the pace of
    // grants can make the window grow.
    assert!(matches!(p.a.write(index, &[1; 600]), Poll::Ready(Ok(600))));
    p.pump();
    let Poll::Ready(Ok(accepted)) = p.b.accept(Some("x")) else { panic!("nothing to accept") };
    let mut buf = [0u8; 16 * 1024];
    let soon = opened + window::FAST_GRANT_INTERVAL / 2;
    assert!(matches!(p.b.read(accepted, &mut buf, soon), Poll::Ready(Ok(600))));
    p.pump();
    assert_eq!(p.a.available_credits(index), 16_000, "the window grew sixteenfold");

    assert!(matches!(p.a.write(index, &[2; 9600]), Poll::Ready(Ok(9600))));
    p.pump();
    let later = soon + window::FAST_GRANT_INTERVAL * 5;
    assert!(matches!(p.b.read(accepted, &mut buf, later), Poll::Ready(Ok(9600))));
    p.pump();
    assert_eq!(p.a.available_credits(index), 16_000, "a slow grant keeps the window");
}

/// With credits to spare, a channel queues at most `send_buffer_size` encoded bytes;
/// once the writer took them, writes go on.
#[test]
fn writes_stop_at_the_send_buffer_until_frames_leave() {
    let mut p = Pair::with(SessionConfig { send_buffer_size: 300, ..config(1) }, config(2));
    let index = p.open("x", 128);
    let data = [7u8; 1000];
    assert!(matches!(p.a.write(index, &data), Poll::Ready(Ok(300))));
    assert!(p.a.write(index, &data).is_pending(), "the buffer is full");
    assert_eq!(p.a.available_credits(index), 700, "credits were not the limit");
    let wire = transmit(&mut p.a);
    assert_eq!(wire.len(), 300 + HEADER_LEN, "one frame spanning three chunks");
    assert!(matches!(p.a.write(index, &data), Poll::Ready(Ok(300))));
}

/// A write that may go direct and takes the link sends its own frames (as large
/// as the peer takes: the bytes `put_data` would produce). While the link is busy
/// a large write is told to wait for it, spending nothing, and a small one is
/// queued. A channel's earlier frames waiting for the writer thread make its
/// write queue behind them; another channel's of the same priority make only a
/// small write queue.
#[test]
fn direct_writes_take_the_link_wait_for_it_or_queue() {
    let mut p = Pair::new();
    let index = p.open("x", 128);
    let other = p.open("y", 128);
    let data: Vec<u8> = (0..250u32).map(|i| i as u8).collect(); // chunk_size is 100: large
    let later = p.now + direct::SMALL_WRITE_IDLE;
    let Poll::Ready(Ok(Written::Direct(frames))) = p.a.write_or_claim(index, &data, later, || true) else {
        panic!("a write that takes the link goes direct")
    };
    assert_eq!(frames.payload_len(), 250);
    let mut expected = Vec::new();
    frame::put_data(&mut expected, index, &data); // one frame: nothing waits behind it
    assert_eq!(wire_of(&frames, &data), expected);
    let busy = p.a.write_or_claim(other, &data, later, || false);
    assert!(matches!(busy, Poll::Ready(Ok(Written::AwaitLink))), "a large write waits for a busy link");
    assert_eq!(p.a.available_credits(other), 1000);
    p.a.link_wait_over(other);
    let small = p.a.write_or_claim(other, &data[..10], later, || panic!("a small write never waits for the link"));
    assert!(matches!(small, Poll::Ready(Ok(Written::Queued(10)))));
    // y's frames wait for the writer thread: y must not overtake them; x, of the
    // same priority, may (a turn of its own), except with a small write.
    assert!(matches!(p.a.write_or_claim(other, &data, later, || true), Poll::Ready(Ok(Written::Queued(250)))));
    assert!(matches!(p.a.write_or_claim(index, &data, later, || true), Poll::Ready(Ok(Written::Direct(_)))));
    assert!(matches!(p.a.write_or_claim(index, &data[..10], later, || true), Poll::Ready(Ok(Written::Queued(10)))));
    // Now x's own frames wait.
    assert!(matches!(p.a.write_or_claim(index, &data, later, || true), Poll::Ready(Ok(Written::Queued(250)))));
    assert_eq!(p.a.available_credits(index), 240, "every write spent credits");
}

/// While at most `PIPELINED_BULK_WRITERS` channels write bulk data, their large
/// writes (shorter than `pipeline_below`) are queued for the writer thread to
/// send in batches; once one more channel writes large buffers, all go direct,
/// until `BULK_COMPANY` after the others' last large writes. A write of
/// `pipeline_below` or more goes direct even alone.
#[test]
fn few_channels_writing_bulk_pipeline_through_the_writer_thread() {
    let roomy =
        |id| SessionConfig { pipeline_below: 300, max_incoming_channels: 8, max_pending_accepts: 8, ..config(id) };
    let mut p = Pair::with(roomy(1), roomy(2));
    let channels: Vec<u32> = (0..=direct::PIPELINED_BULK_WRITERS).map(|i| p.open(&format!("c{i}"), 128)).collect();
    let (first, last) = (channels[0], channels[direct::PIPELINED_BULK_WRITERS]);
    let data = [3u8; 300];
    let start = p.now;
    for &index in &channels[..direct::PIPELINED_BULK_WRITERS] {
        let few = p.a.write_or_claim(index, &data[..150], start, || panic!("few bulk writers: queued"));
        assert!(matches!(few, Poll::Ready(Ok(Written::Queued(150)))));
    }
    let mut expected = Vec::new();
    frame::put_data(&mut expected, first, &data[..150]);
    assert!(transmit(&mut p.a).starts_with(&expected), "queued, for the writer thread");
    let whole = p.a.write_or_claim(first, &data, start, || true);
    assert!(matches!(whole, Poll::Ready(Ok(Written::Direct(_)))), "pipeline_below or more goes direct");

    for (index, at) in [(last, start), (first, start + direct::BULK_COMPANY / 2)] {
        let Poll::Ready(Ok(Written::Direct(frames))) = p.a.write_or_claim(index, &data[..150], at, || true) else {
            panic!("one channel too many writing bulk: direct")
        };
        assert_eq!(frames.payload_len(), 150);
    }
    let later = start + direct::BULK_COMPANY / 2 + direct::BULK_COMPANY;
    let alone = p.a.write_or_claim(first, &data[..150], later, || panic!("alone again: queued"));
    assert!(matches!(alone, Poll::Ready(Ok(Written::Queued(150)))));
}

/// While more than `PIPELINED_BULK_WRITERS` channels write bulk data, their large
/// writes are staged in the send queues up to `stage_limit` bytes in all, behind
/// their own queued frames too; a write that would go beyond is told to send what
/// is staged first (`StagingFull`), spending nothing, and is staged once that left.
#[test]
fn many_channels_writing_bulk_stage_their_writes_up_to_the_limit() {
    let roomy = |id| SessionConfig {
        pipeline_below: 300,
        stage_limit: 600,
        max_incoming_channels: 8,
        max_pending_accepts: 8,
        ..config(id)
    };
    let mut p = Pair::with(roomy(1), roomy(2));
    let channels: Vec<u32> = (0..=direct::PIPELINED_BULK_WRITERS).map(|i| p.open(&format!("c{i}"), 128)).collect();
    let [first, second, third, .., last] = channels[..] else { unreachable!() };
    let data = [9u8; 150];
    let now = p.now;
    let write = |p: &mut Pair, index| p.a.write_or_claim(index, &data, now, || panic!("batched, not direct"));
    for &index in &channels[..direct::PIPELINED_BULK_WRITERS] {
        assert!(matches!(write(&mut p, index), Poll::Ready(Ok(Written::Queued(150)))), "few: pipelined");
    }
    transmit(&mut p.a);
    assert_eq!(p.a.queued, 0);

    for index in [last, first, second] {
        assert!(matches!(write(&mut p, index), Poll::Ready(Ok(Written::Queued(150)))), "many: staged");
    }
    assert!(p.a.queued + data.len() > 600);
    for index in [third, last] {
        let full = write(&mut p, index);
        assert!(matches!(full, Poll::Ready(Ok(Written::StagingFull))), "beyond the limit, own frames queued or not");
    }
    assert_eq!(p.a.available_credits(third), 850, "a full stage spends nothing");
    let staged = frames(&transmit(&mut p.a));
    assert_eq!(staged.len(), 3);
    assert!(matches!(write(&mut p, third), Poll::Ready(Ok(Written::Queued(150)))), "room again");
}

/// A bulk channel's large writes stay direct while a channel of a higher
/// priority writes, small messages included (they would wait behind the writer
/// thread's batches), and are pipelined again `BULK_COMPANY` after its last write.
#[test]
fn a_higher_priority_writing_keeps_bulk_writes_direct() {
    let mut p = Pair::with(SessionConfig { pipeline_below: 300, ..config(1) }, config(2));
    let (low, high) = (p.open("low", 1), p.open("high", 200));
    let data = [3u8; 150];
    let start = p.now;
    assert!(matches!(p.a.write_or_claim(high, &data[..10], start, || false), Poll::Ready(Ok(Written::Queued(10)))));
    transmit(&mut p.a);
    let Poll::Ready(Ok(Written::Direct(_))) = p.a.write_or_claim(low, &data, start, || true) else {
        panic!("a higher priority wrote lately: direct")
    };
    let later = start + direct::BULK_COMPANY;
    let alone = p.a.write_or_claim(low, &data, later, || panic!("alone again: pipelined"));
    assert!(matches!(alone, Poll::Ready(Ok(Written::Queued(150)))));
}

/// The bytes a direct write puts on the wire for `data`, the buffer it was
/// claimed for.
fn wire_of(frames: &DirectWrite, data: &[u8]) -> Vec<u8> {
    let mut slices = [std::io::IoSlice::new(&[]); 2 * direct::MAX_DIRECT_FRAMES];
    frames.slices(data, &mut slices).iter().flat_map(|slice| slice.to_vec()).collect()
}

/// A direct write carries at most `MAX_DIRECT_FRAMES` frames, however small the
/// peer's frames and large the batch: the rest is cut short and goes in the
/// next one, and the wire is what `put_data` makes of each frame's payload.
#[test]
fn a_direct_write_carries_at_most_max_direct_frames() {
    let window = SessionConfig { initial_window: 1 << 20, max_channel_window: 1 << 20, ..config(1) };
    let small_frames = SessionConfig { max_frame_size: frame::MIN_MAX_FRAME_SIZE, ..window.clone() };
    let mut p = Pair::with(SessionConfig { session_id: 1, ..window }, SessionConfig { session_id: 2, ..small_frames });
    let index = p.open("x", 128);
    let frame_len = frame::MIN_MAX_FRAME_SIZE as usize;
    let data: Vec<u8> = (0..(direct::MAX_DIRECT_FRAMES + 4) * frame_len + 100).map(|i| (i % 251) as u8).collect();
    let mut wire = Vec::new();
    let mut sent = 0;
    for expected_frames in [direct::MAX_DIRECT_FRAMES, 5] {
        let Poll::Ready(Ok(Written::Direct(frames))) = p.a.write_or_claim(index, &data[sent..], p.now, || true) else {
            panic!("the link was free")
        };
        let mut slices = [std::io::IoSlice::new(&[]); 2 * direct::MAX_DIRECT_FRAMES];
        assert_eq!(
            frames.slices(&data[sent..], &mut slices).len(),
            2 * expected_frames,
            "a header and a payload per frame"
        );
        wire.extend(wire_of(&frames, &data[sent..]));
        sent += frames.payload_len();
    }
    assert_eq!(sent, data.len());
    let mut expected = Vec::new();
    for payload in data.chunks(frame_len) {
        frame::put_data(&mut expected, index, payload);
    }
    assert_eq!(wire, expected);
}

/// The rest of a direct write cut short (here by the batch size) counts as large
/// whatever its size: it waits for a busy link instead of queueing, which would
/// make the channel's following writes queue behind it.
#[test]
fn the_rest_of_a_direct_write_cut_short_waits_for_the_link() {
    let mut p = Pair::with(SessionConfig { write_batch_size: 300, ..config(1) }, config(2));
    let index = p.open("x", 128);
    let other = p.open("y", 128);
    let data = [5u8; 350];
    let Poll::Ready(Ok(Written::Direct(frames))) = p.a.write_or_claim(index, &data, p.now, || true) else {
        panic!("the link was free")
    };
    assert_eq!(frames.payload_len(), 300);
    let rest = p.a.write_or_claim(index, &data[300..], p.now, || false);
    assert!(matches!(rest, Poll::Ready(Ok(Written::AwaitLink))));
    p.a.link_wait_over(index);
    let small = p.a.write_or_claim(other, &data[300..], p.now, || false);
    assert!(matches!(small, Poll::Ready(Ok(Written::Queued(50)))), "a small write of its own queues");
}

/// A large write does not take the link while a large write of a higher priority
/// waits for it: it queues, and the higher one gets the link next. Once that one
/// stopped waiting, lower priorities take the link again.
#[test]
fn a_large_write_leaves_the_link_to_a_higher_priority_waiting_for_it() {
    let mut p = Pair::new();
    let ((low, _), (high, _)) = (p.open_accepted("low", 1), p.open_accepted("high", 200));
    let (other_low, _) = p.open_accepted("other low", 1);
    let data = [7u8; 250];
    let waits = p.a.write_or_claim(high, &data, p.now, || false);
    assert!(matches!(waits, Poll::Ready(Ok(Written::AwaitLink))));
    let yields = p.a.write_or_claim(low, &data, p.now, || panic!("the link is left to the higher priority"));
    assert!(matches!(yields, Poll::Ready(Ok(Written::Queued(250)))));
    p.a.link_wait_over(high);
    let Poll::Ready(Ok(Written::Direct(_))) = p.a.write_or_claim(other_low, &data, p.now, || true) else {
        panic!("nobody of a higher priority waits any more")
    };
}

/// A large write goes direct ahead of lower priorities waiting for the writer
/// thread (they would leave after it anyway), not ahead of control frames.
#[test]
fn a_large_write_goes_direct_ahead_of_lower_priorities_only() {
    let mut p = Pair::new();
    let low = p.open("low", 1);
    let high = p.open("high", 200);
    let data = [7u8; 250];
    assert!(matches!(p.a.write(low, &data), Poll::Ready(Ok(250))));
    let Poll::Ready(Ok(Written::Direct(_))) = p.a.write_or_claim(high, &data, p.now, || true) else {
        panic!("only a lower priority waits")
    };
    p.a.send_ping(p.now).unwrap();
    let after_ping = p.a.write_or_claim(high, &data, p.now, || panic!("control frames go first"));
    assert!(matches!(after_ping, Poll::Ready(Ok(Written::Queued(250)))));
    let wire = frames(&transmit(&mut p.a));
    let order: Vec<(FrameType, u32)> = wire.iter().map(|(h, _)| (h.kind, h.index)).collect();
    let control = (FrameType::Data, frame::CONTROL_INDEX); // the PING
    assert_eq!(order.first(), Some(&control));
    assert_eq!(order.iter().position(|f| *f == (FrameType::Data, high)), Some(1), "high before low");
}

/// Small writes go direct only after the link was idle for `SMALL_WRITE_IDLE`, so
/// a stream of small messages is coalesced by the writer thread instead.
#[test]
fn small_writes_go_direct_only_after_the_link_was_idle() {
    let mut p = Pair::new();
    let index = p.open("x", 128);
    let start = Instant::now() + direct::SMALL_WRITE_IDLE;
    let Poll::Ready(Ok(Written::Direct(frames))) = p.a.write_or_claim(index, b"ping", start, || true) else {
        panic!("a lone small write goes direct")
    };
    assert!(frames.is_small());
    // It took a while: the idle time counts from its end.
    let end = start + direct::SMALL_WRITE_IDLE * 3;
    p.a.end_small_direct_write(end);
    let next = end + direct::SMALL_WRITE_IDLE / 2;
    assert!(matches!(p.a.write_or_claim(index, b"ping", next, || true), Poll::Ready(Ok(Written::Queued(4)))));
    transmit(&mut p.a);
    let idle = Instant::now() + direct::SMALL_WRITE_IDLE;
    assert!(matches!(p.a.write_or_claim(index, b"ping", idle, || true), Poll::Ready(Ok(Written::Direct(_)))));
}

/// A channel's window grows while it is the highest priority receiving, and is
/// held at `OUTRANKED_WINDOWS` initial windows once a higher priority is active, so
/// its bytes in flight cannot delay the higher channel's frames for long.
#[test]
fn a_higher_priority_channel_holds_lower_windows_down() {
    let mut p = Pair::with(tuned(1, 16_000), tuned(2, 16_000));
    let low = p.open("low", 10);
    let Poll::Ready(Ok(accepted)) = p.b.accept(Some("low")) else { panic!("nothing to accept") };
    let data = vec![0u8; 1 << 16];
    let mut out = vec![0u8; 1 << 16];
    let mut at = p.now;
    let mut round = |p: &mut Pair| {
        let credits = p.a.available_credits(low) as usize;
        assert!(matches!(p.a.write(low, &data[..credits]), Poll::Ready(Ok(n)) if n == credits));
        p.pump();
        at += window::FAST_GRANT_INTERVAL / 4;
        assert!(matches!(p.b.read(accepted, &mut out, at), Poll::Ready(Ok(n)) if n == credits));
        p.pump();
        p.a.available_credits(low)
    };
    assert_eq!(round(&mut p), 16_000, "grown to the maximum in one grant");
    assert_eq!(round(&mut p), 16_000);
    let high = p.open("high", 200);
    assert!(matches!(p.a.write(high, b"!"), Poll::Ready(Ok(1))));
    p.pump();
    assert_eq!(round(&mut p), 4000, "held at four initial windows");
    assert_eq!(round(&mut p), 4000);
}

/// A lone application reader takes the input role; after it leaves, the role is
/// kept for it for a lease before the reader thread takes over, unless a thread
/// that does not read itself waits for input.
#[test]
fn a_lone_reader_takes_the_input_role_and_keeps_a_lease() {
    let mut p = Pair::new();
    let now = p.now;
    let signal = Signal::default();
    assert!(p.b.claim_input(7, &signal, now));
    assert_eq!(p.b.reader_turn(now), ReaderTurn::WaitUntil(now + input::LEASE));
    p.b.release_input(false, None, now);
    assert_eq!(p.b.reader_turn(now), ReaderTurn::WaitUntil(now + input::LEASE), "leased to the reader");
    assert_eq!(p.b.reader_turn(now + input::LEASE), ReaderTurn::Read, "the lease ran out");
    assert!(!p.b.claim_input(7, &signal, now), "the reader thread holds it");
    p.b.release_input(false, None, now);
    assert!(p.b.claim_input(7, &signal, now), "a waiting reader gets it back");
    p.b.release_input(false, None, now);
    assert!(p.b.add_input_waiter(), "the role is free: wake the reader thread");
    assert_eq!(p.b.reader_turn(now), ReaderTurn::Read, "a waiter cuts the lease short");
    p.b.remove_input_waiter();
}

/// With several application readers waiting, the first in line is woken when
/// the role frees up; if it leaves without taking it, the next one is.
#[test]
fn waiting_readers_take_turns_at_the_input_role() {
    let mut p = Pair::new();
    let (first, second) = (Signal::default(), Signal::default());
    assert_eq!(p.b.reader_turn(p.now), ReaderTurn::Read);
    assert!(!p.b.claim_input(1, &first, p.now));
    assert!(!p.b.claim_input(2, &second, p.now));
    p.b.release_input(false, None, p.now);
    assert_eq!(p.b.reader_turn(p.now), ReaderTurn::WaitUntil(p.now + input::LEASE), "kept for the first");
    p.b.withdraw_input_claim(1); // it had bytes after all
    assert!(p.b.claim_input(2, &second, p.now), "the second takes it");
    p.b.release_input(false, None, p.now);
    assert!(p.b.claim_input(1, &first, p.now), "free again: anyone may take it");
}

/// When the rest of a large DATA payload is still to come, a release keeps the
/// input role for that channel's waiting reader, so it reads the payload straight
/// into its buffer: others cannot take the role until the lease ends.
#[test]
fn the_input_role_is_kept_for_the_reader_whose_payload_is_arriving() {
    let mut p = Pair::large_frames();
    let ((x, bx), (y, by)) = (p.open_accepted("x", 128), p.open_accepted("y", 128));
    assert!(matches!(p.a.write(x, &[5; 200 * 1024]), Poll::Ready(Ok(204800))));
    assert!(matches!(p.a.write(y, &[6; 100]), Poll::Ready(Ok(100))));
    let wire = transmit(&mut p.a);
    assert_eq!(frames(&wire).iter().map(|(h, _)| h.len).collect::<Vec<_>>(), [204800, 100], "one frame each");

    let (x_reader, y_reader) = (Signal::default(), Signal::default());
    assert_eq!(p.b.reader_turn(p.now), ReaderTurn::Read);
    assert!(!p.b.claim_input(by, &y_reader, p.now));
    assert!(!p.b.claim_input(bx, &x_reader, p.now));
    p.b.handle_input(&wire[..64 * 1024], p.now);
    p.b.release_input(false, None, p.now);
    assert!(!p.b.claim_input(by, &y_reader, p.now), "kept for x's reader");
    assert_eq!(p.b.reader_turn(p.now), ReaderTurn::WaitUntil(p.now + input::LEASE));
    assert!(p.b.claim_input(bx, &x_reader, p.now));
    // x's reader leaves with its bytes and comes back for more: kept for it again.
    p.b.release_input(false, Some(bx), p.now);
    assert!(!p.b.claim_input(by, &y_reader, p.now), "kept for x's reader");
    assert!(p.b.claim_input(by, &y_reader, p.now + input::LEASE), "until the lease ends");
}

/// After a large DATA frame the holder of the role reads the next header alone,
/// if a reader could take the payload (the holder, or an application reader
/// waiting for the role): once the header names a large frame, the role is kept
/// for its channel's waiting reader, which reads the payload straight into its
/// buffer, and left free for it once it read the frame to the end. After a small
/// frame, reads go to the read buffer.
#[test]
fn after_a_large_frame_the_next_header_is_read_alone() {
    let mut p = Pair::large_frames();
    let ((x, _), (y, by), (z, _)) = (p.open_accepted("x", 128), p.open_accepted("y", 128), p.open_accepted("z", 128));
    assert!(matches!(p.a.write(x, &[5; 64 * 1024]), Poll::Ready(Ok(65536))));
    assert!(matches!(p.a.write(y, &[6; 64 * 1024]), Poll::Ready(Ok(65536))));
    assert!(matches!(p.a.write(z, &[7; 100]), Poll::Ready(Ok(100))));
    let wire = transmit(&mut p.a);
    let lengths: Vec<u32> = frames(&wire).iter().map(|(h, _)| h.len).collect();
    assert_eq!(lengths, [65536, 65536, 100]);
    let (x_frame, y_frame) = (HEADER_LEN + 65536, 2 * (HEADER_LEN + 65536));

    assert_eq!(p.b.reader_turn(p.now), ReaderTurn::Read);
    p.b.handle_input(&wire[..x_frame], p.now);
    assert_eq!(p.b.plan_read(None), ReadPlan::Buffered, "no reader could take a payload");
    let y_reader = Signal::default();
    assert!(!p.b.claim_input(by, &y_reader, p.now));
    assert_eq!(p.b.plan_read(None), ReadPlan::HeaderOnly(HEADER_LEN));
    p.b.handle_input(&wire[x_frame..x_frame + HEADER_LEN], p.now);
    p.b.release_input(false, None, p.now);
    assert!(p.b.claim_input(by, &y_reader, p.now), "kept for y's reader");
    assert_eq!(p.b.plan_read(Some((by, 1 << 20))), ReadPlan::Payload(65536));
    assert_eq!(p.b.handle_read_into(by, &[(&[], &wire[x_frame + HEADER_LEN..y_frame])], p.now), 65536);
    assert_eq!(
        p.b.plan_read(Some((by, 1 << 20))),
        ReadPlan::Frames { frames: 1, payload: 65536 },
        "y's frame came last; the read stops where a frame like it ends"
    );
    // y's reader leaves with its frame: the role is left free for it to come
    // back for the next one, and the reader thread waits out the lease.
    p.b.release_input(false, Some(by), p.now);
    assert_eq!(p.b.reader_turn(p.now), ReaderTurn::WaitUntil(p.now + input::LEASE));
    assert!(p.b.claim_input(by, &y_reader, p.now));
    p.b.handle_input(&wire[y_frame..], p.now);
    assert_eq!(p.b.plan_read(Some((by, 1 << 20))), ReadPlan::Buffered, "a small frame came last");
}

/// A small frame of the run's own channel (the rest of a write cut short by
/// credits) does not end the run; when a read stopped a few bytes into the next
/// header, only the rest of the header is read; another channel's frame ends
/// the run.
#[test]
fn a_run_outlasts_its_own_small_frames_and_split_headers() {
    let mut p = Pair::large_frames();
    let ((x, bx), (y, _)) = (p.open_accepted("x", 128), p.open_accepted("y", 128));
    let wire = p.frames_of_writes(&[(x, 65535), (x, 1), (x, 65536), (y, 100)]);
    let lengths: Vec<u32> = frames(&wire).iter().map(|(h, _)| h.len).collect();
    assert_eq!(lengths, [65535, 1, 65536, 100]);
    let third = 2 * HEADER_LEN + 65536;
    let fourth = third + HEADER_LEN + 65536;

    assert_eq!(p.b.reader_turn(p.now), ReaderTurn::Read);
    assert!(!p.b.claim_input(bx, &Signal::default(), p.now), "a candidate");
    p.b.handle_input(&wire[..third], p.now);
    assert_eq!(p.b.plan_read(None), ReadPlan::HeaderOnly(HEADER_LEN), "x's 1-byte frame kept the run");
    p.b.handle_input(&wire[third..third + 3], p.now);
    assert_eq!(p.b.plan_read(None), ReadPlan::HeaderOnly(HEADER_LEN - 3), "the rest of the header");
    p.b.handle_input(&wire[third + 3..fourth], p.now);
    assert_eq!(p.b.plan_read(None), ReadPlan::HeaderOnly(HEADER_LEN));
    p.b.handle_input(&wire[fourth..], p.now);
    assert_eq!(p.b.plan_read(None), ReadPlan::Buffered, "y's frame ended x's run");
}

/// While a run of large frames arrives, buffered reads learn where frames likely
/// end: the end of the frame in progress, then every frame as long as the last
/// large one. Another channel's small frame ends the run and with it the guess.
#[test]
fn buffered_reads_learn_where_frames_end() {
    let mut p = Pair::large_frames();
    let ((x, _), (y, _)) = (p.open_accepted("x", 128), p.open_accepted("y", 128));
    let wire = p.frames_of_writes(&[(x, 65536), (x, 65536), (y, 100)]);
    let step = HEADER_LEN + 65536;
    assert_eq!(p.b.frame_ends(), None, "no large frame yet");
    assert_eq!(p.b.reader_turn(p.now), ReaderTurn::Read);
    p.b.handle_input(&wire[..step], p.now);
    assert_eq!(p.b.frame_ends(), Some(FrameEnds { next: step, step }), "a frame like the last one comes next");
    p.b.handle_input(&wire[step..step + 3], p.now);
    assert_eq!(p.b.frame_ends(), Some(FrameEnds { next: step - 3, step }), "inside its header");
    p.b.handle_input(&wire[step + 3..step + HEADER_LEN + 1000], p.now);
    assert_eq!(p.b.frame_ends(), Some(FrameEnds { next: 65536 - 1000, step }), "inside its payload");
    p.b.handle_input(&wire[step + HEADER_LEN + 1000..], p.now);
    assert_eq!(p.b.frame_ends(), None, "y's small frame ended x's run");

    let ends = FrameEnds { next: 1000, step };
    assert_eq!(ends.read_len(256 * 1024), 1000 + 3 * step, "the last frame end in reach");
    assert_eq!(ends.read_len(999), 999, "no frame end in reach");
    assert_eq!(FrameEnds { next: 10, step: 0 }.read_len(999), 999, "no step, no guess");
}

/// While an application holds the role the reader thread checks back at
/// doubling intervals up to `MAX_CHECK`; once input ended it exits.
#[test]
fn the_reader_thread_checks_back_on_an_application_reader() {
    let mut p = Pair::new();
    let now = p.now;
    assert!(p.b.claim_input(1, &Signal::default(), p.now));
    let mut interval = input::LEASE;
    for _ in 0..10 {
        assert_eq!(p.b.reader_turn(now), ReaderTurn::WaitUntil(now + interval));
        interval = (interval * 2).min(input::MAX_CHECK);
    }
    assert_eq!(interval, input::MAX_CHECK);
    p.b.release_input(true, None, now);
    assert_eq!(p.b.reader_turn(now), ReaderTurn::Exit);
    assert!(!p.b.claim_input(1, &Signal::default(), p.now));
}

/// A writer that keeps using every credit grows the window only while the reader
/// keeps up: a slow reader's buffer stays near half the window when grants fall
/// due, so its window stays where it is.
#[test]
fn a_starved_writer_grows_the_window_only_for_a_reader_that_keeps_up() {
    let mut p = Pair::with(tuned(1, 16_000), tuned(2, 16_000));
    let index = p.open("x", 128);
    let Poll::Ready(Ok(accepted)) = p.b.accept(Some("x")) else { panic!("nothing to accept") };
    let data = [5u8; 1000];
    let mut at = p.now;
    // Slow: 100 bytes per read, 10 ms apart, the writer refilling every credit.
    for _ in 0..50 {
        let credits = p.a.available_credits(index) as usize;
        if credits > 0 {
            assert!(matches!(p.a.write(index, &data[..credits.min(1000)]), Poll::Ready(Ok(_))));
        }
        p.pump();
        at += window::FAST_GRANT_INTERVAL * 5;
        assert!(matches!(p.b.read(accepted, &mut [0u8; 100], at), Poll::Ready(Ok(100))));
        p.pump();
    }
    let window = |p: &Pair| p.b.incoming[&accepted].window.window();
    assert_eq!(window(&p), 1000, "a slow reader's window stays");
    // Fast: the reader takes everything as it comes, still 10 ms apart.
    let mut out = [0u8; 4096];
    for _ in 0..3 {
        let credits = p.a.available_credits(index) as usize;
        assert!(matches!(p.a.write(index, &vec![6u8; credits]), Poll::Ready(Ok(_))));
        p.pump();
        at += window::FAST_GRANT_INTERVAL * 5;
        while let Poll::Ready(Ok(n)) = p.b.read(accepted, &mut out, at) {
            assert!(n > 0);
        }
        p.pump();
    }
    assert_eq!(window(&p), 16_000, "grown up to the maximum");
}

/// The rest of a DATA payload for a channel with nothing buffered may go straight
/// into its reader's buffer: the session decodes it without copying it into the
/// channel and accounts it as consumed, granting credits back as usual.
#[test]
fn a_direct_read_takes_the_rest_of_a_payload_without_buffering_it() {
    let mut p = Pair::new();
    let index = p.open("x", 128);
    let Poll::Ready(Ok(accepted)) = p.b.accept(Some("x")) else { panic!("nothing to accept") };
    let data: Vec<u8> = (0..600u32).map(|i| (i * 7) as u8).collect();
    let mut wire = Vec::new();
    frame::put_data(&mut wire, index, &data);
    assert!(matches!(p.a.write(index, &data), Poll::Ready(Ok(600))));
    transmit(&mut p.a); // the session's own frames are dropped: `wire` stands in
    p.b.handle_input(&wire[..HEADER_LEN + 100], p.now);
    assert_eq!(p.b.plan_read(Some((accepted, 1000))), ReadPlan::Buffered, "100 bytes are buffered ahead");
    let mut out = [0u8; 1000];
    assert!(matches!(p.b.read(accepted, &mut out, p.now), Poll::Ready(Ok(100))));
    assert_eq!(p.b.plan_read(Some((accepted, 1000))), ReadPlan::Payload(500));
    assert_eq!(p.b.plan_read(Some((accepted, 200))), ReadPlan::Buffered, "a small buffer, a larger payload");
    assert_eq!(p.b.handle_read_into(accepted, &[(&[], &wire[HEADER_LEN + 100..])], p.now), 500);
    assert_eq!(
        p.b.plan_read(Some((accepted, 1000))),
        ReadPlan::Buffered,
        "the frame is complete; 1000 is too small a room"
    );
    assert_eq!(
        p.b.plan_read(Some((accepted, 8192))),
        ReadPlan::Frames { frames: 1, payload: 8192 },
        "no run: one frame, the whole room"
    );
    assert!(p.b.read(accepted, &mut out, p.now).is_pending(), "nothing was buffered");
    let stats = p.b.incoming_stats(accepted, p.now).unwrap();
    assert_eq!((stats.bytes_received, stats.frames_received), (600, 1));
    p.pump();
    assert_eq!(p.a.available_credits(index), 1000, "the 600 bytes were granted back");
}

/// Buffers returned to the pool stay for reuse while traffic needs them; once a
/// trim period passes without them being taken they are released, down to
/// `POOL_KEEP_IDLE`, and the trim timer stops.
#[test]
fn idle_pooled_buffers_are_released_after_a_quiet_period() {
    let roomy = |id| SessionConfig { initial_window: 100_000, max_channel_window: 100_000, ..config(id) };
    let mut p = Pair::with(roomy(1), roomy(2));
    let index = p.open("x", 128);
    assert!(matches!(p.a.write(index, &[1; 20_000]), Poll::Ready(Ok(20_000))));
    transmit(&mut p.a); // 200 segments of 100 bytes come back to the pool
    assert!(p.a.pool.idle() >= 200);
    let first = p.a.timers.get(Timer::PoolTrim).expect("trim armed");
    p.a.handle_timeout(first);
    assert!(p.a.pool.idle() >= 200, "the buffers were in use during the first period");
    let second = p.a.timers.get(Timer::PoolTrim).expect("trim re-armed");
    p.a.handle_timeout(second);
    assert_eq!(p.a.pool.idle(), POOL_KEEP_IDLE);
    assert_eq!(p.a.timers.get(Timer::PoolTrim), None, "nothing left to trim");
}

/// A read at a frame boundary after a DATA frame of the reader's channel lands the
/// next header in a small buffer and what follows in the caller's: the channel's
/// own payload stays there, and the frames after it (or a frame that is not its
/// DATA) are decoded as usual. After another channel's DATA frame, the next one is
/// likely that channel's again, so the read goes to the read buffer.
#[test]
fn a_header_first_read_keeps_the_channels_payload_and_decodes_the_rest() {
    let mut p = Pair::new();
    let x = p.open("x", 128);
    let y = p.open("y", 128);
    let Poll::Ready(Ok(rx)) = p.b.accept(Some("x")) else { panic!("no x") };
    let Poll::Ready(Ok(ry)) = p.b.accept(Some("y")) else { panic!("no y") };
    let mut out = [0u8; 1000];
    assert_eq!(p.b.plan_read(Some((rx, 8192))), ReadPlan::Buffered, "no DATA frame yet");
    let mut first = Vec::new();
    frame::put_data(&mut first, x, b"hi");
    p.b.handle_input(&first, p.now);
    assert!(matches!(p.b.read(rx, &mut out, p.now), Poll::Ready(Ok(2))));
    let (ours, theirs) = ([1u8; 300], [2u8; 200]);
    let mut wire = Vec::new();
    frame::put_data(&mut wire, x, &ours);
    frame::put_data(&mut wire, y, &theirs);
    frame::put_data(&mut wire, x, &ours[..50]);
    assert_eq!(p.b.plan_read(Some((rx, 8192))), ReadPlan::Frames { frames: 1, payload: 8192 });
    let (head, rest) = wire.split_at(HEADER_LEN);
    assert_eq!(p.b.handle_read_into(rx, &[(head, rest)], p.now), 300);
    assert!(matches!(p.b.read(ry, &mut out, p.now), Poll::Ready(Ok(200))));
    assert!(matches!(p.b.read(rx, &mut out, p.now), Poll::Ready(Ok(50))), "the later frame was buffered");
    // A header that is another channel's: nothing is kept.
    let mut wire = Vec::new();
    frame::put_data(&mut wire, y, &theirs);
    let (head, rest) = wire.split_at(HEADER_LEN);
    assert_eq!(p.b.handle_read_into(rx, &[(head, rest)], p.now), 0);
    assert!(matches!(p.b.read(ry, &mut out, p.now), Poll::Ready(Ok(200))));
    assert_eq!(p.b.plan_read(Some((rx, 8192))), ReadPlan::Buffered, "y's frame came last");
}

/// What the kernel does with a vectored read: `wire`'s bytes, in order, into
/// `slices` until either runs out. Returns the count placed.
fn scatter(wire: &[u8], slices: &mut [std::io::IoSliceMut<'_>]) -> usize {
    let mut placed = 0;
    for slice in slices {
        let n = slice.len().min(wire.len() - placed);
        slice[..n].copy_from_slice(&wire[placed..placed + n]);
        placed += n;
    }
    placed
}

/// In a run of a channel's large frames, a read into its reader's buffer is laid
/// out for as many frames like the last as the run had so far, headers apart
/// and payloads end to end. Every payload that is the channel's, with only the
/// channel's payloads before it, is delivered in place; from the first frame that
/// breaks the pattern (another channel's, or shorter), the bytes are decoded as
/// usual and reach their channels intact.
#[test]
fn a_frames_read_lays_a_runs_payloads_end_to_end() {
    let roomy = |id| SessionConfig { chunk_size: 16 * 1024, initial_window: 512 * 1024, ..config(id) };
    let mut p = Pair::with(roomy(1), roomy(2));
    let ((x, rx), (y, ry)) = (p.open_accepted("x", 128), p.open_accepted("y", 128));
    let pattern = |seed: u8, len: usize| -> Vec<u8> { (0..len).map(|i| (i % 251) as u8 ^ seed).collect() };
    let writes = [(x, 1), (x, 2), (x, 3), (x, 4), (y, 5), (x, 6)];
    let mut wire = Vec::new();
    for (channel, seed) in writes {
        let len = if seed == 6 { 1000 } else { 65536 };
        assert!(matches!(p.a.write(channel, &pattern(seed, len)), Poll::Ready(Ok(n)) if n == len));
        wire.extend(transmit(&mut p.a));
    }
    let step = HEADER_LEN + 65536;
    let mut out = vec![0u8; 1 << 20];

    assert_eq!(p.b.reader_turn(p.now), ReaderTurn::Read);
    p.b.handle_input(&wire[..2 * step], p.now);
    p.b.release_input(false, None, p.now);
    assert!(matches!(p.b.read(rx, &mut out, p.now), Poll::Ready(Ok(131072))));
    assert!(p.b.claim_input(rx, &Signal::default(), p.now));
    let plan = p.b.plan_read(Some((rx, out.len())));
    assert_eq!(plan, ReadPlan::Frames { frames: 2, payload: 65536 }, "two frames of the run so far");
    let ReadPlan::Frames { frames, payload } = plan else { unreachable!() };

    // The guess holds: both payloads land end to end.
    let mut heads = [[0u8; HEADER_LEN]; MAX_READ_FRAMES];
    let n = scatter(
        &wire[2 * step..4 * step],
        input::frames_layout(&mut heads[..frames], &mut out, payload, &mut input::frames_slices()),
    );
    let mut pieces = [(&[][..], &[][..]); MAX_READ_FRAMES];
    let pieces = input::frames_landed(&heads[..frames], &out, payload, n, &mut pieces);
    assert_eq!(p.b.handle_read_into(rx, pieces, p.now), 131072);
    assert_eq!(out[..131072], [pattern(3, 65536), pattern(4, 65536)].concat());
    assert!(p.b.read(rx, &mut out, p.now).is_pending(), "nothing was buffered");
    let plan = p.b.plan_read(Some((rx, out.len())));
    assert_eq!(plan, ReadPlan::Frames { frames: 4, payload: 65536 });

    // It breaks at once: y's frame, then x's short one, are decoded as usual.
    let mut heads = [[0u8; HEADER_LEN]; MAX_READ_FRAMES];
    let n =
        scatter(&wire[4 * step..], input::frames_layout(&mut heads[..4], &mut out, 65536, &mut input::frames_slices()));
    assert_eq!(n, wire.len() - 4 * step);
    let mut pieces = [(&[][..], &[][..]); MAX_READ_FRAMES];
    let pieces = input::frames_landed(&heads[..4], &out, 65536, n, &mut pieces);
    assert_eq!(p.b.handle_read_into(rx, pieces, p.now), 0);
    assert_eq!(read_all(&mut p.b, ry), pattern(5, 65536));
    assert_eq!(read_all(&mut p.b, rx), pattern(6, 1000));
    let stats = p.b.incoming_stats(rx, p.now).unwrap();
    assert_eq!((stats.bytes_received, stats.frames_received), (4 * 65536 + 1000, 5));
}

/// A reader whose buffer is smaller than the payload arriving for it, and small
/// (under `DIRECT_MIN_ROOM`), reads through the read buffer: one read of the
/// transport serves many of its reads. In the middle of its frame and at a frame
/// boundary in its run alike; a buffer as large as the payload reads it directly.
#[test]
fn a_small_buffer_reads_a_larger_payload_through_the_read_buffer() {
    let mut p = Pair::large_frames();
    let (x, rx) = p.open_accepted("x", 128);
    let wire = p.frames_of_writes(&[(x, 65536), (x, 65536)]);
    let step = HEADER_LEN + 65536;
    assert_eq!(p.b.reader_turn(p.now), ReaderTurn::Read);
    p.b.handle_input(&wire[..step], p.now);
    p.b.release_input(false, None, p.now);
    assert_eq!(read_all(&mut p.b, rx).len(), 65536);
    assert!(p.b.claim_input(rx, &Signal::default(), p.now));
    assert_eq!(p.b.plan_read(Some((rx, 8192))), ReadPlan::Buffered, "a frame like the last is coming");
    assert_eq!(p.b.plan_read(Some((rx, 65536))), ReadPlan::Frames { frames: 1, payload: 65536 });
    p.b.handle_input(&wire[step..step + HEADER_LEN + 100], p.now);
    assert_eq!(read_all(&mut p.b, rx).len(), 100);
    assert_eq!(p.b.plan_read(Some((rx, 8192))), ReadPlan::Buffered, "65,436 bytes of its payload to come");
    assert_eq!(p.b.plan_read(Some((rx, 1 << 20))), ReadPlan::Payload(65436));
    p.b.handle_input(&wire[step + HEADER_LEN + 100..wire.len() - 4000], p.now);
    assert_eq!(read_all(&mut p.b, rx).len(), 65436 - 4000);
    assert_eq!(p.b.plan_read(Some((rx, 8192))), ReadPlan::Payload(4000), "the rest fits");
}

/// Input in a shared read buffer: a large payload piece stays there (the channel
/// holds a reference) and reads back intact; the reference goes once it was read.
#[test]
fn large_payloads_in_a_shared_read_buffer_are_kept_by_reference() {
    let roomy = |id| SessionConfig { initial_window: 100_000, max_channel_window: 100_000, ..config(id) };
    let mut p = Pair::with(roomy(1), roomy(2));
    let index = p.open("x", 128);
    let Poll::Ready(Ok(accepted)) = p.b.accept(Some("x")) else { panic!("nothing to accept") };
    let payload: Vec<u8> = (0..crate::proto::recv_buffer::SHARE_MIN + 5).map(|i| (i % 253) as u8).collect();
    let mut wire = Vec::new();
    frame::put_data(&mut wire, index, &payload);
    frame::put_data(&mut wire, index, b"small");
    let len = wire.len();
    let shared = Arc::new(wire);
    p.b.handle_shared_input(&shared, 0..len, p.now);
    assert_eq!(Arc::strong_count(&shared), 2, "the large piece is held by reference, the small one copied");
    let mut out = vec![0u8; payload.len() + 100];
    let Poll::Ready(Ok(n)) = p.b.read(accepted, &mut out, p.now) else { panic!("nothing to read") };
    assert_eq!(&out[..n], [&payload[..], b"small"].concat());
    assert_eq!(Arc::strong_count(&shared), 1);
}
