//! The owner's money actions on one order (refund, cancel, capture, capture-and-ship) as
//! core API methods: resolve the order exactly (as `ship` does), bring the store up to
//! the gateway's word, record every planned request in the store before it is sent (the
//! store's balance check is what stops two machines refunding one order twice), run the
//! orchestration in `money`, then confirm the job again so the store shows the result.

use crate::domain::{
    refundable_balance, Amount, ChangeSource, JobRef, MoneyPlan, MoveKind, OrderDetail,
    PlannedMove, Timestamp,
};
use crate::gateway::GatewayClient;
use crate::pipeline::{mismatch, CoreEvent};
use crate::store::{MoneyRequest, Store};

use super::money::{
    cancel_order, capture_order, refund_order, FollowPolicy, MoneyActionError, MoneyOutcome,
    MoneyReport,
};
use super::{AppError, Tillwatch};

/// What capture-and-ship did: the capture's report, and the shipped order when the
/// capture completed (nothing ships otherwise).
#[derive(Debug, Clone)]
pub struct CaptureAndShip {
    pub capture: MoneyReport,
    pub shipped: Option<OrderDetail>,
}

/// The store's records of a plan's requests, before any is sent: refunds with the
/// balance the owner's plan was made against (less the refunds before it in the plan),
/// captures and payment cancels under a number of their own.
pub fn money_requests(
    plan: &MoneyPlan,
    seen: Amount,
    by: &str,
    now: Timestamp,
) -> Vec<MoneyRequest> {
    let mut left = seen.decimal();
    let mut out = Vec::new();
    for (n, planned) in plan.moves.iter().enumerate() {
        let (payment_ref, kind, number, amount, refundable_seen) = match planned {
            PlannedMove::Refund {
                payment,
                amount,
                refund_number,
            } => {
                let before = Amount::new(left);
                left -= amount.decimal();
                (
                    payment.clone(),
                    MoveKind::Refund,
                    refund_number.clone(),
                    *amount,
                    Some(before),
                )
            }
            PlannedMove::Capture {
                payment,
                amount,
                reserved,
            } => (
                payment.clone(),
                MoveKind::Capture,
                format!("capture-{}-{}-{n}", plan.job_ref, now.unix_millis()),
                amount.or(*reserved).unwrap_or_default(),
                None,
            ),
            // A cancel is not a money move the store keeps; the job's next confirmation
            // shows it, and its audit entry comes from there.
            PlannedMove::CancelPayment { .. } | PlannedMove::CancelJob => continue,
        };
        out.push(MoneyRequest {
            job_ref: plan.job_ref.clone(),
            payment_ref,
            kind,
            number,
            amount,
            by: Some(by.to_owned()),
            refundable_seen,
        });
    }
    out
}

fn action_error(e: MoneyActionError) -> AppError {
    match e {
        MoneyActionError::Gateway(g) => AppError::Gateway(g),
        other => AppError::Invalid(other.to_string()),
    }
}

enum Action {
    Refund(Option<Amount>),
    Capture(Option<Amount>),
    Cancel,
}

impl<S: Store> Tillwatch<S> {
    /// Refunds `amount` (`None`: the whole refundable balance) of the order `query`
    /// names exactly; a same-day payment's full refund goes as a cancel.
    pub async fn refund(
        &self,
        gateway: &GatewayClient,
        query: &str,
        amount: Option<Amount>,
        reason: Option<String>,
        follow: FollowPolicy,
    ) -> Result<MoneyReport, AppError> {
        let mut report = self
            .move_money(gateway, query, Action::Refund(amount), follow)
            .await?;
        if let Some(reason) = reason.filter(|r| !r.trim().is_empty()) {
            report
                .notes
                .push(format!("Reason given: {}", reason.trim()));
        }
        Ok(report)
    }

    /// Captures a Reserved order's reservation (`amount` only where partial capture is
    /// allowed) and waits for it to complete.
    pub async fn capture(
        &self,
        gateway: &GatewayClient,
        query: &str,
        amount: Option<Amount>,
        follow: FollowPolicy,
    ) -> Result<MoneyReport, AppError> {
        self.move_money(gateway, query, Action::Capture(amount), follow)
            .await
    }

    /// Cancels an unsettled payment, voids a reservation, or cancels an unpaid job.
    pub async fn cancel(
        &self,
        gateway: &GatewayClient,
        query: &str,
    ) -> Result<MoneyReport, AppError> {
        self.move_money(gateway, query, Action::Cancel, FollowPolicy::default())
            .await
    }

    /// "Capture and ship": captures first and ships only once the capture completed;
    /// both land in the audit trail. A capture that did not complete ships nothing.
    pub async fn capture_and_ship(
        &self,
        gateway: &GatewayClient,
        query: &str,
        note: Option<String>,
        follow: FollowPolicy,
    ) -> Result<CaptureAndShip, AppError> {
        let capture = self.capture(gateway, query, None, follow).await?;
        let shipped = match capture.outcome {
            MoneyOutcome::Completed => Some(self.ship(query, note).await?),
            _ => None,
        };
        Ok(CaptureAndShip { capture, shipped })
    }

    async fn move_money(
        &self,
        gateway: &GatewayClient,
        query: &str,
        action: Action,
        follow: FollowPolicy,
    ) -> Result<MoneyReport, AppError> {
        let job = self.resolve(query).await?;
        // The balance the plan is made against is the gateway's; the store takes it first
        // so that its check inside the record is against the same word.
        let seen = refundable_balance(&self.confirm_job(gateway, &job).await?);
        let now = Timestamp::now();
        let by = self.actor.clone();
        let store = self.store.clone();
        let record = move |plan: &MoneyPlan| {
            let requests = money_requests(plan, seen, &by, now);
            async move {
                for req in requests {
                    store.record_money_request(req).await?;
                }
                Ok::<(), crate::store::StoreError>(())
            }
        };
        let report = match action {
            Action::Refund(amount) => {
                refund_order(gateway, &job, amount, now, follow, record).await
            }
            Action::Capture(amount) => {
                capture_order(gateway, &job, amount, now, follow, record).await
            }
            Action::Cancel => cancel_order(gateway, &job, now, record).await,
        }
        .map_err(action_error)?;
        // What was sent shows in the store at once, not at the reconciler's next round.
        if report.plan.is_some() {
            if let Err(e) = self.confirm_job(gateway, &job).await {
                tracing::warn!(job = %job, error = %e, "could not confirm the order after moving money");
            }
        }
        Ok(report)
    }

    /// Asks the gateway about the job and applies its answer, as the reconciler does.
    async fn confirm_job(
        &self,
        gateway: &GatewayClient,
        job: &JobRef,
    ) -> Result<crate::domain::JobSnapshot, AppError> {
        let snapshot = gateway.retrieve_job(job).await?.into_snapshot();
        let expected = self.store.expectation(job).await?;
        let flag = mismatch(expected.as_ref(), &snapshot);
        let applied = self
            .store
            .apply_snapshot(snapshot.clone(), ChangeSource::Poll, flag, None)
            .await?;
        for event in CoreEvent::all_from_applied(&applied, ChangeSource::Poll) {
            self.bus.publish(event);
        }
        Ok(snapshot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PaymentRef;

    fn amount(s: &str) -> Amount {
        s.parse().unwrap()
    }

    #[test]
    fn each_refund_is_recorded_against_the_balance_left_by_the_ones_before_it() {
        let job_ref = JobRef::parse("1234567890123456789").unwrap();
        let refund = |p: &str, a: &str, n: &str| PlannedMove::Refund {
            payment: PaymentRef::parse(p).unwrap(),
            amount: amount(a),
            refund_number: n.to_owned(),
        };
        let plan = MoneyPlan {
            job_ref: job_ref.clone(),
            currency: None,
            moves: vec![
                refund("9000000000000000001", "6.00", "R-1"),
                refund("9000000000000000002", "2.00", "R-2"),
                PlannedMove::CancelJob,
            ],
            note: None,
        };
        let reqs = money_requests(&plan, amount("10.00"), "ana@till", Timestamp::now());
        assert_eq!(reqs.len(), 2, "a cancel is not recorded as a money move");
        assert_eq!(reqs[0].refundable_seen, Some(amount("10.00")));
        assert_eq!(reqs[1].refundable_seen, Some(amount("4.00")));
        assert_eq!(reqs[1].number, "R-2");
        assert_eq!(reqs[0].by.as_deref(), Some("ana@till"));
        assert!(reqs
            .iter()
            .all(|r| r.kind == MoveKind::Refund && r.job_ref == job_ref));
    }
}
