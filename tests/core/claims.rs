//! The delivery inbox as a claim queue: several workers (several `serve` processes on one
//! shared store) take disjoint deliveries, a stopped worker's hold runs out, and a worker
//! settles only what it holds. Through the `Store` trait only.

use std::collections::BTreeSet;
use std::time::Duration;

use tillwatch_core::domain::{DeliveryState, JobRef, PaymentRef, Timestamp};
use tillwatch_core::store::{Claim, Held, NewDelivery, Store, WorkerId};
use tillwatch_core::store::{Inbox, Process};

use crate::backend::raw_sql;
use crate::harness::{test_store, TestDir};

fn claim(lease: Duration) -> Claim {
    Claim {
        worker: WorkerId::new(),
        lease,
    }
}

async fn deliver(store: &impl Store, job: &str, payment: &str) -> i64 {
    store
        .record_delivery(NewDelivery {
            received_at: Timestamp::now(),
            remote_addr: Some("127.0.0.1".into()),
            forwarded_for: None,
            body: "{}".into(),
            job_ref: JobRef::parse(job).unwrap(),
            payment_ref: PaymentRef::parse(payment).unwrap(),
        })
        .await
        .unwrap()
}

fn ids(rows: &[tillwatch_core::store::PendingDelivery]) -> BTreeSet<i64> {
    rows.iter().map(|r| r.id).collect()
}

#[tokio::test]
async fn two_workers_claiming_at_once_take_disjoint_deliveries_that_cover_the_inbox() {
    let dir = TestDir::new("claims-disjoint");
    let store = test_store(&dir).await;
    let mut all = BTreeSet::new();
    for i in 0..200 {
        all.insert(deliver(&store, &format!("{}", 1000 + i), &format!("{}", 5000 + i)).await);
    }
    let (a, b) = (
        claim(Duration::from_secs(60)),
        claim(Duration::from_secs(60)),
    );
    let now = Timestamp::now();
    let mut taken_a = BTreeSet::new();
    let mut taken_b = BTreeSet::new();
    // In pages, interleaved and concurrent, as two serve processes read.
    for _ in 0..5 {
        let (ra, rb) = tokio::join!(store.claim_due(&a, now, 30), store.claim_due(&b, now, 30));
        taken_a.extend(ids(&ra.unwrap()));
        taken_b.extend(ids(&rb.unwrap()));
    }
    // What each already holds comes back to it (its lease renewed), never to the other.
    assert!(
        taken_a.is_disjoint(&taken_b),
        "{:?}",
        taken_a.intersection(&taken_b)
    );
    let mut both: BTreeSet<i64> = taken_a.union(&taken_b).copied().collect();
    while both.len() < all.len() {
        let more = store.claim_due(&b, now, 1000).await.unwrap();
        let more = ids(&more);
        assert!(more.is_disjoint(&taken_a), "b took a delivery a holds");
        both.extend(more);
    }
    assert_eq!(both, all);
}

#[tokio::test]
async fn a_stopped_workers_hold_runs_out_and_another_worker_takes_its_deliveries() {
    let dir = TestDir::new("claims-lease");
    let store = test_store(&dir).await;
    let id = deliver(&store, "1001", "5001").await;
    let killed = claim(Duration::from_secs(30));
    let other = claim(Duration::from_secs(30));
    let now = Timestamp::now();
    assert_eq!(
        ids(&store.claim_due(&killed, now, 10).await.unwrap()),
        [id].into()
    );
    assert!(
        store.claim_due(&other, now, 10).await.unwrap().is_empty(),
        "a live hold is not taken"
    );
    let later = now.plus(Duration::from_secs(31));
    assert_eq!(
        ids(&store.claim_due(&other, later, 10).await.unwrap()),
        [id].into(),
        "the hold ran out: the other worker takes it"
    );
    assert!(store
        .claim_due(&killed, later, 10)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_renewed_hold_outlasts_its_first_lease_and_only_the_holders_rows_are_renewed() {
    let dir = TestDir::new("claims-renew");
    let store = test_store(&dir).await;
    let held = deliver(&store, "1001", "5001").await;
    let lease = Duration::from_secs(30);
    let (worker, other) = (claim(lease), claim(lease));
    let t0 = store.now().await.unwrap();
    assert_eq!(
        ids(&store.claim_due(&worker, t0, 1).await.unwrap()),
        [held].into()
    );
    // Another delivery, held by the other worker: not the renewing worker's to extend.
    let theirs = deliver(&store, "1002", "5002").await;
    assert_eq!(
        ids(&store.claim_due(&other, t0, 10).await.unwrap()),
        [theirs].into()
    );

    // A confirmation outlasting the lease: the worker renews on its timer, not by reading.
    let t20 = t0.plus(Duration::from_secs(20));
    assert_eq!(store.renew_claims(&worker, t20).await.unwrap(), 1);
    let t40 = t0.plus(Duration::from_secs(40));
    let third = claim(lease);
    assert_eq!(
        ids(&store.claim_due(&third, t40, 10).await.unwrap()),
        [theirs].into(),
        "past the first lease only the unrenewed hold lapsed"
    );
    let t51 = t0.plus(Duration::from_secs(51));
    assert_eq!(
        ids(&store.claim_due(&third, t51, 10).await.unwrap()),
        [held, theirs].into(),
        "the renewed hold runs out a lease after its renewal"
    );
    assert_eq!(
        store.renew_claims(&worker, t51).await.unwrap(),
        0,
        "what another worker took over is not renewed"
    );
}

#[tokio::test]
async fn a_worker_settles_only_what_it_holds() {
    let dir = TestDir::new("claims-settle");
    let store = test_store(&dir).await;
    let (job, payment) = (
        JobRef::parse("1001").unwrap(),
        PaymentRef::parse("5001").unwrap(),
    );
    let held = deliver(&store, "1001", "5001").await;
    let worker = claim(Duration::from_secs(60));
    store
        .claim_due(&worker, Timestamp::now(), 10)
        .await
        .unwrap();
    // Arrives after the claim (a row whose id was handed out earlier can commit later,
    // in PostgreSQL): the confirmation under way may predate what it announces.
    let arrived_later = deliver(&store, "1001", "5001").await;
    let held_by = |worker: &WorkerId| Held {
        job_ref: job.clone(),
        payment_ref: payment.clone(),
        up_to_id: arrived_later,
        worker: worker.clone(),
    };
    store
        .settle_deliveries(&held_by(&WorkerId::new()), DeliveryState::Dead, "x".into())
        .await
        .unwrap();
    assert_eq!(
        ids(&store.pending_deliveries(10).await.unwrap()),
        [held, arrived_later].into(),
        "a worker that holds nothing settles nothing"
    );
    store
        .settle_deliveries(
            &held_by(&worker.worker),
            DeliveryState::Dead,
            "gave up".into(),
        )
        .await
        .unwrap();
    assert_eq!(
        ids(&store.pending_deliveries(10).await.unwrap()),
        [arrived_later].into(),
        "only the held delivery is settled; the later one waits for its own confirmation"
    );
    assert_eq!(
        ids(&store
            .claim_due(&worker, Timestamp::now(), 10)
            .await
            .unwrap()),
        [arrived_later].into()
    );
}

#[tokio::test]
async fn released_claims_are_free_at_once_for_the_next_run() {
    let dir = TestDir::new("claims-release");
    let store = test_store(&dir).await;
    let id = deliver(&store, "1001", "5001").await;
    let killed = claim(Duration::from_secs(120));
    let next_run = claim(Duration::from_secs(120));
    let now = Timestamp::now();
    store.claim_due(&killed, now, 10).await.unwrap();
    assert!(store
        .claim_due(&next_run, now, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.release_claims().await.unwrap(), 1);
    assert_eq!(
        ids(&store.claim_due(&next_run, now, 10).await.unwrap()),
        [id].into(),
        "no lease to wait out"
    );
}

/// A pending row this version cannot read (a failure class a newer Tillwatch wrote on a
/// shared database, a reference that is not one) is set aside as dead with the reason, and
/// the claim goes on with the rest; `retry` gives the first one back, readable again.
#[tokio::test]
async fn an_unreadable_pending_row_is_set_aside_as_dead_and_the_claim_goes_on() {
    let dir = TestDir::new("claims-unreadable");
    let store = test_store(&dir).await;
    let good_first = deliver(&store, "1001", "5001").await;
    let newer_class = deliver(&store, "1002", "5002").await;
    let bad_ref = deliver(&store, "1003", "5003").await;
    let good_last = deliver(&store, "1004", "5004").await;
    raw_sql(
        &store,
        &format!(
            "UPDATE deliveries SET failure_class = 'throttled_by_gateway',
                 failing_since = '2026-12-07T10:00:00.000000Z', failing_attempts = 2,
                 last_error = 'HTTP 429' WHERE id = {newer_class};
             UPDATE deliveries SET job_ref = 'JOB-1003' WHERE id = {bad_ref};"
        ),
    )
    .await;

    let worker = claim(Duration::from_secs(60));
    let claimed = store
        .claim_due(&worker, Timestamp::now(), 10)
        .await
        .expect("one unreadable row does not fail the claim");
    assert_eq!(ids(&claimed), [good_first, good_last].into());

    let dead = store.deliveries_in(DeliveryState::Dead, 10).await.unwrap();
    let reason = |id: i64| {
        let d = dead
            .iter()
            .find(|d| d.id == id)
            .unwrap_or_else(|| panic!("delivery {id} is dead: {dead:?}"));
        assert!(d.settled_at.is_some(), "{d:?}");
        // What `deliveries --dead` and the window show: the last error, else the outcome.
        d.last_error
            .clone()
            .or(d.outcome.clone())
            .unwrap_or_default()
    };
    let said = reason(newer_class);
    assert!(
        said.contains("could not be read") && said.contains("throttled_by_gateway"),
        "{said}"
    );
    let said = reason(bad_ref);
    assert!(
        said.contains("could not be read") && said.contains("JOB-1003"),
        "{said}"
    );
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert_eq!(
        store
            .count_deliveries(DeliveryState::Pending)
            .await
            .unwrap(),
        2
    );

    // The next claim is not blocked either, and `retry` clears the unreadable failure run.
    assert_eq!(store.retry_deliveries("1002").await.unwrap(), 1);
    let again = store
        .claim_due(&worker, Timestamp::now(), 10)
        .await
        .unwrap();
    assert_eq!(ids(&again), [good_first, newer_class, good_last].into());
    assert!(again.iter().all(|d| d.failing.is_none()), "{again:?}");
}
