//! Captures and refunds: the moves a confirmation learns from each payment's answer, and
//! the owner's requests recorded before they are sent. The decisions are the core's
//! (`plan_moves`, `MoneyRequest::check`); this module reads and writes the rows.

use rusqlite::{params, Connection, OptionalExtension};

use super::{parse_col, DbError};
use tillwatch_core::domain::{
    Amount, ChangeSource, JobRef, MoneyMove, MoneyMoveView, MoveKind, MoveStatus, PaymentRef,
    PaymentStatus, Timestamp,
};
use tillwatch_core::store::{
    plan_moves, HeldMove, MoneyChange, MoneyRequest, MoveWrite, PaymentMoney, StoredMoney,
};

fn corrupt(what: &str, value: &str) -> DbError {
    DbError::Corrupt(format!("{what} '{value}'"))
}

fn held_moves(conn: &Connection, job: &str) -> Result<Vec<HeldMove>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, payment_ref, kind, reference, refund_number, amount, status, created_at,
                failure
         FROM money_moves WHERE job_ref = ?1 ORDER BY id",
    )?;
    type Columns = (
        i64,
        String,
        String,
        Option<String>,
        Option<String>,
        String,
        String,
        Option<String>,
        Option<String>,
    );
    let rows = stmt.query_map([job], |r| -> rusqlite::Result<Columns> {
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
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, payment, kind, reference, number, amount, status, created, failure) = row?;
        out.push(HeldMove {
            id,
            payment_ref: PaymentRef::parse(&payment).map_err(|_| corrupt("payment", &payment))?,
            kind: MoveKind::parse(&kind).ok_or_else(|| corrupt("move kind", &kind))?,
            reference,
            number,
            amount: amount.parse().map_err(|_| corrupt("amount", &amount))?,
            status: MoveStatus::parse(&status).ok_or_else(|| corrupt("move status", &status))?,
            created_at: parse_col(created, Timestamp::parse)?,
            failure,
        });
    }
    Ok(out)
}

/// Writes the moves of an answer's payments as the core's plan says; what is new or
/// changed status.
pub(super) fn apply_moves(
    conn: &Connection,
    job: &JobRef,
    moves: &[MoneyMove],
    source: ChangeSource,
    now: &str,
) -> Result<Vec<MoneyChange>, DbError> {
    if moves.is_empty() {
        return Ok(Vec::new());
    }
    let (writes, changes) = plan_moves(&held_moves(conn, job.as_str())?, moves);
    for w in writes {
        match w {
            MoveWrite::Insert(m) => insert(conn, job, &m, None, source, now)?,
            MoveWrite::Update { id, now: m } => {
                super::exec(
                    conn,
                    "UPDATE money_moves SET reference = ?2, refund_number = ?3, amount = ?4,
                         status = ?5, created_at = coalesce(?6, created_at),
                         failure = coalesce(?7, failure), updated_at = ?8
                     WHERE id = ?1",
                    params![
                        id,
                        m.reference,
                        m.number,
                        m.amount.to_string(),
                        m.status.as_str(),
                        m.created_at.map(|t| t.to_string()),
                        m.failure,
                        now,
                    ],
                )?;
            }
        }
    }
    Ok(changes)
}

fn insert(
    conn: &Connection,
    job: &JobRef,
    m: &MoneyMove,
    by: Option<&str>,
    source: ChangeSource,
    now: &str,
) -> Result<(), DbError> {
    super::exec(
        conn,
        "INSERT INTO money_moves (job_ref, payment_ref, kind, reference, refund_number, amount,
             status, created_at, failure, by, source, first_seen_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12)",
        params![
            job.as_str(),
            m.payment_ref.as_str(),
            m.kind.as_str(),
            m.reference,
            m.number,
            m.amount.to_string(),
            m.status.as_str(),
            m.created_at.map(|t| t.to_string()),
            m.failure,
            by,
            source.as_str(),
            now,
        ],
    )?;
    Ok(())
}

/// The order's money from its rows, as the core adds it up.
fn stored_money(conn: &Connection, job: &str) -> Result<StoredMoney, DbError> {
    let (status, job_paid): (String, Option<String>) = conn.query_row(
        "SELECT status, coalesce(paid_amount, amount) FROM payment_jobs WHERE job_ref = ?1",
        [job],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let mut stmt = conn.prepare_cached(
        "SELECT status, paid_amount, amount, gateway_created_at
         FROM payments WHERE job_ref = ?1",
    )?;
    let mut payments = Vec::new();
    type Columns = (String, Option<String>, Option<String>, Option<String>);
    for row in stmt.query_map([job], |r| -> rusqlite::Result<Columns> {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
    })? {
        let (status, paid, asked, created) = row?;
        payments.push(PaymentMoney {
            status: PaymentStatus::from(status.as_str()),
            amount: parse_col(paid, str::parse::<Amount>)?,
            asked: parse_col(asked, str::parse::<Amount>)?,
            created_at: parse_col(created, Timestamp::parse)?,
        });
    }
    Ok(StoredMoney::of(
        &PaymentStatus::from(status.as_str()),
        parse_col(job_paid, str::parse::<Amount>)?,
        &payments,
        &held_moves(conn, job)?,
    ))
}

/// Writes the order's money onto its row, where every list reads it.
pub(super) fn refresh(conn: &Connection, job: &JobRef) -> Result<(), DbError> {
    let m = stored_money(conn, job.as_str())?;
    super::exec(
        conn,
        "UPDATE payment_jobs SET paid_total = ?2, refunded_total = ?3,
             refund_pending_total = ?4, capture_by = ?5
         WHERE job_ref = ?1",
        params![
            job.as_str(),
            m.totals.paid.to_string(),
            m.totals.refunded.to_string(),
            m.totals.refund_pending.to_string(),
            m.capture_by.map(|t| t.to_string()),
        ],
    )?;
    Ok(())
}

/// Records an owner's request before it is sent, if the core's check allows it (the
/// caller writes its audit entry).
pub(super) fn record_request(conn: &Connection, req: &MoneyRequest) -> Result<(), DbError> {
    let job = req.job_ref.as_str();
    let payment_known = conn
        .query_row(
            "SELECT 1 FROM payments WHERE job_ref = ?1 AND payment_ref = ?2",
            params![job, req.payment_ref.as_str()],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    if !payment_known {
        return Err(DbError::NotFound(format!("{job} / {}", req.payment_ref)));
    }
    let number_used = conn
        .query_row(
            "SELECT 1 FROM money_moves WHERE job_ref = ?1 AND refund_number = ?2",
            params![job, req.number],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    req.check(&stored_money(conn, job)?.totals, number_used)
        .map_err(DbError::Money)?;
    let now = Timestamp::now().to_string();
    insert(
        conn,
        &req.job_ref,
        &req.pending_move(),
        req.by.as_deref(),
        req.source(),
        &now,
    )?;
    refresh(conn, &req.job_ref)
}

/// The order's moves as its detail shows them, oldest first.
pub(super) fn views(conn: &Connection, job: &str) -> Result<Vec<MoneyMoveView>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT payment_ref, kind, reference, refund_number, amount, status, created_at,
                by, failure, source
         FROM money_moves WHERE job_ref = ?1 ORDER BY id",
    )?;
    type Columns = (
        String,
        String,
        Option<String>,
        Option<String>,
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        String,
    );
    let rows = stmt.query_map([job], |r| -> rusqlite::Result<Columns> {
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
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (payment, kind, reference, number, amount, status, created, by, failure, source) = row?;
        out.push(MoneyMoveView {
            kind: MoveKind::parse(&kind).ok_or_else(|| corrupt("move kind", &kind))?,
            payment_reference: PaymentRef::parse(&payment)
                .map_err(|_| corrupt("payment", &payment))?,
            reference,
            refund_number: number,
            amount: amount.parse().map_err(|_| corrupt("amount", &amount))?,
            status: MoveStatus::parse(&status).ok_or_else(|| corrupt("move status", &status))?,
            created_at: parse_col(created, Timestamp::parse)?,
            by,
            failure,
            source: ChangeSource::parse(&source).ok_or_else(|| corrupt("source", &source))?,
        });
    }
    Ok(out)
}
