use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// A UTC instant at the gateway's own resolution, 100 ns: its `…57.0012345Z` is kept
/// whole, so an answer carrying exactly the time we hold compares as equal, not newer.
/// Finer input (our own clock's nanoseconds) is cut to the same tick, so what we write
/// and read back is the value we compared. Written with exactly seven fractional digits
/// so that stored strings sort in time order; read with any number of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

/// Nanoseconds in one gateway tick.
const TICK_NANOS: i128 = 100;

const STORED: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:7]Z"
);

/// `2026-11-24T10:11:56` with up to nine optional fractional digits and no offset.
const NO_OFFSET: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
);

impl Timestamp {
    /// Cut to the 100 ns tick, in UTC (earlier, for times before 1970).
    fn ticked(t: OffsetDateTime) -> Self {
        let t = t.to_offset(UtcOffset::UTC);
        let nanos = t.unix_timestamp_nanos();
        Self(
            OffsetDateTime::from_unix_timestamp_nanos(nanos - nanos.rem_euclid(TICK_NANOS))
                .unwrap_or(t),
        )
    }

    pub fn now() -> Self {
        Self::ticked(OffsetDateTime::now_utc())
    }

    /// RFC 3339 with its offset: what we store, and what an owner's filter must say.
    pub fn parse(s: &str) -> Result<Self, time::error::Parse> {
        OffsetDateTime::parse(s, &Rfc3339).map(Self::ticked)
    }

    /// As `parse`, but a time without an offset is UTC: the gateway sends both kinds.
    pub fn parse_gateway(s: &str) -> Result<Self, time::error::Parse> {
        Self::parse(s).or_else(|e| {
            PrimitiveDateTime::parse(s, NO_OFFSET)
                .map(|t| Self::ticked(t.assume_utc()))
                .map_err(|_| e)
        })
    }

    /// An instant from the clock of a store or library (cut to the tick).
    pub fn from_datetime(t: OffsetDateTime) -> Self {
        Self::ticked(t)
    }

    pub fn from_unix_millis(ms: i64) -> Self {
        Self(
            OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH),
        )
    }

    /// 100 ns ticks since 1970 (what a store without 100 ns times keeps; an i64 holds
    /// some 29,000 years either side).
    pub fn unix_ticks(self) -> i64 {
        (self.0.unix_timestamp_nanos() / TICK_NANOS) as i64
    }

    pub fn from_unix_ticks(ticks: i64) -> Self {
        Self(
            OffsetDateTime::from_unix_timestamp_nanos(i128::from(ticks) * TICK_NANOS)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH),
        )
    }

    pub fn unix_millis(self) -> i64 {
        (self.0.unix_timestamp_nanos() / 1_000_000) as i64
    }

    pub fn inner(self) -> OffsetDateTime {
        self.0
    }

    /// How long after `earlier` this is (zero if it is not after it).
    pub fn since(self, earlier: Timestamp) -> std::time::Duration {
        (self.0 - earlier.0).try_into().unwrap_or_default()
    }

    pub fn plus(self, d: std::time::Duration) -> Timestamp {
        Self::ticked(
            self.0
                .saturating_add(d.try_into().unwrap_or(time::Duration::MAX)),
        )
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0.format(STORED).map_err(|_| fmt::Error)?;
        f.write_str(&s)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // JSON timestamps come from the gateway's answers (or are our own, with an offset).
        let s = String::deserialize(d)?;
        Timestamp::parse_gateway(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_seven_fractional_digits_and_writes_sortable_text() {
        let a = Timestamp::parse("2026-11-24T10:11:56.9346867Z").unwrap();
        let b = Timestamp::parse("2026-11-24T10:11:57Z").unwrap();
        assert!(a < b);
        assert_eq!(a.to_string(), "2026-11-24T10:11:56.9346867Z");
        assert!(a.to_string() < b.to_string());
        assert_eq!(
            Timestamp::parse(&a.to_string()).unwrap().to_string(),
            a.to_string()
        );
    }

    #[test]
    fn gateway_times_without_an_offset_are_utc() {
        let plain = Timestamp::parse_gateway("2026-11-24T10:11:56").unwrap();
        assert_eq!(plain, Timestamp::parse("2026-11-24T10:11:56Z").unwrap());
        let seven = Timestamp::parse_gateway("2026-11-24T10:11:56.9346867").unwrap();
        assert_eq!(seven.to_string(), "2026-11-24T10:11:56.9346867Z");
        let offset = Timestamp::parse_gateway("2026-11-24T11:11:56.5+01:00").unwrap();
        assert_eq!(offset.to_string(), "2026-11-24T10:11:56.5000000Z");
        let t: Timestamp = serde_json::from_str("\"2026-11-24T10:11:56.1\"").unwrap();
        assert_eq!(t.to_string(), "2026-11-24T10:11:56.1000000Z");
        for bad in ["2026-11-24", "yesterday", "2026-11-24T10:11:56+", ""] {
            assert!(Timestamp::parse_gateway(bad).is_err(), "{bad}");
        }
        // An owner's filter still says which zone it means.
        assert!(Timestamp::parse("2026-11-24T10:11:56").is_err());
    }

    #[test]
    fn the_seventh_digit_orders_and_survives_text_and_ticks() {
        let t = Timestamp::parse("2026-11-24T10:11:57.0012345Z").unwrap();
        let same = Timestamp::parse_gateway("2026-11-24T10:11:57.0012345").unwrap();
        let next = Timestamp::parse("2026-11-24T10:11:57.0012346Z").unwrap();
        assert_eq!(t, same);
        assert!(next > t);
        assert!(next.to_string() > t.to_string());
        for x in [t, next] {
            assert_eq!(Timestamp::parse(&x.to_string()).unwrap(), x);
            assert_eq!(Timestamp::from_unix_ticks(x.unix_ticks()), x);
        }
        assert_eq!(next.unix_ticks() - t.unix_ticks(), 1);
        // Finer than the gateway's tick is cut to it, so nothing we hold is "newer" than
        // what we wrote and read back.
        let nine = Timestamp::parse("2026-11-24T10:11:57.001234599Z").unwrap();
        assert_eq!(nine, t);
        let before_1970 = Timestamp::parse("1969-12-31T23:59:59.99999995Z").unwrap();
        assert_eq!(before_1970.to_string(), "1969-12-31T23:59:59.9999999Z");
        assert_eq!(
            Timestamp::from_unix_ticks(before_1970.unix_ticks()),
            before_1970
        );
    }
}
