//! Read models and queries shaped for the window (and any other face): the orders table's
//! page, today's takings.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::domain::{Amount, Currency, OrderSummary, Timestamp};
use crate::store::{MatchHow, OrderSort, RefKind};

/// The orders table's question. A page starts at the top unless `after` (the next page),
/// `before` (the previous one) or `last` says otherwise; cursors come from `OrdersPage`.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase", default)]
pub struct OrdersQuery {
    pub status: Option<String>,
    pub shipped: Option<bool>,
    /// ISO-8601 instant: first seen at or after.
    pub from: Option<String>,
    /// ISO-8601 instant: first seen before.
    pub to: Option<String>,
    pub sort: OrderSort,
    pub ascending: bool,
    pub limit: u32,
    /// `OrdersPage::next` of the page before: the rows after it.
    pub after: Option<String>,
    /// `OrdersPage::prev` of the page after: the rows before it.
    pub before: Option<String>,
    /// The end of the list.
    pub last: bool,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct OrdersPage {
    pub orders: Vec<OrderSummary>,
    /// All orders matching the filter, for the pager.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub total: u64,
    /// `total` is a lower bound: more than this many match ("10,000+").
    pub total_capped: bool,
    /// Where the next page starts (`OrdersQuery::after`); `null` at the end.
    pub next: Option<String>,
    /// Where the previous page ends (`OrdersQuery::before`); `null` at the start.
    pub prev: Option<String>,
}

/// A search result: the order and the reference that matched, for highlighting.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct SearchHit {
    pub order: OrderSummary,
    pub kind: RefKind,
    pub how: MatchHow,
    /// The whole reference that matched (an e-mail in lower case).
    pub reference: String,
}

impl From<crate::store::Found> for SearchHit {
    fn from(f: crate::store::Found) -> Self {
        Self {
            order: f.order,
            kind: f.kind,
            how: f.how,
            reference: f.reference,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Takings {
    pub currency: String,
    /// Decimal text, e.g. "1234.50".
    pub amount: String,
    pub count: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct HourBucket {
    /// Local hour of the day, 0–23.
    pub hour: u8,
    pub count: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Today {
    pub takings: Vec<Takings>,
    /// Paid orders per local hour, all 24 hours.
    pub by_hour: Vec<HourBucket>,
}

/// Sums paid orders per currency (in decimal) and counts them per local hour.
pub fn today(paid: &[(Amount, Currency, Timestamp)], utc_offset_minutes: i32) -> Today {
    let mut sums: BTreeMap<String, (Decimal, u32, Currency)> = BTreeMap::new();
    let mut hours = [0u32; 24];
    for (amount, currency, at) in paid {
        let e = sums
            .entry(currency.to_string())
            .or_insert((Decimal::ZERO, 0, currency.clone()));
        e.0 += amount.decimal();
        e.1 += 1;
        let local = at.unix_millis() / 60_000 + i64::from(utc_offset_minutes);
        let hour = local.rem_euclid(24 * 60) / 60;
        hours[hour as usize] += 1;
    }
    Today {
        takings: sums
            .into_values()
            .map(|(sum, count, currency)| Takings {
                amount: Amount::new(sum).display_in(&currency),
                currency: currency.to_string(),
                count,
            })
            .collect(),
        by_hour: hours
            .iter()
            .enumerate()
            .map(|(h, &count)| HourBucket {
                hour: h as u8,
                count,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takings_sum_in_decimal_per_currency_and_bucket_by_local_hour() {
        let gbp = Currency::parse("GBP").unwrap();
        let eur = Currency::parse("EUR").unwrap();
        let at = |s: &str| Timestamp::parse(s).unwrap();
        let paid = vec![
            (
                "0.10".parse().unwrap(),
                gbp.clone(),
                at("2026-11-24T09:15:00Z"),
            ),
            (
                "0.20".parse().unwrap(),
                gbp.clone(),
                at("2026-11-24T09:45:00Z"),
            ),
            ("5".parse().unwrap(), eur, at("2026-11-24T23:30:00Z")),
        ];
        let t = today(&paid, 60);
        assert_eq!(
            t.takings,
            vec![
                Takings {
                    currency: "EUR".into(),
                    amount: "5.00".into(),
                    count: 1
                },
                Takings {
                    currency: "GBP".into(),
                    amount: "0.30".into(),
                    count: 2
                },
            ]
        );
        assert_eq!(t.by_hour[10].count, 2, "09:xx UTC is 10:xx at +01:00");
        assert_eq!(
            t.by_hour[0].count, 1,
            "23:30 UTC is 00:30 the next local day"
        );
        assert_eq!(t.by_hour.len(), 24);
    }
}
