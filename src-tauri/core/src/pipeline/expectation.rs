use crate::domain::{Expected, JobSnapshot};

/// For a job created here, whether the gateway's answer disagrees with what we asked
/// for. A notification is unauthenticated, so a mismatch is flagged, never accepted
/// silently. Jobs we only heard about have nothing to compare with.
pub fn mismatch(expected: Option<&Expected>, snap: &JobSnapshot) -> Option<String> {
    let want = expected?;
    let mut problems = Vec::new();
    match snap.amount {
        Some(got) if got.same_money(want.amount) => {}
        Some(got) => problems.push(format!("amount {got} where {} was asked", want.amount)),
        None => problems.push("no amount in the gateway's answer".to_owned()),
    }
    if snap.currency.as_ref() != Some(&want.currency) {
        problems.push(format!(
            "currency {} where {} was asked",
            snap.currency.as_ref().map_or("none", |c| c.as_str()),
            want.currency
        ));
    }
    if snap.order_number.as_deref() != Some(want.order_number.as_str()) {
        problems.push(format!(
            "order number {} where {} was sent",
            snap.order_number.as_deref().unwrap_or("none"),
            want.order_number
        ));
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Currency, JobRef, PaymentStatus};

    fn snap(amount: &str, currency: &str, order: &str) -> JobSnapshot {
        JobSnapshot {
            job_ref: JobRef::parse("1").unwrap(),
            order_number: Some(order.into()),
            email: None,
            status: PaymentStatus::Paid,
            amount: Some(amount.parse().unwrap()),
            paid_amount: None,
            currency: Some(Currency::parse(currency).unwrap()),
            created_at: None,
            gateway_updated_at: None,
            payments: vec![],
            raw: serde_json::Value::Null,
        }
    }

    #[test]
    fn flags_every_disagreement_and_accepts_equal_money() {
        let want = Expected {
            amount: "12.50".parse().unwrap(),
            currency: Currency::parse("GBP").unwrap(),
            order_number: "1042".into(),
        };
        assert_eq!(mismatch(Some(&want), &snap("12.5", "GBP", "1042")), None);
        assert_eq!(mismatch(None, &snap("1.00", "EUR", "9")), None);
        let m = mismatch(Some(&want), &snap("1.00", "EUR", "9")).unwrap();
        assert!(m.contains("amount 1.00 where 12.50"), "{m}");
        assert!(m.contains("currency EUR"), "{m}");
        assert!(m.contains("order number 9"), "{m}");
    }
}
