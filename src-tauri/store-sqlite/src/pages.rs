//! The orders table, a page at a time: keyset paging (a cursor of the sort key and the job
//! reference, never an offset), so the last page costs what the first does, and totals
//! read from counts the writer keeps instead of counting rows.

use rusqlite::types::Value;
use rusqlite::Connection;

use super::summaries::{collect_summaries, SUMMARY_COLUMNS};
use super::DbError;
use tillwatch_core::domain::{OrderSummary, PaymentStatus};
use tillwatch_core::store::{
    CursorValue, OrderCursor, OrderFilter, OrderSort, OrdersSlice, PageAt, COUNT_CAP,
};

/// A WHERE clause built only from the filters present, with its parameters.
struct Clause {
    terms: Vec<String>,
    params: Vec<Value>,
    index: Option<&'static str>,
}

impl Clause {
    fn param(&mut self, v: Value) -> String {
        self.params.push(v);
        format!("?{}", self.params.len())
    }

    fn of(filter: &OrderFilter) -> Self {
        let mut c = Clause {
            terms: Vec::new(),
            params: Vec::new(),
            index: None,
        };
        match (&filter.status, filter.shipped) {
            // The to-do list has its own partial index; its terms are written as the
            // index's are, so the planner may use it.
            (Some(PaymentStatus::Paid), Some(false)) => {
                c.terms
                    .push("j.status = 'Paid' AND j.shipped_at IS NULL".into());
                if filter.sort == OrderSort::FirstSeen {
                    c.index = Some("payment_jobs_to_ship");
                }
            }
            (status, shipped) => {
                if let Some(s) = status {
                    let p = c.param(Value::Text(s.as_str().to_owned()));
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
            let p = c.param(Value::Text(from.to_string()));
            c.terms.push(format!("j.first_seen_at >= {p}"));
        }
        if let Some(to) = filter.to {
            let p = c.param(Value::Text(to.to_string()));
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

/// The sort key's columns (NULL-free, see migration 0003), before the job reference.
fn sort_keys(sort: OrderSort) -> &'static [&'static str] {
    match sort {
        OrderSort::FirstSeen => &["j.first_seen_at"],
        OrderSort::Updated => &["j.updated_at"],
        OrderSort::Status => &["j.status"],
        OrderSort::OrderNumber => &["j.order_key"],
        OrderSort::Amount => &["j.currency_key", "j.amount_key"],
    }
}

fn sql_value(v: &CursorValue) -> Value {
    match v {
        CursorValue::Int(i) => Value::Integer(*i),
        CursorValue::Text(t) => Value::Text(t.clone()),
    }
}

/// The cursor of a row: its sort key read back from the row itself.
fn cursor_of(conn: &Connection, sort: OrderSort, job: &str) -> Result<OrderCursor, DbError> {
    let sql = format!(
        "SELECT {}, j.job_ref FROM payment_jobs j WHERE j.job_ref = ?1",
        sort_keys(sort).join(", ")
    );
    let n = sort_keys(sort).len() + 1;
    let values = conn.prepare_cached(&sql)?.query_row([job], |r| {
        (0..n)
            .map(|i| match r.get::<_, Value>(i)? {
                Value::Integer(i) => Ok(CursorValue::Int(i)),
                Value::Text(t) => Ok(CursorValue::Text(t)),
                other => Err(rusqlite::Error::InvalidColumnType(
                    i,
                    "sort key".into(),
                    other.data_type(),
                )),
            })
            .collect::<Result<Vec<_>, _>>()
    })?;
    Ok(OrderCursor::new(sort, values))
}

/// A page's SELECT and its parameters; backwards pages read in the opposite order.
fn page_sql(filter: &OrderFilter) -> Result<(String, Vec<Value>, bool), DbError> {
    let sort = filter.sort;
    let cursor = match &filter.at {
        PageAt::After(c) | PageAt::Before(c) if c.sort() != sort => {
            return Err(DbError::Corrupt("a page cursor of another sort".into()))
        }
        PageAt::After(c) | PageAt::Before(c) => Some(c),
        PageAt::First | PageAt::Last => None,
    };
    let backwards = matches!(filter.at, PageAt::Before(_) | PageAt::Last);
    let descending = filter.ascending == backwards;
    let mut clause = Clause::of(filter);
    if let Some(c) = cursor {
        let placeholders: Vec<String> = c
            .values()
            .iter()
            .map(|v| clause.param(sql_value(v)))
            .collect();
        let mut columns: Vec<&str> = sort_keys(sort).to_vec();
        columns.push("j.job_ref");
        clause.terms.push(format!(
            "({}) {} ({})",
            columns.join(", "),
            if descending { "<" } else { ">" },
            placeholders.join(", ")
        ));
    }
    let dir = if descending { "DESC" } else { "ASC" };
    let order = sort_keys(sort)
        .iter()
        .chain(std::iter::once(&"j.job_ref"))
        .map(|k| format!("{k} {dir}"))
        .collect::<Vec<_>>()
        .join(", ");
    // One more than asked: whether another page follows.
    let limit = if filter.limit == 0 {
        String::new()
    } else {
        format!(
            "LIMIT {}",
            clause.param(Value::Integer(i64::from(filter.limit) + 1))
        )
    };
    let indexed = clause
        .index
        .map(|i| format!("INDEXED BY {i}"))
        .unwrap_or_default();
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} FROM payment_jobs j {indexed} {} ORDER BY {order} {limit}",
        clause.sql()
    );
    Ok((sql, clause.params, backwards))
}

/// One page of orders.
pub fn page(conn: &Connection, filter: &OrderFilter) -> Result<OrdersSlice, DbError> {
    let sort = filter.sort;
    let (sql, params, backwards) = page_sql(filter)?;
    let mut orders = collect_summaries(conn, &sql, rusqlite::params_from_iter(params))?;
    let more = filter.limit != 0 && orders.len() > filter.limit as usize;
    if more {
        orders.truncate(filter.limit as usize);
    }
    if backwards {
        orders.reverse();
    }
    let edge = |o: Option<&OrderSummary>| -> Result<Option<OrderCursor>, DbError> {
        o.map(|o| cursor_of(conn, sort, o.payment_job_reference.as_str()))
            .transpose()
    };
    let (has_prev, has_next) = match filter.at {
        PageAt::First => (false, more),
        PageAt::After(_) => (true, more),
        PageAt::Before(_) => (more, true),
        PageAt::Last => (more, false),
    };
    Ok(OrdersSlice {
        prev: if has_prev {
            edge(orders.first())?
        } else {
            None
        },
        next: if has_next { edge(orders.last())? } else { None },
        orders,
    })
}

/// How many orders the filter matches, and whether that is only a lower bound
/// (`COUNT_CAP`). Status and shipped come from the writer's counts; a date filter counts
/// rows, up to the cap.
pub fn count(conn: &Connection, filter: &OrderFilter) -> Result<(u64, bool), DbError> {
    if filter.from.is_none() && filter.to.is_none() {
        let mut terms = Vec::new();
        let mut params: Vec<Value> = Vec::new();
        if let Some(s) = &filter.status {
            params.push(Value::Text(s.as_str().to_owned()));
            terms.push(format!("status = ?{}", params.len()));
        }
        if let Some(shipped) = filter.shipped {
            params.push(Value::Integer(i64::from(shipped)));
            terms.push(format!("shipped = ?{}", params.len()));
        }
        let sql = format!(
            "SELECT coalesce(sum(n), 0) FROM order_counts {}",
            if terms.is_empty() {
                String::new()
            } else {
                format!("WHERE {}", terms.join(" AND "))
            }
        );
        let n: i64 = conn
            .prepare_cached(&sql)?
            .query_row(rusqlite::params_from_iter(params), |r| r.get(0))?;
        return Ok((n.max(0) as u64, false));
    }
    let mut clause = Clause::of(filter);
    let cap = clause.param(Value::Integer(COUNT_CAP as i64 + 1));
    let sql = format!(
        "SELECT count(*) FROM (SELECT 1 FROM payment_jobs j {} LIMIT {cap})",
        clause.sql()
    );
    let n: i64 = conn
        .prepare_cached(&sql)?
        .query_row(rusqlite::params_from_iter(clause.params), |r| r.get(0))?;
    let n = n.max(0) as u64;
    Ok((n.min(COUNT_CAP), n > COUNT_CAP))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(conn: &Connection, sql: &str, params: Vec<Value>) -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = stmt
            .query_map(rusqlite::params_from_iter(params), |r| {
                r.get::<_, String>(3)
            })
            .unwrap();
        rows.map(Result::unwrap).collect::<Vec<_>>().join(" | ")
    }

    /// Every page the orders view asks for, first or deep, is a range of one index read
    /// in its order: no scan of the table and no sort of the rows.
    #[test]
    fn every_page_is_an_index_range_with_no_sort() {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::migrations::run(&mut conn).unwrap();
        let sorts = [
            (OrderSort::FirstSeen, vec![CursorValue::Text("t".into())]),
            (OrderSort::Updated, vec![CursorValue::Text("t".into())]),
            (OrderSort::Status, vec![CursorValue::Text("Paid".into())]),
            (OrderSort::OrderNumber, vec![CursorValue::Text("A".into())]),
            (
                OrderSort::Amount,
                vec![CursorValue::Text("GBP".into()), CursorValue::Int(5)],
            ),
        ];
        for (sort, mut key) in sorts {
            key.push(CursorValue::Text("200".into()));
            let cursor = OrderCursor::new(sort, key);
            for ascending in [false, true] {
                for at in [
                    PageAt::First,
                    PageAt::After(cursor.clone()),
                    PageAt::Before(cursor.clone()),
                    PageAt::Last,
                ] {
                    let filter = OrderFilter {
                        sort,
                        ascending,
                        limit: 50,
                        at,
                        ..OrderFilter::default()
                    };
                    let (sql, params, _) = page_sql(&filter).unwrap();
                    let plan = plan(&conn, &sql, params);
                    assert!(plan.contains("USING INDEX"), "{filter:?}: {plan}");
                    assert!(!plan.contains("TEMP B-TREE"), "{filter:?}: {plan}");
                }
            }
        }
        let cursor = OrderCursor::new(
            OrderSort::FirstSeen,
            vec![
                CursorValue::Text("t".into()),
                CursorValue::Text("200".into()),
            ],
        );
        for (status, shipped, index) in [
            (PaymentStatus::Paid, Some(false), "payment_jobs_to_ship"),
            (
                PaymentStatus::Failed,
                None,
                "payment_jobs_by_status_first_seen",
            ),
        ] {
            let filter = OrderFilter {
                status: Some(status),
                shipped,
                limit: 50,
                at: PageAt::After(cursor.clone()),
                ..OrderFilter::default()
            };
            let (sql, params, _) = page_sql(&filter).unwrap();
            let plan = plan(&conn, &sql, params);
            assert!(plan.contains(index), "{filter:?}: {plan}");
            assert!(!plan.contains("TEMP B-TREE"), "{filter:?}: {plan}");
        }
        let unfinished = plan(
            &conn,
            &super::super::summaries::unfinished_sql(),
            Vec::new(),
        );
        assert!(
            unfinished.contains("payment_jobs_unfinished") && !unfinished.contains("TEMP B-TREE"),
            "{unfinished}"
        );
    }
}
