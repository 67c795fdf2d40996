//! Late frames for a channel its receiver opened and has since forgotten are
//! ignored (PROTOCOL.md section 3, item 6): a late grant is normal.

mod common;

use common::*;
use netconduit::proto::control::Control;
use netconduit::proto::frame::FrameType;
use netconduit::{ChannelOptions, ErrorCode, MultiplexerOptions};
use std::io::Write;
use std::time::Duration;

/// The multiplexer opens a channel, writes and closes it; once the raw peer has
/// seen its FIN the channel is forgotten on the multiplexer's side.
fn forgotten_channel(mux: &netconduit::Multiplexer, peer: &mut RawPeer) -> u32 {
    let (index, mut channel) = open_from_mux(mux, peer, "gone", 100);
    channel.write_all(b"bye").unwrap();
    channel.close().unwrap();
    assert_eq!(peer.expect(index, FrameType::Data).payload, b"bye");
    peer.expect(index, FrameType::Fin);
    assert!(mux.write_channel("gone").is_none(), "the channel is forgotten");
    assert_eq!(mux.stats().open_channels, 0);
    index
}

fn run(late: impl FnOnce(&mut RawPeer, u32) + Send + 'static) {
    bounded(Duration::from_secs(60), move || {
        let (mux, mut peer) = raw_memory(MultiplexerOptions::default());
        let index = forgotten_channel(&mux, &mut peer);
        late(&mut peer, index);
        assert_eq!(peer.barrier(), vec![], "a late frame earns no answer");
        assert!(mux.error().is_none(), "{:?}", mux.error());
        // The session still works, and the next channel gets the next index.
        let (next, _channel) = open_from_mux(&mux, &mut peer, "next", 10);
        assert_eq!(next, index + 1);
    });
}

#[test]
fn late_ack_is_ignored() {
    run(|peer, index| peer.send_ack(index, 100, None));
}

#[test]
fn late_ack_with_consumed_is_ignored() {
    run(|peer, index| peer.send_ack(index, 3, Some(3)));
}

#[test]
fn late_credit_grant_is_ignored() {
    run(|peer, index| peer.send_control(Control::CreditGrant { index, credits: 100 }));
}

#[test]
fn late_err_is_ignored() {
    run(|peer, index| peer.send_err(index, ErrorCode::CANCEL, "too late"));
}

#[test]
fn late_err_unknown_channel_is_ignored() {
    run(|peer, index| peer.send_err(index, ErrorCode::UNKNOWN_CHANNEL, ""));
}

/// An opener that gave up waiting (open timeout) ignores nothing: the late ACK
/// opens the channel on the wire, and the opener finishes it with FIN at once.
#[test]
fn late_ack_after_open_timeout_is_answered_with_fin() {
    bounded(Duration::from_secs(60), || {
        let (mux, mut peer) = raw_memory(MultiplexerOptions::default());
        let error = mux.open_channel(ChannelOptions::new("slow").open_timeout(Duration::from_millis(50)));
        assert!(error.is_err());
        let init = peer.expect(1, FrameType::Init);
        peer.send_ack(init.index, 10, None);
        peer.expect(init.index, FrameType::Fin);
        // A late ERR for it afterwards is ignored too.
        peer.send_err(init.index, ErrorCode::CANCEL, "");
        assert_eq!(peer.barrier(), vec![]);
        assert!(mux.error().is_none());
    });
}

/// An opener that gave up waiting gets a refusal late: nothing to do, no FIN.
#[test]
fn late_refusal_after_open_timeout_is_ignored() {
    bounded(Duration::from_secs(60), || {
        let (mux, mut peer) = raw_memory(MultiplexerOptions::default());
        assert!(mux.open_channel(ChannelOptions::new("slow").open_timeout(Duration::from_millis(50))).is_err());
        let init = peer.expect(1, FrameType::Init);
        peer.send_err(init.index, ErrorCode::REFUSED, "no");
        assert_eq!(peer.barrier(), vec![]);
        assert!(mux.error().is_none());
    });
}
