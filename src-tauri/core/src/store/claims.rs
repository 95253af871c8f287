//! A worker's claim on the delivery inbox, decided without a database: when a claim runs
//! out, the order claimed deliveries are worked in, and the failure run a pending row
//! holds. A backend runs the claiming statement.

use super::{Claim, PendingDelivery};
use crate::domain::{Failing, FailureClass, Timestamp};

impl Claim {
    /// When a claim made or renewed at `now` runs out: until then no other worker takes
    /// what it holds.
    pub fn until(&self, now: Timestamp) -> Timestamp {
        now.plus(self.lease)
    }
}

/// Claimed deliveries as the worker reads them: oldest first (a claiming statement
/// returns its rows in no order).
pub fn oldest_first(claimed: &mut [PendingDelivery]) {
    claimed.sort_by_key(|d| d.id);
}

/// The failure run a pending row holds: a class and a start together, with its attempts;
/// `None` when it is in none.
pub fn failure_run(
    class: Option<FailureClass>,
    since: Option<Timestamp>,
    attempts: u32,
) -> Option<Failing> {
    class.zip(since).map(|(class, since)| Failing {
        class,
        since,
        attempts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{JobRef, PaymentRef};
    use crate::store::WorkerId;
    use std::time::Duration;

    #[test]
    fn a_claim_runs_out_a_lease_after_it_was_made() {
        let claim = Claim {
            worker: WorkerId::new(),
            lease: Duration::from_secs(30),
        };
        let now = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
        assert_eq!(
            claim.until(now),
            Timestamp::parse("2026-01-01T00:00:30Z").unwrap()
        );
    }

    #[test]
    fn claimed_deliveries_are_worked_oldest_first() {
        let delivery = |id| PendingDelivery {
            id,
            job_ref: JobRef::parse("100").unwrap(),
            payment_ref: PaymentRef::parse("200").unwrap(),
            failing: None,
        };
        let mut claimed = vec![delivery(3), delivery(1), delivery(2)];
        oldest_first(&mut claimed);
        assert_eq!(claimed.iter().map(|d| d.id).collect::<Vec<_>>(), [1, 2, 3]);
    }

    #[test]
    fn a_failure_run_needs_its_class_and_its_start() {
        let since = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
        let class = FailureClass::Transient;
        assert_eq!(failure_run(None, Some(since), 2), None);
        assert_eq!(failure_run(Some(class), None, 2), None);
        assert_eq!(
            failure_run(Some(class), Some(since), 2),
            Some(Failing {
                class,
                since,
                attempts: 2
            })
        );
    }
}
