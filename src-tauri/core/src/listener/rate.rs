//! A junk bucket per source. What spends it is junk only (a malformed body, a refused
//! source, a reference the gateway does not know), never a well-formed notification, so a
//! gateway delivering its backlog at once is never turned away for volume, while a source
//! sending junk is soon answered 429 without a write. The map is bounded: full buckets are
//! forgotten first (a full bucket is the same as none), then the least recently seen.
//!
//! Hand-written rather than `governor` (which would add 5 crates): governor's keyed store
//! grows with every key until swept, and an IPv6 sender owns more /64s than any sweep
//! keeps up with; and its clock does not follow tokio's paused time, which the tests use.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;

use tokio::time::Instant;

/// How much junk a source may send at once, and how fast that allowance comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JunkLimit {
    pub per_minute: u32,
    pub burst: u32,
}

impl Default for JunkLimit {
    /// The gateway sends no junk; an owner testing by hand with curl stays far below this.
    fn default() -> Self {
        Self {
            per_minute: 60,
            burst: 30,
        }
    }
}

/// Sources remembered at once.
const MAX_SOURCES: usize = 4096;

/// The bucket a client address spends from: an IPv4 address, or an IPv6 address's /64
/// (one subscriber's network: its hosts can pick any address in it).
pub fn source_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
        v4 => v4,
    }
}

/// What `JunkLimiter::spend` decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// `first`: this source was allowed until now (log it once per episode, not per request).
    Limited {
        first: bool,
    },
}

pub struct JunkLimiter {
    limit: JunkLimit,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
    limited: bool,
}

impl JunkLimiter {
    pub fn new(limit: JunkLimit) -> Self {
        Self {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token from the bucket of `key` (a `source_key`) if it has one.
    pub fn spend(&self, key: IpAddr) -> Verdict {
        let now = Instant::now();
        let rate = f64::from(self.limit.per_minute.max(1)) / 60.0;
        let burst = f64::from(self.limit.burst.max(1));
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_SOURCES && !buckets.contains_key(&key) {
            evict(&mut buckets, now, rate, burst);
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
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
        let limiter = JunkLimiter::new(JunkLimit {
            per_minute: 600,
            burst: 3,
        });
        for _ in 0..3 {
            assert_eq!(limiter.spend(ip(1)), Verdict::Allowed);
        }
        assert_eq!(limiter.spend(ip(1)), Verdict::Limited { first: true });
        assert_eq!(limiter.spend(ip(1)), Verdict::Limited { first: false });
        assert_eq!(limiter.spend(ip(2)), Verdict::Allowed, "another source");
        // 600 a minute: one token every 100 ms.
        tokio::time::advance(Duration::from_millis(100)).await;
        assert_eq!(limiter.spend(ip(1)), Verdict::Allowed);
        assert_eq!(limiter.spend(ip(1)), Verdict::Limited { first: true });
        // A long pause refills only up to the burst.
        tokio::time::advance(Duration::from_secs(3600)).await;
        for _ in 0..3 {
            assert_eq!(limiter.spend(ip(1)), Verdict::Allowed);
        }
        assert_eq!(limiter.spend(ip(1)), Verdict::Limited { first: true });
    }

    #[tokio::test(start_paused = true)]
    async fn the_default_allows_a_burst_then_one_a_second() {
        let limiter = JunkLimiter::new(JunkLimit::default());
        for _ in 0..30 {
            assert_eq!(limiter.spend(ip(1)), Verdict::Allowed);
        }
        assert!(matches!(limiter.spend(ip(1)), Verdict::Limited { .. }));
        tokio::time::advance(Duration::from_millis(999)).await;
        assert!(matches!(limiter.spend(ip(1)), Verdict::Limited { .. }));
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(limiter.spend(ip(1)), Verdict::Allowed);
    }

    #[test]
    fn ipv6_is_keyed_by_its_64_and_ipv4_by_its_address() {
        let v6 = |s: &str| source_key(s.parse().unwrap());
        assert_eq!(
            v6("2001:db8:1:2::1"),
            v6("2001:db8:1:2:ffff:ffff:ffff:ffff")
        );
        assert_eq!(v6("2001:db8:1:2::1"), v6("2001:db8:1:2::"));
        assert_ne!(v6("2001:db8:1:2::1"), v6("2001:db8:1:3::1"));
        assert_eq!(v6("203.0.113.7"), "203.0.113.7".parse::<IpAddr>().unwrap());
        assert_ne!(v6("203.0.113.7"), v6("203.0.113.8"));
        // An IPv4 peer on an IPv6 socket is its IPv4 address, not a shared /64.
        assert_eq!(v6("::ffff:203.0.113.7"), v6("203.0.113.7"));
        assert_ne!(v6("::ffff:203.0.113.7"), v6("::ffff:203.0.113.8"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_64_flood_shares_one_bucket() {
        let limiter = JunkLimiter::new(JunkLimit {
            per_minute: 1,
            burst: 5,
        });
        let mut limited = 0;
        for host in 0..100u128 {
            let addr = IpAddr::V6(Ipv6Addr::from((0x2001_0db8_0000_0001_u128 << 64) | host));
            if limiter.spend(source_key(addr)) != Verdict::Allowed {
                limited += 1;
            }
        }
        assert_eq!(limited, 95);
        assert_eq!(limiter.remembered(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn the_sources_remembered_stay_bounded() {
        let limiter = JunkLimiter::new(JunkLimit {
            per_minute: 60,
            burst: 2,
        });
        // Every source spends a token, so none is full and eviction takes the oldest.
        for n in 0..(MAX_SOURCES as u32 + 100) {
            assert_eq!(limiter.spend(ip(n)), Verdict::Allowed);
            tokio::time::advance(Duration::from_micros(1)).await;
        }
        assert_eq!(limiter.remembered(), MAX_SOURCES);
        // A flooding source that stays busy is not the one forgotten.
        let flooder = ip(u32::MAX);
        limiter.spend(flooder);
        limiter.spend(flooder);
        assert_eq!(limiter.spend(flooder), Verdict::Limited { first: true });
        for n in 0..50 {
            limiter.spend(ip(1_000_000 + n));
        }
        assert!(matches!(limiter.spend(flooder), Verdict::Limited { .. }));
    }
}
