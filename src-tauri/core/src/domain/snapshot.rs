use super::{Amount, Currency, JobRef, PaymentRef, PaymentStatus, Timestamp};

/// What the gateway said about a payment job at one moment: the only source of truth
/// for statuses. Built from the gateway's answer, written by the store.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSnapshot {
    pub job_ref: JobRef,
    pub order_number: Option<String>,
    pub email: Option<String>,
    pub status: PaymentStatus,
    pub amount: Option<Amount>,
    pub paid_amount: Option<Amount>,
    pub currency: Option<Currency>,
    pub created_at: Option<Timestamp>,
    /// The gateway's `lastUpdateTimeUtc`: orders answers so an older one never wins.
    pub gateway_updated_at: Option<Timestamp>,
    /// In attempt order (oldest first).
    pub payments: Vec<PaymentSnapshot>,
    pub raw: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PaymentSnapshot {
    pub payment_ref: PaymentRef,
    pub status: PaymentStatus,
    pub amount: Option<Amount>,
    pub failure_code: Option<String>,
    pub failure_reason: Option<String>,
    pub created_at: Option<Timestamp>,
    pub raw: serde_json::Value,
}

/// What we asked the gateway for when we created a job: its answers must agree.
#[derive(Debug, Clone, PartialEq)]
pub struct Expected {
    pub amount: Amount,
    pub currency: Currency,
    pub order_number: String,
}
