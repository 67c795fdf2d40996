//! Liveness (PROTOCOL.md section 5): PING every `interval`, each answer allowed
//! `timeout`; `max_missed` unanswered pings in a row mean the connection is dead.
//!
//! After a missed ping the next one goes out at once, so a dead link is declared
//! within `interval + max_missed × timeout` of the last sign of life. Timestamps
//! are microseconds since the session started on this side's own clock, strictly
//! increasing, so a PONG tells both which ping it answers and the round-trip time.
//! Pure state: the session passes the time in and arms the timers it returns.

use super::timer::{Timer, Timers};
use std::time::{Duration, Instant};

/// Heartbeat settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeartbeatConfig {
    /// Time between pings; `None` turns the heartbeat off (PINGs are still answered).
    pub interval: Option<Duration>,
    /// How long each ping waits for its PONG.
    pub timeout: Duration,
    /// Unanswered pings in a row that mean the connection is dead.
    pub max_missed: u32,
}

/// What the heartbeat wants done after a timer fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Beat {
    /// Nothing.
    Idle,
    /// Send PING with this timestamp.
    Ping(u64),
    /// The connection is dead after this many missed pings.
    Dead(u32),
}

/// Round-trip measurements.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RttStats {
    /// The last measured round trip.
    pub last: Option<Duration>,
    /// Smoothed round trip (RFC 6298 style, gain 1/8).
    pub smoothed: Option<Duration>,
    /// Pings unanswered in a row now.
    pub missed: u32,
    /// Pings sent by the heartbeat and by `ping()`.
    pub pings_sent: u64,
    /// PONGs received.
    pub pongs_received: u64,
}

/// Heartbeat state of one session.
#[derive(Debug)]
pub struct Heartbeat {
    config: HeartbeatConfig,
    epoch: Instant,
    last_timestamp: u64,
    /// The heartbeat's own unanswered ping.
    outstanding: Option<u64>,
    stats: RttStats,
}

impl Heartbeat {
    /// Heartbeat state with `epoch` as time zero for timestamps.
    pub fn new(config: HeartbeatConfig, epoch: Instant) -> Self {
        Heartbeat { config, epoch, last_timestamp: 0, outstanding: None, stats: RttStats::default() }
    }

    /// Arms the first ping once the connection is up.
    pub fn start(&self, now: Instant, timers: &mut Timers) {
        if let Some(interval) = self.config.interval {
            timers.set(Timer::Ping, now + interval);
        }
    }

    /// A fresh, strictly increasing timestamp for a PING sent at `now`.
    pub fn timestamp(&mut self, now: Instant) -> u64 {
        let micros = now.saturating_duration_since(self.epoch).as_micros() as u64;
        self.last_timestamp = micros.max(self.last_timestamp + 1);
        self.stats.pings_sent += 1;
        self.last_timestamp
    }

    /// The ping timer fired.
    pub fn on_ping_timer(&mut self, now: Instant, timers: &mut Timers) -> Beat {
        let Some(interval) = self.config.interval else { return Beat::Idle };
        timers.set(Timer::Ping, now + interval);
        if self.outstanding.is_some() {
            return Beat::Idle; // its own timeout decides
        }
        self.send(now, timers)
    }

    /// The outstanding ping's timeout fired.
    pub fn on_ping_timeout(&mut self, now: Instant, timers: &mut Timers) -> Beat {
        if self.outstanding.take().is_none() {
            return Beat::Idle;
        }
        self.stats.missed += 1;
        if self.stats.missed >= self.config.max_missed {
            return Beat::Dead(self.stats.missed);
        }
        self.send(now, timers)
    }

    fn send(&mut self, now: Instant, timers: &mut Timers) -> Beat {
        let timestamp = self.timestamp(now);
        self.outstanding = Some(timestamp);
        timers.set(Timer::PingTimeout, now + self.config.timeout);
        Beat::Ping(timestamp)
    }

    /// A PONG arrived: the peer is alive. Returns the round trip of the ping it
    /// answers, if the timestamp is one this side could have sent.
    pub fn on_pong(&mut self, timestamp: u64, now: Instant, timers: &mut Timers) -> Option<Duration> {
        if timestamp == 0 || timestamp > self.last_timestamp {
            return None; // not ours: ignore rather than trust it
        }
        self.stats.pongs_received += 1;
        self.stats.missed = 0;
        if self.outstanding.take().is_some() {
            timers.clear(Timer::PingTimeout);
        }
        let sent = self.epoch + Duration::from_micros(timestamp);
        let rtt = now.saturating_duration_since(sent);
        self.stats.last = Some(rtt);
        self.stats.smoothed = Some(match self.stats.smoothed {
            Some(smoothed) => (smoothed * 7 + rtt) / 8,
            None => rtt,
        });
        Some(rtt)
    }

    /// Round-trip statistics.
    pub fn stats(&self) -> RttStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTERVAL: Duration = Duration::from_secs(30);
    const TIMEOUT: Duration = Duration::from_secs(10);

    fn heartbeat(t0: Instant) -> (Heartbeat, Timers) {
        let config = HeartbeatConfig { interval: Some(INTERVAL), timeout: TIMEOUT, max_missed: 3 };
        let heartbeat = Heartbeat::new(config, t0);
        let mut timers = Timers::default();
        heartbeat.start(t0, &mut timers);
        (heartbeat, timers)
    }

    /// Runs the heartbeat on a virtual clock, answering no ping.
    fn run_silent(heartbeat: &mut Heartbeat, timers: &mut Timers) -> Instant {
        loop {
            let now = timers.next().expect("a timer is armed");
            while let Some(timer) = timers.pop_expired(now) {
                let beat = match timer {
                    Timer::Ping => heartbeat.on_ping_timer(now, timers),
                    Timer::PingTimeout => heartbeat.on_ping_timeout(now, timers),
                    _ => Beat::Idle,
                };
                if let Beat::Dead(missed) = beat {
                    assert_eq!(missed, 3);
                    return now;
                }
            }
        }
    }

    #[test]
    fn silent_peer_is_dead_after_interval_plus_missed_timeouts() {
        let t0 = Instant::now();
        let (mut heartbeat, mut timers) = heartbeat(t0);
        let dead_at = run_silent(&mut heartbeat, &mut timers);
        assert_eq!(dead_at - t0, INTERVAL + 3 * TIMEOUT);
        assert_eq!(heartbeat.stats().pings_sent, 3);
    }

    #[test]
    fn pong_measures_rtt_and_resets_missed() {
        let t0 = Instant::now();
        let (mut heartbeat, mut timers) = heartbeat(t0);
        let t1 = t0 + INTERVAL;
        let Beat::Ping(ts) = heartbeat.on_ping_timer(t1, &mut timers) else { panic!("no ping") };
        let t2 = t1 + TIMEOUT;
        let Beat::Ping(ts2) = heartbeat.on_ping_timeout(t2, &mut timers) else { panic!("no ping") };
        assert_eq!(heartbeat.stats().missed, 1);
        assert!(ts2 > ts);
        let rtt = heartbeat.on_pong(ts2, t2 + Duration::from_millis(5), &mut timers);
        assert_eq!(rtt, Some(Duration::from_millis(5)));
        assert_eq!(heartbeat.stats().missed, 0);
        assert_eq!(timers.get(Timer::PingTimeout), None);
        // A timestamp this side never sent is ignored.
        assert_eq!(heartbeat.on_pong(u64::MAX, t2, &mut timers), None);
    }

    #[test]
    fn disabled_heartbeat_never_pings() {
        let t0 = Instant::now();
        let config = HeartbeatConfig { interval: None, timeout: TIMEOUT, max_missed: 3 };
        let mut heartbeat = Heartbeat::new(config, t0);
        let mut timers = Timers::default();
        heartbeat.start(t0, &mut timers);
        assert_eq!(timers.next(), None);
        assert_eq!(heartbeat.on_ping_timer(t0, &mut timers), Beat::Idle);
    }
}
