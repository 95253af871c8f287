//! The order as the owner sees it: one payment job, its attempts, its deliveries and its
//! history. These are read models shared by the CLI (`--json`), the window and exports;
//! their camelCase field names are a stable interface.

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use super::{
    Amount, Currency, DeliveryState, JobRef, MoveKind, MoveStatus, PaymentRef, PaymentStatus,
    Timestamp,
};

/// One order as lists show it. Serialized with its `OrderFlags` beside its fields (see the
/// `Serialize` impl below), so the faces read the core's decisions instead of copying them.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "ts", ts(rename_all = "camelCase"))]
pub struct OrderSummary {
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub payment_job_reference: JobRef,
    pub order_number: Option<String>,
    pub email: Option<String>,
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub status: PaymentStatus,
    #[cfg_attr(feature = "ts", ts(type = "string | null"))]
    pub amount: Option<Amount>,
    #[cfg_attr(feature = "ts", ts(type = "string | null"))]
    pub currency: Option<Currency>,
    pub attempts: u32,
    pub shipped: bool,
    #[cfg_attr(feature = "ts", ts(type = "string | null"))]
    pub shipped_at: Option<Timestamp>,
    pub created_here: bool,
    /// Why the gateway's answer disagrees with the job we created, if it does.
    pub mismatch: Option<String>,
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub first_seen_at: Timestamp,
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub updated_at: Timestamp,
    /// What the payments that count as received took (a Cancelled one took nothing);
    /// `None` where the store has not counted it yet.
    #[cfg_attr(feature = "ts", ts(type = "string | null"))]
    pub paid_amount: Option<Amount>,
    /// Completed refunds.
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub refunded_amount: Amount,
    /// Refunds asked for and not ended yet (never counted as refunded).
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub refund_pending_amount: Amount,
    /// When a Reserved payment's authorisation runs out unless captured (7 days from
    /// the gateway's time of the authorisation).
    #[cfg_attr(feature = "ts", ts(type = "string | null"))]
    pub capture_by: Option<Timestamp>,
}

/// Where the money of an order stands once refunds are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub enum MoneyState {
    /// Nothing refunded.
    None,
    /// Some of what was paid was refunded.
    PartlyRefunded,
    /// Completed refunds reach what was paid.
    Refunded,
}

impl MoneyState {
    /// The owner's words ("Partly refunded"); `None` when nothing was refunded.
    pub fn words(self) -> Option<&'static str> {
        match self {
            Self::None => None,
            Self::PartlyRefunded => Some("Partly refunded"),
            Self::Refunded => Some("Refunded"),
        }
    }
}

/// What the faces decide on an order, decided here: computed from the summary whenever it
/// is serialized, never stored (so no store builds it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct OrderFlags {
    /// A payment link created here that nobody has paid yet: it can still be cancelled.
    pub cancellable: bool,
    /// The status can no longer change without the owner acting (`PaymentStatus::is_final`).
    #[serde(rename = "final")]
    pub is_final: bool,
    /// Paid less completed refunds (`OrderSummary::net_amount`).
    #[serde(rename = "netAmount")]
    #[cfg_attr(feature = "ts", ts(type = "string | null"))]
    pub net_amount: Option<Amount>,
    #[serde(rename = "moneyState")]
    pub money_state: MoneyState,
}

impl OrderSummary {
    /// Paid less completed refunds; `None` while what was paid is unknown.
    pub fn net_amount(&self) -> Option<Amount> {
        self.paid_amount
            .map(|p| Amount::new(p.decimal() - self.refunded_amount.decimal()))
    }

    /// Partly refunded, or refunded once completed refunds reach what was paid.
    pub fn money_state(&self) -> MoneyState {
        if self.refunded_amount.decimal() <= rust_decimal::Decimal::ZERO {
            return MoneyState::None;
        }
        match self.paid_amount {
            Some(paid) if self.refunded_amount < paid => MoneyState::PartlyRefunded,
            _ => MoneyState::Refunded,
        }
    }

    /// The capture deadline, for a Reserved order only.
    pub fn capture_deadline(&self) -> Option<Timestamp> {
        (self.status == PaymentStatus::Reserved)
            .then_some(self.capture_by)
            .flatten()
    }

    pub fn flags(&self) -> OrderFlags {
        let is_final = self.status.is_final();
        OrderFlags {
            cancellable: self.created_here && !is_final,
            is_final,
            net_amount: self.net_amount(),
            money_state: self.money_state(),
        }
    }
}

/// Written by hand only to add the flags: the fields keep their camelCase names.
impl Serialize for OrderSummary {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let flags = self.flags();
        let mut s = serializer.serialize_struct("OrderSummary", 21)?;
        s.serialize_field("paymentJobReference", &self.payment_job_reference)?;
        s.serialize_field("orderNumber", &self.order_number)?;
        s.serialize_field("email", &self.email)?;
        s.serialize_field("status", &self.status)?;
        s.serialize_field("amount", &self.amount)?;
        s.serialize_field("currency", &self.currency)?;
        s.serialize_field("attempts", &self.attempts)?;
        s.serialize_field("shipped", &self.shipped)?;
        s.serialize_field("shippedAt", &self.shipped_at)?;
        s.serialize_field("createdHere", &self.created_here)?;
        s.serialize_field("mismatch", &self.mismatch)?;
        s.serialize_field("firstSeenAt", &self.first_seen_at)?;
        s.serialize_field("updatedAt", &self.updated_at)?;
        s.serialize_field("paidAmount", &self.paid_amount)?;
        s.serialize_field("refundedAmount", &self.refunded_amount)?;
        s.serialize_field("refundPendingAmount", &self.refund_pending_amount)?;
        s.serialize_field("captureBy", &self.capture_deadline())?;
        s.serialize_field("cancellable", &flags.cancellable)?;
        s.serialize_field("final", &flags.is_final)?;
        s.serialize_field("netAmount", &flags.net_amount)?;
        s.serialize_field("moneyState", &flags.money_state)?;
        s.end()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct OrderDetail {
    #[serde(flatten)]
    pub summary: OrderSummary,
    /// Whether the shop's shipping rule lets this order ship now, and why not.
    pub ship: ShipCheck,
    pub shipping_note: Option<String>,
    pub payment_link: Option<String>,
    #[cfg_attr(feature = "ts", ts(type = "string | null"))]
    pub last_confirmed_at: Option<Timestamp>,
    pub payments: Vec<Attempt>,
    pub deliveries: Vec<DeliveryView>,
    pub status_events: Vec<StatusEventView>,
    pub audit: Vec<AuditView>,
    /// Its refunds, oldest first: a Failed one says why and never counts as refunded.
    pub refunds: Vec<MoneyMoveView>,
    /// Its captures, oldest first.
    pub captures: Vec<MoneyMoveView>,
    /// The gateway's last answer for the job, as it came.
    #[cfg_attr(feature = "ts", ts(type = "unknown"))]
    pub raw_last_answer: Option<serde_json::Value>,
}

impl OrderDetail {
    /// The ship check under these rules (the store knows no shop policy; the core does).
    pub fn under(mut self, rules: ShipRules) -> Self {
        self.ship = ShipCheck::of(&self.summary, rules);
        self
    }
}

/// One shopper attempt: a payment inside the job.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub payment_reference: PaymentRef,
    pub attempt: u32,
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub status: PaymentStatus,
    #[cfg_attr(feature = "ts", ts(type = "string | null"))]
    pub amount: Option<Amount>,
    pub failure_code: Option<String>,
    pub failure_reason: Option<String>,
    #[cfg_attr(feature = "ts", ts(type = "string | null"))]
    pub created_at: Option<Timestamp>,
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub id: i64,
    #[cfg_attr(feature = "ts", ts(type = "string"))]
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

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct StatusEventView {
    #[cfg_attr(feature = "ts", ts(type = "string | null"))]
    pub payment_reference: Option<PaymentRef>,
    pub from: Option<String>,
    pub to: String,
    pub source: ChangeSource,
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub at: Timestamp,
}

/// One capture, refund or cancel of an order, as the detail and `lookup --json` show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct MoneyMoveView {
    pub kind: MoveKind,
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub payment_reference: PaymentRef,
    /// The gateway's reference of it, once it gave one.
    pub reference: Option<String>,
    pub refund_number: Option<String>,
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub amount: Amount,
    pub status: MoveStatus,
    /// The gateway's time of it.
    #[cfg_attr(feature = "ts", ts(type = "string | null"))]
    pub created_at: Option<Timestamp>,
    /// Who asked (user@machine); `None` when learnt from the gateway (made elsewhere).
    pub by: Option<String>,
    /// Why it failed, in the gateway's words.
    pub failure: Option<String>,
    pub source: ChangeSource,
}

/// Something the owner did to an order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct AuditView {
    pub action: String,
    pub detail: Option<String>,
    /// Who did it (user and machine), where known.
    pub by: Option<String>,
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub at: Timestamp,
}

/// Who told us about a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
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
    /// The gateway confirmed other money than the link asked for.
    #[error(
        "the gateway's answer does not match this order ({0}): check it in the Cashflows portal; \
         shipping it anyway needs an override with a reason"
    )]
    Mismatch(String),
    #[error("an override of a mismatch needs a reason")]
    OverrideWithoutReason,
    /// Completed refunds reach what was paid: there is nothing left to ship for.
    #[error("order was refunded ({0}): a refunded order never ships")]
    Refunded(String),
    /// Some of the money went back: shipping needs an override with a reason.
    #[error("order was partly refunded ({0}): shipping it anyway needs an override with a reason")]
    PartlyRefunded(String),
}

impl ShipRefusal {
    /// Stable code for the faces (the window offers "Ship anyway…" on `mismatch` only).
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotPaid(_) => "not_paid",
            Self::ReservedNotAllowed => "reserved_not_allowed",
            Self::AlreadyShipped => "already_shipped",
            Self::Mismatch(_) => "mismatch",
            Self::OverrideWithoutReason => "override_without_reason",
            Self::Refunded(_) => "refunded",
            Self::PartlyRefunded(_) => "partly_refunded",
        }
    }

    /// Whether the owner's audited override with a reason lifts it.
    pub fn overridable(&self) -> bool {
        matches!(self, Self::Mismatch(_) | Self::PartlyRefunded(_))
    }
}

/// The shop's standing rules for shipping.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShipRules {
    /// Ship on Reserved (authorised, captured later by the shop).
    pub allow_reserved: bool,
}

/// How a shipment was allowed: plainly, or by the owner overriding a mismatch (audited).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShipPermit {
    Plain,
    MismatchOverridden {
        mismatch: String,
        reason: String,
    },
    /// A partly refunded order shipped by the owner's override (with the mismatch, if
    /// the order also had one: one reason covers both).
    PartRefundOverridden {
        refunded: String,
        mismatch: Option<String>,
        reason: String,
    },
}

/// The one shipping rule, for every face: ship only what is paid for (Reserved only where
/// the shop captures later by choice), never twice, never a refunded or cancelled order,
/// and never an order whose confirmed money differs from what was asked, or that was
/// partly refunded, unless the owner overrides it with a reason.
pub fn may_ship(
    order: &OrderSummary,
    rules: ShipRules,
    override_reason: Option<&str>,
) -> Result<ShipPermit, ShipRefusal> {
    if order.shipped {
        return Err(ShipRefusal::AlreadyShipped);
    }
    match &order.status {
        s if s.is_paid() => {}
        PaymentStatus::Reserved if rules.allow_reserved => {}
        PaymentStatus::Reserved => return Err(ShipRefusal::ReservedNotAllowed),
        other => return Err(ShipRefusal::NotPaid(other.clone())),
    }
    let refunded = || {
        let money = order.refunded_amount.to_string();
        match &order.currency {
            Some(c) => format!("{} {}", order.refunded_amount.display_in(c), c.as_str()),
            None => money,
        }
    };
    let part_refund = match order.money_state() {
        MoneyState::Refunded => return Err(ShipRefusal::Refunded(refunded())),
        MoneyState::PartlyRefunded => Some(refunded()),
        MoneyState::None => None,
    };
    if order.mismatch.is_none() && part_refund.is_none() {
        return Ok(ShipPermit::Plain);
    }
    let reason = match override_reason.map(str::trim) {
        None => {
            return Err(match (&order.mismatch, part_refund) {
                (Some(mismatch), _) => ShipRefusal::Mismatch(mismatch.clone()),
                (None, Some(refunded)) => ShipRefusal::PartlyRefunded(refunded),
                (None, None) => unreachable!("checked above"),
            })
        }
        Some("") => return Err(ShipRefusal::OverrideWithoutReason),
        Some(reason) => reason.to_owned(),
    };
    Ok(match part_refund {
        Some(refunded) => ShipPermit::PartRefundOverridden {
            refunded,
            mismatch: order.mismatch.clone(),
            reason,
        },
        None => ShipPermit::MismatchOverridden {
            mismatch: order.mismatch.clone().unwrap_or_default(),
            reason,
        },
    })
}

/// The shipping rule's answer for one order as the window shows it, so the window never
/// keeps a copy of the rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ShipCheck {
    pub allowed: bool,
    /// Why not, in the owner's words.
    pub reason: Option<String>,
    /// `ShipRefusal::code`.
    pub code: Option<String>,
    /// An audited override with a reason lifts the refusal (`ShipRefusal::overridable`:
    /// a mismatch, a partial refund).
    pub overridable: bool,
}

/// The refusal's words as a sentence on its own (they also follow "error: " in the CLI).
fn sentence(words: &str) -> String {
    let mut chars = words.chars();
    let mut out: String = chars
        .next()
        .map(|c| c.to_uppercase().collect())
        .unwrap_or_default();
    out.push_str(chars.as_str());
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

impl ShipCheck {
    pub fn of(order: &OrderSummary, rules: ShipRules) -> Self {
        match may_ship(order, rules, None) {
            Ok(_) => Self {
                allowed: true,
                reason: None,
                code: None,
                overridable: false,
            },
            Err(refusal) => Self {
                allowed: false,
                reason: Some(sentence(&refusal.to_string())),
                code: Some(refusal.code().to_owned()),
                overridable: refusal.overridable(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(status: PaymentStatus, shipped: bool, mismatch: Option<&str>) -> OrderSummary {
        OrderSummary {
            shipped,
            created_here: true,
            mismatch: mismatch.map(str::to_owned),
            ..crate::domain::fixtures::order("1", status, "2026-11-24T10:00:00Z")
        }
    }

    const STRICT: ShipRules = ShipRules {
        allow_reserved: false,
    };
    const RESERVED_OK: ShipRules = ShipRules {
        allow_reserved: true,
    };

    #[test]
    fn only_unfinished_links_created_here_can_be_cancelled() {
        let flags = |s, here| {
            let mut o = order(s, false, None);
            o.created_here = here;
            o.flags()
        };
        for s in ["Pending", "Reserved", "Commissioned", "SomethingNew"] {
            let f = flags(PaymentStatus::from(s.to_owned()), true);
            assert!(f.cancellable && !f.is_final, "{s}");
        }
        for s in PaymentStatus::FINAL_WORDS {
            let f = flags(PaymentStatus::from((*s).to_owned()), true);
            assert!(!f.cancellable && f.is_final, "{s}");
        }
        assert!(!flags(PaymentStatus::Pending, false).cancellable);
    }

    #[test]
    fn a_summary_serializes_its_fields_and_flags_in_camel_case() {
        let json = serde_json::to_value(order(PaymentStatus::Pending, false, None)).unwrap();
        let keys: std::collections::BTreeSet<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            std::collections::BTreeSet::from([
                "paymentJobReference",
                "orderNumber",
                "email",
                "status",
                "amount",
                "currency",
                "attempts",
                "shipped",
                "shippedAt",
                "createdHere",
                "mismatch",
                "firstSeenAt",
                "updatedAt",
                "paidAmount",
                "refundedAmount",
                "refundPendingAmount",
                "netAmount",
                "moneyState",
                "captureBy",
                "cancellable",
                "final"
            ])
        );
        assert_eq!(json["status"], "Pending");
        assert_eq!(json["cancellable"], true);
        assert_eq!(json["final"], false);
    }

    #[test]
    fn only_paid_or_allowed_reserved_orders_ship() {
        let ship = |s, shipped, rules| may_ship(&order(s, shipped, None), rules, None);
        assert_eq!(
            ship(PaymentStatus::Paid, false, STRICT),
            Ok(ShipPermit::Plain)
        );
        assert!(ship(PaymentStatus::Verified, false, STRICT).is_ok());
        assert_eq!(
            ship(PaymentStatus::Reserved, false, STRICT),
            Err(ShipRefusal::ReservedNotAllowed)
        );
        assert!(ship(PaymentStatus::Reserved, false, RESERVED_OK).is_ok());
        assert_eq!(
            ship(PaymentStatus::Pending, false, RESERVED_OK),
            Err(ShipRefusal::NotPaid(PaymentStatus::Pending))
        );
        assert_eq!(
            ship(PaymentStatus::Paid, true, STRICT),
            Err(ShipRefusal::AlreadyShipped)
        );
    }

    #[test]
    fn a_mismatch_refuses_shipping_unless_overridden_with_a_reason() {
        let odd = order(
            PaymentStatus::Paid,
            false,
            Some("amount 0.01 where 40.00 was asked"),
        );
        let refused = may_ship(&odd, STRICT, None).unwrap_err();
        assert_eq!(refused.code(), "mismatch");
        assert!(
            refused.to_string().contains("0.01 where 40.00"),
            "{refused}"
        );
        assert_eq!(
            may_ship(&odd, STRICT, Some("  ")),
            Err(ShipRefusal::OverrideWithoutReason)
        );
        assert_eq!(
            may_ship(&odd, STRICT, Some(" customer paid the rest by phone ")),
            Ok(ShipPermit::MismatchOverridden {
                mismatch: "amount 0.01 where 40.00 was asked".into(),
                reason: "customer paid the rest by phone".into(),
            })
        );
        // The override lifts the mismatch only, never the status rule.
        let unpaid = order(PaymentStatus::Pending, false, Some("currency EUR"));
        assert_eq!(
            may_ship(&unpaid, STRICT, Some("trust me")),
            Err(ShipRefusal::NotPaid(PaymentStatus::Pending))
        );
    }

    fn refunded(paid: &str, refunded: &str) -> OrderSummary {
        OrderSummary {
            paid_amount: Some(paid.parse().unwrap()),
            refunded_amount: refunded.parse().unwrap(),
            currency: Some(super::super::Currency::parse("GBP").unwrap()),
            ..order(PaymentStatus::Paid, false, None)
        }
    }

    #[test]
    fn a_refunded_order_never_ships_and_a_partly_refunded_one_needs_an_override() {
        let all = refunded("10.00", "10.00");
        assert_eq!(all.money_state(), MoneyState::Refunded);
        assert_eq!(
            may_ship(&all, STRICT, Some("ship anyway")),
            Err(ShipRefusal::Refunded("10.00 GBP".into()))
        );
        let c = ShipCheck::of(&all, STRICT);
        assert_eq!(
            (c.code.as_deref(), c.overridable),
            (Some("refunded"), false)
        );

        let part = refunded("10.00", "2.50");
        assert_eq!(part.money_state(), MoneyState::PartlyRefunded);
        assert_eq!(part.net_amount(), Some("7.50".parse().unwrap()));
        assert_eq!(
            may_ship(&part, STRICT, None),
            Err(ShipRefusal::PartlyRefunded("2.50 GBP".into()))
        );
        assert_eq!(
            may_ship(&part, STRICT, Some(" ")),
            Err(ShipRefusal::OverrideWithoutReason)
        );
        assert_eq!(
            may_ship(&part, STRICT, Some(" kept the rest ")),
            Ok(ShipPermit::PartRefundOverridden {
                refunded: "2.50 GBP".into(),
                mismatch: None,
                reason: "kept the rest".into(),
            })
        );
        let c = ShipCheck::of(&part, STRICT);
        assert_eq!(
            c.reason.as_deref(),
            Some("Order was partly refunded (2.50 GBP): shipping it anyway needs an override with a reason.")
        );
        assert!(c.overridable);
        // A pending refund is not a refund yet.
        let pending = OrderSummary {
            refund_pending_amount: "10.00".parse().unwrap(),
            ..refunded("10.00", "0")
        };
        assert_eq!(pending.money_state(), MoneyState::None);
        assert_eq!(may_ship(&pending, STRICT, None), Ok(ShipPermit::Plain));
    }

    #[test]
    fn the_ship_check_carries_the_rule_s_reason_and_code() {
        assert_eq!(
            ShipCheck::of(&order(PaymentStatus::Paid, false, None), STRICT),
            ShipCheck {
                allowed: true,
                reason: None,
                code: None,
                overridable: false,
            }
        );
        let c = ShipCheck::of(
            &order(PaymentStatus::Paid, false, Some("amount 1.00")),
            STRICT,
        );
        assert!(!c.allowed);
        assert_eq!(c.code.as_deref(), Some("mismatch"));
        assert!(c.overridable);
        let c = ShipCheck::of(&order(PaymentStatus::Pending, false, None), STRICT);
        assert_eq!(
            c.reason.as_deref(),
            Some("Order is Pending: only paid orders can be shipped.")
        );
        assert_eq!(c.code.as_deref(), Some("not_paid"));
    }
}
