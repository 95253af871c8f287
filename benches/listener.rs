//! Listener benchmark: Tillwatch's webhook listener on SQLite next to three floors, and on
//! PostgreSQL next to a PostgreSQL floor, driven over loopback by `oha`, all in one run so
//! the figures are comparable.
//!
//! Servers (each on its own 127.0.0.1 port, in this process, one tokio runtime):
//! - bare: an axum handler that parses the notification and echoes it, no database;
//! - naive durable: one SQLite connection behind a mutex, one INSERT + COMMIT per
//!   request (WAL, synchronous=FULL) before answering;
//! - grouped floor: a single writer thread that puts the rows of every request waiting
//!   at that moment into one transaction and answers each only after that COMMIT;
//! - tillwatch: the real `tillwatch_core::listener` over a real `tillwatch_core::store::Store`
//!   (`SqliteStore`), built and served as `serve` does (`Listener::new` with the source
//!   policy and limits that ship: junk limit, connection caps), so a default that refused
//!   genuine traffic would show as non-200 answers;
//! - tillwatch pg: the same listener over `PgStore` (its pool of 8 connections), on its own
//!   database of a throwaway PostgreSQL server;
//! - pg floor: an axum handler doing one `INSERT` + COMMIT (autocommit) per request on a
//!   deadpool pool of the same size, on another database of that server, before answering.
//!
//! The PostgreSQL server is the tests' own (`tests/common/postgres.rs`: `initdb` into a
//! temporary folder, stopped and removed at the end), so PostgreSQL must be installed
//! (scripts/setup.sh). It runs with `fsync=off` (and `synchronous_commit=off`,
//! `full_page_writes=off`) server-wide; both PostgreSQL servers here set
//! `synchronous_commit=on` per session (checked at start), but no commit waits for a disk,
//! so the absolute PostgreSQL figures are not a disk's: compare tillwatch pg with pg floor.
//!
//! The floors keep the notification in a table with no secondary index; Tillwatch's
//! `deliveries` row carries its own schema's indexes, which is part of what is measured.
//!
//! Per server: max throughput at 64 connections, then p50/p99 at offered rates of
//! 500/s and 5,000/s (oha's `-q` with latency correction). Each measurement is three
//! slices, the servers taking turns, and the median slice is reported, with the count of
//! answers that were not 200 (refusals, errors, dropped connections). After the run,
//! each durable server's rows (SQLite or PostgreSQL) are counted against the 200s it gave.
//! It prints figures and PASS/MISS against the aims; it asserts nothing about time.
//!
//! `BENCH_SECONDS` (default 8) sets each measurement's length (all slices together); `OHA` names the oha
//! binary (default: `oha` on PATH, then `~/.cargo/bin/oha`). `BENCH_ONLY=sqlite` or
//! `BENCH_ONLY=pg` runs one half (the ratios need only a server and its floor);
//! `BENCH_PG_INTAKE` and `BENCH_PG_DROP_INDEXES` are experiments (`PgExperiment`). Run with
//! `cargo bench -p tillwatch-core --bench listener` or `benches/run.sh`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use rusqlite::{params, Connection};
use serde::Deserialize;
use serde_json::{json, Value};
use tillwatch_core::listener::{Listener, ServeLimits, SourcePolicy};
use tillwatch_store_postgres::deadpool_postgres::{
    self, Hook, HookError, Manager, ManagerConfig, RecyclingMethod,
};
use tillwatch_store_postgres::tokio_postgres::{self, NoTls};
use tillwatch_store_postgres::{DatabaseConfig, Password, PgStore};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

#[path = "../tests/common/postgres.rs"]
mod postgres;

const PATH: &str = "/webhooks/cashflows";
const BODY: &str = r#"{"notifyType":"PaymentStatusChange","paymentJobReference":"200421017498767380","paymentReference":"200421100461508616"}"#;
const CONNECTIONS: u32 = 64;
/// Slices per measurement (see `main`).
const ROUNDS: usize = 3;
const RATES: [u32; 2] = [500, 5_000];

/// Goals from issue 17: throughput at least this share of the grouped floor's (SQLite) ...
const AIM_THROUGHPUT: f64 = 0.9;
/// ... or of the INSERT + COMMIT floor's (PostgreSQL) ...
const AIM_THROUGHPUT_PG: f64 = 0.7;
/// ... and p99 at most this multiple of its floor's, at each offered rate (both stores).
const AIM_P99: f64 = 1.5;

fn main() {
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|s| *s > 0)
        .unwrap_or(8);
    let oha = find_oha().unwrap_or_else(|| {
        eprintln!(
            "listener bench: `oha` not found. Install it with `cargo install oha --locked` \
             (benches/run.sh does), or point OHA at the binary."
        );
        std::process::exit(2);
    });
    let started = Instant::now();
    let dir = scratch_dir();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");

    let only = Only::from_env();
    // A throwaway PostgreSQL server (std only, blocking: before the servers start), with a
    // database for each of the two servers on it. Dropped after the runtime, at the end.
    let pg = only.postgres().then(|| {
        let pg = postgres::TestPostgres::start();
        pg.create_database("tillwatch_bench");
        pg.create_database("pg_floor");
        pg
    });

    let servers = rt.block_on(async {
        let mut servers = Vec::new();
        if only.sqlite() {
            servers.push(Server::start("bare", None, bare_router()).await);
            let db = dir.join("naive.db");
            servers.push(
                Server::start(
                    "naive durable",
                    Some(Durable::Sqlite(db.clone())),
                    naive_router(&db),
                )
                .await,
            );
            let db = dir.join("grouped.db");
            servers.push(
                Server::start(
                    "grouped floor",
                    Some(Durable::Sqlite(db.clone())),
                    grouped_router(&db),
                )
                .await,
            );
            let db = dir.join("tillwatch.db");
            let store =
                tillwatch_store_sqlite::SqliteStore::open(&db).expect("open the Tillwatch store");
            servers.push(
                Server::start_tillwatch("tillwatch", Durable::Sqlite(db), shipped(store)).await,
            );
        }
        if let Some(pg) = &pg {
            servers.push(start_tillwatch_pg(pg).await);
            let config = pg_config(pg, "pg_floor");
            let router = pg_floor_router(config.clone()).await;
            servers.push(
                Server::start(
                    "pg floor",
                    Some(Durable::Postgres(Box::new(config))),
                    router,
                )
                .await,
            );
        }
        servers
    });

    // Every server must accept the same request and answer the same echo.
    rt.block_on(async {
        let client = reqwest::Client::new();
        for s in &servers {
            let resp = client
                .post(s.url())
                .header("Content-Type", "application/json")
                .body(BODY)
                .send()
                .await
                .expect("sanity request");
            let status = resp.status();
            let echo: Value = resp.json().await.expect("sanity answer is JSON");
            assert_eq!(status, 200, "{} refused the notification", s.name);
            assert_eq!(
                echo,
                json!({"paymentJobReference": "200421017498767380",
                       "paymentReference": "200421100461508616"}),
                "{} echoed something else",
                s.name
            );
        }
    });

    println!(
        "listener bench: oha {}, {CONNECTIONS} connections, {seconds} s per measurement \
         (median of {ROUNDS} slices), \
         {} cores, load average {}",
        oha_version(&oha),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average()
    );
    if pg.is_some() {
        println!(
            "postgres: the tests' throwaway server (tests/common/postgres.rs), fsync=off and \
             full_page_writes=off server-wide; both PostgreSQL servers commit with \
             synchronous_commit=on per session, but no commit waits for a disk, so absolute \
             PostgreSQL figures are not a disk's (compare tillwatch pg with pg floor)"
        );
        println!("postgres experiment: {}", PgExperiment::from_env());
    }
    // A short warm-up each (its 200s, and the sanity request's, count for durability).
    let warm = Duration::from_secs(1);
    let mut ok_200: Vec<u64> = servers
        .iter()
        .map(|s| 1 + run_oha(&oha, &s.url(), warm, None).ok_200)
        .collect();
    // Each measurement is ROUNDS slices, the servers taking turns slice by slice, and the
    // figure kept is the median slice: a burst of noise from elsewhere on the machine
    // then spoils one slice of one server instead of a server's whole figure.
    let slice = Duration::from_secs(seconds).div_f64(ROUNDS as f64);
    let mut measure = |rate: Option<u32>| -> Vec<Oha> {
        let mut slices: Vec<Vec<Oha>> = vec![Vec::new(); servers.len()];
        for _ in 0..ROUNDS {
            for (i, s) in servers.iter().enumerate() {
                let o = run_oha(&oha, &s.url(), slice, rate);
                ok_200[i] += o.ok_200;
                slices[i].push(o);
            }
        }
        let label = rate.map_or("max".to_owned(), |r| format!("@{r}/s"));
        servers
            .iter()
            .zip(slices)
            .map(|(s, slices)| {
                let m = median(&slices);
                eprintln!(
                    "  {:<14} {label:<8} {:>8.0} req/s, p50 {:.3} ms, p99 {:.3} ms, non-200 {}  (slices' p99: {})",
                    s.name,
                    m.rps,
                    m.p50 * 1e3,
                    m.p99 * 1e3,
                    m.other,
                    slices
                        .iter()
                        .map(|o| format!("{:.3}", o.p99 * 1e3))
                        .collect::<Vec<_>>()
                        .join(" ")
                );
                m
            })
            .collect()
    };
    let max = measure(None);
    let mut at: Vec<Vec<Oha>> = vec![Vec::new(); servers.len()];
    for rate in RATES {
        for (i, o) in measure(Some(rate)).into_iter().enumerate() {
            at[i].push(o);
        }
    }
    let rows: Vec<Row> = servers
        .iter()
        .zip(max)
        .zip(at)
        .zip(ok_200)
        .map(|(((s, max), at), ok_200)| Row {
            name: s.name,
            max,
            at,
            ok_200,
            durable_rows: s.durable.as_ref().map(|d| rt.block_on(d.count_rows())),
        })
        .collect();

    print_table(&rows);
    println!(
        "whole listener bench: {:.0} s; load average at the end {}",
        started.elapsed().as_secs_f64(),
        load_average()
    );
    drop(rt);
    drop(pg);
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------
// Servers

struct Server {
    name: &'static str,
    addr: SocketAddr,
    /// Where a durable server keeps its rows (counted after the run).
    durable: Option<Durable>,
}

enum Durable {
    Sqlite(PathBuf),
    Postgres(Box<tokio_postgres::Config>),
}

impl Durable {
    async fn count_rows(&self) -> u64 {
        match self {
            Durable::Sqlite(db) => count_rows(db),
            Durable::Postgres(config) => {
                let (client, connection) = config.connect(NoTls).await.expect("connect to count");
                tokio::spawn(connection);
                let n: i64 = client
                    .query_one("SELECT count(*) FROM deliveries", &[])
                    .await
                    .expect("count rows")
                    .get(0);
                n as u64
            }
        }
    }
}

impl Server {
    async fn start(name: &'static str, durable: Option<Durable>, router: Router) -> Self {
        let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = tcp.local_addr().expect("local addr");
        tokio::spawn(async move { axum::serve(tcp, router).await.expect("serve") });
        Self {
            name,
            addr,
            durable,
        }
    }

    /// Tillwatch's listener served as `serve` serves it, with the limits that ship.
    async fn start_tillwatch(name: &'static str, durable: Durable, listener: Listener) -> Self {
        let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = tcp.local_addr().expect("local addr");
        tokio::spawn(async move {
            listener
                .serve(tcp, ServeLimits::default(), std::future::pending())
                .await
                .expect("serve")
        });
        Self {
            name,
            addr,
            durable: Some(durable),
        }
    }

    fn url(&self) -> String {
        format!("http://{}{PATH}", self.addr)
    }
}

/// The listener as `serve` builds it: the same constructor, the source policy that ships.
fn shipped<S: tillwatch_core::store::Store>(store: S) -> Listener {
    Listener::new(store, None, SourcePolicy::default(), Arc::new(|| {}))
}

/// Which half of the bench runs (`BENCH_ONLY`: `sqlite` or `pg`; both when unset).
#[derive(Clone, Copy)]
enum Only {
    Both,
    Sqlite,
    Postgres,
}

impl Only {
    fn from_env() -> Self {
        match std::env::var("BENCH_ONLY").as_deref() {
            Err(_) | Ok("") => Only::Both,
            Ok("sqlite") => Only::Sqlite,
            Ok("pg" | "postgres") => Only::Postgres,
            Ok(other) => {
                eprintln!("listener bench: BENCH_ONLY={other}: expected sqlite or pg");
                std::process::exit(2);
            }
        }
    }

    fn sqlite(self) -> bool {
        !matches!(self, Only::Postgres)
    }

    fn postgres(self) -> bool {
        !matches!(self, Only::Sqlite)
    }
}

/// Experiments on what PostgreSQL's intake costs, for the bench only (nothing ships them):
/// `BENCH_PG_INTAKE=n` gives the listener `n` intake connections instead of the shipped
/// number, and `BENCH_PG_DROP_INDEXES=1` drops the inbox's secondary indexes in the bench's
/// database, so the floor's one-index table is matched.
struct PgExperiment {
    intake: usize,
    drop_indexes: bool,
}

impl PgExperiment {
    fn from_env() -> Self {
        Self {
            intake: std::env::var("BENCH_PG_INTAKE")
                .ok()
                .and_then(|s| s.parse().ok())
                .filter(|n| *n > 0)
                .unwrap_or(tillwatch_store_postgres::INTAKE_CONNECTIONS),
            drop_indexes: std::env::var("BENCH_PG_DROP_INDEXES").is_ok_and(|v| v == "1"),
        }
    }
}

impl std::fmt::Display for PgExperiment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shipped = tillwatch_store_postgres::INTAKE_CONNECTIONS;
        write!(
            f,
            "intake connections {} ({}), inbox indexes {}",
            self.intake,
            if self.intake == shipped {
                "as shipped"
            } else {
                "BENCH_PG_INTAKE, not shipped"
            },
            if self.drop_indexes {
                "dropped (BENCH_PG_DROP_INDEXES, not shipped)"
            } else {
                "as shipped"
            }
        )
    }
}

/// The listener over `PgStore`, connected as `serve` connects it unless an experiment
/// (`PgExperiment`) says otherwise.
async fn start_tillwatch_pg(pg: &postgres::TestPostgres) -> Server {
    let experiment = PgExperiment::from_env();
    let url = pg.url_for("tillwatch_bench");
    let config = DatabaseConfig::parse(&url)
        .expect("the test server's URL")
        .with_password(Password::new(pg.password()));
    let store = if experiment.intake == tillwatch_store_postgres::INTAKE_CONNECTIONS {
        PgStore::connect(config).await
    } else {
        PgStore::connect_with_intake(config, experiment.intake).await
    }
    .expect("connect the Tillwatch store to PostgreSQL");
    let client = store.pool().get().await.expect("a store connection");
    assert_synchronous_commit(&client, "tillwatch pg").await;
    if experiment.drop_indexes {
        client
            .batch_execute(
                "DROP INDEX deliveries_pending, deliveries_by_job, deliveries_malformed,
                     deliveries_dead, deliveries_unknown",
            )
            .await
            .expect("drop the inbox's indexes");
    }
    drop(client);
    let durable = Durable::Postgres(Box::new(pg_config(pg, "tillwatch_bench")));
    Server::start_tillwatch("tillwatch pg", durable, shipped(store)).await
}

#[derive(Deserialize)]
struct Notification {
    #[serde(rename = "paymentJobReference")]
    job: String,
    #[serde(rename = "paymentReference")]
    payment: String,
}

fn parse(body: &[u8]) -> Option<Notification> {
    serde_json::from_slice(body).ok()
}

fn bad_request() -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": "not a notification"})),
    )
        .into_response()
}

fn echo(n: &Notification) -> Response {
    (
        StatusCode::OK,
        Json(json!({"paymentJobReference": n.job, "paymentReference": n.payment})),
    )
        .into_response()
}

fn unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"error": "temporarily unable to accept notifications"})),
    )
        .into_response()
}

fn bare_router() -> Router {
    Router::new().route(
        PATH,
        post(|body: Bytes| async move {
            match parse(&body) {
                Some(n) => echo(&n),
                None => bad_request(),
            }
        }),
    )
}

/// The row every durable floor writes: what the listener must keep before its 200.
struct DeliveryRow {
    received_at: i64,
    body: String,
    job: String,
    payment: String,
}

impl DeliveryRow {
    fn new(body: &[u8], n: &Notification) -> Self {
        Self {
            received_at: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_micros() as i64),
            body: String::from_utf8_lossy(body).into_owned(),
            job: n.job.clone(),
            payment: n.payment.clone(),
        }
    }

    fn insert(&self, conn: &Connection) -> rusqlite::Result<()> {
        conn.prepare_cached(
            "INSERT INTO deliveries (received_at, body, job_ref, payment_ref)
             VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![self.received_at, self.body, self.job, self.payment])?;
        Ok(())
    }
}

fn open_durable(path: &Path) -> Connection {
    let conn = Connection::open(path).expect("open floor database");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("WAL");
    conn.pragma_update(None, "synchronous", "FULL")
        .expect("synchronous=FULL");
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS deliveries (
             id INTEGER PRIMARY KEY,
             received_at INTEGER NOT NULL,
             body TEXT NOT NULL,
             job_ref TEXT NOT NULL,
             payment_ref TEXT NOT NULL
         )",
    )
    .expect("schema");
    conn
}

fn naive_router(db: &Path) -> Router {
    let conn = Arc::new(Mutex::new(open_durable(db)));
    Router::new()
        .route(
            PATH,
            post(
                |State(conn): State<Arc<Mutex<Connection>>>, body: Bytes| async move {
                    let Some(n) = parse(&body) else {
                        return bad_request();
                    };
                    let row = DeliveryRow::new(&body, &n);
                    // Autocommit: one transaction, one fsync per request.
                    let stored = tokio::task::spawn_blocking(move || {
                        let conn = conn.lock().unwrap_or_else(|p| p.into_inner());
                        row.insert(&conn)
                    })
                    .await;
                    match stored {
                        Ok(Ok(())) => echo(&n),
                        _ => unavailable(),
                    }
                },
            ),
        )
        .with_state(conn)
}

type GroupedJob = (DeliveryRow, oneshot::Sender<bool>);

fn grouped_router(db: &Path) -> Router {
    let conn = open_durable(db);
    let (tx, mut rx) = mpsc::unbounded_channel::<GroupedJob>();
    std::thread::Builder::new()
        .name("grouped-floor-writer".into())
        .spawn(move || {
            let mut batch: Vec<GroupedJob> = Vec::with_capacity(64);
            while let Some(first) = rx.blocking_recv() {
                batch.push(first);
                while let Ok(job) = rx.try_recv() {
                    batch.push(job);
                }
                let committed = (|| -> rusqlite::Result<()> {
                    conn.execute_batch("BEGIN IMMEDIATE")?;
                    for (row, _) in &batch {
                        row.insert(&conn)?;
                    }
                    conn.execute_batch("COMMIT")
                })();
                if committed.is_err() {
                    let _ = conn.execute_batch("ROLLBACK");
                }
                for (_, reply) in batch.drain(..) {
                    let _ = reply.send(committed.is_ok());
                }
            }
        })
        .expect("writer thread");
    Router::new()
        .route(
            PATH,
            post(
                |State(tx): State<mpsc::UnboundedSender<GroupedJob>>, body: Bytes| async move {
                    let Some(n) = parse(&body) else {
                        return bad_request();
                    };
                    let (reply, committed) = oneshot::channel();
                    if tx.send((DeliveryRow::new(&body, &n), reply)).is_err() {
                        return unavailable();
                    }
                    match committed.await {
                        Ok(true) => echo(&n),
                        _ => unavailable(),
                    }
                },
            ),
        )
        .with_state(tx)
}

/// A connection to one database of the test server (no TLS, password given).
fn pg_config(pg: &postgres::TestPostgres, dbname: &str) -> tokio_postgres::Config {
    let mut config = tokio_postgres::Config::new();
    config
        .host("127.0.0.1")
        .port(pg.port())
        .user(postgres::USER)
        .password(pg.password())
        .dbname(dbname)
        .application_name("tillwatch-bench");
    config
}

/// The server runs with synchronous_commit=off: a session that did not turn it on would
/// measure commits that wait for nothing.
async fn assert_synchronous_commit(client: &tokio_postgres::Client, name: &str) {
    let setting: String = client
        .query_one("SHOW synchronous_commit", &[])
        .await
        .expect("SHOW synchronous_commit")
        .get(0);
    assert_eq!(setting, "on", "{name}: synchronous_commit is {setting}");
}

/// The PostgreSQL floor: one INSERT + COMMIT (autocommit) per request, on a pool of as many
/// connections as `PgStore`'s, answering after the COMMIT returns.
async fn pg_floor_router(config: tokio_postgres::Config) -> Router {
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let pool = deadpool_postgres::Pool::builder(manager)
        .max_size(tillwatch_store_postgres::MAX_CONNECTIONS)
        .post_create(Hook::async_fn(|client, _| {
            Box::pin(async move {
                client
                    .batch_execute("SET synchronous_commit = on")
                    .await
                    .map_err(HookError::Backend)
            })
        }))
        .build()
        .expect("the floor's pool");
    let client = pool.get().await.expect("a floor connection");
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS deliveries (
                 id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                 received_at bigint NOT NULL,
                 body text NOT NULL,
                 job_ref text NOT NULL,
                 payment_ref text NOT NULL
             )",
        )
        .await
        .expect("the floor's schema");
    assert_synchronous_commit(&client, "pg floor").await;
    drop(client);
    Router::new()
        .route(
            PATH,
            post(
                |State(pool): State<deadpool_postgres::Pool>, body: Bytes| async move {
                    let Some(n) = parse(&body) else {
                        return bad_request();
                    };
                    let row = DeliveryRow::new(&body, &n);
                    let stored = async {
                        let client = pool.get().await.map_err(|e| e.to_string())?;
                        let insert = client
                            .prepare_cached(
                                "INSERT INTO deliveries (received_at, body, job_ref, payment_ref)
                                 VALUES ($1, $2, $3, $4)",
                            )
                            .await
                            .map_err(|e| e.to_string())?;
                        // Autocommit: the statement is its own transaction.
                        client
                            .execute(
                                &insert,
                                &[&row.received_at, &row.body, &row.job, &row.payment],
                            )
                            .await
                            .map_err(|e| e.to_string())
                    }
                    .await;
                    match stored {
                        Ok(_) => echo(&n),
                        Err(_) => unavailable(),
                    }
                },
            ),
        )
        .with_state(pool)
}

fn count_rows(db: &Path) -> u64 {
    let conn = Connection::open(db).expect("open for counting");
    conn.query_row("SELECT count(*) FROM deliveries", [], |r| {
        r.get::<_, i64>(0)
    })
    .expect("count rows") as u64
}

/// The 1, 5 and 15 minute load averages: figures from a busy machine are noise.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

fn scratch_dir() -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir = std::env::temp_dir().join(format!(
        "tillwatch-bench-listener-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

// ---------------------------------------------------------------------------------------
// The load tool

fn find_oha() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(p) = std::env::var_os("OHA") {
        candidates.push(PathBuf::from(p));
    }
    candidates.push(PathBuf::from("oha"));
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        candidates.push(Path::new(&home).join("bin/oha"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(Path::new(&home).join(".cargo/bin/oha"));
    }
    candidates.into_iter().find(|c| {
        Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

fn oha_version(oha: &Path) -> String {
    Command::new(oha)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
        .trim_start_matches("oha ")
        .to_owned()
}

/// What one oha run measured (latencies in seconds).
#[derive(Debug, Clone, Copy)]
struct Oha {
    rps: f64,
    p50: f64,
    p99: f64,
    ok_200: u64,
    other: u64,
}

/// Each figure on its own median over the slices (figures in seconds or per second).
fn median(slices: &[Oha]) -> Oha {
    let mid = |f: fn(&Oha) -> f64| {
        let mut v: Vec<f64> = slices.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    Oha {
        rps: mid(|o| o.rps),
        p50: mid(|o| o.p50),
        p99: mid(|o| o.p99),
        ok_200: slices.iter().map(|o| o.ok_200).sum(),
        other: slices.iter().map(|o| o.other).sum(),
    }
}

fn run_oha(oha: &Path, url: &str, length: Duration, rate: Option<u32>) -> Oha {
    let mut cmd = Command::new(oha);
    cmd.args(["--no-tui", "--output-format", "json", "-m", "POST"])
        .args(["-H", "Content-Type: application/json", "-d", BODY])
        .args([
            "-c",
            &CONNECTIONS.to_string(),
            "-z",
            &format!("{}ms", length.as_millis()),
        ])
        // Requests still in flight at the deadline finish rather than count as errors.
        .arg("-w");
    if let Some(q) = rate {
        // Measure from when each request was due, so a stall is not hidden.
        cmd.args(["-q", &q.to_string(), "--latency-correction"]);
    }
    cmd.arg(url);
    let out = cmd.output().expect("run oha");
    if !out.status.success() {
        panic!(
            "oha failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "oha's output is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    let num = |ptr: &str| v.pointer(ptr).and_then(Value::as_f64).unwrap_or(f64::NAN);
    let codes = v
        .get("statusCodeDistribution")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let ok_200 = codes.get("200").and_then(Value::as_u64).unwrap_or(0);
    let all_codes: u64 = codes.values().filter_map(Value::as_u64).sum();
    let errors: u64 = v
        .get("errorDistribution")
        .and_then(Value::as_object)
        .map_or(0, |m| m.values().filter_map(Value::as_u64).sum());
    // Answers per second over the whole run (oha's own figure counts errors too).
    let took = num("/summary/total");
    let took = if took.is_finite() && took > 0.0 {
        took
    } else {
        length.as_secs_f64()
    };
    Oha {
        rps: ok_200 as f64 / took,
        p50: num("/latencyPercentiles/p50"),
        p99: num("/latencyPercentiles/p99"),
        ok_200,
        other: all_codes - ok_200 + errors,
    }
}

// ---------------------------------------------------------------------------------------
// The report

struct Row {
    name: &'static str,
    max: Oha,
    at: Vec<Oha>,
    ok_200: u64,
    durable_rows: Option<u64>,
}

fn ms(s: f64) -> String {
    format!("{:.3}", s * 1e3)
}

fn mark(pass: bool) -> &'static str {
    if pass {
        "PASS"
    } else {
        "MISS"
    }
}

fn print_table(rows: &[Row]) {
    println!();
    println!(
        "{:<14} {:>12} {:>12} {:>12} {:>13} {:>13} {:>9}",
        "server", "max req/s", "p50 @500/s", "p99 @500/s", "p50 @5000/s", "p99 @5000/s", "non-200"
    );
    println!(
        "{:<14} {:>12} {:>12} {:>12} {:>13} {:>13} {:>9}",
        "", "(64 conns)", "ms", "ms", "ms", "ms", ""
    );
    for r in rows {
        // A rate the server could not keep up with is marked: its latencies are queueing.
        let lag = |i: usize| {
            if r.at[i].rps < 0.95 * RATES[i] as f64 {
                "*"
            } else {
                " "
            }
        };
        let other = r.max.other + r.at.iter().map(|o| o.other).sum::<u64>();
        println!(
            "{:<14} {:>12.0} {:>12} {:>11}{} {:>13} {:>12}{} {:>9}",
            r.name,
            r.max.rps,
            ms(r.at[0].p50),
            ms(r.at[0].p99),
            lag(0),
            ms(r.at[1].p50),
            ms(r.at[1].p99),
            lag(1),
            other
        );
    }
    if rows
        .iter()
        .any(|r| (0..RATES.len()).any(|i| r.at[i].rps < 0.95 * RATES[i] as f64))
    {
        println!("* answered under 95% of the offered rate: that server could not keep up");
    }

    let find = |name: &str| rows.iter().find(|r| r.name == name);
    if let (Some(t), Some(g)) = (find("tillwatch"), find("grouped floor")) {
        println!();
        let thr = t.max.rps / g.max.rps;
        println!(
            "tillwatch / grouped floor: throughput {:.2}x (aim >= {AIM_THROUGHPUT}x) {}",
            thr,
            mark(thr >= AIM_THROUGHPUT)
        );
        for (i, rate) in RATES.iter().enumerate() {
            let p99 = t.at[i].p99 / g.at[i].p99;
            println!(
                "tillwatch / grouped floor: p99 @{rate}/s {:.2}x (aim <= {AIM_P99}x) {}",
                p99,
                mark(p99 <= AIM_P99)
            );
        }
    }
    if let (Some(t), Some(f)) = (find("tillwatch pg"), find("pg floor")) {
        println!();
        let thr = t.max.rps / f.max.rps;
        println!(
            "tillwatch pg / pg floor: throughput {:.2}x ({:.0}/s vs {:.0}/s) (aim >= {AIM_THROUGHPUT_PG}x) {}",
            thr,
            t.max.rps,
            f.max.rps,
            mark(thr >= AIM_THROUGHPUT_PG)
        );
        for (i, rate) in RATES.iter().enumerate() {
            let p99 = t.at[i].p99 / f.at[i].p99;
            println!(
                "tillwatch pg / pg floor: p99 @{rate}/s {:.2}x ({} ms vs {} ms) (aim <= {AIM_P99}x) {}",
                p99,
                ms(t.at[i].p99),
                ms(f.at[i].p99),
                mark(p99 <= AIM_P99)
            );
        }
    }
    println!();
    for r in rows {
        if let Some(n) = r.durable_rows {
            println!(
                "durability {:<14} rows stored {:>9} >= 200s answered {:>9}: {}",
                r.name,
                n,
                r.ok_200,
                mark(n >= r.ok_200)
            );
        }
    }
}
