//! bore (crate `bore-cli`) to a self-hosted relay: `http://RELAY:PORT` forwards to the
//! listener. The relay's control port is bore's fixed 7835.
//!
//! The port is the address: the provider asks for the port it had last (this run, or the
//! one in the remembered URL after a restart) so the URL Cashflows knows keeps working.
//! After a silent network drop the relay still holds the old port for the dead
//! connection, so the request is refused; it then takes any free port (a new URL) and
//! says so, and the supervisor tells the owner what to change in the portal.
//!
//! `Client::listen` returns `Ok(())` when the relay closes the control connection: that
//! is "disconnected", not success. It never notices a relay that silently stopped
//! answering: the supervisor's probe does.

use std::sync::Mutex;
use std::time::Duration;

use bore_cli::client::Client;
use bore_cli::shared::CONTROL_PORT;
use tokio::task::JoinHandle;

use super::{
    BoxFuture, ConnectRequest, TunnelError, TunnelErrorKind, TunnelProvider, TunnelSession,
};

pub struct BoreProvider {
    /// Host name or address of the relay, as given to `Client::new`.
    relay: String,
    secret: Option<String>,
    last_port: Mutex<Option<u16>>,
    reclaim_patience: Duration,
}

impl std::fmt::Debug for BoreProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoreProvider")
            .field("relay", &self.relay)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl BoreProvider {
    /// `relay` is `HOST` or `HOST:7835` (bore's control port cannot be changed).
    pub fn new(relay: &str, secret: Option<String>) -> Result<Self, TunnelError> {
        Ok(Self {
            relay: parse_relay(relay)?,
            secret: secret.filter(|s| !s.is_empty()),
            last_port: Mutex::new(None),
            reclaim_patience: Duration::from_secs(3),
        })
    }

    /// How long to keep asking for the old port before taking a new one (a new URL).
    /// A relay frees the port of a cleanly closed tunnel within about a second; one that
    /// lost the connection silently holds it until TCP gives up, far longer.
    pub fn with_reclaim_patience(mut self, patience: Duration) -> Self {
        self.reclaim_patience = patience;
        self
    }

    pub fn relay(&self) -> &str {
        &self.relay
    }

    fn url_for(&self, port: u16) -> String {
        if self.relay.contains(':') {
            format!("http://[{}]:{port}", self.relay)
        } else {
            format!("http://{}:{port}", self.relay)
        }
    }

    /// The port of a remembered URL, if it was on this relay.
    fn port_in(&self, url: &str) -> Option<u16> {
        let parsed = reqwest::Url::parse(url).ok()?;
        let host = parsed
            .host_str()?
            .trim_start_matches('[')
            .trim_end_matches(']');
        (host.eq_ignore_ascii_case(&self.relay) && parsed.path() == "/")
            .then(|| parsed.port())
            .flatten()
    }

    async fn open(
        &self,
        local_host: &str,
        local_port: u16,
        port: u16,
    ) -> Result<Client, BoreFailure> {
        Client::new(
            local_host,
            local_port,
            &self.relay,
            port,
            self.secret.as_deref(),
        )
        .await
        .map_err(|e| classify(&format!("{e:#}")))
    }

    /// Asks for `port` again until the relay gives it or the patience runs out.
    async fn reclaim(
        &self,
        local_host: &str,
        local_port: u16,
        port: u16,
    ) -> Result<Client, BoreFailure> {
        let give_up = tokio::time::Instant::now() + self.reclaim_patience;
        loop {
            match self.open(local_host, local_port, port).await {
                Err(BoreFailure::PortRefused(_)) if tokio::time::Instant::now() < give_up => {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                other => return other,
            }
        }
    }

    fn words(&self, failure: BoreFailure) -> TunnelError {
        let relay = &self.relay;
        match failure {
            BoreFailure::PortRefused(why) => TunnelError::new(
                TunnelErrorKind::Refused,
                format!("The relay {relay} refused every port ({why})."),
            ),
            BoreFailure::Offline(why) => TunnelError::new(
                TunnelErrorKind::Offline,
                format!(
                    "This computer cannot find the relay {relay} (no internet?): {why}. \
                     Notifications cannot arrive until it can."
                ),
            ),
            BoreFailure::Unreachable(why) => TunnelError::new(
                TunnelErrorKind::Unreachable,
                format!(
                    "The relay {relay} does not answer (is it running, and is this computer online?): {why}. \
                     Notifications cannot arrive until it does."
                ),
            ),
            BoreFailure::Secret(why) => TunnelError::new(
                TunnelErrorKind::Refused,
                format!("The relay {relay} refused the secret ({why}): check the bore secret in Settings (TILLWATCH_BORE_SECRET)."),
            ),
            BoreFailure::Other(why) => TunnelError::new(
                TunnelErrorKind::Other,
                format!("The relay {relay} did not open a tunnel: {why}."),
            ),
        }
    }
}

/// What went wrong opening a bore tunnel, read from bore's error text (its errors are
/// `anyhow` strings).
#[derive(Debug, Clone, PartialEq, Eq)]
enum BoreFailure {
    /// The relay is there but would not give this port.
    PortRefused(String),
    Offline(String),
    Unreachable(String),
    Secret(String),
    Other(String),
}

fn classify(text: &str) -> BoreFailure {
    let t = text.to_ascii_lowercase();
    let has = |s: &str| t.contains(s);
    if has("port already in use")
        || has("not in allowed range")
        || has("failed to bind to port")
        || has("permission denied")
        || has("failed to find an available port")
    {
        BoreFailure::PortRefused(text.to_owned())
    } else if has("secret") || has("authentication") {
        BoreFailure::Secret(text.to_owned())
    } else if has("failed to lookup address")
        || has("name or service not known")
        || has("network is unreachable")
    {
        BoreFailure::Offline(text.to_owned())
    } else if has("could not connect")
        || has("timed out")
        || has("unexpected eof")
        || has("connection reset")
    {
        BoreFailure::Unreachable(text.to_owned())
    } else {
        BoreFailure::Other(text.to_owned())
    }
}

fn parse_relay(relay: &str) -> Result<String, TunnelError> {
    let bad = |why: String| TunnelError::new(TunnelErrorKind::Misconfigured, why);
    let r = relay.trim();
    let r = r.strip_prefix("bore://").unwrap_or(r);
    if r.is_empty() {
        return Err(bad(
            "the bore relay is missing: give its host name".to_owned()
        ));
    }
    // "[::1]:7835", "[::1]", "host:7835", "host", or a bare IPv6 address.
    let (host, port) = if let Some(rest) = r.strip_prefix('[') {
        let (h, after) = rest
            .split_once(']')
            .ok_or_else(|| bad(format!("'{relay}' is not a host name")))?;
        (h, after.strip_prefix(':'))
    } else if r.matches(':').count() == 1 {
        let (h, p) = r.split_once(':').unwrap_or((r, ""));
        (h, Some(p))
    } else {
        (r, None)
    };
    if let Some(p) = port {
        if p.parse::<u16>().ok() != Some(CONTROL_PORT) {
            return Err(bad(format!(
                "bore relays listen on port {CONTROL_PORT}; give the relay as HOST or HOST:{CONTROL_PORT}, not '{relay}'"
            )));
        }
    }
    if host.is_empty() || host.contains('/') || host.contains(char::is_whitespace) {
        return Err(bad(format!("'{relay}' is not a host name")));
    }
    Ok(host.to_owned())
}

impl TunnelProvider for BoreProvider {
    fn name(&self) -> &'static str {
        "bore"
    }

    fn connect(
        &self,
        request: ConnectRequest,
    ) -> BoxFuture<'_, Result<Box<dyn TunnelSession>, TunnelError>> {
        Box::pin(async move {
            let local_ip = match request.local.ip() {
                ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_owned(),
                ip if ip.is_unspecified() => "::1".to_owned(),
                ip => ip.to_string(),
            };
            let local_port = request.local.port();
            let remembered = *self.last_port.lock().unwrap_or_else(|p| p.into_inner());
            let wanted =
                remembered.or_else(|| request.last_url.as_deref().and_then(|u| self.port_in(u)));

            let (client, notice) = match wanted {
                Some(port) => match self.reclaim(&local_ip, local_port, port).await {
                    Ok(c) => (c, None),
                    Err(BoreFailure::PortRefused(why)) => {
                        tracing::info!(port, "bore: the relay would not give the old port back ({why}); taking a new one");
                        let c = self
                            .open(&local_ip, local_port, 0)
                            .await
                            .map_err(|f| self.words(f))?;
                        let notice = format!(
                            "The relay could not give back port {port} (it still holds it for the connection that was lost), so Tillwatch took port {}.",
                            c.remote_port()
                        );
                        (c, Some(notice))
                    }
                    Err(f) => return Err(self.words(f)),
                },
                None => (
                    self.open(&local_ip, local_port, 0)
                        .await
                        .map_err(|f| self.words(f))?,
                    None,
                ),
            };
            let port = client.remote_port();
            *self.last_port.lock().unwrap_or_else(|p| p.into_inner()) = Some(port);
            let url = self.url_for(port);
            tracing::info!(%url, "bore: tunnel open");
            Ok(Box::new(BoreSession {
                url,
                relay: self.relay.clone(),
                notice,
                task: tokio::spawn(client.listen()),
                ended: None,
            }) as Box<dyn TunnelSession>)
        })
    }
}

struct BoreSession {
    url: String,
    relay: String,
    notice: Option<String>,
    task: JoinHandle<anyhow::Result<()>>,
    ended: Option<TunnelError>,
}

impl TunnelSession for BoreSession {
    fn public_url(&self) -> &str {
        &self.url
    }

    fn notice(&self) -> Option<String> {
        self.notice.clone()
    }

    fn ended(&mut self) -> BoxFuture<'_, TunnelError> {
        Box::pin(async move {
            if let Some(e) = &self.ended {
                return e.clone();
            }
            let relay = &self.relay;
            let error = match (&mut self.task).await {
                Ok(Ok(())) => TunnelError::new(
                    TunnelErrorKind::Ended,
                    format!(
                        "The relay {relay} closed the tunnel (it restarted or stopped, or the network dropped). \
                         Notifications cannot arrive until it is back."
                    ),
                ),
                Ok(Err(e)) => TunnelError::new(
                    TunnelErrorKind::Ended,
                    format!("The tunnel to the relay {relay} failed: {e:#}. Notifications cannot arrive until it is back."),
                ),
                Err(e) => TunnelError::new(
                    TunnelErrorKind::Ended,
                    format!("The tunnel to the relay {relay} stopped: {e}."),
                ),
            };
            self.ended = Some(error.clone());
            error
        })
    }
}

impl Drop for BoreSession {
    fn drop(&mut self) {
        // Closes the control connection: the relay frees the port.
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relays_are_hosts_on_the_fixed_control_port() {
        assert_eq!(
            parse_relay("relay.example.com").unwrap(),
            "relay.example.com"
        );
        assert_eq!(
            parse_relay("relay.example.com:7835").unwrap(),
            "relay.example.com"
        );
        assert_eq!(parse_relay("bore://127.0.0.1").unwrap(), "127.0.0.1");
        assert_eq!(parse_relay("[::1]:7835").unwrap(), "::1");
        assert_eq!(parse_relay("::1").unwrap(), "::1");
        for bad in ["", "relay:9000", "relay:x", "http://relay/x"] {
            let e = parse_relay(bad).unwrap_err();
            assert_eq!(e.kind, TunnelErrorKind::Misconfigured, "{bad}");
        }
    }

    #[test]
    fn urls_carry_the_port_and_a_remembered_port_is_reused_on_the_same_relay() {
        let p = BoreProvider::new("127.0.0.2", None).unwrap();
        assert_eq!(p.url_for(4100), "http://127.0.0.2:4100");
        assert_eq!(p.port_in("http://127.0.0.2:4100"), Some(4100));
        assert_eq!(p.port_in("http://127.0.0.3:4100"), None);
        assert_eq!(p.port_in("https://x.ngrok-free.app"), None);
        let v6 = BoreProvider::new("::1", None).unwrap();
        assert_eq!(v6.url_for(4100), "http://[::1]:4100");
        assert_eq!(v6.port_in("http://[::1]:4100"), Some(4100));
    }

    #[test]
    fn bore_errors_become_words() {
        assert!(matches!(
            classify("server error: port already in use"),
            BoreFailure::PortRefused(_)
        ));
        assert!(matches!(
            classify("could not connect to 127.0.0.1:7835: Connection refused (os error 111)"),
            BoreFailure::Unreachable(_)
        ));
        assert!(matches!(
            classify("server error: invalid secret"),
            BoreFailure::Secret(_)
        ));
        assert!(matches!(
            classify("server requires authentication, but no client secret was provided"),
            BoreFailure::Secret(_)
        ));
        assert!(matches!(
            classify(
                "could not connect to relay.invalid:7835: failed to lookup address information"
            ),
            BoreFailure::Offline(_)
        ));
        let p = BoreProvider::new("relay.example", Some("s".into())).unwrap();
        let e = p.words(classify("server error: invalid secret"));
        assert_eq!(e.kind, TunnelErrorKind::Refused);
        assert!(e.message.contains("check the bore secret"), "{}", e.message);
        assert!(!format!("{p:?}").contains("\"s\""));
    }
}
