//! Desktop alerts through the notification service on the session bus: on Paid and on a
//! job's final failure, never twice for one change.

use std::collections::HashSet;
use std::sync::Mutex;

use crate::domain::{OrderSummary, PaymentStatus};

/// Remembers which (order, status) pairs were announced. Bounded: old entries are of no
/// use once an order has moved on.
#[derive(Default)]
pub struct Alerts {
    announced: Mutex<HashSet<(String, String)>>,
}

const REMEMBER: usize = 10_000;

impl Alerts {
    /// Raises an alert for this change if it deserves one and was not raised before.
    pub fn on_change(&self, order: &OrderSummary, enabled: bool) {
        if !enabled {
            return;
        }
        let Some((summary, body)) = text(order) else {
            return;
        };
        let key = (
            order.payment_job_reference.to_string(),
            order.status.as_str().to_owned(),
        );
        {
            let mut seen = self.announced.lock().unwrap_or_else(|p| p.into_inner());
            if seen.len() >= REMEMBER {
                seen.clear();
            }
            if !seen.insert(key) {
                return;
            }
        }
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
