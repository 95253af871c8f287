//! The gateway's JSON, read tolerantly: optional fields and lists may be missing or null,
//! unknown fields are ignored, unknown statuses are kept, currencies are upper-cased,
//! timestamps without an offset are UTC and amounts keep every digit (see `domain`).

use serde::{Deserialize, Serialize};

use super::error::null_as_default;
use super::ErrorReport;
use crate::domain::{
    Amount, Currency, JobRef, MoneyMove, MoveKind, MoveStatus, PaymentRef, PaymentStatus, Timestamp,
};

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayJob {
    pub reference: JobRef,
    #[serde(default)]
    pub create_date_time_utc: Option<Timestamp>,
    #[serde(default)]
    pub order: Option<GatewayOrder>,
    #[serde(default)]
    pub currency: Option<Currency>,
    #[serde(default)]
    pub amount_to_collect: Option<Amount>,
    #[serde(default)]
    pub paid_amount: Option<Amount>,
    #[serde(default)]
    pub paid_date_time_utc: Option<Timestamp>,
    #[serde(default)]
    pub last_update_time_utc: Option<Timestamp>,
    #[serde(default)]
    pub payment_status: Option<PaymentStatus>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub payments: Vec<GatewayPayment>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GatewayOrder {
    pub order_number: Option<String>,
    pub customer_reference: Option<String>,
    pub billing_identity: Option<BillingIdentity>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BillingIdentity {
    pub email_address: Option<String>,
}

impl GatewayOrder {
    pub fn email(&self) -> Option<&str> {
        self.billing_identity.as_ref()?.email_address.as_deref()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayPayment {
    pub reference: PaymentRef,
    #[serde(default)]
    pub create_date_time_utc: Option<Timestamp>,
    pub status: PaymentStatus,
    #[serde(default)]
    pub last_error_report: Option<ErrorReport>,
    #[serde(default)]
    pub amount_to_collect: Option<Amount>,
    #[serde(default)]
    pub paid_amount: Option<Amount>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub steps: Vec<PaymentStep>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub refunds: Vec<GatewayRefund>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub captures: Vec<GatewayCapture>,
}

/// A refund as `POST …/refunds` answers it and a payment's `refunds[]` lists it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GatewayRefund {
    pub reference: Option<String>,
    pub create_date_time_utc: Option<Timestamp>,
    pub refund_number: Option<String>,
    pub amount_to_refund: Option<Amount>,
    pub status: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub steps: Vec<PaymentStep>,
    #[serde(deserialize_with = "null_as_default")]
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

/// A capture as `POST …/captures` answers it and a payment's `captures[]` lists it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GatewayCapture {
    pub reference: Option<String>,
    pub create_date_time_utc: Option<Timestamp>,
    pub amount_to_capture: Option<Amount>,
    pub is_final_capture: Option<bool>,
    pub status: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

/// The status word of a capture or refund; one this build does not know counts as
/// Pending: never as money moved, never as failed.
fn move_status(word: Option<&str>) -> MoveStatus {
    word.and_then(MoveStatus::parse)
        .unwrap_or(MoveStatus::Pending)
}

/// Why a capture or refund failed, from its attributes (`ErrorCode`, `ErrorMessage`).
fn move_failure(
    status: MoveStatus,
    attributes: &serde_json::Map<String, serde_json::Value>,
) -> Option<String> {
    if status != MoveStatus::Failed {
        return None;
    }
    let text = |key: &str| {
        attributes
            .get(key)
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
    };
    match (text("ErrorMessage"), text("ErrorCode")) {
        (Some(m), Some(c)) => Some(format!("{m} (code {c})")),
        (Some(m), None) => Some(m.to_owned()),
        (None, Some(c)) => Some(format!("code {c}")),
        (None, None) => None,
    }
}

impl GatewayRefund {
    /// The refund as the domain keeps it; `None` when it names no amount (unreadable).
    pub fn to_move(&self, payment: &PaymentRef) -> Option<MoneyMove> {
        let status = move_status(self.status.as_deref());
        Some(MoneyMove {
            kind: MoveKind::Refund,
            payment_ref: payment.clone(),
            reference: self.reference.clone().filter(|r| !r.is_empty()),
            number: self.refund_number.clone().filter(|n| !n.is_empty()),
            amount: self.amount_to_refund?,
            status,
            created_at: self.create_date_time_utc,
            failure: move_failure(status, &self.attributes),
        })
    }
}

impl GatewayCapture {
    /// The capture as the domain keeps it; with no amount it took the whole reservation
    /// (`reserved`).
    pub fn to_move(&self, payment: &PaymentRef, reserved: Option<Amount>) -> Option<MoneyMove> {
        let status = move_status(self.status.as_deref());
        Some(MoneyMove {
            kind: MoveKind::Capture,
            payment_ref: payment.clone(),
            reference: self.reference.clone().filter(|r| !r.is_empty()),
            number: None,
            amount: self.amount_to_capture.or(reserved)?,
            status,
            created_at: self.create_date_time_utc,
            failure: move_failure(status, &self.attributes),
        })
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PaymentStep {
    pub action: Option<String>,
    pub status: Option<String>,
    pub date_time_utc: Option<Timestamp>,
}

impl GatewayPayment {
    /// The latest moment the gateway says something happened to this payment.
    pub fn last_activity(&self) -> Option<Timestamp> {
        self.steps
            .iter()
            .filter_map(|s| s.date_time_utc)
            .chain(self.create_date_time_utc)
            .max()
    }

    /// The payment as the domain keeps it; `raw` is its JSON as the gateway sent it.
    pub fn to_snapshot(&self, raw: serde_json::Value) -> crate::domain::PaymentSnapshot {
        let (failure_code, failure_reason) = match self.failure() {
            Some((c, r)) => (Some(c), Some(r).filter(|r| !r.is_empty())),
            None => (None, None),
        };
        crate::domain::PaymentSnapshot {
            payment_ref: self.reference.clone(),
            status: self.status.clone(),
            amount: self.amount_to_collect,
            paid_amount: self.paid_amount,
            failure_code,
            failure_reason,
            created_at: self.create_date_time_utc,
            updated_at: self.last_activity(),
            moves: self.moves(),
            raw,
        }
    }

    /// Its captures, then its refunds, as the domain keeps them.
    pub fn moves(&self) -> Vec<crate::domain::MoneyMove> {
        let reserved = self.amount_to_collect;
        let captures = self
            .captures
            .iter()
            .filter_map(|c| c.to_move(&self.reference, reserved));
        let refunds = self
            .refunds
            .iter()
            .filter_map(|r| r.to_move(&self.reference));
        captures.chain(refunds).collect()
    }

    /// Why it failed, in the gateway's words and code.
    pub fn failure(&self) -> Option<(String, String)> {
        let e = self.last_error_report.as_ref()?.errors.first()?;
        let text = e
            .translated_message
            .clone()
            .or_else(|| e.message.clone())
            .unwrap_or_default();
        Some((e.code.clone(), text))
    }
}

/// `POST /payment-jobs`. Parameter names are sent PascalCase as the spec writes them.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateJobRequest {
    pub amount_to_collect: Amount,
    pub currency: Currency,
    pub locale: String,
    pub order: CreateOrder,
    pub parameters: CreateParameters,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateOrder {
    pub order_number: String,
    pub billing_identity: CreateBillingIdentity,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateBillingIdentity {
    pub email_address: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct CreateParameters {
    #[serde(rename = "WebhookUrl", skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    #[serde(rename = "ReturnUrlSuccess", skip_serializing_if = "Option::is_none")]
    pub return_url_success: Option<String>,
    #[serde(rename = "ReturnUrlFailed", skip_serializing_if = "Option::is_none")]
    pub return_url_failed: Option<String>,
    #[serde(rename = "ReturnUrlCancelled", skip_serializing_if = "Option::is_none")]
    pub return_url_cancelled: Option<String>,
}

impl CreateJobRequest {
    pub fn new(amount: Amount, currency: Currency, order_number: String, email: String) -> Self {
        Self {
            amount_to_collect: amount,
            currency,
            locale: "en_GB".to_owned(),
            order: CreateOrder {
                order_number,
                billing_identity: CreateBillingIdentity {
                    email_address: email,
                },
            },
            parameters: CreateParameters::default(),
        }
    }
}

/// A job the gateway just created, with the hosted payment page to send the shopper to.
#[derive(Debug, Clone)]
pub struct CreatedJob {
    pub job: GatewayJob,
    pub raw: serde_json::Value,
    pub payment_page_url: Option<String>,
}

impl super::Fetched<GatewayJob> {
    /// The job as the domain keeps it. Payments are ordered by creation (attempt order);
    /// the job status falls back to the payments' when the gateway leaves it out.
    pub fn into_snapshot(self) -> crate::domain::JobSnapshot {
        use crate::domain::{JobSnapshot, PaymentSnapshot};
        let Self { value: job, raw } = self;
        let raw_payments = raw
            .get("payments")
            .and_then(|p| p.as_array())
            .cloned()
            .unwrap_or_default();
        let mut payments: Vec<(usize, PaymentSnapshot)> = job
            .payments
            .iter()
            .enumerate()
            .map(|(i, p)| {
                (
                    i,
                    p.to_snapshot(raw_payments.get(i).cloned().unwrap_or_default()),
                )
            })
            .collect();
        // Stable: payments without a creation time keep the gateway's order.
        payments.sort_by_key(|(i, p)| (p.created_at, *i));
        let status = job
            .payment_status
            .clone()
            .unwrap_or_else(|| derive_job_status(&job.payments));
        let gateway_updated_at = job.last_update_time_utc.or_else(|| {
            job.payments
                .iter()
                .filter_map(GatewayPayment::last_activity)
                .max()
        });
        let order = job.order.unwrap_or_default();
        JobSnapshot {
            job_ref: job.reference,
            email: order.email().map(str::to_owned),
            order_number: order.order_number,
            status,
            amount: job.amount_to_collect,
            paid_amount: job.paid_amount,
            currency: job.currency,
            created_at: job.create_date_time_utc,
            gateway_updated_at,
            payments: payments.into_iter().map(|(_, p)| p).collect(),
            raw,
        }
    }
}

/// The whole job decides, not one failed attempt: any paid attempt makes it paid.
fn derive_job_status(payments: &[GatewayPayment]) -> crate::domain::PaymentStatus {
    use crate::domain::PaymentStatus;
    if let Some(p) = payments.iter().find(|p| p.status.is_paid()) {
        return p.status.clone();
    }
    if payments.iter().any(|p| p.status == PaymentStatus::Reserved) {
        return PaymentStatus::Reserved;
    }
    payments
        .iter()
        .max_by_key(|p| p.create_date_time_utc)
        .map_or(PaymentStatus::Pending, |p| p.status.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payment(json: serde_json::Value) -> GatewayPayment {
        serde_json::from_value(json).expect("a payment")
    }

    #[test]
    fn refunds_and_captures_are_read_with_their_status_and_reason() {
        let p = payment(serde_json::json!({
            "reference": "200000000000000001",
            "status": "Paid",
            "amountToCollect": "40.00",
            "captures": [{"reference": "c1", "status": "Completed",
                          "createDateTimeUtc": "2026-12-01T10:00:00.1234567Z"}],
            "refunds": [
                {"reference": "r1", "refundNumber": "tw-1", "amountToRefund": "10.00",
                 "status": "Completed", "createDateTimeUtc": "2026-12-02T10:00:00Z"},
                {"reference": "r2", "refundNumber": "tw-2", "amountToRefund": 5,
                 "status": "Failed", "attributes": {"ErrorCode": "InsufficientMerchantBalance",
                 "ErrorMessage": "Not enough funds"}},
                {"refundNumber": "tw-3", "amountToRefund": "1.50", "status": "Reviewing"},
                {"refundNumber": "tw-4", "status": "Completed"}
            ]
        }));
        let moves = p.moves();
        assert_eq!(
            moves.len(),
            4,
            "the refund with no amount is unreadable and left out"
        );
        let capture = &moves[0];
        assert_eq!(capture.kind, MoveKind::Capture);
        assert_eq!(
            capture.amount.to_string(),
            "40.00",
            "no amount: the whole reservation"
        );
        assert_eq!(capture.status, MoveStatus::Completed);
        assert_eq!(moves[1].number.as_deref(), Some("tw-1"));
        assert_eq!(moves[1].status, MoveStatus::Completed);
        assert_eq!(moves[1].failure, None);
        assert_eq!(moves[2].status, MoveStatus::Failed);
        assert_eq!(
            moves[2].failure.as_deref(),
            Some("Not enough funds (code InsufficientMerchantBalance)")
        );
        assert_eq!(
            moves[2].amount,
            "5.00".parse().unwrap(),
            "a number is read too"
        );
        assert_eq!(
            moves[3].status,
            MoveStatus::Pending,
            "an unknown word is never 'done'"
        );
    }

    #[test]
    fn a_payment_without_money_lists_reads_as_none_moved() {
        let p = payment(serde_json::json!({
            "reference": "200000000000000001", "status": "Paid",
            "refunds": null, "captures": null
        }));
        assert!(p.moves().is_empty());
    }
}
