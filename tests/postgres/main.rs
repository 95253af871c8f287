//! The shared store's foundation against a real PostgreSQL server (tests/common/postgres.rs
//! starts one per test): connecting with the password from the environment, the schema's
//! migrations, NUMERIC amounts, a server that stops and comes back, and TLS refused.

mod follow;
#[path = "../common/postgres.rs"]
mod postgres;
mod shared;
mod store;

use std::time::Duration;

use postgres::TestPostgres;
use rust_decimal::Decimal;
use tillwatch_store_postgres::{
    deadpool_postgres, migrations, tokio_postgres, DatabaseConfig, PgError, PgPool, PASSWORD_ENV,
};

/// The config as Tillwatch builds it: the URL from the command line, the password from
/// `TILLWATCH_DATABASE_PASSWORD` (given as a lookup: the process's environment is shared
/// by every test thread).
fn config(pg: &TestPostgres, url: &str) -> DatabaseConfig {
    let password = pg.password().to_owned();
    DatabaseConfig::from_url_with_env(url, |name| (name == PASSWORD_ENV).then(|| password.clone()))
        .expect("the test URL parses")
}

async fn pool(pg: &TestPostgres) -> PgPool {
    PgPool::connect(&config(pg, &pg.url()))
        .await
        .expect("connects")
}

const TABLES: &[&str] = &[
    "audit",
    "deliveries",
    "job_answers",
    "machines",
    "money_moves",
    "order_changes",
    "order_counts",
    "payment_answers",
    "payment_jobs",
    "payments",
    "ref_tails",
    "refs",
    "schema_migrations",
    "status_events",
];

#[tokio::test]
async fn connects_with_the_password_from_the_environment_not_the_url() {
    let pg = TestPostgres::start();
    assert!(!pg.url().contains(pg.password()));
    let config = config(&pg, &pg.url());
    assert!(config.has_password());
    assert!(!format!("{config:?} {config}").contains(pg.password()));

    let pool = PgPool::connect(&config).await.expect("connects");
    let client = pool.get().await.unwrap();
    let user: String = client
        .query_one("SELECT current_user::text", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(user, postgres::USER);

    // The server really checks it: none, or a wrong one, is refused in words that say so.
    let none = DatabaseConfig::from_url_with_env(&pg.url(), |_| None).unwrap();
    let e = PgPool::connect(&none).await.unwrap_err();
    assert!(matches!(e, PgError::PasswordMissing), "{e:?}");
    assert!(e.to_string().contains("TILLWATCH_DATABASE_PASSWORD"), "{e}");

    let wrong = DatabaseConfig::from_url_with_env(&pg.url(), |name| {
        (name == PASSWORD_ENV).then(|| "not-the-password".to_owned())
    })
    .unwrap();
    let e = PgPool::connect(&wrong).await.unwrap_err();
    assert!(matches!(e, PgError::Authentication), "{e:?}");
    assert_eq!(
        e.to_string(),
        "the database refused the user name or password"
    );

    let e = PgPool::connect(&config_for(&pg, "no_such_db"))
        .await
        .unwrap_err();
    assert!(matches!(e, PgError::DatabaseMissing), "{e:?}");
}

fn config_for(pg: &TestPostgres, dbname: &str) -> DatabaseConfig {
    config(pg, &pg.url_for(dbname))
}

#[tokio::test]
async fn migrations_create_every_table_once() {
    let pg = TestPostgres::start();
    let pool = pool(&pg).await;
    let client = pool.get().await.unwrap();
    assert_eq!(migrations::schema_version(&client).await.unwrap(), 0);

    let done = pool.migrate().await.unwrap();
    assert_eq!(
        (done.from, done.to, done.applied),
        (0, migrations::latest(), migrations::latest())
    );
    let tables: Vec<String> = client
        .query(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = 'public' ORDER BY table_name",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(tables, TABLES);

    // The claim queue's columns and its index.
    let claim: i64 = client
        .query_one(
            "SELECT count(*) FROM information_schema.columns
             WHERE table_name = 'deliveries' AND column_name IN ('claimed_by', 'lease_until')
               AND is_nullable = 'YES'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(claim, 2);
    let pending_index: String = client
        .query_one(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'deliveries_pending'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        pending_index.contains("INCLUDE (retry_at, lease_until)"),
        "{pending_index}"
    );
    assert!(
        pending_index.contains("WHERE (state = 'pending'::text)"),
        "{pending_index}"
    );

    // A second start finds nothing to do.
    let again = pool.migrate().await.unwrap();
    assert_eq!((again.from, again.applied), (migrations::latest(), 0));
    assert_eq!(
        versions(&client).await,
        (1..=migrations::latest()).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn gateway_times_held_before_100_ns_ticks_get_their_ticks() {
    let pg = TestPostgres::start();
    let pool = pool(&pg).await;
    pool.migrate().await.unwrap();
    let client = pool.get().await.unwrap();
    // Rows as version 1 left them: a timestamptz (microseconds), no ticks.
    for (job, at) in [
        ("1", Some("2026-11-24T10:11:57.001234Z")),
        ("2", Some("1969-12-31T23:59:59.999999Z")),
        ("3", None),
    ] {
        client
            .execute(
                "INSERT INTO payment_jobs (job_ref, status, gateway_updated_at, first_seen_at,
                     updated_at)
                 VALUES ($1, 'Paid', $2::text::timestamptz, now(), now())",
                &[&job, &at],
            )
            .await
            .unwrap();
    }
    client
        .batch_execute(include_str!(
            "../../src-tauri/store-postgres/migrations/0002_gateway_time_precision.sql"
        ))
        .await
        .unwrap();
    let ticks: Vec<Option<i64>> = client
        .query(
            "SELECT gateway_updated_ticks FROM payment_jobs ORDER BY job_ref",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let tick = |s: &str| {
        Some(
            tillwatch_core::domain::Timestamp::parse(s)
                .unwrap()
                .unix_ticks(),
        )
    };
    assert_eq!(
        ticks,
        vec![
            tick("2026-11-24T10:11:57.001234Z"),
            tick("1969-12-31T23:59:59.999999Z"),
            None
        ]
    );
}

async fn versions(client: &tokio_postgres::Client) -> Vec<i32> {
    client
        .query(
            "SELECT version FROM schema_migrations ORDER BY version",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test]
async fn two_processes_migrating_at_once_apply_each_migration_once() {
    let pg = TestPostgres::start();
    // Each round on a fresh database, two pools as two processes would have.
    for round in 0..5 {
        let name = format!("race{round}");
        pg.create_database(&name);
        let a = PgPool::connect(&config_for(&pg, &name)).await.unwrap();
        let b = PgPool::connect(&config_for(&pg, &name)).await.unwrap();
        let (ra, rb) = tokio::join!(a.migrate(), b.migrate());
        let (ra, rb) = (ra.expect("first migrates"), rb.expect("second migrates"));
        assert_eq!(ra.to, migrations::latest());
        assert_eq!(rb.to, migrations::latest());
        assert_eq!(
            ra.applied + rb.applied,
            migrations::latest(),
            "{ra:?} {rb:?}"
        );
        let client = a.get().await.unwrap();
        assert_eq!(
            versions(&client).await,
            (1..=migrations::latest()).collect::<Vec<_>>()
        );
    }
}

#[tokio::test]
async fn a_database_from_a_newer_build_is_refused() {
    let pg = TestPostgres::start();
    let pool = pool(&pg).await;
    pool.migrate().await.unwrap();
    let newer = migrations::latest() + 1;
    let client = pool.get().await.unwrap();
    client
        .execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[&newer],
        )
        .await
        .unwrap();

    let e = pool.migrate().await.unwrap_err();
    assert!(
        matches!(e, PgError::TooNew { found, known } if found == newer && known == migrations::latest()),
        "{e:?}"
    );
    assert!(e.to_string().contains("newer Tillwatch"), "{e}");
    assert_eq!(e.code(), "store_too_new");
    // Refused, not touched.
    assert_eq!(migrations::schema_version(&client).await.unwrap(), newer);
}

#[tokio::test]
async fn numeric_amounts_and_times_round_trip_exactly() {
    let pg = TestPostgres::start();
    let pool = pool(&pg).await;
    pool.migrate().await.unwrap();
    let client = pool.get().await.unwrap();

    let amount: Decimal = "12.50".parse().unwrap();
    let seen = time::macros::datetime!(2026-03-01 10:15:30.123456 +01:00);
    client
        .execute(
            "INSERT INTO payment_jobs (job_ref, status, amount, currency, amount_minor,
                                       first_seen_at, updated_at)
             VALUES ('J1', 'Pending', $1, 'GBP', 1250, $2, $2)",
            &[&amount, &seen],
        )
        .await
        .unwrap();
    let row = client
        .query_one(
            "SELECT amount, first_seen_at, amount_key, order_key, created_here
             FROM payment_jobs WHERE job_ref = 'J1'",
            &[],
        )
        .await
        .unwrap();
    let back: Decimal = row.get(0);
    assert_eq!(
        back.to_string(),
        "12.50",
        "the scale is kept, not just the value"
    );
    assert_eq!(row.get::<_, time::OffsetDateTime>(1), seen);
    assert_eq!(row.get::<_, i64>(2), 1250);
    assert_eq!(row.get::<_, String>(3), "");
    assert!(!row.get::<_, bool>(4));

    // The translated triggers keep the attempts and the per-status counts.
    client
        .execute(
            "INSERT INTO payments (job_ref, payment_ref, attempt, status, amount, updated_at)
             VALUES ('J1', 'P1', 1, 'Failed', $1, now()), ('J1', 'P2', 2, 'Paid', $1, now())",
            &[&amount],
        )
        .await
        .unwrap();
    client
        .execute(
            "UPDATE payment_jobs SET status = 'Paid', shipped_at = now() WHERE job_ref = 'J1'",
            &[],
        )
        .await
        .unwrap();
    let attempts: i32 = client
        .query_one(
            "SELECT attempts FROM payment_jobs WHERE job_ref = 'J1'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(attempts, 2);
    let counts: Vec<(String, bool, i64)> = client
        .query(
            "SELECT status, shipped, n FROM order_counts ORDER BY status",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        counts,
        [("Paid".into(), true, 1), ("Pending".into(), false, 0)]
    );

    // Ids are made by the database.
    let id: i64 = client
        .query_one(
            "INSERT INTO deliveries (received_at, response_status, state)
             VALUES (now(), 200, 'pending') RETURNING id",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(id, 1);
}

// Several threads, as the app runs: the connections' tasks read the server's goodbye
// while this test's thread is blocked in `stop()`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_server_is_unavailable_and_the_pool_recovers_when_it_is_back() {
    let mut pg = TestPostgres::start();
    let pool = pool(&pg).await;
    pool.migrate().await.unwrap();
    // Connections in the pool, as under load, and one checked out across the stop.
    let mut held = check_out(&pool, 3).await;
    let in_hand = held.pop().unwrap();
    drop(held);

    pg.stop();
    let e = PgError::from(in_hand.query_one("SELECT 1", &[]).await.unwrap_err());
    assert!(matches!(e, PgError::Unavailable), "{e:?}");
    drop(in_hand);
    let Err(e) = pool.get().await else {
        panic!("a connection while the server is down");
    };
    assert!(matches!(e, PgError::Unavailable), "{e:?}");
    assert_eq!(e.to_string(), "the database server is unavailable");
    assert!(e.is_transient());

    pg.start_again();
    let client = pool
        .get()
        .await
        .expect("a new connection once the server is back");
    let n: i32 = client.query_one("SELECT 1", &[]).await.unwrap().get(0);
    assert_eq!(n, 1);
    assert_eq!(
        migrations::schema_version(&client).await.unwrap(),
        migrations::latest()
    );
}

/// `n` connections checked out at once (so the pool holds `n`).
async fn check_out(pool: &PgPool, n: usize) -> Vec<deadpool_postgres::Object> {
    let mut held = Vec::new();
    for _ in 0..n {
        let client = pool.get().await.unwrap();
        client.query_one("SELECT 1", &[]).await.unwrap();
        held.push(client);
    }
    held
}

#[tokio::test]
async fn require_refuses_a_server_without_tls_instead_of_plain_text() {
    let pg = TestPostgres::start();
    let require = config(&pg, &pg.url_with("sslmode=require"));
    let e = tokio::time::timeout(Duration::from_secs(20), PgPool::connect(&require))
        .await
        .expect("fails promptly")
        .unwrap_err();
    assert!(matches!(e, PgError::TlsUnsupported), "{e:?}");
    assert!(e.to_string().contains("does not offer TLS"), "{e}");

    // prefer falls back to plain text, as its name says.
    let prefer = config(&pg, &pg.url_with("sslmode=prefer"));
    PgPool::connect(&prefer)
        .await
        .expect("prefer connects in plain text");
}

#[tokio::test]
async fn require_connects_over_tls_to_a_server_whose_ca_is_given() {
    let pg = TestPostgres::start_with_tls();
    let ca = pg.ca_file();
    let require = config(
        &pg,
        &pg.url_with(&format!("sslmode=require&sslrootcert={}", ca.display())),
    );
    let pool = PgPool::connect(&require).await.expect("connects over TLS");
    let client = pool.get().await.unwrap();
    let ssl: bool = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(ssl, "the connection is encrypted");

    // Without the shop's CA the certificate is not trusted (public roots only): refused.
    let untrusted = config(&pg, &pg.url_with("sslmode=require"));
    let e = PgPool::connect(&untrusted).await.unwrap_err();
    assert!(matches!(e, PgError::Tls(_)), "{e:?}");
    assert!(e.to_string().contains("could not be secured"), "{e}");

    // A CA file that is not there is a settings error, before any connection.
    let missing = config(
        &pg,
        &pg.url_with("sslmode=require&sslrootcert=/nonexistent/ca.pem"),
    );
    let e = PgPool::new(&missing).unwrap_err();
    assert!(matches!(e, PgError::Config(_)), "{e:?}");
}

#[tokio::test]
async fn scram_channel_binding_is_used_over_tls() {
    let pg = TestPostgres::start_with_tls();
    let ca = pg.ca_file();
    // The server asks for scram-sha-256; over TLS it offers SCRAM-SHA-256-PLUS. Requiring
    // channel binding connects only if the client binds the exchange to the server's
    // certificate (tls-server-end-point), which rustls' connector exposes.
    let bound = config(
        &pg,
        &pg.url_with(&format!(
            "sslmode=require&channel_binding=require&sslrootcert={}",
            ca.display()
        )),
    );
    let pool = PgPool::connect(&bound)
        .await
        .expect("connects with SCRAM channel binding over TLS");
    let client = pool.get().await.unwrap();
    client.query_one("SELECT 1", &[]).await.unwrap();

    // With no TLS there is nothing to bind to: a client that requires it is refused,
    // so the connection above really was bound.
    let plain = TestPostgres::start();
    let unbound = config(
        &plain,
        &plain.url_with("sslmode=prefer&channel_binding=require"),
    );
    let e = PgPool::connect(&unbound).await.unwrap_err();
    eprintln!("channel binding required without TLS: {e}");
}
