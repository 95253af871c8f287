//! The references index: every reference an owner may type (job, payment, order number,
//! e-mail) to the job it names, written by the writer in the same transaction as the order,
//! so a lookup is one seek (exact), one range (prefix), or one range over the references
//! written backwards (the last digits), whatever the size of the history.
//!
//! The last digits: a backwards copy (`ref_tails`) was measured against FTS5 trigram; with
//! references made of digits only there are just 1,000 trigrams, each naming a large share
//! of all orders, so a trigram query intersects long lists while the backwards prefix is a
//! single range (figures in `benches/orders.rs`).

use rusqlite::{params, Connection, Transaction};

use super::DbError;
use tillwatch_core::domain::{Amount, Currency};

pub use tillwatch_core::store::amount_minor;
use tillwatch_core::store::{
    after_prefix, email_key, reversed, MatchHow, RefKind, RefMatch, MIN_PARTIAL,
};

/// How a reference kind is stored (`refs.kind`).
fn kind_code(kind: RefKind) -> i64 {
    match kind {
        RefKind::Job => 1,
        RefKind::Payment => 2,
        RefKind::OrderNumber => 3,
        RefKind::Email => 4,
    }
}

fn kind_from_code(code: i64) -> Result<RefKind, DbError> {
    Ok(match code {
        1 => RefKind::Job,
        2 => RefKind::Payment,
        3 => RefKind::OrderNumber,
        4 => RefKind::Email,
        other => return Err(DbError::Corrupt(format!("reference kind {other}"))),
    })
}

/// Exact matches read at most (an e-mail may name many orders; the newest are kept).
const MAX_EXACT: u32 = 1000;

fn insert(conn: &Connection, job: &str, kind: RefKind, reference: &str) -> Result<(), DbError> {
    if reference.is_empty() {
        return Ok(());
    }
    super::exec(
        conn,
        "INSERT OR IGNORE INTO refs (ref, job_ref, kind) VALUES (?1, ?2, ?3)",
        params![reference, job, kind_code(kind)],
    )?;
    // E-mail addresses are looked up by their start; their last characters name no order.
    if kind != RefKind::Email {
        super::exec(
            conn,
            "INSERT OR IGNORE INTO ref_tails (rev, job_ref, kind) VALUES (?1, ?2, ?3)",
            params![reversed(reference), job, kind_code(kind)],
        )?;
    }
    Ok(())
}

fn remove(conn: &Connection, job: &str, kind: RefKind, reference: &str) -> Result<(), DbError> {
    super::exec(
        conn,
        "DELETE FROM refs WHERE ref = ?1 AND job_ref = ?2 AND kind = ?3",
        params![reference, job, kind_code(kind)],
    )?;
    super::exec(
        conn,
        "DELETE FROM ref_tails WHERE rev = ?1 AND job_ref = ?2 AND kind = ?3",
        params![reversed(reference), job, kind_code(kind)],
    )?;
    Ok(())
}

/// A job's own references as stored on its row (order number and e-mail may change).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobNames {
    pub order_number: Option<String>,
    pub email: Option<String>,
}

impl JobNames {
    pub fn read(conn: &Connection, job: &str) -> Result<Option<Self>, DbError> {
        use rusqlite::OptionalExtension;
        Ok(conn
            .prepare_cached("SELECT order_number, email FROM payment_jobs WHERE job_ref = ?1")?
            .query_row([job], |r| {
                Ok(Self {
                    order_number: r.get(0)?,
                    email: r.get(1)?,
                })
            })
            .optional()?)
    }
}

/// Indexes a job's references after its row was written; `before` is what the row named
/// before this write (`None` for a new job), so a changed order number or e-mail stops
/// finding it.
pub fn index_job(conn: &Connection, job: &str, before: Option<&JobNames>) -> Result<(), DbError> {
    let now = JobNames::read(conn, job)?.unwrap_or_default();
    if let Some(before) = before {
        if before == &now {
            return Ok(());
        }
        if let Some(o) = before.order_number.as_deref() {
            if now.order_number.as_deref() != Some(o) {
                remove(conn, job, RefKind::OrderNumber, o)?;
            }
        }
        if let Some(e) = before.email.as_deref() {
            if now.email.as_deref().map(email_key) != Some(email_key(e)) {
                remove(conn, job, RefKind::Email, &email_key(e))?;
            }
        }
    } else {
        insert(conn, job, RefKind::Job, job)?;
    }
    if let Some(o) = now.order_number.as_deref() {
        insert(conn, job, RefKind::OrderNumber, o)?;
    }
    if let Some(e) = now.email.as_deref() {
        insert(conn, job, RefKind::Email, &email_key(e))?;
    }
    Ok(())
}

/// Indexes a payment (a shopper attempt) of a job; repeating it is harmless.
pub fn index_payment(conn: &Connection, job: &str, payment: &str) -> Result<(), DbError> {
    insert(conn, job, RefKind::Payment, payment)
}

/// Migration 0003's Rust step: minor-unit amounts and the references index for every
/// order already stored.
pub fn backfill(tx: &Transaction<'_>) -> Result<(), DbError> {
    let mut jobs = tx.prepare("SELECT job_ref, amount, currency FROM payment_jobs")?;
    let rows = jobs.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, Option<String>>(1)?,
            r.get::<_, Option<String>>(2)?,
        ))
    })?;
    for row in rows {
        let (job, amount, currency) = row?;
        // A value that does not parse keeps no minor amount: it sorts first, as it did not
        // exist, and the row itself is kept as it was.
        let amount = amount.and_then(|a| a.parse::<Amount>().ok());
        let currency = currency.and_then(|c| Currency::parse(&c).ok());
        if let Some(minor) = amount_minor(amount, currency.as_ref()) {
            super::exec(
                tx,
                "UPDATE payment_jobs SET amount_minor = ?2 WHERE job_ref = ?1",
                params![job, minor],
            )?;
        }
        index_job(tx, &job, None)?;
    }
    let mut payments = tx.prepare("SELECT job_ref, payment_ref FROM payments")?;
    let rows = payments.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    for row in rows {
        let (job, payment) = row?;
        index_payment(tx, &job, &payment)?;
    }
    Ok(())
}

fn read_matches(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    how: MatchHow,
    out: &mut Vec<RefMatch>,
) -> Result<(), DbError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })?;
    for row in rows {
        let (reference, job_ref, kind) = row?;
        let reference = if how == MatchHow::Suffix {
            reversed(&reference)
        } else {
            reference
        };
        out.push(RefMatch {
            job_ref,
            kind: kind_from_code(kind)?,
            how,
            reference,
        });
    }
    Ok(())
}

/// References that are exactly `query` (e-mail in any case). `with_email`: false for the
/// owner's actions, where one address names many orders.
pub fn exact(conn: &Connection, query: &str, with_email: bool) -> Result<Vec<RefMatch>, DbError> {
    let mut out = Vec::new();
    read_matches(
        conn,
        "SELECT ref, job_ref, kind FROM refs WHERE ref = ?1 AND kind <> 4 LIMIT ?2",
        params![query, MAX_EXACT],
        MatchHow::Exact,
        &mut out,
    )?;
    if with_email {
        read_matches(
            conn,
            "SELECT ref, job_ref, kind FROM refs WHERE ref = ?1 AND kind = 4 LIMIT ?2",
            params![email_key(query), MAX_EXACT],
            MatchHow::Exact,
            &mut out,
        )?;
    }
    Ok(out)
}

/// References that start with `query` (at least `min_len` characters), at most `limit` of
/// each spelling, the last in reference order first (gateway references grow with time,
/// so these are the newest). One range of the index, however short the prefix.
pub fn starting_with(
    conn: &Connection,
    query: &str,
    min_len: usize,
    limit: u32,
) -> Result<Vec<RefMatch>, DbError> {
    let mut out = Vec::new();
    if query.chars().count() < min_len.max(1) {
        return Ok(out);
    }
    let sql = "SELECT ref, job_ref, kind FROM refs WHERE ref >= ?1 AND ref < ?2
               ORDER BY ref DESC, job_ref DESC LIMIT ?3";
    read_matches(
        conn,
        sql,
        params![query, after_prefix(query), limit],
        MatchHow::Prefix,
        &mut out,
    )?;
    let folded = email_key(query);
    if folded != query {
        let sql = "SELECT ref, job_ref, kind FROM refs WHERE ref >= ?1 AND ref < ?2
                   AND kind = 4 ORDER BY ref DESC, job_ref DESC LIMIT ?3";
        read_matches(
            conn,
            sql,
            params![folded, after_prefix(&folded), limit],
            MatchHow::Prefix,
            &mut out,
        )?;
    }
    Ok(out)
}

/// References that end with `query` (at least `MIN_PARTIAL` characters), at most `limit`.
pub fn ending_with(conn: &Connection, query: &str, limit: u32) -> Result<Vec<RefMatch>, DbError> {
    let mut out = Vec::new();
    if query.chars().count() < MIN_PARTIAL {
        return Ok(out);
    }
    let rev = reversed(query);
    read_matches(
        conn,
        "SELECT rev, job_ref, kind FROM ref_tails WHERE rev >= ?1 AND rev < ?2
         ORDER BY rev DESC, job_ref DESC LIMIT ?3",
        params![rev, after_prefix(&rev), limit],
        MatchHow::Suffix,
        &mut out,
    )?;
    Ok(out)
}
