//! The delivery inbox's records: a notification as received, as refused, and as waiting
//! for the gateway's confirmation.

use crate::domain::{Failing, JobRef, PaymentRef, Timestamp};

#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub received_at: Timestamp,
    pub remote_addr: Option<String>,
    pub forwarded_for: Option<String>,
    pub body: String,
    pub job_ref: JobRef,
    pub payment_ref: PaymentRef,
}

#[derive(Debug, Clone)]
pub struct RejectedDelivery {
    pub received_at: Timestamp,
    pub remote_addr: Option<String>,
    pub forwarded_for: Option<String>,
    pub body: String,
    pub error: String,
    pub response_status: u16,
}

/// An acknowledged delivery still waiting for the gateway to confirm it.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingDelivery {
    pub id: i64,
    pub job_ref: JobRef,
    pub payment_ref: PaymentRef,
    /// The run of failed confirmations it is in, if any.
    pub failing: Option<Failing>,
}
