//! The public webhook listener: the only thing reachable through the tunnel. One route,
//! `POST /webhooks/cashflows[/{secret}]`. A notification is acknowledged (200 echoing both
//! references, which is what stops the gateway's retries) only once its delivery row is
//! durably committed; it is never believed here, only queued for confirmation. A
//! well-formed notification from an allowed source is never refused for volume; junk
//! spends its source's allowance (see `guard`).

mod guard;
mod ledger;
mod probes;
mod rate;
mod refusals;
mod serve;
mod sources;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::to_bytes;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;

use crate::domain::{JobRef, PaymentRef, RefError, Timestamp};
use crate::store::{NewDelivery, RejectedDelivery, Store};
use guard::{too_much_junk, Gate};

pub use probes::{ProbeBook, ProbeTicket, PROBE_HEADER};
pub use rate::{source_key, JunkLimit};
pub use refusals::RefusalCounts;
pub use serve::{serve, serve_with, ServeLimits};
pub use sources::{parse_addresses, SourcePolicy, GATEWAY_INTEGRATION, GATEWAY_PRODUCTION};

/// Notifications are tiny; anything near this is not one.
pub const BODY_LIMIT: usize = 16 * 1024;

pub const WEBHOOK_PATH: &str = "/webhooks/cashflows";

/// Called after each delivery commits (wakes the confirm worker).
pub type OnDelivery = Arc<dyn Fn() + Send + Sync>;

/// Told when the gateway does not know a notification's references (the confirm worker
/// got a 404): its sender sent junk.
pub type OnUnknownReference = Arc<dyn Fn(&JobRef, &PaymentRef) + Send + Sync>;

/// The listener as the program serves it: the route, its source policy, and the refusal
/// log. Build it with [`Listener::new`]; serve it with [`Listener::serve`].
pub struct Listener {
    router: Router,
    gate: Arc<Gate>,
}

impl Listener {
    /// Starts the refusal log's writer: needs a Tokio runtime.
    pub fn new<S: Store>(
        store: S,
        secret: Option<&str>,
        sources: SourcePolicy,
        on_delivery: OnDelivery,
    ) -> Self {
        let gate = Arc::new(Gate::new(store.clone(), sources));
        // A full write queue answers 503 at once (the gateway retries) rather than holding
        // the connection until there is room.
        let state = ListenerState {
            store: store.refusing_when_full(),
            on_delivery,
            gate: Arc::clone(&gate),
        };
        let router = Router::new()
            .route(&webhook_path(secret), post(receive))
            .fallback(|| async { (StatusCode::NOT_FOUND, Json(json!({"error": "not found"}))) })
            .with_state(state);
        Self { router, gate }
    }

    /// The router (to drive without a socket, or to wrap).
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// Wraps the router in a layer that changes no answer (the tunnel's probe).
    pub fn map_router(mut self, wrap: impl FnOnce(Router) -> Router) -> Self {
        self.router = wrap(self.router);
        self
    }

    /// For the confirm worker: charges the sender of references the gateway does not know.
    pub fn on_unknown_reference(&self) -> OnUnknownReference {
        let gate = Arc::clone(&self.gate);
        Arc::new(move |job, payment| gate.unknown_reference(job, payment))
    }

    /// How many refusals were kept, dropped, limited or closed at accept.
    pub fn refusals(&self) -> Arc<RefusalCounts> {
        self.gate.counts()
    }

    /// Serves until `shutdown` resolves (see [`serve_with`]), checking the allow-list and
    /// the per-source connection cap at accept.
    pub async fn serve(
        self,
        tcp: TcpListener,
        limits: ServeLimits,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        serve::serve_gated(tcp, self.router, limits, self.gate, shutdown).await
    }
}

#[derive(Clone)]
struct ListenerState<S> {
    store: S,
    on_delivery: OnDelivery,
    gate: Arc<Gate>,
}

/// Why a notification was refused. The answer says what was wrong with the request, never
/// anything about our internals.
#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error("body larger than {BODY_LIMIT} bytes")]
    TooLarge,
    #[error("body is not JSON")]
    NotJson,
    #[error("body is not a JSON object")]
    NotObject,
    #[error("{0} is missing")]
    Missing(&'static str),
    #[error("{0} must be a string of digits")]
    NotText(&'static str),
    #[error("{0}: {1}")]
    BadReference(&'static str, RefError),
}

impl Refusal {
    fn status(&self) -> StatusCode {
        match self {
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// The shortest and longest secret path segment.
pub const SECRET_MIN_LEN: usize = 16;
pub const SECRET_MAX_LEN: usize = 128;

/// The secret path segment an owner may add so only the gateway knows the full URL.
pub fn validate_secret(secret: &str) -> Result<(), String> {
    let ok = (SECRET_MIN_LEN..=SECRET_MAX_LEN).contains(&secret.len())
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "the webhook secret must be {SECRET_MIN_LEN} to {SECRET_MAX_LEN} letters, digits, '-' or '_'"
        ))
    }
}

/// The path the gateway must post to.
pub fn webhook_path(secret: Option<&str>) -> String {
    match secret {
        Some(s) => format!("{WEBHOOK_PATH}/{s}"),
        None => WEBHOOK_PATH.to_owned(),
    }
}

/// The listener with the defaults that ship (any source, junk limited), as a router.
pub fn router<S: Store>(store: S, secret: Option<&str>, on_delivery: OnDelivery) -> Router {
    Listener::new(store, secret, SourcePolicy::default(), on_delivery).router()
}

async fn receive<S: Store>(State(state): State<ListenerState<S>>, request: Request) -> Response {
    let received_at = Timestamp::now();
    let (parts, body) = request.into_parts();
    // Absent when the router is driven without a socket (router tests).
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip());
    let client = state.gate.client(peer, &parts.headers);
    let remote_addr = peer.map(|p| p.to_string());
    let forwarded_for = parts
        .headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.chars().take(200).collect::<String>());
    let gate = &state.gate;

    let allowed = gate.allows(client);
    // Junk past its source's allowance is answered before its body is read, and not kept.
    if !allowed && !gate.spend_junk(client) {
        return too_much_junk();
    }
    let (bytes, parsed) = match to_bytes(body, BODY_LIMIT).await {
        Ok(b) => {
            let parsed = parse(&b);
            (b, parsed)
        }
        Err(_) => (Default::default(), Err(Refusal::TooLarge)),
    };
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let refused = |error: String, status: StatusCode, answer: String| {
        tracing::warn!(%client, "refused a notification: {error}");
        gate.keep(RejectedDelivery {
            received_at,
            remote_addr: remote_addr.clone(),
            forwarded_for: forwarded_for.clone(),
            body: text.clone(),
            error,
            response_status: status.as_u16(),
        });
        (status, Json(json!({ "error": answer }))).into_response()
    };
    if !allowed {
        // A wrong allow-list must be visible to the owner, not silent.
        return refused(
            format!("source {client} is not in the allow-list"),
            StatusCode::FORBIDDEN,
            "this source may not post notifications".to_owned(),
        );
    }

    let (job_ref, payment_ref) = match parsed {
        Ok(refs) => refs,
        Err(refusal) => {
            if !gate.spend_junk(client) {
                return too_much_junk();
            }
            return refused(refusal.to_string(), refusal.status(), refusal.to_string());
        }
    };

    let delivery = NewDelivery {
        received_at,
        remote_addr,
        forwarded_for,
        body: text,
        job_ref: job_ref.clone(),
        payment_ref: payment_ref.clone(),
    };
    match state.store.record_delivery(delivery).await {
        Ok(_) => {
            gate.delivered(&job_ref, &payment_ref, client);
            (state.on_delivery)();
            (
                StatusCode::OK,
                Json(json!({
                    "paymentJobReference": job_ref.as_str(),
                    "paymentReference": payment_ref.as_str(),
                })),
            )
                .into_response()
        }
        Err(e) => {
            // No 200 without a durable row: the gateway will send it again.
            tracing::error!(code = e.code(), error = %e, job = %job_ref, "cannot store a notification; answering 503");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "error": "temporarily unable to accept notifications" })),
            )
                .into_response()
        }
    }
}

fn parse(body: &[u8]) -> Result<(JobRef, PaymentRef), Refusal> {
    let value: Value = serde_json::from_slice(body).map_err(|_| Refusal::NotJson)?;
    let Value::Object(map) = value else {
        return Err(Refusal::NotObject);
    };
    let job = field(&map, "paymentJobReference")?;
    let payment = field(&map, "paymentReference")?;
    Ok((
        JobRef::parse(&job).map_err(|e| Refusal::BadReference("paymentJobReference", e))?,
        PaymentRef::parse(&payment).map_err(|e| Refusal::BadReference("paymentReference", e))?,
    ))
}

/// Key names are matched case-insensitively (`paymentJobReference`, `PaymentJobReference`).
/// The spec types references as int64, so an integer is taken by its digits too.
fn field(map: &Map<String, Value>, name: &'static str) -> Result<String, Refusal> {
    let value = map
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
        .ok_or(Refusal::Missing(name))?;
    match value {
        Value::String(s) => Ok(s.clone()),
        // int64 in the spec: a number above i64::MAX is no reference of the gateway's.
        Value::Number(n) if n.as_i64().is_some_and(|v| v >= 0) => Ok(n.to_string()),
        _ => Err(Refusal::NotText(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_key_cases_and_integer_references() {
        let (j, p) = parse(br#"{"notifyType":"PaymentStatusChange","paymentJobReference":"200421017498767380","paymentReference":"200421100461508616"}"#).unwrap();
        assert_eq!(
            (j.as_str(), p.as_str()),
            ("200421017498767380", "200421100461508616")
        );
        let (j, p) = parse(br#"{"PaymentJobReference":"1","PAYMENTREFERENCE":"2"}"#).unwrap();
        assert_eq!((j.as_str(), p.as_str()), ("1", "2"));
        let (j, _) =
            parse(br#"{"paymentJobReference":200421017498767380,"paymentReference":"2"}"#).unwrap();
        assert_eq!(j.as_str(), "200421017498767380");
    }

    #[test]
    fn refuses_what_is_not_a_notification() {
        assert!(matches!(parse(b"hello"), Err(Refusal::NotJson)));
        assert!(matches!(parse(b"[1]"), Err(Refusal::NotObject)));
        assert!(matches!(
            parse(br#"{"paymentJobReference":"1"}"#),
            Err(Refusal::Missing("paymentReference"))
        ));
        assert!(matches!(
            parse(br#"{"paymentJobReference":"","paymentReference":"2"}"#),
            Err(Refusal::BadReference(_, RefError::Empty))
        ));
        assert!(matches!(
            parse(br#"{"paymentJobReference":"1 OR 1=1","paymentReference":"2"}"#),
            Err(Refusal::BadReference(_, RefError::NotDigits))
        ));
        assert!(matches!(
            parse(br#"{"paymentJobReference":1.5,"paymentReference":"2"}"#),
            Err(Refusal::NotText(_))
        ));
        assert!(matches!(
            parse(br#"{"paymentJobReference":-1,"paymentReference":"2"}"#),
            Err(Refusal::NotText(_))
        ));
    }

    #[test]
    fn secrets_are_url_safe_and_long_enough() {
        assert!(validate_secret("abcdefghijklmnop").is_ok());
        assert!(validate_secret("short").is_err());
        assert!(validate_secret("abcdefghijklmnop/../x").is_err());
        assert_eq!(
            webhook_path(Some("abcdefghijklmnop")),
            "/webhooks/cashflows/abcdefghijklmnop"
        );
    }
}
