//! A shop's whole history (issue 10): the upgrade of older databases, the references
//! index, keyset pages and the counts the writer keeps.

use rusqlite::{params, Connection};
use serde_json::json;
use tillwatch_core::app::{ShopPolicy, Tillwatch};
use tillwatch_core::domain::{
    ChangeSource, Currency, JobRef, JobSnapshot, OrderSummary, PaymentRef, PaymentSnapshot,
    PaymentStatus, Timestamp,
};
use tillwatch_core::store::Store;
use tillwatch_core::store::{Confirmations, Orders};
use tillwatch_core::store::{MatchHow, OrderFilter, OrderSort, PageAt, RefKind, ShipRequest};
use tillwatch_store_sqlite::SqliteStore;

use crate::harness::{test_store, TestDir, TestStore};

fn app<S: Store>(store: S) -> Tillwatch<S> {
    Tillwatch::new(
        store,
        ShopPolicy {
            allow_ship_on_reserved: false,
        },
    )
}

fn refs_of(v: &[OrderSummary]) -> Vec<String> {
    v.iter()
        .map(|s| s.payment_job_reference.to_string())
        .collect()
}

/// Fills a database at an old schema version the way that version wrote it.
fn fill_old(conn: &Connection) {
    let job = |job: &str,
               order: Option<&str>,
               email: Option<&str>,
               status: &str,
               amount: Option<&str>,
               currency: Option<&str>,
               shipped: Option<&str>| {
        conn.execute(
            "INSERT INTO payment_jobs (job_ref, order_number, email, status, amount, currency,
                 first_seen_at, updated_at, shipped_at, raw_last_answer)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, ?9)",
            params![
                job,
                order,
                email,
                status,
                amount,
                currency,
                format!("2026-01-0{}T10:00:00.000000Z", job.len() % 9 + 1),
                shipped,
                json!({"reference": job}).to_string()
            ],
        )
        .unwrap();
    };
    job(
        "500100",
        Some("A-1"),
        Some("Ann@Example.com"),
        "Paid",
        Some("9.50"),
        Some("GBP"),
        Some("2026-01-05T00:00:00.000000Z"),
    );
    job(
        "500200",
        Some("A-2"),
        Some("ann@example.com"),
        "Paid",
        Some("10.00"),
        Some("GBP"),
        None,
    );
    job(
        "5003000",
        Some("B-1"),
        None,
        "Failed",
        Some("1500"),
        Some("JPY"),
        None,
    );
    job("5004000", None, None, "Pending", None, None, None);
    let pay = |job: &str, payment: &str, attempt: u32, status: &str| {
        conn.execute(
            "INSERT INTO payments (job_ref, payment_ref, attempt, status, updated_at,
                 raw_last_answer)
             VALUES (?1, ?2, ?3, ?4, '2026-01-01T10:00:00.000000Z', ?5)",
            params![
                job,
                payment,
                attempt,
                status,
                json!({"payment": payment}).to_string()
            ],
        )
        .unwrap();
    };
    pay("500100", "700101", 1, "Paid");
    pay("500200", "700201", 1, "Failed");
    pay("500200", "700202", 2, "Paid");
    pay("5003000", "7003001", 1, "Failed");
    conn.execute(
        "INSERT INTO status_events (job_ref, to_status, source, at)
         VALUES ('500100', 'Paid', 'notification', '2026-01-01T10:00:00.000000Z')",
        [],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO deliveries (received_at, job_ref, payment_ref, response_status, state)
         VALUES ('2026-01-01T10:00:00.000000Z', '500100', '700101', 200, 'confirmed')",
        [],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO audit (at, action, job_ref) VALUES ('2026-01-05T00:00:00.000000Z', 'shipped', '500100')",
        [],
    )
    .unwrap();
}

fn table_counts(path: &std::path::Path) -> Vec<(String, i64)> {
    let conn = Connection::open(path).unwrap();
    [
        "payment_jobs",
        "payments",
        "status_events",
        "deliveries",
        "audit",
    ]
    .iter()
    .map(|t| {
        let n: i64 = conn
            .query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))
            .unwrap();
        (t.to_string(), n)
    })
    .collect()
}

async fn upgrade_keeps_every_row(version: usize) {
    let dir = TestDir::new(&format!("upgrade-{version}"));
    let path = dir.path().join("old.db");
    SqliteStore::create_at_schema_version(&path, version).unwrap();
    fill_old(&Connection::open(&path).unwrap());
    let before = table_counts(&path);

    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(table_counts(&path), before, "every row kept");
    let conn = Connection::open(&path).unwrap();
    let version_now: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        version_now as usize,
        tillwatch_store_sqlite::schema_version()
    );
    let minor: Vec<(String, Option<i64>, i64)> = conn
        .prepare("SELECT job_ref, amount_minor, attempts FROM payment_jobs ORDER BY job_ref")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        minor,
        vec![
            ("500100".into(), Some(950), 1),
            ("500200".into(), Some(1000), 2),
            ("5003000".into(), Some(1500), 1),
            ("5004000".into(), None, 0),
        ],
        "minor units by the currency's digits, attempts from the payments"
    );

    // The raw answers moved to their side tables and still show.
    let d = store
        .order(&JobRef::parse("500200").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.raw_last_answer, Some(json!({"reference": "500200"})));
    assert_eq!(d.payments.len(), 2);
    assert_eq!(d.summary.attempts, 2);
    let payment_raw: String = conn
        .query_row(
            "SELECT raw FROM payment_answers WHERE payment_ref = '700202'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(payment_raw, json!({"payment": "700202"}).to_string());

    // Every reference of the old rows is found.
    for (q, job) in [
        ("500100", "500100"),
        ("700202", "500200"),
        ("B-1", "5003000"),
        ("3001", "5003000"),
        ("0200", "500200"),
    ] {
        assert_eq!(
            refs_of(&store.lookup(q, 10).await.unwrap()),
            vec![job],
            "{q}"
        );
    }
    assert_eq!(
        refs_of(&store.lookup("ANN@example.com", 10).await.unwrap()),
        vec!["500200", "500100"],
        "one address, any case, newest first"
    );

    // The counts start from the rows there were.
    let count = |status: Option<PaymentStatus>, shipped: Option<bool>| {
        let store = store.clone();
        async move {
            store
                .count_orders(OrderFilter {
                    status,
                    shipped,
                    ..OrderFilter::default()
                })
                .await
                .unwrap()
        }
    };
    assert_eq!(count(None, None).await, (4, false));
    assert_eq!(count(Some(PaymentStatus::Paid), None).await, (2, false));
    assert_eq!(
        count(Some(PaymentStatus::Paid), Some(false)).await,
        (1, false)
    );
    assert_eq!(count(None, Some(true)).await, (1, false));
}

#[tokio::test]
async fn a_0001_database_upgrades_and_keeps_every_row() {
    upgrade_keeps_every_row(1).await;
}

#[tokio::test]
async fn a_0002_database_upgrades_and_keeps_every_row() {
    upgrade_keeps_every_row(2).await;
}

fn snap(
    job: &str,
    payments: &[&str],
    status: PaymentStatus,
    order: Option<&str>,
    amount: &str,
    currency: &str,
    at_ms: i64,
) -> JobSnapshot {
    JobSnapshot {
        job_ref: JobRef::parse(job).unwrap(),
        order_number: order.map(str::to_owned),
        email: Some(format!("shopper-{}@Example.com", &job[job.len() - 1..])),
        status: status.clone(),
        amount: Some(amount.parse().unwrap()),
        paid_amount: None,
        currency: Some(Currency::parse(currency).unwrap()),
        created_at: None,
        gateway_updated_at: Some(Timestamp::from_unix_millis(1_780_000_000_000 + at_ms)),
        payments: payments
            .iter()
            .map(|p| PaymentSnapshot {
                payment_ref: PaymentRef::parse(p).unwrap(),
                status: status.clone(),
                amount: None,
                paid_amount: None,
                failure_code: None,
                failure_reason: None,
                created_at: None,
                updated_at: None,
                moves: Vec::new(),
                raw: json!({}),
            })
            .collect(),
        raw: json!({"reference": job}),
    }
}

async fn apply(store: &TestStore, s: JobSnapshot) {
    store
        .apply_snapshot(s, ChangeSource::Notification, None, None)
        .await
        .unwrap();
}

#[tokio::test]
async fn lookup_finds_every_reference_exact_by_prefix_and_by_its_last_digits() {
    let dir = TestDir::new("history-lookup");
    let store = test_store(&dir).await;
    apply(
        &store,
        snap(
            "200421017498767380",
            &["300421017498123456"],
            PaymentStatus::Paid,
            Some("ORD-4242"),
            "12.50",
            "GBP",
            0,
        ),
    )
    .await;
    apply(
        &store,
        snap(
            "200421017498767381",
            &["300421017498654321"],
            PaymentStatus::Failed,
            Some("ORD-77"),
            "3.00",
            "GBP",
            1,
        ),
    )
    .await;

    let found = |q: &'static str| {
        let store = store.clone();
        async move { refs_of(&store.lookup(q, 10).await.unwrap()) }
    };
    assert_eq!(
        found("767380").await,
        vec!["200421017498767380"],
        "last digits of a job"
    );
    assert_eq!(
        found("123456").await,
        vec!["200421017498767380"],
        "last digits of a payment"
    );
    assert_eq!(
        found("4242").await,
        vec!["200421017498767380"],
        "last digits of an order number"
    );
    assert_eq!(
        found("2004210174").await,
        vec!["200421017498767381", "200421017498767380"],
        "a prefix, newest first"
    );
    assert_eq!(
        found("ORD-7").await,
        vec!["200421017498767381"],
        "a prefix of an order number"
    );
    assert_eq!(
        found("SHOPPER-1@").await,
        vec!["200421017498767381"],
        "an e-mail in any case"
    );

    // The search box: prefixes from three characters, exact references of any length.
    let app = app(store.clone());
    apply(
        &store,
        snap(
            "42",
            &["43"],
            PaymentStatus::Paid,
            Some("7"),
            "1.00",
            "GBP",
            2,
        ),
    )
    .await;
    assert!(
        app.search("20", 20).await.unwrap().is_empty(),
        "two characters: no prefix"
    );
    let exact = app.search("7", 20).await.unwrap();
    assert_eq!(exact.len(), 1, "an exact order number of one character");
    assert_eq!(exact[0].how, MatchHow::Exact);
    let hits = app.search("654321", 20).await.unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(
        (hits[0].kind, hits[0].how, hits[0].reference.as_str()),
        (RefKind::Payment, MatchHow::Suffix, "300421017498654321"),
        "what matched, for highlighting"
    );
    let hits = app.search("ORD-", 20).await.unwrap();
    assert!(hits
        .iter()
        .all(|h| h.how == MatchHow::Prefix && h.kind == RefKind::OrderNumber));
    assert_eq!(hits.len(), 2);
}

#[tokio::test]
async fn a_changed_order_number_or_email_no_longer_finds_the_order() {
    let dir = TestDir::new("history-renamed");
    let store = test_store(&dir).await;
    apply(
        &store,
        snap(
            "910",
            &["911"],
            PaymentStatus::Pending,
            Some("OLD-1"),
            "1.00",
            "GBP",
            0,
        ),
    )
    .await;
    let mut newer = snap(
        "910",
        &["911"],
        PaymentStatus::Paid,
        Some("NEW-1"),
        "1.00",
        "GBP",
        5,
    );
    newer.email = Some("someone.else@example.com".into());
    apply(&store, newer).await;
    assert!(store.lookup("OLD-1", 10).await.unwrap().is_empty());
    assert!(store
        .lookup("shopper-0@example.com", 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        refs_of(&store.lookup("NEW-1", 10).await.unwrap()),
        vec!["910"]
    );
    assert_eq!(
        refs_of(&store.lookup("someone.else@", 10).await.unwrap()),
        vec!["910"]
    );
}

/// 40 orders in two currencies, several statuses, some shipped, some without an order
/// number, many seen in the same instant (ties broken by the job reference).
async fn varied_store(name: &str) -> (TestDir, TestStore) {
    let dir = TestDir::new(name);
    let store = test_store(&dir).await;
    let statuses = [
        PaymentStatus::Paid,
        PaymentStatus::Failed,
        PaymentStatus::Pending,
        PaymentStatus::Paid,
        PaymentStatus::Cancelled,
    ];
    for i in 0..40u32 {
        let job = format!("{}", 600_000 + (i * 7919) % 1000);
        let order = (i % 6 != 0).then(|| format!("N-{}", (i * 31) % 17));
        let (amount, currency) = if i.is_multiple_of(4) {
            (format!("{}", 100 + i * 3), "JPY")
        } else {
            (format!("{}.{:02}", i % 11, (i * 13) % 100), "GBP")
        };
        let payments = [format!("8{job}")];
        let payments: Vec<&str> = payments.iter().map(String::as_str).collect();
        apply(
            &store,
            snap(
                &job,
                &payments,
                statuses[i as usize % 5].clone(),
                order.as_deref(),
                &amount,
                currency,
                i as i64,
            ),
        )
        .await;
    }
    // Two paid orders shipped.
    let paid = store
        .orders(OrderFilter {
            status: Some(PaymentStatus::Paid),
            limit: 2,
            ..OrderFilter::default()
        })
        .await
        .unwrap()
        .orders;
    for o in paid {
        store
            .ship(ShipRequest {
                job_ref: o.payment_job_reference,
                note: None,
                allow_reserved: false,
                override_mismatch: None,
                by: None,
            })
            .await
            .unwrap();
    }
    (dir, store)
}

async fn walk(store: &impl Store, base: OrderFilter, backwards: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut at = if backwards {
        PageAt::Last
    } else {
        PageAt::First
    };
    for _ in 0..100 {
        let page = store
            .orders(OrderFilter {
                at: at.clone(),
                ..base.clone()
            })
            .await
            .unwrap();
        assert!(page.orders.len() <= base.limit as usize);
        let mut refs = refs_of(&page.orders);
        if backwards {
            refs.append(&mut out);
            out = refs;
            match page.prev {
                Some(c) => at = PageAt::Before(c),
                None => return out,
            }
        } else {
            out.append(&mut refs);
            match page.next {
                Some(c) => at = PageAt::After(c),
                None => return out,
            }
        }
    }
    panic!("more pages than orders");
}

#[tokio::test]
async fn every_sort_pages_through_every_order_once_forwards_and_backwards() {
    let (_dir, store) = varied_store("history-pages").await;
    let filters = [
        (None, None),
        (Some(PaymentStatus::Paid), Some(false)),
        (Some(PaymentStatus::Failed), None),
        (None, Some(true)),
    ];
    for sort in [
        OrderSort::FirstSeen,
        OrderSort::Updated,
        OrderSort::Status,
        OrderSort::OrderNumber,
        OrderSort::Amount,
    ] {
        for ascending in [false, true] {
            for (status, shipped) in filters.clone() {
                let base = OrderFilter {
                    status: status.clone(),
                    shipped,
                    sort,
                    ascending,
                    limit: 3,
                    ..OrderFilter::default()
                };
                let whole = store
                    .orders(OrderFilter {
                        limit: 0,
                        ..base.clone()
                    })
                    .await
                    .unwrap();
                let expected = refs_of(&whole.orders);
                let what = format!("{sort:?} ascending={ascending} {status:?} {shipped:?}");
                assert!(!expected.is_empty(), "{what}");
                assert_eq!(
                    walk(&store, base.clone(), false).await,
                    expected,
                    "{what} forwards"
                );
                assert_eq!(
                    walk(&store, base.clone(), true).await,
                    expected,
                    "{what} backwards"
                );
                let (total, capped) = store.count_orders(base.clone()).await.unwrap();
                assert_eq!(
                    (total, capped),
                    (expected.len() as u64, false),
                    "{what} total"
                );
            }
        }
    }
}

#[tokio::test]
async fn amounts_sort_by_value_within_each_currency() {
    let (_dir, store) = varied_store("history-amounts").await;
    let all = store
        .orders(OrderFilter {
            sort: OrderSort::Amount,
            ascending: true,
            ..OrderFilter::default()
        })
        .await
        .unwrap()
        .orders;
    let keys: Vec<(String, rust_decimal::Decimal)> = all
        .iter()
        .map(|o| {
            (
                o.currency.as_ref().unwrap().to_string(),
                o.amount.unwrap().decimal(),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(
        keys, sorted,
        "by currency, then by value (9.50 before 10.00)"
    );
    assert!(keys.iter().any(|k| k.0 == "JPY") && keys.iter().any(|k| k.0 == "GBP"));
}

#[tokio::test]
async fn counts_follow_every_write_without_counting_rows() {
    let (_dir, store) = varied_store("history-counts").await;
    let app = app(store.clone());
    let check = || async {
        let all = store.orders(OrderFilter::default()).await.unwrap().orders;
        for status in [None, Some(PaymentStatus::Paid), Some(PaymentStatus::Failed)] {
            for shipped in [None, Some(true), Some(false)] {
                let expected = all
                    .iter()
                    .filter(|o| status.as_ref().is_none_or(|s| &o.status == s))
                    .filter(|o| shipped.is_none_or(|s| o.shipped == s))
                    .count() as u64;
                let got = store
                    .count_orders(OrderFilter {
                        status: status.clone(),
                        shipped,
                        ..OrderFilter::default()
                    })
                    .await
                    .unwrap();
                assert_eq!(got, (expected, false), "{status:?} {shipped:?}");
            }
        }
    };
    check().await;
    // A status change, a shipment and its undoing, a new job created here.
    apply(
        &store,
        snap(
            "600000",
            &["8600000"],
            PaymentStatus::Verified,
            Some("N-0"),
            "100",
            "JPY",
            99,
        ),
    )
    .await;
    let paid = store
        .orders(OrderFilter {
            status: Some(PaymentStatus::Paid),
            shipped: Some(false),
            ..OrderFilter::default()
        })
        .await
        .unwrap()
        .orders;
    let first = paid[0].payment_job_reference.to_string();
    app.ship(&first, None).await.unwrap();
    check().await;
    app.unship(&first).await.unwrap();
    check().await;
    assert_eq!(paid[0].attempts, 1, "attempts kept on the job");
}

#[tokio::test]
async fn a_date_filtered_total_counts_only_what_the_filter_names() {
    let (_dir, store) = varied_store("history-dates").await;
    let all = store.orders(OrderFilter::default()).await.unwrap().orders;
    let from = all.iter().map(|o| o.first_seen_at).min().unwrap();
    let (n, capped) = store
        .count_orders(OrderFilter {
            from: Some(from),
            ..OrderFilter::default()
        })
        .await
        .unwrap();
    assert_eq!((n, capped), (all.len() as u64, false));
    let (n, _) = store
        .count_orders(OrderFilter {
            to: Some(from),
            ..OrderFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(n, 0);
}
