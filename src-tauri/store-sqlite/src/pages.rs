//! The orders table, a page at a time: keyset paging (a cursor of the sort key and the job
//! reference, never an offset), so the last page costs what the first does, and totals
//! read from counts the writer keeps instead of counting rows.

use rusqlite::types::Value;
use rusqlite::Connection;

use super::summaries::{collect_summaries, SUMMARY_COLUMNS};
use super::DbError;
use tillwatch_core::domain::JobRef;
use tillwatch_core::store::{
    cursor_columns, sort_keys, CountSql, CursorValue, OrderCursor, OrderFilter, OrderSort,
    OrdersSlice, PageQuery, PageSql, QueryParam,
};

/// Binds a query's values as SQLite values, numbering their placeholders.
fn binder(params: &mut Vec<Value>) -> impl FnMut(QueryParam<'_>) -> Result<String, DbError> + '_ {
    |p: QueryParam<'_>| {
        params.push(match p {
            QueryParam::Text(t) => Value::Text(t),
            QueryParam::Int(i) => Value::Integer(i),
            QueryParam::Time(t) => Value::Text(t.to_string()),
            QueryParam::Flag(b) => Value::Integer(i64::from(b)),
            QueryParam::Key(CursorValue::Int(i), _) => Value::Integer(*i),
            QueryParam::Key(CursorValue::Text(t), _) => Value::Text(t.clone()),
        });
        Ok(format!("?{}", params.len()))
    }
}

/// The cursor of a row: its sort key read back from the row itself (NULL-free, see
/// migration 0003).
fn cursor_of(conn: &Connection, sort: OrderSort, job: &JobRef) -> Result<OrderCursor, DbError> {
    let sql = format!(
        "SELECT {} FROM payment_jobs j WHERE j.job_ref = ?1",
        cursor_columns(sort)
    );
    let n = sort_keys(sort).len() + 1;
    let values = conn.prepare_cached(&sql)?.query_row([job.as_str()], |r| {
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

fn page_query(filter: &OrderFilter) -> Result<PageQuery<'_>, DbError> {
    PageQuery::of(filter).map_err(|e| DbError::Corrupt(e.to_string()))
}

/// A page's SELECT and its parameters.
fn select(query: &PageQuery<'_>) -> Result<(String, Vec<Value>), DbError> {
    let mut params = Vec::new();
    let PageSql {
        filter,
        order,
        limit,
        index,
    } = query.render(binder(&mut params))?;
    let indexed = index.map(|i| format!("INDEXED BY {i}")).unwrap_or_default();
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} FROM payment_jobs j {indexed} {filter} ORDER BY {order} {limit}"
    );
    Ok((sql, params))
}

/// A page's SELECT and its parameters, and whether it reads backwards.
#[cfg(test)]
fn page_sql(filter: &OrderFilter) -> Result<(String, Vec<Value>, bool), DbError> {
    let query = page_query(filter)?;
    let (sql, params) = select(&query)?;
    Ok((sql, params, query.backwards()))
}

/// One page of orders.
pub fn page(conn: &Connection, filter: &OrderFilter) -> Result<OrdersSlice, DbError> {
    let query = page_query(filter)?;
    let (sql, params) = select(&query)?;
    let mut orders = collect_summaries(conn, &sql, rusqlite::params_from_iter(params))?;
    let (prev, next) = query.finish(&mut orders);
    let edge = |job: Option<JobRef>| job.map(|j| cursor_of(conn, filter.sort, &j)).transpose();
    Ok(OrdersSlice {
        prev: edge(prev)?,
        next: edge(next)?,
        orders,
    })
}

/// How many orders the filter matches, and whether that is only a lower bound
/// (`COUNT_CAP`). Status and shipped come from the writer's counts; a date filter counts
/// rows, up to the cap.
pub fn count(conn: &Connection, filter: &OrderFilter) -> Result<(u64, bool), DbError> {
    let mut params = Vec::new();
    let query = CountSql::of(filter, binder(&mut params))?;
    let n: i64 = conn
        .prepare_cached(&query.sql())?
        .query_row(rusqlite::params_from_iter(params), |r| r.get(0))?;
    Ok(query.answer(n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tillwatch_core::domain::PaymentStatus;
    use tillwatch_core::store::PageAt;

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
