//! A reader that closes its channel early stops the writer: the writer's writes
//! fail with BrokenPipe (code CANCEL) and it sends FIN; later DATA is discarded.

mod common;

use common::*;
use netconduit::proto::frame::FrameType;
use netconduit::{ChannelOptions, Error, ErrorCode, MultiplexerOptions, WriteChannel};
use std::io::{self, Write};
use std::time::Duration;

/// Writes until the write fails; the failure must come (the peer stopped the
/// channel), so the loop is bounded by the send timeout of a blocked write.
fn write_until_error(channel: &mut WriteChannel) -> io::Error {
    let chunk = [0x5Au8; 1000];
    for _ in 0..100_000 {
        if let Err(error) = channel.write(&chunk) {
            return error;
        }
    }
    panic!("writes kept succeeding after the reader closed the channel");
}

fn assert_cancelled(error: &io::Error) {
    assert_eq!(error.kind(), io::ErrorKind::BrokenPipe, "{error:?}");
    let inner = inner(error);
    assert!(matches!(inner, Error::ChannelReset { .. }), "{inner:?}");
    assert_eq!(inner.code(), Some(ErrorCode::CANCEL));
}

fn run(transport: Transport, explicit_close: bool) {
    let (a, b) = pair(transport, MultiplexerOptions::default(), MultiplexerOptions::default());
    let mut writer = a.open_channel(ChannelOptions::new("c").send_timeout(TIMEOUT)).unwrap();
    writer.write_all(b"some bytes the reader never reads").unwrap();
    let reader = b.accept_channel("c").unwrap();
    if explicit_close {
        reader.close();
    } else {
        drop(reader);
    }
    assert_cancelled(&write_until_error(&mut writer));
    // Every later write fails the same way, and so does close.
    assert_cancelled(&writer.write(b"x").unwrap_err());
    let closed = writer.close().unwrap_err();
    assert_eq!(closed.code(), Some(ErrorCode::CANCEL));
    // The session is unaffected. (Reusing the id at once is covered by id_reuse.rs.)
    let mut again = a.open_channel(ChannelOptions::new("d")).unwrap();
    again.write_all(b"ok").unwrap();
    again.close().unwrap();
    let mut text = String::new();
    io::Read::read_to_string(&mut b.accept_channel("d").unwrap(), &mut text).unwrap();
    assert_eq!(text, "ok");
    assert!(a.error().is_none() && b.error().is_none());
}

#[test]
fn reader_close_fails_writer_over_memory_pipe() {
    bounded(Duration::from_secs(60), || run(Transport::Memory, true));
}

#[test]
fn reader_drop_fails_writer_over_memory_pipe() {
    bounded(Duration::from_secs(60), || run(Transport::Memory, false));
}

#[test]
fn reader_close_fails_writer_over_tcp() {
    bounded(Duration::from_secs(60), || run(Transport::Tcp, true));
}

/// On the wire: ERR CANCEL from the accepter makes the opener fail its writes and
/// send FIN (PROTOCOL.md section 3, step 5).
#[test]
fn err_cancel_from_the_peer_makes_the_opener_send_fin() {
    bounded(Duration::from_secs(60), || {
        let (mux, mut peer) = raw_memory(MultiplexerOptions::default());
        let (index, mut channel) = open_from_mux(&mux, &mut peer, "c", 1 << 20);
        channel.write_all(b"before").unwrap();
        let data = peer.expect(index, FrameType::Data);
        assert_eq!(data.payload, b"before");
        peer.send_err(index, ErrorCode::CANCEL, "stop");
        assert_cancelled(&write_until_error(&mut channel));
        // DATA written before the ERR arrived may precede it; then comes FIN.
        let fin = loop {
            let frame = peer.frame();
            if frame.kind != FrameType::Data {
                break frame;
            }
        };
        assert_eq!((fin.index, fin.kind), (index, FrameType::Fin));
        drop(channel);
        // Nothing else follows for the channel: no second FIN on drop.
        assert_eq!(peer.barrier(), vec![]);
    });
}

/// On the wire: the accepter that closes sends ERR CANCEL once, discards DATA that
/// still arrives without granting it back, answers the FIN with nothing, and frees
/// the id.
#[test]
fn cancelled_channel_discards_late_data_until_fin() {
    bounded(Duration::from_secs(60), || {
        let (mux, mut peer) = raw_memory(MultiplexerOptions { initial_window: 1000, ..Default::default() });
        peer.send_init(1, 128, "c");
        assert_eq!(peer.expect(1, FrameType::Ack).ack_credits(), 1000);
        peer.send_data(1, &[1; 600]);
        let reader = mux.accept_channel("c").unwrap();
        assert!(wait_for(|| reader.buffered() == 600, TIMEOUT));
        reader.close();
        peer.expect_err(1, ErrorCode::CANCEL);
        // Still within the credits: discarded silently, no ACK, no ERR.
        peer.send_data(1, &[2; 400]);
        assert_eq!(peer.barrier(), vec![], "late DATA earns no frame");
        peer.send_fin(1);
        assert_eq!(peer.barrier(), vec![], "FIN of a cancelled channel earns no frame");
        // The id is free again.
        peer.send_init(2, 128, "c");
        peer.expect(2, FrameType::Ack);
        assert!(mux.error().is_none());
    });
}
