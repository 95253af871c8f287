//! Desktop alerts through the notification service on the session bus: on Paid and on a
//! job's final failure, once per outcome class (Paid then Verified is one alert).

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex, OnceLock};

use crate::domain::{OrderSummary, Outcome, PaymentStatus};

/// Remembers which (order, outcome class) pairs were announced. Bounded: old entries are
/// of no use once an order has moved on.
#[derive(Default)]
pub struct Alerts {
    announced: Mutex<HashSet<(String, Outcome)>>,
    /// The one thread that talks to the notification service, started with the first alert.
    shower: OnceLock<Shower>,
}

const REMEMBER: usize = 10_000;

/// Alerts waiting for the notification service. Beyond this, a burst is summed up in one
/// alert rather than a thread (and a D-Bus call) per payment.
const QUEUE: usize = 16;

/// A summary and a body.
type Alert = (String, String);

/// One thread showing alerts in turn from a bounded queue; what overflows it is counted
/// and told in one closing alert.
struct Shower {
    queue: SyncSender<Alert>,
    overflow: Arc<AtomicU32>,
}

impl Shower {
    fn start(show: impl Fn(&Alert) + Send + 'static) -> Shower {
        let (queue, waiting) = sync_channel(QUEUE);
        let overflow = Arc::new(AtomicU32::new(0));
        let missed = Arc::clone(&overflow);
        std::thread::Builder::new()
            .name("alerts".into())
            .spawn(move || show_in_turn(&waiting, &missed, show))
            .expect("a thread for desktop alerts");
        Shower { queue, overflow }
    }

    fn offer(&self, alert: Alert) {
        if let Err(TrySendError::Full(_)) = self.queue.try_send(alert) {
            self.overflow.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn show_in_turn(waiting: &Receiver<Alert>, overflow: &AtomicU32, show: impl Fn(&Alert)) {
    loop {
        let alert = match waiting.try_recv() {
            Ok(alert) => alert,
            Err(TryRecvError::Empty) => {
                // The queue is drained: one alert for everything that did not fit in it.
                let missed = overflow.swap(0, Ordering::Relaxed);
                if missed > 0 {
                    show(&overflow_alert(missed));
                    continue;
                }
                match waiting.recv() {
                    Ok(alert) => alert,
                    Err(_) => return,
                }
            }
            Err(TryRecvError::Disconnected) => return,
        };
        show(&alert);
    }
}

fn overflow_alert(missed: u32) -> Alert {
    let what = if missed == 1 {
        "1 more payment update".to_owned()
    } else {
        format!("{missed} more payment updates")
    };
    (what, "Open Tillwatch to see them all.".to_owned())
}

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
        let Some(alert) = text(order) else {
            return;
        };
        // The D-Bus call blocks: it is made on the alerts thread, never the async ones.
        self.shower
            .get_or_init(|| Shower::start(notify))
            .offer(alert);
    }
}

impl Alerts {
    /// The alert for a capture or refund that was found or ended (`CoreEvent::MoneyMoved`:
    /// the store reports each change once, so each end state alerts once).
    pub fn show_money(&self, order: &OrderSummary, words: &str, enabled: bool) {
        if !enabled {
            return;
        }
        let order_no = order
            .order_number
            .as_deref()
            .map(|n| format!("Order {n}"))
            .unwrap_or_else(|| format!("Job {}", order.payment_job_reference));
        self.shower
            .get_or_init(|| Shower::start(notify))
            .offer((words.to_owned(), format!("{order_no}.")));
    }
}

fn notify((summary, body): &Alert) {
    let shown = notify_rust::Notification::new()
        .appname("Tillwatch")
        .summary(summary)
        .body(body)
        .show();
    if let Err(e) = shown {
        tracing::warn!(error = %e, "desktop alert not shown");
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
            paid_amount: None,
            refunded_amount: crate::domain::Amount::ZERO,
            refund_pending_amount: crate::domain::Amount::ZERO,
            capture_by: None,
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
    fn a_burst_beyond_the_queue_is_summed_up_in_one_alert() {
        let (shown_tx, shown) = std::sync::mpsc::channel::<Alert>();
        let (go_tx, go) = std::sync::mpsc::channel::<()>();
        let go = Mutex::new(go);
        // The notification service is slow: the first alert waits until the test says go.
        let shower = Shower::start(move |alert: &Alert| {
            if alert.0 == "first" {
                go.lock().unwrap().recv().unwrap();
            }
            shown_tx.send(alert.clone()).unwrap();
        });
        shower.offer(("first".into(), String::new()));
        let first = shown.recv_timeout(std::time::Duration::from_millis(50));
        assert!(first.is_err(), "the first alert is still being shown");
        for i in 0..QUEUE + 5 {
            shower.offer((format!("alert {i}"), String::new()));
        }
        go_tx.send(()).unwrap();
        let all: Vec<String> = (0..QUEUE + 2)
            .map(|_| {
                shown
                    .recv_timeout(std::time::Duration::from_secs(5))
                    .unwrap()
                    .0
            })
            .collect();
        assert_eq!(all[0], "first");
        assert_eq!(all[1], "alert 0");
        assert_eq!(all[QUEUE], format!("alert {}", QUEUE - 1));
        assert_eq!(all[QUEUE + 1], "5 more payment updates");
        assert!(shown
            .recv_timeout(std::time::Duration::from_millis(100))
            .is_err());
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
