//! What a write changed: a confirmation's status changes, the deliveries it settles, and a
//! payment job this app created.

use super::WorkerId;
use crate::domain::{
    Amount, ChangeSource, Currency, JobRef, OrderSummary, PaymentRef, PaymentStatus,
};

#[derive(Debug, Clone, PartialEq)]
pub struct StatusChange {
    /// `None` for the job (the order) itself.
    pub payment_ref: Option<PaymentRef>,
    pub from: Option<PaymentStatus>,
    pub to: PaymentStatus,
}

#[derive(Debug, Clone)]
pub struct Applied {
    /// The answer was older than what is stored and changed nothing.
    pub stale: bool,
    pub changes: Vec<StatusChange>,
    /// Captures and refunds first seen or whose status changed (`plan_moves`).
    pub money: Vec<super::MoneyChange>,
    pub order: OrderSummary,
}

impl Applied {
    /// The change of the order's own status, if it changed.
    pub fn job_change(&self) -> Option<&StatusChange> {
        self.changes.iter().find(|c| c.payment_ref.is_none())
    }
}

/// The deliveries a confirmation is about: the pending ones of one payment up to an id that
/// this worker holds, named by the references that were asked (the gateway may spell its
/// own differently, e.g. without leading zeros). A delivery the worker does not hold (one
/// whose row committed after the worker read past its id, or one another worker took) is
/// left for a confirmation of its own.
#[derive(Debug, Clone)]
pub struct Held {
    pub job_ref: JobRef,
    pub payment_ref: PaymentRef,
    pub up_to_id: i64,
    pub worker: WorkerId,
}

#[derive(Debug, Clone)]
pub struct CreatedJobRecord {
    pub job_ref: JobRef,
    pub first_payment: Option<PaymentRef>,
    pub order_number: String,
    pub email: String,
    pub amount: Amount,
    pub currency: Currency,
    pub payment_link: Option<String>,
    pub note: Option<String>,
    pub raw: serde_json::Value,
}

/// A change another process made to an order in a shared store, as it committed: enough
/// for this process to tell its own faces as if it had made it (a window alerts on a
/// payment that a `serve` on another machine confirmed).
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteChange {
    /// Its place in the shared store's change log: a follower that missed changes reads
    /// the log after the last place it handled (`Store::changes_after`).
    pub seq: i64,
    pub job_ref: JobRef,
    /// The order's own status before the change; `None` when first seen.
    pub previous_status: Option<PaymentStatus>,
    /// Whether the order's own status changed (not only an attempt or the shipped mark).
    pub status_changed: bool,
    pub source: ChangeSource,
}

/// A change as the shared store's log holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedChange {
    pub change: RemoteChange,
    /// This process made it (and told its own faces then): only its place counts.
    pub ours: bool,
}

/// Other processes' changes as they commit, and where in the log they start.
#[derive(Debug)]
pub struct RemoteChanges {
    pub receiver: tokio::sync::broadcast::Receiver<RemoteChange>,
    /// Every change up to this place was handed out before `receiver` subscribed: a
    /// receiver that lags reads the log after it.
    pub after: i64,
}
