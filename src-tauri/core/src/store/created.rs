//! What recording a job created here writes besides its row: its first status change (an
//! owner's, from nothing to Pending) and the audit entry naming the link.

use super::{AuditEntry, CreatedJobRecord, StatusChange};
use crate::domain::PaymentStatus;

impl CreatedJobRecord {
    /// The order's first status: Pending until the gateway says more.
    pub fn first_change(&self) -> StatusChange {
        StatusChange {
            payment_ref: None,
            from: None,
            to: PaymentStatus::Pending,
        }
    }

    /// The audit entry of the link created (no one named: the app made it).
    pub fn audit_entry(&self) -> AuditEntry {
        AuditEntry {
            action: "link created",
            detail: self.payment_link.clone(),
            by: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Currency, JobRef};

    #[test]
    fn a_created_job_starts_pending_and_audits_its_link() {
        let record = CreatedJobRecord {
            job_ref: JobRef::parse("100").unwrap(),
            first_payment: None,
            order_number: "1001".into(),
            email: "ann@shop.example".into(),
            amount: "10.00".parse().unwrap(),
            currency: Currency::parse("GBP").unwrap(),
            payment_link: Some("https://pay.example/100".into()),
            note: None,
            raw: serde_json::Value::Null,
        };
        let change = record.first_change();
        assert_eq!(
            (change.payment_ref, change.from, change.to),
            (None, None, PaymentStatus::Pending)
        );
        let entry = record.audit_entry();
        assert_eq!(entry.action, "link created");
        assert_eq!(entry.detail.as_deref(), Some("https://pay.example/100"));
        assert_eq!(entry.by, None);
    }
}
