//! Reaching the listener from the internet, and telling the owner when it cannot.
//!
//! One [`TunnelProvider`] trait owned by the app, with four choices ([`TunnelChoice`]):
//! ngrok (in-process, the owner's authtoken and free static domain), a static URL (the
//! owner's own reverse proxy or port forward), bore (to a self-hosted relay) and none
//! (local only, the demo). A provider only opens a tunnel and says when *it* noticed the
//! tunnel end; the [`TunnelSupervisor`] does everything else:
//!
//! - publishes a [`TunnelState`] (`connecting`, `up` with the public URL, `down` with a
//!   reason in words and when it retries) on a `tokio::sync::watch`, and [`TunnelEvent`]s
//!   on a broadcast channel, so the CLI and the window show the same thing;
//! - reconnects on a capped, fully jittered schedule ([`Backoff`]: ~1 s doubling to ~60 s),
//!   replacing the providers' own schedules (ngrok's is uncapped, bore has none);
//! - probes the public webhook URL end to end ([`probe`]), because no provider notices a
//!   tunnel that died silently (a relay that stopped answering, a laptop that slept);
//! - when the public URL differs from the last one (kept in a small file in the data
//!   folder) tells the owner prominently what to change in the Cashflows portal;
//! - after every (re)connection, and after a wake from sleep, asks the reconciler for a
//!   pass at once, since notifications may have gone to an address that did not answer.

mod bore;
mod ngrok;
mod probe;
mod state;
mod supervisor;

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use self::bore::BoreProvider;
pub use self::ngrok::{NgrokFailure, NgrokProvider};
pub use self::probe::{probe, ProbeError};
pub use self::state::{TunnelEvent, TunnelState, UrlChange};
pub use self::supervisor::{
    Backoff, SupervisorConfig, SupervisorHooks, TunnelHandle, TunnelSupervisor,
};
/// The port every bore relay listens on for control (bore's, not ours to change).
pub use bore_cli::shared::CONTROL_PORT as BORE_CONTROL_PORT;
pub use tillwatch_core::listener::{ProbeBook, PROBE_HEADER};

/// A boxed, sendable future: lets the provider traits stay object safe without a macro.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a provider is asked to do: forward the public side to `local`.
#[derive(Debug, Clone)]
pub struct ConnectRequest {
    /// The listener's address on this machine.
    pub local: SocketAddr,
    /// The public base URL this app had last (this run or a previous one), so a provider
    /// that can ask for an address (bore's port) asks for the same one again.
    pub last_url: Option<String>,
}

/// One way of making the listener reachable from the internet.
pub trait TunnelProvider: Send + Sync + 'static {
    /// A short name for the owner and the logs ("ngrok", "bore", "static").
    fn name(&self) -> &'static str;

    /// Opens the tunnel. The supervisor bounds the wait and retries on its own schedule,
    /// so an implementation makes one attempt and never retries by itself.
    fn connect(
        &self,
        request: ConnectRequest,
    ) -> BoxFuture<'_, Result<Box<dyn TunnelSession>, TunnelError>>;
}

/// An open tunnel. Dropping it closes the tunnel.
pub trait TunnelSession: Send {
    /// The public base URL (scheme, host and port, no path, no trailing slash).
    fn public_url(&self) -> &str;

    /// Something the owner should know about this connection (e.g. "the relay could not
    /// give the old port back, so the address changed").
    fn notice(&self) -> Option<String> {
        None
    }

    /// Resolves when the provider itself notices that the tunnel ended, with why. Many
    /// deaths are silent and never resolve this: the supervisor's probe catches those.
    fn ended(&mut self) -> BoxFuture<'_, TunnelError>;
}

/// Why a tunnel is not up: a kind for code and words for the owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "camelCase")]
#[error("{message}")]
pub struct TunnelError {
    pub kind: TunnelErrorKind,
    /// A sentence or two for the owner: what is wrong and what follows from it.
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub enum TunnelErrorKind {
    /// This computer cannot reach the tunnel service (no internet, DNS down).
    Offline,
    /// The relay or service did not answer or closed the connection.
    Unreachable,
    /// The service refused our credentials or settings: retrying alone will not help.
    Refused,
    /// Connecting took longer than allowed.
    TimedOut,
    /// The provider noticed that an open tunnel ended.
    Ended,
    /// The tunnel looked open, but a request through the public URL did not reach us.
    ProbeFailed,
    /// The settings cannot work (a malformed URL, a missing token).
    Misconfigured,
    Other,
}

impl TunnelError {
    pub fn new(kind: TunnelErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

/// The provider an owner chose, as the settings and the CLI name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub enum ProviderKind {
    /// Local only: the gateway cannot reach this machine (the demo).
    None,
    /// The owner's own reverse proxy or port forward; the app only probes it.
    Static,
    Ngrok,
    Bore,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Static => "static",
            Self::Ngrok => "ngrok",
            Self::Bore => "bore",
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProviderKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" | "off" | "local" => Ok(Self::None),
            "static" => Ok(Self::Static),
            "ngrok" => Ok(Self::Ngrok),
            "bore" => Ok(Self::Bore),
            other => Err(format!(
                "unknown tunnel '{other}': choose none, static, ngrok or bore"
            )),
        }
    }
}

/// A provider with everything it needs. Secrets (the ngrok authtoken, the bore secret)
/// come from the keyring or the environment, never from a settings file.
#[derive(Clone)]
pub enum TunnelChoice {
    None,
    Static {
        /// The public base URL, e.g. `https://shop.example.com`.
        public_url: String,
    },
    Ngrok {
        authtoken: String,
        /// The owner's free static domain (`name.ngrok-free.app`); without one ngrok gives
        /// a new address at every connection.
        domain: Option<String>,
    },
    Bore {
        /// The relay's host name or address (its control port is bore's fixed 7835).
        relay: String,
        secret: Option<String>,
    },
}

impl fmt::Debug for TunnelChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::Static { public_url } => f
                .debug_struct("Static")
                .field("public_url", public_url)
                .finish(),
            Self::Ngrok { domain, .. } => f
                .debug_struct("Ngrok")
                .field("authtoken", &"<redacted>")
                .field("domain", domain)
                .finish(),
            Self::Bore { relay, secret } => f
                .debug_struct("Bore")
                .field("relay", relay)
                .field("secret", &secret.as_ref().map(|_| "<redacted>"))
                .finish(),
        }
    }
}

impl TunnelChoice {
    pub fn kind(&self) -> ProviderKind {
        match self {
            Self::None => ProviderKind::None,
            Self::Static { .. } => ProviderKind::Static,
            Self::Ngrok { .. } => ProviderKind::Ngrok,
            Self::Bore { .. } => ProviderKind::Bore,
        }
    }

    /// The provider, or `None` for local only. Checks the settings first.
    pub fn provider(&self) -> Result<Option<Arc<dyn TunnelProvider>>, TunnelError> {
        Ok(match self {
            Self::None => None,
            Self::Static { public_url } => Some(Arc::new(StaticUrlProvider::new(public_url)?)),
            Self::Ngrok { authtoken, domain } => {
                Some(Arc::new(NgrokProvider::new(authtoken, domain.clone())?))
            }
            Self::Bore { relay, secret } => {
                Some(Arc::new(BoreProvider::new(relay, secret.clone())?))
            }
        })
    }
}

/// The base URL with no path and no trailing slash, checked to be http(s).
pub fn normalise_base_url(url: &str) -> Result<String, TunnelError> {
    let bad = |why: &str| {
        TunnelError::new(
            TunnelErrorKind::Misconfigured,
            format!("'{url}' is not a usable public address: {why}"),
        )
    };
    let parsed = reqwest::Url::parse(url.trim()).map_err(|e| bad(&e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad("it must start with https:// (or http://)"));
    }
    if parsed.host_str().is_none() {
        return Err(bad("it has no host name"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(bad("it must not have a query or a fragment"));
    }
    let mut base = parsed.to_string();
    while base.ends_with('/') {
        base.pop();
    }
    Ok(base)
}

/// The owner's own reverse proxy or port forward: nothing to open, only to probe.
pub struct StaticUrlProvider {
    url: String,
}

impl StaticUrlProvider {
    /// `public_url` is the base the proxy forwards to the listener, e.g.
    /// `https://shop.example.com` (a path prefix is kept: `https://example.com/till`).
    pub fn new(public_url: &str) -> Result<Self, TunnelError> {
        Ok(Self {
            url: normalise_base_url(public_url)?,
        })
    }
}

impl TunnelProvider for StaticUrlProvider {
    fn name(&self) -> &'static str {
        "static"
    }

    fn connect(
        &self,
        _request: ConnectRequest,
    ) -> BoxFuture<'_, Result<Box<dyn TunnelSession>, TunnelError>> {
        let url = self.url.clone();
        Box::pin(async move { Ok(Box::new(StaticSession { url }) as Box<dyn TunnelSession>) })
    }
}

struct StaticSession {
    url: String,
}

impl TunnelSession for StaticSession {
    fn public_url(&self) -> &str {
        &self.url
    }

    fn ended(&mut self) -> BoxFuture<'_, TunnelError> {
        // Nothing here can notice: only the probe can.
        Box::pin(std::future::pending())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_kinds_parse_from_the_words_the_cli_takes() {
        for k in [
            ProviderKind::None,
            ProviderKind::Static,
            ProviderKind::Ngrok,
            ProviderKind::Bore,
        ] {
            assert_eq!(k.as_str().parse::<ProviderKind>().unwrap(), k);
        }
        assert!("cloudflared".parse::<ProviderKind>().is_err());
    }

    #[test]
    fn base_urls_are_normalised_and_checked() {
        assert_eq!(
            normalise_base_url("https://shop.example.com/").unwrap(),
            "https://shop.example.com"
        );
        assert_eq!(
            normalise_base_url(" https://example.com/till/ ").unwrap(),
            "https://example.com/till"
        );
        for bad in [
            "shop.example.com",
            "ftp://x.example",
            "https://x.example/?a=1",
        ] {
            let e = normalise_base_url(bad).unwrap_err();
            assert_eq!(e.kind, TunnelErrorKind::Misconfigured, "{bad}");
        }
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let c = TunnelChoice::Ngrok {
            authtoken: "2abcSECRET".into(),
            domain: Some("x.ngrok-free.app".into()),
        };
        assert!(!format!("{c:?}").contains("SECRET"));
        let c = TunnelChoice::Bore {
            relay: "relay.example".into(),
            secret: Some("SECRET".into()),
        };
        assert!(!format!("{c:?}").contains("SECRET"));
    }
}
