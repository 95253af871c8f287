//! The delivery inbox: every notification received, written before it is acknowledged.

use rusqlite::{params, Connection, OptionalExtension};

use super::{Store, StoreError};
use crate::domain::{DeliveryState, JobRef, PaymentRef, Timestamp};

/// Refused deliveries are kept for the owner to see, but only this many: a flood of
/// garbage must not fill the disk.
pub const MAX_KEPT_MALFORMED: i64 = 1000;

/// How much of a body is kept; the listener already refuses bodies larger than its limit.
const MAX_KEPT_BODY: usize = 4096;

#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub received_at: Timestamp,
    pub remote_addr: Option<String>,
    pub forwarded_for: Option<String>,
    pub body: String,
    pub job_ref: JobRef,
    pub payment_ref: PaymentRef,
}

#[derive(Debug, Clone)]
pub struct RejectedDelivery {
    pub received_at: Timestamp,
    pub remote_addr: Option<String>,
    pub forwarded_for: Option<String>,
    pub body: String,
    pub error: String,
    pub response_status: u16,
}

/// An acknowledged delivery still waiting for the gateway to confirm it.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingDelivery {
    pub id: i64,
    pub job_ref: JobRef,
    pub payment_ref: PaymentRef,
    pub confirm_attempts: u32,
}

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

impl Store {
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

    /// Acknowledged deliveries not yet settled with an id above `after`, oldest first;
    /// after a restart this is what the confirm worker picks up again.
    pub async fn pending_deliveries_after(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<PendingDelivery>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, job_ref, payment_ref, confirm_attempts FROM deliveries
                 WHERE state = 'pending' AND id > ?1 ORDER BY id LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![after, limit], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, u32>(3)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (id, job, payment, confirm_attempts) = row?;
                out.push(PendingDelivery {
                    id,
                    job_ref: JobRef::parse(&job).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    payment_ref: PaymentRef::parse(&payment)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    confirm_attempts,
                });
            }
            Ok(out)
        })
        .await
    }

    /// Counts a failed confirmation attempt on the deliveries it covered.
    pub async fn note_confirm_failure(
        &self,
        job: &JobRef,
        payment: &PaymentRef,
        up_to_id: i64,
        error: String,
    ) -> Result<(), StoreError> {
        let (job, payment) = (job.to_string(), payment.to_string());
        self.write(move |conn| {
            super::exec(
                conn,
                "UPDATE deliveries SET confirm_attempts = confirm_attempts + 1, last_error = ?4
                 WHERE job_ref = ?1 AND payment_ref = ?2 AND state = 'pending' AND id <= ?3",
                params![job, payment, up_to_id, error],
            )?;
            Ok(())
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
) -> Result<(), StoreError> {
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
