//! The owner's shipping actions, decided without a database: whether an order may ship,
//! the note it keeps, and the audit entries shipping and unshipping leave. A backend reads
//! the order, asks the plan, and writes the mark and the entries.

use super::ShipRequest;
use crate::domain::{may_ship, JobRef, OrderSummary, ShipPermit, ShipRefusal, ShipRules};

/// One line of the audit log, written by whoever asked (`by`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub action: &'static str,
    pub detail: Option<String>,
    pub by: Option<String>,
}

/// What shipping an order writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShipPlan {
    /// The rules the order was judged by (and its detail is shown under).
    pub rules: ShipRules,
    /// The shipping note, trimmed; `None` when blank.
    pub note: Option<String>,
    /// The audit entries, in order: "shipped", then the overridden mismatch if one was.
    pub audit: Vec<AuditEntry>,
}

impl ShipRequest {
    /// The plan to ship `order` as asked, or why it may not ship.
    pub fn plan(&self, order: &OrderSummary) -> Result<ShipPlan, ShipRefusal> {
        let rules = ShipRules {
            allow_reserved: self.allow_reserved,
        };
        let permit = may_ship(order, rules, self.override_mismatch.as_deref())?;
        let note = self
            .note
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned);
        let mut audit = vec![AuditEntry {
            action: "shipped",
            detail: note.clone(),
            by: self.by.clone(),
        }];
        let mismatch_entry = |mismatch: &str, reason: &str| AuditEntry {
            action: "mismatch overridden",
            detail: Some(format!("{reason} (the gateway's answer: {mismatch})")),
            by: self.by.clone(),
        };
        match permit {
            ShipPermit::Plain => {}
            ShipPermit::MismatchOverridden { mismatch, reason } => {
                audit.push(mismatch_entry(&mismatch, &reason));
            }
            ShipPermit::PartRefundOverridden {
                refunded,
                mismatch,
                reason,
            } => {
                audit.push(AuditEntry {
                    action: "partial refund overridden",
                    detail: Some(format!("{reason} ({refunded} refunded)")),
                    by: self.by.clone(),
                });
                if let Some(mismatch) = mismatch {
                    audit.push(mismatch_entry(&mismatch, &reason));
                }
            }
        }
        Ok(ShipPlan { rules, note, audit })
    }
}

/// The audit entry undoing a shipment leaves.
pub fn unship_audit(by: Option<String>) -> AuditEntry {
    AuditEntry {
        action: "unshipped",
        detail: None,
        by,
    }
}

/// What a store says when asked to unship an order that is not shipped.
pub fn not_shipped(job: &JobRef) -> String {
    format!("{job} (not shipped)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures::order;
    use crate::domain::PaymentStatus;

    fn request(note: Option<&str>, override_mismatch: Option<&str>) -> ShipRequest {
        ShipRequest {
            job_ref: JobRef::parse("100").unwrap(),
            note: note.map(str::to_owned),
            allow_reserved: false,
            override_mismatch: override_mismatch.map(str::to_owned),
            by: Some("owner@till".into()),
        }
    }

    #[test]
    fn shipping_is_audited_with_the_trimmed_note() {
        let paid = order("100", PaymentStatus::Paid, "2026-01-01T00:00:00Z");
        let plan = request(Some("  tracked 123 "), None).plan(&paid).unwrap();
        assert_eq!(plan.note.as_deref(), Some("tracked 123"));
        assert_eq!(
            plan.audit,
            [AuditEntry {
                action: "shipped",
                detail: Some("tracked 123".into()),
                by: Some("owner@till".into()),
            }]
        );
        let blank = request(Some("   "), None).plan(&paid).unwrap();
        assert_eq!(blank.note, None);
        assert_eq!(blank.audit[0].detail, None);
    }

    #[test]
    fn an_overridden_mismatch_is_audited_with_the_reason() {
        let mut paid = order("100", PaymentStatus::Paid, "2026-01-01T00:00:00Z");
        paid.mismatch = Some("paid 9.00 of 10.00".into());
        assert_eq!(
            request(None, None).plan(&paid),
            Err(ShipRefusal::Mismatch("paid 9.00 of 10.00".into()))
        );
        let plan = request(None, Some(" topped up in cash "))
            .plan(&paid)
            .unwrap();
        assert_eq!(plan.audit.len(), 2);
        assert_eq!(plan.audit[1].action, "mismatch overridden");
        assert_eq!(
            plan.audit[1].detail.as_deref(),
            Some("topped up in cash (the gateway's answer: paid 9.00 of 10.00)")
        );
    }

    #[test]
    fn unshipping_is_audited_and_refused_words_name_the_order() {
        let entry = unship_audit(None);
        assert_eq!(
            (entry.action, entry.detail, entry.by),
            ("unshipped", None, None)
        );
        assert_eq!(
            not_shipped(&JobRef::parse("100").unwrap()),
            "100 (not shipped)"
        );
    }
}
