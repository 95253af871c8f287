//! Writing what the gateway confirmed (the SQLite store's `confirm`): job, attempts,
//! status history and the deliveries it settles, in one transaction. Writers of one order
//! are serialised by its lock, so two processes confirming it at once never both record
//! the same change.

use super::change_log;
use super::refs::{self, JobNames};
use super::{amount_opt, at, currency_opt, inbox, money, now, summaries, Fail, PgStore, Tx};
use tillwatch_core::domain::{
    ChangeSource, DeliveryState, JobRef, JobSnapshot, PaymentStatus, Timestamp,
};
use tillwatch_core::store::Confirmations;
use tillwatch_core::store::{
    Applied, ApplyPlan, Held, HeldJob, MoneyChange, StatusChange, StoreError,
};
use time::OffsetDateTime;

impl Confirmations for PgStore {
    /// Applies a gateway answer. Never lets an older answer overwrite a newer one, and
    /// appends a status event only where a status actually changed.
    async fn apply_snapshot(
        &self,
        snapshot: JobSnapshot,
        source: ChangeSource,
        mismatch: Option<String>,
        settles: Option<Held>,
    ) -> Result<Applied, StoreError> {
        let confirms = settles.is_some();
        let applied = self
            .write(|tx| {
                let (snapshot, mismatch, settles) =
                    (snapshot.clone(), mismatch.clone(), settles.clone());
                Box::pin(async move {
                    let applied = apply(tx, &snapshot, source, mismatch.as_deref()).await?;
                    if let Some(s) = settles {
                        let outcome = applied.confirmed_outcome();
                        inbox::settle(tx, &s, DeliveryState::Confirmed, &outcome, 0).await?;
                    }
                    if !applied.changes.is_empty() || !applied.money.is_empty() {
                        let job = applied.job_change();
                        tx.changed(change_log::Change {
                            job_ref: &snapshot.job_ref,
                            previous_status: job.and_then(|c| c.from.as_ref()),
                            status_changed: job.is_some(),
                            source,
                        })
                        .await?;
                    }
                    Ok(applied)
                })
            })
            .await;
        if confirms && applied.is_ok() {
            self.shared.confirmations.noted();
        }
        applied
    }
}

async fn apply(
    tx: &Tx<'_>,
    snap: &JobSnapshot,
    source: ChangeSource,
    mismatch: Option<&str>,
) -> Result<Applied, Fail> {
    tx.lock_order(&snap.job_ref).await?;
    let now = now();
    let job = snap.job_ref.as_str();
    let stored = tx
        .query_opt(
            "SELECT status, gateway_updated_ticks, order_number, email, amount, currency
             FROM payment_jobs WHERE job_ref = $1 FOR UPDATE",
            &[&job],
        )
        .await?;
    let held = match &stored {
        Some(r) => Some(HeldJob {
            status: PaymentStatus::from(r.try_get::<_, &str>(0)?),
            at: r
                .try_get::<_, Option<i64>>(1)?
                .map(Timestamp::from_unix_ticks),
        }),
        None => None,
    };
    let Some(mut plan) = ApplyPlan::start(held.as_ref(), snap) else {
        tx.execute(
            "UPDATE payment_jobs SET last_confirmed_at = $2 WHERE job_ref = $1",
            &[&job, &now],
        )
        .await?;
        // Moves keep their own order (an end state never goes back): a refund does not
        // move the job's clock, so an answer that is stale for the job may still carry one.
        let money = apply_all_moves(tx, snap, source, now).await?;
        let mut applied = Applied::stale(summaries::summary(tx, &snap.job_ref).await?);
        applied.money = money;
        return Ok(applied);
    };

    // What the row names and holds before this answer: the references index drops names
    // that change, and the minor amount follows the amount and currency the row will hold.
    let (before, held_amount, held_currency) = match &stored {
        Some(r) => (
            Some(JobNames {
                order_number: r.try_get(2)?,
                email: r.try_get(3)?,
            }),
            amount_opt(r, 4)?,
            currency_opt(r, 5)?,
        ),
        None => (None, None, None),
    };
    let amount = snap.amount.or(held_amount);
    let currency = snap.currency.clone().or(held_currency);
    let amount_minor = refs::amount_minor(amount, currency.as_ref());

    tx.execute(
        "INSERT INTO payment_jobs (job_ref, order_number, email, status, amount, paid_amount,
             currency, mismatch, gateway_created_at, gateway_updated_at, first_seen_at,
             updated_at, last_confirmed_at, amount_minor, gateway_updated_ticks)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $11, $12, $13)
         ON CONFLICT (job_ref) DO UPDATE SET
             order_number = coalesce(excluded.order_number, payment_jobs.order_number),
             email = coalesce(excluded.email, payment_jobs.email),
             status = excluded.status,
             amount = coalesce(excluded.amount, payment_jobs.amount),
             paid_amount = excluded.paid_amount,
             currency = coalesce(excluded.currency, payment_jobs.currency),
             mismatch = excluded.mismatch,
             gateway_created_at = coalesce(excluded.gateway_created_at,
                                           payment_jobs.gateway_created_at),
             gateway_updated_at = coalesce(excluded.gateway_updated_at,
                                           payment_jobs.gateway_updated_at),
             gateway_updated_ticks = coalesce(excluded.gateway_updated_ticks,
                                              payment_jobs.gateway_updated_ticks),
             updated_at = CASE WHEN payment_jobs.status IS NOT DISTINCT FROM excluded.status
                               THEN payment_jobs.updated_at ELSE excluded.updated_at END,
             last_confirmed_at = excluded.last_confirmed_at,
             amount_minor = excluded.amount_minor",
        &[
            &job,
            &snap.order_number,
            &snap.email,
            &snap.status.as_str(),
            &snap.amount.map(|a| a.decimal()),
            &snap.paid_amount.map(|a| a.decimal()),
            &snap.currency.as_ref().map(|c| c.as_str()),
            &mismatch,
            &snap.created_at.map(at),
            &snap.gateway_updated_at.map(at),
            &now,
            &amount_minor,
            &snap.gateway_updated_at.map(Timestamp::unix_ticks),
        ],
    )
    .await?;
    tx.execute(
        "INSERT INTO job_answers (job_ref, raw) VALUES ($1, $2)
         ON CONFLICT (job_ref) DO UPDATE SET raw = excluded.raw",
        &[&job, &snap.raw.to_string()],
    )
    .await?;
    refs::index_job(tx, job, before.as_ref()).await?;

    for (i, p) in snap.payments.iter().enumerate() {
        let before = tx
            .query_opt(
                "SELECT status FROM payments WHERE job_ref = $1 AND payment_ref = $2",
                &[&job, &p.payment_ref.as_str()],
            )
            .await?
            .map(|r| r.try_get::<_, String>(0))
            .transpose()?
            .map(PaymentStatus::from);
        if !plan.payment(before, p) {
            continue;
        }
        let attempt = i32::try_from(i + 1).unwrap_or(i32::MAX);
        tx.execute(
            "INSERT INTO payments (job_ref, payment_ref, attempt, status, amount, failure_code,
                 failure_reason, gateway_created_at, updated_at, paid_amount)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (job_ref, payment_ref) DO UPDATE SET
                 attempt = excluded.attempt,
                 status = excluded.status,
                 amount = coalesce(excluded.amount, payments.amount),
                 paid_amount = coalesce(excluded.paid_amount, payments.paid_amount),
                 failure_code = excluded.failure_code,
                 failure_reason = excluded.failure_reason,
                 gateway_created_at = coalesce(excluded.gateway_created_at,
                                               payments.gateway_created_at),
                 updated_at = CASE WHEN payments.status IS NOT DISTINCT FROM excluded.status
                                   THEN payments.updated_at ELSE excluded.updated_at END",
            &[
                &job,
                &p.payment_ref.as_str(),
                &attempt,
                &p.status.as_str(),
                &p.amount.map(|a| a.decimal()),
                &p.failure_code,
                &p.failure_reason,
                &p.created_at.map(at),
                &now,
                &p.paid_amount.map(|a| a.decimal()),
            ],
        )
        .await?;
        tx.execute(
            "INSERT INTO payment_answers (job_ref, payment_ref, raw) VALUES ($1, $2, $3)
             ON CONFLICT (job_ref, payment_ref) DO UPDATE SET raw = excluded.raw",
            &[&job, &p.payment_ref.as_str(), &p.raw.to_string()],
        )
        .await?;
        refs::index_payment(tx, job, p.payment_ref.as_str()).await?;
    }

    for c in plan.changes() {
        insert_event(tx, &snap.job_ref, c, source, now).await?;
    }
    let money = apply_all_moves(tx, snap, source, now).await?;
    Ok(plan.applied(summaries::summary(tx, &snap.job_ref).await?, money))
}

/// The captures and refunds of every payment of the answer.
async fn apply_all_moves(
    tx: &Tx<'_>,
    snap: &JobSnapshot,
    source: ChangeSource,
    now: OffsetDateTime,
) -> Result<Vec<MoneyChange>, Fail> {
    let moves: Vec<_> = snap
        .payments
        .iter()
        .flat_map(|p| p.moves.iter().cloned())
        .collect();
    let changes = money::apply_moves(tx, &snap.job_ref, &moves, source, now).await?;
    money::refresh(tx, &snap.job_ref).await?;
    Ok(changes)
}

pub(super) async fn insert_event(
    tx: &Tx<'_>,
    job: &JobRef,
    c: &StatusChange,
    source: ChangeSource,
    at: OffsetDateTime,
) -> Result<(), Fail> {
    tx.execute(
        "INSERT INTO status_events (job_ref, payment_ref, from_status, to_status, source, at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &job.as_str(),
            &c.payment_ref.as_ref().map(|p| p.as_str()),
            &c.from.as_ref().map(|s| s.as_str()),
            &c.to.as_str(),
            &source.as_str(),
            &at,
        ],
    )
    .await?;
    Ok(())
}
