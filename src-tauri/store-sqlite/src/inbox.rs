//! The delivery inbox: every notification received, written before it is acknowledged.

use rusqlite::{params, Connection, OptionalExtension};

use super::{DbError, SqliteStore};
use tillwatch_core::domain::{
    DeliveryState, Failing, FailureClass, JobRef, PaymentRef, StuckDelivery, Timestamp,
};
use tillwatch_core::store::Inbox;
use tillwatch_core::store::{
    failure_run, kept_body, oldest_first, unreadable_delivery, Claim, Held, NewDelivery,
    PendingDelivery, RejectedDelivery, StoreError, MAX_KEPT_MALFORMED,
};

/// Back to pending, due at once, with a fresh failure run, held by no worker.
const REOPEN: &str = "state = 'pending', outcome = NULL, settled_at = NULL, failure_class = NULL,
     failing_since = NULL, failing_attempts = 0, retry_at = NULL, claimed_by = NULL,
     lease_until = NULL";

impl Inbox for SqliteStore {
    /// Commits the delivery durably; only after this may the listener answer 200.
    async fn record_delivery(&self, d: NewDelivery) -> Result<i64, StoreError> {
        self.write(move |conn| {
            super::exec(
                conn,
                "INSERT INTO deliveries (received_at, remote_addr, forwarded_for, body, job_ref,
                     payment_ref, response_status, state)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 200, 'pending')",
                params![
                    d.received_at.to_string(),
                    d.remote_addr,
                    d.forwarded_for,
                    kept_body(&d.body),
                    d.job_ref.as_str(),
                    d.payment_ref.as_str(),
                ],
            )?;
            Ok(conn.last_insert_rowid())
        })
        .await
    }

    /// Keeps a refused delivery visible to the owner, dropping the oldest beyond the bound.
    async fn record_rejected_delivery(&self, d: RejectedDelivery) -> Result<(), StoreError> {
        self.write(move |conn| {
            super::exec(
                conn,
                "INSERT INTO deliveries (received_at, remote_addr, forwarded_for, body,
                     parse_error, response_status, state, outcome)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'malformed', ?5)",
                params![
                    d.received_at.to_string(),
                    d.remote_addr,
                    d.forwarded_for,
                    kept_body(&d.body),
                    d.error,
                    d.response_status,
                ],
            )?;
            super::exec(
                conn,
                "DELETE FROM deliveries WHERE state = 'malformed' AND id <=
                     (SELECT id FROM deliveries WHERE state = 'malformed'
                      ORDER BY id DESC LIMIT 1 OFFSET ?1)",
                [MAX_KEPT_MALFORMED],
            )?;
            Ok(())
        })
        .await
    }

    /// Claims acknowledged deliveries due for a confirmation attempt at `now`, oldest
    /// first: the worker's queue. The one writer makes each claim whole; after a restart a
    /// new worker takes what the old one held once its lease has run out.
    async fn claim_due(
        &self,
        claim: &Claim,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<PendingDelivery>, StoreError> {
        let worker = claim.worker.as_str().to_owned();
        let until = claim.until(now);
        self.write(move |conn| {
            let mut stmt = conn.prepare_cached(
                "UPDATE deliveries SET claimed_by = ?3, lease_until = ?4
                 WHERE id IN (
                     SELECT id FROM deliveries
                     WHERE state = 'pending' AND (retry_at IS NULL OR retry_at <= ?1)
                       AND (claimed_by IS NULL OR claimed_by = ?3 OR lease_until <= ?1)
                     ORDER BY id LIMIT ?2)
                 RETURNING id, job_ref, payment_ref, failure_class, failing_since,
                     failing_attempts",
            )?;
            let rows = stmt
                .query_map(
                    params![now.to_string(), limit, worker, until.to_string()],
                    pending_columns,
                )?
                .collect::<Result<Vec<_>, _>>()?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let id = row.0;
                match to_pending(row) {
                    Ok(d) => out.push(d),
                    Err(e) => quarantine(conn, id, &e)?,
                }
            }
            oldest_first(&mut out);
            Ok(out)
        })
        .await
    }

    /// Extends the worker's hold on every delivery it still holds to `now + lease`.
    async fn renew_claims(&self, claim: &Claim, now: Timestamp) -> Result<u64, StoreError> {
        let worker = claim.worker.as_str().to_owned();
        let until = claim.until(now);
        self.write(move |conn| {
            let n = super::exec(
                conn,
                "UPDATE deliveries SET lease_until = ?2
                 WHERE state = 'pending' AND claimed_by = ?1",
                params![worker, until.to_string()],
            )?;
            Ok(n as u64)
        })
        .await
    }

    /// Lets go of every hold on the inbox; how many deliveries were held.
    async fn release_claims(&self) -> Result<u64, StoreError> {
        self.write(|conn| {
            let n = super::exec(
                conn,
                "UPDATE deliveries SET claimed_by = NULL, lease_until = NULL
                 WHERE state = 'pending' AND claimed_by IS NOT NULL",
                [],
            )?;
            Ok(n as u64)
        })
        .await
    }

    /// Every delivery still waiting for its confirmation, oldest first, held or not.
    async fn pending_deliveries(&self, limit: u32) -> Result<Vec<PendingDelivery>, StoreError> {
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT id, job_ref, payment_ref, failure_class, failing_since, failing_attempts
                 FROM deliveries WHERE state = 'pending' ORDER BY id LIMIT ?1",
            )?
            .query_map([limit], pending_columns)?
            .map(|row| to_pending(row?))
            .collect()
        })
        .await
    }

    /// When the earliest delivery waiting after `now` is due, if any waits.
    async fn next_retry_at(&self, now: Timestamp) -> Result<Option<Timestamp>, StoreError> {
        self.read(move |conn| {
            let at: Option<String> = conn
                .prepare_cached(
                    "SELECT min(retry_at) FROM deliveries
                     WHERE state = 'pending' AND retry_at > ?1",
                )?
                .query_row([now.to_string()], |r| r.get(0))?;
            super::parse_col(at, Timestamp::parse)
        })
        .await
    }

    /// Records a failed confirmation on the deliveries it covered: the failure run they
    /// are in, the error in words, and when they are next due.
    async fn note_confirm_failure(
        &self,
        held: &Held,
        failing: Failing,
        retry_at: Timestamp,
        error: String,
    ) -> Result<(), StoreError> {
        let (job, payment) = (held.job_ref.to_string(), held.payment_ref.to_string());
        let (up_to_id, worker) = (held.up_to_id, held.worker.as_str().to_owned());
        self.write(move |conn| {
            super::exec(
                conn,
                "UPDATE deliveries SET confirm_attempts = confirm_attempts + 1, last_error = ?4,
                     failure_class = ?5, failing_since = ?6, failing_attempts = ?7, retry_at = ?8,
                     claimed_by = NULL, lease_until = NULL
                 WHERE job_ref = ?1 AND payment_ref = ?2 AND state = 'pending' AND id <= ?3
                   AND claimed_by = ?9",
                params![
                    job,
                    payment,
                    up_to_id,
                    error,
                    failing.class.as_str(),
                    failing.since.to_string(),
                    failing.attempts,
                    retry_at.to_string(),
                    worker,
                ],
            )?;
            Ok(())
        })
        .await
    }

    /// Sends every delivery settled as unknown back to the worker: after the credentials
    /// change, a 404 may have meant "wrong account", not "forged". Returns how many.
    async fn reopen_unknown(&self) -> Result<u64, StoreError> {
        self.write(|conn| {
            let n = super::exec(
                conn,
                &format!("UPDATE deliveries SET {REOPEN} WHERE state = 'unknown'"),
                [],
            )?;
            Ok(n as u64)
        })
        .await
    }

    /// The owner's "retry now": sends the dead or unknown deliveries of a job or payment
    /// reference (exact) back to the worker. Returns how many.
    async fn retry_deliveries(&self, reference: &str) -> Result<u64, StoreError> {
        let reference = reference.trim().to_owned();
        self.write(move |conn| {
            let n = super::exec(
                conn,
                &format!(
                    "UPDATE deliveries SET {REOPEN}
                     WHERE state IN ('dead', 'unknown') AND (job_ref = ?1 OR payment_ref = ?1)"
                ),
                [reference],
            )?;
            Ok(n as u64)
        })
        .await
    }

    /// How many deliveries are in `state` (each settled state has its own index).
    async fn count_deliveries(&self, state: DeliveryState) -> Result<u64, StoreError> {
        self.read(move |conn| {
            let n: i64 = conn
                .prepare_cached("SELECT count(*) FROM deliveries WHERE state = ?1")?
                .query_row([state.as_str()], |r| r.get(0))?;
            Ok(n.max(0) as u64)
        })
        .await
    }

    /// Deliveries in a settled state that the owner must know about (dead, unknown),
    /// newest first.
    async fn deliveries_in(
        &self,
        state: DeliveryState,
        limit: u32,
    ) -> Result<Vec<StuckDelivery>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, received_at, job_ref, payment_ref, confirm_attempts, last_error,
                     outcome, settled_at
                 FROM deliveries WHERE state = ?1 ORDER BY id DESC LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![state.as_str(), limit], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, u32>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, Option<String>>(6)?,
                    r.get::<_, Option<String>>(7)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (id, received, job, payment, attempts, last_error, outcome, settled) = row?;
                out.push(StuckDelivery {
                    id,
                    received_at: Timestamp::parse(&received)
                        .map_err(|e| DbError::Corrupt(e.to_string()))?,
                    payment_job_reference: job.unwrap_or_default(),
                    payment_reference: payment.unwrap_or_default(),
                    state,
                    attempts,
                    last_error,
                    outcome,
                    settled_at: super::parse_col(settled, Timestamp::parse)?,
                });
            }
            Ok(out)
        })
        .await
    }

    /// Settles the deliveries a worker holds without a confirmation.
    async fn settle_deliveries(
        &self,
        held: &Held,
        state: DeliveryState,
        outcome: String,
    ) -> Result<(), StoreError> {
        let held = held.clone();
        // Given up after a failed attempt: that attempt is counted like every earlier one.
        self.write(move |conn| settle(conn, &held, state, &outcome, 1))
            .await
    }

    /// How many acknowledged deliveries wait for confirmation, and the newest receipt.
    async fn inbox_status(&self) -> Result<(u64, Option<Timestamp>), StoreError> {
        self.read(|conn| {
            let backlog: i64 = conn.query_row(
                "SELECT count(*) FROM deliveries WHERE state = 'pending'",
                [],
                |r| r.get(0),
            )?;
            let last: Option<String> = conn
                .query_row(
                    "SELECT received_at FROM deliveries ORDER BY id DESC LIMIT 1",
                    [],
                    |r| r.get(0),
                )
                .optional()?;
            Ok((
                backlog.max(0) as u64,
                super::parse_col(last, Timestamp::parse)?,
            ))
        })
        .await
    }
}

/// A pending row's columns as stored: SQLite keeps any type in any column, so nothing but
/// the id is trusted until `to_pending` reads it.
type PendingColumns = (
    i64,
    rusqlite::types::Value,
    rusqlite::types::Value,
    rusqlite::types::Value,
    rusqlite::types::Value,
    rusqlite::types::Value,
);

fn pending_columns(r: &rusqlite::Row<'_>) -> rusqlite::Result<PendingColumns> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

/// A column that must hold text (or nothing).
fn text_col(v: rusqlite::types::Value, what: &str) -> Result<Option<String>, DbError> {
    use rusqlite::types::Value;
    match v {
        Value::Null => Ok(None),
        Value::Text(s) => Ok(Some(s)),
        other => Err(DbError::Corrupt(format!(
            "{what} is stored as {:?}, not text",
            other.data_type()
        ))),
    }
}

fn to_pending(
    (id, job, payment, class, since, attempts): PendingColumns,
) -> Result<PendingDelivery, DbError> {
    let corrupt = |e: &dyn std::fmt::Display| DbError::Corrupt(e.to_string());
    let job = text_col(job, "the job reference")?.unwrap_or_default();
    let payment = text_col(payment, "the payment reference")?.unwrap_or_default();
    let class = super::parse_col(text_col(class, "the failure class")?, |c| {
        FailureClass::parse(c).ok_or("unknown failure class")
    })?;
    let since = super::parse_col(
        text_col(since, "the failure run's start")?,
        Timestamp::parse,
    )?;
    let attempts = match attempts {
        rusqlite::types::Value::Integer(n) => u32::try_from(n).ok(),
        _ => None,
    }
    .ok_or_else(|| DbError::Corrupt(format!("{attempts:?} failing attempts")))?;
    Ok(PendingDelivery {
        id,
        job_ref: JobRef::parse(&job).map_err(|e| corrupt(&format!("'{job}': {e}")))?,
        payment_ref: PaymentRef::parse(&payment)
            .map_err(|e| corrupt(&format!("'{payment}': {e}")))?,
        failing: failure_run(class, since, attempts),
    })
}

/// Sets aside a claimed delivery whose row cannot be read: `dead`, with the reason where
/// the owner looks (`deliveries --dead`, the window), so the rest of the claim goes on.
fn quarantine(conn: &Connection, id: i64, why: &DbError) -> Result<(), DbError> {
    let detail = match why {
        DbError::Corrupt(what) => what.clone(),
        other => other.to_string(),
    };
    tracing::warn!(delivery = id, error = %detail, "a pending delivery cannot be read: set aside as dead");
    let reason = unreadable_delivery(&detail);
    super::exec(
        conn,
        "UPDATE deliveries SET state = 'dead', outcome = ?2, last_error = ?2, settled_at = ?3,
             claimed_by = NULL, lease_until = NULL
         WHERE id = ?1 AND state = 'pending'",
        params![id, reason, Timestamp::now().to_string()],
    )?;
    Ok(())
}

/// Settles the pending deliveries of one payment up to an id that the worker holds.
pub(super) fn settle(
    conn: &Connection,
    held: &Held,
    state: DeliveryState,
    outcome: &str,
    attempts_added: u32,
) -> Result<(), DbError> {
    super::exec(
        conn,
        "UPDATE deliveries SET state = ?4, outcome = ?5, settled_at = ?6, claimed_by = NULL,
             lease_until = NULL, confirm_attempts = confirm_attempts + ?8
         WHERE job_ref = ?1 AND payment_ref = ?2 AND state = 'pending' AND id <= ?3
           AND claimed_by = ?7",
        params![
            held.job_ref.as_str(),
            held.payment_ref.as_str(),
            held.up_to_id,
            state.as_str(),
            outcome,
            Timestamp::now().to_string(),
            held.worker.as_str(),
            attempts_added,
        ],
    )?;
    Ok(())
}
