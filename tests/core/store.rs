use serde_json::json;
use tillwatch_core::domain::{
    ChangeSource, Currency, JobRef, JobSnapshot, PaymentRef, PaymentSnapshot, PaymentStatus,
    ShipRefusal, Timestamp,
};
use tillwatch_core::store::{Confirmations, Inbox, Orders, Retention};
use tillwatch_core::store::{NewDelivery, ShipRequest, StoreError};
use tillwatch_store_sqlite::SqliteStore;

use crate::harness::{test_store, TestDir};

pub fn snapshot(job: &str, status: PaymentStatus, updated: &str, order: &str) -> JobSnapshot {
    JobSnapshot {
        job_ref: JobRef::parse(job).unwrap(),
        order_number: Some(order.into()),
        email: Some(format!("{order}@Example.com")),
        status: status.clone(),
        amount: Some("10.00".parse().unwrap()),
        paid_amount: None,
        currency: Some(Currency::parse("GBP").unwrap()),
        created_at: None,
        gateway_updated_at: Some(Timestamp::parse(updated).unwrap()),
        payments: vec![PaymentSnapshot {
            payment_ref: PaymentRef::parse(&format!("{job}9")).unwrap(),
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
        raw: json!({"reference": job}),
    }
}

#[tokio::test]
async fn an_older_answer_never_overwrites_a_newer_one() {
    let dir = TestDir::new("store-stale");
    let store = test_store(&dir).await;
    let newer = snapshot("100", PaymentStatus::Paid, "2026-11-24T10:00:02.5Z", "O-1");
    let older = snapshot(
        "100",
        PaymentStatus::Pending,
        "2026-11-24T10:00:01.9999999Z",
        "O-1",
    );
    let a = store
        .apply_snapshot(newer, ChangeSource::Notification, None, None)
        .await
        .unwrap();
    assert!(!a.stale);
    assert_eq!(a.changes.len(), 2, "job and payment first seen");
    let b = store
        .apply_snapshot(older, ChangeSource::Poll, None, None)
        .await
        .unwrap();
    assert!(b.stale);
    assert!(b.changes.is_empty());
    assert_eq!(b.order.status, PaymentStatus::Paid);
    // The same answer again changes nothing.
    let same = snapshot("100", PaymentStatus::Paid, "2026-11-24T10:00:02.5Z", "O-1");
    let c = store
        .apply_snapshot(same, ChangeSource::Poll, None, None)
        .await
        .unwrap();
    assert!(!c.stale && c.changes.is_empty());
    let d = store
        .order(&JobRef::parse("100").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.status_events.len(), 2);
}

#[tokio::test]
async fn lookup_finds_by_every_reference_exact_then_prefix() {
    let dir = TestDir::new("store-lookup");
    let store = test_store(&dir).await;
    for (job, order) in [("111222", "A-7"), ("111333", "A-70"), ("999", "B_1")] {
        let s = snapshot(job, PaymentStatus::Paid, "2026-11-24T10:00:00Z", order);
        store
            .apply_snapshot(s, ChangeSource::Notification, None, None)
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
        "payment ref"
    );
    assert_eq!(
        refs(store.lookup("A-7", 10).await.unwrap())[0],
        "111222",
        "exact first"
    );
    assert_eq!(
        store.lookup("A-7", 10).await.unwrap().len(),
        2,
        "then prefix"
    );
    assert_eq!(refs(store.lookup("111", 10).await.unwrap()).len(), 2);
    assert_eq!(
        refs(store.lookup("a-70@example.COM", 10).await.unwrap()),
        vec!["111333"]
    );
    assert_eq!(refs(store.lookup("b_1@", 10).await.unwrap()), vec!["999"]);
    // Wildcards in the query are literal.
    assert!(store.lookup("B%", 10).await.unwrap().is_empty());
    assert!(store.lookup("*", 10).await.unwrap().is_empty());
    assert!(store.lookup("  ", 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn shipping_follows_the_status_and_is_audited() {
    let dir = TestDir::new("store-ship");
    let store = SqliteStore::open(dir.path().join("t.db")).unwrap();
    for (job, status) in [
        ("1", PaymentStatus::Pending),
        ("2", PaymentStatus::Paid),
        ("3", PaymentStatus::Reserved),
    ] {
        let s = snapshot(job, status, "2026-11-24T10:00:00Z", job);
        store
            .apply_snapshot(s, ChangeSource::Notification, None, None)
            .await
            .unwrap();
    }
    let ship = |job: &str, allow_reserved: bool| ShipRequest {
        job_ref: JobRef::parse(job).unwrap(),
        note: Some("  RM123456789GB ".into()),
        allow_reserved,
        override_mismatch: None,
        by: Some("ana@till-2".into()),
    };
    assert!(matches!(
        store.ship(ship("1", false)).await,
        Err(StoreError::Ship(ShipRefusal::NotPaid(
            PaymentStatus::Pending
        )))
    ));
    assert!(matches!(
        store.ship(ship("3", false)).await,
        Err(StoreError::Ship(ShipRefusal::ReservedNotAllowed))
    ));
    assert!(store.ship(ship("3", true)).await.is_ok());
    let shipped = store.ship(ship("2", false)).await.unwrap();
    assert!(shipped.summary.shipped);
    assert_eq!(shipped.shipping_note.as_deref(), Some("RM123456789GB"));
    assert_eq!(shipped.audit.len(), 1);
    assert!(matches!(
        store.ship(ship("2", false)).await,
        Err(StoreError::Ship(ShipRefusal::AlreadyShipped))
    ));
    assert!(matches!(
        store.ship(ship("404", false)).await,
        Err(StoreError::NotFound(_))
    ));

    let undone = store
        .unship(&JobRef::parse("2").unwrap(), Some("ben@backroom".into()))
        .await
        .unwrap();
    assert!(!undone.summary.shipped);
    assert_eq!(
        undone
            .audit
            .iter()
            .map(|a| (a.action.as_str(), a.by.as_deref()))
            .collect::<Vec<_>>(),
        vec![
            ("shipped", Some("ana@till-2")),
            ("unshipped", Some("ben@backroom"))
        ],
        "who did what, machine and user, is in the audit trail"
    );
    // Survives reopening.
    drop(store);
    let store = SqliteStore::open(dir.path().join("t.db")).unwrap();
    let three = store
        .order(&JobRef::parse("3").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(three.summary.shipped);
}

#[tokio::test]
async fn concurrent_writes_are_grouped_and_all_committed() {
    let dir = TestDir::new("store-group");
    let store = SqliteStore::open(dir.path().join("t.db")).unwrap();
    let commits_before = store.commit_count();
    let mut writes = tokio::task::JoinSet::new();
    for i in 0..500u32 {
        let store = store.clone();
        writes.spawn(async move {
            store
                .record_delivery(NewDelivery {
                    received_at: Timestamp::now(),
                    remote_addr: None,
                    forwarded_for: None,
                    body: String::new(),
                    job_ref: JobRef::parse(&format!("{}", 1000 + i)).unwrap(),
                    payment_ref: PaymentRef::parse("1").unwrap(),
                })
                .await
        });
    }
    let mut ids = Vec::new();
    while let Some(r) = writes.join_next().await {
        ids.push(r.unwrap().unwrap());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 500);
    assert_eq!(store.inbox_status().await.unwrap().0, 500);
    let commits = store.commit_count() - commits_before;
    assert!(
        commits < 500,
        "500 concurrent writes must share transactions; they took {commits} commits"
    );
}

#[tokio::test]
async fn a_database_from_a_newer_version_is_refused_not_damaged() {
    let dir = TestDir::new("store-newer");
    let path = dir.path().join("t.db");
    drop(SqliteStore::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    assert!(matches!(
        SqliteStore::open(&path),
        Err(StoreError::TooNew { found: 99, .. })
    ));
    // Reopening an up-to-date file runs no migration twice.
    let other = dir.path().join("u.db");
    drop(SqliteStore::open(&other).unwrap());
    drop(SqliteStore::open(&other).unwrap());
}

#[tokio::test]
async fn an_order_is_named_by_any_reference_and_ambiguity_is_refused() {
    use tillwatch_core::app::{AppError, ShopPolicy, Tillwatch};
    let dir = TestDir::new("resolve");
    let store = test_store(&dir).await;
    for (job, order) in [("111222", "A-7"), ("111333", "A-70")] {
        let s = snapshot(job, PaymentStatus::Paid, "2026-11-24T10:00:00Z", order);
        store
            .apply_snapshot(s, ChangeSource::Notification, None, None)
            .await
            .unwrap();
    }
    let app = Tillwatch::new(
        store,
        ShopPolicy {
            allow_ship_on_reserved: false,
        },
    );
    assert_eq!(
        app.resolve("A-7").await.unwrap().as_str(),
        "111222",
        "exact, not a prefix of another"
    );
    assert_eq!(
        app.resolve("1113339").await.unwrap().as_str(),
        "111333",
        "payment reference"
    );
    assert!(matches!(
        app.resolve("A-").await,
        Err(AppError::NotExact { candidates, .. }) if candidates.len() == 2
    ));
    assert!(matches!(
        app.resolve("nope").await,
        Err(AppError::NotFound(_))
    ));
    let shipped = app.ship("A-70", None).await.unwrap();
    assert!(shipped.summary.shipped);
}

#[tokio::test]
async fn settled_deliveries_are_pruned_after_the_retention_period_and_pending_or_dead_never() {
    let dir = TestDir::new("store-retention");
    let path = dir.path().join("t.db");
    let store = SqliteStore::open(&path).unwrap();
    for job in ["1", "2", "3", "4", "5"] {
        store
            .record_delivery(NewDelivery {
                received_at: Timestamp::now(),
                remote_addr: None,
                forwarded_for: None,
                body: String::new(),
                job_ref: JobRef::parse(job).unwrap(),
                payment_ref: PaymentRef::parse("1").unwrap(),
            })
            .await
            .unwrap();
    }
    let days_ago = |d: i64| {
        Timestamp::from_unix_millis(Timestamp::now().unix_millis() - d * 86_400_000).to_string()
    };
    {
        // Ages set by hand: the retention counts from settled_at.
        let conn = rusqlite::Connection::open(&path).unwrap();
        let set = |job: &str, state: &str, settled: Option<String>, received: String| {
            conn.execute(
                "UPDATE deliveries SET state = ?2, settled_at = ?3, received_at = ?4 WHERE job_ref = ?1",
                rusqlite::params![job, state, settled, received],
            )
            .unwrap();
        };
        set("1", "confirmed", Some(days_ago(91)), days_ago(92));
        set("2", "confirmed", Some(days_ago(89)), days_ago(92));
        set("3", "unknown", Some(days_ago(91)), days_ago(92));
        set("4", "pending", None, days_ago(200));
        // Dead deliveries wait for the owner however old they are.
        set("5", "dead", Some(days_ago(400)), days_ago(400));
    }
    let pruned = store
        .prune_settled_deliveries(std::time::Duration::from_secs(90 * 86_400))
        .await
        .unwrap();
    assert_eq!(pruned, 2);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mut stmt = conn
        .prepare("SELECT job_ref FROM deliveries ORDER BY job_ref")
        .unwrap();
    let left: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(left, vec!["2", "4", "5"]);
}
