//! Payment jobs created from the app: recorded with what was asked, so the gateway's
//! later answers can be held to it.

use rusqlite::{params, OptionalExtension};

use super::confirm::insert_event;
use super::{DbError, SqliteStore};
use tillwatch_core::domain::{ChangeSource, JobRef, OrderDetail, Timestamp};
use tillwatch_core::store::Links;
use tillwatch_core::store::{CreatedJobRecord, StoreError};

impl Links for SqliteStore {
    /// Whether any order already uses this order number.
    async fn order_number_used(&self, order_number: &str) -> Result<bool, StoreError> {
        let n = order_number.to_owned();
        self.read(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT 1 FROM payment_jobs WHERE order_number = ?1 LIMIT 1",
                    [n],
                    |_| Ok(()),
                )
                .optional()?
                .is_some())
        })
        .await
    }

    /// The next free numeric order number: one past the highest in use (1001 at first).
    async fn suggest_order_number(&self) -> Result<String, StoreError> {
        self.read(|conn| {
            let max: Option<i64> = conn.query_row(
                "SELECT max(CAST(order_number AS INTEGER)) FROM payment_jobs
                 WHERE order_number GLOB '[0-9]*' AND order_number NOT GLOB '*[^0-9]*'
                   AND length(order_number) < 16",
                [],
                |r| r.get(0),
            )?;
            Ok(max.map_or(1001, |m| m + 1).to_string())
        })
        .await
    }

    /// Records a job the owner just created; it is Pending until the gateway says more.
    async fn record_created_job(&self, r: CreatedJobRecord) -> Result<OrderDetail, StoreError> {
        self.write(move |conn| {
            let now = Timestamp::now().to_string();
            conn.execute(
                "INSERT INTO payment_jobs (job_ref, order_number, email, status, amount, currency,
                     created_here, expected_amount, expected_currency, expected_order_number,
                     payment_link, note, first_seen_at, updated_at, amount_minor)
                 VALUES (?1, ?2, ?3, 'Pending', ?4, ?5, 1, ?4, ?5, ?2, ?6, ?7, ?8, ?8, ?9)",
                params![
                    r.job_ref.as_str(),
                    r.order_number,
                    r.email,
                    r.amount.to_string(),
                    r.currency.as_str(),
                    r.payment_link,
                    r.note,
                    now,
                    super::refs::amount_minor(Some(r.amount), Some(&r.currency)),
                ],
            )?;
            conn.execute(
                "INSERT INTO job_answers (job_ref, raw) VALUES (?1, ?2)",
                params![r.job_ref.as_str(), r.raw.to_string()],
            )?;
            super::refs::index_job(conn, r.job_ref.as_str(), None)?;
            if let Some(p) = &r.first_payment {
                conn.execute(
                    "INSERT INTO payments (job_ref, payment_ref, attempt, status, amount, updated_at)
                     VALUES (?1, ?2, 1, 'Pending', ?3, ?4)",
                    params![r.job_ref.as_str(), p.as_str(), r.amount.to_string(), now],
                )?;
                super::refs::index_payment(conn, r.job_ref.as_str(), p.as_str())?;
            }
            insert_event(conn, &r.job_ref, &r.first_change(), ChangeSource::Owner, &now)?;
            let entry = r.audit_entry();
            conn.execute(
                "INSERT INTO audit (at, action, job_ref, detail) VALUES (?1, ?2, ?3, ?4)",
                params![now, entry.action, r.job_ref.as_str(), entry.detail],
            )?;
            super::orders::detail(conn, &r.job_ref)?
                .ok_or_else(|| DbError::NotFound(r.job_ref.to_string()))
        })
        .await
    }

    /// Notes an owner action on an order in the audit log.
    async fn audit(
        &self,
        job: &JobRef,
        action: &str,
        detail: Option<String>,
    ) -> Result<(), StoreError> {
        let (job, action) = (job.clone(), action.to_owned());
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO audit (at, action, job_ref, detail) VALUES (?1, ?2, ?3, ?4)",
                params![Timestamp::now().to_string(), action, job.as_str(), detail],
            )?;
            Ok(())
        })
        .await
    }
}
