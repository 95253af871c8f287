//! Reading orders, looking them up, and the owner's shipping actions.

use rusqlite::{params, Connection, OptionalExtension};

use super::pages;
use super::refs;
use super::summaries::{self, summary};
use super::{parse_col, DbError, SqliteStore};
use tillwatch_core::domain::{
    Amount, Attempt, AuditView, ChangeSource, Currency, DeliveryState, DeliveryView, JobRef,
    OrderDetail, OrderSummary, PaymentRef, PaymentStatus, StatusEventView, Timestamp,
};
use tillwatch_core::store::Orders;
use tillwatch_core::store::{
    found_orders, not_shipped, range_len, unship_audit, wants_more, AuditEntry, DetailRows, Found,
    OrderFilter, OrdersSlice, Ranking, RefMatch, ShipRequest, StoreError,
};

/// Exact matches, then (if fewer than `limit`) prefixes of `min_prefix` characters or
/// more, then suffixes.
fn find(conn: &Connection, q: &str, min_prefix: usize, limit: u32) -> Result<Vec<Found>, DbError> {
    if q.is_empty() || limit == 0 {
        return Ok(Vec::new());
    }
    let mut matches = refs::exact(conn, q, true)?;
    if wants_more(&matches, limit) {
        matches.extend(refs::starting_with(conn, q, min_prefix, range_len(limit))?);
    }
    if wants_more(&matches, limit) {
        matches.extend(refs::ending_with(conn, q, range_len(limit))?);
    }
    rank(conn, matches, limit)
}

/// The matches ranked (`Ranking`), reading the ages and summaries it asks for.
fn rank(conn: &Connection, matches: Vec<RefMatch>, limit: u32) -> Result<Vec<Found>, DbError> {
    let mut ranking = Ranking::new(matches, limit);
    while let Some(mut class) = ranking.next_class() {
        let mut ages = Vec::new();
        for m in class.to_age() {
            let at: Option<String> = conn
                .prepare_cached("SELECT first_seen_at FROM payment_jobs WHERE job_ref = ?1")?
                .query_row([m.job_ref.as_str()], |r| r.get(0))
                .optional()?;
            ages.push(at);
        }
        class.order_by_age(ages);
        let shown = class
            .shown()
            .map(|m| {
                let job = JobRef::parse(&m.job_ref).map_err(|e| DbError::Corrupt(e.to_string()))?;
                Ok(m.found(summary(conn, &job)?))
            })
            .collect::<Result<_, DbError>>()?;
        ranking.add(shown);
    }
    Ok(ranking.found())
}

pub(super) fn detail(conn: &Connection, job: &JobRef) -> Result<Option<OrderDetail>, DbError> {
    let summary = match summary(conn, job) {
        Ok(s) => s,
        Err(DbError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let (shipping_note, payment_link, last_confirmed_at, raw): (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    ) = conn.query_row(
        "SELECT j.shipping_note, j.payment_link, j.last_confirmed_at, a.raw
         FROM payment_jobs j LEFT JOIN job_answers a ON a.job_ref = j.job_ref
         WHERE j.job_ref = ?1",
        [job.as_str()],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    let mut rows = DetailRows {
        shipping_note,
        payment_link,
        last_confirmed_at: parse_col(last_confirmed_at, Timestamp::parse)?,
        raw,
        ..DetailRows::default()
    };

    let mut stmt = conn.prepare_cached(
        "SELECT payment_ref, attempt, status, amount, failure_code, failure_reason,
                gateway_created_at, updated_at
         FROM payments WHERE job_ref = ?1 ORDER BY attempt",
    )?;
    let found = stmt.query_map([job.as_str()], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, u32>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Option<String>>(3)?,
            r.get::<_, Option<String>>(4)?,
            r.get::<_, Option<String>>(5)?,
            r.get::<_, Option<String>>(6)?,
            r.get::<_, String>(7)?,
        ))
    })?;
    for row in found {
        let (pref, attempt, status, amount, code, reason, created, updated) = row?;
        rows.payments.push(Attempt {
            payment_reference: PaymentRef::parse(&pref)
                .map_err(|e| DbError::Corrupt(e.to_string()))?,
            attempt,
            status: PaymentStatus::from(status),
            amount: parse_col(amount, str::parse::<Amount>)?,
            failure_code: code,
            failure_reason: reason,
            created_at: parse_col(created, Timestamp::parse)?,
            updated_at: Timestamp::parse(&updated).map_err(|e| DbError::Corrupt(e.to_string()))?,
        });
    }

    let mut stmt = conn.prepare_cached(
        "SELECT id, received_at, payment_ref, response_status, state, outcome
         FROM deliveries WHERE job_ref = ?1 ORDER BY id",
    )?;
    let found = stmt.query_map([job.as_str()], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<String>>(2)?,
            r.get::<_, u16>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, Option<String>>(5)?,
        ))
    })?;
    for row in found {
        let (id, received, payment, response_status, state, outcome) = row?;
        rows.deliveries.push(DeliveryView {
            id,
            received_at: Timestamp::parse(&received)
                .map_err(|e| DbError::Corrupt(e.to_string()))?,
            payment_reference: payment,
            response_status,
            state: DeliveryState::parse(&state)
                .ok_or_else(|| DbError::Corrupt(format!("delivery state '{state}'")))?,
            outcome,
        });
    }

    let mut stmt = conn.prepare_cached(
        "SELECT payment_ref, from_status, to_status, source, at
         FROM status_events WHERE job_ref = ?1 ORDER BY id",
    )?;
    let found = stmt.query_map([job.as_str()], |r| {
        Ok((
            r.get::<_, Option<String>>(0)?,
            r.get::<_, Option<String>>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
        ))
    })?;
    for row in found {
        let (payment, from, to, source, at) = row?;
        rows.status_events.push(StatusEventView {
            payment_reference: parse_col(payment, PaymentRef::parse)?,
            from,
            to,
            source: ChangeSource::parse(&source)
                .ok_or_else(|| DbError::Corrupt(format!("event source '{source}'")))?,
            at: Timestamp::parse(&at).map_err(|e| DbError::Corrupt(e.to_string()))?,
        });
    }

    let mut stmt = conn.prepare_cached(
        "SELECT action, detail, at, actor FROM audit WHERE job_ref = ?1 ORDER BY id",
    )?;
    let found = stmt.query_map([job.as_str()], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, Option<String>>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Option<String>>(3)?,
        ))
    })?;
    for row in found {
        let (action, detail, at, by) = row?;
        rows.audit.push(AuditView {
            action,
            detail,
            by,
            at: Timestamp::parse(&at).map_err(|e| DbError::Corrupt(e.to_string()))?,
        });
    }

    rows.moves = super::money::views(conn, job.as_str())?;
    Ok(Some(rows.assemble(summary)))
}

pub(super) fn audit(conn: &Connection, job: &JobRef, entry: &AuditEntry) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO audit (at, action, job_ref, detail, actor) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            Timestamp::now().to_string(),
            entry.action,
            job.as_str(),
            entry.detail,
            entry.by
        ],
    )?;
    Ok(())
}

impl Orders for SqliteStore {
    async fn order(&self, job: &JobRef) -> Result<Option<OrderDetail>, StoreError> {
        let job = job.clone();
        self.read(move |conn| detail(conn, &job)).await
    }

    /// One page of orders, newest first unless sorted otherwise.
    async fn orders(&self, filter: OrderFilter) -> Result<OrdersSlice, StoreError> {
        self.read(move |conn| pages::page(conn, &filter)).await
    }

    /// How many orders the filter matches (paging ignored), and whether that is only a
    /// lower bound (`pages::COUNT_CAP`).
    async fn count_orders(&self, filter: OrderFilter) -> Result<(u64, bool), StoreError> {
        self.read(move |conn| pages::count(conn, &filter)).await
    }

    /// Paid orders whose status last changed at or after `since`: (amount, currency, when).
    async fn paid_since(
        &self,
        since: Timestamp,
    ) -> Result<Vec<(Amount, Currency, Timestamp)>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT coalesce(paid_total, paid_amount, amount), currency, updated_at,
                        refunded_total
                 FROM payment_jobs
                 WHERE status IN ('Paid', 'Verified') AND updated_at >= ?1",
            )?;
            let rows = stmt.query_map([since.to_string()], |r| {
                Ok((
                    r.get::<_, Option<String>>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (amount, currency, at, refunded) = row?;
                if let (Some(a), Some(c)) = (
                    parse_col(amount, str::parse::<Amount>)?,
                    parse_col(currency, Currency::parse)?,
                ) {
                    let at = Timestamp::parse(&at).map_err(|e| DbError::Corrupt(e.to_string()))?;
                    let refunded: Amount =
                        refunded
                            .parse()
                            .map_err(|e: tillwatch_core::domain::MoneyError| {
                                DbError::Corrupt(e.to_string())
                            })?;
                    // Net of completed refunds.
                    out.push((Amount::new(a.decimal() - refunded.decimal()), c, at));
                }
            }
            Ok(out)
        })
        .await
    }

    /// Finds orders by job reference, payment reference, order number or e-mail: exact
    /// matches first, then those that start with the query, then those that end with its
    /// last `tillwatch_core::store::MIN_PARTIAL` or more characters, newest first within each. At most
    /// `limit`.
    async fn lookup(&self, query: &str, limit: u32) -> Result<Vec<OrderSummary>, StoreError> {
        let q = query.trim().to_owned();
        self.read(move |conn| Ok(found_orders(find(conn, &q, 1, limit)?)))
            .await
    }

    /// As `lookup`, with what matched, for the window's search box: prefixes from
    /// `tillwatch_core::store::MIN_PARTIAL` characters (exact references of any length), and a newer search
    /// interrupts this one, which then fails with `DbError::Superseded`.
    async fn search(&self, query: &str, limit: u32) -> Result<Vec<Found>, StoreError> {
        let q = query.trim().to_owned();
        self.read_latest_search(move |conn| {
            find(conn, &q, tillwatch_core::store::MIN_PARTIAL, limit)
        })
        .await
    }

    /// Orders named exactly by a job reference, payment reference or order number (not
    /// e-mail: one address names many orders). At most `limit`.
    async fn exact_matches(
        &self,
        query: &str,
        limit: u32,
    ) -> Result<Vec<OrderSummary>, StoreError> {
        let q = query.trim().to_owned();
        self.read(move |conn| {
            if q.is_empty() {
                return Ok(Vec::new());
            }
            let found = rank(conn, refs::exact(conn, &q, false)?, limit)?;
            Ok(found_orders(found))
        })
        .await
    }

    /// Jobs whose status may still change, least recently confirmed first.
    async fn unfinished_jobs(&self) -> Result<Vec<JobRef>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&summaries::unfinished_sql())?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            let mut out = Vec::new();
            for r in rows {
                out.push(JobRef::parse(&r?).map_err(|e| DbError::Corrupt(e.to_string()))?);
            }
            Ok(out)
        })
        .await
    }

    /// Paid orders by the time their status became paid (`updated_at`, which moves only on a
    /// status change), keyset-paged on `(updated_at, job_ref)`: the `payment_jobs_by_updated`
    /// index serves the range and the order.
    async fn paid_between(
        &self,
        from: Timestamp,
        to: Timestamp,
        after: Option<(Timestamp, JobRef)>,
        limit: u32,
    ) -> Result<Vec<(Timestamp, JobRef)>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT updated_at, job_ref FROM payment_jobs
                 WHERE status IN ('Paid', 'Verified') AND updated_at >= ?1 AND updated_at < ?2
                   AND (?3 IS NULL OR (updated_at, job_ref) > (?3, ?4))
                 ORDER BY updated_at, job_ref LIMIT ?5",
            )?;
            let (after_at, after_job) = match &after {
                Some((at, job)) => (Some(at.to_string()), Some(job.as_str().to_owned())),
                None => (None, None),
            };
            let rows = stmt.query_map(
                params![from.to_string(), to.to_string(), after_at, after_job, limit],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
            )?;
            let mut out = Vec::new();
            for row in rows {
                let (at, job) = row?;
                let at = Timestamp::parse(&at).map_err(|e| DbError::Corrupt(e.to_string()))?;
                let job = JobRef::parse(&job).map_err(|e| DbError::Corrupt(e.to_string()))?;
                out.push((at, job));
            }
            Ok(out)
        })
        .await
    }

    /// Marks an order as shipped if the shipping rule allows it; recorded in the audit log,
    /// with the owner's reason when a mismatch was overridden.
    async fn ship(&self, req: ShipRequest) -> Result<OrderDetail, StoreError> {
        self.write(move |conn| {
            let plan = req.plan(&summary(conn, &req.job_ref)?)?;
            conn.execute(
                "UPDATE payment_jobs SET shipped_at = ?2, shipping_note = ?3 WHERE job_ref = ?1",
                params![
                    req.job_ref.as_str(),
                    Timestamp::now().to_string(),
                    plan.note
                ],
            )?;
            for entry in &plan.audit {
                audit(conn, &req.job_ref, entry)?;
            }
            detail(conn, &req.job_ref)?
                .map(|d| d.under(plan.rules))
                .ok_or_else(|| DbError::NotFound(req.job_ref.to_string()))
        })
        .await
    }

    /// Records an owner's request to move money before it is sent (see the trait).
    async fn record_money_request(
        &self,
        req: tillwatch_core::store::MoneyRequest,
    ) -> Result<(), StoreError> {
        self.write(move |conn| {
            super::money::record_request(conn, &req)?;
            audit(conn, &req.job_ref, &req.audit())
        })
        .await
    }

    /// Undoes `ship`.
    async fn unship(&self, job: &JobRef, by: Option<String>) -> Result<OrderDetail, StoreError> {
        let job = job.clone();
        self.write(move |conn| {
            let n = conn.execute(
                "UPDATE payment_jobs SET shipped_at = NULL WHERE job_ref = ?1 AND shipped_at IS NOT NULL",
                [job.as_str()],
            )?;
            if n == 0 {
                return Err(DbError::NotFound(not_shipped(&job)));
            }
            audit(conn, &job, &unship_audit(by))?;
            detail(conn, &job)?.ok_or_else(|| DbError::NotFound(job.to_string()))
        })
        .await
    }

    /// What was asked for a job created here; `None` for jobs we only heard about.
    async fn expectation(
        &self,
        job: &JobRef,
    ) -> Result<Option<tillwatch_core::domain::Expected>, StoreError> {
        let job = job.clone();
        self.read(move |conn| {
            let row: Option<(Option<String>, Option<String>, Option<String>)> = conn
                .query_row(
                    "SELECT expected_amount, expected_currency, expected_order_number
                     FROM payment_jobs WHERE job_ref = ?1 AND created_here = 1",
                    [job.as_str()],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            let Some((Some(amount), Some(currency), Some(order_number))) = row else {
                return Ok(None);
            };
            Ok(Some(tillwatch_core::domain::Expected {
                amount: amount
                    .parse()
                    .map_err(|e: tillwatch_core::domain::MoneyError| {
                        DbError::Corrupt(e.to_string())
                    })?,
                currency: Currency::parse(&currency)
                    .map_err(|e| DbError::Corrupt(e.to_string()))?,
                order_number,
            }))
        })
        .await
    }
}
