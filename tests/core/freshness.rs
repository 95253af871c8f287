//! The staleness rule as the store applies it: an answer the gateway's clock cannot order
//! (equal time, or none) never moves a status back or sideways and writes no event.

use tillwatch_core::domain::{ChangeSource, JobRef, PaymentStatus};
use tillwatch_core::store::Store;

use crate::harness::{test_store, TestDir, TestStore};
use crate::store::snapshot;

const AT: &str = "2026-11-24T10:00:02.5Z";

async fn events(store: &TestStore) -> usize {
    let job = JobRef::parse("300").unwrap();
    store
        .order(&job)
        .await
        .unwrap()
        .unwrap()
        .status_events
        .len()
}

#[tokio::test]
async fn equal_or_missing_times_never_flip_reserved_and_pending() {
    let dir = TestDir::new("store-freshness");
    let store = test_store(&dir).await;
    let apply = |s| store.apply_snapshot(s, ChangeSource::Poll, None, None);

    apply(snapshot("300", PaymentStatus::Reserved, AT, "F-1"))
        .await
        .unwrap();
    let first = events(&store).await;
    assert_eq!(first, 2, "job and payment first seen");

    // Same time, back to Pending: ignored, no event.
    let back = apply(snapshot("300", PaymentStatus::Pending, AT, "F-1"))
        .await
        .unwrap();
    assert!(back.stale && back.changes.is_empty());
    assert_eq!(back.order.status, PaymentStatus::Reserved);

    // No time at all, Pending: ignored too.
    let mut undated = snapshot("300", PaymentStatus::Pending, AT, "F-1");
    undated.gateway_updated_at = None;
    let undated = apply(undated).await.unwrap();
    assert!(undated.changes.is_empty());
    assert_eq!(undated.order.status, PaymentStatus::Reserved);
    assert_eq!(events(&store).await, first);

    // Same time, forward to Paid: taken, with its events.
    let forward = apply(snapshot("300", PaymentStatus::Paid, AT, "F-1"))
        .await
        .unwrap();
    assert_eq!(forward.order.status, PaymentStatus::Paid);
    assert_eq!(events(&store).await, first + 2);

    // An undated Reserved after Paid: nothing moves, for the job or its payment.
    let mut late = snapshot("300", PaymentStatus::Reserved, AT, "F-1");
    late.gateway_updated_at = None;
    let late = apply(late).await.unwrap();
    assert!(late.changes.is_empty());
    assert_eq!(late.order.status, PaymentStatus::Paid);
    assert_eq!(events(&store).await, first + 2);
}
