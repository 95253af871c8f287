//! What the references index holds and how it is read, decided once for every backend:
//! the stored code of each kind, which references a write of an order adds and drops,
//! which spellings of a query a lookup reads, and how a stored row becomes a match. A
//! backend runs the statements.

use super::{email_key, reversed, MatchHow, RefKind, RefMatch, MIN_PARTIAL};

/// Exact matches read at most (an e-mail may name many orders; the newest are kept).
pub const MAX_EXACT: u32 = 1000;

/// The code of an e-mail reference as stored (`refs.kind = 4`, written into queries).
pub const EMAIL_CODE: i16 = 4;

impl RefKind {
    /// How a reference kind is stored (`refs.kind`).
    pub fn code(self) -> i16 {
        match self {
            Self::Job => 1,
            Self::Payment => 2,
            Self::OrderNumber => 3,
            Self::Email => EMAIL_CODE,
        }
    }

    /// The kind stored as `code`; the words for a code this build does not know.
    pub fn from_code(code: i64) -> Result<Self, String> {
        Ok(match code {
            1 => Self::Job,
            2 => Self::Payment,
            3 => Self::OrderNumber,
            4 => Self::Email,
            other => return Err(format!("reference kind {other}")),
        })
    }

    /// Whether its last characters name an order (kept backwards in `ref_tails`):
    /// e-mail addresses are looked up by their start only.
    pub fn has_tail(self) -> bool {
        self != Self::Email
    }
}

impl RefMatch {
    /// A match as a range read it: `stored` is the reference as the range holds it
    /// (backwards for a suffix), `kind` its stored code.
    pub fn read(stored: String, job_ref: String, kind: i64, how: MatchHow) -> Result<Self, String> {
        let reference = if how == MatchHow::Suffix {
            reversed(&stored)
        } else {
            stored
        };
        Ok(Self {
            job_ref,
            kind: RefKind::from_code(kind)?,
            how,
            reference,
        })
    }
}

/// A job's own references as stored on its row (order number and e-mail may change).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobNames {
    pub order_number: Option<String>,
    pub email: Option<String>,
}

/// The references a write of job `job` adds and drops, as (kind, reference as indexed).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IndexChanges {
    /// Dropped first: names the row no longer holds.
    pub remove: Vec<(RefKind, String)>,
    /// Added (again: adding a reference already held is harmless).
    pub insert: Vec<(RefKind, String)>,
}

impl IndexChanges {
    /// What to index after job `job`'s row was written: `before` is what the row named
    /// before this write (`None` for a new job), `now` what it names now, so a changed
    /// order number or e-mail stops finding it.
    pub fn of(job: &str, before: Option<&JobNames>, now: &JobNames) -> Self {
        let mut changes = Self::default();
        if let Some(before) = before {
            if before == now {
                return changes;
            }
            if let Some(o) = before.order_number.as_deref() {
                if now.order_number.as_deref() != Some(o) {
                    changes.remove.push((RefKind::OrderNumber, o.to_owned()));
                }
            }
            if let Some(e) = before.email.as_deref() {
                if now.email.as_deref().map(email_key) != Some(email_key(e)) {
                    changes.remove.push((RefKind::Email, email_key(e)));
                }
            }
        } else {
            changes.insert.push((RefKind::Job, job.to_owned()));
        }
        if let Some(o) = now.order_number.as_deref() {
            changes.insert.push((RefKind::OrderNumber, o.to_owned()));
        }
        if let Some(e) = now.email.as_deref() {
            changes.insert.push((RefKind::Email, email_key(e)));
        }
        changes
    }
}

/// The spellings a prefix lookup reads, each with whether only e-mails may match it: the
/// query as typed, and in e-mail form (lower case) where that differs. None when the
/// query is shorter than `min_len` characters (at least one).
pub fn prefix_spellings(query: &str, min_len: usize) -> Vec<(String, bool)> {
    if query.chars().count() < min_len.max(1) {
        return Vec::new();
    }
    let mut spellings = vec![(query.to_owned(), false)];
    let folded = email_key(query);
    if folded != query {
        spellings.push((folded, true));
    }
    spellings
}

/// What a suffix lookup reads: the query backwards, as `ref_tails` holds references;
/// `None` when it is shorter than `MIN_PARTIAL` characters.
pub fn suffix_key(query: &str) -> Option<String> {
    (query.chars().count() >= MIN_PARTIAL).then(|| reversed(query))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(order_number: Option<&str>, email: Option<&str>) -> JobNames {
        JobNames {
            order_number: order_number.map(str::to_owned),
            email: email.map(str::to_owned),
        }
    }

    #[test]
    fn kinds_read_back_from_their_codes() {
        for kind in [
            RefKind::Job,
            RefKind::Payment,
            RefKind::OrderNumber,
            RefKind::Email,
        ] {
            assert_eq!(RefKind::from_code(i64::from(kind.code())), Ok(kind));
        }
        assert_eq!(RefKind::from_code(9), Err("reference kind 9".into()));
        assert!(!RefKind::Email.has_tail() && RefKind::Payment.has_tail());
    }

    #[test]
    fn a_suffix_match_reads_its_reference_forwards() {
        let m = RefMatch::read("321".into(), "100".into(), 2, MatchHow::Suffix).unwrap();
        assert_eq!((m.reference.as_str(), m.kind), ("123", RefKind::Payment));
        let m = RefMatch::read("321".into(), "100".into(), 3, MatchHow::Prefix).unwrap();
        assert_eq!(m.reference, "321");
    }

    #[test]
    fn a_new_job_is_indexed_by_every_name_it_has() {
        let now = names(Some("A-1"), Some(" Ann@Shop.example "));
        let changes = IndexChanges::of("100", None, &now);
        assert!(changes.remove.is_empty());
        assert_eq!(
            changes.insert,
            [
                (RefKind::Job, "100".to_owned()),
                (RefKind::OrderNumber, "A-1".to_owned()),
                (RefKind::Email, "ann@shop.example".to_owned()),
            ]
        );
    }

    #[test]
    fn a_changed_name_stops_finding_the_job_and_an_unchanged_row_writes_nothing() {
        let before = names(Some("A-1"), Some("ann@shop.example"));
        assert_eq!(
            IndexChanges::of("100", Some(&before), &before),
            IndexChanges::default()
        );
        // The e-mail only changes case: it is the same key, kept.
        let now = names(Some("A-2"), Some("ANN@shop.example"));
        let changes = IndexChanges::of("100", Some(&before), &now);
        assert_eq!(changes.remove, [(RefKind::OrderNumber, "A-1".to_owned())]);
        assert_eq!(
            changes.insert,
            [
                (RefKind::OrderNumber, "A-2".to_owned()),
                (RefKind::Email, "ann@shop.example".to_owned()),
            ]
        );
    }

    #[test]
    fn lookups_read_the_spellings_long_enough() {
        assert!(prefix_spellings("", 0).is_empty());
        assert!(prefix_spellings("ab", 3).is_empty());
        assert_eq!(prefix_spellings("123", 1), [("123".to_owned(), false)]);
        assert_eq!(
            prefix_spellings("Ann", 3),
            [("Ann".to_owned(), false), ("ann".to_owned(), true)]
        );
        assert_eq!(suffix_key("12"), None);
        assert_eq!(suffix_key("123").as_deref(), Some("321"));
    }
}
