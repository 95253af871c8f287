//! A shop's whole history: 400,000 payment jobs holding 1,000,000 payments (shopper
//! attempts), built once and cached under the target directory, then p50/p99 over 1,000
//! queries each of every lookup and page the window makes, each beside its floor (a
//! primary-key SELECT of one row through the same read path). Prints figures, asserts
//! nothing; the last line is read by a reviewer's script.
//!
//! `nice cargo bench -p tillwatch-store-sqlite --bench orders` (`BENCH_JOBS` sets the number
//! of jobs, payments are 2.5 per job; `BENCH_TRIGRAM=0` skips the FTS5 trigram
//! comparison).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tillwatch_core::app::{ShopPolicy, Tillwatch};
use tillwatch_core::domain::{
    ChangeSource, Currency, JobRef, JobSnapshot, PaymentRef, PaymentSnapshot, PaymentStatus,
    Timestamp,
};
use tillwatch_core::store::OrderSort;
use tillwatch_core::store::{Confirmations, Orders};
use tillwatch_core::views::OrdersQuery;
use tillwatch_store_sqlite::SqliteStore;

const QUERIES: usize = 1000;

fn job_ref(i: u64) -> String {
    format!("{}", 200_000_000_000_000_000u64 + i)
}

fn payment_ref(i: u64, attempt: u64) -> String {
    format!("{}", 300_000_000_000_000_000u64 + i * 4 + attempt)
}

/// 2 or 3 attempts per job: 2.5 on average.
fn attempts(i: u64) -> u64 {
    2 + i % 2
}

fn status(i: u64) -> PaymentStatus {
    match i % 10 {
        0..=6 => PaymentStatus::Paid,
        7 => PaymentStatus::Pending,
        8 => PaymentStatus::Failed,
        _ => PaymentStatus::Cancelled,
    }
}

fn snapshot(i: u64) -> JobSnapshot {
    let status = status(i);
    let job = job_ref(i);
    let n = attempts(i);
    let payments = (0..n)
        .map(|a| PaymentSnapshot {
            payment_ref: PaymentRef::parse(&payment_ref(i, a)).unwrap(),
            // Earlier attempts failed; the last one has the job's status.
            status: if a + 1 == n {
                status.clone()
            } else {
                PaymentStatus::Failed
            },
            amount: None,
            paid_amount: None,
            failure_code: None,
            failure_reason: None,
            created_at: None,
            updated_at: None,
            moves: Vec::new(),
            raw: serde_json::json!({"reference": payment_ref(i, a)}),
        })
        .collect();
    JobSnapshot {
        job_ref: JobRef::parse(&job).unwrap(),
        order_number: Some(format!("ORD-{i}")),
        email: Some(format!("shopper{}@example.com", i % 5000)),
        status,
        amount: Some(format!("{}.{:02}", 1 + i % 300, i % 100).parse().unwrap()),
        paid_amount: None,
        currency: Some(Currency::parse(if i.is_multiple_of(7) { "EUR" } else { "GBP" }).unwrap()),
        created_at: None,
        gateway_updated_at: Some(Timestamp::from_unix_millis(
            1_700_000_000_000 + i as i64 * 1000,
        )),
        payments,
        raw: serde_json::json!({"reference": job}),
    }
}

fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().unwrap();
    exe.ancestors()
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n == "release" || n == "debug")
        })
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir)
}

fn schema_version(path: &Path) -> Option<usize> {
    let conn = Connection::open(path).ok()?;
    conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))
        .ok()
        .map(|v| v as usize)
}

/// Builds the database through the store's own writer (one transaction per batch the
/// writer groups, prepared statements), then ships most paid orders in one UPDATE.
async fn build(path: &Path, jobs: u64) {
    let building = path.with_extension("building");
    let _ = std::fs::remove_file(&building);
    for ext in ["building-wal", "building-shm"] {
        let _ = std::fs::remove_file(path.with_extension(ext));
    }
    let t = Instant::now();
    let store = SqliteStore::open(&building).unwrap();
    let mut next = 0u64;
    while next < jobs {
        let mut batch = tokio::task::JoinSet::new();
        for i in next..(next + 1000).min(jobs) {
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
        if next.is_multiple_of(50_000) {
            println!("  built {next} jobs in {:.0} s", t.elapsed().as_secs_f64());
        }
    }
    drop(store);
    // The owner has shipped every paid order but the newest 2%: the to-do list is short
    // and its rows are the newest.
    let conn = Connection::open(&building).unwrap();
    conn.execute(
        "UPDATE payment_jobs SET shipped_at = first_seen_at
         WHERE status = 'Paid' AND job_ref < ?1",
        [job_ref(jobs - jobs / 50)],
    )
    .unwrap();
    conn.execute_batch(
        "PRAGMA analysis_limit = 400; PRAGMA optimize = 0x10002; PRAGMA wal_checkpoint(TRUNCATE);",
    )
    .unwrap();
    drop(conn);
    std::fs::rename(&building, path).unwrap();
    println!(
        "built {jobs} jobs / {} payments in {:.0} s",
        jobs * 5 / 2,
        t.elapsed().as_secs_f64()
    );
}

#[derive(Clone, Copy)]
struct Figures {
    p50: f64,
    p99: f64,
}

async fn measure<F, Fut>(mut f: F) -> Figures
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut runs = Vec::with_capacity(QUERIES);
    for i in 0..QUERIES {
        let t = Instant::now();
        f(i).await;
        runs.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    runs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    Figures {
        p50: runs[QUERIES / 2],
        p99: runs[QUERIES * 99 / 100],
    }
}

fn show(label: &str, f: Figures, floor: Figures) {
    println!(
        "  {label:<44} p50 {:>7.3} ms  p99 {:>7.3} ms   (floor p50 {:.3} / p99 {:.3})",
        f.p50, f.p99, floor.p50, floor.p99
    );
}

/// A cheap, repeatable spread of rows: the i-th query's job.
fn pick(i: usize, jobs: u64) -> u64 {
    (i as u64).wrapping_mul(2_654_435_761) % jobs
}

/// The cursor text of the row at `offset` in a sort (newest first), read once, untimed.
fn cursor_at(conn: &Connection, sort: OrderSort, offset: u64) -> String {
    let (tag, keys) = match sort {
        OrderSort::FirstSeen => ("firstSeen", "first_seen_at"),
        OrderSort::Updated => ("updated", "updated_at"),
        OrderSort::Status => ("status", "status"),
        OrderSort::OrderNumber => ("orderNumber", "order_key"),
        OrderSort::Amount => ("amount", "currency_key, amount_key"),
    };
    let order = keys
        .split(", ")
        .chain(["job_ref"])
        .map(|k| format!("{k} DESC"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT json_array(?1, {keys}, job_ref) FROM payment_jobs ORDER BY {order} LIMIT 1 OFFSET ?2"
    );
    conn.query_row(&sql, rusqlite::params![tag, offset as i64], |r| r.get(0))
        .unwrap()
}

/// The FTS5 trigram alternative for "the last digits", built once beside the database.
fn trigram_db(dir: &Path, jobs: u64) -> PathBuf {
    let path = dir.join(format!("orders-trigram-{jobs}.db"));
    if path.exists() {
        return path;
    }
    let t = Instant::now();
    let building = path.with_extension("building");
    let _ = std::fs::remove_file(&building);
    let mut conn = Connection::open(&building).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         CREATE VIRTUAL TABLE tri USING fts5(ref, job_ref UNINDEXED, tokenize = 'trigram');",
    )
    .unwrap();
    let tx = conn.transaction().unwrap();
    {
        let mut ins = tx
            .prepare("INSERT INTO tri (ref, job_ref) VALUES (?1, ?2)")
            .unwrap();
        for i in 0..jobs {
            let job = job_ref(i);
            ins.execute([&job, &job]).unwrap();
            ins.execute([&format!("ORD-{i}"), &job]).unwrap();
            for a in 0..attempts(i) {
                ins.execute([&payment_ref(i, a), &job]).unwrap();
            }
        }
    }
    tx.commit().unwrap();
    drop(conn);
    std::fs::rename(&building, &path).unwrap();
    println!(
        "built the trigram index in {:.0} s",
        t.elapsed().as_secs_f64()
    );
    path
}

#[tokio::main]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("orders bench: run with `cargo bench -p tillwatch-store-sqlite --bench orders`");
        return;
    }
    let jobs: u64 = std::env::var("BENCH_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400_000);
    let payments = (0..jobs).map(attempts).sum::<u64>();
    let dir = target_dir().join("bench-data");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("orders-{jobs}.db"));
    let latest = tillwatch_store_sqlite::schema_version();
    if path.exists() && schema_version(&path) != Some(latest) {
        println!("the cached database has another schema: rebuilding");
        std::fs::remove_file(&path).unwrap();
    }
    if !path.exists() {
        build(&path, jobs).await;
    } else {
        println!("reusing {}", path.display());
    }

    let store = SqliteStore::open(&path).unwrap();
    let app = Tillwatch::new(
        store.clone(),
        ShopPolicy {
            allow_ship_on_reserved: false,
        },
    );
    let side = Connection::open(&path).unwrap();
    let refs: Vec<JobRef> = (0..QUERIES)
        .map(|i| JobRef::parse(&job_ref(pick(i, jobs))).unwrap())
        .collect();
    // Warm the cache as an owner's running app would have it.
    for sort in [
        OrderSort::FirstSeen,
        OrderSort::Updated,
        OrderSort::Status,
        OrderSort::OrderNumber,
        OrderSort::Amount,
    ] {
        let _ = side
            .query_row(
                &format!(
                    "SELECT count(*) FROM payment_jobs INDEXED BY {}",
                    match sort {
                        OrderSort::FirstSeen => "payment_jobs_by_first_seen",
                        OrderSort::Updated => "payment_jobs_by_updated",
                        OrderSort::Status => "payment_jobs_by_status",
                        OrderSort::OrderNumber => "payment_jobs_by_order_key",
                        OrderSort::Amount => "payment_jobs_by_amount",
                    }
                ),
                [],
                |r| r.get::<_, i64>(0),
            )
            .unwrap();
    }
    for t in ["refs", "ref_tails", "payment_jobs"] {
        let _ = side
            .query_row(&format!("SELECT count(*) FROM {t}"), [], |r| {
                r.get::<_, i64>(0)
            })
            .unwrap();
    }

    println!("orders at {jobs} jobs / {payments} payments: p50 and p99 of {QUERIES} queries each");
    let floor_query = |i: usize| {
        let (store, job) = (store.clone(), refs[i].clone());
        async move {
            store.expectation(&job).await.unwrap();
        }
    };
    // Once to start the blocking threads, then measured.
    measure(floor_query).await;
    let floor = measure(floor_query).await;
    show("floor: primary-key SELECT of one row", floor, floor);

    // Lookups, as the window's search box asks them (20 results).
    let search = |q: String| {
        let app = app.clone();
        async move {
            let found = app.search(&q, 20).await.unwrap();
            assert!(!found.is_empty(), "{q}");
        }
    };
    let mut lookup_p99: f64 = 0.0;
    for (kind, make) in [
        (
            "job reference",
            &(|i: u64| job_ref(i)) as &dyn Fn(u64) -> String,
        ),
        ("payment reference", &|i| payment_ref(i, 0)),
        ("order number", &|i| format!("ORD-{i}")),
        ("e-mail (80 orders each)", &|i| {
            format!("shopper{}@example.com", i % 5000)
        }),
    ] {
        let f = measure(|i| search(make(pick(i, jobs)))).await;
        show(&format!("exact lookup: {kind}"), f, floor);
        lookup_p99 = lookup_p99.max(f.p99);
    }
    let prefixes = ["200", "300", "ORD", "sho", "ORD-12", "2000000000000012"];
    let prefix = measure(|i| search(prefixes[i % 4].to_owned())).await;
    show("3-character prefix (200, 300, ORD, sho)", prefix, floor);
    let longer = measure(|i| search(prefixes[4 + i % 2].to_owned())).await;
    show("longer prefix (ORD-12, 2000000000000012)", longer, floor);
    let suffix = measure(|i| {
        let i = pick(i, jobs);
        let r = if i.is_multiple_of(2) {
            job_ref(i)
        } else {
            payment_ref(i, 1)
        };
        search(r[r.len() - 6..].to_owned())
    })
    .await;
    show("last 6 digits (job or payment)", suffix, floor);

    // Pages, as the window asks them (count and page of 50).
    let page = |q: OrdersQuery| {
        let app = app.clone();
        async move {
            let p = app.orders_page(q).await.unwrap();
            assert!(!p.orders.is_empty());
        }
    };
    let mut page_p99: f64 = 0.0;
    let mut deep_p99: f64 = 0.0;
    for (sort, name) in [
        (OrderSort::FirstSeen, "first seen"),
        (OrderSort::Updated, "updated"),
        (OrderSort::Status, "status"),
        (OrderSort::OrderNumber, "order number"),
        (OrderSort::Amount, "amount"),
    ] {
        let q = |after: Option<String>, last: bool| OrdersQuery {
            sort,
            limit: 50,
            after,
            last,
            ..OrdersQuery::default()
        };
        let first = measure(|_| page(q(None, false))).await;
        show(&format!("page by {name}: first"), first, floor);
        let middle_cursor = cursor_at(&side, sort, jobs / 2);
        let middle = measure(|_| page(q(Some(middle_cursor.clone()), false))).await;
        show(
            &format!("page by {name}: middle (row {})", jobs / 2),
            middle,
            floor,
        );
        let deep_cursor = cursor_at(&side, sort, jobs - 51);
        let deep = measure(|_| page(q(Some(deep_cursor.clone()), false))).await;
        show(
            &format!("page by {name}: deepest (row {})", jobs - 51),
            deep,
            floor,
        );
        let last = measure(|_| page(q(None, true))).await;
        show(&format!("page by {name}: last"), last, floor);
        page_p99 = page_p99.max(first.p99).max(middle.p99);
        deep_p99 = deep_p99.max(deep.p99).max(last.p99);
    }
    for (status, shipped, name) in [
        ("Paid", Some(false), "Paid unshipped"),
        ("Failed", None, "Failed"),
    ] {
        let q = |last: bool| OrdersQuery {
            status: Some(status.into()),
            shipped,
            limit: 50,
            last,
            ..OrdersQuery::default()
        };
        let first = measure(|_| page(q(false))).await;
        show(&format!("filtered page: {name}, first"), first, floor);
        let last = measure(|_| page(q(true))).await;
        show(&format!("filtered page: {name}, last"), last, floor);
        page_p99 = page_p99.max(first.p99);
        deep_p99 = deep_p99.max(last.p99);
    }

    let count_filters = [
        (None, None),
        (Some(PaymentStatus::Paid), Some(false)),
        (Some(PaymentStatus::Failed), None),
        (None, Some(true)),
    ];
    let count = measure(|i| {
        let store = store.clone();
        let (status, shipped) = count_filters[i % count_filters.len()].clone();
        async move {
            store
                .count_orders(tillwatch_core::store::OrderFilter {
                    status,
                    shipped,
                    ..Default::default()
                })
                .await
                .unwrap();
        }
    })
    .await;
    show("count (all, Paid unshipped, Failed, shipped)", count, floor);

    let mut runs = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let n = store.unfinished_jobs().await.unwrap().len();
        runs.push((t.elapsed().as_secs_f64() * 1000.0, n));
    }
    runs.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
    println!(
        "  {:<44} p50 {:>7.3} ms  max {:>7.3} ms   ({} jobs, 20 runs)",
        "unfinished_jobs (the reconciler's list)", runs[10].0, runs[19].0, runs[0].1
    );

    // The last digits both ways, on the same references.
    if std::env::var("BENCH_TRIGRAM").as_deref() != Ok("0") {
        let tri = Connection::open(trigram_db(&dir, jobs)).unwrap();
        let tails = Connection::open(&path).unwrap();
        let f = measure(|i| {
            let r = job_ref(pick(i, jobs));
            let q = format!("%{}", &r[r.len() - 6..]);
            let n: i64 = tri
                .query_row(
                    "SELECT count(*) FROM (SELECT job_ref FROM tri WHERE ref LIKE ?1 LIMIT 40)",
                    [q],
                    |row| row.get(0),
                )
                .unwrap();
            assert!(n > 0);
            async {}
        })
        .await;
        show("last 6 digits: FTS5 trigram (SQL only)", f, floor);
        let b = measure(|i| {
            let r = job_ref(pick(i, jobs));
            let rev: String = r[r.len() - 6..].chars().rev().collect();
            let n: i64 = tails
                .query_row(
                    "SELECT count(*) FROM (SELECT job_ref FROM ref_tails
                     WHERE rev >= ?1 AND rev < ?2 ORDER BY rev DESC LIMIT 40)",
                    [rev.clone(), format!("{rev}\u{10FFFF}")],
                    |row| row.get(0),
                )
                .unwrap();
            assert!(n > 0);
            async {}
        })
        .await;
        show("last 6 digits: backwards refs (SQL only)", b, floor);
    }

    // The listener's acknowledgement, alone and while searches run back to back.
    let ack = ack_latency(&store, &app).await;
    println!(
        "  {:<44} p50 {:>7.3} ms  p99 {:>7.3} ms",
        "listener ack, idle", ack.0.p50, ack.0.p99
    );
    println!(
        "  {:<44} p50 {:>7.3} ms  p99 {:>7.3} ms   (+{:.3} ms at p99)",
        "listener ack, searches running",
        ack.1.p50,
        ack.1.p99,
        ack.1.p99 - ack.0.p99
    );
    drop((app, store));
    // The acknowledged test deliveries are not part of the cached history.
    Connection::open(&path)
        .unwrap()
        .execute("DELETE FROM deliveries", [])
        .unwrap();

    println!(
        "orders bench {payments}: lookup p99 {lookup_p99:.2} ms, prefix p99 {:.2} ms, suffix p99 {:.2} ms, page p99 {page_p99:.2} ms, deepest page p99 {deep_p99:.2} ms, count p99 {:.2} ms",
        prefix.p99, suffix.p99, count.p99
    );
}

async fn ack_latency(store: &SqliteStore, app: &Tillwatch<SqliteStore>) -> (Figures, Figures) {
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhooks/cashflows", tcp.local_addr().unwrap());
    let router = tillwatch_core::listener::router(store.clone(), None, Arc::new(|| {}));
    tokio::spawn(async move {
        tillwatch_core::listener::serve(tcp, router, std::future::pending())
            .await
            .unwrap()
    });
    let client = reqwest::Client::new();
    let post = |i: usize| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let body = format!(
                r#"{{"paymentJobReference":"{}","paymentReference":"{}"}}"#,
                job_ref(i as u64),
                payment_ref(i as u64, 0)
            );
            let r = client.post(&url).body(body).send().await.unwrap();
            assert_eq!(r.status(), 200);
        }
    };
    let idle = measure(post).await;
    let stop = Arc::new(AtomicBool::new(false));
    let searching = {
        let (stop, app) = (Arc::clone(&stop), app.clone());
        tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let q = ["200", "ORD", "sho", "300"][n as usize % 4];
                let _ = app.search(q, 20).await;
                n += 1;
            }
            n
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let busy = measure(post).await;
    stop.store(true, Ordering::Relaxed);
    let searches = searching.await.unwrap();
    println!("  ({searches} searches ran during the second ack measurement)");
    (idle, busy)
}
