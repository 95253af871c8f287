//! The simulator's scaled clock and the gateway's timestamp format.
//!
//! Sim time runs `scale` times faster than real time, so a month of the gateway's
//! retry schedule can pass in a few real seconds. Deadlines are computed in sim time
//! and converted to real `tokio` instants, so sleeping never accumulates drift.

use std::future::Future;
use std::time::Duration;

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::OffsetDateTime;

/// A clock whose sim time advances `scale` sim seconds per real second.
#[derive(Clone, Copy, Debug)]
pub struct SimClock {
    real_origin: tokio::time::Instant,
    sim_origin: OffsetDateTime,
    scale: f64,
}

impl SimClock {
    /// A clock that starts at the current UTC time. `scale` must be finite and > 0.
    pub fn new(scale: f64) -> Self {
        Self::starting_at(OffsetDateTime::now_utc(), scale)
    }

    /// A clock that reads `sim_origin` now and advances `scale` times real speed.
    pub fn starting_at(sim_origin: OffsetDateTime, scale: f64) -> Self {
        assert!(
            scale.is_finite() && scale > 0.0,
            "clock scale must be finite and positive"
        );
        Self {
            real_origin: tokio::time::Instant::now(),
            sim_origin,
            scale,
        }
    }

    /// Sim seconds per real second.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// The current sim time.
    pub fn now(&self) -> OffsetDateTime {
        let real = self.real_origin.elapsed().as_secs_f64();
        self.sim_origin + Duration::from_secs_f64(real * self.scale)
    }

    /// The same clock, `by` sim time later (time jumps forward; it never goes back).
    pub fn advanced(self, by: Duration) -> Self {
        Self {
            sim_origin: self.sim_origin + by,
            ..self
        }
    }

    /// How long `sim` lasts in real time.
    pub fn to_real(&self, sim: Duration) -> Duration {
        Duration::from_secs_f64(sim.as_secs_f64() / self.scale)
    }

    /// Sleep for a sim-time duration.
    pub fn sleep(&self, sim: Duration) -> impl Future<Output = ()> + Send + 'static {
        tokio::time::sleep(self.to_real(sim))
    }

    /// Sleep until the clock reads `at` (at once if that time has passed).
    pub fn sleep_until(&self, at: OffsetDateTime) -> impl Future<Output = ()> + Send + 'static {
        let since_origin = at - self.sim_origin;
        let real = if since_origin.is_negative() {
            Duration::ZERO
        } else {
            self.to_real(since_origin.unsigned_abs())
        };
        tokio::time::sleep_until(self.real_origin + real)
    }
}

/// Truncate to the gateway's 100 ns resolution (7 fractional digits).
pub fn truncate_to_tick(t: OffsetDateTime) -> OffsetDateTime {
    let nanos = t.nanosecond();
    t.replace_nanosecond(nanos - nanos % 100)
        .expect("truncated nanosecond stays in range")
}

/// Format as the gateway does: `2026-11-24T10:11:12.1234567Z` (UTC, 7 fractional digits).
pub fn format_wire(t: OffsetDateTime) -> String {
    let fmt =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:7]Z");
    t.to_offset(time::UtcOffset::UTC)
        .format(&fmt)
        .expect("a UTC date formats")
}

/// Parse any RFC 3339 timestamp (the gateway's fractional digits vary).
pub fn parse_wire(s: &str) -> Result<OffsetDateTime, time::error::Parse> {
    OffsetDateTime::parse(s, &Rfc3339)
}

/// `#[serde(with = "wire_time")]` for timestamps in the gateway's format.
pub mod wire_time {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::OffsetDateTime;

    pub fn serialize<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_wire(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_wire(&s).map_err(serde::de::Error::custom)
    }

    /// The same for `Option<OffsetDateTime>` (`null` when absent).
    pub mod option {
        use serde::{Deserialize, Deserializer, Serializer};
        use time::OffsetDateTime;

        pub fn serialize<S: Serializer>(
            t: &Option<OffsetDateTime>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => s.serialize_str(&super::super::format_wire(*t)),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<OffsetDateTime>, D::Error> {
            Option::<String>::deserialize(d)?
                .map(|s| super::super::parse_wire(&s).map_err(serde::de::Error::custom))
                .transpose()
        }
    }
}
