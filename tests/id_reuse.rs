//! Ids are reused, indices are not: a channel id can be opened again as soon as
//! the previous channel with that id was closed (PROTOCOL.md section 3, item 6:
//! the opener frees the id when it sends FIN, so its next INIT with that id must
//! reach the peer after that FIN).

mod common;

use common::*;
use netconduit::proto::frame::FrameType;
use netconduit::{ChannelOptions, ErrorCode, MultiplexerOptions};
use std::io::{Read, Write};
use std::thread;
use std::time::Duration;

const ROUNDS: usize = 200;

/// Close, then open the same id at once, while the old channel's DATA and FIN may
/// still be queued behind the new INIT.
#[test]

fn reopen_same_id_right_after_close() {
    bounded(Duration::from_secs(120), || {
        let (a, b) = memory_pair();
        let reader = thread::spawn(move || {
            for round in 0..ROUNDS {
                let mut channel = b.accept_channel_timeout("same", TIMEOUT).expect("accept");
                let got = read_checksum(&mut channel, 8192).unwrap();
                assert_eq!(got, Checksum::of(&Pattern::bytes(round as u64, 20_000)), "round {round}");
            }
            b
        });
        for round in 0..ROUNDS {
            let mut channel = a
                .open_channel(ChannelOptions::new("same"))
                .unwrap_or_else(|e| panic!("round {round}: reopening the id failed: {e}"));
            channel.write_all(&Pattern::bytes(round as u64, 20_000)).unwrap();
            channel.close().unwrap();
        }
        let _b = reader.join().unwrap();
    });
}

/// The same on the wire: the FIN of the old channel comes before the INIT of the
/// new one with the same id.
#[test]

fn fin_of_old_channel_precedes_init_of_new_one() {
    bounded(Duration::from_secs(60), || {
        let (mux, mut peer) = raw_memory(MultiplexerOptions::default());
        let (first, mut channel) = open_from_mux(&mux, &mut peer, "same", 1 << 20);
        for round in 0..20u32 {
            channel.write_all(&[7u8; 50_000]).unwrap();
            channel.close().unwrap();
            let opener = {
                let mux = mux.clone();
                thread::spawn(move || mux.open_channel(ChannelOptions::new("same")))
            };
            let index = first + round;
            let mut fin_seen = false;
            let next = loop {
                let frame = peer.frame();
                match (frame.index, frame.kind) {
                    (i, FrameType::Data) if i == index => assert!(!fin_seen),
                    (i, FrameType::Fin) if i == index => fin_seen = true,
                    (i, FrameType::Init) if i == index + 1 => {
                        assert!(fin_seen, "round {round}: INIT {i} for the id overtook FIN {index}");
                        break i;
                    }
                    _ => panic!("unexpected {frame:?}"),
                }
            };
            peer.send_ack(next, 1 << 20, None);
            channel = opener.join().unwrap().expect("reopen");
        }
        drop(channel);
    });
}

/// After the peer cancelled a channel, its id can be opened again at once.
#[test]

fn reopen_same_id_right_after_cancel() {
    bounded(Duration::from_secs(60), || {
        let (a, b) = memory_pair();
        for round in 0..ROUNDS {
            let mut writer = a.open_channel(ChannelOptions::new("c")).expect("open");
            writer.write_all(b"x").unwrap();
            b.accept_channel("c").unwrap().close();
            // Wait (blocking) for the cancel to reach the writer.
            let error = loop {
                if let Err(e) = writer.write(&[0; 1000]) {
                    break e;
                }
            };
            assert_eq!(inner(&error).code(), Some(ErrorCode::CANCEL), "round {round}");
        }
        let mut last = a.open_channel(ChannelOptions::new("c")).unwrap();
        last.write_all(b"end").unwrap();
        last.close().unwrap();
        let mut text = String::new();
        b.accept_channel("c").unwrap().read_to_string(&mut text).unwrap();
        assert_eq!(text, "end");
    });
}
