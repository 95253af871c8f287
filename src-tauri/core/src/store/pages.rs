//! The orders table's pages: the filter, where a page starts, and the cursors a page hands
//! back for the pages either side.

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
    /// How many values the sort key has, before the job reference (an amount is sorted
    /// within its currency).
    pub fn key_len(self) -> usize {
        match self {
            Self::Amount => 2,
            _ => 1,
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

/// One value of a sort key, as a store reads and compares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CursorValue {
    Int(i64),
    Text(String),
}

/// One row's place in a sort: its sort key and job reference.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderCursor {
    sort: OrderSort,
    /// The sort key's values, then the job reference.
    values: Vec<CursorValue>,
}

impl OrderCursor {
    /// A cursor of `sort` at the row whose key is `values` (the job reference last).
    pub fn new(sort: OrderSort, values: Vec<CursorValue>) -> Self {
        Self { sort, values }
    }

    pub fn sort(&self) -> OrderSort {
        self.sort
    }

    /// The sort key's values, then the job reference.
    pub fn values(&self) -> &[CursorValue] {
        &self.values
    }

    /// Text for the window to hand back: the sort's name, its key values and the job
    /// reference, as a JSON array.
    pub fn encode(&self) -> String {
        let mut parts = vec![serde_json::Value::from(self.sort.tag())];
        for v in &self.values {
            parts.push(match v {
                CursorValue::Int(i) => serde_json::Value::from(*i),
                CursorValue::Text(t) => serde_json::Value::from(t.as_str()),
            });
        }
        serde_json::Value::Array(parts).to_string()
    }

    /// `None` when the text is not a cursor of this sort.
    pub fn decode(sort: OrderSort, text: &str) -> Option<Self> {
        let parts: Vec<serde_json::Value> = serde_json::from_str(text).ok()?;
        let (tag, rest) = parts.split_first()?;
        if tag.as_str()? != sort.tag() || rest.len() != sort.key_len() + 1 {
            return None;
        }
        let values = rest
            .iter()
            .map(|v| match v {
                serde_json::Value::String(s) => Some(CursorValue::Text(s.clone())),
                serde_json::Value::Number(n) => n.as_i64().map(CursorValue::Int),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()?;
        match values.last()? {
            CursorValue::Text(_) => Some(Self { sort, values }),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_only_for_its_own_sort() {
        let c = OrderCursor::new(
            OrderSort::Amount,
            vec![
                CursorValue::Text("GBP".into()),
                CursorValue::Int(1050),
                CursorValue::Text("200".into()),
            ],
        );
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
