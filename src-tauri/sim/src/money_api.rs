//! The gateway's money routes (signed, like every API route): `POST …/captures`,
//! `POST …/refunds` and `PATCH …/payments/{payment}/cancel`, and the refund that the
//! control API's "portal" shares with them. A refund never notifies; a capture does
//! unless switched off; a cancel does (it is a status change).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{patch, post};
use axum::{Json, Router};
use serde_json::{Map, Value};

use super::api::{canonical, error, gate, job_not_found, not_yours, payment_links};
use super::faults::Endpoint;
use super::model::{envelope, parse_amount, Amount, ErrorReport, OperationStatus, Refund};
use super::money::{check_amount, MoneyError};
use super::money_settings::RefundMode;
use super::notifier::notify;
use super::shared::{lock, Shared};

type S = State<Arc<Shared>>;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let payment = "/api/gateway/payment-jobs/{job_ref}/payments/{payment_ref}";
    Router::new()
        .route(&format!("{payment}/captures"), post(capture))
        .route(&format!("{payment}/refunds"), post(refund))
        .route(&format!("{payment}/cancel"), patch(cancel_payment))
        .with_state(shared)
}
type PaymentPath = Path<(String, String)>;

/// The answer to a refused operation: 404, 406 or 400 with an error envelope.
pub(crate) fn refused(e: &MoneyError) -> Response {
    if *e == MoneyError::UnknownJob {
        return job_not_found();
    }
    error(
        refused_status(e),
        ErrorReport::single(refused_code(e), &e.to_string()),
    )
}

fn refused_status(e: &MoneyError) -> StatusCode {
    match e {
        MoneyError::UnknownJob | MoneyError::UnknownPayment => StatusCode::NOT_FOUND,
        // The gateway answers 406 for an operation its state does not allow.
        MoneyError::NotAllowed(..) => StatusCode::NOT_ACCEPTABLE,
        MoneyError::Invalid(..) => StatusCode::BAD_REQUEST,
    }
}

fn refused_code(e: &MoneyError) -> &'static str {
    match e {
        MoneyError::UnknownJob => "PaymentJobNotFound",
        MoneyError::UnknownPayment => "PaymentNotFound",
        MoneyError::NotAllowed(code, _) | MoneyError::Invalid(code, _) => code,
    }
}

/// An optional JSON object body (empty is `{}`).
fn object(body: &[u8]) -> Result<Map<String, Value>, MoneyError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(o)) => Ok(o),
        _ => Err(MoneyError::Invalid(
            "InvalidRequest",
            "The request body must be a JSON object.".to_owned(),
        )),
    }
}

/// An optional amount field: absent or null is `None`, anything but a decimal is 400.
fn optional_amount(o: &Map<String, Value>, field: &str) -> Result<Option<Amount>, MoneyError> {
    match o.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            let amount = parse_amount(v).ok_or_else(|| {
                MoneyError::Invalid(
                    "InvalidAmount",
                    format!("{field} must be a decimal amount."),
                )
            })?;
            check_amount(amount, field).map(Some)
        }
    }
}

fn created(shared: &Shared, job_ref: &str, payment_ref: &str, data: Value) -> Response {
    let links = payment_links(shared, job_ref, payment_ref);
    (StatusCode::CREATED, Json(envelope(data, links))).into_response()
}

/// One money route: the references read as the gateway reads them, the request
/// counted, faulted and signature-checked, the job ours to touch, the body a JSON object
/// (or empty); then `op`, and its answer (held back under `LoseAnswer`).
async fn operate(
    shared: Arc<Shared>,
    endpoint: Endpoint,
    (job_ref, payment_ref): (String, String),
    headers: &HeaderMap,
    body: &[u8],
    op: impl FnOnce(&Arc<Shared>, &str, &str, Map<String, Value>) -> Result<Response, MoneyError>,
) -> Response {
    let (job_ref, payment_ref) = (canonical(job_ref), canonical(payment_ref));
    let passed = match gate(&shared, endpoint, headers, body).await {
        Ok(passed) => passed,
        Err(r) => return r,
    };
    if let Some(refused) = not_yours(&shared, &job_ref) {
        return refused;
    }
    let answer = object(body)
        .and_then(|o| op(&shared, &job_ref, &payment_ref, o))
        .unwrap_or_else(|e| refused(&e));
    // Under `LoseAnswer` the change stands, but its answer never arrives.
    passed.answer(&shared, answer).await
}

pub(crate) async fn capture(
    State(shared): S,
    Path(refs): PaymentPath,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    operate(shared, Endpoint::Capture, refs, &headers, &body, capture_op).await
}

fn capture_op(
    shared: &Arc<Shared>,
    job_ref: &str,
    payment_ref: &str,
    o: Map<String, Value>,
) -> Result<Response, MoneyError> {
    let amount = optional_amount(&o, "amountToCapture")?;
    let is_final = match o.get("isFinalCapture") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(MoneyError::Invalid(
                "InvalidIsFinalCapture",
                "isFinalCapture must be true or false.".to_owned(),
            ))
        }
    };
    let (capture, change) =
        lock(&shared.ledger).capture(job_ref, payment_ref, amount, is_final, shared.now())?;
    shared.bump();
    if lock(&shared.money).settings.capture_notifies {
        notify(shared, change);
    }
    let data = serde_json::to_value(capture).expect("a capture serialises");
    Ok(created(shared, job_ref, payment_ref, data))
}

pub(crate) async fn refund(
    State(shared): S,
    Path(refs): PaymentPath,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    operate(shared, Endpoint::Refund, refs, &headers, &body, refund_op).await
}

fn refund_op(
    shared: &Arc<Shared>,
    job_ref: &str,
    payment_ref: &str,
    o: Map<String, Value>,
) -> Result<Response, MoneyError> {
    let amount = optional_amount(&o, "amountToRefund")?.ok_or_else(|| {
        MoneyError::Invalid(
            "InvalidAmountToRefund",
            "amountToRefund is required.".to_owned(),
        )
    })?;
    let refund_number = match o.get("refundNumber") {
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 50 => s.clone(),
        _ => {
            return Err(MoneyError::Invalid(
                "InvalidRefundNumber",
                "refundNumber is required: a string of 1 to 50 characters.".to_owned(),
            ))
        }
    };
    let refund = make_refund(shared, job_ref, payment_ref, amount, refund_number)?;
    let data = serde_json::to_value(refund).expect("a refund serialises");
    Ok(created(shared, job_ref, payment_ref, data))
}

/// Refund as the switches say (Completed, Pending then Completed, or Failed). No
/// notification: a refund is not a payment status change.
pub(crate) fn make_refund(
    shared: &Arc<Shared>,
    job_ref: &str,
    payment_ref: &str,
    amount: Amount,
    refund_number: String,
) -> Result<Refund, MoneyError> {
    let mode = lock(&shared.money).settings.refunds.clone();
    let refund = lock(&shared.ledger).refund(
        job_ref,
        payment_ref,
        amount,
        refund_number,
        mode.end(),
        shared.now(),
    )?;
    shared.bump();
    if let RefundMode::Pending { pending_for } = mode {
        let due = refund.create_date_time_utc + pending_for;
        tokio::spawn(complete_when_due(
            shared.clone(),
            job_ref.to_owned(),
            payment_ref.to_owned(),
            refund.reference.clone(),
            due,
        ));
    }
    Ok(refund)
}

/// Complete a Pending refund once the sim clock reads `due` (sooner if the clock is
/// advanced).
async fn complete_when_due(
    shared: Arc<Shared>,
    job_ref: String,
    payment_ref: String,
    refund_ref: String,
    due: time::OffsetDateTime,
) {
    let mut changes = shared.changed.subscribe();
    while shared.now() < due {
        changes.borrow_and_update();
        tokio::select! {
            _ = shared.clock().sleep_until(due) => {}
            changed = changes.changed() => if changed.is_err() { return },
            _ = shared.stopped() => return,
        }
    }
    let finished = lock(&shared.ledger).finish_refund(
        &job_ref,
        &payment_ref,
        &refund_ref,
        OperationStatus::Completed,
        shared.now(),
    );
    if let Err(e) = finished {
        tracing::warn!(error = %e, "sim: a pending refund could not complete");
    }
    shared.bump();
}

pub(crate) async fn cancel_payment(
    State(shared): S,
    Path(refs): PaymentPath,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    operate(
        shared,
        Endpoint::CancelPayment,
        refs,
        &headers,
        &body,
        cancel_op,
    )
    .await
}

/// The route takes no amount; one that names less than the whole is a partial cancel.
fn cancel_op(
    shared: &Arc<Shared>,
    job_ref: &str,
    payment_ref: &str,
    o: Map<String, Value>,
) -> Result<Response, MoneyError> {
    let amount = match optional_amount(&o, "amountToCancel")? {
        Some(a) => Some(a),
        None => optional_amount(&o, "amount")?,
    };
    let (payment, change) =
        lock(&shared.ledger).cancel_payment(job_ref, payment_ref, amount, shared.now())?;
    shared.bump();
    notify(shared, change);
    let links = payment_links(shared, job_ref, payment_ref);
    let data = serde_json::to_value(payment).expect("a payment serialises");
    Ok((StatusCode::OK, Json(envelope(data, links))).into_response())
}

/// A portal refund the gateway refused: the HTTP status the API would answer, and why.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("refused with {status}: {}", report.errors.first().map_or("", |e| e.message.as_str()))]
pub struct PortalRefused {
    pub status: u16,
    pub report: ErrorReport,
}

/// A refund made in the Cashflows portal (the control route and `SimHandle`).
pub(crate) fn portal_refund(
    shared: &Arc<Shared>,
    job_ref: &str,
    payment_ref: &str,
    amount: rust_decimal::Decimal,
    refund_number: Option<String>,
) -> Result<Refund, PortalRefused> {
    let outcome = check_amount(amount, "amount").and_then(|amount| {
        let number = refund_number.unwrap_or_else(|| {
            let n = lock(&shared.ledger).next_reference();
            format!("portal-{n}")
        });
        make_refund(shared, job_ref, payment_ref, amount, number)
    });
    outcome.map_err(|e| PortalRefused {
        status: refused_status(&e).as_u16(),
        report: ErrorReport::single(refused_code(&e), &e.to_string()),
    })
}
