//! Which places of the shared store's change log a follower has handled, so a change read
//! back after a gap (a dropped LISTEN connection, a lagging receiver) is told once.
//!
//! Places are given out when a transaction writes its change, not when it commits: two
//! writers commit out of order (6 is seen before 5), and a rolled-back transaction leaves
//! a hole for ever. So the cursor keeps every place it handled above its `floor` (the
//! highest place below which everything was handled), and gives a hole up only after
//! `HOLE_LIFE`, longer than a write transaction lasts.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::time::Instant;

/// How long a hole in the log is waited for before it is taken as a rolled-back write.
pub const HOLE_LIFE: Duration = Duration::from_secs(300);

/// Handled places at or below the floor still remembered, for a change told twice (live
/// and read back) a while apart.
const KEEP_BELOW: usize = 4096;

#[derive(Debug, Clone)]
pub struct ChangeCursor {
    floor: i64,
    handled: BTreeSet<i64>,
    /// When the floor stopped at the hole above it.
    stuck_since: Option<Instant>,
}

impl ChangeCursor {
    /// A cursor that has handled every place up to `seq`.
    pub fn after(seq: i64) -> Self {
        Self {
            floor: seq,
            handled: BTreeSet::new(),
            stuck_since: None,
        }
    }

    /// Where a catch-up reads the log from: every place up to here was handled (or given
    /// up as a rolled-back write).
    pub fn floor(&self) -> i64 {
        self.floor
    }

    /// Marks `seq` handled at `now`; `false` when it already was: a change read back that
    /// was told live, or the other way round.
    pub fn take(&mut self, seq: i64, now: Instant) -> bool {
        if !self.handled.insert(seq) {
            return false;
        }
        self.advance(now);
        true
    }

    fn advance(&mut self, now: Instant) {
        loop {
            if self.handled.contains(&(self.floor + 1)) {
                self.floor += 1;
                self.stuck_since = None;
                continue;
            }
            let Some(&next) = self.handled.range(self.floor + 1..).next() else {
                break;
            };
            // A hole: a write still committing, or one rolled back.
            match self.stuck_since {
                None => {
                    self.stuck_since = Some(now);
                    break;
                }
                Some(since) if now.duration_since(since) >= HOLE_LIFE => {
                    tracing::debug!(
                        from = self.floor + 1,
                        to = next - 1,
                        "gave up a hole in the change log"
                    );
                    self.floor = next - 1;
                    self.stuck_since = None;
                }
                Some(_) => break,
            }
        }
        while self.handled.len() > KEEP_BELOW
            && self.handled.first().is_some_and(|&s| s <= self.floor)
        {
            self.handled.pop_first();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_place_is_taken_once_and_the_floor_follows_what_is_handled() {
        let now = Instant::now();
        let mut c = ChangeCursor::after(10);
        assert!(c.take(11, now));
        assert!(!c.take(11, now), "told twice");
        assert_eq!(c.floor(), 11);
        // Out of order: 13 commits before 12.
        assert!(c.take(13, now));
        assert_eq!(c.floor(), 11, "12 may still commit");
        assert!(c.take(12, now));
        assert_eq!(c.floor(), 13);
        assert!(!c.take(12, now) && !c.take(13, now));
    }

    #[test]
    fn a_hole_is_kept_open_for_its_life_then_given_up() {
        let start = Instant::now();
        let mut c = ChangeCursor::after(0);
        assert!(c.take(1, start));
        assert!(c.take(3, start));
        assert!(c.take(4, start + Duration::from_secs(10)));
        assert_eq!(c.floor(), 1, "2 may still commit: a catch-up reads it");
        assert!(c.take(5, start + HOLE_LIFE - Duration::from_secs(1)));
        assert_eq!(c.floor(), 1);
        assert!(c.take(7, start + HOLE_LIFE));
        assert_eq!(c.floor(), 5, "2 was rolled back; 6 is a new hole");
        // A write that commits after all is still told, once.
        assert!(c.take(2, start + HOLE_LIFE));
        assert!(!c.take(2, start + HOLE_LIFE));
        assert!(c.take(6, start + HOLE_LIFE));
        assert_eq!(c.floor(), 7);
    }

    #[test]
    fn what_is_remembered_below_the_floor_is_bounded() {
        let now = Instant::now();
        let mut c = ChangeCursor::after(0);
        for seq in 1..=10_000 {
            assert!(c.take(seq, now));
        }
        assert_eq!(c.floor(), 10_000);
        assert_eq!(c.handled.len(), KEEP_BELOW);
        assert!(
            !c.take(10_000 - KEEP_BELOW as i64 + 1, now),
            "recent: told once"
        );
    }
}
