//! Orders and gateway answers for the core's unit tests.

use super::{
    JobRef, JobSnapshot, OrderSummary, PaymentRef, PaymentSnapshot, PaymentStatus, Timestamp,
};

/// An order `job` of `status`, first seen at `first_seen`.
pub(crate) fn order(job: &str, status: PaymentStatus, first_seen: &str) -> OrderSummary {
    let at = Timestamp::parse(first_seen).unwrap();
    OrderSummary {
        payment_job_reference: JobRef::parse(job).unwrap(),
        order_number: None,
        email: None,
        status,
        amount: None,
        currency: None,
        attempts: 1,
        shipped: false,
        shipped_at: None,
        created_here: false,
        mismatch: None,
        first_seen_at: at,
        updated_at: at,
        paid_amount: None,
        refunded_amount: super::Amount::ZERO,
        refund_pending_amount: super::Amount::ZERO,
        capture_by: None,
    }
}

/// An attempt `payment` of `status`, last changed at `updated`.
pub(crate) fn payment_snapshot(
    payment: &str,
    status: PaymentStatus,
    updated: Option<Timestamp>,
) -> PaymentSnapshot {
    PaymentSnapshot {
        payment_ref: PaymentRef::parse(payment).unwrap(),
        status,
        amount: None,
        paid_amount: None,
        failure_code: None,
        failure_reason: None,
        created_at: None,
        updated_at: updated,
        moves: Vec::new(),
        raw: serde_json::Value::Null,
    }
}

/// A gateway answer for job `job` of `status` at `updated`, with these attempts.
pub(crate) fn job_snapshot(
    job: &str,
    status: PaymentStatus,
    updated: Option<Timestamp>,
    payments: Vec<PaymentSnapshot>,
) -> JobSnapshot {
    JobSnapshot {
        job_ref: JobRef::parse(job).unwrap(),
        order_number: None,
        email: None,
        status,
        amount: None,
        paid_amount: None,
        currency: None,
        created_at: None,
        gateway_updated_at: updated,
        payments,
        raw: serde_json::Value::Null,
    }
}
