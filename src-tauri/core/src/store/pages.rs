//! The orders table, a page at a time: keyset paging (a cursor of the sort key and the job
//! reference, never an offset), so the last page costs what the first does, and totals
//! read from counts the writer keeps instead of counting rows.

use rusqlite::types::Value;
use rusqlite::Connection;

use super::summaries::{collect_summaries, SUMMARY_COLUMNS};
use super::StoreError;
use crate::domain::{OrderSummary, PaymentStatus, Timestamp};

/// Beyond this many, a total that has to be counted (a date filter) is shown as "10,000+".
pub const COUNT_CAP: u64 = 10_000;

#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    pub status: Option<PaymentStatus>,
    pub shipped: Option<bool>,
    /// First seen at or after.
    pub from: Option<Timestamp>,
    /// First seen before.
    pub to: Option<Timestamp>,
    pub sort: OrderSort,
    pub ascending: bool,
    /// 0: no limit.
    pub limit: u32,
    pub at: PageAt,
}

/// Where a page starts.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum PageAt {
    #[default]
    First,
    /// The rows after this one, in the sort's order.
    After(OrderCursor),
    /// The rows before this one.
    Before(OrderCursor),
    /// The end of the list.
    Last,
}

/// Columns the orders table sorts by; each has an index ending in the job reference.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub enum OrderSort {
    #[default]
    FirstSeen,
    Updated,
    Status,
    OrderNumber,
    /// Within a currency: amounts are never compared across currencies.
    Amount,
}

impl OrderSort {
    /// The sort key's columns (NULL-free, see migration 0003), before the job reference.
    fn keys(self) -> &'static [&'static str] {
        match self {
            Self::FirstSeen => &["j.first_seen_at"],
            Self::Updated => &["j.updated_at"],
            Self::Status => &["j.status"],
            Self::OrderNumber => &["j.order_key"],
            Self::Amount => &["j.currency_key", "j.amount_key"],
        }
    }

    fn tag(self) -> &'static str {
        match self {
            Self::FirstSeen => "firstSeen",
            Self::Updated => "updated",
            Self::Status => "status",
            Self::OrderNumber => "orderNumber",
            Self::Amount => "amount",
        }
    }
}

/// One row's place in a sort: its sort key and job reference.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderCursor {
    sort: OrderSort,
    /// The sort key's values, then the job reference.
    values: Vec<Value>,
}

impl OrderCursor {
    /// Text for the window to hand back: the sort's name, its key values and the job
    /// reference, as a JSON array.
    pub fn encode(&self) -> String {
        let mut parts = vec![serde_json::Value::from(self.sort.tag())];
        for v in &self.values {
            parts.push(match v {
                Value::Integer(i) => serde_json::Value::from(*i),
                Value::Text(t) => serde_json::Value::from(t.as_str()),
                _ => serde_json::Value::Null,
            });
        }
        serde_json::Value::Array(parts).to_string()
    }

    /// `None` when the text is not a cursor of this sort.
    pub fn decode(sort: OrderSort, text: &str) -> Option<Self> {
        let parts: Vec<serde_json::Value> = serde_json::from_str(text).ok()?;
        let (tag, rest) = parts.split_first()?;
        if tag.as_str()? != sort.tag() || rest.len() != sort.keys().len() + 1 {
            return None;
        }
        let values = rest
            .iter()
            .map(|v| match v {
                serde_json::Value::String(s) => Some(Value::Text(s.clone())),
                serde_json::Value::Number(n) => n.as_i64().map(Value::Integer),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()?;
        match values.last()? {
            Value::Text(_) => Some(Self { sort, values }),
            _ => None,
        }
    }
}

/// A page of orders and the cursors to the pages either side.
#[derive(Debug, Clone, Default)]
pub struct OrdersSlice {
    pub orders: Vec<OrderSummary>,
    /// Where the next page starts; `None` at the end.
    pub next: Option<OrderCursor>,
    /// Where the previous page ends; `None` at the start.
    pub prev: Option<OrderCursor>,
}

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

/// The cursor of a row: its sort key read back from the row itself.
fn cursor_of(conn: &Connection, sort: OrderSort, job: &str) -> Result<OrderCursor, StoreError> {
    let sql = format!(
        "SELECT {}, j.job_ref FROM payment_jobs j WHERE j.job_ref = ?1",
        sort.keys().join(", ")
    );
    let n = sort.keys().len() + 1;
    let values = conn.prepare_cached(&sql)?.query_row([job], |r| {
        (0..n)
            .map(|i| r.get::<_, Value>(i))
            .collect::<Result<Vec<_>, _>>()
    })?;
    Ok(OrderCursor { sort, values })
}

/// A page's SELECT and its parameters; backwards pages read in the opposite order.
fn page_sql(filter: &OrderFilter) -> Result<(String, Vec<Value>, bool), StoreError> {
    let sort = filter.sort;
    let cursor = match &filter.at {
        PageAt::After(c) | PageAt::Before(c) if c.sort != sort => {
            return Err(StoreError::Corrupt("a page cursor of another sort".into()))
        }
        PageAt::After(c) | PageAt::Before(c) => Some(c),
        PageAt::First | PageAt::Last => None,
    };
    let backwards = matches!(filter.at, PageAt::Before(_) | PageAt::Last);
    let descending = filter.ascending == backwards;
    let mut clause = Clause::of(filter);
    if let Some(c) = cursor {
        let placeholders: Vec<String> = c.values.iter().map(|v| clause.param(v.clone())).collect();
        let mut columns: Vec<&str> = sort.keys().to_vec();
        columns.push("j.job_ref");
        clause.terms.push(format!(
            "({}) {} ({})",
            columns.join(", "),
            if descending { "<" } else { ">" },
            placeholders.join(", ")
        ));
    }
    let dir = if descending { "DESC" } else { "ASC" };
    let order = sort
        .keys()
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
pub fn page(conn: &Connection, filter: &OrderFilter) -> Result<OrdersSlice, StoreError> {
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
    let edge = |o: Option<&OrderSummary>| -> Result<Option<OrderCursor>, StoreError> {
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
pub fn count(conn: &Connection, filter: &OrderFilter) -> Result<(u64, bool), StoreError> {
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
            (OrderSort::FirstSeen, vec![Value::Text("t".into())]),
            (OrderSort::Updated, vec![Value::Text("t".into())]),
            (OrderSort::Status, vec![Value::Text("Paid".into())]),
            (OrderSort::OrderNumber, vec![Value::Text("A".into())]),
            (
                OrderSort::Amount,
                vec![Value::Text("GBP".into()), Value::Integer(5)],
            ),
        ];
        for (sort, mut key) in sorts {
            key.push(Value::Text("200".into()));
            let cursor = OrderCursor { sort, values: key };
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
        let cursor = OrderCursor {
            sort: OrderSort::FirstSeen,
            values: vec![Value::Text("t".into()), Value::Text("200".into())],
        };
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

    #[test]
    fn a_cursor_reads_back_only_for_its_own_sort() {
        let c = OrderCursor {
            sort: OrderSort::Amount,
            values: vec![
                Value::Text("GBP".into()),
                Value::Integer(1050),
                Value::Text("200".into()),
            ],
        };
        let text = c.encode();
        assert_eq!(OrderCursor::decode(OrderSort::Amount, &text), Some(c));
        assert_eq!(OrderCursor::decode(OrderSort::FirstSeen, &text), None);
        assert_eq!(
            OrderCursor::decode(OrderSort::Amount, "[\"amount\",1]"),
            None
        );
        assert_eq!(OrderCursor::decode(OrderSort::Amount, "nonsense"), None);
    }
}
