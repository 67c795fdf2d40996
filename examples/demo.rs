//! The main demo: two multiplexers over TCP loopback exchange data on several
//! channels at different priorities, check every byte, talk through the transits
//! (typed JSON messages and a duplex stream), and print statistics.
//!
//! ```text
//! cargo run --release --example demo
//! ```

use netconduit::{ChannelOptions, Multiplexer, MultiplexerOptions, Priority};
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

const CHANNELS: [(&str, Priority, usize); 4] = [
    ("control", Priority::HIGHEST, 64 * 1024),
    ("video", Priority::HIGH, 64 * 1024 * 1024),
    ("audio", Priority::NORMAL, 16 * 1024 * 1024),
    ("bulk", Priority::LOW, 128 * 1024 * 1024),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (client, server) = connect_pair()?;
    client.wait_ready(Duration::from_secs(5))?;
    println!("connected: client session {:016x}, server session {:016x}", client.session_id(), server.session_id());

    let started = Instant::now();
    let senders: Vec<_> = CHANNELS
        .iter()
        .map(|&(id, priority, size)| {
            let client = client.clone();
            thread::spawn(move || -> netconduit::Result<u64> {
                let mut channel = client.open_channel(ChannelOptions::new(id).priority(priority))?;
                let checksum = write_pattern(&mut channel, size)?;
                channel.close()?;
                Ok(checksum)
            })
        })
        .collect();
    let receivers: Vec<_> = CHANNELS
        .iter()
        .map(|&(id, _, _)| {
            let server = server.clone();
            thread::spawn(move || -> netconduit::Result<(u64, usize, Duration)> {
                let mut channel = server.accept_channel(id)?;
                let start = Instant::now();
                let (checksum, len) = read_all(&mut channel)?;
                Ok((checksum, len, start.elapsed()))
            })
        })
        .collect();

    println!("{:<8} {:>9} {:>10} {:>12} {:>9}", "channel", "priority", "MiB", "MiB/s", "checksum");
    for ((sender, receiver), (id, priority, size)) in senders.into_iter().zip(receivers).zip(CHANNELS) {
        let sent = sender.join().expect("sender thread")?;
        let (received, len, elapsed) = receiver.join().expect("receiver thread")?;
        assert_eq!((sent, len), (received, size), "channel {id} corrupted");
        let mib = len as f64 / (1024.0 * 1024.0);
        println!("{id:<8} {:>9} {mib:>10.1} {:>12.0} {:>9}", priority.0, mib / elapsed.as_secs_f64(), "ok");
    }
    let elapsed = started.elapsed();
    let total: usize = CHANNELS.iter().map(|c| c.2).sum();
    println!("all channels verified: {} MiB in {elapsed:.2?}", total / (1024 * 1024));

    #[cfg(feature = "json")]
    transits(&client, &server)?;

    let rtt = client.ping(Duration::from_secs(5))?;
    println!("ping: round trip {rtt:.2?}");
    for (name, mux) in [("client", &client), ("server", &server)] {
        let stats = mux.stats();
        println!(
            "{name}: sent {} B, received {} B, channels opened {}, closed {}, open now {}, uptime {:.2?}",
            stats.bytes_sent,
            stats.bytes_received,
            stats.total_opened,
            stats.total_closed,
            stats.open_channels,
            stats.uptime
        );
        println!(
            "{name}: heartbeat pings sent {}, pongs {}, last RTT {:.2?}, smoothed RTT {:.2?}, missed {}",
            stats.rtt.pings_sent,
            stats.rtt.pongs_received,
            stats.rtt.last.unwrap_or_default(),
            stats.rtt.smoothed.unwrap_or_default(),
            stats.rtt.missed
        );
    }

    // Graceful shutdown: GOAWAY, both sides drain, half-close, threads joined.
    let closing = Instant::now();
    client.close();
    println!("graceful close took {:.2?}; client {}", closing.elapsed(), describe(client.error()));
    server.close();
    println!("server {}", describe(server.error()));
    Ok(())
}

/// The transits, each opened from both sides by one name: typed requests and
/// answers over a `MessageTransit`, then an echo over a `DuplexStream` that the
/// client half-closes.
#[cfg(feature = "json")]
fn transits(client: &Multiplexer, server: &Multiplexer) -> Result<(), Box<dyn std::error::Error>> {
    use netconduit::transit::{MessageTransit, TransitError};
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize)]
    struct Samples(Vec<f64>);
    #[derive(Serialize, Deserialize)]
    struct Summary {
        count: usize,
        mean: f64,
    }

    let server_side = server.clone();
    let service = thread::spawn(move || -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let mut rpc: MessageTransit<Summary, Samples> = server_side.open_message_transit("stats")?;
        loop {
            let Samples(samples) = match rpc.recv() {
                Ok(request) => request,
                Err(TransitError::Closed) => break, // the client is done
                Err(error) => return Err(error.into()),
            };
            rpc.send(&Summary { count: samples.len(), mean: samples.iter().sum::<f64>() / samples.len() as f64 })?;
        }
        let mut echo = server_side.open_duplex("echo")?;
        let mut text = Vec::new();
        echo.read_to_end(&mut text)?; // until the client's half-close
        echo.write_all(&text.to_ascii_uppercase())?;
        Ok(())
    });

    let mut rpc: MessageTransit<Samples, Summary> = client.open_message_transit("stats")?;
    for samples in [vec![1.0, 2.0, 4.5], (1..=1000).map(f64::from).collect()] {
        rpc.send(&Samples(samples))?;
        let Summary { count, mean } = rpc.recv()?;
        println!("message transit: {count} samples, mean {mean:.2}");
    }
    rpc.close()?;

    let mut echo = client.open_duplex("echo")?;
    echo.write_all(b"shout this back")?;
    echo.shutdown_write()?;
    let mut reply = String::new();
    echo.read_to_string(&mut reply)?;
    println!("duplex stream: {reply}");
    service.join().expect("service thread").map_err(|error| error.to_string())?;
    Ok(())
}

fn describe(end: Option<netconduit::Error>) -> String {
    end.map_or_else(|| "still open".to_owned(), |e| format!("session ended: {e}"))
}

/// Two multiplexers connected over TCP loopback.
fn connect_pair() -> io::Result<(Multiplexer, Multiplexer)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let client_stream = TcpStream::connect(listener.local_addr()?)?;
    let (server_stream, _) = listener.accept()?;
    // A quick heartbeat so the demo shows measured round trips.
    let options = MultiplexerOptions { ping_interval: Some(Duration::from_millis(100)), ..Default::default() };
    let start = |stream: TcpStream| -> io::Result<Multiplexer> {
        stream.set_nodelay(true)?;
        Ok(Multiplexer::new(stream.try_clone()?, stream, options.clone())?)
    };
    Ok((start(client_stream)?, start(server_stream)?))
}

/// Writes `size` bytes of a deterministic pattern and returns their checksum.
fn write_pattern(out: &mut impl Write, size: usize) -> io::Result<u64> {
    let block: Vec<u8> = (0..64 * 1024).map(|i| (i * 31 % 251) as u8).collect();
    let mut checksum = Checksum::default();
    let mut left = size;
    while left > 0 {
        let n = left.min(block.len());
        out.write_all(&block[..n])?;
        checksum.update(&block[..n]);
        left -= n;
    }
    Ok(checksum.finish())
}

/// Reads to the end, returning the checksum and length.
fn read_all(input: &mut impl Read) -> io::Result<(u64, usize)> {
    let mut buffer = vec![0u8; 64 * 1024];
    let mut checksum = Checksum::default();
    let mut len = 0;
    loop {
        match input.read(&mut buffer)? {
            0 => return Ok((checksum.finish(), len)),
            n => {
                checksum.update(&buffer[..n]);
                len += n;
            }
        }
    }
}

/// A 64-bit FNV-1a-style hash over 8-byte words (fast enough not to hide the
/// transfer speed). Bytes are buffered up to a whole word, so any split of the
/// same stream gives the same result.
#[derive(Default)]
struct Checksum {
    state: u64,
    pending: Vec<u8>,
}

impl Checksum {
    fn update(&mut self, mut bytes: &[u8]) {
        if !self.pending.is_empty() {
            let take = (8 - self.pending.len()).min(bytes.len());
            self.pending.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.pending.len() == 8 {
                let word = std::mem::take(&mut self.pending);
                self.mix(&word);
            }
        }
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            self.mix(word);
        }
        self.pending.extend_from_slice(words.remainder());
    }

    fn mix(&mut self, word: &[u8]) {
        let word = u64::from_le_bytes(word.try_into().expect("8 bytes"));
        self.state = (self.state ^ word).wrapping_mul(0x0100_0000_01b3);
    }

    fn finish(mut self) -> u64 {
        let tail = std::mem::take(&mut self.pending);
        tail.iter().fold(self.state, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
    }
}
