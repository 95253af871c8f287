//! ngrok (crate `ngrok`), in-process, with the owner's own authtoken (a secret, kept in
//! the keyring by the window; `TILLWATCH_NGROK_AUTHTOKEN` for the CLI) and their free
//! static domain.
//!
//! Three things the SDK does not do for us:
//! - `connect()` has no timeout: the supervisor bounds it.
//! - Its own reconnect backs off without a cap (50 ms, 2.5 s, 125 s, then ~1 h 44 min),
//!   so a laptop offline for a few minutes could stay unreachable for hours. The session
//!   is built with a connector that dials normally the first time and answers
//!   `ConnectError::Canceled` to every *re*connect, which ends the session; the session's
//!   end resolves `TunnelSession::ended` and the supervisor reconnects on its capped,
//!   jittered schedule instead.
//! - Dropping the `Forwarder` takes the endpoint offline: the session keeps it alive for
//!   as long as the tunnel should be up, and closes it when dropped.

use std::future::Future;
use std::net::SocketAddr;

use ngrok::forwarder::Forwarder;
use ngrok::prelude::{EndpointInfo, ForwarderBuilder};
use ngrok::session::{ConnectError, IoStream, RpcError};
use ngrok::tunnel::{AcceptError, HttpTunnel};
use ngrok::Error as _;

use super::{
    BoxFuture, ConnectRequest, TunnelError, TunnelErrorKind, TunnelProvider, TunnelSession,
};

/// ngrok's codes for an authtoken it will not take: malformed, v1, revoked or reset,
/// missing.
const BAD_AUTHTOKEN_CODES: [&str; 4] = [
    "ERR_NGROK_105",
    "ERR_NGROK_106",
    "ERR_NGROK_107",
    "ERR_NGROK_4018",
];

pub struct NgrokProvider {
    authtoken: String,
    domain: Option<String>,
    server_addr: Option<String>,
}

impl std::fmt::Debug for NgrokProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NgrokProvider")
            .field("authtoken", &"<redacted>")
            .field("domain", &self.domain)
            .finish()
    }
}

impl NgrokProvider {
    /// `authtoken` from the keyring (window) or `TILLWATCH_NGROK_AUTHTOKEN` (CLI);
    /// `domain` is the owner's free static domain (`name.ngrok-free.app`).
    pub fn new(authtoken: &str, domain: Option<String>) -> Result<Self, TunnelError> {
        let authtoken = authtoken.trim();
        if authtoken.is_empty() {
            return Err(TunnelError::new(
                TunnelErrorKind::Misconfigured,
                "No ngrok authtoken is set: copy yours from the ngrok dashboard into Settings \
                 (or TILLWATCH_NGROK_AUTHTOKEN).",
            ));
        }
        let domain = domain
            .map(|d| {
                let d = d.trim();
                let d = d
                    .strip_prefix("https://")
                    .or_else(|| d.strip_prefix("http://"))
                    .unwrap_or(d);
                d.trim_end_matches('/').to_owned()
            })
            .filter(|d| !d.is_empty());
        if let Some(d) = &domain {
            if d.contains(['/', ':', ' ']) {
                return Err(TunnelError::new(
                    TunnelErrorKind::Misconfigured,
                    format!("'{d}' is not an ngrok domain: give it as name.ngrok-free.app"),
                ));
            }
        }
        Ok(Self {
            authtoken: authtoken.to_owned(),
            domain,
            server_addr: None,
        })
    }

    /// Dials `addr` (`host:port`) instead of ngrok's service: for tests on loopback.
    pub fn with_server_addr(mut self, addr: impl Into<String>) -> Self {
        self.server_addr = Some(addr.into());
        self
    }

    async fn open(&self, local: SocketAddr) -> Result<NgrokSession, NgrokFailure> {
        let mut builder = ngrok::Session::builder();
        builder
            .authtoken(self.authtoken.clone())
            .connector(first_dial_only(ngrok::session::default_connect));
        if let Some(addr) = &self.server_addr {
            builder
                .server_addr(addr.clone())
                .map_err(|e| NgrokFailure::Other(e.to_string()))?;
        }
        let session = builder
            .connect()
            .await
            .map_err(|e| NgrokFailure::from_connect(&e))?;
        let mut endpoint = session.http_endpoint();
        if let Some(domain) = &self.domain {
            endpoint.domain(domain.clone());
        }
        let to = reqwest::Url::parse(&format!("http://{}", loopback_if_unspecified(local)))
            .map_err(|e| NgrokFailure::Other(e.to_string()))?;
        let forwarder = endpoint
            .listen_and_forward(to)
            .await
            .map_err(|e| NgrokFailure::from_listen(&e))?;
        Ok(NgrokSession {
            url: forwarder.url().trim_end_matches('/').to_owned(),
            forwarder,
            session,
            ended: None,
        })
    }
}

fn loopback_if_unspecified(local: SocketAddr) -> SocketAddr {
    match local.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => {
            SocketAddr::from(([127, 0, 0, 1], local.port()))
        }
        ip if ip.is_unspecified() => {
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, local.port()))
        }
        _ => local,
    }
}

/// What a connector returns: the stream to ngrok's service, or why not.
type Dialled = BoxFuture<'static, Result<Box<dyn IoStream>, ConnectError>>;

/// A connector that dials like the SDK's default the first time and cancels every
/// reconnect (called with the error that broke the session), ending the session so the
/// supervisor's capped schedule takes over. Generic over the TLS config type so this
/// crate need not name rustls.
fn first_dial_only<T, F, Fut>(
    dial: F,
) -> impl Fn(String, u16, T, Option<AcceptError>) -> Dialled + Send + Sync + 'static
where
    T: Send + 'static,
    F: Fn(String, u16, T, Option<AcceptError>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Box<dyn IoStream>, ConnectError>> + Send + 'static,
{
    move |host, port, tls, reconnecting| -> Dialled {
        match reconnecting {
            Some(error) => {
                tracing::info!(%error, "ngrok: session lost; the supervisor reconnects");
                Box::pin(async { Err(ConnectError::Canceled) })
            }
            None => Box::pin(dial(host, port, tls, None)),
        }
    }
}

/// Why ngrok did not give a tunnel, as far as the owner needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NgrokFailure {
    /// No TCP connection to ngrok: no internet, DNS down, a firewall.
    CannotReach(String),
    /// The TLS handshake with ngrok failed: a proxy that inspects traffic, a wrong clock.
    Tls(String),
    BadAuthtoken {
        code: Option<String>,
        message: String,
    },
    /// ngrok refused the session for another reason (account limits…).
    Refused {
        code: Option<String>,
        message: String,
    },
    /// ngrok refused the endpoint (a domain that is not the owner's…).
    EndpointRefused {
        code: Option<String>,
        message: String,
    },
    Other(String),
}

impl NgrokFailure {
    pub fn from_connect(e: &ConnectError) -> Self {
        match e {
            ConnectError::Tcp(io) => Self::CannotReach(io.to_string()),
            ConnectError::Tls(io) => Self::Tls(io.to_string()),
            ConnectError::Auth(_) => Self::from_code(e.error_code(), e.msg(), false),
            other => Self::Other(format!("{other}: {}", other.msg())),
        }
    }

    pub fn from_listen(e: &RpcError) -> Self {
        match e {
            RpcError::Response(_) => Self::from_code(e.error_code(), e.msg(), true),
            other => Self::Other(other.to_string()),
        }
    }

    /// From ngrok's error code and message (`endpoint`: refused while opening the
    /// endpoint rather than the session).
    pub fn from_code(code: Option<&str>, message: String, endpoint: bool) -> Self {
        let code = code.map(str::to_owned);
        if code
            .as_deref()
            .is_some_and(|c| BAD_AUTHTOKEN_CODES.contains(&c))
        {
            Self::BadAuthtoken { code, message }
        } else if endpoint {
            Self::EndpointRefused { code, message }
        } else {
            Self::Refused { code, message }
        }
    }

    /// Words for the owner.
    pub fn to_error(&self, domain: Option<&str>) -> TunnelError {
        let detail = |code: &Option<String>, message: &str| {
            let message = message.trim().trim_end_matches('.');
            match code {
                Some(c) => format!("{c}: {message}"),
                None => message.to_owned(),
            }
        };
        match self {
            Self::CannotReach(_) => TunnelError::new(
                TunnelErrorKind::Offline,
                "This computer cannot reach ngrok (no internet?). Notifications cannot arrive until it can.",
            ),
            Self::Tls(why) => TunnelError::new(
                TunnelErrorKind::Unreachable,
                format!(
                    "The secure connection to ngrok failed ({why}): a firewall or proxy that inspects traffic, \
                     or a wrong clock on this computer? Notifications cannot arrive until it works."
                ),
            ),
            Self::BadAuthtoken { .. } => TunnelError::new(
                TunnelErrorKind::Refused,
                "ngrok refused the authtoken: check it in Settings.",
            ),
            Self::Refused { code, message } => TunnelError::new(
                TunnelErrorKind::Refused,
                format!("ngrok refused to connect ({}).", detail(code, message)),
            ),
            Self::EndpointRefused { code, message } => TunnelError::new(
                TunnelErrorKind::Refused,
                match domain {
                    Some(d) => format!(
                        "ngrok refused the address {d} ({}): check the domain in Settings.",
                        detail(code, message)
                    ),
                    None => format!("ngrok refused to open an address ({}).", detail(code, message)),
                },
            ),
            Self::Other(why) => TunnelError::new(
                TunnelErrorKind::Other,
                format!("ngrok did not open a tunnel: {why}."),
            ),
        }
    }
}

impl TunnelProvider for NgrokProvider {
    fn name(&self) -> &'static str {
        "ngrok"
    }

    fn connect(
        &self,
        request: ConnectRequest,
    ) -> BoxFuture<'_, Result<Box<dyn TunnelSession>, TunnelError>> {
        Box::pin(async move {
            match self.open(request.local).await {
                Ok(session) => Ok(Box::new(session) as Box<dyn TunnelSession>),
                Err(failure) => Err(failure.to_error(self.domain.as_deref())),
            }
        })
    }
}

struct NgrokSession {
    url: String,
    /// Kept alive: dropping it takes the endpoint offline.
    forwarder: Forwarder<HttpTunnel>,
    session: ngrok::Session,
    ended: Option<TunnelError>,
}

impl TunnelSession for NgrokSession {
    fn public_url(&self) -> &str {
        &self.url
    }

    fn ended(&mut self) -> BoxFuture<'_, TunnelError> {
        Box::pin(async move {
            if let Some(e) = &self.ended {
                return e.clone();
            }
            let error = match self.forwarder.join().await {
                Ok(Ok(())) => TunnelError::new(
                    TunnelErrorKind::Ended,
                    "ngrok closed the tunnel. Notifications cannot arrive until it is reopened.",
                ),
                Ok(Err(e)) => TunnelError::new(
                    TunnelErrorKind::Ended,
                    format!(
                        "The connection to ngrok was lost ({e}): the network dropped, or the computer slept. \
                         Notifications cannot arrive until it is reopened."
                    ),
                ),
                Err(e) => TunnelError::new(
                    TunnelErrorKind::Ended,
                    format!("The ngrok tunnel stopped: {e}."),
                ),
            };
            self.ended = Some(error.clone());
            error
        })
    }
}

impl Drop for NgrokSession {
    fn drop(&mut self) {
        self.forwarder.join().abort();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let mut session = self.session.clone();
            rt.spawn(async move {
                let _ = session.close().await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offline_and_bad_authtoken_read_as_the_owner_needs() {
        let offline = NgrokFailure::from_connect(&ConnectError::Tcp(std::io::Error::other(
            "failed to lookup address information: Temporary failure in name resolution",
        )));
        let e = offline.to_error(None);
        assert_eq!(e.kind, TunnelErrorKind::Offline);
        assert_eq!(
            e.message,
            "This computer cannot reach ngrok (no internet?). Notifications cannot arrive until it can."
        );

        for code in BAD_AUTHTOKEN_CODES {
            let f = NgrokFailure::from_code(
                Some(code),
                "The authtoken you specified is invalid".into(),
                false,
            );
            let e = f.to_error(Some("shop.ngrok-free.app"));
            assert_eq!(e.kind, TunnelErrorKind::Refused);
            assert_eq!(
                e.message,
                "ngrok refused the authtoken: check it in Settings."
            );
        }

        let e = NgrokFailure::from_code(
            Some("ERR_NGROK_320"),
            "domain reserved by another account.".into(),
            true,
        )
        .to_error(Some("shop.ngrok-free.app"));
        assert_eq!(
            e.message,
            "ngrok refused the address shop.ngrok-free.app (ERR_NGROK_320: domain reserved by another account): check the domain in Settings."
        );
    }

    #[test]
    fn settings_are_checked_and_the_token_never_shows() {
        assert_eq!(
            NgrokProvider::new("  ", None).unwrap_err().kind,
            TunnelErrorKind::Misconfigured
        );
        let p =
            NgrokProvider::new("2abcSECRET", Some("https://shop.ngrok-free.app/".into())).unwrap();
        assert_eq!(p.domain.as_deref(), Some("shop.ngrok-free.app"));
        assert!(!format!("{p:?}").contains("SECRET"));
        assert!(NgrokProvider::new("t", Some("shop.example/x".into())).is_err());
    }

    #[tokio::test]
    async fn reconnects_are_cancelled_and_the_first_dial_goes_through() {
        let dial = |host: String, _port: u16, _tls: (), _e: Option<AcceptError>| async move {
            Err::<Box<dyn IoStream>, _>(ConnectError::Tcp(std::io::Error::other(host)))
        };
        let connector = first_dial_only(dial);
        match connector("first".into(), 443, (), None).await {
            Err(ConnectError::Tcp(e)) => assert_eq!(e.to_string(), "first"),
            Err(other) => panic!("the first dial must go through, got {other}"),
            Ok(_) => panic!("the stand-in dial never connects"),
        }
        let lost = AcceptError::ListenerClosed {
            message: "gone".into(),
            error_code: None,
        };
        assert!(matches!(
            connector("again".into(), 443, (), Some(lost)).await,
            Err(ConnectError::Canceled)
        ));
    }

    /// A real SDK session against a closed loopback port: what an offline machine gets.
    #[tokio::test]
    async fn a_real_session_that_cannot_reach_ngrok_says_so() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = closed.local_addr().unwrap();
        drop(closed);
        let p = NgrokProvider::new("token", None)
            .unwrap()
            .with_server_addr(addr.to_string());
        let request = ConnectRequest {
            local: "127.0.0.1:1".parse().unwrap(),
            last_url: None,
        };
        let e = match p.connect(request).await {
            Err(e) => e,
            Ok(_) => panic!("nothing listens there"),
        };
        assert_eq!(e.kind, TunnelErrorKind::Offline, "{e}");
    }
}
