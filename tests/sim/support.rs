//! Shared test helpers: starting the sim, a signed gateway client, webhook receivers.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use sha2::{Digest, Sha512};
use tillwatch_sim::{self as sim, CreateJob, JobSnapshot, SimConfig, SimHandle};

pub const WAIT: Duration = Duration::from_secs(30);
pub const KEY: &str = "sim-api-key";
pub const CONFIG_ID: &str = "sim-config";

/// Fast enough that a month of retries passes in well under a second.
pub fn fast_config() -> SimConfig {
    SimConfig {
        clock_scale: 1e7,
        step_gap: Duration::from_secs(10),
        notify_timeout: Duration::from_secs(5),
        ..SimConfig::default()
    }
}

pub async fn start(config: SimConfig) -> SimHandle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    sim::start(listener, config).await.unwrap()
}

pub fn order(order_number: &str, webhook_url: Option<String>) -> CreateJob {
    CreateJob {
        amount: "10.00".parse().unwrap(),
        currency: "GBP".into(),
        order_number: order_number.into(),
        email: "shopper@example.com".into(),
        webhook_url,
    }
}

pub fn create(sim: &SimHandle, order_number: &str, webhook_url: Option<String>) -> JobSnapshot {
    sim.create_job(order(order_number, webhook_url)).unwrap()
}

/// Hex SHA-512 of key ‖ body, computed here rather than trusting the sim's own helper.
pub fn hash(key: &str, body: &[u8]) -> String {
    let mut h = Sha512::new();
    h.update(key.as_bytes());
    h.update(body);
    hex::encode(h.finalize())
}

/// A minimal signed client for the simulated gateway.
pub struct Gateway {
    pub base: String,
    pub http: reqwest::Client,
}

pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Gateway {
    pub fn new(sim: &SimHandle) -> Self {
        Self {
            base: format!("{}/api/gateway", sim.base_url()),
            http: reqwest::Client::new(),
        }
    }

    /// Send with explicit headers; `None` leaves a header out.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&[u8]>,
        config_id: Option<&str>,
        hash: Option<&str>,
    ) -> Answer {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(c) = config_id {
            req = req.header("ConfigurationId", c);
        }
        if let Some(h) = hash {
            req = req.header("Hash", h);
        }
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/json")
                .body(b.to_vec());
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let bytes = res.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Answer { status, body }
    }

    pub async fn signed(&self, method: reqwest::Method, path: &str, body: Option<&[u8]>) -> Answer {
        let h = hash(KEY, body.unwrap_or_default());
        self.send(method, path, body, Some(CONFIG_ID), Some(&h))
            .await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.signed(reqwest::Method::GET, path, None).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Answer {
        let bytes = serde_json::to_vec(body).unwrap();
        self.signed(reqwest::Method::POST, path, Some(&bytes)).await
    }
}

/// The first error code of an error envelope, after checking the envelope's shape.
pub fn error_code(answer: &Answer) -> String {
    let b = &answer.body;
    assert!(b["data"].is_null(), "error answers carry no data: {b}");
    assert!(
        b.get("links").is_some_and(Value::is_null),
        "links is null: {b}"
    );
    let report = &b["errorReport"];
    assert_eq!(report["language"], "en", "{b}");
    assert!(report["isFatalError"].is_boolean(), "{b}");
    assert!(report["warnings"].is_array(), "{b}");
    let first = &report["errors"][0];
    for key in ["message", "translatedMessage"] {
        assert!(first[key].is_string(), "{key} in {b}");
    }
    assert!(first["parameters"].is_array(), "{b}");
    first["code"].as_str().expect("an error code").to_owned()
}

/// How a test webhook answers.
#[derive(Clone, Copy, Debug)]
pub enum Ack {
    CorrectEcho,
    MissingEcho,
    WrongEcho,
    EchoAsNumbers,
    ServerError,
    NotJson,
}

/// One notification as the receiver saw it.
#[derive(Clone, Debug)]
pub struct Received {
    pub content_type: Option<String>,
    pub body: Value,
}

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    pub received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

/// A webhook on 127.0.0.1:0 that answers every notification as `ack` says.
pub async fn receiver(ack: Ack) -> Receiver {
    let received = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state((ack, received.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Receiver { url, received }
}

type HookState = (Ack, Arc<Mutex<Vec<Received>>>);

async fn hook(
    State((ack, received)): State<HookState>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let parsed: Value = serde_json::from_str(&body).unwrap_or(Value::String(body));
    received.lock().unwrap().push(Received {
        content_type: headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: parsed.clone(),
    });
    let job = parsed["paymentJobReference"].clone();
    let payment = parsed["paymentReference"].clone();
    match ack {
        Ack::CorrectEcho => {
            Json(json!({"paymentJobReference": job, "paymentReference": payment})).into_response()
        }
        Ack::MissingEcho => Json(json!({"paymentJobReference": job})).into_response(),
        Ack::WrongEcho => {
            Json(json!({"paymentJobReference": job, "paymentReference": "999999999999999999"}))
                .into_response()
        }
        Ack::EchoAsNumbers => {
            let n = |v: &Value| v.as_str().unwrap().parse::<u64>().unwrap();
            Json(json!({"paymentJobReference": n(&job), "paymentReference": n(&payment)}))
                .into_response()
        }
        Ack::ServerError => {
            let echo = json!({"paymentJobReference": job, "paymentReference": payment});
            (StatusCode::INTERNAL_SERVER_ERROR, Json(echo)).into_response()
        }
        Ack::NotJson => "OK".into_response(),
    }
}

/// A URL on which nothing listens (bound, read, released).
pub async fn refused_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/hook")
}

/// Checks the gateway's timestamp shape: `2026-11-24T10:11:12.1234567Z`.
pub fn assert_wire_time(v: &Value) {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("timestamp string, got {v}"));
    let b = s.as_bytes();
    let ok = b.len() == 28
        && b[10] == b'T'
        && b[19] == b'.'
        && b[27] == b'Z'
        && b[20..27].iter().all(u8::is_ascii_digit);
    assert!(ok, "not a 7-digit UTC timestamp: {s}");
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap();
}

pub fn assert_reference(v: &Value) {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("reference must be a string, got {v}"));
    assert!(
        s.len() == 18 && s.bytes().all(|b| b.is_ascii_digit()),
        "not an 18-digit reference: {s}"
    );
}
