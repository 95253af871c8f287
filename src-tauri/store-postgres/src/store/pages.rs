//! The orders table, a page at a time (the SQLite store's `pages`): keyset paging on the
//! sort key and the job reference, never an offset, and totals from the counts the
//! triggers keep.

use tokio_postgres::types::Type;
use tokio_postgres::Row;

use super::summaries::{collect, SUMMARY_COLUMNS};
use super::{at, ts, Fail, Param, Tx};
use tillwatch_core::domain::{JobRef, Timestamp};
use tillwatch_core::store::{
    cursor_columns, sort_keys, CountSql, CursorValue, KeyKind, OrderCursor, OrderFilter, OrderSort,
    OrdersSlice, PageQuery, PageSql, QueryParam,
};

/// A cursor value as a parameter of its column's type; `None` when it is not of that type
/// (a cursor the window made up or kept from another build).
fn key_param(v: &CursorValue, key: KeyKind) -> Option<Param> {
    match (v, key) {
        (CursorValue::Text(t), KeyKind::Time) => Some(Box::new(at(Timestamp::parse(t).ok()?))),
        (CursorValue::Text(t), KeyKind::Text) => Some(Box::new(t.clone())),
        (CursorValue::Int(i), KeyKind::Int) => Some(Box::new(*i)),
        _ => None,
    }
}

/// Binds a query's values as PostgreSQL parameters, numbering their placeholders.
fn binder(params: &mut Vec<Param>) -> impl FnMut(QueryParam<'_>) -> Result<String, Fail> + '_ {
    |p: QueryParam<'_>| {
        let param: Param = match p {
            QueryParam::Text(t) => Box::new(t),
            QueryParam::Int(i) => Box::new(i),
            QueryParam::Time(t) => Box::new(at(t)),
            QueryParam::Flag(b) => Box::new(b),
            QueryParam::Key(v, kind) => {
                key_param(v, kind).ok_or_else(|| Fail::corrupt("a page cursor's value"))?
            }
        };
        params.push(param);
        Ok(format!("${}", params.len()))
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
async fn cursor_of(
    tx: &Tx<'_>,
    sort: OrderSort,
    job: Option<JobRef>,
) -> Result<Option<OrderCursor>, Fail> {
    let Some(job) = job else {
        return Ok(None);
    };
    let sql = format!(
        "SELECT {} FROM payment_jobs j WHERE j.job_ref = $1",
        cursor_columns(sort)
    );
    let row = tx.query_one(&sql, &[&job.as_str()]).await?;
    let values = (0..=sort_keys(sort).len())
        .map(|i| key_value(&row, i))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(OrderCursor::new(sort, values)))
}

/// One page of orders (`PageQuery`).
pub(super) async fn page(tx: &Tx<'_>, filter: &OrderFilter) -> Result<OrdersSlice, Fail> {
    let query = PageQuery::of(filter).map_err(|e| Fail::corrupt(e.to_string()))?;
    let mut params = Vec::new();
    let PageSql {
        filter: clause,
        order,
        limit,
        index: _,
    } = query.render(binder(&mut params))?;
    let sql =
        format!("SELECT {SUMMARY_COLUMNS} FROM payment_jobs j {clause} ORDER BY {order} {limit}");
    let mut orders = collect(&tx.query_dyn(&sql, &params).await?)?;
    let (prev, next) = query.finish(&mut orders);
    let prev = cursor_of(tx, filter.sort, prev).await?;
    let next = cursor_of(tx, filter.sort, next).await?;
    Ok(OrdersSlice { orders, next, prev })
}

/// How many orders the filter matches, and whether that is only a lower bound
/// (`COUNT_CAP`). Status and shipped come from the triggers' counts; a date filter counts
/// rows, up to the cap.
pub(super) async fn count(tx: &Tx<'_>, filter: &OrderFilter) -> Result<(u64, bool), Fail> {
    let mut params = Vec::new();
    let query = CountSql::of(filter, binder(&mut params))?;
    let n: i64 = tx.query_dyn(&query.sql(), &params).await?[0].try_get(0)?;
    Ok(query.answer(n))
}
