//! The order as the owner sees it: one payment job, its attempts, its deliveries and its
//! history. These are read models shared by the CLI (`--json`), the window and exports;
//! their camelCase field names are a stable interface.

use serde::Serialize;
use ts_rs::TS;

use super::{Amount, Currency, DeliveryState, JobRef, PaymentRef, PaymentStatus, Timestamp};

#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct OrderSummary {
    #[ts(type = "string")]
    pub payment_job_reference: JobRef,
    pub order_number: Option<String>,
    pub email: Option<String>,
    #[ts(type = "string")]
    pub status: PaymentStatus,
    #[ts(type = "string | null")]
    pub amount: Option<Amount>,
    #[ts(type = "string | null")]
    pub currency: Option<Currency>,
    pub attempts: u32,
    pub shipped: bool,
    #[ts(type = "string | null")]
    pub shipped_at: Option<Timestamp>,
    pub created_here: bool,
    /// Why the gateway's answer disagrees with the job we created, if it does.
    pub mismatch: Option<String>,
    #[ts(type = "string")]
    pub first_seen_at: Timestamp,
    #[ts(type = "string")]
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct OrderDetail {
    #[serde(flatten)]
    pub summary: OrderSummary,
    pub shipping_note: Option<String>,
    pub payment_link: Option<String>,
    #[ts(type = "string | null")]
    pub last_confirmed_at: Option<Timestamp>,
    pub payments: Vec<Attempt>,
    pub deliveries: Vec<DeliveryView>,
    pub status_events: Vec<StatusEventView>,
    pub audit: Vec<AuditView>,
    /// The gateway's last answer for the job, as it came.
    #[ts(type = "unknown")]
    pub raw_last_answer: Option<serde_json::Value>,
}

/// One shopper attempt: a payment inside the job.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    #[ts(type = "string")]
    pub payment_reference: PaymentRef,
    pub attempt: u32,
    #[ts(type = "string")]
    pub status: PaymentStatus,
    #[ts(type = "string | null")]
    pub amount: Option<Amount>,
    pub failure_code: Option<String>,
    pub failure_reason: Option<String>,
    #[ts(type = "string | null")]
    pub created_at: Option<Timestamp>,
    #[ts(type = "string")]
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    #[ts(type = "number")]
    pub id: i64,
    #[ts(type = "string")]
    pub received_at: Timestamp,
    pub payment_reference: Option<String>,
    pub response_status: u16,
    pub state: DeliveryState,
    pub outcome: Option<String>,
}

impl DeliveryView {
    pub fn state_word(&self) -> &'static str {
        self.state.as_str()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct StatusEventView {
    #[ts(type = "string | null")]
    pub payment_reference: Option<PaymentRef>,
    pub from: Option<String>,
    pub to: String,
    pub source: ChangeSource,
    #[ts(type = "string")]
    pub at: Timestamp,
}

/// Something the owner did to an order.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct AuditView {
    pub action: String,
    pub detail: Option<String>,
    #[ts(type = "string")]
    pub at: Timestamp,
}

/// Who told us about a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum ChangeSource {
    Notification,
    Poll,
    Owner,
}

impl ChangeSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Notification => "notification",
            Self::Poll => "poll",
            Self::Owner => "owner",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Notification, Self::Poll, Self::Owner]
            .into_iter()
            .find(|c| c.as_str() == s)
    }
}

/// Why an order cannot be marked as shipped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShipRefusal {
    #[error("order is {0}: only paid orders can be shipped")]
    NotPaid(PaymentStatus),
    #[error(
        "order is Reserved (authorised, not captured) and this shop does not ship on Reserved"
    )]
    ReservedNotAllowed,
    #[error("order was already marked as shipped")]
    AlreadyShipped,
}

/// Ship only what is paid for; Reserved only where the shop captures later by choice.
pub fn may_ship(
    status: &PaymentStatus,
    shipped: bool,
    allow_reserved: bool,
) -> Result<(), ShipRefusal> {
    if shipped {
        return Err(ShipRefusal::AlreadyShipped);
    }
    match status {
        s if s.is_paid() => Ok(()),
        PaymentStatus::Reserved if allow_reserved => Ok(()),
        PaymentStatus::Reserved => Err(ShipRefusal::ReservedNotAllowed),
        other => Err(ShipRefusal::NotPaid(other.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paid_or_allowed_reserved_orders_ship() {
        assert!(may_ship(&PaymentStatus::Paid, false, false).is_ok());
        assert!(may_ship(&PaymentStatus::Verified, false, false).is_ok());
        assert_eq!(
            may_ship(&PaymentStatus::Reserved, false, false),
            Err(ShipRefusal::ReservedNotAllowed)
        );
        assert!(may_ship(&PaymentStatus::Reserved, false, true).is_ok());
        assert_eq!(
            may_ship(&PaymentStatus::Pending, false, true),
            Err(ShipRefusal::NotPaid(PaymentStatus::Pending))
        );
        assert_eq!(
            may_ship(&PaymentStatus::Paid, true, false),
            Err(ShipRefusal::AlreadyShipped)
        );
    }
}
