//! The references index (the SQLite store's `refs`): every reference an owner may type
//! (job, payment, order number, e-mail) to the job it names, written in the order's own
//! transaction, so a lookup is one seek (exact), one range (prefix), or one range over the
//! references written backwards (`ref_tails`: the last digits). Both tables are
//! COLLATE "C", so a range is "starts with", bytewise.

use tokio_postgres::types::ToSql;

use super::{Fail, Tx};

use tillwatch_core::store::{
    after_prefix, email_key, prefix_spellings, reversed, suffix_key, IndexChanges, MatchHow,
    RefKind, RefMatch, MAX_EXACT,
};
pub use tillwatch_core::store::{amount_minor, JobNames};

/// Exact matches read at most, as a parameter.
const EXACT_LIMIT: i64 = MAX_EXACT as i64;

async fn add_ref(tx: &Tx<'_>, job: &str, kind: RefKind, reference: &str) -> Result<(), Fail> {
    if reference.is_empty() {
        return Ok(());
    }
    tx.execute(
        "INSERT INTO refs (ref, job_ref, kind) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        &[&reference, &job, &kind.code()],
    )
    .await?;
    if kind.has_tail() {
        tx.execute(
            "INSERT INTO ref_tails (rev, job_ref, kind) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
            &[&reversed(reference), &job, &kind.code()],
        )
        .await?;
    }
    Ok(())
}

async fn drop_ref(tx: &Tx<'_>, job: &str, kind: RefKind, reference: &str) -> Result<(), Fail> {
    tx.execute(
        "DELETE FROM refs WHERE ref = $1 AND job_ref = $2 AND kind = $3",
        &[&reference, &job, &kind.code()],
    )
    .await?;
    tx.execute(
        "DELETE FROM ref_tails WHERE rev = $1 AND job_ref = $2 AND kind = $3",
        &[&reversed(reference), &job, &kind.code()],
    )
    .await?;
    Ok(())
}

/// What the row of `job` names now.
async fn job_names(tx: &Tx<'_>, job: &str) -> Result<Option<JobNames>, Fail> {
    let sql = "SELECT order_number, email FROM payment_jobs WHERE job_ref = $1";
    let Some(row) = tx.query_opt(sql, &[&job]).await? else {
        return Ok(None);
    };
    Ok(Some(JobNames {
        order_number: row.try_get(0)?,
        email: row.try_get(1)?,
    }))
}

/// Indexes a job's references after its row was written (`IndexChanges`); `before` is
/// what the row named before this write (`None` for a new job).
pub(super) async fn index_job(
    tx: &Tx<'_>,
    job: &str,
    before: Option<&JobNames>,
) -> Result<(), Fail> {
    let now = job_names(tx, job).await?.unwrap_or_default();
    let IndexChanges { remove, insert } = IndexChanges::of(job, before, &now);
    for (kind, reference) in remove {
        drop_ref(tx, job, kind, &reference).await?;
    }
    for (kind, reference) in insert {
        add_ref(tx, job, kind, &reference).await?;
    }
    Ok(())
}

/// Indexes a payment (a shopper attempt) of a job; repeating it is harmless.
pub(super) async fn index_payment(tx: &Tx<'_>, job: &str, payment: &str) -> Result<(), Fail> {
    add_ref(tx, job, RefKind::Payment, payment).await
}

async fn read_matches(
    tx: &Tx<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    how: MatchHow,
    out: &mut Vec<RefMatch>,
) -> Result<(), Fail> {
    for row in tx.query(sql, params).await? {
        let kind: i16 = row.try_get(2)?;
        let found = RefMatch::read(row.try_get(0)?, row.try_get(1)?, i64::from(kind), how);
        out.push(found.map_err(Fail::corrupt)?);
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
        &[&query, &EXACT_LIMIT],
        MatchHow::Exact,
        &mut out,
    )
    .await?;
    if with_email {
        read_matches(
            tx,
            "SELECT ref, job_ref, kind FROM refs WHERE ref = $1 AND kind = 4 LIMIT $2",
            &[&email_key(query), &EXACT_LIMIT],
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
    let limit = i64::from(limit);
    for (spelling, emails_only) in prefix_spellings(query, min_len) {
        let sql = if emails_only {
            "SELECT ref, job_ref, kind FROM refs WHERE ref >= $1 AND ref < $2
             AND kind = 4 ORDER BY ref DESC, job_ref DESC LIMIT $3"
        } else {
            "SELECT ref, job_ref, kind FROM refs WHERE ref >= $1 AND ref < $2
             ORDER BY ref DESC, job_ref DESC LIMIT $3"
        };
        let params: [&(dyn ToSql + Sync); 3] = [&spelling, &after_prefix(&spelling), &limit];
        read_matches(tx, sql, &params, MatchHow::Prefix, &mut out).await?;
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
    let Some(rev) = suffix_key(query) else {
        return Ok(out);
    };
    let sql = "SELECT rev, job_ref, kind FROM ref_tails WHERE rev >= $1 AND rev < $2
               ORDER BY rev DESC, job_ref DESC LIMIT $3";
    let params: [&(dyn ToSql + Sync); 3] = [&rev, &after_prefix(&rev), &i64::from(limit)];
    read_matches(tx, sql, &params, MatchHow::Suffix, &mut out).await?;
    Ok(out)
}
