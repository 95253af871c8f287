//! Serving the listener's connections. `axum::serve` has no header timeout, no connection
//! cap and a graceful shutdown that waits forever, so one client trickling bytes could hold
//! a request, and with it every restart of the listener, indefinitely. Here hyper's HTTP/1
//! reads headers under a timeout, tower-http's timeout bounds the rest of each request, a
//! semaphore caps open connections (and a count per source caps one sender's share of
//! them), and shutdown gives up on stragglers after a grace period.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tower::Service;
use tower_http::timeout::TimeoutLayer;

use super::guard::{is_local_agent, Gate};
use super::rate::source_key;

/// How long a client may take, and how many may be connected at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeLimits {
    /// From the connection's first byte (or the end of the previous request on a kept-alive
    /// connection) to the end of the headers. Idle connections are closed after it too.
    pub header_read_timeout: Duration,
    /// From the end of the headers to the answer: reading the body, then storing it. A
    /// body sent byte by byte gets 408 after it.
    pub body_timeout: Duration,
    /// Open connections at once; beyond it a new connection is closed at once (the
    /// gateway retries).
    pub max_connections: usize,
    /// Open connections at once from one source (an IPv4 address, an IPv6 /64), so one
    /// host reconnecting cannot hold every slot. Not applied to a trusted proxy or a tunnel
    /// agent on this computer (127.0.0.1, ::1): every sender arrives from those.
    pub per_source_connections: usize,
    /// How long shutdown waits for open requests to finish before closing them.
    pub shutdown_grace: Duration,
}

impl Default for ServeLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            max_connections: 256,
            per_source_connections: 32,
            shutdown_grace: Duration::from_secs(3),
        }
    }
}

/// Serves with the default limits until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, router, ServeLimits::default(), shutdown).await
}

/// Serves until `shutdown` resolves, then waits at most `shutdown_grace` for open requests.
/// Takes a bound listener so callers (and tests, on port 0) choose the address. Handlers
/// see the peer as `ConnectInfo<SocketAddr>`. No allow-list at accept: the program serves
/// through `Listener::serve`.
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_admitting(listener, router, limits, None, shutdown).await
}

/// `serve_with`, closing connections the gate does not admit before reading anything.
pub(super) async fn serve_gated(
    listener: TcpListener,
    router: Router,
    limits: ServeLimits,
    gate: Arc<Gate>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_admitting(listener, router, limits, Some(gate), shutdown).await
}

async fn serve_admitting(
    listener: TcpListener,
    router: Router,
    limits: ServeLimits,
    gate: Option<Arc<Gate>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = router.layer(TimeoutLayer::with_status_code(
        StatusCode::REQUEST_TIMEOUT,
        limits.body_timeout,
    ));
    let mut make_service = router.into_make_service_with_connect_info::<SocketAddr>();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let per_source = PerSource::new(limits.per_source_connections);
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
        };
        if gate.as_ref().is_some_and(|g| !g.admit(peer.ip())) {
            continue;
        }
        let relays = match &gate {
            Some(g) => g.relays(peer.ip()),
            None => is_local_agent(peer.ip()),
        };
        let source = if relays {
            None
        } else {
            match per_source.take(peer.ip()) {
                Some(held) => Some(held),
                None => {
                    tracing::debug!(%peer, max = limits.per_source_connections, "too many connections from one source; refused one");
                    continue;
                }
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            // Closed rather than left waiting: the gateway retries a refused connection,
            // and a waiting one would sit behind whoever holds the slots.
            tracing::warn!(%peer, max = limits.max_connections, "too many connections; refused one");
            continue;
        };
        let Ok(service) = make_service.call(peer).await;
        let connection = graceful
            .watch(http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service)));
        connections.spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            drop(slot);
            drop(source);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            open = connections.len(),
            "closing connections still open after the shutdown grace period"
        );
    }
    connections.shutdown().await;
    Ok(())
}

/// Open connections per source, each held by a `SourceSlot` until its connection ends.
#[derive(Clone)]
struct PerSource {
    max: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl PerSource {
    fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            open: Arc::default(),
        }
    }

    /// A slot for one more connection from `peer`'s source, if it has fewer than `max`.
    fn take(&self, peer: IpAddr) -> Option<SourceSlot> {
        let key = source_key(peer);
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(key).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(SourceSlot {
            of: self.clone(),
            key,
        })
    }
}

struct SourceSlot {
    of: PerSource,
    key: IpAddr,
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        let mut open = self.of.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.key) {
            *n -= 1;
            // Only sources with open connections are remembered: the map stays bounded
            // by the connection cap.
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// A failed accept: per-connection errors (the client already left) are skipped; others
/// (out of file descriptors) get a short pause so the loop does not spin.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "cannot accept connections; retrying shortly");
    tokio::time::sleep(Duration::from_millis(100)).await;
}
