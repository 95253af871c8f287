//! The words of the business: references, money, statuses, timestamps.
//! Nothing here knows about HTTP, SQL or the window.

mod delivery;
#[cfg(test)]
pub(crate) mod fixtures;
mod freshness;
mod money;
mod movement;
mod order;
mod refs;
mod snapshot;
mod status;
mod timestamp;

pub use delivery::{DeliveryPolicy, DeliveryState, Failing, FailureClass, NextStep, StuckDelivery};
pub use freshness::{judge, Seen, Verdict};
pub use money::{Amount, Currency, MoneyError, DEFAULT_MINOR_DIGITS, KNOWN_CURRENCIES};
pub use movement::{MoneyMove, MoveKind, MoveStatus};
pub use order::{
    may_ship, Attempt, AuditView, ChangeSource, DeliveryView, MoneyMoveView, MoneyState,
    OrderDetail, OrderFlags, OrderSummary, ShipRefusal, StatusEventView,
};
pub use refs::{JobRef, PaymentRef, RefError, MAX_REF_LEN};
pub use snapshot::{job_status, Expected, JobSnapshot, PaymentSnapshot};
pub use status::PaymentStatus;
pub use timestamp::Timestamp;
pub use {order::ShipCheck, order::ShipPermit, order::ShipRules, status::Outcome};
