//! The owner's shipping request, and an order found by one of its references.

use super::refs::{MatchHow, RefKind};
use crate::domain::{JobRef, OrderSummary};

#[derive(Debug, Clone)]
pub struct ShipRequest {
    pub job_ref: JobRef,
    pub note: Option<String>,
    pub allow_reserved: bool,
    /// The owner's reason for shipping despite a mismatch; `None`: no override.
    pub override_mismatch: Option<String>,
    /// Who asked (user and machine), kept in the audit trail.
    pub by: Option<String>,
}

/// An order found by one of its references.
#[derive(Debug, Clone)]
pub struct Found {
    pub order: OrderSummary,
    pub kind: RefKind,
    pub how: MatchHow,
    /// The whole reference that matched (an e-mail in lower case).
    pub reference: String,
}
