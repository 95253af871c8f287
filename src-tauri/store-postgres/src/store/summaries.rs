//! An order's one-line summary as every list reads it (the SQLite store's `summaries`).

use tokio_postgres::Row;

use super::{amount_opt, currency_opt, job_ref, ts, ts_opt, Fail, Tx};
use tillwatch_core::domain::{Amount, JobRef, OrderSummary, PaymentStatus};
use tillwatch_core::store::unfinished_condition;

pub(super) const SUMMARY_COLUMNS: &str = "j.job_ref, j.order_number, j.email, j.status, j.amount,
    j.currency, j.attempts, j.shipped_at, j.created_here, j.mismatch, j.first_seen_at,
    j.updated_at, j.paid_total, j.refunded_total, j.refund_pending_total, j.capture_by";

pub(super) fn to_summary(r: &Row) -> Result<OrderSummary, Fail> {
    let shipped_at = ts_opt(r, 7)?;
    let attempts: i32 = r.try_get(6)?;
    Ok(OrderSummary {
        payment_job_reference: job_ref(r.try_get(0)?)?,
        order_number: r.try_get(1)?,
        email: r.try_get(2)?,
        status: PaymentStatus::from(r.try_get::<_, &str>(3)?),
        amount: amount_opt(r, 4)?,
        currency: currency_opt(r, 5)?,
        attempts: u32::try_from(attempts)
            .map_err(|_| Fail::corrupt(format!("{attempts} attempts")))?,
        shipped: shipped_at.is_some(),
        shipped_at,
        created_here: r.try_get(8)?,
        mismatch: r.try_get(9)?,
        first_seen_at: ts(r, 10)?,
        updated_at: ts(r, 11)?,
        paid_amount: amount_opt(r, 12)?,
        refunded_amount: amount_opt(r, 13)?.unwrap_or(Amount::ZERO),
        refund_pending_amount: amount_opt(r, 14)?.unwrap_or(Amount::ZERO),
        capture_by: ts_opt(r, 15)?,
    })
}

pub(super) fn collect(rows: &[Row]) -> Result<Vec<OrderSummary>, Fail> {
    rows.iter().map(to_summary).collect()
}

pub(super) async fn summary(tx: &Tx<'_>, job: &JobRef) -> Result<OrderSummary, Fail> {
    let sql = format!("SELECT {SUMMARY_COLUMNS} FROM payment_jobs j WHERE j.job_ref = $1");
    match tx.query_opt(&sql, &[&job.as_str()]).await? {
        Some(row) => to_summary(&row),
        None => Err(Fail::not_found(job.to_string())),
    }
}

/// Jobs not final, least recently confirmed first (never confirmed first, as SQLite sorts
/// NULL), written as the partial index `payment_jobs_unfinished` words it.
pub(super) fn unfinished_sql() -> String {
    format!(
        "SELECT job_ref FROM payment_jobs WHERE {}
         ORDER BY last_confirmed_at NULLS FIRST",
        unfinished_condition()
    )
}
