//! The event log's rate limit, in userspace: which events get a log line. (The report counts
//! every event whatever this says; the kernel has its own limit on what it sends up.)
//!
//! Two token buckets must both have a token for a line to be written:
//! - one per (process, event kind), so one noisy process cannot use up the container's
//!   budget and starve the log of other processes' events (nor its DNS flood hide its own
//!   refused connects);
//! - one per container, which bounds the log's write rate whatever the number of processes.

use std::collections::HashMap;
use std::time::Instant;

/// Log lines per second and burst, per container.
pub const CONTAINER_RATE: f64 = 100.0;
pub const CONTAINER_BURST: f64 = 1000.0;
/// Log lines per second and burst, per (process, event kind).
pub const SOURCE_RATE: f64 = 10.0;
pub const SOURCE_BURST: f64 = 100.0;
/// Sources tracked at once (the map's bound); see [`LogRateLimit::allow`].
const MAX_SOURCES: usize = 1024;

/// A classic token bucket: `rate` tokens a second up to `burst`, starting full.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub fn new(rate: f64, burst: f64, now: Instant) -> TokenBucket {
        TokenBucket { rate, burst, tokens: burst, last: now }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
    }

    /// Whether a token is there (after refilling up to `now`), without taking it.
    pub fn has_token(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= 1.0
    }

    /// Takes a token if there is one.
    pub fn take(&mut self, now: Instant) -> bool {
        if self.has_token(now) {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Refilled to the brim: forgetting this bucket changes nothing.
    fn is_full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= self.burst
    }
}

/// The per-container limit with its per-source buckets (bounded in number).
pub struct LogRateLimit {
    container: TokenBucket,
    sources: HashMap<(u32, u8), TokenBucket>,
}

impl LogRateLimit {
    pub fn new(now: Instant) -> LogRateLimit {
        LogRateLimit { container: TokenBucket::new(CONTAINER_RATE, CONTAINER_BURST, now), sources: HashMap::new() }
    }

    /// Whether an event of `kind` (any small tag) from `pid` (None: unknown, one shared
    /// source) gets a log line now. A refusal takes no token from the other bucket.
    pub fn allow(&mut self, pid: Option<u32>, kind: u8, now: Instant) -> bool {
        let key = (pid.unwrap_or(0), kind);
        if !self.sources.contains_key(&key) && self.sources.len() >= MAX_SOURCES {
            // Forget the buckets that are full again (idle sources): nothing is lost. If all
            // are busy (more than MAX_SOURCES noisy processes), start over: they each get a
            // new burst, but the container's bucket still bounds the total.
            self.sources.retain(|_, bucket| !bucket.is_full(now));
            if self.sources.len() >= MAX_SOURCES {
                self.sources.clear();
            }
        }
        let source = self.sources.entry(key).or_insert_with(|| TokenBucket::new(SOURCE_RATE, SOURCE_BURST, now));
        if !source.has_token(now) || !self.container.has_token(now) {
            return false;
        }
        source.take(now) && self.container.take(now)
    }

    #[cfg(test)]
    fn sources(&self) -> usize {
        self.sources.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_bucket_gives_its_burst_then_its_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10.0, 5.0, t0);
        assert_eq!((0..20).filter(|_| b.take(t0)).count(), 5);
        // 0.25 s later: 2.5 tokens, so 2.
        let t1 = t0 + Duration::from_millis(250);
        assert_eq!((0..20).filter(|_| b.take(t1)).count(), 2);
        // A long pause refills only up to the burst.
        let t2 = t1 + Duration::from_secs(60);
        assert_eq!((0..20).filter(|_| b.take(t2)).count(), 5);
        // Time going backwards (it cannot, with Instant, but saturating) adds nothing.
        assert!(!b.take(t1));
    }

    #[test]
    fn one_noisy_process_cannot_starve_the_others() {
        let t0 = Instant::now();
        let mut limit = LogRateLimit::new(t0);
        let noisy = (0..10_000).filter(|_| limit.allow(Some(7), 1, t0)).count();
        assert_eq!(noisy as f64, SOURCE_BURST);
        // Its other kind of event has a bucket of its own; another process too.
        assert!(limit.allow(Some(7), 2, t0));
        assert!(limit.allow(Some(8), 1, t0));
    }

    #[test]
    fn the_container_bucket_bounds_many_processes() {
        let t0 = Instant::now();
        let mut limit = LogRateLimit::new(t0);
        let mut allowed = 0;
        for pid in 1..=100u32 {
            allowed += (0..50).filter(|_| limit.allow(Some(pid), 0, t0)).count();
        }
        assert_eq!(allowed as f64, CONTAINER_BURST);
        // One second later: the container's rate, no more.
        let t1 = t0 + Duration::from_secs(1);
        let more: usize = (1..=100u32).map(|pid| (0..50).filter(|_| limit.allow(Some(pid), 0, t1)).count()).sum();
        assert_eq!(more as f64, CONTAINER_RATE);
    }

    #[test]
    fn the_source_table_stays_bounded() {
        let t0 = Instant::now();
        let mut limit = LogRateLimit::new(t0);
        for pid in 0..(MAX_SOURCES as u32 * 5) {
            limit.allow(Some(pid), 0, t0 + Duration::from_millis(u64::from(pid)));
            assert!(limit.sources() <= MAX_SOURCES);
        }
    }
}
