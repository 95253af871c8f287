//! The references index (the SQLite store's `refs`): every reference an owner may type
//! (job, payment, order number, e-mail) to the job it names, written in the order's own
//! transaction, so a lookup is one seek (exact), one range (prefix), or one range over the
//! references written backwards (`ref_tails`: the last digits). Both tables are
//! COLLATE "C", so a range is "starts with", bytewise.

use super::{Fail, Tx};

pub use tillwatch_core::store::amount_minor;
use tillwatch_core::store::{
    after_prefix, email_key, reversed, MatchHow, RefKind, RefMatch, MIN_PARTIAL,
};

fn kind_code(kind: RefKind) -> i16 {
    match kind {
        RefKind::Job => 1,
        RefKind::Payment => 2,
        RefKind::OrderNumber => 3,
        RefKind::Email => 4,
    }
}

fn kind_from_code(code: i16) -> Result<RefKind, Fail> {
    Ok(match code {
        1 => RefKind::Job,
        2 => RefKind::Payment,
        3 => RefKind::OrderNumber,
        4 => RefKind::Email,
        other => return Err(Fail::corrupt(format!("reference kind {other}"))),
    })
}

/// Exact matches read at most (an e-mail may name many orders).
const MAX_EXACT: i64 = 1000;

async fn insert(tx: &Tx<'_>, job: &str, kind: RefKind, reference: &str) -> Result<(), Fail> {
    if reference.is_empty() {
        return Ok(());
    }
    tx.execute(
        "INSERT INTO refs (ref, job_ref, kind) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        &[&reference, &job, &kind_code(kind)],
    )
    .await?;
    // E-mail addresses are looked up by their start; their last characters name no order.
    if kind != RefKind::Email {
        tx.execute(
            "INSERT INTO ref_tails (rev, job_ref, kind) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
            &[&reversed(reference), &job, &kind_code(kind)],
        )
        .await?;
    }
    Ok(())
}

async fn remove(tx: &Tx<'_>, job: &str, kind: RefKind, reference: &str) -> Result<(), Fail> {
    tx.execute(
        "DELETE FROM refs WHERE ref = $1 AND job_ref = $2 AND kind = $3",
        &[&reference, &job, &kind_code(kind)],
    )
    .await?;
    tx.execute(
        "DELETE FROM ref_tails WHERE rev = $1 AND job_ref = $2 AND kind = $3",
        &[&reversed(reference), &job, &kind_code(kind)],
    )
    .await?;
    Ok(())
}

/// A job's own references as stored on its row (order number and e-mail may change).
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct JobNames {
    pub order_number: Option<String>,
    pub email: Option<String>,
}

impl JobNames {
    async fn read(tx: &Tx<'_>, job: &str) -> Result<Option<Self>, Fail> {
        let row = tx
            .query_opt(
                "SELECT order_number, email FROM payment_jobs WHERE job_ref = $1",
                &[&job],
            )
            .await?;
        row.map(|r| {
            Ok(Self {
                order_number: r.try_get(0)?,
                email: r.try_get(1)?,
            })
        })
        .transpose()
    }
}

/// Indexes a job's references after its row was written; `before` is what the row named
/// before this write (`None` for a new job), so a changed order number or e-mail stops
/// finding it.
pub(super) async fn index_job(
    tx: &Tx<'_>,
    job: &str,
    before: Option<&JobNames>,
) -> Result<(), Fail> {
    let now = JobNames::read(tx, job).await?.unwrap_or_default();
    if let Some(before) = before {
        if before == &now {
            return Ok(());
        }
        if let Some(o) = before.order_number.as_deref() {
            if now.order_number.as_deref() != Some(o) {
                remove(tx, job, RefKind::OrderNumber, o).await?;
            }
        }
        if let Some(e) = before.email.as_deref() {
            if now.email.as_deref().map(email_key) != Some(email_key(e)) {
                remove(tx, job, RefKind::Email, &email_key(e)).await?;
            }
        }
    } else {
        insert(tx, job, RefKind::Job, job).await?;
    }
    if let Some(o) = now.order_number.as_deref() {
        insert(tx, job, RefKind::OrderNumber, o).await?;
    }
    if let Some(e) = now.email.as_deref() {
        insert(tx, job, RefKind::Email, &email_key(e)).await?;
    }
    Ok(())
}

/// Indexes a payment (a shopper attempt) of a job; repeating it is harmless.
pub(super) async fn index_payment(tx: &Tx<'_>, job: &str, payment: &str) -> Result<(), Fail> {
    insert(tx, job, RefKind::Payment, payment).await
}

async fn read_matches(
    tx: &Tx<'_>,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    how: MatchHow,
    out: &mut Vec<RefMatch>,
) -> Result<(), Fail> {
    for row in tx.query(sql, params).await? {
        let reference: String = row.try_get(0)?;
        let reference = if how == MatchHow::Suffix {
            reversed(&reference)
        } else {
            reference
        };
        out.push(RefMatch {
            job_ref: row.try_get(1)?,
            kind: kind_from_code(row.try_get(2)?)?,
            how,
            reference,
        });
    }
    Ok(())
}

/// References that are exactly `query` (e-mail in any case). `with_email`: false for the
/// owner's actions, where one address names many orders.
pub(super) async fn exact(
    tx: &Tx<'_>,
    query: &str,
    with_email: bool,
) -> Result<Vec<RefMatch>, Fail> {
    let mut out = Vec::new();
    read_matches(
        tx,
        "SELECT ref, job_ref, kind FROM refs WHERE ref = $1 AND kind <> 4 LIMIT $2",
        &[&query, &MAX_EXACT],
        MatchHow::Exact,
        &mut out,
    )
    .await?;
    if with_email {
        read_matches(
            tx,
            "SELECT ref, job_ref, kind FROM refs WHERE ref = $1 AND kind = 4 LIMIT $2",
            &[&email_key(query), &MAX_EXACT],
            MatchHow::Exact,
            &mut out,
        )
        .await?;
    }
    Ok(out)
}

/// References that start with `query` (at least `min_len` characters), at most `limit` of
/// each spelling, the last in reference order first (the newest). One index range.
pub(super) async fn starting_with(
    tx: &Tx<'_>,
    query: &str,
    min_len: usize,
    limit: u32,
) -> Result<Vec<RefMatch>, Fail> {
    let mut out = Vec::new();
    if query.chars().count() < min_len.max(1) {
        return Ok(out);
    }
    let limit = i64::from(limit);
    read_matches(
        tx,
        "SELECT ref, job_ref, kind FROM refs WHERE ref >= $1 AND ref < $2
         ORDER BY ref DESC, job_ref DESC LIMIT $3",
        &[&query, &after_prefix(query), &limit],
        MatchHow::Prefix,
        &mut out,
    )
    .await?;
    let folded = email_key(query);
    if folded != query {
        read_matches(
            tx,
            "SELECT ref, job_ref, kind FROM refs WHERE ref >= $1 AND ref < $2
             AND kind = 4 ORDER BY ref DESC, job_ref DESC LIMIT $3",
            &[&folded, &after_prefix(&folded), &limit],
            MatchHow::Prefix,
            &mut out,
        )
        .await?;
    }
    Ok(out)
}

/// References that end with `query` (at least `MIN_PARTIAL` characters), at most `limit`.
pub(super) async fn ending_with(
    tx: &Tx<'_>,
    query: &str,
    limit: u32,
) -> Result<Vec<RefMatch>, Fail> {
    let mut out = Vec::new();
    if query.chars().count() < MIN_PARTIAL {
        return Ok(out);
    }
    let rev = reversed(query);
    read_matches(
        tx,
        "SELECT rev, job_ref, kind FROM ref_tails WHERE rev >= $1 AND rev < $2
         ORDER BY rev DESC, job_ref DESC LIMIT $3",
        &[&rev, &after_prefix(&rev), &i64::from(limit)],
        MatchHow::Suffix,
        &mut out,
    )
    .await?;
    Ok(out)
}
