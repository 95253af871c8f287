//! The orders table, a page at a time (the SQLite store's `pages`): keyset paging on the
//! sort key and the job reference, never an offset, and totals from the counts the
//! triggers keep.

use tokio_postgres::types::Type;
use tokio_postgres::Row;

use super::summaries::{collect, SUMMARY_COLUMNS};
use super::{at, ts, Fail, Param, Tx};
use tillwatch_core::domain::{OrderSummary, PaymentStatus, Timestamp};
use tillwatch_core::store::{
    CursorValue, OrderCursor, OrderFilter, OrderSort, OrdersSlice, PageAt, COUNT_CAP,
};

/// A WHERE clause built only from the filters present, with its parameters.
struct Clause {
    terms: Vec<String>,
    params: Vec<Param>,
}

impl Clause {
    fn param(&mut self, v: Param) -> String {
        self.params.push(v);
        format!("${}", self.params.len())
    }

    fn of(filter: &OrderFilter) -> Self {
        let mut c = Clause {
            terms: Vec::new(),
            params: Vec::new(),
        };
        match (&filter.status, filter.shipped) {
            // The to-do list, written as its partial index is (payment_jobs_to_ship).
            (Some(PaymentStatus::Paid), Some(false)) => {
                c.terms
                    .push("j.status = 'Paid' AND j.shipped_at IS NULL".into());
            }
            (status, shipped) => {
                if let Some(s) = status {
                    let p = c.param(Box::new(s.as_str().to_owned()));
                    c.terms.push(format!("j.status = {p}"));
                }
                match shipped {
                    Some(true) => c.terms.push("j.shipped_at IS NOT NULL".into()),
                    Some(false) => c.terms.push("j.shipped_at IS NULL".into()),
                    None => {}
                }
            }
        }
        if let Some(from) = filter.from {
            let p = c.param(Box::new(at(from)));
            c.terms.push(format!("j.first_seen_at >= {p}"));
        }
        if let Some(to) = filter.to {
            let p = c.param(Box::new(at(to)));
            c.terms.push(format!("j.first_seen_at < {p}"));
        }
        c
    }

    fn sql(&self) -> String {
        if self.terms.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.terms.join(" AND "))
        }
    }
}

/// The kind of one sort key column, as a cursor carries it.
#[derive(Clone, Copy, PartialEq)]
enum Key {
    /// A time: the cursor holds the domain's text of it.
    Time,
    Text,
    Int,
}

/// The sort key's columns (NULL-free), before the job reference.
fn sort_keys(sort: OrderSort) -> &'static [(&'static str, Key)] {
    match sort {
        OrderSort::FirstSeen => &[("j.first_seen_at", Key::Time)],
        OrderSort::Updated => &[("j.updated_at", Key::Time)],
        OrderSort::Status => &[("j.status", Key::Text)],
        OrderSort::OrderNumber => &[("j.order_key", Key::Text)],
        OrderSort::Amount => &[("j.currency_key", Key::Text), ("j.amount_key", Key::Int)],
    }
}

/// A cursor value as a parameter of its column's type; `None` when it is not of that type
/// (a cursor the window made up or kept from another build).
fn key_param(v: &CursorValue, key: Key) -> Option<Param> {
    match (v, key) {
        (CursorValue::Text(t), Key::Time) => Some(Box::new(at(Timestamp::parse(t).ok()?))),
        (CursorValue::Text(t), Key::Text) => Some(Box::new(t.clone())),
        (CursorValue::Int(i), Key::Int) => Some(Box::new(*i)),
        _ => None,
    }
}

fn key_value(row: &Row, i: usize) -> Result<CursorValue, Fail> {
    let column = &row.columns()[i];
    Ok(match *column.type_() {
        Type::TIMESTAMPTZ => CursorValue::Text(ts(row, i)?.to_string()),
        Type::INT8 => CursorValue::Int(row.try_get(i)?),
        _ => CursorValue::Text(row.try_get(i)?),
    })
}

/// The cursor of a row: its sort key read back from the row itself.
async fn cursor_of(tx: &Tx<'_>, sort: OrderSort, job: &str) -> Result<OrderCursor, Fail> {
    let columns: Vec<&str> = sort_keys(sort).iter().map(|(c, _)| *c).collect();
    let sql = format!(
        "SELECT {}, j.job_ref FROM payment_jobs j WHERE j.job_ref = $1",
        columns.join(", ")
    );
    let row = tx.query_one(&sql, &[&job]).await?;
    let values = (0..=columns.len())
        .map(|i| key_value(&row, i))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(OrderCursor::new(sort, values))
}

/// A page's SELECT and its parameters; backwards pages read in the opposite order.
fn page_sql(filter: &OrderFilter) -> Result<(String, Vec<Param>, bool), Fail> {
    let sort = filter.sort;
    let cursor = match &filter.at {
        PageAt::After(c) | PageAt::Before(c) if c.sort() != sort => {
            return Err(Fail::corrupt("a page cursor of another sort"))
        }
        PageAt::After(c) | PageAt::Before(c) => Some(c),
        PageAt::First | PageAt::Last => None,
    };
    let backwards = matches!(filter.at, PageAt::Before(_) | PageAt::Last);
    let descending = filter.ascending == backwards;
    let mut clause = Clause::of(filter);
    let keys = sort_keys(sort);
    if let Some(c) = cursor {
        let kinds = keys
            .iter()
            .map(|(_, k)| *k)
            .chain(std::iter::once(Key::Text));
        if c.values().len() != keys.len() + 1 {
            return Err(Fail::corrupt("a page cursor of another shape"));
        }
        let mut placeholders = Vec::new();
        for (v, kind) in c.values().iter().zip(kinds) {
            let p = key_param(v, kind).ok_or_else(|| Fail::corrupt("a page cursor's value"))?;
            placeholders.push(clause.param(p));
        }
        let mut columns: Vec<&str> = keys.iter().map(|(c, _)| *c).collect();
        columns.push("j.job_ref");
        clause.terms.push(format!(
            "({}) {} ({})",
            columns.join(", "),
            if descending { "<" } else { ">" },
            placeholders.join(", ")
        ));
    }
    let dir = if descending { "DESC" } else { "ASC" };
    let order = keys
        .iter()
        .map(|(c, _)| *c)
        .chain(std::iter::once("j.job_ref"))
        .map(|k| format!("{k} {dir}"))
        .collect::<Vec<_>>()
        .join(", ");
    // One more than asked: whether another page follows.
    let limit = if filter.limit == 0 {
        String::new()
    } else {
        format!(
            "LIMIT {}",
            clause.param(Box::new(i64::from(filter.limit) + 1))
        )
    };
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} FROM payment_jobs j {} ORDER BY {order} {limit}",
        clause.sql()
    );
    Ok((sql, clause.params, backwards))
}

/// One page of orders.
pub(super) async fn page(tx: &Tx<'_>, filter: &OrderFilter) -> Result<OrdersSlice, Fail> {
    let sort = filter.sort;
    let (sql, params, backwards) = page_sql(filter)?;
    let mut orders = collect(&tx.query_dyn(&sql, &params).await?)?;
    let more = filter.limit != 0 && orders.len() > filter.limit as usize;
    if more {
        orders.truncate(filter.limit as usize);
    }
    if backwards {
        orders.reverse();
    }
    let (has_prev, has_next) = match filter.at {
        PageAt::First => (false, more),
        PageAt::After(_) => (true, more),
        PageAt::Before(_) => (more, true),
        PageAt::Last => (more, false),
    };
    let edge = |o: Option<&OrderSummary>| o.map(|o| o.payment_job_reference.clone());
    let prev = match edge(orders.first()).filter(|_| has_prev) {
        Some(job) => Some(cursor_of(tx, sort, job.as_str()).await?),
        None => None,
    };
    let next = match edge(orders.last()).filter(|_| has_next) {
        Some(job) => Some(cursor_of(tx, sort, job.as_str()).await?),
        None => None,
    };
    Ok(OrdersSlice { orders, next, prev })
}

/// How many orders the filter matches, and whether that is only a lower bound
/// (`COUNT_CAP`). Status and shipped come from the triggers' counts; a date filter counts
/// rows, up to the cap.
pub(super) async fn count(tx: &Tx<'_>, filter: &OrderFilter) -> Result<(u64, bool), Fail> {
    if filter.from.is_none() && filter.to.is_none() {
        let mut terms = Vec::new();
        let mut params: Vec<Param> = Vec::new();
        if let Some(s) = &filter.status {
            params.push(Box::new(s.as_str().to_owned()));
            terms.push(format!("status = ${}", params.len()));
        }
        if let Some(shipped) = filter.shipped {
            params.push(Box::new(shipped));
            terms.push(format!("shipped = ${}", params.len()));
        }
        let sql = format!(
            "SELECT coalesce(sum(n), 0)::bigint FROM order_counts {}",
            if terms.is_empty() {
                String::new()
            } else {
                format!("WHERE {}", terms.join(" AND "))
            }
        );
        let n: i64 = tx.query_dyn(&sql, &params).await?[0].try_get(0)?;
        return Ok((n.max(0) as u64, false));
    }
    let mut clause = Clause::of(filter);
    let cap = clause.param(Box::new(COUNT_CAP as i64 + 1));
    let sql = format!(
        "SELECT count(*) FROM (SELECT 1 FROM payment_jobs j {} LIMIT {cap}) t",
        clause.sql()
    );
    let n: i64 = tx.query_dyn(&sql, &clause.params).await?[0].try_get(0)?;
    let n = n.max(0) as u64;
    Ok((n.min(COUNT_CAP), n > COUNT_CAP))
}
