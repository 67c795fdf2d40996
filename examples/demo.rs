//! The main demo: two multiplexers over TCP loopback exchange data on several
//! channels at different priorities, check every byte, talk through the transits
//! (typed JSON messages and a duplex stream), and print statistics.
//!
//! ```text
//! cargo run --release --example demo
//! ```
//!
//! Or one side per process (or machine): a listener echoes every channel back, and
//! the demo runs against it (`ws://` needs `--features websocket`).
//!
//! ```text
//! cargo run --release --example demo -- --listen tcp://0.0.0.0:7000
//! cargo run --release --example demo -- --connect tcp://HOST:7000
//! cargo run --release --features websocket --example demo -- --listen ws://0.0.0.0:8080
//! cargo run --release --features websocket --example demo -- --connect ws://HOST:8080/conduit
//! ```

mod common; // the echo service, shared with echo_server and stdio_peer

use netconduit::transport::tcp;
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
    let mode = Mode::from_args()?;
    let (client, server) = match &mode {
        Mode::Local => connect_pair()?,
        Mode::Listen(url) => return listen(url),
        // The far side echoes every channel: this side accepts the echoes itself.
        Mode::Connect(url) => connect(url).map(|mux| (mux.clone(), mux))?,
    };
    let remote = matches!(mode, Mode::Connect(_));
    client.wait_ready(Duration::from_secs(5))?;
    println!(
        "connected: client session {:016x}, server session {:016x}",
        client.session_id(),
        client.peer_session_id().unwrap_or_default()
    );

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
    if !remote {
        transits(&client, &server)?; // the echo service does not speak them
    }

    let rtt = client.ping(Duration::from_secs(5))?;
    println!("ping: round trip {rtt:.2?}");
    let sides = if remote { vec![("client", &client)] } else { vec![("client", &client), ("server", &server)] };
    for (name, mux) in sides {
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
    if !remote {
        server.close();
        println!("server {}", describe(server.error()));
    }
    Ok(())
}

/// Both sides in this process, or one side of a demo across processes.
enum Mode {
    Local,
    /// Serve every peer, echoing each channel on this side's channel of the same id.
    Listen(String),
    /// Run the demo against a listener.
    Connect(String),
}

const USAGE: &str = "usage: demo [--listen URL | --connect URL], URL = tcp://HOST:PORT or ws://HOST:PORT[/PATH]";

impl Mode {
    fn from_args() -> Result<Mode, &'static str> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
            [] => Ok(Mode::Local),
            ["--listen", url] => Ok(Mode::Listen(url.to_owned())),
            ["--connect", url] => Ok(Mode::Connect(url.to_owned())),
            _ => Err(USAGE),
        }
    }
}

fn demo_options() -> MultiplexerOptions {
    // A quick heartbeat so the demo shows measured round trips.
    MultiplexerOptions { ping_interval: Some(Duration::from_millis(100)), ..Default::default() }
}

/// Connects to a listening demo; returns once the handshake is done.
fn connect(url: &str) -> Result<Multiplexer, Box<dyn std::error::Error>> {
    if let Some(addr) = url.strip_prefix("tcp://") {
        Ok(tcp::connect(addr, demo_options())?)
    } else if url.starts_with("ws://") {
        Ok(websocket_connect(url)?)
    } else {
        Err(USAGE.into())
    }
}

/// Accepts peers until killed, each on its own thread, echoing their channels.
fn listen(url: &str) -> Result<(), Box<dyn std::error::Error>> {
    let (websocket, addr) = match (url.strip_prefix("tcp://"), url.strip_prefix("ws://")) {
        (Some(addr), _) => (false, addr),
        (_, Some(rest)) => (true, rest.split('/').next().unwrap_or(rest)), // any path
        _ => return Err(USAGE.into()),
    };
    let listener = TcpListener::bind(addr)?;
    println!("listening on {}://{}", if websocket { "ws" } else { "tcp" }, listener.local_addr()?);
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(stream) => stream,
            Err(error) => {
                eprintln!("accept failed: {error}");
                continue;
            }
        };
        thread::spawn(move || {
            let peer = stream.peer_addr().map_or_else(|_| "?".to_owned(), |addr| addr.to_string());
            let mux = if websocket { websocket_accept(stream) } else { tcp::multiplexer(stream, demo_options()) };
            match mux {
                Ok(mux) => println!("{peer}: session ended: {}", common::serve(&mux)),
                Err(error) => eprintln!("{peer}: connection failed: {error}"),
            }
        });
    }
    Ok(())
}

#[cfg(feature = "websocket")]
fn websocket_connect(url: &str) -> netconduit::Result<Multiplexer> {
    netconduit::transport::websocket::connect(url, demo_options())
}

#[cfg(feature = "websocket")]
fn websocket_accept(stream: TcpStream) -> netconduit::Result<Multiplexer> {
    netconduit::transport::websocket::accept(stream, demo_options())
}

#[cfg(not(feature = "websocket"))]
const NO_WEBSOCKET: &str = "ws:// needs the websocket feature: cargo run --features websocket --example demo";

#[cfg(not(feature = "websocket"))]
fn websocket_connect(_: &str) -> netconduit::Result<Multiplexer> {
    Err(netconduit::Error::InvalidArgument(NO_WEBSOCKET.to_owned()))
}

#[cfg(not(feature = "websocket"))]
fn websocket_accept(_: TcpStream) -> netconduit::Result<Multiplexer> {
    Err(netconduit::Error::InvalidArgument(NO_WEBSOCKET.to_owned()))
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
    let start = |stream: TcpStream| -> io::Result<Multiplexer> {
        stream.set_nodelay(true)?;
        Ok(Multiplexer::new(stream.try_clone()?, stream, demo_options())?)
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
