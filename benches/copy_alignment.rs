//! How much the kernel's copies cost a framed byte stream, without netconduit.
//!
//! Writer threads (one, or 100 taking turns) and one reader thread on a TCP
//! loopback connection (writers pinned to CPU 0, the reader to CPU 1 when there
//! are two), 1 GiB per run, the variants alternating run by run; the clock starts
//! once every thread is up. It measures what `docs/PERFORMANCE.md` ("The kernel's copies and where
//! the bytes sit") reports: the kernel copies a write into its own pages and out
//! again into the reader's buffer, and on some CPUs (AMD Zen 3 with fast short
//! `rep movsb`, for one) those copies run several times slower when the
//! destination lies 1 to 31 bytes past the source modulo 4 KiB. A stream of 64 KiB
//! writes keeps the kernel's page offset fixed; a framed stream (a 9-byte header
//! before each payload, as netconduit's direct writes send it) moves it by the
//! header on every write. The kernel copies a thread's writes into that thread's
//! own pages and starts a page over at offset 0 once nothing refers to it any
//! more, so frames written by many threads in turns (each turn starting on such a
//! restarted page) put their payloads at 9, 18, 27, ... bytes past a page boundary:
//! the last variants show what that does to a writer's buffer at page offset 16.
//!
//! Run: `cargo bench --bench copy_alignment -- [--runs N] [--total-mib N]`.

use parking_lot::Mutex;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Instant;

#[path = "compare/loopback.rs"]
mod loopback;

const PAGE: usize = 4096;
const HEADER: usize = 9;

/// One way of carrying the bytes: the header written before each payload (0 for
/// none), the payload length, the page offsets of the writer's and the reader's
/// payload buffers, and how many threads write (sharing one payload buffer, in
/// turns of `turn` frames handed over first come, first served).
#[derive(Clone, Copy)]
struct Variant {
    name: &'static str,
    header: usize,
    payload: usize,
    write_offset: usize,
    read_offset: usize,
    writers: usize,
    turn: usize,
}

/// A variant with one writer: header and payload lengths, then the page offsets
/// of the writer's and the reader's buffers.
const fn one_writer(
    name: &'static str,
    header: usize,
    payload: usize,
    write_offset: usize,
    read_offset: usize,
) -> Variant {
    Variant { name, header, payload, write_offset, read_offset, writers: 1, turn: 1 }
}

/// A variant with 100 writers in turns of 4 frames (9-byte headers, the reader's
/// buffer at page offset 0): payload length and the writers' buffer page offset.
const fn many_writers(name: &'static str, payload: usize, write_offset: usize) -> Variant {
    Variant { name, header: HEADER, payload, write_offset, read_offset: 0, writers: 100, turn: 4 }
}

const VARIANTS: [Variant; 9] = [
    one_writer("64 KiB writes, buffers at page offset 0", 0, 65_536, 0, 0),
    one_writer("64 KiB writes, writer's buffer at 4080", 0, 65_536, 4080, 0),
    one_writer("64 KiB writes, reader's buffer at 16", 0, 65_536, 0, 16),
    one_writer("9 + 65,536-byte frames, buffers at 0", HEADER, 65_536, 0, 0),
    one_writer("9 + 65,527-byte frames, writer's at 16", HEADER, 65_527, 16, 0),
    one_writer("9 + 65,527-byte frames, buffers at 0", HEADER, 65_527, 0, 0),
    many_writers("100 writers, 9 + 65,536, writer's at 16", 65_536, 16),
    many_writers("100 writers, 9 + 65,536, writer's at 1000", 65_536, 1000),
    many_writers("100 writers, 9 + 65,527, writer's at 16", 65_527, 16),
];

fn main() -> io::Result<()> {
    let (runs, total) = parse_args()?;
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let pins = (cores.first().copied(), cores.get(1).copied());
    println!(
        "{} runs of {} MiB per variant, alternating; ratios are run by run against the first variant.",
        runs,
        total >> 20
    );
    let mut rates = vec![Vec::new(); VARIANTS.len()];
    for _ in 0..runs {
        for (variant, rate) in VARIANTS.iter().zip(&mut rates) {
            rate.push(transfer(*variant, total, pins)?);
        }
    }
    for (variant, rate) in VARIANTS.iter().zip(&rates) {
        let ratios: Vec<f64> = rate.iter().zip(&rates[0]).map(|(r, base)| r / base).collect();
        println!("{:<46} {:>6.0} MiB/s  ratio {:.2}", variant.name, median(rate.clone()), median(ratios));
    }
    Ok(())
}

fn parse_args() -> io::Result<(usize, usize)> {
    let (mut runs, mut total_mib) = (8, 1024);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let slot = match arg.as_str() {
            "--runs" => &mut runs,
            "--total-mib" => &mut total_mib,
            // `cargo bench` passes `--bench` to every harness-less bench.
            "--bench" => continue,
            other => return Err(io::Error::other(format!("unknown argument {other}"))),
        };
        *slot = args
            .next()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| io::Error::other(format!("{arg} needs a number")))?;
    }
    Ok((runs.max(1), total_mib.max(1) << 20))
}

/// Sends `total` payload bytes as `variant` says; returns MiB/s at the reader.
fn transfer(
    variant: Variant,
    total: usize,
    pins: (Option<core_affinity::CoreId>, Option<core_affinity::CoreId>),
) -> io::Result<f64> {
    let (writer, mut reader) = loopback::tcp_pair()?;
    // Every writer writes whole turns.
    let frames = total.div_ceil(variant.payload * variant.writers * variant.turn) * variant.writers * variant.turn;
    let receiving = thread::spawn(move || -> io::Result<usize> {
        pins.1.map(core_affinity::set_for_current);
        read_frames(&mut reader, variant)
    });
    let start = write_frames(writer, variant, frames, pins.0)?;
    let received = receiving.join().map_err(|_| io::Error::other("reader panicked"))??;
    let expected = frames * (variant.header + variant.payload);
    if received != expected {
        return Err(io::Error::other(format!("{}: received {received} of {expected} bytes", variant.name)));
    }
    Ok((frames * variant.payload) as f64 / (1 << 20) as f64 / start.elapsed().as_secs_f64())
}

/// Where a `len`-byte range of `storage` starts `offset` bytes past a page boundary.
fn page_offset_range(storage: &[u8], offset: usize, len: usize) -> std::ops::Range<usize> {
    let start = (PAGE - storage.as_ptr() as usize % PAGE) % PAGE + offset;
    start..start + len
}

/// Writes `frames` frames from `variant.writers` threads (pinned to `pin`), which
/// share one payload buffer and take turns on the stream; closes the stream after
/// the last. Returns when the writers started, all of them up and pinned.
fn write_frames(
    stream: TcpStream,
    variant: Variant,
    frames: usize,
    pin: Option<core_affinity::CoreId>,
) -> io::Result<Instant> {
    let storage = vec![0x5A; variant.payload + 2 * PAGE];
    let payload = page_offset_range(&storage, variant.write_offset, variant.payload);
    let shared = Arc::new((Mutex::new(stream), storage));
    let ready = Arc::new(Barrier::new(variant.writers + 1));
    let turns = frames / variant.turn / variant.writers;
    let threads: Vec<_> = (0..variant.writers)
        .map(|_| {
            let (shared, payload, ready) = (shared.clone(), payload.clone(), ready.clone());
            thread::spawn(move || -> io::Result<()> {
                pin.map(core_affinity::set_for_current);
                let (stream, storage) = &*shared;
                let (header, payload) = (&[0; HEADER][..variant.header], &storage[payload]);
                ready.wait();
                for _ in 0..turns {
                    let mut stream = stream.lock();
                    for _ in 0..variant.turn {
                        write_frame(&mut stream, header, payload)?;
                    }
                    // First come, first served: the next turn goes to a waiting
                    // thread, whose kernel pages have had time to drain.
                    parking_lot::MutexGuard::unlock_fair(stream);
                }
                Ok(())
            })
        })
        .collect();
    ready.wait();
    let start = Instant::now();
    for writer in threads {
        writer.join().map_err(|_| io::Error::other("writer panicked"))??;
    }
    Ok(start)
}

fn write_frame(stream: &mut TcpStream, header: &[u8], payload: &[u8]) -> io::Result<()> {
    let mut slices = [IoSlice::new(header), IoSlice::new(payload)];
    let mut slices = &mut slices[..];
    while !slices.is_empty() {
        let n = stream.write_vectored(slices)?;
        IoSlice::advance_slices(&mut slices, n);
    }
    Ok(())
}

/// Reads frame by frame, each header and payload in one `readv` (as netconduit's
/// direct reads do).
fn read_frames(stream: &mut TcpStream, variant: Variant) -> io::Result<usize> {
    let mut storage = vec![0; variant.payload + 2 * PAGE];
    let range = page_offset_range(&storage, variant.read_offset, variant.payload);
    let payload = &mut storage[range];
    let mut header = [0u8; HEADER];
    let (mut in_header, mut in_payload, mut received) = (0, 0, 0);
    loop {
        let mut slices =
            [IoSliceMut::new(&mut header[in_header..variant.header]), IoSliceMut::new(&mut payload[in_payload..])];
        let n = stream.read_vectored(&mut slices)?;
        if n == 0 {
            return Ok(received);
        }
        received += n;
        let to_header = n.min(variant.header - in_header);
        in_header += to_header;
        in_payload += n - to_header;
        if in_payload == variant.payload {
            (in_header, in_payload) = (0, 0);
        }
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
