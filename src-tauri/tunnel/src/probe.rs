//! The end-to-end probe: proof that a request sent to the public webhook URL reaches
//! *this* listener, through whatever tunnel, proxy or relay is in between.
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

use std::time::Duration;

use tillwatch_core::listener::{ProbeBook, PROBE_HEADER};

/// Why a probe failed, in words for the owner.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    #[error("a test request to {url} got no answer within {secs} s")]
    NoAnswer { url: String, secs: u64 },
    #[error("a test request to {url} could not connect ({detail})")]
    CannotConnect { url: String, detail: String },
    #[error("{url} answered {status}, but the test request never reached Tillwatch (another server answers at that address, or a proxy stops it)")]
    NotUs { url: String, status: u16 },
}

/// A client for probes: no redirects (a redirect is not our listener) and no pooled
/// connections, so every probe opens the whole path afresh.
pub fn probe_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .user_agent(concat!("tillwatch-probe/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

/// Sends one probe to `webhook_url` and checks that it reached this process's listener
/// (the one wrapped with `book.layer`).
pub async fn probe(
    http: &reqwest::Client,
    webhook_url: &str,
    book: &ProbeBook,
    timeout: Duration,
) -> Result<(), ProbeError> {
    let ticket = book.issue();
    let sent = http
        .get(webhook_url)
        .header(PROBE_HEADER, ticket.nonce())
        // ngrok's free plan puts a warning page before browsers; we are not one.
        .header("ngrok-skip-browser-warning", "1")
        .timeout(timeout)
        .send()
        .await;
    match sent {
        // The listener ticks the nonce before it answers, so this is settled by now.
        Ok(_) if ticket.seen() => Ok(()),
        Ok(answer) => Err(ProbeError::NotUs {
            url: webhook_url.to_owned(),
            status: answer.status().as_u16(),
        }),
        Err(e) if e.is_timeout() => Err(ProbeError::NoAnswer {
            url: webhook_url.to_owned(),
            secs: timeout.as_secs().max(1),
        }),
        Err(e) => Err(ProbeError::CannotConnect {
            url: webhook_url.to_owned(),
            detail: innermost(&e),
        }),
    }
}

fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[cfg(test)]
mod tests {
    use axum::routing::post;
    use axum::Router;

    use super::*;

    /// Answers a probe's GET on the webhook path as the listener does: 405.
    fn listener_like() -> Router {
        Router::new().route("/webhooks/cashflows", post(|| async { "ok" }))
    }

    #[tokio::test]
    async fn a_server_that_is_not_ours_fails_the_probe() {
        // A listener without the layer stands in for someone else's server.
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let other = tokio::spawn(async move { axum::serve(tcp, listener_like()).await });
        let book = ProbeBook::new();
        let url = format!("http://{addr}/webhooks/cashflows");
        let e = probe(&probe_client(), &url, &book, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert_eq!(
            e,
            ProbeError::NotUs {
                url: url.clone(),
                status: 405
            }
        );
        assert!(e.to_string().contains("never reached Tillwatch"));
        other.abort();

        // The same router with the layer passes.
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let router = book.layer(listener_like());
        let ours = tokio::spawn(async move { axum::serve(tcp, router).await });
        let url = format!("http://{addr}/webhooks/cashflows");
        probe(&probe_client(), &url, &book, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(book.pending(), 0);
        ours.abort();
    }
}
