//! The delivery inbox: every notification received, written before it is acknowledged.

use rusqlite::{params, Connection, OptionalExtension};

use super::{DbError, SqliteStore};
use tillwatch_core::domain::{
    DeliveryState, Failing, FailureClass, JobRef, PaymentRef, StuckDelivery, Timestamp,
};
use tillwatch_core::store::{NewDelivery, PendingDelivery, RejectedDelivery, StoreError};

/// Refused deliveries are kept for the owner to see, but only this many: a flood of
/// garbage must not fill the disk.
pub const MAX_KEPT_MALFORMED: i64 = 1000;

/// Back to pending, due at once, with a fresh failure run.
const REOPEN: &str = "state = 'pending', outcome = NULL, settled_at = NULL, failure_class = NULL,
     failing_since = NULL, failing_attempts = 0, retry_at = NULL";

/// How much of a body is kept; the listener already refuses bodies larger than its limit.
const MAX_KEPT_BODY: usize = 4096;

fn capped(body: &str) -> String {
    if body.len() <= MAX_KEPT_BODY {
        return body.to_owned();
    }
    let mut end = MAX_KEPT_BODY;
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &body[..end])
}

impl SqliteStore {
    /// Commits the delivery durably; only after this may the listener answer 200.
    pub async fn record_delivery(&self, d: NewDelivery) -> Result<i64, StoreError> {
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
                    capped(&d.body),
                    d.job_ref.as_str(),
                    d.payment_ref.as_str(),
                ],
            )?;
            Ok(conn.last_insert_rowid())
        })
        .await
    }

    /// Keeps a refused delivery visible to the owner, dropping the oldest beyond the bound.
    pub async fn record_rejected_delivery(&self, d: RejectedDelivery) -> Result<(), StoreError> {
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
                    capped(&d.body),
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

    /// Acknowledged deliveries due for a confirmation attempt at `now`, oldest first: the
    /// worker's queue. After a restart this is simply what it picks up again.
    pub async fn due_deliveries(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<PendingDelivery>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, job_ref, payment_ref, failure_class, failing_since, failing_attempts
                 FROM deliveries
                 WHERE state = 'pending' AND (retry_at IS NULL OR retry_at <= ?1)
                 ORDER BY id LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![now.to_string(), limit], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, u32>(5)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (id, job, payment, class, since, attempts) = row?;
                let corrupt = |e: &dyn std::fmt::Display| DbError::Corrupt(e.to_string());
                let class = super::parse_col(class, |c| {
                    FailureClass::parse(c).ok_or("unknown failure class")
                })?;
                let since = super::parse_col(since, Timestamp::parse)?;
                out.push(PendingDelivery {
                    id,
                    job_ref: JobRef::parse(&job).map_err(|e| corrupt(&e))?,
                    payment_ref: PaymentRef::parse(&payment).map_err(|e| corrupt(&e))?,
                    failing: class.zip(since).map(|(class, since)| Failing {
                        class,
                        since,
                        attempts,
                    }),
                });
            }
            Ok(out)
        })
        .await
    }

    /// When the earliest delivery waiting after `now` is due, if any waits.
    pub async fn next_retry_at(&self, now: Timestamp) -> Result<Option<Timestamp>, StoreError> {
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
    pub async fn note_confirm_failure(
        &self,
        job: &JobRef,
        payment: &PaymentRef,
        up_to_id: i64,
        failing: Failing,
        retry_at: Timestamp,
        error: String,
    ) -> Result<(), StoreError> {
        let (job, payment) = (job.to_string(), payment.to_string());
        self.write(move |conn| {
            super::exec(
                conn,
                "UPDATE deliveries SET confirm_attempts = confirm_attempts + 1, last_error = ?4,
                     failure_class = ?5, failing_since = ?6, failing_attempts = ?7, retry_at = ?8
                 WHERE job_ref = ?1 AND payment_ref = ?2 AND state = 'pending' AND id <= ?3",
                params![
                    job,
                    payment,
                    up_to_id,
                    error,
                    failing.class.as_str(),
                    failing.since.to_string(),
                    failing.attempts,
                    retry_at.to_string(),
                ],
            )?;
            Ok(())
        })
        .await
    }

    /// Sends every delivery settled as unknown back to the worker: after the credentials
    /// change, a 404 may have meant "wrong account", not "forged". Returns how many.
    pub async fn reopen_unknown(&self) -> Result<u64, StoreError> {
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
    pub async fn retry_deliveries(&self, reference: &str) -> Result<u64, StoreError> {
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
    pub async fn count_deliveries(&self, state: DeliveryState) -> Result<u64, StoreError> {
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
    pub async fn deliveries_in(
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

    /// Settles the deliveries a confirmation covered (all pending ones up to `up_to_id`).
    pub async fn settle_deliveries(
        &self,
        job: &JobRef,
        payment: &PaymentRef,
        up_to_id: i64,
        state: DeliveryState,
        outcome: String,
    ) -> Result<(), StoreError> {
        let (job, payment) = (job.clone(), payment.clone());
        self.write(move |conn| settle(conn, &job, &payment, up_to_id, state, &outcome))
            .await
    }

    /// How many acknowledged deliveries wait for confirmation, and the newest receipt.
    pub async fn inbox_status(&self) -> Result<(u64, Option<Timestamp>), StoreError> {
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

pub(super) fn settle(
    conn: &Connection,
    job: &JobRef,
    payment: &PaymentRef,
    up_to_id: i64,
    state: DeliveryState,
    outcome: &str,
) -> Result<(), DbError> {
    super::exec(
        conn,
        "UPDATE deliveries SET state = ?4, outcome = ?5, settled_at = ?6
         WHERE job_ref = ?1 AND payment_ref = ?2 AND state = 'pending' AND id <= ?3",
        params![
            job.as_str(),
            payment.as_str(),
            up_to_id,
            state.as_str(),
            outcome,
            Timestamp::now().to_string()
        ],
    )?;
    Ok(())
}
