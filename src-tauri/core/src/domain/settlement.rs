//! When money at the gateway may be moved, from the gateway's own times: a payment is
//! settled from the first UTC midnight after it was paid (captures are batched then), so
//! before that it can only be cancelled, after it only refunded; a reservation must be
//! captured within 7 days of its authorisation or the bank releases the money.

use std::time::Duration;

use time::Time;

use super::{MoveKind, MoveStatus, PaymentSnapshot, Timestamp};

/// How long a reservation may wait for its capture.
pub const CAPTURE_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);

/// The payment's steps as the gateway listed them: `(action, status, time)`.
fn steps(p: &PaymentSnapshot) -> impl Iterator<Item = (&str, &str, Timestamp)> {
    p.raw
        .get("steps")
        .and_then(|s| s.as_array())
        .into_iter()
        .flatten()
        .filter_map(|s| {
            let text = |k: &str| s.get(k).and_then(|v| v.as_str());
            let at = Timestamp::parse_gateway(text("dateTimeUtc")?).ok()?;
            Some((
                text("action").unwrap_or(""),
                text("status").unwrap_or(""),
                at,
            ))
        })
}

/// When the payment was paid: its last completed capture step, else its last completed
/// capture, else (a paid payment the gateway gave no such time for) its latest activity.
pub fn paid_at(p: &PaymentSnapshot) -> Option<Timestamp> {
    let step = steps(p)
        .filter(|(action, status, _)| {
            action.eq_ignore_ascii_case("Capture") && status.eq_ignore_ascii_case("Completed")
        })
        .map(|(_, _, at)| at)
        .max();
    let capture = || {
        p.moves
            .iter()
            .filter(|m| m.kind == MoveKind::Capture && m.status == MoveStatus::Completed)
            .filter_map(|m| m.created_at)
            .max()
    };
    step.or_else(capture).or(p.updated_at).or(p.created_at)
}

/// The first UTC midnight after `paid`: from then the payment is settled.
pub fn settles_at(paid: Timestamp) -> Timestamp {
    let next = paid
        .inner()
        .date()
        .next_day()
        .unwrap_or(paid.inner().date());
    Timestamp::from_datetime(next.with_time(Time::MIDNIGHT).assume_utc())
}

/// Whether the payment is settled at `now`. One the gateway gave no time for counts as
/// settled: the gateway has the last word (a 406) if it is not.
pub fn is_settled(p: &PaymentSnapshot, now: Timestamp) -> bool {
    paid_at(p).is_none_or(|t| now >= settles_at(t))
}

/// When a Reserved payment was authorised: its completed `Authorise` step, else its
/// latest step (the authorisation is the last thing that happened to a reservation),
/// else its creation.
pub fn authorised_at(p: &PaymentSnapshot) -> Option<Timestamp> {
    let authorise = steps(p)
        .filter(|(action, status, _)| {
            action.eq_ignore_ascii_case("Authorise") && status.eq_ignore_ascii_case("Completed")
        })
        .map(|(_, _, at)| at)
        .min();
    authorise
        .or_else(|| steps(p).map(|(_, _, at)| at).max())
        .or(p.updated_at)
        .or(p.created_at)
}

/// The last moment a reservation can be captured: 7 days from its authorisation.
pub fn capture_deadline(p: &PaymentSnapshot) -> Option<Timestamp> {
    authorised_at(p).map(|t| t.plus(CAPTURE_WINDOW))
}

/// A date for the owner: "8 December 2026".
pub fn date_in_words(t: Timestamp) -> String {
    let d = t.inner().date();
    format!("{} {} {}", d.day(), d.month(), d.year())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures::payment_snapshot;
    use crate::domain::PaymentStatus;

    fn at(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    fn paid_with_steps(steps: serde_json::Value) -> PaymentSnapshot {
        let mut p = payment_snapshot("77", PaymentStatus::Paid, Some(at("2026-12-09T09:00:00Z")));
        p.raw = serde_json::json!({ "steps": steps });
        p
    }

    #[test]
    fn a_payment_settles_at_the_next_utc_midnight_after_its_capture() {
        let p = paid_with_steps(serde_json::json!([
            {"action": "Authorise", "status": "Completed", "dateTimeUtc": "2026-12-07T23:00:00Z"},
            {"action": "Capture", "status": "Completed", "dateTimeUtc": "2026-12-07T23:59:59.1234567"}
        ]));
        assert_eq!(paid_at(&p), Some(at("2026-12-07T23:59:59.1234567Z")));
        assert_eq!(settles_at(paid_at(&p).unwrap()), at("2026-12-08T00:00:00Z"));
        assert!(!is_settled(&p, at("2026-12-07T23:59:59.9Z")));
        assert!(is_settled(&p, at("2026-12-08T00:00:00Z")));
        assert_eq!(date_in_words(at("2026-12-08T00:00:00Z")), "8 December 2026");
    }

    #[test]
    fn without_a_capture_step_the_latest_activity_is_the_payment_time() {
        let p = paid_with_steps(serde_json::json!([]));
        assert_eq!(paid_at(&p), Some(at("2026-12-09T09:00:00Z")));
        let mut unknown = payment_snapshot("78", PaymentStatus::Paid, None);
        unknown.raw = serde_json::Value::Null;
        assert!(
            is_settled(&unknown, at("2026-12-09T09:00:00Z")),
            "the gateway decides"
        );
    }

    #[test]
    fn a_reservation_must_be_captured_within_seven_days_of_its_authorisation() {
        let mut p = payment_snapshot("79", PaymentStatus::Reserved, None);
        p.raw = serde_json::json!({"steps": [
            {"action": "Authorise", "status": "Completed", "dateTimeUtc": "2026-12-01T10:00:00Z"},
            {"action": "Other", "status": "Completed", "dateTimeUtc": "2026-12-02T10:00:00Z"}
        ]});
        assert_eq!(capture_deadline(&p), Some(at("2026-12-08T10:00:00Z")));
    }
}
