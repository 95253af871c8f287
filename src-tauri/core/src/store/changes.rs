//! What a write changed: a confirmation's status changes, the deliveries it settles, and a
//! payment job this app created.

use super::WorkerId;
use crate::domain::{Amount, Currency, JobRef, OrderSummary, PaymentRef, PaymentStatus};

#[derive(Debug, Clone, PartialEq)]
pub struct StatusChange {
    /// `None` for the job (the order) itself.
    pub payment_ref: Option<PaymentRef>,
    pub from: Option<PaymentStatus>,
    pub to: PaymentStatus,
}

#[derive(Debug, Clone)]
pub struct Applied {
    /// The answer was older than what is stored and changed nothing.
    pub stale: bool,
    pub changes: Vec<StatusChange>,
    pub order: OrderSummary,
}

impl Applied {
    /// The change of the order's own status, if it changed.
    pub fn job_change(&self) -> Option<&StatusChange> {
        self.changes.iter().find(|c| c.payment_ref.is_none())
    }
}

/// Deliveries this confirmation answers: the pending ones of one payment up to an id that
/// this worker holds, named by the references that were asked (the gateway may spell its
/// own differently, e.g. without leading zeros). A delivery the worker does not hold (one
/// whose row committed after the worker read past its id, or one another worker took) is
/// left for a confirmation of its own.
#[derive(Debug, Clone)]
pub struct Settles {
    pub job_ref: JobRef,
    pub payment_ref: PaymentRef,
    pub up_to_id: i64,
    pub worker: WorkerId,
}

#[derive(Debug, Clone)]
pub struct CreatedJobRecord {
    pub job_ref: JobRef,
    pub first_payment: Option<PaymentRef>,
    pub order_number: String,
    pub email: String,
    pub amount: Amount,
    pub currency: Currency,
    pub payment_link: Option<String>,
    pub note: Option<String>,
    pub raw: serde_json::Value,
}
