//! The staleness rule as the store applies it: an answer the gateway's clock cannot order
//! (equal time, or none) never moves a status back or sideways and writes no event.

use rusqlite::Connection;
use tillwatch_core::domain::{ChangeSource, JobRef, PaymentStatus, Timestamp};
use tillwatch_core::store::{Confirmations, Orders};
use tillwatch_store_sqlite::SqliteStore;

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

/// The gateway's own resolution: 7 fractional digits, 100 ns.
const T: &str = "2026-11-24T10:11:57.0012345Z";
const T_PLUS_1: &str = "2026-11-24T10:11:57.0012346Z";
const T_PLUS_2: &str = "2026-11-24T10:11:57.0012347Z";

#[tokio::test]
async fn the_same_gateway_instant_is_not_newer() {
    let dir = TestDir::new("store-freshness-7");
    let store = test_store(&dir).await;
    let apply = |s| store.apply_snapshot(s, ChangeSource::Notification, None, None);

    apply(snapshot("300", PaymentStatus::Paid, T, "F-7"))
        .await
        .unwrap();
    let first = events(&store).await;

    // Failed at exactly the same 100 ns instant: the clock cannot order it, and a status
    // never moves back without a newer time.
    let same = apply(snapshot("300", PaymentStatus::Failed, T, "F-7"))
        .await
        .unwrap();
    assert!(same.stale && same.changes.is_empty(), "{same:?}");
    assert_eq!(same.order.status, PaymentStatus::Paid);
    assert_eq!(events(&store).await, first, "no status event");

    // 100 ns later is newer: the gateway's clock decides.
    let later = apply(snapshot("300", PaymentStatus::Failed, T_PLUS_1, "F-7"))
        .await
        .unwrap();
    assert!(!later.stale);
    assert_eq!(later.order.status, PaymentStatus::Failed);
    assert_eq!(events(&store).await, first + 2);
}

#[tokio::test]
async fn times_one_tick_apart_keep_their_order_through_the_store() {
    let dir = TestDir::new("store-freshness-tick");
    let store = test_store(&dir).await;
    let apply = |s| store.apply_snapshot(s, ChangeSource::Poll, None, None);

    apply(snapshot("300", PaymentStatus::Pending, T_PLUS_1, "F-8"))
        .await
        .unwrap();
    // One tick older (and a step forward): older by the held time, so ignored. Held at
    // microseconds it would read as the same time and move forward.
    let older = apply(snapshot("300", PaymentStatus::Reserved, T, "F-8"))
        .await
        .unwrap();
    assert!(older.stale, "{older:?}");
    assert_eq!(older.order.status, PaymentStatus::Pending);
    // The same time as held, one tick after the rejected one, is taken (a step forward).
    let same = apply(snapshot("300", PaymentStatus::Reserved, T_PLUS_1, "F-8"))
        .await
        .unwrap();
    assert_eq!(same.order.status, PaymentStatus::Reserved);
    let newer = apply(snapshot("300", PaymentStatus::Pending, T_PLUS_2, "F-8"))
        .await
        .unwrap();
    assert_eq!(
        newer.order.status,
        PaymentStatus::Pending,
        "newer by one tick"
    );
}

#[tokio::test]
async fn an_upgraded_sqlite_file_keeps_its_times_in_order() {
    let dir = TestDir::new("upgrade-7-digits");
    let path = dir.path().join("old.db");
    SqliteStore::create_at_schema_version(&path, 4).unwrap();
    {
        let conn = Connection::open(&path).unwrap();
        // As version 4 wrote them: six digits.
        conn.execute_batch(
            "INSERT INTO payment_jobs (job_ref, order_number, status, gateway_updated_at,
                 first_seen_at, updated_at)
             VALUES ('300', 'F-9', 'Paid', '2026-11-24T10:11:57.001234Z',
                     '2026-11-24T10:11:50.000000Z', '2026-11-24T10:11:58.500000Z');
             INSERT INTO deliveries (received_at, job_ref, payment_ref, response_status, state,
                 retry_at)
             VALUES ('2026-11-24T10:11:56.934686Z', '300', '3009', 200, 'pending',
                     '2026-11-24T10:12:00.000000Z');",
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    let conn = Connection::open(&path).unwrap();
    let (updated, first_seen): (String, String) = conn
        .query_row(
            "SELECT gateway_updated_at, first_seen_at FROM payment_jobs WHERE job_ref = '300'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(updated, "2026-11-24T10:11:57.0012340Z");
    assert_eq!(first_seen, "2026-11-24T10:11:50.0000000Z");
    let (received, retry): (String, String) = conn
        .query_row("SELECT received_at, retry_at FROM deliveries", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(received, "2026-11-24T10:11:56.9346860Z");
    assert_eq!(retry, "2026-11-24T10:12:00.0000000Z");
    // New text of the same microsecond sorts after the rewritten text, as its time does.
    let now_text = Timestamp::parse("2026-11-24T10:11:56.9346861Z")
        .unwrap()
        .to_string();
    assert!(received < now_text);

    // A Failed answer one tick after the held microsecond is newer, and one at that
    // microsecond is the same instant.
    let at_held = snapshot(
        "300",
        PaymentStatus::Failed,
        "2026-11-24T10:11:57.001234Z",
        "F-9",
    );
    let same = store
        .apply_snapshot(at_held, ChangeSource::Poll, None, None)
        .await
        .unwrap();
    assert!(same.stale);
    assert_eq!(same.order.status, PaymentStatus::Paid);
}
