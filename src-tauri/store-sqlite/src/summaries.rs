//! An order's one-line summary as every list reads it: the columns, and their parsing,
//! so a bad stored value is an error and not a panic.

use rusqlite::{Connection, Row};

use super::{parse_col, DbError};
use tillwatch_core::domain::{Amount, Currency, JobRef, OrderSummary, PaymentStatus, Timestamp};
use tillwatch_core::store::unfinished_condition;

pub(super) const SUMMARY_COLUMNS: &str = "j.job_ref, j.order_number, j.email, j.status, j.amount,
    j.currency, j.attempts, j.shipped_at, j.created_here, j.mismatch, j.first_seen_at,
    j.updated_at, j.paid_total, j.refunded_total, j.refund_pending_total, j.capture_by";

/// Raw columns first, then parsed, so a bad stored value is an error and not a panic.
type SummaryColumns = (
    String,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    u32,
    Option<String>,
    bool,
    Option<String>,
    String,
    String,
    Option<String>,
    String,
    String,
    Option<String>,
);

fn summary_columns(r: &Row<'_>) -> rusqlite::Result<SummaryColumns> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
        r.get(11)?,
        r.get(12)?,
        r.get(13)?,
        r.get(14)?,
        r.get(15)?,
    ))
}

fn to_summary(c: SummaryColumns) -> Result<OrderSummary, DbError> {
    let corrupt = |e: &dyn std::fmt::Display| DbError::Corrupt(e.to_string());
    let shipped_at = parse_col(c.7, Timestamp::parse)?;
    Ok(OrderSummary {
        payment_job_reference: JobRef::parse(&c.0).map_err(|e| corrupt(&e))?,
        order_number: c.1,
        email: c.2,
        status: PaymentStatus::from(c.3),
        amount: parse_col(c.4, str::parse::<Amount>)?,
        currency: parse_col(c.5, Currency::parse)?,
        attempts: c.6,
        shipped: shipped_at.is_some(),
        shipped_at,
        created_here: c.8,
        mismatch: c.9,
        first_seen_at: Timestamp::parse(&c.10).map_err(|e| corrupt(&e))?,
        updated_at: Timestamp::parse(&c.11).map_err(|e| corrupt(&e))?,
        paid_amount: parse_col(c.12, str::parse::<Amount>)?,
        refunded_amount: c.13.parse().map_err(|e| corrupt(&e))?,
        refund_pending_amount: c.14.parse().map_err(|e| corrupt(&e))?,
        capture_by: parse_col(c.15, Timestamp::parse)?,
    })
}

pub(super) fn collect_summaries(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<OrderSummary>, DbError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, summary_columns)?;
    let mut out = Vec::new();
    for row in rows {
        out.push(to_summary(row?)?);
    }
    Ok(out)
}

pub(super) fn summary(conn: &Connection, job: &JobRef) -> Result<OrderSummary, DbError> {
    let sql = format!("SELECT {SUMMARY_COLUMNS} FROM payment_jobs j WHERE j.job_ref = ?1");
    collect_summaries(conn, &sql, [job.as_str()])?
        .pop()
        .ok_or_else(|| DbError::NotFound(job.to_string()))
}

/// Jobs not final, least recently confirmed first. The list is written as the partial
/// index `payment_jobs_unfinished` words it, so the planner reads that index alone.
pub(super) fn unfinished_sql() -> String {
    format!(
        "SELECT job_ref FROM payment_jobs WHERE {}
         ORDER BY last_confirmed_at",
        unfinished_condition()
    )
}
