use serde::Serialize;
use tokio::sync::broadcast;

use crate::domain::{
    Amount, ChangeSource, DeliveryState, MoveKind, MoveStatus, OrderSummary, PaymentStatus,
    Timestamp,
};
use crate::store::{Applied, StatusChange};

/// What the core tells its faces (window, CLI, alerts). One enum, so one place can map
/// it to window events.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum CoreEvent {
    /// A confirmed change of an order or one of its attempts.
    #[serde(rename_all = "camelCase")]
    OrderChanged {
        order: Box<OrderSummary>,
        /// The order's own status before this change; `None` when first seen.
        #[cfg_attr(feature = "ts", ts(type = "string | null"))]
        previous_status: Option<PaymentStatus>,
        /// `true` when the order's own status changed (not only an attempt's).
        status_changed: bool,
        source: ChangeSource,
    },
    /// A notification was acknowledged and waits for confirmation.
    #[serde(rename_all = "camelCase")]
    DeliveryReceived {
        #[cfg_attr(feature = "ts", ts(type = "string"))]
        received_at: Timestamp,
    },
    /// An acknowledged notification was settled without a confirmation: the gateway
    /// never knew its references (`unknown`), or its errors never went away (`dead`).
    #[serde(rename_all = "camelCase")]
    DeliverySettled {
        payment_job_reference: String,
        payment_reference: String,
        state: DeliveryState,
    },
    ReconcileFinished(ReconcileReport),
    /// A capture or refund first seen, or whose status changed (`MoneyChange`): each
    /// ends in one alert ("Refund of 2.50 GBP found (made in the portal)", "… completed",
    /// "… failed: reason").
    #[serde(rename_all = "camelCase")]
    MoneyMoved {
        order: Box<OrderSummary>,
        move_kind: MoveKind,
        refund_number: Option<String>,
        #[cfg_attr(feature = "ts", ts(type = "string"))]
        amount: Amount,
        /// `None` when first seen.
        from: Option<MoveStatus>,
        to: MoveStatus,
        failure: Option<String>,
        /// The owner's words for it.
        words: String,
        source: ChangeSource,
    },
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ReconcileReport {
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub at: Timestamp,
    pub checked: usize,
    /// Jobs whose status changed: caught up by polling.
    pub caught_up: usize,
    pub failed: usize,
}

impl CoreEvent {
    /// The owner changed something other than the status (shipped, un-shipped).
    pub fn owner_changed(order: &OrderSummary) -> Self {
        Self::OrderChanged {
            order: Box::new(order.clone()),
            previous_status: Some(order.status.clone()),
            status_changed: false,
            source: ChangeSource::Owner,
        }
    }

    /// The events for an applied answer: the order's change, if anything changed, then
    /// one per capture or refund that is new or changed status.
    pub fn all_from_applied(applied: &Applied, source: ChangeSource) -> Vec<Self> {
        let mut out: Vec<Self> = Self::from_applied(applied, source).into_iter().collect();
        let order = &applied.order;
        for m in &applied.money {
            let money = match &order.currency {
                Some(c) => format!("{} {c}", m.amount.display_in(c)),
                None => m.amount.to_string(),
            };
            out.push(Self::MoneyMoved {
                order: Box::new(order.clone()),
                move_kind: m.kind,
                refund_number: m.number.clone(),
                amount: m.amount,
                from: m.from,
                to: m.to,
                failure: m.failure.clone(),
                words: m.words(&money),
                source,
            });
        }
        out
    }

    /// The event for an applied answer, if anything changed.
    pub fn from_applied(applied: &Applied, source: ChangeSource) -> Option<Self> {
        if applied.changes.is_empty() && applied.money.is_empty() {
            return None;
        }
        let job: Option<&StatusChange> = applied.job_change();
        Some(Self::OrderChanged {
            order: Box::new(applied.order.clone()),
            previous_status: job.and_then(|c| c.from.clone()).or_else(|| {
                // Only an attempt changed: the order's status is unchanged.
                job.is_none().then(|| applied.order.status.clone())
            }),
            status_changed: job.is_some(),
            source,
        })
    }
}

#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<CoreEvent>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(1024).0,
        }
    }
}

impl EventBus {
    pub fn publish(&self, event: CoreEvent) {
        // No subscriber is fine: headless runs may have nobody listening.
        let _ = self.tx.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<CoreEvent> {
        self.tx.subscribe()
    }
}
