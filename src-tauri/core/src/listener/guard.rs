//! Refuses, before the handler runs, notifications from sources outside the owner's
//! allow-list (403, kept as a refused delivery) and floods from one source (429). Both are
//! answers the gateway retries; neither reaches the write queue ahead of real notifications.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::body::to_bytes;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde_json::json;

use super::rate::{RateLimiter, Verdict};
use super::sources::SourcePolicy;
use super::BODY_LIMIT;
use crate::domain::Timestamp;
use crate::store::{RejectedDelivery, Store};

#[derive(Clone)]
pub struct SourceGuard<S> {
    store: S,
    policy: Arc<SourcePolicy>,
    limiter: Option<Arc<RateLimiter>>,
}

impl<S: Store> SourceGuard<S> {
    pub fn new(store: S, policy: SourcePolicy) -> Self {
        Self {
            store: store.refusing_when_full(),
            limiter: policy.rate_limit.map(|l| Arc::new(RateLimiter::new(l))),
            policy: Arc::new(policy),
        }
    }

    /// Guards POSTs to the router's routes (the webhook); unknown paths answer 404 as before.
    pub fn layer(&self, router: Router) -> Router {
        router.route_layer(middleware::from_fn_with_state(self.clone(), check))
    }
}

async fn check<S: Store>(
    State(guard): State<SourceGuard<S>>,
    request: Request,
    next: Next,
) -> Response {
    // Only notifications are guarded: anything else on the route is a 405 that writes
    // nothing (the tunnel's probe relies on it), and should not be kept as a refusal.
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    // Absent only when a router is driven without a socket; such sources share one bucket.
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip());
    let forwarded = request.headers().get_all("x-forwarded-for");
    let client = peer.map(|p| {
        guard
            .policy
            .client(p, forwarded.iter().filter_map(|v| v.to_str().ok()))
    });

    if !client.is_some_and(|c| guard.policy.allows(c)) {
        return refuse(&guard, peer, client, request).await;
    }
    if let Some(limiter) = &guard.limiter {
        let source = client.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        if let Verdict::Limited { first } = limiter.check(source) {
            if first {
                tracing::warn!(%source, "too many notifications from one source; answering 429");
            }
            return (
                StatusCode::TOO_MANY_REQUESTS,
                Json(json!({ "error": "too many requests; try again later" })),
            )
                .into_response();
        }
    }
    next.run(request).await
}

/// 403, with the attempt kept for the owner (bounded like malformed ones): a wrong
/// allow-list must be visible, not silent.
async fn refuse<S: Store>(
    guard: &SourceGuard<S>,
    peer: Option<IpAddr>,
    client: Option<IpAddr>,
    request: Request,
) -> Response {
    let status = StatusCode::FORBIDDEN;
    let error = match client {
        Some(c) => format!("source {c} is not in the allow-list"),
        None => "unknown source".to_owned(),
    };
    tracing::warn!(client = ?client, "refused a notification: {error}");
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, BODY_LIMIT).await.unwrap_or_default();
    let rejected = RejectedDelivery {
        received_at: Timestamp::now(),
        remote_addr: peer.map(|p| p.to_string()),
        forwarded_for: parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(200).collect()),
        body: String::from_utf8_lossy(&body).into_owned(),
        error: error.clone(),
        response_status: status.as_u16(),
    };
    if let Err(e) = guard.store.record_rejected_delivery(rejected).await {
        tracing::error!(code = e.code(), error = %e, "cannot record a refused notification");
    }
    (
        status,
        Json(json!({ "error": "this source may not post notifications" })),
    )
        .into_response()
}
