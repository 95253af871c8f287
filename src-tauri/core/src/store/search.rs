//! Finding orders by a reference, decided without a database: when a search reads the next
//! range of references (exact, then prefixes, then suffixes), and how the matches are
//! ranked and cut to the limit. A backend reads the ranges, the ages and the summaries the
//! ranking asks for, and hands them back.

use super::{best_per_job, Found, RefMatch};
use crate::domain::OrderSummary;

/// How many different orders the matches name.
fn distinct_jobs(matches: &[RefMatch]) -> usize {
    matches
        .iter()
        .map(|m| m.job_ref.as_str())
        .collect::<std::collections::HashSet<_>>()
        .len()
}

/// Whether a search that found `matches` so far reads the next range: while they name
/// fewer than `limit` orders.
pub fn wants_more(matches: &[RefMatch], limit: u32) -> bool {
    distinct_jobs(matches) < limit as usize
}

/// How many references a prefix or suffix range reads: twice the limit, since one order
/// may match by several of its references.
pub fn range_len(limit: u32) -> u32 {
    limit.saturating_mul(2)
}

/// One entry per order (its best match), best matches first and newest first within
/// them, at most `limit`. Summaries are read only for the orders shown: every exact match
/// competes on age (one address may name many orders), while prefixes and suffixes keep
/// the range's order (the last references first) and only the first that fit are read.
#[derive(Debug)]
pub struct Ranking {
    classes: std::array::IntoIter<Vec<RefMatch>, 3>,
    exact: bool,
    limit: usize,
    found: Vec<Found>,
}

/// One class of matches (exact, prefix or suffix) with the room left for it.
#[derive(Debug)]
pub struct RankClass {
    members: Vec<RefMatch>,
    room: usize,
    by_age: bool,
}

impl Ranking {
    pub fn new(matches: Vec<RefMatch>, limit: u32) -> Self {
        Self {
            classes: best_per_job(matches).into_iter(),
            exact: true,
            limit: limit as usize,
            found: Vec::new(),
        }
    }

    /// The next class to show; `None` when the limit is reached or no class is left.
    pub fn next_class(&mut self) -> Option<RankClass> {
        let room = self.limit.saturating_sub(self.found.len());
        if room == 0 {
            return None;
        }
        let members = self.classes.next()?;
        let by_age = std::mem::replace(&mut self.exact, false) && members.len() > room;
        Some(RankClass {
            members,
            room,
            by_age,
        })
    }

    /// Adds the orders shown of a class, newest first.
    pub fn add(&mut self, mut shown: Vec<Found>) {
        shown.sort_by(|a, b| {
            b.order.first_seen_at.cmp(&a.order.first_seen_at).then(
                b.order
                    .payment_job_reference
                    .as_str()
                    .cmp(a.order.payment_job_reference.as_str()),
            )
        });
        self.found.extend(shown);
    }

    /// The orders found, ranked.
    pub fn found(self) -> Vec<Found> {
        self.found
    }
}

impl RankClass {
    /// The matches whose orders' first-seen times the ranking needs before it can choose
    /// (exact matches that do not all fit); empty when it needs none.
    pub fn to_age(&self) -> &[RefMatch] {
        if self.by_age {
            &self.members
        } else {
            &[]
        }
    }

    /// Orders the matches by the first-seen times of `to_age`, in its order (`None`: the
    /// order is gone), newest first. Any ordered form of the time will do, as long as
    /// it sorts as the time does.
    pub fn order_by_age<T: Ord>(&mut self, ages: Vec<Option<T>>) {
        if !self.by_age {
            return;
        }
        let mut aged: Vec<_> = ages.into_iter().zip(self.members.drain(..)).collect();
        aged.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.job_ref.cmp(&a.1.job_ref)));
        self.members = aged.into_iter().map(|(_, m)| m).collect();
    }

    /// The matches shown, whose summaries the store reads.
    pub fn shown(self) -> impl Iterator<Item = RefMatch> {
        self.members.into_iter().take(self.room)
    }
}

impl RefMatch {
    /// The match as found, with its order.
    pub fn found(self, order: OrderSummary) -> Found {
        Found {
            order,
            kind: self.kind,
            how: self.how,
            reference: self.reference,
        }
    }
}

/// The orders of what was found.
pub fn found_orders(found: Vec<Found>) -> Vec<OrderSummary> {
    found.into_iter().map(|f| f.order).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures::order;
    use crate::domain::PaymentStatus;
    use crate::store::{MatchHow, RefKind};

    fn hit(job: &str, how: MatchHow) -> RefMatch {
        RefMatch {
            job_ref: job.into(),
            kind: RefKind::Email,
            how,
            reference: format!("ref-{job}"),
        }
    }

    fn first_seen(job: &str) -> String {
        format!("2026-01-0{job}T00:00:00Z")
    }

    /// Runs a ranking as a store does, with orders first seen on day `job`.
    fn rank(matches: Vec<RefMatch>, limit: u32) -> (Vec<String>, Vec<Vec<String>>) {
        let mut ranking = Ranking::new(matches, limit);
        let mut aged = Vec::new();
        while let Some(mut class) = ranking.next_class() {
            let asked: Vec<String> = class.to_age().iter().map(|m| m.job_ref.clone()).collect();
            class.order_by_age(asked.iter().map(|j| Some(first_seen(j))).collect());
            aged.push(asked);
            let shown = class
                .shown()
                .map(|m| {
                    let o = order(&m.job_ref, PaymentStatus::Paid, &first_seen(&m.job_ref));
                    m.found(o)
                })
                .collect();
            ranking.add(shown);
        }
        let jobs = ranking
            .found()
            .iter()
            .map(|f| f.order.payment_job_reference.as_str().to_owned())
            .collect();
        (jobs, aged)
    }

    #[test]
    fn exact_matches_come_first_newest_first_and_one_per_order() {
        let (jobs, aged) = rank(
            vec![
                hit("3", MatchHow::Prefix),
                hit("1", MatchHow::Exact),
                hit("2", MatchHow::Exact),
                hit("1", MatchHow::Suffix),
                hit("4", MatchHow::Suffix),
            ],
            10,
        );
        assert_eq!(jobs, ["2", "1", "3", "4"]);
        // Everything fits: no ages are read.
        assert!(aged.iter().all(Vec::is_empty));
    }

    #[test]
    fn exact_matches_that_do_not_fit_compete_on_age_and_ranges_keep_their_order() {
        let exact = ["1", "5", "3"].map(|j| hit(j, MatchHow::Exact));
        let (jobs, aged) = rank(exact.to_vec(), 2);
        assert_eq!(jobs, ["5", "3"]);
        assert_eq!(aged, [vec!["1", "5", "3"]]);
        // Prefixes beyond the room: the range's first ones, shown newest first.
        let prefixes = ["1", "5", "3"].map(|j| hit(j, MatchHow::Prefix));
        let (jobs, aged) = rank(prefixes.to_vec(), 2);
        assert_eq!(jobs, ["5", "1"]);
        assert!(aged.iter().all(Vec::is_empty));
    }

    #[test]
    fn a_search_reads_the_next_range_while_it_names_too_few_orders() {
        let two_refs_one_order = [hit("1", MatchHow::Exact), hit("1", MatchHow::Prefix)];
        assert!(wants_more(&two_refs_one_order, 2));
        assert!(!wants_more(&two_refs_one_order, 1));
        assert_eq!(range_len(5), 10);
        assert_eq!(range_len(u32::MAX), u32::MAX);
    }
}
