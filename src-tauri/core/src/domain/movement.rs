//! Money that moves after a payment: captures of a reservation and refunds of a settled
//! payment, as the gateway lists them on each payment (`captures[]`, `refunds[]`). A
//! refund sends no notification, so these are only ever learnt by asking the gateway.

use serde::{Deserialize, Serialize};

use super::{Amount, PaymentRef, Timestamp};

/// Which way the money moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum MoveKind {
    /// A Reserved payment's money taken (auto-capture off).
    Capture,
    /// Money sent back to the shopper's card.
    Refund,
    /// The owner's cancel of an unsettled payment, in full. The gateway lists none: only
    /// an owner's request records one (`Orders::record_money_request`).
    Cancel,
}

impl MoveKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Capture => "capture",
            Self::Refund => "refund",
            Self::Cancel => "cancel",
        }
    }

    pub fn parse(word: &str) -> Option<Self> {
        [Self::Capture, Self::Refund, Self::Cancel]
            .into_iter()
            .find(|k| k.as_str() == word)
    }
}

/// Where a capture or refund stands at the gateway. Only `Completed` moved money; a
/// `Failed` one never did and is never shown as done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum MoveStatus {
    Pending,
    Completed,
    Failed,
}

impl MoveStatus {
    /// The gateway's word (`Pending`, `Completed`, `Failed`, any case); `None` for a word
    /// this build does not know, which is kept as Pending by the caller: never as done.
    pub fn parse(word: &str) -> Option<Self> {
        match word.to_ascii_lowercase().as_str() {
            "pending" => Some(Self::Pending),
            "completed" => Some(Self::Completed),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Completed => "Completed",
            Self::Failed => "Failed",
        }
    }

    /// Whether it can still change.
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Pending)
    }
}

/// One capture or refund of one payment, as the gateway last described it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoneyMove {
    pub kind: MoveKind,
    /// The payment it moved money of: a job may hold several paid payments.
    pub payment_ref: PaymentRef,
    /// The gateway's own reference of the capture or refund, once it gave one.
    pub reference: Option<String>,
    /// The merchant's `refundNumber` (refunds only): unique per refund, chosen and
    /// recorded by whoever asked for it before the request is sent.
    pub number: Option<String>,
    pub amount: Amount,
    pub status: MoveStatus,
    pub created_at: Option<Timestamp>,
    /// Why a failed one failed, in the gateway's words (code and message), if it said.
    pub failure: Option<String>,
}
