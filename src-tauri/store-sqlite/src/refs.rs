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

use tillwatch_core::store::{
    after_prefix, email_key, prefix_spellings, reversed, suffix_key, IndexChanges, MatchHow,
    RefKind, RefMatch, MAX_EXACT,
};
pub use tillwatch_core::store::{amount_minor, JobNames};

fn insert(conn: &Connection, job: &str, kind: RefKind, reference: &str) -> Result<(), DbError> {
    if reference.is_empty() {
        return Ok(());
    }
    super::exec(
        conn,
        "INSERT OR IGNORE INTO refs (ref, job_ref, kind) VALUES (?1, ?2, ?3)",
        params![reference, job, kind.code()],
    )?;
    if kind.has_tail() {
        super::exec(
            conn,
            "INSERT OR IGNORE INTO ref_tails (rev, job_ref, kind) VALUES (?1, ?2, ?3)",
            params![reversed(reference), job, kind.code()],
        )?;
    }
    Ok(())
}

fn remove(conn: &Connection, job: &str, kind: RefKind, reference: &str) -> Result<(), DbError> {
    super::exec(
        conn,
        "DELETE FROM refs WHERE ref = ?1 AND job_ref = ?2 AND kind = ?3",
        params![reference, job, kind.code()],
    )?;
    super::exec(
        conn,
        "DELETE FROM ref_tails WHERE rev = ?1 AND job_ref = ?2 AND kind = ?3",
        params![reversed(reference), job, kind.code()],
    )?;
    Ok(())
}

/// What the row of `job` names now.
fn job_names(conn: &Connection, job: &str) -> Result<Option<JobNames>, DbError> {
    use rusqlite::OptionalExtension;
    Ok(conn
        .prepare_cached("SELECT order_number, email FROM payment_jobs WHERE job_ref = ?1")?
        .query_row([job], |r| {
            Ok(JobNames {
                order_number: r.get(0)?,
                email: r.get(1)?,
            })
        })
        .optional()?)
}

/// Indexes a job's references after its row was written (`IndexChanges`); `before` is
/// what the row named before this write (`None` for a new job).
pub fn index_job(conn: &Connection, job: &str, before: Option<&JobNames>) -> Result<(), DbError> {
    let now = job_names(conn, job)?.unwrap_or_default();
    let changes = IndexChanges::of(job, before, &now);
    for (kind, reference) in &changes.remove {
        remove(conn, job, *kind, reference)?;
    }
    for (kind, reference) in &changes.insert {
        insert(conn, job, *kind, reference)?;
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
        out.push(RefMatch::read(reference, job_ref, kind, how).map_err(DbError::Corrupt)?);
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
    for (spelling, emails_only) in prefix_spellings(query, min_len) {
        let sql = if emails_only {
            "SELECT ref, job_ref, kind FROM refs WHERE ref >= ?1 AND ref < ?2
             AND kind = 4 ORDER BY ref DESC, job_ref DESC LIMIT ?3"
        } else {
            "SELECT ref, job_ref, kind FROM refs WHERE ref >= ?1 AND ref < ?2
             ORDER BY ref DESC, job_ref DESC LIMIT ?3"
        };
        let end = after_prefix(&spelling);
        read_matches(
            conn,
            sql,
            params![spelling, end, limit],
            MatchHow::Prefix,
            &mut out,
        )?;
    }
    Ok(out)
}

/// References that end with `query` (at least `MIN_PARTIAL` characters), at most `limit`.
pub fn ending_with(conn: &Connection, query: &str, limit: u32) -> Result<Vec<RefMatch>, DbError> {
    let mut out = Vec::new();
    if let Some(rev) = suffix_key(query) {
        let sql = "SELECT rev, job_ref, kind FROM ref_tails WHERE rev >= ?1 AND rev < ?2
                   ORDER BY rev DESC, job_ref DESC LIMIT ?3";
        let end = after_prefix(&rev);
        read_matches(
            conn,
            sql,
            params![rev, end, limit],
            MatchHow::Suffix,
            &mut out,
        )?;
    }
    Ok(out)
}
