//! Checking a create-job request the way the gateway does, for both the HTTP route
//! and the in-process `SimHandle::create_job`.

use rust_decimal::Decimal;
use serde_json::Value;

use super::model::{parse_amount, ErrorReport};

/// A job to create in-process, as the shop's website would.
#[derive(Clone, Debug)]
pub struct CreateJob {
    pub amount: Decimal,
    pub currency: String,
    pub order_number: String,
    pub email: String,
    pub webhook_url: Option<String>,
}

/// Where the hosted page sends the shopper back to (kept, never checked).
#[derive(Clone, Debug, Default)]
pub struct ReturnUrls {
    pub success: Option<String>,
    pub failed: Option<String>,
    pub cancelled: Option<String>,
}

/// A create request that passed validation.
#[derive(Clone, Debug)]
pub struct NewJob {
    pub amount: Decimal,
    pub currency: String,
    pub order_number: String,
    pub customer_reference: Option<String>,
    pub email: Option<String>,
    pub webhook_url: Option<String>,
    pub return_urls: ReturnUrls,
}

impl CreateJob {
    pub(crate) fn validate(self) -> Result<NewJob, ErrorReport> {
        let mut errors = Vec::new();
        check_amount(Some(self.amount), &mut errors);
        check_currency(Some(&self.currency), &mut errors);
        check_order_number(Some(&self.order_number), &mut errors);
        check_url(self.webhook_url.as_deref(), &mut errors);
        finish(errors)?;
        Ok(NewJob {
            amount: self.amount,
            currency: self.currency,
            order_number: self.order_number,
            customer_reference: None,
            email: Some(self.email).filter(|e| !e.is_empty()),
            webhook_url: self.webhook_url,
            return_urls: ReturnUrls::default(),
        })
    }
}

/// Parse and validate the JSON body of `POST /payment-jobs`, reporting every problem.
pub(crate) fn parse_create(body: &[u8]) -> Result<NewJob, ErrorReport> {
    let root: Value = serde_json::from_slice(body).map_err(|e| {
        ErrorReport::single("InvalidRequest", &format!("request body is not JSON: {e}"))
    })?;
    let Value::Object(root) = root else {
        return Err(ErrorReport::single(
            "InvalidRequest",
            "request body must be a JSON object",
        ));
    };
    let mut errors = Vec::new();

    let amount = root.get("amountToCollect").and_then(parse_amount);
    check_amount(amount, &mut errors);
    let currency = root.get("currency").and_then(Value::as_str);
    check_currency(currency, &mut errors);

    let order = root.get("order").and_then(Value::as_object);
    let order_number = order
        .and_then(|o| o.get("orderNumber"))
        .and_then(Value::as_str);
    check_order_number(order_number, &mut errors);
    let customer_reference = order
        .and_then(|o| o.get("customerReference"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let email = order
        .and_then(|o| o.get("billingIdentity"))
        .and_then(|b| b.get("emailAddress"))
        .and_then(Value::as_str)
        .map(str::to_owned);

    // The spec writes parameters in PascalCase, working plugins send camelCase.
    let param = |name: &str| -> Option<String> {
        root.get("parameters")?
            .as_object()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str())
            .map(str::to_owned)
    };
    let webhook_url = param("WebhookUrl");
    check_url(webhook_url.as_deref(), &mut errors);

    finish(errors)?;
    Ok(NewJob {
        amount: amount.expect("checked"),
        currency: currency.expect("checked").to_owned(),
        order_number: order_number.expect("checked").to_owned(),
        customer_reference,
        email,
        webhook_url,
        return_urls: ReturnUrls {
            success: param("ReturnUrlSuccess"),
            failed: param("ReturnUrlFailed"),
            cancelled: param("ReturnUrlCancelled"),
        },
    })
}

type Problems = Vec<(String, String)>;

fn push(errors: &mut Problems, code: &str, message: &str) {
    errors.push((code.to_owned(), message.to_owned()));
}

fn check_amount(amount: Option<Decimal>, errors: &mut Problems) {
    match amount {
        None => push(
            errors,
            "InvalidAmountToCollect",
            "amountToCollect must be a decimal amount",
        ),
        Some(a) if a <= Decimal::ZERO => push(
            errors,
            "InvalidAmountToCollect",
            "amountToCollect must be greater than zero",
        ),
        Some(a) if a.normalize().scale() > 2 => push(
            errors,
            "InvalidAmountToCollect",
            "amountToCollect has more than two decimal places",
        ),
        Some(_) => {}
    }
}

fn check_currency(currency: Option<&str>, errors: &mut Problems) {
    let ok = currency.is_some_and(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()));
    if !ok {
        push(
            errors,
            "InvalidCurrency",
            "currency must be an ISO 4217 code of three upper-case letters",
        );
    }
}

fn check_order_number(order_number: Option<&str>, errors: &mut Problems) {
    if order_number.is_none_or(|n| n.trim().is_empty()) {
        push(
            errors,
            "InvalidOrderNumber",
            "order.orderNumber is required",
        );
    }
}

fn check_url(url: Option<&str>, errors: &mut Problems) {
    let Some(url) = url else { return };
    let ok = reqwest::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
    if !ok {
        push(
            errors,
            "InvalidWebhookUrl",
            "WebhookUrl must be an absolute http(s) URL",
        );
    }
}

fn finish(errors: Problems) -> Result<(), ErrorReport> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ErrorReport::fatal(errors))
    }
}
