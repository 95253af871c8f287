use serde::Serialize;
use tokio::sync::broadcast;

use crate::domain::{ChangeSource, DeliveryState, OrderSummary, PaymentStatus, Timestamp};
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

    /// The event for an applied answer, if anything changed.
    pub fn from_applied(applied: &Applied, source: ChangeSource) -> Option<Self> {
        if applied.changes.is_empty() {
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
