//! The delivery inbox (the SQLite store's `inbox` and `retention`), shared by every
//! process: a confirm worker claims the deliveries it works on with a lease, and settles
//! or fails only the ones it still holds.

use std::time::Duration;

use tokio_postgres::Row;

use super::{at, ts, ts_opt, Fail, PgStore, Tx};
use tillwatch_core::domain::{
    DeliveryState, Failing, FailureClass, PaymentRef, StuckDelivery, Timestamp,
};
use tillwatch_core::store::{
    failure_run, kept_body, oldest_first, unreadable_delivery, Claim, Held, NewDelivery,
    PendingDelivery, RejectedDelivery, StoreError, MAX_KEPT_MALFORMED,
};
use tillwatch_core::store::{Inbox, Retention};

/// Back to pending, due at once, with a fresh failure run, held by no worker.
const REOPEN: &str = "state = 'pending', outcome = NULL, settled_at = NULL, failure_class = NULL,
     failing_since = NULL, failing_attempts = 0, retry_at = NULL, claimed_by = NULL,
     lease_until = NULL";

/// Rows deleted per transaction when pruning: a first pass over years of rows must not
/// hold locks long.
const PRUNE_CHUNK: i64 = 2000;

fn non_negative(n: i64) -> u64 {
    n.max(0) as u64
}

fn u32_col(n: i32, what: &str) -> Result<u32, Fail> {
    u32::try_from(n).map_err(|_| Fail::corrupt(format!("{n} {what}")))
}

impl Inbox for PgStore {
    /// Commits the delivery durably (synchronous_commit is on): only after this may the
    /// listener answer 200. One statement in autocommit, one round trip: nothing else is
    /// written with it, so a transaction around it would only add BEGIN's and COMMIT's.
    async fn record_delivery(&self, d: NewDelivery) -> Result<i64, StoreError> {
        let body = kept_body(&d.body);
        let row = self
            .autocommit_one(
                "INSERT INTO deliveries (received_at, remote_addr, forwarded_for, body,
                     job_ref, payment_ref, response_status, state)
                 VALUES ($1, $2, $3, $4, $5, $6, 200, 'pending') RETURNING id",
                &[
                    &at(d.received_at),
                    &d.remote_addr,
                    &d.forwarded_for,
                    &body,
                    &d.job_ref.as_str(),
                    &d.payment_ref.as_str(),
                ],
            )
            .await?;
        row.try_get(0).map_err(|e| Fail::Pg(e).into_store())
    }

    /// Keeps a refused delivery visible to the owner, dropping the oldest beyond the bound.
    async fn record_rejected_delivery(&self, d: RejectedDelivery) -> Result<(), StoreError> {
        let body = kept_body(&d.body);
        self.write(|tx| {
            let (d, body) = (d.clone(), body.clone());
            Box::pin(async move {
                tx.execute(
                    "INSERT INTO deliveries (received_at, remote_addr, forwarded_for, body,
                         parse_error, response_status, state, outcome)
                     VALUES ($1, $2, $3, $4, $5, $6, 'malformed', $5)",
                    &[
                        &at(d.received_at),
                        &d.remote_addr,
                        &d.forwarded_for,
                        &body,
                        &d.error,
                        &i32::from(d.response_status),
                    ],
                )
                .await?;
                tx.execute(
                    "DELETE FROM deliveries WHERE state = 'malformed' AND id <=
                         (SELECT id FROM deliveries WHERE state = 'malformed'
                          ORDER BY id DESC LIMIT 1 OFFSET $1)",
                    &[&MAX_KEPT_MALFORMED],
                )
                .await?;
                Ok(())
            })
        })
        .await
    }

    /// Claims the deliveries due at `now`, oldest first, that no other worker holds (or
    /// whose holder's lease ran out), renewing this worker's own. One statement: rows
    /// another claim is taking at this moment are skipped (SKIP LOCKED), so two workers
    /// never get the same delivery and neither waits for the other.
    async fn claim_due(
        &self,
        claim: &Claim,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<PendingDelivery>, StoreError> {
        let worker = claim.worker.as_str().to_owned();
        let until = at(claim.until(now));
        let now = at(now);
        let limit = i64::from(limit);
        let mut claimed: Vec<PendingDelivery> = self
            .write(|tx| {
                let worker = worker.clone();
                Box::pin(async move {
                    let rows = tx
                        .query(
                            "UPDATE deliveries SET claimed_by = $1, lease_until = $2
                             WHERE id IN (
                                 SELECT id FROM deliveries
                                 WHERE state = 'pending'
                                   AND (retry_at IS NULL OR retry_at <= $3)
                                   AND (claimed_by IS NULL OR lease_until IS NULL
                                        OR lease_until <= $3 OR claimed_by = $1)
                                 ORDER BY id LIMIT $4
                                 FOR UPDATE SKIP LOCKED)
                             RETURNING id, job_ref, payment_ref, failure_class, failing_since,
                                 failing_attempts",
                            &[&worker, &until, &now, &limit],
                        )
                        .await?;
                    readable_or_quarantined(tx, &rows).await
                })
            })
            .await?;
        oldest_first(&mut claimed);
        Ok(claimed)
    }

    /// Extends the worker's hold on every delivery it still holds to `now + lease`.
    async fn renew_claims(&self, claim: &Claim, now: Timestamp) -> Result<u64, StoreError> {
        let worker = claim.worker.as_str().to_owned();
        let until = at(claim.until(now));
        self.write(|tx| {
            let worker = worker.clone();
            Box::pin(async move {
                tx.execute(
                    "UPDATE deliveries SET lease_until = $2
                     WHERE state = 'pending' AND claimed_by = $1",
                    &[&worker, &until],
                )
                .await
            })
        })
        .await
    }

    /// Lets go of every hold on the inbox; how many deliveries were held.
    async fn release_claims(&self) -> Result<u64, StoreError> {
        self.write(|tx| {
            Box::pin(async move {
                let n = tx
                    .execute(
                        "UPDATE deliveries SET claimed_by = NULL, lease_until = NULL
                         WHERE state = 'pending' AND claimed_by IS NOT NULL",
                        &[],
                    )
                    .await?;
                Ok(n)
            })
        })
        .await
    }

    /// Every delivery still waiting for its confirmation, oldest first, held or not.
    async fn pending_deliveries(&self, limit: u32) -> Result<Vec<PendingDelivery>, StoreError> {
        let limit = i64::from(limit);
        self.read(|tx| {
            Box::pin(async move {
                let rows = tx
                    .query(
                        "SELECT id, job_ref, payment_ref, failure_class, failing_since,
                             failing_attempts
                         FROM deliveries WHERE state = 'pending' ORDER BY id LIMIT $1",
                        &[&limit],
                    )
                    .await?;
                rows.iter().map(pending).collect()
            })
        })
        .await
    }

    /// When the earliest delivery waiting after `now` is due, if any waits.
    async fn next_retry_at(&self, now: Timestamp) -> Result<Option<Timestamp>, StoreError> {
        let now = at(now);
        self.read(|tx| {
            Box::pin(async move {
                let row = tx
                    .query_one(
                        "SELECT min(retry_at) FROM deliveries
                         WHERE state = 'pending' AND retry_at > $1",
                        &[&now],
                    )
                    .await?;
                ts_opt(&row, 0)
            })
        })
        .await
    }

    /// Records a failed confirmation on the deliveries it covered and `worker` holds: the
    /// failure run they are in, the error in words, when they are next due; and lets them go.
    #[allow(clippy::too_many_arguments)]
    async fn note_confirm_failure(
        &self,
        held: &Held,
        failing: Failing,
        retry_at: Timestamp,
        error: String,
    ) -> Result<(), StoreError> {
        let (job, payment) = (held.job_ref.to_string(), held.payment_ref.to_string());
        let (up_to_id, worker) = (held.up_to_id, held.worker.as_str().to_owned());
        let attempts = i32::try_from(failing.attempts).unwrap_or(i32::MAX);
        let (since, retry_at) = (at(failing.since), at(retry_at));
        self.write(|tx| {
            let (job, payment, worker, error) =
                (job.clone(), payment.clone(), worker.clone(), error.clone());
            Box::pin(async move {
                tx.execute(
                    "UPDATE deliveries SET confirm_attempts = confirm_attempts + 1,
                         last_error = $5, failure_class = $6, failing_since = $7,
                         failing_attempts = $8, retry_at = $9, claimed_by = NULL,
                         lease_until = NULL
                     WHERE job_ref = $1 AND payment_ref = $2 AND state = 'pending'
                       AND id <= $3 AND claimed_by = $4",
                    &[
                        &job,
                        &payment,
                        &up_to_id,
                        &worker,
                        &error,
                        &failing.class.as_str(),
                        &since,
                        &attempts,
                        &retry_at,
                    ],
                )
                .await?;
                Ok(())
            })
        })
        .await
    }

    /// Sends every delivery settled as unknown back to the workers. Returns how many.
    async fn reopen_unknown(&self) -> Result<u64, StoreError> {
        self.write(|tx| {
            Box::pin(async move {
                tx.execute(
                    &format!("UPDATE deliveries SET {REOPEN} WHERE state = 'unknown'"),
                    &[],
                )
                .await
            })
        })
        .await
    }

    /// The owner's "retry now": the dead or unknown deliveries of a job or payment
    /// reference (exact) back to the workers. Returns how many.
    async fn retry_deliveries(&self, reference: &str) -> Result<u64, StoreError> {
        let reference = reference.trim().to_owned();
        self.write(|tx| {
            let reference = reference.clone();
            Box::pin(async move {
                tx.execute(
                    &format!(
                        "UPDATE deliveries SET {REOPEN}
                         WHERE state IN ('dead', 'unknown')
                           AND (job_ref = $1 OR payment_ref = $1)"
                    ),
                    &[&reference],
                )
                .await
            })
        })
        .await
    }

    async fn count_deliveries(&self, state: DeliveryState) -> Result<u64, StoreError> {
        self.read(|tx| {
            Box::pin(async move {
                let row = tx
                    .query_one(
                        "SELECT count(*) FROM deliveries WHERE state = $1",
                        &[&state.as_str()],
                    )
                    .await?;
                Ok(non_negative(row.try_get(0)?))
            })
        })
        .await
    }

    /// Deliveries in a settled state the owner must know about, newest first.
    async fn deliveries_in(
        &self,
        state: DeliveryState,
        limit: u32,
    ) -> Result<Vec<StuckDelivery>, StoreError> {
        let limit = i64::from(limit);
        self.read(|tx| {
            Box::pin(async move {
                let rows = tx
                    .query(
                        "SELECT id, received_at, job_ref, payment_ref, confirm_attempts,
                             last_error, outcome, settled_at
                         FROM deliveries WHERE state = $1 ORDER BY id DESC LIMIT $2",
                        &[&state.as_str(), &limit],
                    )
                    .await?;
                let mut out = Vec::with_capacity(rows.len());
                for r in rows {
                    out.push(StuckDelivery {
                        id: r.try_get(0)?,
                        received_at: ts(&r, 1)?,
                        payment_job_reference: r
                            .try_get::<_, Option<String>>(2)?
                            .unwrap_or_default(),
                        payment_reference: r.try_get::<_, Option<String>>(3)?.unwrap_or_default(),
                        state,
                        attempts: u32_col(r.try_get(4)?, "confirmation attempts")?,
                        last_error: r.try_get(5)?,
                        outcome: r.try_get(6)?,
                        settled_at: ts_opt(&r, 7)?,
                    });
                }
                Ok(out)
            })
        })
        .await
    }

    /// Settles the deliveries a confirmation covered: the pending ones up to `up_to_id`
    /// that `worker` holds.
    async fn settle_deliveries(
        &self,
        held: &Held,
        state: DeliveryState,
        outcome: String,
    ) -> Result<(), StoreError> {
        let held = held.clone();
        self.write(|tx| {
            let (held, outcome) = (held.clone(), outcome.clone());
            // Given up after a failed attempt: that attempt is counted like every earlier one.
            Box::pin(async move { settle(tx, &held, state, &outcome, 1).await })
        })
        .await
    }

    /// How many acknowledged deliveries wait for confirmation, and the newest receipt.
    async fn inbox_status(&self) -> Result<(u64, Option<Timestamp>), StoreError> {
        self.read(|tx| {
            Box::pin(async move {
                let backlog: i64 = tx
                    .query_one(
                        "SELECT count(*) FROM deliveries WHERE state = 'pending'",
                        &[],
                    )
                    .await?
                    .try_get(0)?;
                let last = tx
                    .query_opt(
                        "SELECT received_at FROM deliveries ORDER BY id DESC LIMIT 1",
                        &[],
                    )
                    .await?;
                let last = match last {
                    Some(r) => Some(ts(&r, 0)?),
                    None => None,
                };
                Ok((non_negative(backlog), last))
            })
        })
        .await
    }
}

impl Retention for PgStore {
    /// Deletes deliveries settled (confirmed, unknown) longer than `keep` ago, a chunk per
    /// transaction; returns how many.
    async fn prune_settled_deliveries(&self, keep: Duration) -> Result<usize, StoreError> {
        // On the database's clock, as `settled_at` is (see `settle`).
        let keep_ms = i64::try_from(keep.as_millis()).unwrap_or(i64::MAX);
        let mut pruned = 0;
        loop {
            let deleted = self
                .write(|tx| {
                    Box::pin(async move {
                        tx.execute(
                            "DELETE FROM deliveries WHERE id IN (
                                 SELECT id FROM deliveries
                                 WHERE state IN ('confirmed', 'unknown')
                                   AND settled_at IS NOT NULL
                                   AND settled_at < now() - $1::bigint * interval '1 millisecond'
                                 LIMIT $2)",
                            &[&keep_ms, &PRUNE_CHUNK],
                        )
                        .await
                    })
                })
                .await?;
            pruned += deleted as usize;
            if (deleted as i64) < PRUNE_CHUNK {
                return Ok(pruned);
            }
        }
    }
}

/// Settles a payment's pending deliveries up to `up_to_id` that `worker` holds, and lets
/// them go. A delivery another worker holds, or one above the id, is left for a
/// confirmation of its own.
pub(super) async fn settle(
    tx: &Tx<'_>,
    held: &Held,
    state: DeliveryState,
    outcome: &str,
    attempts_added: i32,
) -> Result<(), Fail> {
    tx.execute(
        "UPDATE deliveries SET state = $5, outcome = $6, settled_at = now(), claimed_by = NULL,
             lease_until = NULL, confirm_attempts = confirm_attempts + $7
         WHERE job_ref = $1 AND payment_ref = $2 AND state = 'pending' AND id <= $3
           AND claimed_by = $4",
        &[
            &held.job_ref.as_str(),
            &held.payment_ref.as_str(),
            &held.up_to_id,
            &held.worker.as_str(),
            &state.as_str(),
            &outcome,
            &attempts_added,
        ],
    )
    .await?;
    Ok(())
}

/// The claimed rows that read as deliveries; each one that does not is set aside as
/// `dead` with the reason where the owner looks (`deliveries --dead`, the window), so one
/// row written by a newer Tillwatch cannot stop every claim.
async fn readable_or_quarantined(tx: &Tx<'_>, rows: &[Row]) -> Result<Vec<PendingDelivery>, Fail> {
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let id: i64 = r.try_get(0)?;
        // Everything `pending` can fail on is in the row already fetched: its values.
        let detail = match pending(r) {
            Ok(d) => {
                out.push(d);
                continue;
            }
            Err(Fail::Store(StoreError::Corrupt(what))) => what,
            Err(Fail::Pg(e)) => e.to_string(),
            Err(other) => return Err(other),
        };
        tracing::warn!(delivery = id, error = %detail, "a pending delivery cannot be read: set aside as dead");
        tx.execute(
            "UPDATE deliveries SET state = 'dead', outcome = $2, last_error = $2,
                 settled_at = now(), claimed_by = NULL, lease_until = NULL
             WHERE id = $1 AND state = 'pending'",
            &[&id, &unreadable_delivery(&detail)],
        )
        .await?;
    }
    Ok(out)
}

/// A pending delivery as `claim_due` and `pending_deliveries` read it.
fn pending(r: &Row) -> Result<PendingDelivery, Fail> {
    let class: Option<String> = r.try_get(3)?;
    let class = class
        .map(|c| {
            FailureClass::parse(&c)
                .ok_or_else(|| Fail::corrupt(format!("'{c}': unknown failure class")))
        })
        .transpose()?;
    let since = ts_opt(r, 4)?;
    let attempts = u32_col(r.try_get(5)?, "failing attempts")?;
    let job: &str = r.try_get(1)?;
    let payment: Option<&str> = r.try_get(2)?;
    let payment = payment.unwrap_or_default();
    Ok(PendingDelivery {
        id: r.try_get(0)?,
        job_ref: super::job_ref(job)?,
        payment_ref: PaymentRef::parse(payment)
            .map_err(|e| Fail::corrupt(format!("'{payment}': {e}")))?,
        failing: failure_run(class, since, attempts),
    })
}
