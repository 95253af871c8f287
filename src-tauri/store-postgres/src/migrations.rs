//! Embedded, ordered migrations. `schema_migrations` records each version applied; each
//! runs in its own transaction (PostgreSQL's DDL is transactional, so a failure leaves the
//! previous version intact), under an advisory lock, so processes starting together
//! against one database apply each migration once and the others wait, then find it done.

use tokio_postgres::Client;

use crate::PgError;

/// In order: version N is `MIGRATIONS[N - 1]`. Only ever append.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_initial.sql"),
    include_str!("../migrations/0002_gateway_time_precision.sql"),
    include_str!("../migrations/0003_change_log.sql"),
    include_str!("../migrations/0004_machines.sql"),
    include_str!("../migrations/0005_money_moves.sql"),
];

/// The advisory lock every Tillwatch process takes to migrate: one fixed key ("tillwatc"
/// in ASCII), so it cannot meet another application's unless it picks the same number.
const LOCK_KEY: i64 = 0x7469_6c6c_7761_7463;

/// What `migrate` found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migrated {
    /// The version found (0: an empty database).
    pub from: i32,
    /// The version now.
    pub to: i32,
    /// How many this call applied (0 when another process had already done them).
    pub applied: i32,
}

/// The schema version this build writes.
pub fn latest() -> i32 {
    MIGRATIONS.len() as i32
}

/// The version the database is at (0 when no migration has run).
pub async fn schema_version(client: &Client) -> Result<i32, PgError> {
    let exists: bool = client
        .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])
        .await?
        .get(0);
    if !exists {
        return Ok(0);
    }
    let row = client
        .query_one(
            "SELECT coalesce(max(version), 0) FROM schema_migrations",
            &[],
        )
        .await?;
    Ok(row.get(0))
}

/// Brings the schema to `latest()`. A database already newer is refused (`TooNew`), never
/// touched: an older build must not write a schema it does not know.
pub async fn migrate(client: &mut Client) -> Result<Migrated, PgError> {
    let known = latest();
    let mut from = None;
    let mut applied = 0;
    loop {
        let tx = client.transaction().await?;
        // A migration on a large table, or the wait for another process's, may outlast the
        // statement_timeout every connection has (config.rs); this transaction only.
        tx.batch_execute("SET LOCAL statement_timeout = 0").await?;
        // Held to this transaction's end: released even if the process dies mid-way, and
        // it never outlives the transaction on a pooled connection.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
            .await?;
        // Under the lock: two first starts would otherwise race to create it.
        tx.batch_execute(
            "DO $$ BEGIN
                IF to_regclass('schema_migrations') IS NULL THEN
                    CREATE TABLE schema_migrations (
                        version    integer PRIMARY KEY,
                        applied_at timestamptz NOT NULL DEFAULT now()
                    );
                END IF;
            END $$",
        )
        .await?;
        let found: i32 = tx
            .query_one(
                "SELECT coalesce(max(version), 0) FROM schema_migrations",
                &[],
            )
            .await?
            .get(0);
        let from = *from.get_or_insert(found);
        if found > known {
            return Err(PgError::TooNew { found, known });
        }
        if found == known {
            tx.commit().await?;
            return Ok(Migrated {
                from,
                to: found,
                applied,
            });
        }
        let version = found + 1;
        let failed = |e: tokio_postgres::Error| {
            let detail = e
                .as_db_error()
                .map_or_else(|| e.to_string(), |db| db.to_string());
            tracing::error!(version, error = %detail, "database migration failed");
            PgError::Migration { version, detail }
        };
        tx.batch_execute(MIGRATIONS[found as usize])
            .await
            .map_err(failed)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, now())",
            &[&version],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(version, "database migration applied");
        applied += 1;
    }
}
