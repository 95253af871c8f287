use crate::domain::{Amount, Expected, JobSnapshot};

/// Whether the gateway's answer disagrees with what the payment link asked for. A
/// notification is unauthenticated, so a mismatch is flagged, never accepted silently.
/// For a job created here, the amount, currency and order number must be ours; for any
/// job, what was paid (`paidAmount`, of the job or of a paid payment) must be what was
/// asked (ours, or else the job's own `amountToCollect`).
pub fn mismatch(expected: Option<&Expected>, snap: &JobSnapshot) -> Option<String> {
    let mut problems = Vec::new();
    if let Some(want) = expected {
        asked_problems(want, snap, &mut problems);
    }
    if let Some(asked) = expected.map(|e| e.amount).or(snap.amount) {
        paid_problems(asked, snap, &mut problems);
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}

/// Money taken other than what was asked. Only a paid job or payment counts: a
/// cancelled one may still show a `paidAmount` that was never captured.
fn paid_problems(asked: Amount, snap: &JobSnapshot, problems: &mut Vec<String>) {
    let differs = |paid: Option<Amount>| paid.filter(|p| !p.same_money(asked));
    if let Some(paid) = differs(snap.paid_amount.filter(|_| snap.status.is_paid())) {
        problems.push(format!("paid {paid} where {asked} was asked"));
    }
    for p in snap.payments.iter().filter(|p| p.status.is_paid()) {
        if let Some(paid) = differs(p.paid_amount) {
            problems.push(format!(
                "payment {} paid {paid} where {asked} was asked",
                p.payment_ref
            ));
        }
    }
}

/// What the gateway holds of the job we created, against what we sent.
fn asked_problems(want: &Expected, snap: &JobSnapshot, problems: &mut Vec<String>) {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Currency, JobRef, PaymentRef, PaymentSnapshot, PaymentStatus};

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

    fn paid(
        status: PaymentStatus,
        job_paid: Option<&str>,
        payment_paid: Option<&str>,
    ) -> JobSnapshot {
        let mut s = snap("40.00", "GBP", "1042");
        s.status = status.clone();
        s.paid_amount = job_paid.map(|a| a.parse().unwrap());
        s.payments = vec![PaymentSnapshot {
            payment_ref: PaymentRef::parse("99").unwrap(),
            status,
            amount: Some("40.00".parse().unwrap()),
            paid_amount: payment_paid.map(|a| a.parse().unwrap()),
            failure_code: None,
            failure_reason: None,
            created_at: None,
            updated_at: None,
            moves: Vec::new(),
            raw: serde_json::Value::Null,
        }];
        s
    }

    #[test]
    fn money_paid_other_than_asked_is_a_mismatch() {
        let want = Expected {
            amount: "40.00".parse().unwrap(),
            currency: Currency::parse("GBP").unwrap(),
            order_number: "1042".into(),
        };
        let paid_in_full = paid(PaymentStatus::Paid, Some("40"), Some("40.00"));
        assert_eq!(mismatch(Some(&want), &paid_in_full), None);
        assert_eq!(mismatch(None, &paid_in_full), None);

        // amountToCollect agrees; paidAmount does not (job, payment, or both).
        let m = mismatch(Some(&want), &paid(PaymentStatus::Paid, Some("0.01"), None)).unwrap();
        assert_eq!(m, "paid 0.01 where 40.00 was asked");
        let m = mismatch(
            Some(&want),
            &paid(PaymentStatus::Verified, None, Some("4.00")),
        )
        .unwrap();
        assert_eq!(m, "payment 99 paid 4.00 where 40.00 was asked");
        let m = mismatch(
            Some(&want),
            &paid(PaymentStatus::Paid, Some("80.00"), Some("40.00")),
        );
        assert_eq!(m.as_deref(), Some("paid 80.00 where 40.00 was asked"));

        // A job we only heard about: what was paid against its own amountToCollect.
        let m = mismatch(
            None,
            &paid(PaymentStatus::Paid, Some("39.99"), Some("39.99")),
        )
        .unwrap();
        assert!(
            m.starts_with("paid 39.99 where 40.00 was asked; payment 99 paid 39.99"),
            "{m}"
        );

        // Nothing taken yet, or a cancelled payment still showing an amount: no mismatch.
        assert_eq!(
            mismatch(
                Some(&want),
                &paid(PaymentStatus::Pending, Some("0.00"), Some("0"))
            ),
            None
        );
        assert_eq!(
            mismatch(
                Some(&want),
                &paid(PaymentStatus::Cancelled, Some("40.00"), Some("1.00"))
            ),
            None
        );
    }
}
