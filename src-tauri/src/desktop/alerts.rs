//! Desktop alerts through the notification service on the session bus: on Paid and on a
//! job's final failure, once per outcome class (Paid then Verified is one alert).

use std::collections::HashSet;
use std::sync::Mutex;

use crate::domain::{OrderSummary, Outcome, PaymentStatus};

/// Remembers which (order, outcome class) pairs were announced. Bounded: old entries are
/// of no use once an order has moved on.
#[derive(Default)]
pub struct Alerts {
    announced: Mutex<HashSet<(String, Outcome)>>,
}

const REMEMBER: usize = 10_000;

impl Alerts {
    /// The outcome this status change newly reaches, if any: the one decision behind both
    /// the desktop alert and the tray's count. A change within one class (Paid→Verified,
    /// Failed→Declined) or an outcome already announced is not news.
    pub fn news(&self, order: &OrderSummary, previous: Option<&PaymentStatus>) -> Option<Outcome> {
        let outcome = order.status.outcome()?;
        if previous.and_then(PaymentStatus::outcome) == Some(outcome) {
            return None;
        }
        let key = (order.payment_job_reference.to_string(), outcome);
        let mut seen = self.announced.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= REMEMBER {
            seen.clear();
        }
        seen.insert(key).then_some(outcome)
    }

    /// Shows the desktop alert for news `news` returned.
    pub fn show(&self, order: &OrderSummary, enabled: bool) {
        if !enabled {
            return;
        }
        let Some((summary, body)) = text(order) else {
            return;
        };
        // The D-Bus call blocks; keep it off the async threads.
        std::thread::spawn(move || {
            let shown = notify_rust::Notification::new()
                .appname("Tillwatch")
                .summary(&summary)
                .body(&body)
                .show();
            if let Err(e) = shown {
                tracing::warn!(error = %e, "desktop alert not shown");
            }
        });
    }
}

/// What to say, if anything: paid, or a final failure of the whole job.
pub fn text(order: &OrderSummary) -> Option<(String, String)> {
    let money = match (&order.amount, &order.currency) {
        (Some(a), Some(c)) => format!("{} {c}", a.display_in(c)),
        _ => String::new(),
    };
    let order_no = order
        .order_number
        .as_deref()
        .map(|n| format!("Order {n}"))
        .unwrap_or_else(|| format!("Job {}", order.payment_job_reference));
    if order.status.is_paid() {
        Some((format!("Paid: {money}"), format!("{order_no} is paid.")))
    } else if order.status.is_failure() && order.status != PaymentStatus::Cancelled {
        Some((
            format!("Payment failed: {money}"),
            format!("{order_no}: the payment ended {}.", order.status),
        ))
    } else if order.status == PaymentStatus::Cancelled {
        Some((
            format!("Payment cancelled: {money}"),
            format!("{order_no} was cancelled by the shopper."),
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{JobRef, Timestamp};

    fn order(job: &str, status: &str) -> OrderSummary {
        let at = Timestamp::parse("2026-11-24T10:00:00Z").unwrap();
        OrderSummary {
            payment_job_reference: JobRef::parse(job).unwrap(),
            order_number: Some("1042".into()),
            email: None,
            status: PaymentStatus::from(status),
            amount: None,
            currency: None,
            attempts: 1,
            shipped: false,
            shipped_at: None,
            created_here: false,
            mismatch: None,
            first_seen_at: at,
            updated_at: at,
        }
    }

    /// Feeds a job's status changes in order; the outcomes that would alert.
    fn decisions(alerts: &Alerts, job: &str, statuses: &[&str]) -> Vec<Outcome> {
        let mut previous: Option<PaymentStatus> = None;
        let mut out = Vec::new();
        for s in statuses {
            let o = order(job, s);
            out.extend(alerts.news(&o, previous.as_ref()));
            previous = Some(o.status);
        }
        out
    }

    #[test]
    fn paid_then_verified_alerts_once() {
        let alerts = Alerts::default();
        assert_eq!(
            decisions(&alerts, "1", &["Pending", "Paid", "Verified"]),
            vec![Outcome::Paid]
        );
    }

    #[test]
    fn failed_then_declined_alerts_once() {
        let alerts = Alerts::default();
        assert_eq!(
            decisions(&alerts, "2", &["Pending", "Failed", "Declined"]),
            vec![Outcome::NotPaid]
        );
    }

    #[test]
    fn verified_first_seen_without_paid_still_alerts_and_never_twice() {
        let alerts = Alerts::default();
        // The Paid answer was missed (a poll saw Verified first), then it is seen again
        // from a stale source: one alert.
        let verified = order("3", "Verified");
        assert_eq!(alerts.news(&verified, None), Some(Outcome::Paid));
        let paid = order("3", "Paid");
        assert_eq!(alerts.news(&paid, Some(&PaymentStatus::Pending)), None);
        // A different order is its own news.
        assert_eq!(alerts.news(&order("4", "Paid"), None), Some(Outcome::Paid));
    }
}
