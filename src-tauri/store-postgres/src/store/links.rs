//! Payment jobs created from the app (the SQLite store's `links`), and the audit log.

use super::change_log;
use super::confirm::insert_event;
use super::{now, orders, refs, Fail, PgStore};
use tillwatch_core::domain::{ChangeSource, JobRef, OrderDetail};
use tillwatch_core::store::Links;
use tillwatch_core::store::{CreatedJobRecord, StoreError};

impl Links for PgStore {
    /// Whether any order already uses this order number.
    async fn order_number_used(&self, order_number: &str) -> Result<bool, StoreError> {
        let n = order_number.to_owned();
        self.read(|tx| {
            let n = n.clone();
            Box::pin(async move {
                Ok(tx
                    .query_opt(
                        "SELECT 1 FROM payment_jobs WHERE order_number = $1 LIMIT 1",
                        &[&n],
                    )
                    .await?
                    .is_some())
            })
        })
        .await
    }

    /// The next free numeric order number: one past the highest in use (1001 at first).
    async fn suggest_order_number(&self) -> Result<String, StoreError> {
        self.read(|tx| {
            Box::pin(async move {
                // Digits only and under 16 of them (a bigint), as the SQLite store's GLOBs.
                let max: Option<i64> = tx
                    .query_one(
                        "SELECT max(order_number::bigint) FROM payment_jobs
                         WHERE order_number ~ '^[0-9]+$' AND length(order_number) < 16",
                        &[],
                    )
                    .await?
                    .try_get(0)?;
                Ok(max.map_or(1001, |m| m + 1).to_string())
            })
        })
        .await
    }

    /// Records a job the owner just created; it is Pending until the gateway says more.
    async fn record_created_job(&self, r: CreatedJobRecord) -> Result<OrderDetail, StoreError> {
        self.write(|tx| {
            let r = r.clone();
            Box::pin(async move {
                tx.lock_order(&r.job_ref).await?;
                let now = now();
                let job = r.job_ref.as_str();
                let amount = r.amount.decimal();
                let minor = refs::amount_minor(Some(r.amount), Some(&r.currency));
                tx.execute(
                    "INSERT INTO payment_jobs (job_ref, order_number, email, status, amount,
                         currency, created_here, expected_amount, expected_currency,
                         expected_order_number, payment_link, note, first_seen_at, updated_at,
                         amount_minor)
                     VALUES ($1, $2, $3, 'Pending', $4, $5, true, $4, $5, $2, $6, $7, $8, $8, $9)",
                    &[
                        &job,
                        &r.order_number,
                        &r.email,
                        &amount,
                        &r.currency.as_str(),
                        &r.payment_link,
                        &r.note,
                        &now,
                        &minor,
                    ],
                )
                .await?;
                tx.execute(
                    "INSERT INTO job_answers (job_ref, raw) VALUES ($1, $2)",
                    &[&job, &r.raw.to_string()],
                )
                .await?;
                refs::index_job(tx, job, None).await?;
                if let Some(p) = &r.first_payment {
                    tx.execute(
                        "INSERT INTO payments (job_ref, payment_ref, attempt, status, amount,
                             updated_at)
                         VALUES ($1, $2, 1, 'Pending', $3, $4)",
                        &[&job, &p.as_str(), &amount, &now],
                    )
                    .await?;
                    refs::index_payment(tx, job, p.as_str()).await?;
                }
                let change = r.first_change();
                insert_event(tx, &r.job_ref, &change, ChangeSource::Owner, now).await?;
                let entry = r.audit_entry();
                tx.execute(
                    "INSERT INTO audit (at, action, job_ref, detail) VALUES ($1, $2, $3, $4)",
                    &[&now, &entry.action, &job, &entry.detail],
                )
                .await?;
                tx.changed(change_log::Change {
                    job_ref: &r.job_ref,
                    previous_status: None,
                    status_changed: false,
                    source: ChangeSource::Owner,
                })
                .await?;
                orders::detail(tx, &r.job_ref)
                    .await?
                    .ok_or_else(|| Fail::not_found(r.job_ref.to_string()))
            })
        })
        .await
    }

    /// Notes an owner action on an order in the audit log (not announced: the order did
    /// not change).
    async fn audit(
        &self,
        job: &JobRef,
        action: &str,
        detail: Option<String>,
    ) -> Result<(), StoreError> {
        let (job, action) = (job.clone(), action.to_owned());
        self.write(|tx| {
            let (job, action, detail) = (job.clone(), action.clone(), detail.clone());
            Box::pin(async move { orders::audit(tx, &action, &job, detail.as_deref(), None).await })
        })
        .await
    }
}
