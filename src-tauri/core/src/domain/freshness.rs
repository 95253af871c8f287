//! Which of two gateway answers to believe. Answers arrive out of order (notifications
//! race the reconciler, the gateway's replicas lag), so an answer only replaces what we
//! hold when it is newer by the gateway's clock; when the clock cannot tell (equal
//! times, or no time at all) it may only move a status forward, never back or sideways.

use super::{PaymentStatus, Timestamp};

/// A status and the gateway's time of it (`lastUpdateTimeUtc`), as held or as answered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Seen<'a> {
    pub status: &'a PaymentStatus,
    pub at: Option<Timestamp>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Apply,
    /// Older than what we hold, or not clearly newer and not a step forward.
    Ignore,
}

/// How far along a payment is: in progress, authorised, final.
fn progress(status: &PaymentStatus) -> u8 {
    if status.is_final() {
        2
    } else if *status == PaymentStatus::Reserved {
        1
    } else {
        0
    }
}

/// Whether `incoming` may replace `stored` (nothing stored: always).
pub fn judge(stored: Option<Seen<'_>>, incoming: Seen<'_>) -> Verdict {
    let Some(stored) = stored else {
        return Verdict::Apply;
    };
    match (stored.at, incoming.at) {
        (Some(held), Some(new)) if new > held => Verdict::Apply,
        (Some(held), Some(new)) if new < held => Verdict::Ignore,
        // Equal times, or a side without one: the clock cannot order them.
        _ if incoming.status == stored.status => Verdict::Apply,
        _ if progress(incoming.status) > progress(stored.status) => Verdict::Apply,
        _ => Verdict::Ignore,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every final word, the in-progress ones, and a word nobody has seen yet.
    fn statuses() -> Vec<PaymentStatus> {
        PaymentStatus::FINAL_WORDS
            .iter()
            .chain(&["Pending", "Reserved", "Commissioned", "SomethingNew"])
            .map(|w| PaymentStatus::from(*w))
            .collect()
    }

    fn times() -> Vec<Option<Timestamp>> {
        vec![
            None,
            Some(Timestamp::from_unix_millis(1_000)),
            Some(Timestamp::from_unix_millis(2_000)),
        ]
    }

    /// Every answer the tests combine: each status at each time (or none).
    fn answers() -> Vec<(PaymentStatus, Option<Timestamp>)> {
        let mut out = Vec::new();
        for s in statuses() {
            for t in times() {
                out.push((s.clone(), t));
            }
        }
        out
    }

    type Held = Option<(PaymentStatus, Option<Timestamp>)>;

    /// What the store does with a verdict: take the status, keep the newest time known.
    fn apply(held: Held, answer: &(PaymentStatus, Option<Timestamp>)) -> Held {
        let stored = held.as_ref().map(|(s, at)| Seen { status: s, at: *at });
        let incoming = Seen {
            status: &answer.0,
            at: answer.1,
        };
        match judge(stored, incoming) {
            Verdict::Apply => Some((
                answer.0.clone(),
                answer.1.or(held.as_ref().and_then(|h| h.1)),
            )),
            Verdict::Ignore => held,
        }
    }

    #[test]
    fn an_older_answer_never_wins() {
        for (hs, ht) in answers() {
            for (is, it) in answers() {
                if let (Some(h), Some(i)) = (ht, it) {
                    let v = judge(
                        Some(Seen {
                            status: &hs,
                            at: ht,
                        }),
                        Seen {
                            status: &is,
                            at: it,
                        },
                    );
                    if i < h {
                        assert_eq!(v, Verdict::Ignore, "{hs}@{h} then {is}@{i}");
                    }
                    if i > h {
                        assert_eq!(v, Verdict::Apply, "{hs}@{h} then {is}@{i}");
                    }
                }
            }
        }
    }

    #[test]
    fn without_a_newer_time_a_status_only_moves_forward() {
        for (hs, ht) in answers() {
            for (is, it) in answers() {
                let newer = matches!((ht, it), (Some(h), Some(i)) if i > h);
                if newer {
                    continue;
                }
                let v = judge(
                    Some(Seen {
                        status: &hs,
                        at: ht,
                    }),
                    Seen {
                        status: &is,
                        at: it,
                    },
                );
                if v == Verdict::Apply && is != hs {
                    assert!(
                        progress(&is) > progress(&hs),
                        "{hs}@{ht:?} flipped to {is}@{it:?}"
                    );
                }
            }
        }
        // The cases the issue names: no Reserved↔Pending flip at an equal or missing time.
        let t = Some(Timestamp::from_unix_millis(1_000));
        let (reserved, pending) = (PaymentStatus::Reserved, PaymentStatus::Pending);
        for at in [t, None] {
            let held = Seen {
                status: &reserved,
                at: t,
            };
            assert_eq!(
                judge(
                    Some(held),
                    Seen {
                        status: &pending,
                        at
                    }
                ),
                Verdict::Ignore
            );
        }
    }

    #[test]
    fn any_two_answers_end_the_same_in_either_order() {
        for a in answers() {
            for b in answers() {
                // Two different words at the same stage with no clock to order them
                // (e.g. Failed and Declined, both undated): the first one stays.
                let clock_orders = matches!((a.1, b.1), (Some(x), Some(y)) if x != y);
                let tie = progress(&a.0) == progress(&b.0) && a.0 != b.0;
                if tie && !clock_orders {
                    continue;
                }
                let ab = apply(apply(None, &a), &b).map(|h| h.0);
                let ba = apply(apply(None, &b), &a).map(|h| h.0);
                assert_eq!(ab, ba, "{a:?} and {b:?}");
            }
        }
    }

    #[test]
    fn the_same_answer_twice_changes_nothing() {
        for a in answers() {
            let once = apply(None, &a);
            assert_eq!(apply(once.clone(), &a), once);
        }
    }
}
