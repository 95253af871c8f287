//! Settled deliveries are kept for the owner to look back on, for a retention period the
//! owner sets. Only those that need nothing more are pruned (confirmed, unknown): pending
//! ones are work not yet done, dead ones wait for the owner, and malformed ones are capped
//! by count instead (see `inbox`).

use std::time::Duration;

use super::SqliteStore;
use tillwatch_core::domain::Timestamp;
use tillwatch_core::store::Retention;
use tillwatch_core::store::StoreError;

/// Rows deleted per write: a first pass over years of rows must not hold the writer (and
/// the notifications queued behind it) for long.
const PRUNE_CHUNK: i64 = 2000;

impl Retention for SqliteStore {
    /// Deletes deliveries settled longer than `keep` ago; returns how many.
    async fn prune_settled_deliveries(&self, keep: Duration) -> Result<usize, StoreError> {
        let keep_ms = i64::try_from(keep.as_millis()).unwrap_or(i64::MAX);
        let cutoff =
            Timestamp::from_unix_millis(Timestamp::now().unix_millis().saturating_sub(keep_ms))
                .to_string();
        let mut pruned = 0;
        loop {
            let cutoff = cutoff.clone();
            let deleted = self
                .write(move |conn| {
                    super::exec(
                        conn,
                        "DELETE FROM deliveries WHERE id IN (
                             SELECT id FROM deliveries
                             WHERE state IN ('confirmed', 'unknown')
                               AND settled_at IS NOT NULL AND settled_at < ?1
                             LIMIT ?2)",
                        rusqlite::params![cutoff, PRUNE_CHUNK],
                    )
                })
                .await?;
            pruned += deleted;
            if (deleted as i64) < PRUNE_CHUNK {
                return Ok(pruned);
            }
        }
    }
}
