//! Writing what the gateway confirmed: job, attempts, status history, and the deliveries
//! it settles, in one transaction.

use rusqlite::{params, Connection, OptionalExtension};

use super::refs::{self, JobNames};
use super::{inbox, money, summaries, DbError, SqliteStore};
use tillwatch_core::domain::{
    Amount, ChangeSource, Currency, DeliveryState, JobRef, JobSnapshot, PaymentStatus, Timestamp,
};
use tillwatch_core::store::Confirmations;
use tillwatch_core::store::{
    Applied, ApplyPlan, Held, HeldJob, MoneyChange, StatusChange, StoreError,
};

impl Confirmations for SqliteStore {
    /// Applies a gateway answer. Never lets an older answer overwrite a newer one, and
    /// appends a status event only where a status actually changed.
    async fn apply_snapshot(
        &self,
        snapshot: JobSnapshot,
        source: ChangeSource,
        mismatch: Option<String>,
        settles: Option<Held>,
    ) -> Result<Applied, StoreError> {
        self.write(move |conn| {
            let applied = apply(conn, &snapshot, source, mismatch.as_deref())?;
            if let Some(s) = settles {
                let outcome = applied.confirmed_outcome();
                inbox::settle(conn, &s, DeliveryState::Confirmed, &outcome, 0)?;
            }
            Ok(applied)
        })
        .await
    }
}

fn apply(
    conn: &Connection,
    snap: &JobSnapshot,
    source: ChangeSource,
    mismatch: Option<&str>,
) -> Result<Applied, DbError> {
    let now = Timestamp::now().to_string();
    let job = snap.job_ref.as_str();
    let stored: Option<(String, Option<String>)> = conn
        .prepare_cached("SELECT status, gateway_updated_at FROM payment_jobs WHERE job_ref = ?1")?
        .query_row([job], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;

    let incoming_ts = snap.gateway_updated_at.map(|t| t.to_string());
    let held = stored
        .as_ref()
        .map(|(status, at)| -> Result<_, DbError> {
            Ok(HeldJob {
                status: PaymentStatus::from(status.as_str()),
                at: super::parse_col(at.clone(), Timestamp::parse)?,
            })
        })
        .transpose()?;
    let Some(mut plan) = ApplyPlan::start(held.as_ref(), snap) else {
        super::exec(
            conn,
            "UPDATE payment_jobs SET last_confirmed_at = ?2 WHERE job_ref = ?1",
            params![job, now],
        )?;
        // Moves keep their own order (an end state never goes back): a refund does not
        // move the job's clock, so an answer that is stale for the job may still carry one.
        let money = apply_all_moves(conn, snap, source, &now)?;
        let mut applied = Applied::stale(summaries::summary(conn, &snap.job_ref)?);
        applied.money = money;
        return Ok(applied);
    };

    // What the row names and holds before this answer: the references index drops names
    // that change, and the minor amount follows the amount and currency the row will hold.
    type Held = (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let held_row: Option<Held> = conn
        .prepare_cached(
            "SELECT order_number, email, amount, currency FROM payment_jobs WHERE job_ref = ?1",
        )?
        .query_row([job], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .optional()?;
    let (before, held_amount, held_currency) = match held_row {
        Some((order_number, email, amount, currency)) => (
            Some(JobNames {
                order_number,
                email,
            }),
            amount,
            currency,
        ),
        None => (None, None, None),
    };
    let amount = match snap.amount {
        Some(a) => Some(a),
        None => super::parse_col(held_amount, str::parse::<Amount>)?,
    };
    let currency = match &snap.currency {
        Some(c) => Some(c.clone()),
        None => super::parse_col(held_currency, Currency::parse)?,
    };
    let amount_minor = refs::amount_minor(amount, currency.as_ref());

    super::exec(
        conn,
        "INSERT INTO payment_jobs (job_ref, order_number, email, status, amount, paid_amount,
             currency, mismatch, gateway_created_at, gateway_updated_at, first_seen_at,
             updated_at, last_confirmed_at, amount_minor)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11, ?11, ?12)
         ON CONFLICT (job_ref) DO UPDATE SET
             order_number = coalesce(excluded.order_number, order_number),
             email = coalesce(excluded.email, email),
             status = excluded.status,
             amount = coalesce(excluded.amount, amount),
             paid_amount = excluded.paid_amount,
             currency = coalesce(excluded.currency, currency),
             mismatch = excluded.mismatch,
             gateway_created_at = coalesce(excluded.gateway_created_at, gateway_created_at),
             gateway_updated_at = coalesce(excluded.gateway_updated_at, gateway_updated_at),
             updated_at = CASE WHEN status IS excluded.status THEN updated_at
                               ELSE excluded.updated_at END,
             last_confirmed_at = excluded.last_confirmed_at,
             amount_minor = excluded.amount_minor",
        params![
            job,
            snap.order_number,
            snap.email,
            snap.status.as_str(),
            snap.amount.map(|a| a.to_string()),
            snap.paid_amount.map(|a| a.to_string()),
            snap.currency.as_ref().map(|c| c.as_str()),
            mismatch,
            snap.created_at.map(|t| t.to_string()),
            incoming_ts,
            now,
            amount_minor,
        ],
    )?;
    super::exec(
        conn,
        "INSERT INTO job_answers (job_ref, raw) VALUES (?1, ?2)
         ON CONFLICT (job_ref) DO UPDATE SET raw = excluded.raw",
        params![job, snap.raw.to_string()],
    )?;
    refs::index_job(conn, job, before.as_ref())?;

    for (i, p) in snap.payments.iter().enumerate() {
        let before: Option<String> = conn
            .query_row(
                "SELECT status FROM payments WHERE job_ref = ?1 AND payment_ref = ?2",
                params![job, p.payment_ref.as_str()],
                |r| r.get(0),
            )
            .optional()?;
        if !plan.payment(before.map(PaymentStatus::from), p) {
            continue;
        }
        super::exec(
            conn,
            "INSERT INTO payments (job_ref, payment_ref, attempt, status, amount, failure_code,
                 failure_reason, gateway_created_at, updated_at, paid_amount)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (job_ref, payment_ref) DO UPDATE SET
                 attempt = excluded.attempt,
                 status = excluded.status,
                 amount = coalesce(excluded.amount, amount),
                 paid_amount = coalesce(excluded.paid_amount, paid_amount),
                 failure_code = excluded.failure_code,
                 failure_reason = excluded.failure_reason,
                 gateway_created_at = coalesce(excluded.gateway_created_at, gateway_created_at),
                 updated_at = CASE WHEN status IS excluded.status THEN updated_at
                                   ELSE excluded.updated_at END",
            params![
                job,
                p.payment_ref.as_str(),
                i as u32 + 1,
                p.status.as_str(),
                p.amount.map(|a| a.to_string()),
                p.failure_code,
                p.failure_reason,
                p.created_at.map(|t| t.to_string()),
                now,
                p.paid_amount.map(|a| a.to_string()),
            ],
        )?;
        super::exec(
            conn,
            "INSERT INTO payment_answers (job_ref, payment_ref, raw) VALUES (?1, ?2, ?3)
             ON CONFLICT (job_ref, payment_ref) DO UPDATE SET raw = excluded.raw",
            params![job, p.payment_ref.as_str(), p.raw.to_string()],
        )?;
        refs::index_payment(conn, job, p.payment_ref.as_str())?;
    }

    for c in plan.changes() {
        insert_event(conn, &snap.job_ref, c, source, &now)?;
    }
    let money = apply_all_moves(conn, snap, source, &now)?;
    Ok(plan.applied(summaries::summary(conn, &snap.job_ref)?, money))
}

/// The captures and refunds of every payment of the answer.
fn apply_all_moves(
    conn: &Connection,
    snap: &JobSnapshot,
    source: ChangeSource,
    now: &str,
) -> Result<Vec<MoneyChange>, DbError> {
    let moves: Vec<_> = snap
        .payments
        .iter()
        .flat_map(|p| p.moves.iter().cloned())
        .collect();
    let changes = money::apply_moves(conn, &snap.job_ref, &moves, source, now)?;
    money::refresh(conn, &snap.job_ref)?;
    Ok(changes)
}

pub(super) fn insert_event(
    conn: &Connection,
    job: &JobRef,
    c: &StatusChange,
    source: ChangeSource,
    at: &str,
) -> Result<(), DbError> {
    super::exec(
        conn,
        "INSERT INTO status_events (job_ref, payment_ref, from_status, to_status, source, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            job.as_str(),
            c.payment_ref.as_ref().map(|p| p.as_str()),
            c.from.as_ref().map(|s| s.as_str()),
            c.to.as_str(),
            source.as_str(),
            at,
        ],
    )?;
    Ok(())
}
