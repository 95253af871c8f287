//! Captures and refunds (the SQLite store's `money`): the moves a confirmation learns from
//! each payment's answer, and the owner's requests recorded before they are sent. The
//! decisions are the core's (`plan_moves`, `MoneyRequest::check`); this module reads and
//! writes the rows, under the order's lock.

use super::{amount_opt, at, ts_opt, Fail, Tx};
use tillwatch_core::domain::{
    Amount, ChangeSource, JobRef, MoneyMove, MoneyMoveView, MoveKind, MoveStatus, PaymentRef,
    PaymentStatus,
};
use tillwatch_core::store::{
    plan_moves, HeldMove, MoneyChange, MoneyRequest, MoveWrite, PaymentMoney, StoreError,
    StoredMoney,
};
use time::OffsetDateTime;

async fn held_moves(tx: &Tx<'_>, job: &str) -> Result<Vec<HeldMove>, Fail> {
    let rows = tx
        .query(
            "SELECT id, payment_ref, kind, reference, refund_number, amount, status, created_at,
                    failure
             FROM money_moves WHERE job_ref = $1 ORDER BY id",
            &[&job],
        )
        .await?;
    let mut out = Vec::new();
    for r in rows {
        let payment: &str = r.try_get(1)?;
        let kind: &str = r.try_get(2)?;
        let status: &str = r.try_get(6)?;
        out.push(HeldMove {
            id: r.try_get(0)?,
            payment_ref: PaymentRef::parse(payment)
                .map_err(|_| Fail::corrupt(format!("payment '{payment}'")))?,
            kind: MoveKind::parse(kind)
                .ok_or_else(|| Fail::corrupt(format!("move kind '{kind}'")))?,
            reference: r.try_get(3)?,
            number: r.try_get(4)?,
            amount: amount_opt(&r, 5)?.unwrap_or(Amount::ZERO),
            status: MoveStatus::parse(status)
                .ok_or_else(|| Fail::corrupt(format!("move status '{status}'")))?,
            created_at: ts_opt(&r, 7)?,
            failure: r.try_get(8)?,
        });
    }
    Ok(out)
}

/// Writes the moves of an answer's payments as the core's plan says; what is new or
/// changed status.
pub(super) async fn apply_moves(
    tx: &Tx<'_>,
    job: &JobRef,
    moves: &[MoneyMove],
    source: ChangeSource,
    now: OffsetDateTime,
) -> Result<Vec<MoneyChange>, Fail> {
    if moves.is_empty() {
        return Ok(Vec::new());
    }
    let (writes, changes) = plan_moves(&held_moves(tx, job.as_str()).await?, moves);
    for w in writes {
        match w {
            MoveWrite::Insert(m) => insert(tx, job, &m, None, source, now).await?,
            MoveWrite::Update { id, now: m } => {
                tx.execute(
                    "UPDATE money_moves SET reference = $2, refund_number = $3, amount = $4,
                         status = $5, created_at = coalesce($6, created_at),
                         failure = coalesce($7, failure), updated_at = $8
                     WHERE id = $1",
                    &[
                        &id,
                        &m.reference,
                        &m.number,
                        &m.amount.decimal(),
                        &m.status.as_str(),
                        &m.created_at.map(at),
                        &m.failure,
                        &now,
                    ],
                )
                .await?;
            }
        }
    }
    Ok(changes)
}

async fn insert(
    tx: &Tx<'_>,
    job: &JobRef,
    m: &MoneyMove,
    by: Option<&str>,
    source: ChangeSource,
    now: OffsetDateTime,
) -> Result<(), Fail> {
    tx.execute(
        "INSERT INTO money_moves (job_ref, payment_ref, kind, reference, refund_number, amount,
             status, created_at, failure, by_whom, source, first_seen_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
        &[
            &job.as_str(),
            &m.payment_ref.as_str(),
            &m.kind.as_str(),
            &m.reference,
            &m.number,
            &m.amount.decimal(),
            &m.status.as_str(),
            &m.created_at.map(at),
            &m.failure,
            &by,
            &source.as_str(),
            &now,
        ],
    )
    .await?;
    Ok(())
}

/// The order's money from its rows, as the core adds it up.
async fn stored_money(tx: &Tx<'_>, job: &str) -> Result<StoredMoney, Fail> {
    let row = tx
        .query_one(
            "SELECT status, coalesce(paid_amount, amount) FROM payment_jobs WHERE job_ref = $1",
            &[&job],
        )
        .await?;
    let status = PaymentStatus::from(row.try_get::<_, &str>(0)?);
    let job_paid = amount_opt(&row, 1)?;
    let rows = tx
        .query(
            "SELECT status, paid_amount, amount, gateway_created_at
             FROM payments WHERE job_ref = $1",
            &[&job],
        )
        .await?;
    let mut payments = Vec::new();
    for r in &rows {
        payments.push(PaymentMoney {
            status: PaymentStatus::from(r.try_get::<_, &str>(0)?),
            amount: amount_opt(r, 1)?,
            asked: amount_opt(r, 2)?,
            created_at: ts_opt(r, 3)?,
        });
    }
    let moves = held_moves(tx, job).await?;
    Ok(StoredMoney::of(&status, job_paid, &payments, &moves))
}

/// Writes the order's money onto its row, where every list reads it.
pub(super) async fn refresh(tx: &Tx<'_>, job: &JobRef) -> Result<(), Fail> {
    let m = stored_money(tx, job.as_str()).await?;
    tx.execute(
        "UPDATE payment_jobs SET paid_total = $2, refunded_total = $3,
             refund_pending_total = $4, capture_by = $5
         WHERE job_ref = $1",
        &[
            &job.as_str(),
            &m.totals.paid.decimal(),
            &m.totals.refunded.decimal(),
            &m.totals.refund_pending.decimal(),
            &m.capture_by.map(at),
        ],
    )
    .await?;
    Ok(())
}

/// Records an owner's request before it is sent, if the core's check allows it (the
/// caller writes its audit entry). The
/// order's lock makes a second machine's request wait, then see this one's.
pub(super) async fn record_request(tx: &Tx<'_>, req: &MoneyRequest) -> Result<(), Fail> {
    tx.lock_order(&req.job_ref).await?;
    let job = req.job_ref.as_str();
    let payment = tx
        .query_opt(
            "SELECT 1 FROM payments WHERE job_ref = $1 AND payment_ref = $2",
            &[&job, &req.payment_ref.as_str()],
        )
        .await?;
    if payment.is_none() {
        return Err(Fail::not_found(format!("{job} / {}", req.payment_ref)));
    }
    let number_used = tx
        .query_opt(
            "SELECT 1 FROM money_moves WHERE job_ref = $1 AND refund_number = $2",
            &[&job, &req.number],
        )
        .await?
        .is_some();
    req.check(&stored_money(tx, job).await?.totals, number_used)
        .map_err(|r| Fail::from(StoreError::Money(r)))?;
    insert(
        tx,
        &req.job_ref,
        &req.pending_move(),
        req.by.as_deref(),
        req.source(),
        super::now(),
    )
    .await?;
    refresh(tx, &req.job_ref).await
}

/// The order's moves as its detail shows them, oldest first.
pub(super) async fn views(tx: &Tx<'_>, job: &str) -> Result<Vec<MoneyMoveView>, Fail> {
    let rows = tx
        .query(
            "SELECT payment_ref, kind, reference, refund_number, amount, status, created_at,
                    by_whom, failure, source
             FROM money_moves WHERE job_ref = $1 ORDER BY id",
            &[&job],
        )
        .await?;
    let mut out = Vec::new();
    for r in &rows {
        let payment: &str = r.try_get(0)?;
        let kind: &str = r.try_get(1)?;
        let status: &str = r.try_get(5)?;
        let source: &str = r.try_get(9)?;
        out.push(MoneyMoveView {
            kind: MoveKind::parse(kind)
                .ok_or_else(|| Fail::corrupt(format!("move kind '{kind}'")))?,
            payment_reference: PaymentRef::parse(payment)
                .map_err(|_| Fail::corrupt(format!("payment '{payment}'")))?,
            reference: r.try_get(2)?,
            refund_number: r.try_get(3)?,
            amount: amount_opt(r, 4)?.unwrap_or(Amount::ZERO),
            status: MoveStatus::parse(status)
                .ok_or_else(|| Fail::corrupt(format!("move status '{status}'")))?,
            created_at: ts_opt(r, 6)?,
            by: r.try_get(7)?,
            failure: r.try_get(8)?,
            source: ChangeSource::parse(source)
                .ok_or_else(|| Fail::corrupt(format!("source '{source}'")))?,
        });
    }
    Ok(out)
}
