//! Embedded, ordered migrations. `PRAGMA user_version` records how many have run; each
//! runs in its own transaction, so a crash mid-way leaves the previous version intact.
//! A migration may end with a Rust step, for what SQL cannot compute (minor units from
//! decimal text, references written backwards).

use rusqlite::{Connection, Transaction};

use super::DbError;

type Backfill = fn(&Transaction<'_>) -> Result<(), DbError>;

const MIGRATIONS: &[(&str, Option<Backfill>)] = &[
    (include_str!("migrations/0001_initial.sql"), None),
    (include_str!("migrations/0002_delivery_states.sql"), None),
    (
        include_str!("migrations/0003_history.sql"),
        Some(super::refs::backfill),
    ),
    (include_str!("migrations/0004_claims_and_actors.sql"), None),
    (
        include_str!("migrations/0005_gateway_time_precision.sql"),
        None,
    ),
    (include_str!("migrations/0006_money_moves.sql"), None),
];

pub fn run(conn: &mut Connection) -> Result<(), DbError> {
    run_to(conn, latest())
}

/// Brings the schema to version `target` (tests build older databases with it).
pub fn run_to(conn: &mut Connection, target: usize) -> Result<(), DbError> {
    let done: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let done = usize::try_from(done).unwrap_or(0);
    for (i, (sql, backfill)) in MIGRATIONS.iter().enumerate().take(target).skip(done) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        if let Some(backfill) = backfill {
            backfill(&tx)?;
        }
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

/// The schema version this build writes; a newer file is refused rather than damaged.
pub fn latest() -> usize {
    MIGRATIONS.len()
}
