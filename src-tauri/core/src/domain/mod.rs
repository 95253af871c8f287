//! The words of the business: references, money, statuses, timestamps.
//! Nothing here knows about HTTP, SQL or the window.

mod delivery;
#[cfg(test)]
pub(crate) mod fixtures;
mod freshness;
mod money;
mod money_plan;
mod movement;
mod order;
mod refs;
mod refund;
mod settlement;
mod snapshot;
mod status;
mod timestamp;

pub use delivery::{DeliveryPolicy, DeliveryState, Failing, FailureClass, NextStep, StuckDelivery};
pub use freshness::{judge, Seen, Verdict};
pub use money::{Amount, Currency, MoneyError, DEFAULT_MINOR_DIGITS, KNOWN_CURRENCIES};
pub use money_plan::{plan_cancel, plan_capture, MoneyPlan, PlannedMove};
pub use movement::{MoneyMove, MoveKind, MoveStatus};
pub use order::{
    may_ship, Attempt, AuditView, ChangeSource, DeliveryView, MoneyMoveView, MoneyState,
    OrderDetail, OrderFlags, OrderSummary, ShipRefusal, StatusEventView,
};
pub use refs::{JobRef, PaymentRef, RefError, MAX_REF_LEN};
pub use refund::{
    look_for_refund, new_refund_number, payment_balances, plan_refund, refundable_balance,
    PaymentBalance, RefundLookup,
};
pub use settlement::{
    authorised_at, capture_deadline, date_in_words, is_settled, paid_at, settles_at, CAPTURE_WINDOW,
};
pub use snapshot::{job_status, Expected, JobSnapshot, PaymentSnapshot};
pub use status::PaymentStatus;
pub use timestamp::Timestamp;
pub use {order::ShipCheck, order::ShipPermit, order::ShipRules, status::Outcome};
