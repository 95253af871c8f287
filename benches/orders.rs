//! The orders table at 100,000 orders: time to fetch a page (each sort, with and without
//! filters), to count, and to look up by prefix. Prints figures, asserts nothing.
//!
//! `cargo bench --bench orders` (BENCH_ORDERS sets the count).

use std::time::Instant;

use tillwatch::app::{ShopPolicy, Tillwatch};
use tillwatch::domain::{
    ChangeSource, Currency, JobRef, JobSnapshot, PaymentRef, PaymentSnapshot, PaymentStatus,
    Timestamp,
};
use tillwatch::store::{OrderSort, Store};
use tillwatch::views::OrdersQuery;

fn snapshot(i: u64) -> JobSnapshot {
    let status = match i % 10 {
        0..=6 => PaymentStatus::Paid,
        7 => PaymentStatus::Pending,
        8 => PaymentStatus::Failed,
        _ => PaymentStatus::Cancelled,
    };
    let job = format!("{}", 200_000_000_000_000_000u64 + i);
    JobSnapshot {
        job_ref: JobRef::parse(&job).unwrap(),
        order_number: Some(format!("ORD-{i}")),
        email: Some(format!("shopper{}@example.com", i % 5000)),
        status: status.clone(),
        amount: Some(format!("{}.{:02}", 1 + i % 300, i % 100).parse().unwrap()),
        paid_amount: None,
        currency: Some(Currency::parse("GBP").unwrap()),
        created_at: None,
        gateway_updated_at: Some(Timestamp::from_unix_millis(
            1_700_000_000_000 + i as i64 * 1000,
        )),
        payments: vec![PaymentSnapshot {
            payment_ref: PaymentRef::parse(&format!("{}", 300_000_000_000_000_000u64 + i)).unwrap(),
            status,
            amount: None,
            failure_code: None,
            failure_reason: None,
            created_at: None,
            raw: serde_json::json!({}),
        }],
        raw: serde_json::json!({"reference": job}),
    }
}

#[tokio::main]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("orders bench: run with `cargo bench --bench orders`");
        return;
    }
    let count: u64 = std::env::var("BENCH_ORDERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = std::env::temp_dir().join(format!("tillwatch-bench-orders-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Store::open(dir.join("orders.db")).unwrap();

    let t = Instant::now();
    let mut next = 0u64;
    while next < count {
        let mut batch = tokio::task::JoinSet::new();
        for i in next..(next + 1000).min(count) {
            let store = store.clone();
            batch.spawn(async move {
                store
                    .apply_snapshot(snapshot(i), ChangeSource::Notification, None, None)
                    .await
                    .unwrap();
            });
        }
        while batch.join_next().await.is_some() {}
        next += 1000;
    }
    println!(
        "seeded {count} orders in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let app = Tillwatch::new(
        store,
        ShopPolicy {
            allow_ship_on_reserved: false,
        },
    );
    let time = |label: String, ms: f64| println!("  {label:<48} {ms:>8.2} ms");
    println!("orders table at {count} orders (median of 5)");
    for (sort, name) in [
        (OrderSort::FirstSeen, "first seen"),
        (OrderSort::Updated, "updated"),
        (OrderSort::Status, "status"),
        (OrderSort::OrderNumber, "order number"),
        (OrderSort::Amount, "amount"),
    ] {
        for (status, offset) in [
            (None, 0u32),
            (Some("Pending".to_owned()), 0),
            (None, 50_000),
        ] {
            let mut runs = Vec::new();
            for _ in 0..5 {
                let q = OrdersQuery {
                    status: status.clone(),
                    sort,
                    limit: 50,
                    offset,
                    ..OrdersQuery::default()
                };
                let t = Instant::now();
                let page = app.orders_page(q).await.unwrap();
                runs.push(t.elapsed().as_secs_f64() * 1000.0);
                assert!(!page.orders.is_empty() || offset > 0);
            }
            runs.sort_by(|a, b| a.partial_cmp(b).unwrap());
            let filter = status
                .as_deref()
                .map_or("all".to_owned(), |s| format!("status={s}"));
            time(
                format!("page of 50 by {name}, {filter}, offset {offset}"),
                runs[2],
            );
        }
    }
    for q in [
        "200000000000012345",
        "ORD-4242",
        "shopper77@",
        "20000000000009",
    ] {
        let t = Instant::now();
        let found = app.search(q, 20).await.unwrap();
        time(
            format!("lookup {q:?} ({} found)", found.len()),
            t.elapsed().as_secs_f64() * 1000.0,
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
