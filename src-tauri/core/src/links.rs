//! Payment links: the owner creates a Cashflows payment job from the app (for sales by
//! phone, e-mail or social media), sends the hosted payment page's link to the customer,
//! and watches it get paid. Jobs created here are held to what was asked.

use serde::{Deserialize, Serialize};

use crate::app::{AppError, Tillwatch};
use crate::domain::{Amount, ChangeSource, Currency, JobRef, OrderDetail, PaymentRef};
use crate::gateway::{CreateJobRequest, GatewayClient};
use crate::pipeline::{mismatch, CoreEvent};
use crate::store::{CreatedJobRecord, Store};

/// What the owner fills in.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct NewPaymentLink {
    /// Decimal text, e.g. "12.50".
    pub amount: String,
    pub currency: String,
    pub order_number: String,
    pub email: String,
    pub note: Option<String>,
}

/// Where the shopper's browser goes back to, if the shop has pages for it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase", default)]
pub struct ReturnUrls {
    pub success: Option<String>,
    pub failed: Option<String>,
    pub cancelled: Option<String>,
}

/// The largest amount a payment link may ask for unless the owner changes it (the window's
/// settings hold the owner's own ceiling).
pub const DEFAULT_MAX_LINK_AMOUNT: &str = "100000";

/// The longest order number (it goes into a URL path at the gateway).
pub const ORDER_NUMBER_MAX_LEN: usize = 50;
/// The longest e-mail address (RFC 5321's path limit).
pub const EMAIL_MAX_LEN: usize = 254;
/// The longest note on a payment link, in characters, as the window's form allows it. The
/// core keeps the note it is given (`link create --note` is not limited).
pub const NOTE_MAX_LEN: usize = 500;

/// Order numbers go into a URL path at the gateway: keep them plain.
pub fn validate_order_number(n: &str) -> Result<(), AppError> {
    let ok = !n.is_empty()
        && n.len() <= ORDER_NUMBER_MAX_LEN
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(AppError::Invalid(format!(
            "the order number must be 1 to {ORDER_NUMBER_MAX_LEN} letters, digits, '-', '_' or '.'"
        )))
    }
}

fn validate_email(e: &str) -> Result<(), AppError> {
    let ok = e.len() <= EMAIL_MAX_LEN
        && !e.contains(char::is_whitespace)
        && e.split_once('@').is_some_and(|(user, host)| {
            !user.is_empty() && host.contains('.') && !host.starts_with('.') && !host.ends_with('.')
        });
    if ok {
        Ok(())
    } else {
        Err(AppError::Invalid(format!(
            "'{e}' does not look like an e-mail address"
        )))
    }
}

impl<S: Store> Tillwatch<S> {
    /// One past the highest numeric order number in use.
    pub async fn suggest_order_number(&self) -> Result<String, AppError> {
        Ok(self.store().suggest_order_number().await?)
    }

    /// Creates the job at the gateway with the current public webhook URL, and records it
    /// as Pending with its payment page link. Nothing reaches the gateway unless the
    /// amount is positive, within the currency's decimals and at most `max_amount`.
    pub async fn create_payment_link(
        &self,
        gateway: &GatewayClient,
        link: NewPaymentLink,
        webhook_url: &str,
        returns: &ReturnUrls,
        max_amount: Amount,
    ) -> Result<OrderDetail, AppError> {
        let currency =
            Currency::known(&link.currency).map_err(|e| AppError::Invalid(e.to_string()))?;
        let amount = Amount::for_link(&link.amount, &currency, max_amount)
            .map_err(|e| AppError::Invalid(e.to_string()))?;
        let order_number = link.order_number.trim().to_owned();
        validate_order_number(&order_number)?;
        let email = link.email.trim().to_owned();
        validate_email(&email)?;
        if self.store().order_number_used(&order_number).await? {
            return Err(AppError::Invalid(format!(
                "order number {order_number} is already used here"
            )));
        }
        if gateway.order_exists(&order_number).await? {
            return Err(AppError::Invalid(format!(
                "order number {order_number} is already used at Cashflows"
            )));
        }

        let mut req = CreateJobRequest::new(
            amount,
            currency.clone(),
            order_number.clone(),
            email.clone(),
        );
        req.parameters.webhook_url = Some(webhook_url.to_owned());
        req.parameters.return_url_success = returns.success.clone();
        req.parameters.return_url_failed = returns.failed.clone();
        req.parameters.return_url_cancelled = returns.cancelled.clone();
        let created = gateway.create_job(&req).await?;

        let first_payment: Option<PaymentRef> =
            created.job.payments.first().map(|p| p.reference.clone());
        let detail = self
            .store()
            .record_created_job(CreatedJobRecord {
                job_ref: created.job.reference.clone(),
                first_payment,
                order_number,
                email,
                amount,
                currency,
                payment_link: created.payment_page_url.clone(),
                note: link
                    .note
                    .map(|n| n.trim().to_owned())
                    .filter(|n| !n.is_empty()),
                raw: created.raw,
            })
            .await?;
        self.bus().publish(CoreEvent::OrderChanged {
            order: Box::new(detail.summary.clone()),
            previous_status: None,
            status_changed: true,
            source: ChangeSource::Owner,
        });
        Ok(detail.under(self.ship_rules()))
    }

    /// Cancels an unpaid link at the gateway; the timeline records it.
    pub async fn cancel_payment_link(
        &self,
        gateway: &GatewayClient,
        job: &JobRef,
    ) -> Result<OrderDetail, AppError> {
        let current = self.order(job).await?;
        if current.summary.status.is_final() {
            return Err(AppError::Invalid(format!(
                "this order is {} and can no longer be cancelled",
                current.summary.status
            )));
        }
        gateway.cancel_job(job).await?;
        self.store().audit(job, "link cancelled", None).await?;
        let snapshot = gateway.retrieve_job(job).await?.into_snapshot();
        let expected = self.store().expectation(job).await?;
        let flag = mismatch(expected.as_ref(), &snapshot);
        let applied = self
            .store()
            .apply_snapshot(snapshot, ChangeSource::Owner, flag, None)
            .await?;
        for event in CoreEvent::all_from_applied(&applied, ChangeSource::Owner) {
            self.bus().publish(event);
        }
        self.order(job).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_numbers_and_emails_are_checked() {
        assert!(validate_order_number("1042").is_ok());
        assert!(validate_order_number("TW-1042.b_2").is_ok());
        assert!(validate_order_number("").is_err());
        assert!(validate_order_number("10/42").is_err());
        assert!(validate_order_number("10 42").is_err());
        assert!(validate_email("a@example.com").is_ok());
        assert!(validate_email("a@example").is_err());
        assert!(validate_email("@example.com").is_err());
        assert!(validate_email("a b@example.com").is_err());
    }
}
