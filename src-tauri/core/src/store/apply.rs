//! The apply step of a confirmation, decided without a database: whether a gateway answer
//! is newer than what the store holds, which statuses it changes (the events a store
//! appends) and the words a settled delivery keeps. A backend reads what it holds, asks
//! this plan, and writes what the plan says.

use super::{Applied, StatusChange};
use crate::domain::{
    judge, JobSnapshot, OrderSummary, PaymentSnapshot, PaymentStatus, Seen, Timestamp, Verdict,
};

/// What a store holds of an order before an answer is applied.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldJob {
    pub status: PaymentStatus,
    /// The gateway's time of the answer held (`gateway_updated_at`).
    pub at: Option<Timestamp>,
}

/// What applying one gateway answer changes, built up as the store reads its attempts.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplyPlan {
    /// The answer is newer by the gateway's clock than the one held.
    clock_newer: bool,
    changes: Vec<StatusChange>,
}

impl ApplyPlan {
    /// The plan for `snap` against what is held (`None`: first seen). `None` when the
    /// answer is older than what is held: it changes nothing but when it was confirmed.
    pub fn start(held: Option<&HeldJob>, snap: &JobSnapshot) -> Option<Self> {
        let held_seen = held.map(|h| Seen {
            status: &h.status,
            at: h.at,
        });
        let incoming = Seen {
            status: &snap.status,
            at: snap.gateway_updated_at,
        };
        if judge(held_seen, incoming) == Verdict::Ignore {
            return None;
        }
        // Only a newer answer by the gateway's clock may move a payment back or sideways.
        let clock_newer = matches!(
            (held.and_then(|h| h.at), snap.gateway_updated_at),
            (Some(h), Some(i)) if i > h
        );
        let mut changes = Vec::new();
        let previous = held.map(|h| h.status.clone());
        if previous.as_ref() != Some(&snap.status) {
            changes.push(StatusChange {
                payment_ref: None,
                from: previous,
                to: snap.status.clone(),
            });
        }
        Some(Self {
            clock_newer,
            changes,
        })
    }

    /// Whether the store writes attempt `p`, whose status it holds as `before` (`None`:
    /// first seen); notes its status change when it writes one.
    pub fn payment(&mut self, before: Option<PaymentStatus>, p: &PaymentSnapshot) -> bool {
        if !self.clock_newer {
            let held = before.as_ref().map(|status| Seen { status, at: None });
            let answer = Seen {
                status: &p.status,
                at: None,
            };
            if judge(held, answer) == Verdict::Ignore {
                return false;
            }
        }
        if before.as_ref() != Some(&p.status) {
            self.changes.push(StatusChange {
                payment_ref: Some(p.payment_ref.clone()),
                from: before,
                to: p.status.clone(),
            });
        }
        true
    }

    /// The status changes so far, in order: the events the store appends.
    pub fn changes(&self) -> &[StatusChange] {
        &self.changes
    }

    /// What was applied, with the order as the store now holds it.
    pub fn applied(self, order: OrderSummary, money: Vec<super::MoneyChange>) -> Applied {
        Applied {
            stale: false,
            changes: self.changes,
            money,
            order,
        }
    }
}

impl Applied {
    /// An answer older than what is held: nothing changed.
    pub fn stale(order: OrderSummary) -> Self {
        Self {
            stale: true,
            changes: Vec::new(),
            money: Vec::new(),
            order,
        }
    }

    /// The outcome the deliveries this confirmation settles keep.
    pub fn confirmed_outcome(&self) -> String {
        if self.stale {
            format!(
                "confirmed: {} (an older answer was ignored)",
                self.order.status
            )
        } else {
            format!("confirmed: {}", self.order.status)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures::{job_snapshot, order, payment_snapshot};
    use crate::domain::PaymentRef;

    fn at(s: &str) -> Option<Timestamp> {
        Some(Timestamp::parse(s).unwrap())
    }

    fn snapshot(status: PaymentStatus, when: Option<Timestamp>) -> JobSnapshot {
        job_snapshot("100", status, when, Vec::new())
    }

    fn attempt(status: PaymentStatus) -> PaymentSnapshot {
        payment_snapshot("200", status, None)
    }

    #[test]
    fn a_first_answer_changes_the_order_from_nothing() {
        let plan = ApplyPlan::start(None, &snapshot(PaymentStatus::Paid, None)).unwrap();
        let change = &plan.changes()[0];
        assert_eq!(plan.changes().len(), 1);
        assert_eq!((&change.payment_ref, &change.from), (&None, &None));
        assert_eq!(change.to, PaymentStatus::Paid);
    }

    #[test]
    fn an_older_answer_is_stale_and_the_same_status_is_no_change() {
        let held = HeldJob {
            status: PaymentStatus::Paid,
            at: at("2026-01-02T00:00:00Z"),
        };
        let older = snapshot(PaymentStatus::Reserved, at("2026-01-01T00:00:00Z"));
        assert_eq!(ApplyPlan::start(Some(&held), &older), None);
        let same = snapshot(PaymentStatus::Paid, at("2026-01-03T00:00:00Z"));
        assert!(ApplyPlan::start(Some(&held), &same)
            .unwrap()
            .changes()
            .is_empty());
    }

    #[test]
    fn an_attempt_moves_back_only_on_an_answer_newer_by_the_clock() {
        let held = HeldJob {
            status: PaymentStatus::Reserved,
            at: None,
        };
        // No clock: a final attempt does not go back to reserved.
        let mut plan =
            ApplyPlan::start(Some(&held), &snapshot(PaymentStatus::Reserved, None)).unwrap();
        assert!(!plan.payment(Some(PaymentStatus::Paid), &attempt(PaymentStatus::Reserved)));
        assert!(plan.changes().is_empty());
        // Newer by the clock: it does, and the change is noted.
        let held = HeldJob {
            status: PaymentStatus::Reserved,
            at: at("2026-01-01T00:00:00Z"),
        };
        let newer = snapshot(PaymentStatus::Reserved, at("2026-01-02T00:00:00Z"));
        let mut plan = ApplyPlan::start(Some(&held), &newer).unwrap();
        assert!(plan.payment(Some(PaymentStatus::Paid), &attempt(PaymentStatus::Reserved)));
        // An unchanged attempt is written but is no change.
        assert!(plan.payment(
            Some(PaymentStatus::Reserved),
            &attempt(PaymentStatus::Reserved)
        ));
        let applied = plan.applied(
            order("100", PaymentStatus::Reserved, "2026-01-02T00:00:00Z"),
            Vec::new(),
        );
        assert!(!applied.stale);
        assert_eq!(
            applied.changes,
            [StatusChange {
                payment_ref: Some(PaymentRef::parse("200").unwrap()),
                from: Some(PaymentStatus::Paid),
                to: PaymentStatus::Reserved,
            }]
        );
    }

    #[test]
    fn the_outcome_says_when_an_older_answer_was_ignored() {
        let order = order("100", PaymentStatus::Paid, "2026-01-02T00:00:00Z");
        assert_eq!(
            Applied::stale(order.clone()).confirmed_outcome(),
            "confirmed: Paid (an older answer was ignored)"
        );
        let applied = ApplyPlan::start(None, &snapshot(PaymentStatus::Paid, None))
            .unwrap()
            .applied(order, Vec::new());
        assert_eq!(applied.confirmed_outcome(), "confirmed: Paid");
    }
}
