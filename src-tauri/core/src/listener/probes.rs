//! The listener's half of the tunnel's end-to-end probe: a thin layer around the router
//! that notes the nonce of a probe this process issued. The tunnel crate sends the probe.
//!
//! How: the supervisor issues a fresh random nonce (128 bits, single use, forgotten after
//! the probe), sends `GET <public webhook URL>` with the nonce in an
//! `X-Tillwatch-Probe` header, and counts the probe as passed only if the listener saw
//! that nonce. A thin layer around the listener's router notes the header of every
//! request it receives, and only for a nonce this process issued and still waits for.
//!
//! Why it exposes nothing new to the internet:
//! - no new route and no new answer: the request is the `GET` the listener already
//!   answers for anyone (`405` on the webhook path, `404` elsewhere), and the answer is
//!   byte for byte the same with or without the header, so an outsider cannot even tell
//!   that the header means anything;
//! - the only effect of the header is to tick a nonce that this process issued and is
//!   waiting for; an unknown value changes nothing, so it cannot be used to fill memory
//!   (entries exist only while a probe of ours is in flight);
//! - it is a `GET`, so it never reaches the notification path: no delivery row, no
//!   "rejected delivery" in the owner's log, nothing sent to the gateway.
//!
//! Why not trust the status alone: another server can answer at an address that used to
//! be ours (a bore port handed to someone else, a stale DNS record, a proxy's error page),
//! so only the nonce proves the request got here.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::Request;
use axum::middleware::Next;
use axum::Router;

/// The request header that carries a probe's nonce.
pub const PROBE_HEADER: &str = "x-tillwatch-probe";

/// Nonces of probes in flight, shared by the supervisor (which issues them) and the
/// listener's router (which ticks them off). Cheap to clone.
#[derive(Clone, Default)]
pub struct ProbeBook {
    pending: Arc<Mutex<HashMap<String, bool>>>,
}

impl ProbeBook {
    pub fn new() -> Self {
        Self::default()
    }

    /// The listener's router with the probe's note-taking around it. Adds no route and
    /// changes no answer.
    pub fn layer(&self, router: Router) -> Router {
        let book = self.clone();
        router.layer(axum::middleware::from_fn(
            move |request: Request, next: Next| {
                let book = book.clone();
                async move {
                    if let Some(v) = request.headers().get(PROBE_HEADER) {
                        book.saw(v.as_bytes());
                    }
                    next.run(request).await
                }
            },
        ))
    }

    /// A fresh nonce, pending until the ticket is dropped.
    pub fn issue(&self) -> ProbeTicket {
        let nonce = fresh_nonce();
        self.lock().insert(nonce.clone(), false);
        ProbeTicket {
            book: self.clone(),
            nonce,
        }
    }

    /// How many probes are in flight (for tests).
    pub fn pending(&self) -> usize {
        self.lock().len()
    }

    fn saw(&self, value: &[u8]) {
        let Ok(value) = std::str::from_utf8(value) else {
            return;
        };
        if let Some(seen) = self.lock().get_mut(value) {
            *seen = true;
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, bool>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One probe's nonce; forgotten when dropped.
pub struct ProbeTicket {
    book: ProbeBook,
    nonce: String,
}

impl ProbeTicket {
    pub fn nonce(&self) -> &str {
        &self.nonce
    }

    /// Whether a request carrying this nonce reached the listener.
    pub fn seen(&self) -> bool {
        self.book.lock().get(&self.nonce).copied().unwrap_or(false)
    }
}

impl Drop for ProbeTicket {
    fn drop(&mut self) {
        self.book.lock().remove(&self.nonce);
    }
}

/// 128 bits no outsider can predict: std's `RandomState` keys come from the operating
/// system's random source; fastrand adds its own (also OS-seeded) stream.
fn fresh_nonce() -> String {
    let a = std::collections::hash_map::RandomState::new().hash_one(fastrand::u64(..));
    let b = std::collections::hash_map::RandomState::new().hash_one(fastrand::u64(..));
    format!("{a:016x}{b:016x}")
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Method, StatusCode};
    use axum::routing::post;
    use tower::ServiceExt;

    use super::*;

    fn listener_like() -> Router {
        Router::new()
            .route("/webhooks/cashflows", post(|| async { "ok" }))
            .fallback(|| async { (StatusCode::NOT_FOUND, "not found") })
    }

    async fn call(
        router: Router,
        method: Method,
        path: &str,
        nonce: Option<&str>,
    ) -> (u16, Vec<u8>) {
        let mut req = axum::http::Request::builder().method(method).uri(path);
        if let Some(n) = nonce {
            req = req.header(PROBE_HEADER, n);
        }
        let res = router
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = res.status().as_u16();
        let headers = format!("{:?}", res.headers());
        let body = axum::body::to_bytes(res.into_body(), 1 << 16)
            .await
            .unwrap();
        let mut out = headers.into_bytes();
        out.extend_from_slice(&body);
        (status, out)
    }

    #[tokio::test]
    async fn the_answer_is_the_same_with_or_without_the_header() {
        let book = ProbeBook::new();
        let router = book.layer(listener_like());
        let ticket = book.issue();
        for (method, path) in [
            (Method::GET, "/webhooks/cashflows"),
            (Method::GET, "/"),
            (Method::PUT, "/webhooks/cashflows"),
            (Method::GET, "/admin"),
        ] {
            let plain = call(router.clone(), method.clone(), path, None).await;
            let junk = call(router.clone(), method.clone(), path, Some("0123")).await;
            let ours = call(router.clone(), method.clone(), path, Some(ticket.nonce())).await;
            assert_eq!(plain, junk, "{method} {path}");
            assert_eq!(plain, ours, "{method} {path}");
            assert_ne!(plain.0, 200);
        }
        assert!(ticket.seen());
    }

    #[tokio::test]
    async fn only_issued_nonces_are_ticked_and_they_are_forgotten() {
        let book = ProbeBook::new();
        let router = book.layer(listener_like());
        let a = book.issue();
        let b = book.issue();
        assert_ne!(a.nonce(), b.nonce());
        assert_eq!(a.nonce().len(), 32);
        call(
            router.clone(),
            Method::GET,
            "/webhooks/cashflows",
            Some("not-issued"),
        )
        .await;
        assert_eq!(book.pending(), 2, "an unknown nonce adds nothing");
        call(
            router.clone(),
            Method::GET,
            "/webhooks/cashflows",
            Some(a.nonce()),
        )
        .await;
        assert!(a.seen());
        assert!(!b.seen());
        drop(a);
        drop(b);
        assert_eq!(book.pending(), 0);
    }
}
