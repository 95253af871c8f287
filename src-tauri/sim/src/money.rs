//! Money after the payment, as the gateway books it: capture of a Reserved payment,
//! refunds of a settled one, cancel of an unsettled one, and the midnight settlement
//! cut-off that decides between the last two. Each operation is checked against the
//! payment's state first; a refusal is a `406`, bad input a `400`.

use rust_decimal::Decimal;
use time::{OffsetDateTime, Time};

use super::ledger::{step, Change, Ledger, LedgerError};
use super::model::{Amount, Capture, Job, OperationStatus, Payment, Refund, Status};

/// Why a capture, refund or cancel was refused; the route turns it into an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum MoneyError {
    #[error("payment job not found")]
    UnknownJob,
    #[error("payment not found")]
    UnknownPayment,
    /// Not allowed in the payment's state (`406`): (code, message).
    #[error("{1}")]
    NotAllowed(&'static str, String),
    /// Bad input (`400`): (code, message).
    #[error("{1}")]
    Invalid(&'static str, String),
}

impl From<LedgerError> for MoneyError {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::UnknownJob => MoneyError::UnknownJob,
            other => MoneyError::NotAllowed("InvalidPaymentJobStatus", other.to_string()),
        }
    }
}

/// A reservation must be captured within this long of its authorisation.
pub(crate) const CAPTURE_WINDOW: time::Duration = time::Duration::days(7);

/// How a new refund ends, as the control switch says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RefundEnd {
    Completed,
    Pending,
    /// Declined: the merchant account lacks the funds.
    Failed,
}

/// When the payment was paid (its completed capture), if it was.
pub(crate) fn paid_at(p: &Payment) -> Option<OffsetDateTime> {
    p.steps
        .iter()
        .rev()
        .find(|s| s.action == "Capture" && s.status == "Completed")
        .map(|s| s.date_time_utc)
}

/// Captures are batched at midnight (UTC): a payment is settled from the first
/// midnight after it was paid.
pub(crate) fn settles_at(paid_at: OffsetDateTime) -> OffsetDateTime {
    let date = paid_at.to_offset(time::UtcOffset::UTC).date();
    date.next_day()
        .expect("a date before the end of time")
        .with_time(Time::MIDNIGHT)
        .assume_utc()
}

/// Paid minus completed and pending refunds.
pub(crate) fn refundable(p: &Payment) -> Decimal {
    let refunded: Decimal = p
        .refunds
        .iter()
        .filter(|r| r.status != OperationStatus::Failed)
        .map(|r| r.amount_to_refund.0)
        .sum();
    p.paid_amount.0 - refunded
}

fn is_settled(p: &Payment, now: OffsetDateTime) -> bool {
    paid_at(p).is_some_and(|t| now >= settles_at(t))
}

fn payment_mut<'a>(job: &'a mut Job, payment_ref: &str) -> Result<&'a mut Payment, MoneyError> {
    job.payments
        .iter_mut()
        .find(|p| p.reference == payment_ref)
        .ok_or(MoneyError::UnknownPayment)
}

/// A positive amount with at most two decimals, or why not.
pub(crate) fn check_amount(amount: Decimal, field: &str) -> Result<Amount, MoneyError> {
    if amount <= Decimal::ZERO || amount.normalize().scale() > 2 {
        return Err(MoneyError::Invalid(
            "InvalidAmount",
            format!("{field} must be positive with at most two decimals."),
        ));
    }
    Ok(Amount(amount))
}

impl Ledger {
    /// Capture a Reserved payment: cards take the full reservation only.
    pub fn capture(
        &mut self,
        job_ref: &str,
        payment_ref: &str,
        amount: Option<Amount>,
        is_final: bool,
        now: OffsetDateTime,
    ) -> Result<(Capture, Change), MoneyError> {
        let reference = self.next_reference();
        self.change(job_ref, now, |job, t| {
            let payment = payment_mut(job, payment_ref)?;
            if payment.status != Status::Reserved {
                return Err(MoneyError::NotAllowed(
                    "InvalidPaymentStatus",
                    format!(
                        "Only a Reserved payment can be captured; it is {}.",
                        payment.status
                    ),
                ));
            }
            let authorised = payment
                .steps
                .iter()
                .find(|s| s.action == "Authorise" && s.status == "Completed")
                .map(|s| s.date_time_utc);
            if authorised.is_some_and(|at| t > at + CAPTURE_WINDOW) {
                return Err(MoneyError::NotAllowed(
                    "ReservationExpired",
                    "The reservation is more than 7 days old: the bank has released it.".to_owned(),
                ));
            }
            let reserved = payment.amount_to_collect;
            let amount = amount.unwrap_or(reserved);
            if amount.0 > reserved.0 {
                return Err(MoneyError::Invalid(
                    "InvalidAmountToCapture",
                    format!(
                        "amountToCapture is more than the reserved {}.",
                        reserved.wire()
                    ),
                ));
            }
            if amount.0 < reserved.0 {
                return Err(MoneyError::NotAllowed(
                    "PartialCaptureNotAllowed",
                    "A card payment can only be captured in full.".to_owned(),
                ));
            }
            let capture = Capture {
                reference,
                create_date_time_utc: t,
                status: OperationStatus::Completed,
                amount_to_capture: amount,
                is_final_capture: is_final,
                attributes: serde_json::Map::new(),
            };
            payment.captures.push(capture.clone());
            payment.status = Status::Paid;
            payment.paid_amount = amount;
            payment.steps.push(step("Capture", "Completed", t));
            let payment_ref = payment.reference.clone();
            job.payment_status = Status::Paid;
            job.amount_collected = amount;
            job.paid_amount = amount;
            job.paid_date_time_utc = Some(t);
            let change = Change {
                job_ref: job.reference.clone(),
                payment_ref,
            };
            Ok((capture, change))
        })
    }

    /// Refund a settled, Paid payment, at most its refundable balance. Refunds are not
    /// idempotent: the same `refund_number` twice refunds twice, as at the gateway.
    pub fn refund(
        &mut self,
        job_ref: &str,
        payment_ref: &str,
        amount: Amount,
        refund_number: String,
        end: RefundEnd,
        now: OffsetDateTime,
    ) -> Result<Refund, MoneyError> {
        let reference = self.next_reference();
        self.change(job_ref, now, |job, t| {
            let payment = payment_mut(job, payment_ref)?;
            if !matches!(payment.status, Status::Paid | Status::Verified) {
                return Err(MoneyError::NotAllowed(
                    "InvalidPaymentStatus",
                    format!("Only a Paid payment can be refunded; it is {}.", payment.status),
                ));
            }
            if !is_settled(payment, t) {
                return Err(MoneyError::NotAllowed(
                    "PaymentNotSettled",
                    "The payment is not settled yet: cancel it instead, or refund it from the next day."
                        .to_owned(),
                ));
            }
            let balance = refundable(payment);
            if amount.0 > balance {
                return Err(MoneyError::NotAllowed(
                    "AmountExceedsRefundableAmount",
                    format!(
                        "amountToRefund {} is more than the refundable {}.",
                        amount.wire(),
                        Amount(balance).wire()
                    ),
                ));
            }
            let (status, step_status) = match end {
                RefundEnd::Completed => (OperationStatus::Completed, "Completed"),
                RefundEnd::Pending => (OperationStatus::Pending, "Pending"),
                RefundEnd::Failed => (OperationStatus::Failed, "Failed"),
            };
            let mut attributes = serde_json::Map::new();
            if end == RefundEnd::Failed {
                attributes.insert("ErrorCode".into(), "InsufficientMerchantBalance".into());
                attributes.insert(
                    "ErrorMessage".into(),
                    "The merchant account balance is insufficient for this refund.".into(),
                );
            }
            let refund = Refund {
                reference,
                create_date_time_utc: t,
                refund_number,
                amount_to_refund: amount,
                status,
                steps: vec![step("Refund", step_status, t)],
                attributes,
            };
            payment.refunds.push(refund.clone());
            Ok(refund)
        })
    }

    /// A Pending refund ends (Completed or Failed); `None` if it is no longer Pending.
    pub fn finish_refund(
        &mut self,
        job_ref: &str,
        payment_ref: &str,
        refund_ref: &str,
        status: OperationStatus,
        now: OffsetDateTime,
    ) -> Result<Option<Refund>, MoneyError> {
        let pending = self
            .payment(job_ref, payment_ref)
            .and_then(|p| p.refunds.iter().find(|r| r.reference == refund_ref))
            .is_some_and(|r| r.status == OperationStatus::Pending);
        if !pending {
            return Ok(None);
        }
        self.change(job_ref, now, |job, t| {
            let payment = payment_mut(job, payment_ref)?;
            let refund = payment
                .refunds
                .iter_mut()
                .find(|r| r.reference == refund_ref)
                .expect("checked above");
            refund.status = status;
            refund.steps.push(step("Refund", &format!("{status:?}"), t));
            Ok(Some(refund.clone()))
        })
    }

    /// Cancel one payment, in full: an unfinished attempt, a reservation (a void), or a
    /// Paid payment before it settles. The job stays open for another payment.
    pub fn cancel_payment(
        &mut self,
        job_ref: &str,
        payment_ref: &str,
        amount: Option<Amount>,
        now: OffsetDateTime,
    ) -> Result<(Payment, Change), MoneyError> {
        self.change(job_ref, now, |job, t| {
            let payment = payment_mut(job, payment_ref)?;
            let status = payment.status;
            let cancellable = match status {
                Status::Pending | Status::Reserved => true,
                Status::Paid | Status::Verified => !is_settled(payment, t),
                _ => false,
            };
            if !cancellable {
                let why = if matches!(status, Status::Paid | Status::Verified) {
                    "The payment is settled: refund it instead.".to_owned()
                } else {
                    format!("A {status} payment cannot be cancelled.")
                };
                return Err(MoneyError::NotAllowed("InvalidPaymentStatus", why));
            }
            let full = match status {
                Status::Paid | Status::Verified => payment.paid_amount,
                _ => payment.amount_to_collect,
            };
            if amount.is_some_and(|a| a.0 != full.0) {
                return Err(MoneyError::NotAllowed(
                    "PartialCancelNotAllowed",
                    format!("A payment can only be cancelled in full ({}).", full.wire()),
                ));
            }
            // Like the real gateway, a cancelled payment keeps showing its paidAmount.
            payment.status = Status::Cancelled;
            payment.steps.push(step("Cancel", "Completed", t));
            let cancelled = payment.clone();
            if matches!(
                job.payment_status,
                Status::Paid | Status::Verified | Status::Reserved
            ) {
                job.payment_status = Status::Pending;
            }
            job.amount_collected = Amount(
                job.payments
                    .iter()
                    .filter(|p| matches!(p.status, Status::Paid | Status::Verified))
                    .map(|p| p.paid_amount.0)
                    .sum(),
            );
            let change = Change {
                job_ref: job.reference.clone(),
                payment_ref: cancelled.reference.clone(),
            };
            Ok((cancelled, change))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_payment_settles_at_the_next_midnight_utc() {
        assert_eq!(
            settles_at(datetime!(2026-12-07 23:59:59 UTC)),
            datetime!(2026-12-08 00:00 UTC)
        );
        assert_eq!(
            settles_at(datetime!(2026-12-08 00:00 UTC)),
            datetime!(2026-12-09 00:00 UTC)
        );
        assert_eq!(
            settles_at(datetime!(2026-12-31 01:00 +02:00)),
            datetime!(2026-12-31 00:00 UTC),
            "the UTC date counts"
        );
    }

    #[test]
    fn amounts_must_be_positive_with_two_decimals() {
        let ok = |s: &str| check_amount(s.parse().unwrap(), "amount").is_ok();
        assert!(ok("0.01"));
        assert!(ok("10.50"));
        assert!(ok("10.500"), "trailing zeros are not extra decimals");
        assert!(!ok("0"));
        assert!(!ok("-1.00"));
        assert!(!ok("1.005"));
    }
}
