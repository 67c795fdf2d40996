//! PROTOCOL.md section 9, byte for byte: our encoders produce the example's bytes,
//! and a multiplexer puts exactly those shapes on the wire (and understands them).

mod common;

use common::*;
use netconduit::proto::control::Control;
use netconduit::proto::frame;
use netconduit::{ChannelOptions, MultiplexerOptions, Priority};
use std::io::{Read, Write};
use std::net::TcpStream;

/// The example's lines, in order, as hex.
const A_HANDSHAKE: &str = "00 00 00 00  00  00 00 00 0d  03  00 00 00 00 00 00 00 2a  01 00 00 00";
const B_HANDSHAKE: &str = "00 00 00 00  00  00 00 00 09  03  00 00 00 00 00 00 00 07";
const A_INIT: &str = "00 00 00 01  01  00 00 00 08  80 00 05 76 69 64 65 6f";
const B_ACK: &str = "00 00 00 01  03  00 00 00 04  00 01 00 00";
const A_DATA: &str = "00 00 00 01  00  00 00 00 02  68 69";
const A_FIN: &str = "00 00 00 01  02  00 00 00 00";

fn hex(text: &str) -> Vec<u8> {
    text.split_whitespace().map(|b| u8::from_str_radix(b, 16).unwrap()).collect()
}

fn encoded(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut out = Vec::new();
    f(&mut out);
    out
}

#[test]
fn encoders_produce_the_section_9_bytes() {
    let handshake_a =
        encoded(|o| Control::Handshake { session_id: 42, max_frame_size: Some(16 * 1024 * 1024) }.encode(o));
    assert_eq!(handshake_a, hex(A_HANDSHAKE));
    let handshake_b = encoded(|o| Control::Handshake { session_id: 7, max_frame_size: None }.encode(o));
    assert_eq!(handshake_b, hex(B_HANDSHAKE));
    assert_eq!(encoded(|o| frame::put_init(o, 1, Priority::NORMAL.0, "video")), hex(A_INIT));
    assert_eq!(encoded(|o| frame::put_ack(o, 1, 65536, None)), hex(B_ACK));
    assert_eq!(encoded(|o| frame::put_data(o, 1, b"hi")), hex(A_DATA));
    assert_eq!(encoded(|o| frame::put_fin(o, 1)), hex(A_FIN));
}

#[test]
fn decoders_read_the_section_9_bytes() {
    let parse = |text: &str| {
        let bytes = hex(text);
        let header = frame::FrameHeader::parse(&bytes, frame::DEFAULT_MAX_FRAME_SIZE).unwrap().unwrap();
        assert_eq!(header.len as usize, bytes.len() - frame::HEADER_LEN);
        (header, bytes[frame::HEADER_LEN..].to_vec())
    };
    let (_, payload) = parse(A_HANDSHAKE);
    assert_eq!(
        Control::parse(&payload),
        Ok(Control::Handshake { session_id: 42, max_frame_size: Some(16 * 1024 * 1024) })
    );
    let (_, payload) = parse(B_HANDSHAKE);
    assert_eq!(Control::parse(&payload), Ok(Control::Handshake { session_id: 7, max_frame_size: None }));
    let (header, payload) = parse(A_INIT);
    assert_eq!((header.index, header.kind), (1, frame::FrameType::Init));
    assert_eq!(frame::parse_init(&payload), Ok(frame::InitFields { priority: 128, id: "video" }));
    let (header, payload) = parse(B_ACK);
    assert_eq!((header.index, header.kind), (1, frame::FrameType::Ack));
    assert_eq!(frame::parse_ack(&payload), Ok(frame::AckFields { credits: 65536, consumed: None }));
    let (header, payload) = parse(A_DATA);
    assert_eq!((header.index, header.kind, payload.as_slice()), (1, frame::FrameType::Data, &b"hi"[..]));
    let (header, payload) = parse(A_FIN);
    assert_eq!((header.index, header.kind, payload.len()), (1, frame::FrameType::Fin, 0));
}

fn read_exactly(stream: &mut TcpStream, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    stream.read_exact(&mut buf).unwrap_or_else(|e| panic!("reading {len} bytes from the multiplexer: {e}"));
    buf
}

/// Our multiplexer plays side A against a raw socket playing side B.
#[test]
fn multiplexer_as_side_a_sends_the_section_9_shapes() {
    bounded(TIMEOUT, || {
        let (ours, mut peer) = tcp_streams();
        peer.set_read_timeout(Some(TIMEOUT)).unwrap();
        let mux = netconduit::Multiplexer::new(ours.try_clone().unwrap(), ours, MultiplexerOptions::default()).unwrap();

        // HANDSHAKE: index 0, type 0, length 13, subtype 3, a non-zero id, max frame 16 MiB.
        let handshake = read_exactly(&mut peer, 22);
        assert_eq!(&handshake[..10], &hex(A_HANDSHAKE)[..10], "HANDSHAKE header and subtype");
        let session_id = u64::from_be_bytes(handshake[10..18].try_into().unwrap());
        assert_ne!(session_id, 0, "session id must be non-zero");
        assert_eq!(session_id, mux.session_id());
        assert_eq!(&handshake[18..], &hex(A_HANDSHAKE)[18..], "max frame size 16 MiB");

        peer.write_all(&hex(B_HANDSHAKE)).unwrap();
        mux.wait_ready(TIMEOUT).unwrap();
        assert_eq!(mux.peer_session_id(), Some(7));

        let opener = {
            let mux = mux.clone();
            std::thread::spawn(move || mux.open_channel(ChannelOptions::new("video").priority(Priority::NORMAL)))
        };
        assert_eq!(read_exactly(&mut peer, 17), hex(A_INIT));
        peer.write_all(&hex(B_ACK)).unwrap();
        let mut channel = opener.join().unwrap().expect("channel opens");
        assert_eq!(channel.channel_index(), 1);
        assert_eq!(channel.available_credits(), 65536);

        channel.write_all(b"hi").unwrap();
        channel.close().unwrap();
        assert_eq!(read_exactly(&mut peer, 11), hex(A_DATA));
        assert_eq!(read_exactly(&mut peer, 9), hex(A_FIN));
        assert!(mux.error().is_none());
    });
}

/// Our multiplexer plays side B: the raw side A pipelines its whole part at once.
#[test]
fn multiplexer_as_side_b_understands_section_9() {
    bounded(TIMEOUT, || {
        let (ours, mut peer) = tcp_streams();
        peer.set_read_timeout(Some(TIMEOUT)).unwrap();
        let mux = netconduit::Multiplexer::new(ours.try_clone().unwrap(), ours, MultiplexerOptions::default()).unwrap();

        let mut side_a = hex(A_HANDSHAKE);
        side_a.extend(hex(A_INIT));
        side_a.extend(hex(A_DATA));
        side_a.extend(hex(A_FIN));
        peer.write_all(&side_a).unwrap();

        let handshake = read_exactly(&mut peer, 22);
        assert_eq!(&handshake[..10], &hex(A_HANDSHAKE)[..10]);
        assert_ne!(u64::from_be_bytes(handshake[10..18].try_into().unwrap()), 0);
        // B's answer to INIT: ACK 1 with the default window of 65,536.
        assert_eq!(read_exactly(&mut peer, 13), hex(B_ACK));

        let mut channel = mux.accept_channel("video").unwrap();
        assert_eq!(channel.channel_index(), 1);
        assert_eq!(channel.priority(), Priority::NORMAL);
        let mut text = Vec::new();
        channel.read_to_end(&mut text).unwrap();
        assert_eq!(text, b"hi");
        assert_eq!(mux.peer_session_id(), Some(42));
    });
}
