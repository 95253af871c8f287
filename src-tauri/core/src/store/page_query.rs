//! A page of the orders table as a query, described once for every backend: which columns
//! a filter compares and how, which sort key columns a cursor continues from and in which
//! direction, how many rows to read, and how the rows read become a page. A backend binds
//! the values in its own types and placeholders and wraps the parts in its own SELECT.
//! (Past 500 lines only by its tests, which spell out the SQL each kind of page gets.)

use std::fmt;

use super::{CursorValue, OrderCursor, OrderFilter, OrderSort, PageAt, COUNT_CAP};
use crate::domain::{JobRef, OrderSummary, PaymentStatus, Timestamp};

/// The kind of one sort key column, as a cursor carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// A time: the cursor holds the domain's text of it.
    Time,
    Text,
    Int,
}

/// A value a query compares a column with, for the backend to bind as its own type.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryParam<'a> {
    Text(String),
    Int(i64),
    Time(Timestamp),
    Flag(bool),
    /// A cursor's value, for a sort key column of this kind (a cursor comes from the
    /// window, so it may not be of that kind).
    Key(&'a CursorValue, KeyKind),
}

/// The sort key's columns (NULL-free), before the job reference; each sort has an index
/// on them ending in the job reference.
pub fn sort_keys(sort: OrderSort) -> &'static [(&'static str, KeyKind)] {
    match sort {
        OrderSort::FirstSeen => &[("j.first_seen_at", KeyKind::Time)],
        OrderSort::Updated => &[("j.updated_at", KeyKind::Time)],
        OrderSort::Status => &[("j.status", KeyKind::Text)],
        OrderSort::OrderNumber => &[("j.order_key", KeyKind::Text)],
        OrderSort::Amount => &[
            ("j.currency_key", KeyKind::Text),
            ("j.amount_key", KeyKind::Int),
        ],
    }
}

/// The columns a row's cursor is read back from: the sort key, then the job reference.
pub fn cursor_columns(sort: OrderSort) -> String {
    sort_keys(sort)
        .iter()
        .map(|(c, _)| *c)
        .chain(std::iter::once("j.job_ref"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why a page cannot be read from the cursor it was asked from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CursorMisfit {
    OtherSort,
    OtherShape,
}

impl fmt::Display for CursorMisfit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::OtherSort => "a page cursor of another sort",
            Self::OtherShape => "a page cursor of another shape",
        })
    }
}

/// The parts of a page's SELECT, with the backend's placeholders in them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageSql {
    /// `WHERE …`, or empty.
    pub filter: String,
    /// The ORDER BY list.
    pub order: String,
    /// `LIMIT …`, or empty.
    pub limit: String,
    /// The partial index the filter is written as, when the page reads it in order.
    pub index: Option<&'static str>,
}

/// One page of orders as asked by a filter.
#[derive(Debug, Clone, Copy)]
pub struct PageQuery<'a> {
    filter: &'a OrderFilter,
    cursor: Option<&'a OrderCursor>,
    /// Backwards pages (before a cursor, or the last) read in the opposite order.
    backwards: bool,
}

impl<'a> PageQuery<'a> {
    pub fn of(filter: &'a OrderFilter) -> Result<Self, CursorMisfit> {
        let cursor = match &filter.at {
            PageAt::After(c) | PageAt::Before(c) if c.sort() != filter.sort => {
                return Err(CursorMisfit::OtherSort)
            }
            PageAt::After(c) | PageAt::Before(c) => Some(c),
            PageAt::First | PageAt::Last => None,
        };
        if cursor.is_some_and(|c| c.values().len() != sort_keys(filter.sort).len() + 1) {
            return Err(CursorMisfit::OtherShape);
        }
        Ok(Self {
            filter,
            cursor,
            backwards: matches!(filter.at, PageAt::Before(_) | PageAt::Last),
        })
    }

    /// Whether the rows are read in the opposite order to the page's.
    pub fn backwards(&self) -> bool {
        self.backwards
    }

    /// The query's parts, each value bound by `bind` (which answers its placeholder) in
    /// the order the text names them.
    pub fn render<E>(
        &self,
        mut bind: impl FnMut(QueryParam<'a>) -> Result<String, E>,
    ) -> Result<PageSql, E> {
        let filter = self.filter;
        let descending = filter.ascending == self.backwards;
        let mut terms = filter_terms(filter, &mut bind)?;
        let keys = sort_keys(filter.sort);
        if let Some(c) = self.cursor {
            let kinds = keys
                .iter()
                .map(|(_, k)| *k)
                .chain(std::iter::once(KeyKind::Text));
            let placeholders = c
                .values()
                .iter()
                .zip(kinds)
                .map(|(v, kind)| bind(QueryParam::Key(v, kind)))
                .collect::<Result<Vec<_>, E>>()?;
            terms.push(format!(
                "({}) {} ({})",
                cursor_columns(filter.sort),
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
            let p = bind(QueryParam::Int(i64::from(filter.limit) + 1))?;
            format!("LIMIT {p}")
        };
        let to_ship = matches!(
            (&filter.status, filter.shipped),
            (Some(PaymentStatus::Paid), Some(false))
        );
        Ok(PageSql {
            filter: where_sql(&terms),
            order,
            limit,
            index: (to_ship && filter.sort == OrderSort::FirstSeen)
                .then_some("payment_jobs_to_ship"),
        })
    }

    /// Makes the rows read (up to one more than the limit) the page, in the sort's order,
    /// and names the rows whose cursors it hands back: (previous, next).
    pub fn finish(&self, orders: &mut Vec<OrderSummary>) -> (Option<JobRef>, Option<JobRef>) {
        let limit = self.filter.limit as usize;
        let more = limit != 0 && orders.len() > limit;
        if more {
            orders.truncate(limit);
        }
        if self.backwards {
            orders.reverse();
        }
        let (has_prev, has_next) = match self.filter.at {
            PageAt::First => (false, more),
            PageAt::After(_) => (true, more),
            PageAt::Before(_) => (more, true),
            PageAt::Last => (more, false),
        };
        let edge = |o: Option<&OrderSummary>, has: bool| {
            o.filter(|_| has).map(|o| o.payment_job_reference.clone())
        };
        (
            edge(orders.first(), has_prev),
            edge(orders.last(), has_next),
        )
    }
}

/// The terms of a filter, built only from the filters present.
fn filter_terms<'a, E>(
    filter: &OrderFilter,
    bind: &mut impl FnMut(QueryParam<'a>) -> Result<String, E>,
) -> Result<Vec<String>, E> {
    let mut terms = Vec::new();
    match (&filter.status, filter.shipped) {
        // The to-do list, written as its partial index is (payment_jobs_to_ship), so the
        // planner may use it.
        (Some(PaymentStatus::Paid), Some(false)) => {
            terms.push("j.status = 'Paid' AND j.shipped_at IS NULL".into());
        }
        (status, shipped) => {
            if let Some(s) = status {
                let p = bind(QueryParam::Text(s.as_str().to_owned()))?;
                terms.push(format!("j.status = {p}"));
            }
            match shipped {
                Some(true) => terms.push("j.shipped_at IS NOT NULL".into()),
                Some(false) => terms.push("j.shipped_at IS NULL".into()),
                None => {}
            }
        }
    }
    if let Some(from) = filter.from {
        let p = bind(QueryParam::Time(from))?;
        terms.push(format!("j.first_seen_at >= {p}"));
    }
    if let Some(to) = filter.to {
        let p = bind(QueryParam::Time(to))?;
        terms.push(format!("j.first_seen_at < {p}"));
    }
    Ok(terms)
}

fn where_sql(terms: &[String]) -> String {
    if terms.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", terms.join(" AND "))
    }
}

/// How many orders a filter matches, as a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CountSql {
    /// Status and shipped are read from the counts the store keeps (`order_counts`):
    /// the `WHERE …` of that table, or empty.
    Kept { filter: String },
    /// A date filter counts the rows of `payment_jobs j`, up to one past the cap.
    Rows { filter: String, cap: String },
}

impl CountSql {
    pub fn of<'a, E>(
        filter: &OrderFilter,
        mut bind: impl FnMut(QueryParam<'a>) -> Result<String, E>,
    ) -> Result<Self, E> {
        if filter.from.is_none() && filter.to.is_none() {
            let mut terms = Vec::new();
            if let Some(s) = &filter.status {
                let p = bind(QueryParam::Text(s.as_str().to_owned()))?;
                terms.push(format!("status = {p}"));
            }
            if let Some(shipped) = filter.shipped {
                let p = bind(QueryParam::Flag(shipped))?;
                terms.push(format!("shipped = {p}"));
            }
            return Ok(Self::Kept {
                filter: where_sql(&terms),
            });
        }
        let terms = filter_terms(filter, &mut bind)?;
        let cap = bind(QueryParam::Int(COUNT_CAP as i64 + 1))?;
        Ok(Self::Rows {
            filter: where_sql(&terms),
            cap,
        })
    }

    /// The SELECT, in SQL both backends speak (a derived table named, the sum cast).
    pub fn sql(&self) -> String {
        match self {
            Self::Kept { filter } => {
                format!("SELECT CAST(coalesce(sum(n), 0) AS bigint) FROM order_counts {filter}")
            }
            Self::Rows { filter, cap } => {
                format!(
                    "SELECT count(*) FROM (SELECT 1 FROM payment_jobs j {filter} LIMIT {cap}) t"
                )
            }
        }
    }

    /// The count the query answered `n`, and whether it is only a lower bound.
    pub fn answer(&self, n: i64) -> (u64, bool) {
        let n = n.max(0) as u64;
        match self {
            Self::Kept { .. } => (n, false),
            Self::Rows { .. } => (n.min(COUNT_CAP), n > COUNT_CAP),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures::order;

    /// Binds as `?n` and keeps what was bound, as a store would.
    fn render(filter: &OrderFilter) -> (PageSql, Vec<QueryParam<'_>>) {
        let mut bound = Vec::new();
        let sql = PageQuery::of(filter)
            .unwrap()
            .render(|p| {
                bound.push(p);
                Ok::<_, ()>(format!("?{}", bound.len()))
            })
            .unwrap();
        (sql, bound)
    }

    fn amount_cursor() -> OrderCursor {
        OrderCursor::new(
            OrderSort::Amount,
            vec![
                CursorValue::Text("GBP".into()),
                CursorValue::Int(1050),
                CursorValue::Text("200".into()),
            ],
        )
    }

    #[test]
    fn a_first_page_newest_first_reads_one_more_than_asked() {
        let filter = OrderFilter {
            limit: 50,
            ..OrderFilter::default()
        };
        let (sql, bound) = render(&filter);
        assert_eq!(sql.filter, "");
        assert_eq!(sql.order, "j.first_seen_at DESC, j.job_ref DESC");
        assert_eq!(sql.limit, "LIMIT ?1");
        assert_eq!(sql.index, None);
        assert_eq!(bound, [QueryParam::Int(51)]);
    }

    #[test]
    fn filters_then_the_cursor_then_the_limit_are_bound_in_order() {
        let from = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
        let cursor = amount_cursor();
        let filter = OrderFilter {
            status: Some(PaymentStatus::Failed),
            shipped: Some(true),
            from: Some(from),
            sort: OrderSort::Amount,
            ascending: true,
            limit: 10,
            at: PageAt::Before(cursor.clone()),
            ..OrderFilter::default()
        };
        let (sql, bound) = render(&filter);
        assert_eq!(
            sql.filter,
            "WHERE j.status = ?1 AND j.shipped_at IS NOT NULL AND j.first_seen_at >= ?2 \
             AND (j.currency_key, j.amount_key, j.job_ref) < (?3, ?4, ?5)"
        );
        // Before a cursor, ascending: read backwards, descending.
        assert_eq!(
            sql.order,
            "j.currency_key DESC, j.amount_key DESC, j.job_ref DESC"
        );
        assert_eq!(sql.limit, "LIMIT ?6");
        let v = cursor.values();
        assert_eq!(
            bound,
            [
                QueryParam::Text("Failed".into()),
                QueryParam::Time(from),
                QueryParam::Key(&v[0], KeyKind::Text),
                QueryParam::Key(&v[1], KeyKind::Int),
                QueryParam::Key(&v[2], KeyKind::Text),
                QueryParam::Int(11),
            ]
        );
    }

    #[test]
    fn the_to_do_list_is_written_as_its_index() {
        let filter = OrderFilter {
            status: Some(PaymentStatus::Paid),
            shipped: Some(false),
            ..OrderFilter::default()
        };
        let (sql, bound) = render(&filter);
        assert_eq!(
            sql.filter,
            "WHERE j.status = 'Paid' AND j.shipped_at IS NULL"
        );
        assert_eq!(sql.index, Some("payment_jobs_to_ship"));
        assert!(bound.is_empty());
        let by_status = OrderFilter {
            sort: OrderSort::Status,
            ..filter
        };
        assert_eq!(render(&by_status).0.index, None);
    }

    #[test]
    fn a_cursor_of_another_sort_or_shape_is_refused() {
        let other_sort = OrderFilter {
            at: PageAt::After(amount_cursor()),
            ..OrderFilter::default()
        };
        assert_eq!(
            PageQuery::of(&other_sort).err(),
            Some(CursorMisfit::OtherSort)
        );
        let short = OrderFilter {
            sort: OrderSort::Amount,
            at: PageAt::After(OrderCursor::new(
                OrderSort::Amount,
                vec![CursorValue::Text("200".into())],
            )),
            ..OrderFilter::default()
        };
        assert_eq!(PageQuery::of(&short).err(), Some(CursorMisfit::OtherShape));
        assert_eq!(
            CursorMisfit::OtherSort.to_string(),
            "a page cursor of another sort"
        );
    }

    #[test]
    fn a_page_is_cut_to_the_limit_and_names_the_edges_it_hands_back() {
        let rows = |n: u32| -> Vec<OrderSummary> {
            (1..=n)
                .map(|i| order(&i.to_string(), PaymentStatus::Paid, "2026-01-01T00:00:00Z"))
                .collect()
        };
        let job = |s: &str| Some(JobRef::parse(s).unwrap());
        let first = OrderFilter {
            limit: 2,
            ..OrderFilter::default()
        };
        let mut orders = rows(3);
        let edges = PageQuery::of(&first).unwrap().finish(&mut orders);
        assert_eq!(orders.len(), 2);
        assert_eq!(edges, (None, job("2")));
        // The last page is read backwards: reversed, and no next page.
        let last = OrderFilter {
            limit: 2,
            at: PageAt::Last,
            ..OrderFilter::default()
        };
        let mut orders = rows(3);
        let edges = PageQuery::of(&last).unwrap().finish(&mut orders);
        assert_eq!(orders[0].payment_job_reference.as_str(), "2");
        assert_eq!(edges, (job("2"), None));
        // After a cursor with nothing more: only the previous page.
        let after = OrderFilter {
            limit: 2,
            at: PageAt::After(OrderCursor::new(
                OrderSort::FirstSeen,
                vec![CursorValue::Text("t".into()), CursorValue::Text("9".into())],
            )),
            ..OrderFilter::default()
        };
        let mut orders = rows(1);
        let edges = PageQuery::of(&after).unwrap().finish(&mut orders);
        assert_eq!(edges, (job("1"), None));
    }

    #[test]
    fn counts_come_from_the_kept_counts_unless_dated_and_dated_ones_are_capped() {
        let mut bound = Vec::new();
        let mut bind = |p: QueryParam<'static>| {
            bound.push(p);
            Ok::<_, ()>(format!("${}", bound.len()))
        };
        let kept = OrderFilter {
            status: Some(PaymentStatus::Paid),
            shipped: Some(false),
            ..OrderFilter::default()
        };
        let sql = CountSql::of(&kept, &mut bind).unwrap();
        assert_eq!(
            sql,
            CountSql::Kept {
                filter: "WHERE status = $1 AND shipped = $2".into()
            }
        );
        assert_eq!(sql.answer(20_000), (20_000, false));
        assert_eq!(
            sql.sql(),
            "SELECT CAST(coalesce(sum(n), 0) AS bigint) FROM order_counts \
             WHERE status = $1 AND shipped = $2"
        );
        let dated = OrderFilter {
            to: Some(Timestamp::parse("2026-01-01T00:00:00Z").unwrap()),
            ..OrderFilter::default()
        };
        let sql = CountSql::of(&dated, &mut bind).unwrap();
        assert_eq!(
            sql,
            CountSql::Rows {
                filter: "WHERE j.first_seen_at < $3".into(),
                cap: "$4".into()
            }
        );
        assert_eq!(sql.answer(COUNT_CAP as i64 + 1), (COUNT_CAP, true));
        assert_eq!(
            sql.sql(),
            "SELECT count(*) FROM (SELECT 1 FROM payment_jobs j \
             WHERE j.first_seen_at < $3 LIMIT $4) t"
        );
        assert_eq!(sql.answer(-1), (0, false));
        assert_eq!(
            bound,
            [
                QueryParam::Text("Paid".into()),
                QueryParam::Flag(false),
                QueryParam::Time(Timestamp::parse("2026-01-01T00:00:00Z").unwrap()),
                QueryParam::Int(COUNT_CAP as i64 + 1),
            ]
        );
    }
}
