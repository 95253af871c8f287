//! `PgStore` as the core's `Store`, against a real server: the claim queue that lets
//! several processes share one inbox, confirmations and their history, shipping raced by
//! two processes, lookups, paging, change notifications, and a server that restarts.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::json;
use tillwatch_core::domain::{
    ChangeSource, Currency, DeliveryState, Failing, FailureClass, JobRef, JobSnapshot, PaymentRef,
    PaymentSnapshot, PaymentStatus, ShipRefusal, Timestamp,
};
use tillwatch_core::store::{
    Claim, Held, NewDelivery, OrderFilter, OrderSort, PageAt, RemoteChange, ShipRequest,
    StoreError, Unavailable, WorkerId,
};
use tillwatch_core::store::{Confirmations, Inbox, Links, Orders, Process};
use tillwatch_store_postgres::{PgStore, LISTENER_SUFFIX};

use crate::postgres::TestPostgres;

pub(crate) async fn store(pg: &TestPostgres) -> PgStore {
    PgStore::connect(crate::config(pg, &pg.url()))
        .await
        .expect("the store connects and migrates")
}

pub(crate) fn job(s: &str) -> JobRef {
    JobRef::parse(s).unwrap()
}

pub(crate) fn payment(s: &str) -> PaymentRef {
    PaymentRef::parse(s).unwrap()
}

/// As tests/core/store.rs builds one: one payment, `{job}9`.
pub(crate) fn snapshot(
    job_ref: &str,
    status: PaymentStatus,
    updated: &str,
    order: &str,
) -> JobSnapshot {
    JobSnapshot {
        job_ref: job(job_ref),
        order_number: Some(order.into()),
        email: Some(format!("{order}@Example.com")),
        status: status.clone(),
        amount: Some("10.00".parse().unwrap()),
        paid_amount: None,
        currency: Some(Currency::parse("GBP").unwrap()),
        created_at: None,
        gateway_updated_at: Some(Timestamp::parse(updated).unwrap()),
        payments: vec![PaymentSnapshot {
            payment_ref: payment(&format!("{job_ref}9")),
            status,
            amount: None,
            paid_amount: None,
            failure_code: None,
            failure_reason: None,
            created_at: None,
            updated_at: None,
            moves: Vec::new(),
            raw: json!({}),
        }],
        raw: json!({"reference": job_ref}),
    }
}

pub(crate) fn delivery(job_ref: &str, payment_ref: &str) -> NewDelivery {
    NewDelivery {
        received_at: Timestamp::now(),
        remote_addr: Some("127.0.0.1".into()),
        forwarded_for: None,
        body: format!("{{\"paymentJobReference\":\"{job_ref}\"}}"),
        job_ref: job(job_ref),
        payment_ref: payment(payment_ref),
    }
}

pub(crate) fn claim(lease_secs: u64) -> Claim {
    Claim {
        worker: WorkerId::new(),
        lease: Duration::from_secs(lease_secs),
    }
}

/// A time as stored: to the microsecond, as the SQLite store's text keeps it.
/// What a timestamptz keeps of a time: microseconds (only the gateway's time that
/// orders answers is kept at its 100 ns, beside it).
fn micros(t: Timestamp) -> Timestamp {
    Timestamp::from_unix_ticks(t.unix_ticks().div_euclid(10) * 10)
}

fn ids(d: &[tillwatch_core::store::PendingDelivery]) -> Vec<i64> {
    d.iter().map(|d| d.id).collect()
}

#[tokio::test]
async fn a_recorded_delivery_is_durable_and_claimed_once() {
    let pg = TestPostgres::start();
    let store = store(&pg).await;
    // Every pooled session commits durably, whatever the server's default (the test
    // server runs with synchronous_commit=off).
    let client = store.pool().get().await.unwrap();
    let sync: String = client
        .query_one("SHOW synchronous_commit", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(sync, "on");
    drop(client);

    let d = delivery("100", "1009");
    let received = d.received_at;
    let id = store.record_delivery(d).await.unwrap();
    assert_eq!(
        store.inbox_status().await.unwrap(),
        (1, Some(micros(received)))
    );

    let a = claim(60);
    let now = Timestamp::now();
    let got = store.claim_due(&a, now, 10).await.unwrap();
    assert_eq!(ids(&got), vec![id]);
    assert_eq!(got[0].job_ref, job("100"));
    assert_eq!(got[0].payment_ref, payment("1009"));
    assert_eq!(got[0].failing, None);
    // The holder claims it again (its lease renewed); another worker does not get it.
    assert_eq!(ids(&store.claim_due(&a, now, 10).await.unwrap()), vec![id]);
    assert!(store
        .claim_due(&claim(60), now, 10)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_claiming_at_once_share_the_inbox_without_overlap() {
    let pg = TestPostgres::start();
    let one = store(&pg).await;
    let other = store(&pg).await;
    let mut all = BTreeSet::new();
    for i in 0..200 {
        let j = format!("{}", 1000 + i);
        all.insert(
            one.record_delivery(delivery(&j, &format!("{j}9")))
                .await
                .unwrap(),
        );
    }
    // Each worker as the confirm loop runs: claim a few, settle them, claim again.
    async fn work(store: PgStore) -> Vec<i64> {
        let c = claim(60);
        let mut mine = Vec::new();
        loop {
            let got = store.claim_due(&c, Timestamp::now(), 7).await.unwrap();
            if got.is_empty() {
                return mine;
            }
            for d in got {
                store
                    .settle_deliveries(
                        &held(&d.job_ref, &d.payment_ref, d.id, &c.worker),
                        DeliveryState::Confirmed,
                        "confirmed: Paid".into(),
                    )
                    .await
                    .unwrap();
                mine.push(d.id);
            }
        }
    }
    let (a, b) = tokio::join!(tokio::spawn(work(one.clone())), tokio::spawn(work(other)));
    let (a, b) = (a.unwrap(), b.unwrap());
    let a_set: BTreeSet<i64> = a.iter().copied().collect();
    let b_set: BTreeSet<i64> = b.iter().copied().collect();
    assert_eq!(a_set.len(), a.len(), "a worker got a delivery twice");
    assert!(
        a_set.is_disjoint(&b_set),
        "both got {:?}",
        a_set.intersection(&b_set)
    );
    assert_eq!(&a_set | &b_set, all);
    assert!(
        !a.is_empty() && !b.is_empty(),
        "{} and {}",
        a.len(),
        b.len()
    );
    assert_eq!(
        one.count_deliveries(DeliveryState::Confirmed)
            .await
            .unwrap(),
        200
    );
    assert_eq!(one.inbox_status().await.unwrap().0, 0);
}

#[tokio::test]
async fn a_lapsed_lease_is_taken_over_and_a_live_one_is_not() {
    let pg = TestPostgres::start();
    let store = store(&pg).await;
    let id = store.record_delivery(delivery("7", "79")).await.unwrap();
    let (a, b) = (claim(60), claim(60));
    let t0 = Timestamp::now();
    assert_eq!(ids(&store.claim_due(&a, t0, 10).await.unwrap()), vec![id]);
    let live = t0.plus(Duration::from_secs(30));
    assert!(store.claim_due(&b, live, 10).await.unwrap().is_empty());
    let lapsed = t0.plus(Duration::from_secs(61));
    assert_eq!(
        ids(&store.claim_due(&b, lapsed, 10).await.unwrap()),
        vec![id]
    );
    // The first worker, back from its pause, can settle nothing: the delivery is b's now.
    store
        .settle_deliveries(
            &held(&job("7"), &payment("79"), id, &a.worker),
            DeliveryState::Confirmed,
            "x".into(),
        )
        .await
        .unwrap();
    assert_eq!(store.inbox_status().await.unwrap().0, 1);
    store
        .settle_deliveries(
            &held(&job("7"), &payment("79"), id, &b.worker),
            DeliveryState::Confirmed,
            "y".into(),
        )
        .await
        .unwrap();
    assert_eq!(store.inbox_status().await.unwrap().0, 0);
}

#[tokio::test]
async fn settling_and_failing_touch_only_the_workers_own_rows_up_to_the_id() {
    let pg = TestPostgres::start();
    let store = store(&pg).await;
    let mut d = Vec::new();
    for _ in 0..4 {
        d.push(store.record_delivery(delivery("55", "559")).await.unwrap());
    }
    // Leases outlast the retry below.
    let (a, b, c) = (claim(600), claim(600), claim(600));
    let now = micros(Timestamp::now());
    assert_eq!(
        ids(&store.claim_due(&a, now, 3).await.unwrap()),
        d[..3].to_vec()
    );
    assert_eq!(ids(&store.claim_due(&b, now, 3).await.unwrap()), vec![d[3]]);

    // a fails up to the second: those two wait for their retry and are let go; its third
    // and b's are untouched.
    let retry_at = now.plus(Duration::from_secs(300));
    let failing = Failing {
        class: FailureClass::Transient,
        since: now,
        attempts: 1,
    };
    store
        .note_confirm_failure(
            &held(&job("55"), &payment("559"), d[1], &a.worker),
            failing,
            retry_at,
            "503".into(),
        )
        .await
        .unwrap();
    assert_eq!(store.next_retry_at(now).await.unwrap(), Some(retry_at));
    assert!(
        store.claim_due(&c, now, 10).await.unwrap().is_empty(),
        "nothing free and due"
    );
    let later = retry_at.plus(Duration::from_secs(1));
    let again = store.claim_due(&c, later, 10).await.unwrap();
    assert_eq!(
        ids(&again),
        d[..2].to_vec(),
        "due again, and no longer held by a"
    );
    assert_eq!(again[0].failing, Some(failing));

    // a settles "up to the last": only its own third is settled.
    store
        .settle_deliveries(
            &held(&job("55"), &payment("559"), d[3], &a.worker),
            DeliveryState::Confirmed,
            "confirmed: Paid".into(),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .count_deliveries(DeliveryState::Confirmed)
            .await
            .unwrap(),
        1
    );
    // c settles up to the first only: its second stays pending.
    store
        .settle_deliveries(
            &held(&job("55"), &payment("559"), d[0], &c.worker),
            DeliveryState::Dead,
            "gave up".into(),
        )
        .await
        .unwrap();
    assert_eq!(
        store.count_deliveries(DeliveryState::Dead).await.unwrap(),
        1
    );
    assert_eq!(store.inbox_status().await.unwrap().0, 2);
    let dead = store.deliveries_in(DeliveryState::Dead, 10).await.unwrap();
    // One noted failure, then the attempt that was given up on: both counted.
    assert_eq!((dead[0].id, dead[0].attempts), (d[0], 2));
    assert_eq!(dead[0].last_error.as_deref(), Some("503"));

    // The owner's retry puts the dead one back, free for anyone.
    assert_eq!(store.retry_deliveries("55").await.unwrap(), 1);
    assert_eq!(
        ids(&store.claim_due(&b, later, 10).await.unwrap()),
        vec![d[0], d[3]]
    );
}

#[tokio::test]
async fn a_confirmed_job_reads_back_with_its_attempts_history_and_deliveries() {
    let pg = TestPostgres::start();
    let store = store(&pg).await;
    let id = store
        .record_delivery(delivery("100", "1009"))
        .await
        .unwrap();
    let w = claim(60);
    store.claim_due(&w, Timestamp::now(), 10).await.unwrap();
    let pending = snapshot("100", PaymentStatus::Pending, "2026-11-24T10:00:01Z", "O-1");
    let paid = snapshot("100", PaymentStatus::Paid, "2026-11-24T10:00:02.5Z", "O-1");
    let a = store
        .apply_snapshot(pending, ChangeSource::Poll, None, None)
        .await
        .unwrap();
    assert!(!a.stale);
    assert_eq!(a.changes.len(), 2, "job and payment first seen");
    let settles = Held {
        job_ref: job("100"),
        payment_ref: payment("1009"),
        up_to_id: id,
        worker: w.worker.clone(),
    };
    let b = store
        .apply_snapshot(paid, ChangeSource::Notification, None, Some(settles))
        .await
        .unwrap();
    assert!(!b.stale);
    assert_eq!(b.job_change().unwrap().to, PaymentStatus::Paid);
    assert_eq!(b.job_change().unwrap().from, Some(PaymentStatus::Pending));
    // An older answer changes nothing.
    let older = snapshot(
        "100",
        PaymentStatus::Pending,
        "2026-11-24T10:00:01.9999999Z",
        "O-1",
    );
    let c = store
        .apply_snapshot(older, ChangeSource::Poll, None, None)
        .await
        .unwrap();
    assert!(c.stale && c.changes.is_empty());
    assert_eq!(c.order.status, PaymentStatus::Paid);

    let d = store.order(&job("100")).await.unwrap().unwrap();
    assert_eq!(d.summary.status, PaymentStatus::Paid);
    assert_eq!(d.summary.attempts, 1);
    assert_eq!(d.summary.amount.unwrap().to_string(), "10.00");
    assert_eq!(d.summary.currency.as_ref().unwrap().as_str(), "GBP");
    assert_eq!(d.payments.len(), 1);
    assert_eq!(d.payments[0].payment_reference, payment("1009"));
    assert_eq!(d.payments[0].status, PaymentStatus::Paid);
    let history: Vec<(Option<String>, String)> = d
        .status_events
        .iter()
        .map(|e| (e.from.clone(), e.to.clone()))
        .collect();
    assert_eq!(
        history,
        vec![
            (None, "Pending".to_owned()),
            (None, "Pending".to_owned()),
            (Some("Pending".to_owned()), "Paid".to_owned()),
            (Some("Pending".to_owned()), "Paid".to_owned()),
        ]
    );
    assert_eq!(d.deliveries.len(), 1);
    assert_eq!(d.deliveries[0].state, DeliveryState::Confirmed);
    assert_eq!(d.deliveries[0].outcome.as_deref(), Some("confirmed: Paid"));
    assert_eq!(d.raw_last_answer, Some(json!({"reference": "100"})));
    assert!(d.last_confirmed_at.is_some());
    assert_eq!(store.inbox_status().await.unwrap().0, 0);
    assert!(store.unfinished_jobs().await.unwrap().is_empty());
    let takings = store
        .paid_since(Timestamp::from_unix_millis(0))
        .await
        .unwrap();
    assert_eq!(takings.len(), 1);
    assert_eq!(takings[0].0.to_string(), "10.00");
    // A time read back is the time written, to the microsecond.
    let t = Timestamp::parse("2026-11-24T10:11:56.9346867Z").unwrap();
    let d2 = NewDelivery {
        received_at: t,
        ..delivery("100", "1009")
    };
    store.record_delivery(d2).await.unwrap();
    let (_, last) = store.inbox_status().await.unwrap();
    assert_eq!(last.unwrap().to_string(), "2026-11-24T10:11:56.9346860Z");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_shipping_one_order_at_once_ship_it_once() {
    let pg = TestPostgres::start();
    let one = store(&pg).await;
    let other = store(&pg).await;
    for round in 0..5 {
        let j = format!("{}", 200 + round);
        one.apply_snapshot(
            snapshot(&j, PaymentStatus::Paid, "2026-11-24T10:00:00Z", &j),
            ChangeSource::Notification,
            None,
            None,
        )
        .await
        .unwrap();
        let ship = |by: &str| ShipRequest {
            job_ref: job(&j),
            note: Some("  RM123456789GB ".into()),
            allow_reserved: false,
            override_mismatch: None,
            by: Some(by.into()),
        };
        let (a, b) = tokio::join!(
            tokio::spawn({
                let s = one.clone();
                let r = ship("ann@till-1");
                async move { s.ship(r).await }
            }),
            tokio::spawn({
                let s = other.clone();
                let r = ship("bob@till-2");
                async move { s.ship(r).await }
            })
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        let (winner, refused) = match (&a, &b) {
            (Ok(_), Err(e)) => ("ann@till-1", e.clone()),
            (Err(e), Ok(_)) => ("bob@till-2", e.clone()),
            other => panic!("one success and one refusal, not {other:?}"),
        };
        assert_eq!(refused, StoreError::Ship(ShipRefusal::AlreadyShipped));
        let d = one.order(&job(&j)).await.unwrap().unwrap();
        assert!(d.summary.shipped);
        assert_eq!(d.shipping_note.as_deref(), Some("RM123456789GB"));
        assert_eq!(d.audit.len(), 1, "{:?}", d.audit);
        assert_eq!(d.audit[0].action, "shipped");
        assert_eq!(d.audit[0].by.as_deref(), Some(winner));
    }
    let d = one
        .unship(&job("200"), Some("cat@till-3".into()))
        .await
        .unwrap();
    assert!(!d.summary.shipped);
    assert_eq!(d.audit[1].action, "unshipped");
    assert_eq!(d.audit[1].by.as_deref(), Some("cat@till-3"));
    let e = one.unship(&job("200"), None).await.unwrap_err();
    assert!(matches!(e, StoreError::NotFound(_)), "{e:?}");
    // The shop's rule holds too: a pending order is refused.
    one.apply_snapshot(
        snapshot("300", PaymentStatus::Pending, "2026-11-24T10:00:00Z", "300"),
        ChangeSource::Poll,
        None,
        None,
    )
    .await
    .unwrap();
    let e = one
        .ship(ShipRequest {
            job_ref: job("300"),
            note: None,
            allow_reserved: false,
            override_mismatch: None,
            by: None,
        })
        .await
        .unwrap_err();
    assert_eq!(
        e,
        StoreError::Ship(ShipRefusal::NotPaid(PaymentStatus::Pending))
    );
}

#[tokio::test]
async fn lookup_finds_by_exact_reference_prefix_and_last_digits() {
    let pg = TestPostgres::start();
    let store = store(&pg).await;
    for (j, order) in [("111222", "A-7"), ("111333", "A-70"), ("999444", "B_1")] {
        store
            .apply_snapshot(
                snapshot(j, PaymentStatus::Paid, "2026-11-24T10:00:00Z", order),
                ChangeSource::Notification,
                None,
                None,
            )
            .await
            .unwrap();
    }
    let refs = |v: Vec<tillwatch_core::domain::OrderSummary>| -> Vec<String> {
        v.into_iter()
            .map(|s| s.payment_job_reference.to_string())
            .collect()
    };
    assert_eq!(
        refs(store.lookup("111222", 10).await.unwrap()),
        vec!["111222"]
    );
    assert_eq!(
        refs(store.lookup("1112229", 10).await.unwrap()),
        vec!["111222"],
        "payment"
    );
    // Exact order number first, then the one it is a prefix of.
    assert_eq!(
        refs(store.lookup("A-7", 10).await.unwrap()),
        vec!["111222", "111333"]
    );
    assert_eq!(refs(store.lookup("A-", 10).await.unwrap()).len(), 2);
    // The last digits of a job reference.
    assert_eq!(
        refs(store.lookup("9444", 10).await.unwrap()),
        vec!["999444"]
    );
    assert_eq!(
        refs(store.lookup("a-70@example.COM", 10).await.unwrap()),
        vec!["111333"]
    );
    assert!(
        store.lookup("B%", 10).await.unwrap().is_empty(),
        "wildcards are literal"
    );
    assert!(store.lookup("  ", 10).await.unwrap().is_empty());
    assert_eq!(
        refs(store.exact_matches("A-7", 10).await.unwrap()),
        vec!["111222"]
    );
    let found = store.search("333", 10).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].reference, "111333");
}

#[tokio::test]
async fn orders_page_forwards_and_back_with_cursors() {
    let pg = TestPostgres::start();
    let store = store(&pg).await;
    let mut jobs = Vec::new();
    for i in 0..120 {
        let j = format!("{}", 5000 + i);
        store
            .apply_snapshot(
                snapshot(
                    &j,
                    PaymentStatus::Paid,
                    "2026-11-24T10:00:00Z",
                    &format!("N-{:03}", 119 - i),
                ),
                ChangeSource::Notification,
                None,
                None,
            )
            .await
            .unwrap();
        jobs.push(j);
    }
    let refs = |s: &tillwatch_core::store::OrdersSlice| -> Vec<String> {
        s.orders
            .iter()
            .map(|o| o.payment_job_reference.to_string())
            .collect()
    };
    for (sort, ascending, expected) in [
        // Newest first: the reverse of the order they were written in.
        (
            OrderSort::FirstSeen,
            false,
            jobs.iter().rev().cloned().collect::<Vec<_>>(),
        ),
        // Order numbers run backwards against the jobs.
        (
            OrderSort::OrderNumber,
            true,
            jobs.iter().rev().cloned().collect(),
        ),
        (OrderSort::Amount, true, jobs.clone()),
    ] {
        let filter = |at: PageAt| OrderFilter {
            sort,
            ascending,
            limit: 50,
            at,
            ..OrderFilter::default()
        };
        let first = store.orders(filter(PageAt::First)).await.unwrap();
        assert_eq!(refs(&first), expected[..50], "{sort:?}");
        assert!(first.prev.is_none());
        let second = store
            .orders(filter(PageAt::After(first.next.clone().unwrap())))
            .await
            .unwrap();
        assert_eq!(refs(&second), expected[50..100], "{sort:?}");
        // A cursor goes to the window as text and comes back.
        let text = second.next.clone().unwrap().encode();
        let next = tillwatch_core::store::OrderCursor::decode(sort, &text).unwrap();
        let third = store.orders(filter(PageAt::After(next))).await.unwrap();
        assert_eq!(refs(&third), expected[100..], "{sort:?}");
        assert!(third.next.is_none());
        let back = store
            .orders(filter(PageAt::Before(third.prev.clone().unwrap())))
            .await
            .unwrap();
        assert_eq!(refs(&back), expected[50..100], "{sort:?}");
        let last = store.orders(filter(PageAt::Last)).await.unwrap();
        assert_eq!(refs(&last), expected[70..], "{sort:?}");
        assert!(last.next.is_none() && last.prev.is_some());
    }
    assert_eq!(
        store.count_orders(OrderFilter::default()).await.unwrap(),
        (120, false)
    );
    let to_ship = OrderFilter {
        status: Some(PaymentStatus::Paid),
        shipped: Some(false),
        ..OrderFilter::default()
    };
    assert_eq!(store.count_orders(to_ship).await.unwrap(), (120, false));
    let dated = OrderFilter {
        from: Some(Timestamp::from_unix_millis(0)),
        ..OrderFilter::default()
    };
    assert_eq!(store.count_orders(dated).await.unwrap(), (120, false));
    // A cursor of another sort is refused in our words.
    let first = store
        .orders(OrderFilter {
            limit: 5,
            ..OrderFilter::default()
        })
        .await
        .unwrap();
    let e = store
        .orders(OrderFilter {
            sort: OrderSort::Status,
            at: PageAt::After(first.next.unwrap()),
            ..OrderFilter::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Corrupt(_)), "{e:?}");
}

async fn next_change(
    rx: &mut tokio::sync::broadcast::Receiver<RemoteChange>,
    within: Duration,
) -> Option<RemoteChange> {
    tokio::time::timeout(within, rx.recv())
        .await
        .ok()
        .map(|r| r.unwrap())
}

/// Gives each store's LISTEN task time to be listening.
pub(crate) async fn settle_listeners() {
    tokio::time::sleep(Duration::from_millis(300)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_by_another_process_are_heard_and_ones_own_are_not() {
    let pg = TestPostgres::start();
    let a = store(&pg).await;
    let b = store(&pg).await;
    let mut heard_by_a = a.remote_changes().unwrap().receiver;
    let mut heard_by_b = b.remote_changes().unwrap().receiver;
    settle_listeners().await;

    b.apply_snapshot(
        snapshot("42", PaymentStatus::Paid, "2026-11-24T10:00:00Z", "O-42"),
        ChangeSource::Notification,
        None,
        None,
    )
    .await
    .unwrap();
    let started = Instant::now();
    assert_eq!(
        next_change(&mut heard_by_a, Duration::from_secs(1)).await,
        Some(RemoteChange {
            seq: 1,
            job_ref: job("42"),
            previous_status: None,
            status_changed: true,
            source: ChangeSource::Notification,
        }),
        "what changed, so the other process can tell its window (and alert) as if it had"
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(
        next_change(&mut heard_by_b, Duration::from_millis(500)).await,
        None,
        "its own"
    );

    a.ship(ShipRequest {
        job_ref: job("42"),
        note: None,
        allow_reserved: false,
        override_mismatch: None,
        by: None,
    })
    .await
    .unwrap();
    assert_eq!(
        next_change(&mut heard_by_b, Duration::from_secs(1)).await,
        Some(RemoteChange {
            seq: 2,
            job_ref: job("42"),
            previous_status: None,
            status_changed: false,
            source: ChangeSource::Owner,
        })
    );
    assert_eq!(
        next_change(&mut heard_by_a, Duration::from_millis(300)).await,
        None
    );
    // An audit note alone changes no order: nothing is announced.
    b.audit(&job("42"), "exported", None).await.unwrap();
    assert_eq!(
        next_change(&mut heard_by_a, Duration::from_millis(300)).await,
        None
    );
}

/// Confirmations holding every work connection do not turn notifications away: the
/// listener has connections of its own; only when those are all busy is it refused, at
/// once (a 503 the gateway retries).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_stores_while_the_work_pool_is_full_and_is_refused_at_once_when_its_own_is() {
    let pg = TestPostgres::start();
    let store = store(&pg).await;
    let mut work = Vec::new();
    for _ in 0..tillwatch_store_postgres::MAX_CONNECTIONS {
        work.push(store.pool().get().await.unwrap());
    }
    let listener = store.refusing_when_full();
    listener
        .record_delivery(delivery("1", "19"))
        .await
        .expect("stored on the listener's own connections");

    let mut intake = Vec::new();
    for _ in 0..tillwatch_store_postgres::INTAKE_CONNECTIONS {
        intake.push(listener.pool().get().await.unwrap());
    }
    let started = Instant::now();
    let e = listener
        .record_delivery(delivery("1", "19"))
        .await
        .unwrap_err();
    assert_eq!(e, StoreError::Unavailable(Unavailable::Overloaded));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    drop(intake);
    drop(work);
    listener.record_delivery(delivery("1", "19")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_is_used_again_and_listened_to_without_help() {
    let mut pg = TestPostgres::start();
    let a = store(&pg).await;
    let b = store(&pg).await;
    let mut heard_by_a = a.remote_changes().unwrap().receiver;
    settle_listeners().await;
    a.record_delivery(delivery("1", "19")).await.unwrap();

    pg.stop();
    let e = a.record_delivery(delivery("1", "19")).await.unwrap_err();
    assert_eq!(e, StoreError::Unavailable(Unavailable::Unreachable));
    let e = b.order(&job("1")).await.unwrap_err();
    assert_eq!(e, StoreError::Unavailable(Unavailable::Unreachable));

    pg.start_again();
    a.record_delivery(delivery("1", "19"))
        .await
        .expect("written once the server is back");
    assert_eq!(a.inbox_status().await.unwrap().0, 2);
    // The listener connects again by itself (it backs off up to a few seconds).
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut n = 0;
    loop {
        n += 1;
        b.apply_snapshot(
            snapshot(
                "77",
                PaymentStatus::Pending,
                &format!("2026-11-24T10:00:{:02}Z", n % 60),
                "O-77",
            ),
            ChangeSource::Poll,
            None,
            None,
        )
        .await
        .unwrap();
        if next_change(&mut heard_by_a, Duration::from_millis(500))
            .await
            .is_some_and(|c| c.job_ref == job("77"))
        {
            break;
        }
        assert!(Instant::now() < deadline, "the listener never came back");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_stops_with_the_last_handle() {
    let pg = TestPostgres::start();
    let watcher = crate::pool(&pg).await;
    let listening = || async {
        let client = watcher.get().await.unwrap();
        let n: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                &[&format!("tillwatch{LISTENER_SUFFIX}")],
            )
            .await
            .unwrap()
            .get(0);
        n
    };
    let store = store(&pg).await;
    let clone = store.refusing_when_full();
    settle_listeners().await;
    assert_eq!(listening().await, 1);
    drop(store);
    settle_listeners().await;
    assert_eq!(listening().await, 1, "a clone still holds it");
    drop(clone);
    let deadline = Instant::now() + Duration::from_secs(5);
    while listening().await != 0 {
        assert!(
            Instant::now() < deadline,
            "the LISTEN connection outlived the store"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What `worker` holds of a payment's deliveries, up to an id.
fn held(job: &JobRef, payment: &PaymentRef, up_to_id: i64, worker: &WorkerId) -> Held {
    Held {
        job_ref: job.clone(),
        payment_ref: payment.clone(),
        up_to_id,
        worker: worker.clone(),
    }
}

/// The listener's insert is one statement outside a transaction (one round trip); a hang
/// in it (here a lock held on the inbox) still ends within the listener's bound as
/// `Unavailable`, and the connection is thrown away rather than handed back to the pool
/// with its statement still waiting, so the next notification is stored on a fresh one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_insert_stuck_behind_a_lock_is_given_up_and_its_connection_dropped() {
    let pg = TestPostgres::start();
    let store = store(&pg).await;
    let listener = store.refusing_when_full();
    let first = listener
        .record_delivery(delivery("1", "19"))
        .await
        .expect("stored");

    let mut holder = store.pool().get().await.unwrap();
    let lock = holder.transaction().await.unwrap();
    lock.batch_execute("LOCK TABLE deliveries IN EXCLUSIVE MODE")
        .await
        .unwrap();
    let e = listener
        .record_delivery(delivery("2", "29"))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
    assert_eq!(
        listener.pool().inner().status().size,
        0,
        "the stuck connection (and the idle ones on the same path) were dropped"
    );
    lock.rollback().await.unwrap();
    drop(holder);

    let next = listener
        .record_delivery(delivery("3", "39"))
        .await
        .expect("stored on a fresh connection");
    assert!(next > first);
    let pending: BTreeSet<i64> = store
        .pending_deliveries(10)
        .await
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    assert!(
        pending.contains(&first) && pending.contains(&next),
        "{pending:?}"
    );
}
