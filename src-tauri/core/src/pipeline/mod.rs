//! From inbox to truth: the confirm worker turns acknowledged deliveries into confirmed
//! orders, the reconciler re-checks unfinished jobs, and both publish changes on the bus.

mod confirm;
mod credentials;
mod events;
mod expectation;
mod reconciler;
mod slots;

pub use confirm::{ConfirmWorker, ConfirmWorkerConfig};
pub use credentials::{keep_probing, CredentialCheck, Verdict};
pub use events::{CoreEvent, EventBus, ReconcileReport};
pub use expectation::mismatch;
pub use reconciler::{Reconciler, ReconcilerConfig};
pub use slots::{GatewaySlots, Slot};
