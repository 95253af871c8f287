//! Reading orders, looking them up, and the owner's shipping actions.

use rusqlite::{params, Connection, OptionalExtension};

use super::pages;
use super::refs;
use super::summaries::{summary, unfinished_sql};
use super::{parse_col, DbError, SqliteStore};
use tillwatch_core::domain::{
    may_ship, Amount, Attempt, AuditView, ChangeSource, Currency, DeliveryState, DeliveryView,
    JobRef, OrderDetail, OrderSummary, PaymentRef, PaymentStatus, ShipCheck, ShipPermit, ShipRules,
    StatusEventView, Timestamp,
};
use tillwatch_core::store::Orders;
use tillwatch_core::store::{best_per_job, RefMatch};
use tillwatch_core::store::{Found, OrderFilter, OrdersSlice, ShipRequest, StoreError};

fn found_orders(found: Vec<Found>) -> Vec<OrderSummary> {
    found.into_iter().map(|f| f.order).collect()
}

/// Exact matches, then (if fewer than `limit`) prefixes of `min_prefix` characters or
/// more, then suffixes.
fn find(conn: &Connection, q: &str, min_prefix: usize, limit: u32) -> Result<Vec<Found>, DbError> {
    if q.is_empty() || limit == 0 {
        return Ok(Vec::new());
    }
    let distinct = |m: &[RefMatch]| {
        m.iter()
            .map(|m| m.job_ref.as_str())
            .collect::<std::collections::HashSet<_>>()
            .len() as u32
    };
    let mut matches = refs::exact(conn, q, true)?;
    // Twice the limit: one job may match by several references.
    let wanted = limit.saturating_mul(2);
    if distinct(&matches) < limit {
        matches.extend(refs::starting_with(conn, q, min_prefix, wanted)?);
    }
    if distinct(&matches) < limit {
        matches.extend(refs::ending_with(conn, q, wanted)?);
    }
    rank(conn, matches, limit)
}

/// One entry per job (its best match), best matches first and newest first within them.
/// Summaries are read only for the jobs shown: every exact match competes on age (one
/// address may name many orders), while prefixes and suffixes keep the range's order
/// (the last references first) and only the first that fit are read.
fn rank(conn: &Connection, matches: Vec<RefMatch>, limit: u32) -> Result<Vec<Found>, DbError> {
    let classes = best_per_job(matches);
    let mut found = Vec::new();
    for (class, mut members) in classes.into_iter().enumerate() {
        let room = (limit as usize).saturating_sub(found.len());
        if room == 0 {
            break;
        }
        if class == 0 && members.len() > room {
            let mut aged = Vec::with_capacity(members.len());
            let mut stmt =
                conn.prepare_cached("SELECT first_seen_at FROM payment_jobs WHERE job_ref = ?1")?;
            for m in members {
                let at: Option<String> = stmt
                    .query_row([m.job_ref.as_str()], |r| r.get(0))
                    .optional()?;
                aged.push((at, m));
            }
            aged.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.job_ref.cmp(&a.1.job_ref)));
            members = aged.into_iter().map(|(_, m)| m).collect();
        }
        let mut chosen = Vec::with_capacity(room);
        for m in members.into_iter().take(room) {
            let job = JobRef::parse(&m.job_ref).map_err(|e| DbError::Corrupt(e.to_string()))?;
            chosen.push(Found {
                order: summary(conn, &job)?,
                kind: m.kind,
                how: m.how,
                reference: m.reference,
            });
        }
        chosen.sort_by(|a, b| {
            b.order.first_seen_at.cmp(&a.order.first_seen_at).then(
                b.order
                    .payment_job_reference
                    .as_str()
                    .cmp(a.order.payment_job_reference.as_str()),
            )
        });
        found.extend(chosen);
    }
    Ok(found)
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

    let mut payments = Vec::new();
    let mut stmt = conn.prepare_cached(
        "SELECT payment_ref, attempt, status, amount, failure_code, failure_reason,
                gateway_created_at, updated_at
         FROM payments WHERE job_ref = ?1 ORDER BY attempt",
    )?;
    let rows = stmt.query_map([job.as_str()], |r| {
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
    for row in rows {
        let (pref, attempt, status, amount, code, reason, created, updated) = row?;
        payments.push(Attempt {
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

    let mut deliveries = Vec::new();
    let mut stmt = conn.prepare_cached(
        "SELECT id, received_at, payment_ref, response_status, state, outcome
         FROM deliveries WHERE job_ref = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([job.as_str()], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<String>>(2)?,
            r.get::<_, u16>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, Option<String>>(5)?,
        ))
    })?;
    for row in rows {
        let (id, received, payment, response_status, state, outcome) = row?;
        deliveries.push(DeliveryView {
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

    let mut status_events = Vec::new();
    let mut stmt = conn.prepare_cached(
        "SELECT payment_ref, from_status, to_status, source, at
         FROM status_events WHERE job_ref = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([job.as_str()], |r| {
        Ok((
            r.get::<_, Option<String>>(0)?,
            r.get::<_, Option<String>>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
        ))
    })?;
    for row in rows {
        let (payment, from, to, source, at) = row?;
        status_events.push(StatusEventView {
            payment_reference: parse_col(payment, PaymentRef::parse)?,
            from,
            to,
            source: ChangeSource::parse(&source)
                .ok_or_else(|| DbError::Corrupt(format!("event source '{source}'")))?,
            at: Timestamp::parse(&at).map_err(|e| DbError::Corrupt(e.to_string()))?,
        });
    }

    let mut audit = Vec::new();
    let mut stmt = conn.prepare_cached(
        "SELECT action, detail, at, actor FROM audit WHERE job_ref = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([job.as_str()], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, Option<String>>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Option<String>>(3)?,
        ))
    })?;
    for row in rows {
        let (action, detail, at, by) = row?;
        audit.push(AuditView {
            action,
            detail,
            by,
            at: Timestamp::parse(&at).map_err(|e| DbError::Corrupt(e.to_string()))?,
        });
    }

    Ok(Some(OrderDetail {
        // The strict rule until the core applies the shop's (`OrderDetail::under`).
        ship: ShipCheck::of(&summary, ShipRules::default()),
        summary,
        shipping_note,
        payment_link,
        last_confirmed_at: parse_col(last_confirmed_at, Timestamp::parse)?,
        payments,
        deliveries,
        status_events,
        audit,
        raw_last_answer: raw.and_then(|r| serde_json::from_str(&r).ok()),
    }))
}

fn audit(
    conn: &Connection,
    action: &str,
    job: &JobRef,
    detail: Option<&str>,
    by: Option<&str>,
) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO audit (at, action, job_ref, detail, actor) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            Timestamp::now().to_string(),
            action,
            job.as_str(),
            detail,
            by
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
                "SELECT coalesce(paid_amount, amount), currency, updated_at FROM payment_jobs
                 WHERE status IN ('Paid', 'Verified') AND updated_at >= ?1",
            )?;
            let rows = stmt.query_map([since.to_string()], |r| {
                Ok((
                    r.get::<_, Option<String>>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (amount, currency, at) = row?;
                if let (Some(a), Some(c)) = (
                    parse_col(amount, str::parse::<Amount>)?,
                    parse_col(currency, Currency::parse)?,
                ) {
                    let at = Timestamp::parse(&at).map_err(|e| DbError::Corrupt(e.to_string()))?;
                    out.push((a, c, at));
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
            let mut stmt = conn.prepare_cached(&unfinished_sql())?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            let mut out = Vec::new();
            for r in rows {
                out.push(JobRef::parse(&r?).map_err(|e| DbError::Corrupt(e.to_string()))?);
            }
            Ok(out)
        })
        .await
    }

    /// Marks an order as shipped if the shipping rule allows it; recorded in the audit log,
    /// with the owner's reason when a mismatch was overridden.
    async fn ship(&self, req: ShipRequest) -> Result<OrderDetail, StoreError> {
        self.write(move |conn| {
            let order = summary(conn, &req.job_ref)?;
            let rules = ShipRules {
                allow_reserved: req.allow_reserved,
            };
            let permit = may_ship(&order, rules, req.override_mismatch.as_deref())?;
            let note = req.note.as_deref().map(str::trim).filter(|n| !n.is_empty());
            conn.execute(
                "UPDATE payment_jobs SET shipped_at = ?2, shipping_note = ?3 WHERE job_ref = ?1",
                params![req.job_ref.as_str(), Timestamp::now().to_string(), note],
            )?;
            let by = req.by.as_deref();
            audit(conn, "shipped", &req.job_ref, note, by)?;
            if let ShipPermit::MismatchOverridden { mismatch, reason } = permit {
                let detail = format!("{reason} (the gateway's answer: {mismatch})");
                audit(conn, "mismatch overridden", &req.job_ref, Some(&detail), by)?;
            }
            detail(conn, &req.job_ref)?
                .map(|d| d.under(rules))
                .ok_or_else(|| DbError::NotFound(req.job_ref.to_string()))
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
                return Err(DbError::NotFound(format!("{job} (not shipped)")));
            }
            audit(conn, "unshipped", &job, None, by.as_deref())?;
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
