//! Reading orders, looking them up, and the owner's shipping actions (the SQLite store's
//! `orders`).

use std::sync::atomic::Ordering;

use super::change_log;
use super::refs;
use super::summaries::{summary, unfinished_sql};
use super::{amount_opt, at, currency_opt, job_ref, now, pages, ts, ts_opt, Fail, PgStore, Tx};
use tillwatch_core::domain::{
    Amount, Attempt, AuditView, ChangeSource, Currency, DeliveryState, DeliveryView, Expected,
    JobRef, OrderDetail, OrderSummary, PaymentRef, PaymentStatus, StatusEventView, Timestamp,
};
use tillwatch_core::store::Orders;
use tillwatch_core::store::{
    found_orders, not_shipped, range_len, unship_audit, wants_more, DetailRows, Found, OrderFilter,
    OrdersSlice, Ranking, RefMatch, ShipRequest, StoreError, MIN_PARTIAL,
};

/// Exact matches, then (if fewer than `limit`) prefixes of `min_prefix` characters or
/// more, then suffixes.
async fn find(tx: &Tx<'_>, q: &str, min_prefix: usize, limit: u32) -> Result<Vec<Found>, Fail> {
    if q.is_empty() || limit == 0 {
        return Ok(Vec::new());
    }
    let mut matches = refs::exact(tx, q, true).await?;
    for suffixes in [false, true] {
        if !wants_more(&matches, limit) {
            break;
        }
        let more = if suffixes {
            refs::ending_with(tx, q, range_len(limit)).await?
        } else {
            refs::starting_with(tx, q, min_prefix, range_len(limit)).await?
        };
        matches.extend(more);
    }
    rank(tx, matches, limit).await
}

/// The matches ranked (`Ranking`), reading the ages and summaries it asks for.
async fn rank(tx: &Tx<'_>, matches: Vec<RefMatch>, limit: u32) -> Result<Vec<Found>, Fail> {
    let mut ranking = Ranking::new(matches, limit);
    while let Some(mut class) = ranking.next_class() {
        let mut ages = Vec::new();
        for m in class.to_age() {
            let sql = "SELECT first_seen_at FROM payment_jobs WHERE job_ref = $1";
            let row = tx.query_opt(sql, &[&m.job_ref]).await?;
            ages.push(row.map(|r| ts(&r, 0)).transpose()?);
        }
        class.order_by_age(ages);
        let mut shown = Vec::new();
        for m in class.shown() {
            let order = summary(tx, &job_ref(&m.job_ref)?).await?;
            shown.push(m.found(order));
        }
        ranking.add(shown);
    }
    Ok(ranking.found())
}

pub(super) async fn detail(tx: &Tx<'_>, job: &JobRef) -> Result<Option<OrderDetail>, Fail> {
    let summary = match summary(tx, job).await {
        Ok(s) => s,
        Err(Fail::Store(StoreError::NotFound(_))) => return Ok(None),
        Err(e) => return Err(e),
    };
    let j = job.as_str();
    let row = tx
        .query_one(
            "SELECT j.shipping_note, j.payment_link, j.last_confirmed_at, a.raw
             FROM payment_jobs j LEFT JOIN job_answers a ON a.job_ref = j.job_ref
             WHERE j.job_ref = $1",
            &[&j],
        )
        .await?;
    let mut rows = DetailRows {
        shipping_note: row.try_get(0)?,
        payment_link: row.try_get(1)?,
        last_confirmed_at: ts_opt(&row, 2)?,
        raw: row.try_get(3)?,
        ..DetailRows::default()
    };

    for r in tx
        .query(
            "SELECT payment_ref, attempt, status, amount, failure_code, failure_reason,
                    gateway_created_at, updated_at
             FROM payments WHERE job_ref = $1 ORDER BY attempt",
            &[&j],
        )
        .await?
    {
        let pref: &str = r.try_get(0)?;
        let attempt: i32 = r.try_get(1)?;
        rows.payments.push(Attempt {
            payment_reference: PaymentRef::parse(pref)
                .map_err(|e| Fail::corrupt(format!("'{pref}': {e}")))?,
            attempt: u32::try_from(attempt)
                .map_err(|_| Fail::corrupt(format!("attempt {attempt}")))?,
            status: PaymentStatus::from(r.try_get::<_, &str>(2)?),
            amount: amount_opt(&r, 3)?,
            failure_code: r.try_get(4)?,
            failure_reason: r.try_get(5)?,
            created_at: ts_opt(&r, 6)?,
            updated_at: ts(&r, 7)?,
        });
    }

    for r in tx
        .query(
            "SELECT id, received_at, payment_ref, response_status, state, outcome
             FROM deliveries WHERE job_ref = $1 ORDER BY id",
            &[&j],
        )
        .await?
    {
        let status: i32 = r.try_get(3)?;
        let state: &str = r.try_get(4)?;
        rows.deliveries.push(DeliveryView {
            id: r.try_get(0)?,
            received_at: ts(&r, 1)?,
            payment_reference: r.try_get(2)?,
            response_status: u16::try_from(status)
                .map_err(|_| Fail::corrupt(format!("response status {status}")))?,
            state: DeliveryState::parse(state)
                .ok_or_else(|| Fail::corrupt(format!("delivery state '{state}'")))?,
            outcome: r.try_get(5)?,
        });
    }

    for r in tx
        .query(
            "SELECT payment_ref, from_status, to_status, source, at
             FROM status_events WHERE job_ref = $1 ORDER BY id",
            &[&j],
        )
        .await?
    {
        let payment: Option<&str> = r.try_get(0)?;
        let source: &str = r.try_get(3)?;
        rows.status_events.push(StatusEventView {
            payment_reference: payment
                .map(|p| PaymentRef::parse(p).map_err(|e| Fail::corrupt(format!("'{p}': {e}"))))
                .transpose()?,
            from: r.try_get(1)?,
            to: r.try_get(2)?,
            source: ChangeSource::parse(source)
                .ok_or_else(|| Fail::corrupt(format!("event source '{source}'")))?,
            at: ts(&r, 4)?,
        });
    }

    for r in tx
        .query(
            "SELECT action, detail, actor, at FROM audit WHERE job_ref = $1 ORDER BY id",
            &[&j],
        )
        .await?
    {
        rows.audit.push(AuditView {
            action: r.try_get(0)?,
            detail: r.try_get(1)?,
            by: r.try_get(2)?,
            at: ts(&r, 3)?,
        });
    }

    rows.moves = super::money::views(tx, job.as_str()).await?;
    Ok(Some(rows.assemble(summary)))
}

pub(super) async fn audit(
    tx: &Tx<'_>,
    action: &str,
    job: &JobRef,
    detail: Option<&str>,
    by: Option<&str>,
) -> Result<(), Fail> {
    tx.execute(
        "INSERT INTO audit (at, action, job_ref, detail, actor) VALUES ($1, $2, $3, $4, $5)",
        &[&now(), &action, &job.as_str(), &detail, &by],
    )
    .await?;
    Ok(())
}

impl Orders for PgStore {
    async fn order(&self, job: &JobRef) -> Result<Option<OrderDetail>, StoreError> {
        self.read(|tx| {
            let job = job.clone();
            Box::pin(async move { detail(tx, &job).await })
        })
        .await
    }

    async fn orders(&self, filter: OrderFilter) -> Result<OrdersSlice, StoreError> {
        self.read(|tx| {
            let filter = filter.clone();
            Box::pin(async move { pages::page(tx, &filter).await })
        })
        .await
    }

    async fn count_orders(&self, filter: OrderFilter) -> Result<(u64, bool), StoreError> {
        self.read(|tx| {
            let filter = filter.clone();
            Box::pin(async move { pages::count(tx, &filter).await })
        })
        .await
    }

    /// Paid orders whose status last changed at or after `since`: (amount, currency, when).
    async fn paid_since(
        &self,
        since: Timestamp,
    ) -> Result<Vec<(Amount, Currency, Timestamp)>, StoreError> {
        let since = at(since);
        self.read(|tx| {
            Box::pin(async move {
                let rows = tx
                    .query(
                        "SELECT coalesce(paid_total, paid_amount, amount) - refunded_total,
                                currency, updated_at
                         FROM payment_jobs
                         WHERE status IN ('Paid', 'Verified') AND updated_at >= $1",
                        &[&since],
                    )
                    .await?;
                let mut out = Vec::new();
                for r in rows {
                    if let (Some(a), Some(c)) = (amount_opt(&r, 0)?, currency_opt(&r, 1)?) {
                        out.push((a, c, ts(&r, 2)?));
                    }
                }
                Ok(out)
            })
        })
        .await
    }

    /// Finds orders by any reference: exact, then prefixes, then the last characters.
    async fn lookup(&self, query: &str, limit: u32) -> Result<Vec<OrderSummary>, StoreError> {
        let q = query.trim().to_owned();
        self.read(|tx| {
            let q = q.clone();
            Box::pin(async move { Ok(found_orders(find(tx, &q, 1, limit).await?)) })
        })
        .await
    }

    /// As `lookup`, with what matched, prefixes from `MIN_PARTIAL` characters. A newer
    /// search makes this one answer `Superseded` (its answer is not wanted any more).
    async fn search(&self, query: &str, limit: u32) -> Result<Vec<Found>, StoreError> {
        let searches = &self.shared.searches;
        let mine = searches.fetch_add(1, Ordering::SeqCst) + 1;
        let q = query.trim().to_owned();
        let found = self
            .read(|tx| {
                let q = q.clone();
                Box::pin(async move { find(tx, &q, MIN_PARTIAL, limit).await })
            })
            .await?;
        if searches.load(Ordering::SeqCst) != mine {
            return Err(StoreError::Superseded);
        }
        Ok(found)
    }

    /// Orders named exactly by a job reference, payment reference or order number.
    async fn exact_matches(
        &self,
        query: &str,
        limit: u32,
    ) -> Result<Vec<OrderSummary>, StoreError> {
        let q = query.trim().to_owned();
        if q.is_empty() {
            return Ok(Vec::new());
        }
        self.read(|tx| {
            let q = q.clone();
            Box::pin(async move {
                let matches = refs::exact(tx, &q, false).await?;
                Ok(found_orders(rank(tx, matches, limit).await?))
            })
        })
        .await
    }

    /// Jobs whose status may still change, least recently confirmed first.
    async fn unfinished_jobs(&self) -> Result<Vec<JobRef>, StoreError> {
        self.read(|tx| {
            Box::pin(async move {
                let rows = tx.query(&unfinished_sql(), &[]).await?;
                rows.iter().map(|r| job_ref(r.try_get(0)?)).collect()
            })
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
        let (from, to) = (at(from), at(to));
        let (after_at, after_job) = match after {
            Some((t, job)) => (Some(at(t)), Some(job.as_str().to_owned())),
            None => (None, None),
        };
        let limit = i64::from(limit);
        self.read(|tx| {
            let after_job = after_job.clone();
            Box::pin(async move {
                let rows = tx
                    .query(
                        "SELECT updated_at, job_ref FROM payment_jobs
                         WHERE status IN ('Paid', 'Verified') AND updated_at >= $1
                           AND updated_at < $2
                           AND ($3::timestamptz IS NULL OR (updated_at, job_ref) > ($3, $4))
                         ORDER BY updated_at, job_ref LIMIT $5",
                        &[&from, &to, &after_at, &after_job, &limit],
                    )
                    .await?;
                rows.iter()
                    .map(|r| Ok((ts(r, 0)?, job_ref(r.try_get(1)?)?)))
                    .collect()
            })
        })
        .await
    }

    /// Marks an order as shipped if the shipping rule allows it, audited with who asked.
    /// The order's row is locked first: of two processes shipping it at once, the second
    /// reads it shipped and is refused (`AlreadyShipped`).
    async fn ship(&self, req: ShipRequest) -> Result<OrderDetail, StoreError> {
        self.write(|tx| {
            let req = req.clone();
            Box::pin(async move {
                let job = &req.job_ref;
                tx.query_opt(
                    "SELECT 1 FROM payment_jobs WHERE job_ref = $1 FOR UPDATE",
                    &[&job.as_str()],
                )
                .await?;
                let plan = req.plan(&summary(tx, job).await?)?;
                tx.execute(
                    "UPDATE payment_jobs SET shipped_at = $2, shipping_note = $3
                     WHERE job_ref = $1",
                    &[&job.as_str(), &now(), &plan.note],
                )
                .await?;
                for entry in &plan.audit {
                    let (said, by) = (entry.detail.as_deref(), entry.by.as_deref());
                    audit(tx, entry.action, job, said, by).await?;
                }
                tx.changed(change_log::Change {
                    job_ref: job,
                    previous_status: None,
                    status_changed: false,
                    source: ChangeSource::Owner,
                })
                .await?;
                detail(tx, job)
                    .await?
                    .map(|d| d.under(plan.rules))
                    .ok_or_else(|| Fail::not_found(job.to_string()))
            })
        })
        .await
    }

    /// Records an owner's request to move money before it is sent (see the trait).
    async fn record_money_request(
        &self,
        req: tillwatch_core::store::MoneyRequest,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            let req = req.clone();
            Box::pin(async move {
                super::money::record_request(tx, &req).await?;
                let entry = req.audit();
                let (said, by) = (entry.detail.as_deref(), entry.by.as_deref());
                audit(tx, entry.action, &req.job_ref, said, by).await?;
                tx.changed(change_log::Change {
                    job_ref: &req.job_ref,
                    previous_status: None,
                    status_changed: false,
                    source: ChangeSource::Owner,
                })
                .await
            })
        })
        .await
    }

    /// Undoes `ship`, audited with who asked.
    async fn unship(&self, job: &JobRef, by: Option<String>) -> Result<OrderDetail, StoreError> {
        self.write(|tx| {
            let (job, by) = (job.clone(), by.clone());
            Box::pin(async move {
                let job = &job;
                let n = tx
                    .execute(
                        "UPDATE payment_jobs SET shipped_at = NULL
                         WHERE job_ref = $1 AND shipped_at IS NOT NULL",
                        &[&job.as_str()],
                    )
                    .await?;
                if n == 0 {
                    return Err(Fail::not_found(not_shipped(job)));
                }
                let entry = unship_audit(by);
                let (said, by) = (entry.detail.as_deref(), entry.by.as_deref());
                audit(tx, entry.action, job, said, by).await?;
                tx.changed(change_log::Change {
                    job_ref: job,
                    previous_status: None,
                    status_changed: false,
                    source: ChangeSource::Owner,
                })
                .await?;
                detail(tx, job)
                    .await?
                    .ok_or_else(|| Fail::not_found(job.to_string()))
            })
        })
        .await
    }

    /// What was asked for a job created here; `None` for jobs we only heard about.
    async fn expectation(&self, job: &JobRef) -> Result<Option<Expected>, StoreError> {
        self.read(|tx| {
            let job = job.clone();
            Box::pin(async move {
                let Some(r) = tx
                    .query_opt(
                        "SELECT expected_amount, expected_currency, expected_order_number
                         FROM payment_jobs WHERE job_ref = $1 AND created_here",
                        &[&job.as_str()],
                    )
                    .await?
                else {
                    return Ok(None);
                };
                let (Some(amount), Some(currency), Some(order_number)) =
                    (amount_opt(&r, 0)?, currency_opt(&r, 1)?, r.try_get(2)?)
                else {
                    return Ok(None);
                };
                Ok(Some(Expected {
                    amount,
                    currency,
                    order_number,
                }))
            })
        })
        .await
    }
}
