//! From inbox to truth: the confirm worker turns acknowledged deliveries into confirmed
//! orders, the reconciler re-checks unfinished jobs, the refund watch re-checks recently paid
//! ones (refunds made elsewhere send no notification), and all publish changes on the bus.

mod confirm;
mod credentials;
mod events;
mod expectation;
mod reconciler;
mod refund_watch;
mod slots;

pub use confirm::{ConfirmWorker, ConfirmWorkerConfig};
pub use credentials::{keep_probing, CredentialCheck, Verdict};
pub use events::{CoreEvent, EventBus, ReconcileReport};
pub use expectation::mismatch;
pub use reconciler::{PassCount, Reconciler, ReconcilerConfig};
pub use refund_watch::{RefundWatch, RefundWatchConfig, WatchSchedule};
pub use slots::{GatewaySlots, Slot};
