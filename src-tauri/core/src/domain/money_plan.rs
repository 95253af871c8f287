//! What Tillwatch means to send to move an order's money, worked out from a fresh
//! gateway answer before anything is sent: the plan is recorded, then carried out move by
//! move. Capture and cancel are planned here; refunds in `refund`. A plan that cannot be
//! made is a sentence for the owner.

use super::settlement::{capture_deadline, date_in_words, is_settled, paid_at, settles_at};
use super::{Amount, Currency, JobRef, JobSnapshot, PaymentRef, PaymentStatus, Timestamp};

/// One request to the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlannedMove {
    /// Refund `amount` of a settled payment under a new, unique `refund_number`.
    Refund {
        payment: PaymentRef,
        amount: Amount,
        refund_number: String,
    },
    /// Cancel an unsettled payment or a reservation, in full (`amount` is what it held).
    CancelPayment {
        payment: PaymentRef,
        amount: Option<Amount>,
    },
    /// Cancel a job nobody has paid.
    CancelJob,
    /// Capture a reservation; `amount: None` takes all of it (cards take only that).
    Capture {
        payment: PaymentRef,
        amount: Option<Amount>,
        reserved: Option<Amount>,
    },
}

/// Every request one owner's action sends, in order, and what to tell the owner first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoneyPlan {
    pub job_ref: JobRef,
    pub currency: Option<Currency>,
    pub moves: Vec<PlannedMove>,
    /// Said before the owner confirms (a refund spread over payments, a refund sent as a
    /// cancel), if anything needs saying.
    pub note: Option<String>,
}

/// "10.00 GBP", or the bare amount when the currency is unknown.
pub(super) fn money(amount: Amount, currency: Option<&Currency>) -> String {
    match currency {
        Some(c) => format!("{} {c}", amount.display_in(c)),
        None => amount.to_string(),
    }
}

/// Capture a Reserved order's reservation, in full, before its deadline.
pub fn plan_capture(
    job: &JobSnapshot,
    amount: Option<Amount>,
    now: Timestamp,
) -> Result<MoneyPlan, String> {
    let job_ref = &job.job_ref;
    if job.status != PaymentStatus::Reserved {
        let why = if job.status.is_paid() {
            "it is already captured"
        } else {
            "only a Reserved order can be captured"
        };
        return Err(format!(
            "Order {job_ref} is {}: {why}.",
            job.status.as_str()
        ));
    }
    let Some(p) = job
        .payments
        .iter()
        .rev()
        .find(|p| p.status == PaymentStatus::Reserved)
    else {
        return Err(format!(
            "Order {job_ref} lists no Reserved payment to capture."
        ));
    };
    if let Some(deadline) = capture_deadline(p).filter(|d| now > *d) {
        return Err(format!(
            "The reservation of order {job_ref} expired on {}: it can no longer be captured.",
            date_in_words(deadline)
        ));
    }
    let reserved = p.amount.or(job.amount);
    if let (Some(asked), Some(full)) = (amount, reserved) {
        if !asked.same_money(full) {
            return Err(format!(
                "Only the whole reservation ({}) can be captured: cards take the full amount.",
                money(full, job.currency.as_ref())
            ));
        }
    }
    Ok(MoneyPlan {
        job_ref: job_ref.clone(),
        currency: job.currency.clone(),
        moves: vec![PlannedMove::Capture {
            payment: p.payment_ref.clone(),
            amount: None,
            reserved,
        }],
        note: None,
    })
}

/// Cancel what can be cancelled: a paid payment before it settles (in full), a
/// reservation (voided), or a job nobody paid.
pub fn plan_cancel(job: &JobSnapshot, now: Timestamp) -> Result<MoneyPlan, String> {
    let job_ref = &job.job_ref;
    let plan = |moves| MoneyPlan {
        job_ref: job_ref.clone(),
        currency: job.currency.clone(),
        moves,
        note: None,
    };
    let paid: Vec<_> = job.payments.iter().filter(|p| p.status.is_paid()).collect();
    if !paid.is_empty() {
        if let Some(settled) = paid.iter().find(|p| is_settled(p, now)) {
            let from = paid_at(settled).map(settles_at).map(date_in_words);
            return Err(format!(
                "Payment {} of order {job_ref} is settled{}: refund it instead.",
                settled.payment_ref,
                from.map(|d| format!(" (since {d})")).unwrap_or_default()
            ));
        }
        let moves = paid
            .iter()
            .map(|p| PlannedMove::CancelPayment {
                payment: p.payment_ref.clone(),
                amount: p.paid_amount.or(p.amount),
            })
            .collect();
        return Ok(plan(moves));
    }
    let reserved: Vec<_> = job
        .payments
        .iter()
        .filter(|p| p.status == PaymentStatus::Reserved)
        .map(|p| PlannedMove::CancelPayment {
            payment: p.payment_ref.clone(),
            amount: p.amount,
        })
        .collect();
    if !reserved.is_empty() {
        return Ok(plan(reserved));
    }
    if job.status.is_final() {
        return Err(format!(
            "Order {job_ref} is {}: there is nothing to cancel.",
            job.status.as_str()
        ));
    }
    Ok(plan(vec![PlannedMove::CancelJob]))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::domain::fixtures::{job_snapshot, payment_snapshot};
    use crate::domain::PaymentSnapshot;

    pub(crate) fn at(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    /// A payment `status` of `amount` GBP whose capture (or authorisation) was at `when`.
    pub(crate) fn pay(
        reference: &str,
        status: PaymentStatus,
        amount: &str,
        when: &str,
    ) -> PaymentSnapshot {
        let mut p = payment_snapshot(reference, status, Some(at(when)));
        p.amount = Some(amount.parse().unwrap());
        p.paid_amount = p.status.is_paid().then_some(p.amount.unwrap());
        let action = if p.status.is_paid() {
            "Capture"
        } else {
            "Authorise"
        };
        p.raw = serde_json::json!({"steps": [
            {"action": action, "status": "Completed", "dateTimeUtc": when}
        ]});
        p
    }

    pub(crate) fn job(status: PaymentStatus, payments: Vec<PaymentSnapshot>) -> JobSnapshot {
        let mut j = job_snapshot("7", status, None, payments);
        j.currency = Some(Currency::parse("GBP").unwrap());
        j
    }

    const NOON: &str = "2026-12-07T12:00:00Z";

    #[test]
    fn only_a_reserved_order_is_captured_in_full_before_its_deadline() {
        let reserved = job(
            PaymentStatus::Reserved,
            vec![pay("71", PaymentStatus::Reserved, "10.00", NOON)],
        );
        let plan = plan_capture(&reserved, None, at("2026-12-08T12:00:00Z")).unwrap();
        assert!(matches!(
            &plan.moves[..],
            [PlannedMove::Capture { amount: None, .. }]
        ));
        assert!(plan_capture(&reserved, Some("10".parse().unwrap()), at(NOON)).is_ok());
        let partial = plan_capture(&reserved, Some("4.00".parse().unwrap()), at(NOON)).unwrap_err();
        assert!(
            partial.contains("10.00 GBP") && partial.contains("full amount"),
            "{partial}"
        );
        let late = plan_capture(&reserved, None, at("2026-12-14T12:00:01Z")).unwrap_err();
        assert!(late.contains("expired on 14 December 2026"), "{late}");

        let paid = job(
            PaymentStatus::Paid,
            vec![pay("72", PaymentStatus::Paid, "10.00", NOON)],
        );
        let refused = plan_capture(&paid, None, at(NOON)).unwrap_err();
        assert!(refused.contains("already captured"), "{refused}");
    }

    #[test]
    fn cancel_takes_an_unsettled_payment_a_reservation_or_an_unpaid_job() {
        let paid = job(
            PaymentStatus::Paid,
            vec![
                pay("70", PaymentStatus::Failed, "10.00", NOON),
                pay("71", PaymentStatus::Paid, "10.00", NOON),
            ],
        );
        let plan = plan_cancel(&paid, at("2026-12-07T23:00:00Z")).unwrap();
        assert!(
            matches!(&plan.moves[..], [PlannedMove::CancelPayment { payment, .. }] if payment.as_str() == "71")
        );
        let settled = plan_cancel(&paid, at("2026-12-08T00:00:00Z")).unwrap_err();
        assert!(
            settled.contains("refund it instead") && settled.contains("8 December 2026"),
            "{settled}"
        );

        let reserved = job(
            PaymentStatus::Reserved,
            vec![pay("73", PaymentStatus::Reserved, "10.00", NOON)],
        );
        assert!(matches!(
            &plan_cancel(&reserved, at(NOON)).unwrap().moves[..],
            [PlannedMove::CancelPayment { .. }]
        ));
        let open = job(PaymentStatus::Pending, vec![]);
        assert_eq!(
            plan_cancel(&open, at(NOON)).unwrap().moves,
            [PlannedMove::CancelJob]
        );
        let expired = job(PaymentStatus::Expired, vec![]);
        assert!(plan_cancel(&expired, at(NOON))
            .unwrap_err()
            .contains("nothing to cancel"));
    }
}
