//! Embedded, ordered migrations. `PRAGMA user_version` records how many have run; each
//! runs in its own transaction, so a crash mid-way leaves the previous version intact.

use rusqlite::Connection;

const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_delivery_states.sql"),
];

pub fn run(conn: &mut Connection) -> rusqlite::Result<()> {
    let done: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let done = usize::try_from(done).unwrap_or(0);
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(done) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

/// The schema version this build writes; a newer file is refused rather than damaged.
pub fn latest() -> usize {
    MIGRATIONS.len()
}
