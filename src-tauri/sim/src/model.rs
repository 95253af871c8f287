//! The simulator's own wire types: the gateway's JSON as it is sent (camelCase,
//! references as 18-digit strings, amounts as decimal strings, 7-digit timestamps).
//! Deliberately independent of the app's gateway client types.

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;

use super::clock::wire_time;

/// A payment or payment-job status as the gateway spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Status {
    Pending,
    Reserved,
    Paid,
    Verified,
    Cancelled,
    Failed,
    Declined,
    Rejected,
    Blocked,
    Expired,
}

impl Status {
    /// A payment in this status will not change again.
    pub fn is_final(self) -> bool {
        !matches!(self, Status::Pending | Status::Reserved)
    }

    /// A shopper's attempt that ended without taking money.
    pub fn is_failed_attempt(self) -> bool {
        matches!(
            self,
            Status::Failed | Status::Declined | Status::Rejected | Status::Blocked
        )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A major-unit amount, sent as a string with at least two decimals ("10.00").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Amount(pub Decimal);

impl Amount {
    pub const ZERO: Amount = Amount(Decimal::ZERO);

    pub fn wire(&self) -> String {
        let mut d = self.0;
        if d.scale() < 2 {
            d.rescale(2);
        }
        d.to_string()
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.wire())
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        parse_amount(&v)
            .map(Amount)
            .ok_or_else(|| serde::de::Error::custom("amount must be a decimal string or number"))
    }
}

/// Parse an amount sent as a JSON string ("10.00") or number (10.5).
pub fn parse_amount(v: &serde_json::Value) -> Option<Decimal> {
    let text = match v {
        serde_json::Value::String(s) => s.trim().to_owned(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => return None,
    };
    text.parse::<Decimal>()
        .ok()
        .or_else(|| Decimal::from_scientific(&text).ok())
}

/// One entry of an error report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorItem {
    pub code: String,
    pub message: String,
    pub parameters: Vec<serde_json::Value>,
    pub translated_message: String,
}

/// The gateway's `errorReport`, both at top level and as a payment's `lastErrorReport`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorReport {
    pub errors: Vec<ErrorItem>,
    pub warnings: Vec<serde_json::Value>,
    pub language: String,
    pub is_fatal_error: bool,
}

impl ErrorReport {
    /// A fatal report with one error.
    pub fn single(code: &str, message: &str) -> Self {
        Self::fatal(vec![(code.to_owned(), message.to_owned())])
    }

    /// A fatal report with several errors, each (code, message).
    pub fn fatal(errors: Vec<(String, String)>) -> Self {
        Self {
            errors: errors
                .into_iter()
                .map(|(code, message)| ErrorItem {
                    code,
                    translated_message: message.clone(),
                    message,
                    parameters: Vec::new(),
                })
                .collect(),
            warnings: Vec::new(),
            language: "en".to_owned(),
            is_fatal_error: true,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BillingIdentity {
    pub email_address: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub order_number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_reference: Option<String>,
    pub billing_identity: BillingIdentity,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct JobAttributes {
    #[serde(
        rename = "WebhookUrl",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub webhook_url: Option<String>,
}

/// One step in a payment's life (what happened, how it went, when).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub action: String,
    pub status: String,
    #[serde(with = "wire_time")]
    pub date_time_utc: OffsetDateTime,
}

/// One shopper attempt inside a payment job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    pub reference: String,
    #[serde(with = "wire_time")]
    pub create_date_time_utc: OffsetDateTime,
    pub payment_methods: Vec<String>,
    pub status: Status,
    pub last_error_report: Option<ErrorReport>,
    pub amount_to_collect: Amount,
    pub surcharge_amount: Amount,
    pub paid_amount: Amount,
    pub steps: Vec<Step>,
    pub attributes: serde_json::Map<String, serde_json::Value>,
    pub refunds: Vec<Refund>,
    pub captures: Vec<Capture>,
}

/// The status of a capture or a refund (not a payment status).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OperationStatus {
    Pending,
    Completed,
    Failed,
}

/// A capture of a Reserved payment, as `POST …/captures` answers it and the payment's
/// `captures[]` lists it (a capture has no `steps[]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Capture {
    pub reference: String,
    #[serde(with = "wire_time")]
    pub create_date_time_utc: OffsetDateTime,
    pub status: OperationStatus,
    pub amount_to_capture: Amount,
    pub is_final_capture: bool,
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

/// A refund of a settled payment, as `POST …/refunds` answers it and the payment's
/// `refunds[]` lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Refund {
    pub reference: String,
    #[serde(with = "wire_time")]
    pub create_date_time_utc: OffsetDateTime,
    pub refund_number: String,
    pub amount_to_refund: Amount,
    pub status: OperationStatus,
    pub steps: Vec<Step>,
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

/// A payment job (the HPP session for one order).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub reference: String,
    #[serde(with = "wire_time")]
    pub create_date_time_utc: OffsetDateTime,
    #[serde(rename = "type")]
    pub kind: String,
    pub order: Order,
    pub currency: String,
    pub amount_to_collect: Amount,
    pub amount_collected: Amount,
    pub paid_amount: Amount,
    #[serde(with = "wire_time::option")]
    pub paid_date_time_utc: Option<OffsetDateTime>,
    #[serde(with = "wire_time")]
    pub expiration_date_time_utc: OffsetDateTime,
    #[serde(with = "wire_time")]
    pub last_update_time_utc: OffsetDateTime,
    pub attributes: JobAttributes,
    pub payment_status: Status,
    pub payments: Vec<Payment>,
}

impl Job {
    pub fn payment(&self, reference: &str) -> Option<&Payment> {
        self.payments.iter().find(|p| p.reference == reference)
    }

    pub fn latest_payment(&self) -> Option<&Payment> {
        self.payments.last()
    }

    /// The job still accepts shopper attempts and cancellation.
    pub fn is_open(&self) -> bool {
        self.payment_status == Status::Pending
    }
}

/// The JSON body of a notification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationBody {
    pub notify_type: String,
    pub payment_job_reference: String,
    pub payment_reference: String,
}

/// A success envelope: `{"data": …, "links": …, "errorReport": null}`.
pub fn envelope(data: serde_json::Value, links: serde_json::Value) -> serde_json::Value {
    serde_json::json!({ "data": data, "links": links, "errorReport": null })
}

/// An error envelope: `{"data": null, "links": null, "errorReport": …}`.
pub fn error_envelope(report: &ErrorReport) -> serde_json::Value {
    serde_json::json!({ "data": null, "links": null, "errorReport": report })
}
