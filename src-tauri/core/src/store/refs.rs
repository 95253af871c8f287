//! How an order was found by one of its references, and what every store keeps to find it:
//! the same keys and the same ranking, whichever database holds them.

use rust_decimal::prelude::ToPrimitive;

use crate::domain::{Amount, Currency};

/// Which reference matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub enum RefKind {
    Job,
    Payment,
    OrderNumber,
    Email,
}

/// How a reference matched the query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub enum MatchHow {
    Exact,
    Prefix,
    /// The query is the reference's last characters.
    Suffix,
}

/// Shorter prefixes and suffixes name a large share of every order: the search box (and
/// any suffix) waits for this many characters. The owner's actions list candidates for a
/// prefix of any length, which costs no more (one bounded range).
pub const MIN_PARTIAL: usize = 3;

/// One reference that matched a query.
#[derive(Debug, Clone, PartialEq)]
pub struct RefMatch {
    pub job_ref: String,
    pub kind: RefKind,
    pub how: MatchHow,
    /// The whole reference as stored (e-mail in lower case).
    pub reference: String,
}

/// An amount in the currency's minor units (pence), computed in decimal; digits beyond the
/// currency's are cut (they only order amounts within one minor unit). `None` when the
/// amount or currency is unknown or out of range.
pub fn amount_minor(amount: Option<Amount>, currency: Option<&Currency>) -> Option<i64> {
    let (amount, currency) = (amount?, currency?);
    let scale = rust_decimal::Decimal::from(10i64.checked_pow(currency.minor_digits())?);
    amount.decimal().checked_mul(scale)?.trunc().to_i64()
}

/// An e-mail as it is indexed and looked up: trimmed, in lower case.
pub fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A reference written backwards: its last characters become a prefix.
pub fn reversed(s: &str) -> String {
    s.chars().rev().collect()
}

/// The end of the range of strings that start with `prefix` (exclusive).
pub fn after_prefix(prefix: &str) -> String {
    format!("{prefix}\u{10FFFF}")
}

/// Matches in the order a store ranks them: one per job (its best match), exact matches,
/// then prefixes, then suffixes, each class in the order its range was read.
pub fn best_per_job(matches: Vec<RefMatch>) -> [Vec<RefMatch>; 3] {
    let mut seen = std::collections::HashSet::new();
    let mut classes: [Vec<RefMatch>; 3] = Default::default();
    let mut sorted = matches;
    // Stable: within a class the range's order is kept.
    sorted.sort_by_key(|m| m.how);
    for m in sorted {
        if seen.insert(m.job_ref.clone()) {
            let class = match m.how {
                MatchHow::Exact => 0,
                MatchHow::Prefix => 1,
                MatchHow::Suffix => 2,
            };
            classes[class].push(m);
        }
    }
    classes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minor_units_follow_the_currency_in_decimal() {
        let gbp = Currency::parse("GBP").unwrap();
        let jpy = Currency::parse("JPY").unwrap();
        let a = |s: &str| Some(s.parse::<Amount>().unwrap());
        assert_eq!(amount_minor(a("0.29"), Some(&gbp)), Some(29));
        assert_eq!(amount_minor(a("1234.5"), Some(&gbp)), Some(123450));
        assert_eq!(amount_minor(a("1500"), Some(&jpy)), Some(1500));
        assert_eq!(amount_minor(a("0.1"), None), None);
        assert_eq!(amount_minor(None, Some(&gbp)), None);
    }

    #[test]
    fn a_prefix_range_ends_after_every_string_that_starts_with_it() {
        let end = after_prefix("ab");
        for s in ["ab", "ab0", "abz", "ab~~~", "ab\u{FFFD}"] {
            assert!(s >= "ab" && s < end.as_str(), "{s}");
        }
        assert!("ac" >= end.as_str());
    }
}
