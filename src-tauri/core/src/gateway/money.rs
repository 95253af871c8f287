//! Moving money at the gateway: capture a reservation, refund a settled payment, cancel an
//! unsettled one. Signed and gated by the breaker like every call, but never retried: a
//! refund has no idempotency key, so a request that may have reached the gateway and
//! got no answer is `MoneyCallError::AnswerLost`, for the caller to look before sending
//! again (`domain::find_refund`).

use reqwest::Method;
use serde::Serialize;

use super::client::{decode, Envelope, Gate};
use super::{
    ErrorReport, GatewayCapture, GatewayClient, GatewayError, GatewayPayment, GatewayRefund,
};
use crate::domain::{Amount, JobRef, PaymentRef};

/// Why a capture, refund or cancel did not come back with an answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum MoneyCallError {
    /// `406`: the gateway will not do this in the payment's state (not settled, above
    /// the balance, not Reserved…). `code` is its first error code, `words` its message.
    #[error("the gateway refused: {words} ({code})")]
    Refused { code: String, words: String },
    /// The request may have been applied but no answer came (timeout, broken
    /// connection, a 5xx): look at the payment before sending it again.
    #[error("the gateway's answer was lost ({0}); it may have acted on the request")]
    AnswerLost(String),
    /// Anything else: the request was not applied (refused credentials, not found, a
    /// connection never made, a bad answer to a read).
    #[error(transparent)]
    Gateway(#[from] GatewayError),
}

impl MoneyCallError {
    fn from_send(e: GatewayError) -> Self {
        match e {
            GatewayError::Rejected {
                status: 406,
                report,
            } => refusal(report),
            // Only a connection never made is surely not applied.
            GatewayError::Unavailable(why) if why != "connection failed" => Self::AnswerLost(why),
            other => Self::Gateway(other),
        }
    }
}

fn refusal(report: Option<ErrorReport>) -> MoneyCallError {
    let first = report.as_ref().and_then(|r| r.errors.first());
    let code = first.map_or_else(|| "NotAllowed".to_owned(), |e| e.code.clone());
    let words = first
        .and_then(|e| e.translated_message.clone().or_else(|| e.message.clone()))
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "the operation is not allowed in the payment's state".to_owned());
    MoneyCallError::Refused { code, words }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RefundBody<'a> {
    amount_to_refund: Amount,
    refund_number: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CaptureBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    amount_to_capture: Option<Amount>,
}

impl GatewayClient {
    /// `POST …/payments/{payment}/refunds`, sent once. `refund_number` must be new and
    /// recorded before this is called.
    pub async fn refund(
        &self,
        job: &JobRef,
        payment: &PaymentRef,
        amount: Amount,
        refund_number: &str,
    ) -> Result<GatewayRefund, MoneyCallError> {
        let body = RefundBody {
            amount_to_refund: amount,
            refund_number,
        };
        let path = format!("/payment-jobs/{job}/payments/{payment}/refunds");
        self.move_money(Method::POST, &path, Some(&body)).await
    }

    /// `POST …/payments/{payment}/captures`, sent once; no amount captures the whole
    /// reservation (cards take only that).
    pub async fn capture(
        &self,
        job: &JobRef,
        payment: &PaymentRef,
        amount: Option<Amount>,
    ) -> Result<GatewayCapture, MoneyCallError> {
        let body = CaptureBody {
            amount_to_capture: amount,
        };
        let path = format!("/payment-jobs/{job}/payments/{payment}/captures");
        self.move_money(Method::POST, &path, Some(&body)).await
    }

    /// `PATCH …/payments/{payment}/cancel`, sent once: an unsettled payment or a
    /// reservation, in full. The job stays open for another payment.
    pub async fn cancel_payment(
        &self,
        job: &JobRef,
        payment: &PaymentRef,
    ) -> Result<GatewayPayment, MoneyCallError> {
        let path = format!("/payment-jobs/{job}/payments/{payment}/cancel");
        self.move_money::<_, ()>(Method::PATCH, &path, None).await
    }

    async fn move_money<T: serde::de::DeserializeOwned, B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, MoneyCallError> {
        let bytes = match body {
            Some(b) => serde_json::to_vec(b).map_err(|e| GatewayError::Decode(e.to_string()))?,
            None => Vec::new(),
        };
        let answer = self
            .send(Gate::Breaker, method, path, bytes)
            .await
            .map_err(MoneyCallError::from_send)?;
        // Applied, but its answer unreadable: as good as lost.
        let lost = |e: GatewayError| MoneyCallError::AnswerLost(e.to_string());
        let envelope = Envelope::read(&answer).map_err(lost)?;
        decode(envelope.data).map(|f| f.value).map_err(lost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::ErrorEntry;

    #[test]
    fn a_406_is_a_refusal_with_the_gateways_words_and_a_timeout_is_a_lost_answer() {
        let report = ErrorReport {
            errors: vec![ErrorEntry {
                code: "PaymentNotSettled".into(),
                message: Some("Not settled yet".into()),
                ..ErrorEntry::default()
            }],
            ..ErrorReport::default()
        };
        let refused = MoneyCallError::from_send(GatewayError::Rejected {
            status: 406,
            report: Some(report),
        });
        assert!(
            matches!(&refused, MoneyCallError::Refused { code, words }
                if code == "PaymentNotSettled" && words == "Not settled yet"),
            "{refused:?}"
        );
        let lost = MoneyCallError::from_send(GatewayError::Unavailable("no answer in time".into()));
        assert!(matches!(lost, MoneyCallError::AnswerLost(_)));
        let unsent =
            MoneyCallError::from_send(GatewayError::Unavailable("connection failed".into()));
        assert!(matches!(unsent, MoneyCallError::Gateway(_)));
        let other = MoneyCallError::from_send(GatewayError::Rejected {
            status: 400,
            report: None,
        });
        assert!(matches!(other, MoneyCallError::Gateway(_)));
    }
}
