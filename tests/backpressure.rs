//! Flow control end to end: a writer whose reader does not read runs out of
//! credits and blocks, and resumes as soon as the reader reads.

mod common;

use common::*;
use netconduit::{ChannelOptions, MultiplexerOptions};
use std::io::{Read, Write};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

const WINDOW: u32 = 64 * 1024;
const EXTRA: u64 = 1024 * 1024;

fn run(transport: Transport) {
    let options = MultiplexerOptions { initial_window: WINDOW, ..Default::default() };
    let (a, b) = pair(transport, MultiplexerOptions::default(), options);
    let mut writer = a.open_channel(ChannelOptions::new("slow").send_timeout(TIMEOUT)).unwrap();
    let mut reader = b.accept_channel("slow").unwrap();
    assert_eq!(writer.available_credits(), u64::from(WINDOW));

    // Fill the window exactly: these writes cannot block.
    let first = Pattern::bytes(1, WINDOW as usize);
    writer.write_all(&first).unwrap();
    assert_eq!(writer.available_credits(), 0, "the window is spent");

    // The whole window arrives at the reader, which does not read: nothing grants
    // credits back, so the writer has none.
    reader.set_read_timeout(Some(TIMEOUT));
    assert!(wait_for(|| reader.buffered() == WINDOW as usize, TIMEOUT), "window delivered to the reader");
    assert_eq!(writer.available_credits(), 0);

    // A writer thread now blocks in write: it needs credits nobody grants.
    let (started_tx, started_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    let blocked = thread::spawn(move || {
        started_tx.send(()).unwrap();
        let sum = write_pattern(&mut writer, 2, EXTRA).expect("blocked write resumes and completes");
        done_tx.send(()).unwrap();
        writer.close().unwrap();
        sum
    });
    started_rx.recv_timeout(TIMEOUT).unwrap();
    assert_eq!(a.write_channel("slow").unwrap().stats.bytes_sent, u64::from(WINDOW), "no byte beyond the window");
    assert_eq!(reader.buffered(), WINDOW as usize, "the reader holds no more than the window");
    assert!(done_rx.try_recv().is_err(), "the writer cannot finish while the reader does not read");

    // Reading grants credits back; the blocked writer resumes and finishes.
    let mut head = vec![0u8; WINDOW as usize];
    reader.read_exact(&mut head).unwrap();
    assert_eq!(head, first);
    let rest = read_checksum(&mut reader, 7777).unwrap();
    done_rx.recv_timeout(TIMEOUT).expect("writer finished after the reads");
    let sent = blocked.join().unwrap();
    assert_eq!(rest, sent);
    assert!(a.error().is_none() && b.error().is_none());
}

#[test]
fn writer_blocks_until_reader_reads_over_memory_pipe() {
    bounded(Duration::from_secs(120), || run(Transport::Memory));
}

#[test]
fn writer_blocks_until_reader_reads_over_tcp() {
    bounded(Duration::from_secs(120), || run(Transport::Tcp));
}

/// The reader never holds more than the window, however slowly it reads.
#[test]
fn reader_buffer_never_exceeds_the_window() {
    bounded(Duration::from_secs(120), || {
        // Auto-tuning off: the window stays at its first grant.
        let small = MultiplexerOptions { initial_window: 4096, max_channel_window: 4096, ..Default::default() };
        let (a, b) = memory_pair_with(MultiplexerOptions::default(), small);
        let writer = thread::spawn(move || {
            let mut channel = a.open_channel(ChannelOptions::new("trickle")).unwrap();
            let sum = write_pattern(&mut channel, 3, 256 * 1024).unwrap();
            channel.close().unwrap();
            // Hand the multiplexer back: dropping its last handle would abort the
            // session before the queued bytes went out.
            (sum, a)
        });
        let mut reader = b.accept_channel("trickle").unwrap();
        let mut sum = Checksum::default();
        let mut buf = [0u8; 300];
        loop {
            assert!(reader.buffered() <= 4096, "buffered {} > window", reader.buffered());
            let n = reader.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            sum.update(&buf[..n]);
        }
        let (sent, _a) = writer.join().unwrap();
        assert_eq!(sum.finish(), sent);
    });
}

/// With credits to spare, a writer still stops at its send buffer while the
/// transport does not take bytes: `write` queues at most `send_buffer_size`, then
/// times out (the channel stays usable), and everything arrives once the peer reads.
#[test]
fn send_buffer_bounds_queued_bytes() {
    bounded(Duration::from_secs(60), || {
        const BUFFER: usize = 64 * 1024;
        // Queued writes only: a direct write would wait in the stalled transport.
        let options = MultiplexerOptions { send_buffer_size: BUFFER, direct_writes: false, ..Default::default() };
        let (mux, mut peer) = raw_memory(options);
        let channel_options = ChannelOptions::new("bounded").send_timeout(Duration::from_millis(200));
        let (index, mut channel) = open_from_mux_with(&mux, &mut peer, channel_options, 16 << 20);
        let data = Pattern::bytes(9, 4 << 20);
        peer.pause_reading();
        let first = channel.write(&data).unwrap();
        assert!(first <= BUFFER, "one write queued {first} bytes, more than the send buffer");
        let mut written = first;
        let error = loop {
            match channel.write(&data[written..]) {
                Ok(n) => written += n,
                Err(error) => break error,
            }
        };
        assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
        // The transport holds at most its 256 KiB capacity, the queue one buffer.
        assert!(written <= BUFFER + 512 * 1024, "{written} bytes taken with the transport stalled");
        peer.resume_reading();
        channel.write_all(&data[written..]).unwrap();
        channel.close().unwrap();
        let got = peer.data_until_fin(index, usize::MAX);
        assert_eq!(Checksum::of(&got), Checksum::of(&data));
    });
}
