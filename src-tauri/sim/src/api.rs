//! The gateway's HTTP API (`/api/gateway/…`, signed) and the hosted payment page.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, head, patch, post};
use axum::{Json, Router};
use serde_json::json;

use super::auth;
use super::faults::{Endpoint, Fault};
use super::ledger::LedgerError;
use super::model::{envelope, error_envelope, ErrorReport, Job};
use super::notifier::notify;
use super::request::{parse_create, ReturnUrls};
use super::shared::{lock, Shared};

type S = State<Arc<Shared>>;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/gateway/payment-jobs", post(create_job))
        .route("/api/gateway/payment-jobs/{job_ref}", get(retrieve_job))
        .route(
            "/api/gateway/payment-jobs/{job_ref}/payments/{payment_ref}",
            get(retrieve_payment),
        )
        .route(
            "/api/gateway/payment-jobs/{job_ref}/cancel",
            patch(cancel_job),
        )
        .route("/api/gateway/orders/{order_number}", head(order_exists))
        .route("/hpp/{job_ref}", get(hpp_page))
        .with_state(shared)
}

/// 404 with an error envelope for any other path.
pub(crate) async fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        ErrorReport::single("NotFound", "No such resource."),
    )
}

pub(crate) fn error(status: StatusCode, report: ErrorReport) -> Response {
    (status, Json(error_envelope(&report))).into_response()
}

/// Which version of a job or payment a read answers with.
#[derive(Clone, Copy)]
pub(crate) enum Version {
    Current,
    /// As it was before its latest change.
    Stale,
    /// The newest version made at or before this (real) instant.
    AsOf(tokio::time::Instant),
}

/// A request that passed the gate: which version to answer with, and whether its
/// answer is to be lost (`Fault::LoseAnswer`: the fault generation to hold until).
pub(crate) struct Passed {
    pub version: Version,
    pub lose_answer: Option<u64>,
}

impl Passed {
    /// The answer, or under `LoseAnswer` nothing until faults change (the client has
    /// given up by then); 503 if the sim stops first.
    pub async fn answer(&self, shared: &Shared, answer: Response) -> Response {
        match self.lose_answer {
            Some(generation) => match hang(shared, generation).await {
                Ok(()) => answer,
                Err(stopped) => stopped,
            },
            None => answer,
        }
    }
}

/// Count the request, apply any fault, then check the signature; which version to
/// answer with.
pub(crate) async fn gate(
    shared: &Shared,
    endpoint: Endpoint,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Passed, Response> {
    let (fault, generation) = {
        let mut faults = lock(&shared.faults);
        (faults.on_request(endpoint), faults.generation())
    };
    shared.bump();
    let mut version = Version::Current;
    let mut lose_answer = None;
    match fault {
        Fault::None => {}
        Fault::Status { status } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return Err(error(
                status,
                ErrorReport::single(
                    "SimulatedFault",
                    &format!("Simulated HTTP {}.", status.as_u16()),
                ),
            ));
        }
        Fault::Delay { delay } => {
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shared.stopped() => return Err(unavailable()),
            }
        }
        Fault::Hang => hang(shared, generation).await?,
        Fault::Unauthorized => return Err(error(StatusCode::UNAUTHORIZED, auth::invalid_hash())),
        Fault::StaleAnswer => version = Version::Stale,
        Fault::Lagging { lag } => {
            let now = tokio::time::Instant::now();
            version = Version::AsOf(now.checked_sub(lag).unwrap_or(now));
        }
        // A read changes nothing, so losing its answer is hanging.
        Fault::LoseAnswer if !endpoint.changes_state() => hang(shared, generation).await?,
        Fault::LoseAnswer => lose_answer = Some(generation),
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    auth::check(
        &shared.config.configuration_id,
        &shared.config.api_keys,
        header("ConfigurationId"),
        header("Hash"),
        body,
    )
    .map_err(|report| error(StatusCode::UNAUTHORIZED, report))?;
    Ok(Passed {
        version,
        lose_answer,
    })
}

/// Hold the request until faults are next changed; 503 if the sim stops first.
async fn hang(shared: &Shared, generation: u64) -> Result<(), Response> {
    let mut changes = shared.changed.subscribe();
    loop {
        changes.borrow_and_update();
        if lock(&shared.faults).generation() != generation {
            return Ok(());
        }
        if shared.is_stopped() {
            return Err(unavailable());
        }
        if changes.changed().await.is_err() {
            return Err(unavailable());
        }
    }
}

fn unavailable() -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        ErrorReport::single("ServiceUnavailable", "The gateway is shutting down."),
    )
}

fn job_answer(shared: &Shared, status: StatusCode, job: &Job) -> Response {
    let links = json!({
        "data": { "url": shared.job_url(&job.reference) },
        "action": { "url": shared.hpp_url(&job.reference) },
    });
    let data = serde_json::to_value(job).expect("a job serialises");
    (status, Json(envelope(data, links))).into_response()
}

/// The `links` of an answer about one payment.
pub(crate) fn payment_links(
    shared: &Shared,
    job_ref: &str,
    payment_ref: &str,
) -> serde_json::Value {
    json!({
        "data": { "url": format!("{}/payments/{payment_ref}", shared.job_url(job_ref)) },
        "action": null,
    })
}

/// Another merchant's job: the signature was good, but the job is not ours to see.
pub(crate) fn not_yours(shared: &Shared, job_ref: &str) -> Option<Response> {
    lock(&shared.ledger).is_foreign(job_ref).then(|| {
        error(
            StatusCode::FORBIDDEN,
            ErrorReport::single(
                "AccessDenied",
                "The payment job belongs to another merchant.",
            ),
        )
    })
}

pub(crate) fn job_not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        ErrorReport::single("PaymentJobNotFound", "The payment job does not exist."),
    )
}

async fn create_job(State(shared): S, headers: HeaderMap, body: Bytes) -> Response {
    let passed = match gate(&shared, Endpoint::CreateJob, &headers, &body).await {
        Ok(passed) => passed,
        Err(r) => return r,
    };
    let new = match parse_create(&body) {
        Ok(new) => new,
        Err(report) => return error(StatusCode::BAD_REQUEST, report),
    };
    let job = lock(&shared.ledger).create(new, shared.now());
    shared.bump();
    passed
        .answer(&shared, job_answer(&shared, StatusCode::CREATED, &job))
        .await
}

/// The spec types references as int64: the gateway reads `0123` in a path as `123`.
pub(crate) fn canonical(reference: String) -> String {
    reference
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 0 && reference.bytes().all(|b| b.is_ascii_digit()))
        .map_or(reference, |n| n.to_string())
}

async fn retrieve_job(
    State(shared): S,
    Path(job_ref): Path<String>,
    headers: HeaderMap,
) -> Response {
    let job_ref = canonical(job_ref);
    let version = match gate(&shared, Endpoint::RetrieveJob, &headers, b"").await {
        Ok(passed) => passed.version,
        Err(r) => return r,
    };
    if let Some(refused) = not_yours(&shared, &job_ref) {
        return refused;
    }
    let job = {
        let ledger = lock(&shared.ledger);
        match version {
            Version::Current => ledger.job(&job_ref).cloned(),
            Version::Stale => ledger.stale_job(&job_ref).cloned(),
            Version::AsOf(at) => ledger.job_as_of(&job_ref, at).cloned(),
        }
    };
    match job {
        Some(job) => job_answer(&shared, StatusCode::OK, &job),
        None => job_not_found(),
    }
}

async fn retrieve_payment(
    State(shared): S,
    Path((job_ref, payment_ref)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let (job_ref, payment_ref) = (canonical(job_ref), canonical(payment_ref));
    let version = match gate(&shared, Endpoint::RetrievePayment, &headers, b"").await {
        Ok(passed) => passed.version,
        Err(r) => return r,
    };
    if let Some(refused) = not_yours(&shared, &job_ref) {
        return refused;
    }
    let (job_known, payment) = {
        let ledger = lock(&shared.ledger);
        let payment = match version {
            Version::Current => ledger.payment(&job_ref, &payment_ref),
            Version::Stale => ledger.stale_payment(&job_ref, &payment_ref),
            Version::AsOf(at) => ledger
                .job_as_of(&job_ref, at)
                .and_then(|j| j.payment(&payment_ref)),
        };
        (ledger.job(&job_ref).is_some(), payment.cloned())
    };
    match payment {
        Some(payment) => {
            let links = payment_links(&shared, &job_ref, &payment.reference);
            let data = serde_json::to_value(payment).expect("a payment serialises");
            (StatusCode::OK, Json(envelope(data, links))).into_response()
        }
        None if !job_known => job_not_found(),
        None => error(
            StatusCode::NOT_FOUND,
            ErrorReport::single(
                "PaymentNotFound",
                "The payment does not exist in this payment job.",
            ),
        ),
    }
}

async fn cancel_job(State(shared): S, Path(job_ref): Path<String>, headers: HeaderMap) -> Response {
    let passed = match gate(&shared, Endpoint::CancelJob, &headers, b"").await {
        Ok(passed) => passed,
        Err(r) => return r,
    };
    if let Some(refused) = not_yours(&shared, &job_ref) {
        return refused;
    }
    let outcome = {
        let mut ledger = lock(&shared.ledger);
        ledger
            .cancel(&job_ref, shared.now())
            .map(|change| (change, ledger.job(&job_ref).cloned().expect("just changed")))
    };
    match outcome {
        Ok((change, job)) => {
            shared.bump();
            notify(&shared, change);
            passed
                .answer(&shared, job_answer(&shared, StatusCode::OK, &job))
                .await
        }
        Err(LedgerError::UnknownJob) => job_not_found(),
        // The real gateway lists 406 for operations refused in the job's state.
        Err(e) => error(
            StatusCode::NOT_ACCEPTABLE,
            ErrorReport::single("InvalidPaymentJobStatus", &format!("Cannot cancel: {e}.")),
        ),
    }
}

async fn order_exists(
    State(shared): S,
    Path(order_number): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = gate(&shared, Endpoint::OrderExists, &headers, b"").await {
        return r;
    }
    if lock(&shared.ledger).order_exists(&order_number) {
        StatusCode::OK.into_response()
    } else {
        StatusCode::NOT_FOUND.into_response()
    }
}

/// The hosted payment page, reduced to a label (no auth: the shopper's browser).
async fn hpp_page(State(shared): S, Path(job_ref): Path<String>) -> Response {
    let found = {
        let ledger = lock(&shared.ledger);
        ledger
            .job(&job_ref)
            .cloned()
            .zip(ledger.return_urls(&job_ref).cloned())
    };
    let Some((job, back)) = found else {
        return (
            StatusCode::NOT_FOUND,
            Html("<!doctype html><title>Not found</title><p>No such payment job.</p>".to_owned()),
        )
            .into_response();
    };
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Cashflows payment page (simulated)</title></head>\
         <body><h1>Cashflows payment page (simulated)</h1>\
         <p>Order {order}: {amount} {currency}</p><p>Status: {status}</p>\
         <p>Payment job {reference}</p>{links}</body></html>",
        order = escape(&job.order.order_number),
        amount = job.amount_to_collect.wire(),
        currency = escape(&job.currency),
        status = job.payment_status,
        reference = escape(&job.reference),
        links = return_links(&back),
    ))
    .into_response()
}

/// Where the shop asked the shopper to be sent back to, as plain links.
fn return_links(back: &ReturnUrls) -> String {
    [
        ("Back to the shop (paid)", &back.success),
        ("Back to the shop (failed)", &back.failed),
        ("Back to the shop (cancelled)", &back.cancelled),
    ]
    .iter()
    .filter_map(|(label, url)| {
        url.as_deref()
            .map(|u| format!("<p><a href=\"{}\">{label}</a></p>", escape(u)))
    })
    .collect()
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
