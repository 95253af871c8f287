//! A token bucket per client address, so one source flooding well-formed fake references
//! cannot queue ahead of the gateway. The map is bounded: full buckets are forgotten first
//! (a full bucket is the same as none), then the least recently seen.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use tokio::time::Instant;

/// Requests per second a source may keep up, and how many it may send at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub per_second: u32,
    pub burst: u32,
}

impl Default for RateLimit {
    /// Far above what one shop's gateway sends (a notification per payment step).
    fn default() -> Self {
        Self {
            per_second: 20,
            burst: 40,
        }
    }
}

/// Sources remembered at once.
const MAX_SOURCES: usize = 4096;

/// What `RateLimiter::check` decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// `first`: this source was allowed until now (log it once per episode, not per request).
    Limited {
        first: bool,
    },
}

pub struct RateLimiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
    limited: bool,
}

impl RateLimiter {
    pub fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token from `source`'s bucket if it has one.
    pub fn check(&self, source: IpAddr) -> Verdict {
        let now = Instant::now();
        let rate = f64::from(self.limit.per_second.max(1));
        let burst = f64::from(self.limit.burst.max(1));
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_SOURCES && !buckets.contains_key(&source) {
            evict(&mut buckets, now, rate, burst);
        }
        let bucket = buckets.entry(source).or_insert(Bucket {
            tokens: burst,
            at: now,
            limited: false,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            bucket.limited = false;
            Verdict::Allowed
        } else {
            let first = !bucket.limited;
            bucket.limited = true;
            Verdict::Limited { first }
        }
    }

    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.buckets.lock().unwrap().len()
    }
}

fn evict(buckets: &mut HashMap<IpAddr, Bucket>, now: Instant, rate: f64, burst: f64) {
    let refilled =
        |b: &Bucket| b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate >= burst;
    buckets.retain(|_, b| !refilled(b));
    if buckets.len() >= MAX_SOURCES {
        if let Some(oldest) = buckets.iter().min_by_key(|(_, b)| b.at).map(|(ip, _)| *ip) {
            buckets.remove(&oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::time::Duration;

    fn ip(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(n))
    }

    #[tokio::test(start_paused = true)]
    async fn a_bucket_refills_at_the_rate_up_to_the_burst() {
        let limiter = RateLimiter::new(RateLimit {
            per_second: 10,
            burst: 3,
        });
        for _ in 0..3 {
            assert_eq!(limiter.check(ip(1)), Verdict::Allowed);
        }
        assert_eq!(limiter.check(ip(1)), Verdict::Limited { first: true });
        assert_eq!(limiter.check(ip(1)), Verdict::Limited { first: false });
        tokio::time::advance(Duration::from_millis(100)).await;
        assert_eq!(limiter.check(ip(1)), Verdict::Allowed);
        assert_eq!(limiter.check(ip(1)), Verdict::Limited { first: true });
        // A long pause refills only up to the burst.
        tokio::time::advance(Duration::from_secs(60)).await;
        for _ in 0..3 {
            assert_eq!(limiter.check(ip(1)), Verdict::Allowed);
        }
        assert_eq!(limiter.check(ip(1)), Verdict::Limited { first: true });
    }

    #[tokio::test(start_paused = true)]
    async fn the_sources_remembered_stay_bounded() {
        let limiter = RateLimiter::new(RateLimit {
            per_second: 1,
            burst: 2,
        });
        // Every source spends a token, so none is full and eviction takes the oldest.
        for n in 0..(MAX_SOURCES as u32 + 100) {
            assert_eq!(limiter.check(ip(n)), Verdict::Allowed);
            tokio::time::advance(Duration::from_micros(1)).await;
        }
        assert_eq!(limiter.remembered(), MAX_SOURCES);
        // A flooding source that stays busy is not the one forgotten.
        let flooder = ip(u32::MAX);
        limiter.check(flooder);
        limiter.check(flooder);
        assert_eq!(limiter.check(flooder), Verdict::Limited { first: true });
        for n in 0..50 {
            limiter.check(ip(1_000_000 + n));
        }
        assert!(matches!(limiter.check(flooder), Verdict::Limited { .. }));
    }
}
