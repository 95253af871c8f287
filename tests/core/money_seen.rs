//! Captures and refunds on both stores: read from each confirmation, counted in the
//! order's money, reported once per change, and the owner's request recorded before it is
//! sent, refused when the balance moved.

use tillwatch_core::domain::{
    Amount, ChangeSource, JobRef, JobSnapshot, MoneyMove, MoneyState, MoveKind, MoveStatus,
    PaymentRef, PaymentStatus, ShipRefusal,
};
use tillwatch_core::pipeline::CoreEvent;
use tillwatch_core::store::{
    Confirmations, MoneyRefusal, MoneyRequest, Orders, ShipRequest, StoreError,
};

use crate::harness::{test_store, TestDir};
use crate::store::snapshot;

fn amount(s: &str) -> Amount {
    s.parse().unwrap()
}

fn refund(reference: &str, number: Option<&str>, a: &str, status: MoveStatus) -> MoneyMove {
    MoneyMove {
        kind: MoveKind::Refund,
        payment_ref: PaymentRef::parse("1009").unwrap(),
        reference: Some(reference.into()),
        number: number.map(str::to_owned),
        amount: amount(a),
        status,
        created_at: None,
        failure: None,
    }
}

/// A paid order "100" of 10.00 GBP whose one payment "1009" took 10.00, with these moves.
fn paid_with(moves: Vec<MoneyMove>) -> JobSnapshot {
    let mut s = snapshot("100", PaymentStatus::Paid, "2026-11-24T10:00:00Z", "M-1");
    s.paid_amount = Some(amount("10.00"));
    s.payments[0].paid_amount = Some(amount("10.00"));
    s.payments[0].moves = moves;
    s
}

fn job() -> JobRef {
    JobRef::parse("100").unwrap()
}

fn ship(override_reason: Option<&str>) -> ShipRequest {
    ShipRequest {
        job_ref: job(),
        note: None,
        allow_reserved: false,
        override_mismatch: override_reason.map(str::to_owned),
        by: Some("owner@till".into()),
    }
}

#[tokio::test]
async fn a_refund_in_an_answer_is_stored_counted_and_reported_once() {
    let dir = TestDir::new("money-found");
    let store = test_store(&dir).await;
    let first = store
        .apply_snapshot(paid_with(vec![]), ChangeSource::Notification, None, None)
        .await
        .unwrap();
    assert!(first.money.is_empty());
    assert_eq!(first.order.paid_amount, Some(amount("10.00")));
    assert_eq!(first.order.money_state(), MoneyState::None);

    // The same answer later lists a refund made in the portal (the job's clock unmoved).
    let found = store
        .apply_snapshot(
            paid_with(vec![refund("r1", None, "2.50", MoveStatus::Completed)]),
            ChangeSource::Poll,
            None,
            None,
        )
        .await
        .unwrap();
    assert_eq!(found.money.len(), 1, "{:?}", found.money);
    assert_eq!(found.money[0].from, None);
    assert!(found.order.refunded_amount.same_money(amount("2.50")));
    assert!(found.order.net_amount().unwrap().same_money(amount("7.50")));
    assert_eq!(found.order.money_state(), MoneyState::PartlyRefunded);
    let events = CoreEvent::all_from_applied(&found, ChangeSource::Poll);
    let words: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            CoreEvent::MoneyMoved { words, .. } => Some(words.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(words, ["Refund of 2.50 GBP found (made in the portal)"]);

    // Asked again: nothing new.
    let again = store
        .apply_snapshot(
            paid_with(vec![refund("r1", None, "2.50", MoveStatus::Completed)]),
            ChangeSource::Poll,
            None,
            None,
        )
        .await
        .unwrap();
    assert!(again.money.is_empty());

    let d = store.order(&job()).await.unwrap().unwrap();
    assert_eq!(d.refunds.len(), 1);
    assert_eq!(d.refunds[0].status, MoveStatus::Completed);
    assert_eq!(d.refunds[0].by, None, "learnt from the gateway");
    assert_eq!(d.refunds[0].source, ChangeSource::Poll);
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["refundedAmount"], "2.50");
    assert_eq!(json["netAmount"], "7.50");
    assert_eq!(json["moneyState"], "partlyRefunded");

    // Takings are net of it.
    let since = tillwatch_core::domain::Timestamp::parse("2000-01-01T00:00:00Z").unwrap();
    let takings = store.paid_since(since).await.unwrap();
    assert!(takings[0].0.same_money(amount("7.50")), "{takings:?}");

    // A partly refunded order ships only by the audited override.
    assert!(matches!(
        store.ship(ship(None)).await,
        Err(StoreError::Ship(ShipRefusal::PartlyRefunded(_)))
    ));
    let shipped = store.ship(ship(Some("kept the rest"))).await.unwrap();
    assert!(shipped
        .audit
        .iter()
        .any(|a| a.action == "partial refund overridden"));
}

#[tokio::test]
async fn a_pending_refund_completes_a_failed_one_never_counts_and_refunded_never_ships() {
    let dir = TestDir::new("money-status");
    let store = test_store(&dir).await;
    let mut failed = refund("r2", None, "4.00", MoveStatus::Failed);
    failed.failure = Some("InsufficientMerchantBalance: not enough".into());
    let a = store
        .apply_snapshot(
            paid_with(vec![
                refund("r1", Some("n1"), "10.00", MoveStatus::Pending),
                failed.clone(),
            ]),
            ChangeSource::Notification,
            None,
            None,
        )
        .await
        .unwrap();
    assert_eq!(a.money.len(), 2);
    assert_eq!(a.order.refunded_amount, Amount::ZERO);
    assert!(a.order.refund_pending_amount.same_money(amount("10.00")));
    assert_eq!(
        a.order.money_state(),
        MoneyState::None,
        "pending is not refunded"
    );

    let b = store
        .apply_snapshot(
            paid_with(vec![
                refund("r1", Some("n1"), "10.00", MoveStatus::Completed),
                failed,
            ]),
            ChangeSource::Poll,
            None,
            None,
        )
        .await
        .unwrap();
    assert_eq!(b.money.len(), 1);
    assert_eq!(
        (b.money[0].from, b.money[0].to),
        (Some(MoveStatus::Pending), MoveStatus::Completed)
    );
    assert!(b.order.refunded_amount.same_money(amount("10.00")));
    assert_eq!(b.order.money_state(), MoneyState::Refunded);
    let d = store.order(&job()).await.unwrap().unwrap();
    assert_eq!(d.refunds.len(), 2);
    assert_eq!(d.refunds[1].status, MoveStatus::Failed);
    assert!(d.refunds[1]
        .failure
        .as_deref()
        .unwrap()
        .contains("Insufficient"));
    assert!(!d.ship.allowed);
    assert_eq!(d.ship.code.as_deref(), Some("refunded"));
    assert!(matches!(
        store.ship(ship(Some("trust me"))).await,
        Err(StoreError::Ship(ShipRefusal::Refunded(_)))
    ));
}

#[tokio::test]
async fn a_cancelled_payment_counts_as_nothing_received() {
    let dir = TestDir::new("money-cancelled");
    let store = test_store(&dir).await;
    let mut s = snapshot(
        "100",
        PaymentStatus::Cancelled,
        "2026-11-24T10:00:00Z",
        "M-1",
    );
    s.paid_amount = Some(amount("10.00"));
    s.payments[0].paid_amount = Some(amount("10.00"));
    let a = store
        .apply_snapshot(s, ChangeSource::Notification, None, None)
        .await
        .unwrap();
    assert_eq!(a.order.paid_amount, Some(Amount::ZERO));
    assert_eq!(a.order.net_amount(), Some(Amount::ZERO));
    assert!(matches!(
        store.ship(ship(None)).await,
        Err(StoreError::Ship(ShipRefusal::NotPaid(_)))
    ));
}

#[tokio::test]
async fn a_money_request_is_recorded_first_and_refused_when_the_balance_changed() {
    let dir = TestDir::new("money-request");
    let store = test_store(&dir).await;
    store
        .apply_snapshot(paid_with(vec![]), ChangeSource::Notification, None, None)
        .await
        .unwrap();
    let request = |number: &str, a: &str, seen: &str| MoneyRequest {
        job_ref: job(),
        payment_ref: PaymentRef::parse("1009").unwrap(),
        kind: MoveKind::Refund,
        number: number.into(),
        amount: amount(a),
        by: Some("owner@till".into()),
        refundable_seen: Some(amount(seen)),
    };
    store
        .record_money_request(request("n1", "3.00", "10.00"))
        .await
        .unwrap();
    let d = store.order(&job()).await.unwrap().unwrap();
    assert_eq!(d.refunds.len(), 1);
    assert_eq!(d.refunds[0].status, MoveStatus::Pending);
    assert_eq!(d.refunds[0].by.as_deref(), Some("owner@till"));
    assert_eq!(d.refunds[0].source, ChangeSource::Owner);
    assert!(d.summary.refund_pending_amount.same_money(amount("3.00")));
    assert!(d.audit.iter().any(|a| a.action == "refund requested"));

    // A second machine that saw the old balance is told it changed; nothing recorded.
    assert_eq!(
        store
            .record_money_request(request("n2", "10.00", "10.00"))
            .await
            .unwrap_err()
            .code(),
        "balance_changed"
    );
    assert!(matches!(
        store
            .record_money_request(request("n1", "1.00", "7.00"))
            .await,
        Err(StoreError::Money(MoneyRefusal::NumberUsed(_)))
    ));
    assert!(matches!(
        store
            .record_money_request(request("n3", "7.01", "7.00"))
            .await,
        Err(StoreError::Money(MoneyRefusal::AboveBalance { .. }))
    ));
    assert_eq!(store.order(&job()).await.unwrap().unwrap().refunds.len(), 1);

    // The gateway's answer later lists it under its number: the record is updated, its
    // `by` kept, and its completion reported.
    let done = store
        .apply_snapshot(
            paid_with(vec![refund(
                "g-77",
                Some("n1"),
                "3.00",
                MoveStatus::Completed,
            )]),
            ChangeSource::Poll,
            None,
            None,
        )
        .await
        .unwrap();
    assert_eq!(done.money.len(), 1);
    assert_eq!(done.money[0].from, Some(MoveStatus::Pending));
    let d = store.order(&job()).await.unwrap().unwrap();
    assert_eq!(d.refunds.len(), 1);
    assert_eq!(d.refunds[0].reference.as_deref(), Some("g-77"));
    assert_eq!(d.refunds[0].by.as_deref(), Some("owner@till"));
    assert!(d.summary.refunded_amount.same_money(amount("3.00")));
    assert_eq!(d.summary.refund_pending_amount, Amount::ZERO);
}

#[tokio::test]
async fn two_requests_at_once_on_one_balance_record_one() {
    let dir = TestDir::new("money-race");
    let store = test_store(&dir).await;
    store
        .apply_snapshot(paid_with(vec![]), ChangeSource::Notification, None, None)
        .await
        .unwrap();
    let request = |number: &str| MoneyRequest {
        job_ref: job(),
        payment_ref: PaymentRef::parse("1009").unwrap(),
        kind: MoveKind::Refund,
        number: number.into(),
        amount: amount("10.00"),
        by: None,
        refundable_seen: Some(amount("10.00")),
    };
    let (a, b) = tokio::join!(
        store.record_money_request(request("a")),
        store.record_money_request(request("b"))
    );
    assert_eq!(
        [a.is_ok(), b.is_ok()].iter().filter(|ok| **ok).count(),
        1,
        "{a:?} {b:?}"
    );
    assert_eq!(store.order(&job()).await.unwrap().unwrap().refunds.len(), 1);
}
