//! Control routes under `/_sim/` (no gateway signature) so another process — the CLI
//! demo, a benchmark — can drive the simulator over HTTP: jobs and their shoppers,
//! deliveries, request counts, faults, the money switches (`/_sim/money`), sim time
//! (`/_sim/clock/advance`) and refunds made "in the Cashflows portal". Loopback use only.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::clock::format_wire;
use super::faults::{Endpoint, Fault, FaultTarget};
use super::handle::SimHandle;
use super::model::{error_envelope, Amount, ErrorReport};
use super::money_settings::{MoneySettings, RefundMode};
use super::request::CreateJob;
use super::shopper::Script;

type S = State<SimHandle>;

pub(crate) fn router(handle: SimHandle) -> Router {
    Router::new()
        .route("/_sim/jobs", post(create_job).get(list_jobs))
        .route("/_sim/jobs/{job_ref}", get(get_job))
        .route("/_sim/jobs/{job_ref}/play", post(play))
        .route("/_sim/deliveries", get(deliveries))
        .route("/_sim/series", get(series))
        .route("/_sim/requests", get(requests))
        .route("/_sim/faults", post(set_fault).delete(clear_faults))
        .route("/_sim/money", get(money).post(set_money))
        .route("/_sim/clock/advance", post(advance_clock))
        .route(
            "/_sim/jobs/{job_ref}/payments/{payment_ref}/refunds",
            post(portal_refund),
        )
        .with_state(handle)
}

/// `POST /_sim/jobs`: `{"amount": "10.00", "currency": "GBP", "orderNumber": "A1",
/// "email": "a@example.com", "webhookUrl": null, "script": {"kind": "paysAtOnce"}}`;
/// `"configurationId": "other"` makes it another merchant's job, `"autoCapture": false`
/// one whose card payment stops at Reserved.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewJobRequest {
    amount: Amount,
    currency: String,
    order_number: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    webhook_url: Option<String>,
    #[serde(default)]
    script: Option<Script>,
    /// Another merchant's `ConfigurationId`: the job is theirs, refused to ours (403).
    #[serde(default)]
    configuration_id: Option<String>,
    /// `false`: the job's card payment stops at Reserved (absent: the sim-wide switch).
    #[serde(default)]
    auto_capture: Option<bool>,
}

/// The body as `T`, or a 400 saying why not.
fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ErrorReport> {
    serde_json::from_slice(body).map_err(|e| ErrorReport::single("InvalidRequest", &e.to_string()))
}

fn bad_request(report: &ErrorReport) -> Response {
    (StatusCode::BAD_REQUEST, Json(error_envelope(report))).into_response()
}

async fn create_job(State(handle): S, body: axum::body::Bytes) -> Response {
    let req: NewJobRequest = match json_body(&body) {
        Ok(parsed) => parsed,
        Err(report) => return bad_request(&report),
    };
    let merchant = req
        .configuration_id
        .unwrap_or_else(|| handle.config().configuration_id.clone());
    let created = handle.create_job_for(
        &merchant,
        CreateJob {
            amount: req.amount.0,
            currency: req.currency,
            order_number: req.order_number,
            email: req.email,
            webhook_url: req.webhook_url,
        },
    );
    let snapshot = match created {
        Ok(s) => s,
        Err(report) => return bad_request(&report),
    };
    if let Some(on) = req.auto_capture {
        handle.set_job_auto_capture(&snapshot.reference, on);
    }
    if let Some(script) = req.script {
        // The shopper runs on its own; the caller follows it through deliveries.
        drop(handle.play(&snapshot.reference, script));
    }
    (
        StatusCode::CREATED,
        Json(json!({ "job": snapshot.job, "hppUrl": snapshot.hpp_url })),
    )
        .into_response()
}

async fn list_jobs(State(handle): S) -> Json<Vec<String>> {
    Json(handle.job_refs())
}

async fn get_job(State(handle): S, Path(job_ref): Path<String>) -> Response {
    match handle.job(&job_ref) {
        Some(job) => Json(job).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(error_envelope(&ErrorReport::single(
                "PaymentJobNotFound",
                "The payment job does not exist.",
            ))),
        )
            .into_response(),
    }
}

async fn play(State(handle): S, Path(job_ref): Path<String>, body: axum::body::Bytes) -> Response {
    let script: Script = match json_body(&body) {
        Ok(parsed) => parsed,
        Err(report) => return bad_request(&report),
    };
    if handle.job(&job_ref).is_none() {
        return get_job(State(handle), Path(job_ref)).await;
    }
    drop(handle.play(&job_ref, script));
    StatusCode::ACCEPTED.into_response()
}

async fn deliveries(State(handle): S) -> Response {
    Json(handle.deliveries()).into_response()
}

async fn series(State(handle): S) -> Response {
    Json(handle.series()).into_response()
}

async fn requests(State(handle): S) -> Json<BTreeMap<String, u64>> {
    Json(
        Endpoint::ALL
            .iter()
            .map(|e| {
                let name = serde_json::to_value(e).expect("an endpoint serialises");
                let name = name
                    .as_str()
                    .expect("a unit variant is a string")
                    .to_owned();
                (name, handle.api_request_count(*e))
            })
            .collect(),
    )
}

/// `POST /_sim/faults`: `{"target": "retrievePayment", "fault": {"kind": "status",
/// "status": 500}, "times": 2}` (`times` absent: until cleared).
#[derive(Deserialize)]
struct FaultRequest {
    target: FaultTarget,
    fault: Fault,
    #[serde(default)]
    times: Option<u32>,
}

async fn set_fault(State(handle): S, body: axum::body::Bytes) -> Response {
    let req: FaultRequest = match json_body(&body) {
        Ok(parsed) => parsed,
        Err(report) => return bad_request(&report),
    };
    match req.times {
        Some(n) => handle.set_fault_times(req.target, req.fault, n),
        None => handle.set_fault(req.target, req.fault),
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn clear_faults(State(handle): S) -> StatusCode {
    handle.clear_faults();
    StatusCode::NO_CONTENT
}

async fn money(State(handle): S) -> Json<MoneySettings> {
    Json(handle.money_settings())
}

/// `POST /_sim/money`: any of `{"autoCapture": false, "captureNotifies": false,
/// "refunds": {"kind": "pending", "pendingFor": 3600}}` (`refunds` kinds: `completed`,
/// `pending` with sim seconds, `failed`); answers the switches as they now are.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MoneyRequest {
    #[serde(default)]
    auto_capture: Option<bool>,
    #[serde(default)]
    capture_notifies: Option<bool>,
    #[serde(default)]
    refunds: Option<RefundMode>,
}

async fn set_money(State(handle): S, body: axum::body::Bytes) -> Response {
    let req: MoneyRequest = match json_body(&body) {
        Ok(parsed) => parsed,
        Err(report) => return bad_request(&report),
    };
    let mut settings = handle.money_settings();
    settings.auto_capture = req.auto_capture.unwrap_or(settings.auto_capture);
    settings.capture_notifies = req.capture_notifies.unwrap_or(settings.capture_notifies);
    settings.refunds = req.refunds.unwrap_or(settings.refunds);
    handle.set_money_settings(settings.clone());
    Json(settings).into_response()
}

/// `POST /_sim/clock/advance`: `{"seconds": 86400}` moves sim time forward; answers
/// `{"now": "2026-…Z"}`.
#[derive(Deserialize)]
struct AdvanceRequest {
    seconds: u64,
}

async fn advance_clock(State(handle): S, body: axum::body::Bytes) -> Response {
    let req: AdvanceRequest = match json_body(&body) {
        Ok(parsed) => parsed,
        Err(report) => return bad_request(&report),
    };
    handle.advance_clock(Duration::from_secs(req.seconds));
    Json(json!({ "now": format_wire(handle.clock().now()) })).into_response()
}

/// `POST /_sim/jobs/{job}/payments/{payment}/refunds`: `{"amount": "2.50",
/// "refundNumber": "R-1"}` (`refundNumber` optional): a refund made in the Cashflows
/// portal. Answers 201 with the refund as `refunds[]` lists it, or the status the API
/// would refuse it with.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PortalRefundRequest {
    amount: Amount,
    #[serde(default)]
    refund_number: Option<String>,
}

async fn portal_refund(
    State(handle): S,
    Path((job_ref, payment_ref)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let req: PortalRefundRequest = match json_body(&body) {
        Ok(parsed) => parsed,
        Err(report) => return bad_request(&report),
    };
    match handle.portal_refund(&job_ref, &payment_ref, req.amount.0, req.refund_number) {
        Ok(refund) => (StatusCode::CREATED, Json(refund)).into_response(),
        Err(refused) => (
            StatusCode::from_u16(refused.status).unwrap_or(StatusCode::BAD_REQUEST),
            Json(error_envelope(&refused.report)),
        )
            .into_response(),
    }
}
