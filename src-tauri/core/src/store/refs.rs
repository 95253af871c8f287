//! How an order was found by one of its references.

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
