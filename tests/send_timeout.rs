//! A write that finds no credits for `send_timeout` fails with TimedOut (inner
//! `Error::Timeout`), and the channel stays usable.

mod common;

use common::*;
use netconduit::{ChannelOptions, Error, MultiplexerOptions};
use std::io::{self, Read, Write};
use std::time::Duration;

#[test]
fn write_times_out_without_credits_and_channel_survives() {
    bounded(Duration::from_secs(60), || {
        let window = 1024;
        let options = MultiplexerOptions { initial_window: window, ..Default::default() };
        let (a, b) = memory_pair_with(MultiplexerOptions::default(), options);
        let mut writer = a.open_channel(ChannelOptions::new("t").send_timeout(Duration::from_millis(100))).unwrap();
        let mut reader = b.accept_channel("t").unwrap();

        let data = Pattern::bytes(9, 2 * window as usize);
        writer.write_all(&data[..window as usize]).unwrap();
        assert_eq!(writer.available_credits(), 0);

        let error = writer.write(&data[window as usize..]).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(matches!(inner(&error), Error::Timeout(_)), "inner error: {:?}", inner(&error));
        // A timeout is no failure of the channel.
        assert!(writer.state().is_ok());
        assert!(a.error().is_none());

        // Once the reader reads (granting a whole window back), the same channel
        // carries the rest.
        writer.set_send_timeout(TIMEOUT);
        let mut got = vec![0u8; window as usize];
        reader.read_exact(&mut got).unwrap();
        writer.write_all(&data[window as usize..]).unwrap();
        writer.close().unwrap();
        reader.read_to_end(&mut got).unwrap();
        assert_eq!(got, data);
    });
}

/// `open_channel` times out the same way when no ACK comes, and frees the id.
#[test]
fn open_times_out_when_the_peer_never_answers() {
    bounded(Duration::from_secs(60), || {
        let (mux, mut peer) = raw_memory(MultiplexerOptions::default());
        let error =
            mux.open_channel(ChannelOptions::new("silent").open_timeout(Duration::from_millis(100))).unwrap_err();
        assert!(matches!(error, Error::Timeout(_)), "{error:?}");
        assert_eq!(error.io_kind(), io::ErrorKind::TimedOut);
        // The abandoned channel is finished as soon as the peer answers it.
        let init = peer.expect(1, netconduit::proto::frame::FrameType::Init);
        assert_eq!(init.index, 1);
        peer.send_ack(1, 100, None);
        peer.expect(1, netconduit::proto::frame::FrameType::Fin);
        assert!(mux.error().is_none());
        // And its id is free again.
        let (index, _channel) = open_from_mux(&mux, &mut peer, "silent", 10);
        assert_eq!(index, 2);
    });
}
