use std::fmt;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{
    sign, Breaker, CreateJobRequest, CreatedJob, ErrorReport, GatewayError, GatewayJob,
    GatewayPayment, RetryPolicy,
};
use crate::domain::{JobRef, PaymentRef};

/// The merchant's API key. It never prints: `Debug` is redacted and there is no `Display`.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }
    fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayEnvironment {
    Integration,
    Production,
    Custom(String),
}

impl GatewayEnvironment {
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.trim() {
            "integration" => Ok(Self::Integration),
            "production" => Ok(Self::Production),
            url if url.starts_with("http://") || url.starts_with("https://") => {
                let parsed = reqwest::Url::parse(url)
                    .map_err(|e| format!("'{url}' is not a valid URL: {e}"))?;
                // Plain http would show the signed requests and the answers to the network.
                if parsed.scheme() == "http" && !is_loopback(&parsed) {
                    return Err(format!(
                        "'{url}' must use https://: plain http:// is only for a gateway on this \
                         computer (a loopback address: 127.x.x.x, [::1] or localhost)"
                    ));
                }
                Ok(Self::Custom(url.trim_end_matches('/').to_owned()))
            }
            other => Err(format!(
                "'{other}' is not a gateway: use integration, production or an http(s) URL"
            )),
        }
    }

    pub fn base_url(&self) -> &str {
        match self {
            Self::Integration => "https://gateway-int.cashflows.com",
            Self::Production => "https://gateway.cashflows.com",
            Self::Custom(url) => url,
        }
    }
}

/// 127.0.0.0/8, ::1 or `localhost`: traffic that never leaves this computer.
fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub environment: GatewayEnvironment,
    pub configuration_id: String,
    pub api_key: ApiKey,
    /// Whole-request timeout; a hanging gateway must not hold a confirmation forever.
    pub timeout: Duration,
    pub retry: RetryPolicy,
}

impl GatewayConfig {
    pub fn new(environment: GatewayEnvironment, configuration_id: String, api_key: ApiKey) -> Self {
        Self {
            environment,
            configuration_id,
            api_key,
            timeout: Duration::from_secs(15),
            retry: RetryPolicy::default(),
        }
    }
}

/// A decoded answer together with the `data` JSON it came from (kept for the owner).
#[derive(Debug, Clone)]
pub struct Fetched<T> {
    pub value: T,
    pub raw: serde_json::Value,
}

#[derive(Clone)]
pub struct GatewayClient {
    http: reqwest::Client,
    cfg: GatewayConfig,
    breaker: Breaker,
}

impl GatewayClient {
    pub fn new(cfg: GatewayConfig) -> Result<Self, GatewayError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5).min(cfg.timeout))
            .timeout(cfg.timeout)
            .user_agent(concat!("tillwatch/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| GatewayError::Unavailable(format!("HTTP client: {e}")))?;
        Ok(Self {
            http,
            cfg,
            breaker: Breaker::default(),
        })
    }

    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    pub fn base_url(&self) -> &str {
        self.cfg.environment.base_url()
    }

    pub async fn retrieve_job(&self, job: &JobRef) -> Result<Fetched<GatewayJob>, GatewayError> {
        let path = format!("/payment-jobs/{job}");
        let body = self.call(Method::GET, &path).await?;
        decode(Envelope::read(&body)?.data)
    }

    /// "RetrievePaymentJob" in Cashflows' docs: one payment of a job.
    pub async fn retrieve_payment(
        &self,
        job: &JobRef,
        payment: &PaymentRef,
    ) -> Result<Fetched<GatewayPayment>, GatewayError> {
        let path = format!("/payment-jobs/{job}/payments/{payment}");
        let body = self.call(Method::GET, &path).await?;
        decode(Envelope::read(&body)?.data)
    }

    /// Creating is not idempotent, so it is never retried automatically after the request
    /// may have reached the gateway: a timeout surfaces to the owner instead.
    pub async fn create_job(&self, req: &CreateJobRequest) -> Result<CreatedJob, GatewayError> {
        let body = serde_json::to_vec(req).map_err(|e| GatewayError::Decode(e.to_string()))?;
        let answer = self
            .send(Gate::Breaker, Method::POST, "/payment-jobs", body)
            .await?;
        let envelope = Envelope::read(&answer)?;
        let fetched: Fetched<GatewayJob> = decode(envelope.data)?;
        Ok(CreatedJob {
            job: fetched.value,
            raw: fetched.raw,
            payment_page_url: envelope.payment_page_url(),
        })
    }

    /// `HEAD /orders/{orderNumber}`: whether the gateway already holds this order number.
    /// Callers pass a validated order number (letters, digits, `-`, `_`, `.`).
    pub async fn order_exists(&self, order_number: &str) -> Result<bool, GatewayError> {
        let path = format!("/orders/{order_number}");
        match self.call(Method::HEAD, &path).await {
            Ok(_) => Ok(true),
            Err(GatewayError::NotFound) => Ok(false),
            Err(e) => Err(e),
        }
    }

    pub async fn cancel_job(&self, job: &JobRef) -> Result<(), GatewayError> {
        let path = format!("/payment-jobs/{job}/cancel");
        self.call(Method::PATCH, &path).await.map(|_| ())
    }

    /// Whether the gateway accepts our credentials, from one signed read of `job` (made
    /// once, never retried): a 2xx, or a 404 (the signature is checked before the job is
    /// looked up), is `Ok`. A job we hold answers 200; where we hold none, a reference
    /// that cannot exist answers 404.
    pub async fn check_credentials(&self, job: &JobRef) -> Result<(), GatewayError> {
        self.read_once(Gate::Breaker, job).await
    }

    /// `check_credentials`, sent even though the breaker is open: the breaker's probe,
    /// the one call allowed then. Its caller makes sure only one is in flight.
    pub async fn probe_credentials(&self, job: &JobRef) -> Result<(), GatewayError> {
        self.read_once(Gate::Probe, job).await
    }

    async fn read_once(&self, gate: Gate, job: &JobRef) -> Result<(), GatewayError> {
        let path = format!("/payment-jobs/{job}");
        match self.send(gate, Method::GET, &path, Vec::new()).await {
            Ok(_) | Err(GatewayError::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// A signed request without a body, retried on transient failures.
    async fn call(&self, method: Method, path: &str) -> Result<Vec<u8>, GatewayError> {
        let policy = self.cfg.retry;
        let mut attempt = 1;
        loop {
            match self
                .send(Gate::Breaker, method.clone(), path, Vec::new())
                .await
            {
                Err(e) if e.is_transient() && attempt < policy.max_attempts => {
                    let wait = policy.delay(attempt);
                    tracing::debug!(path, attempt, ?wait, error = %e, "gateway call failed; retrying");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// One signed request; a success gives the answer's bytes as they came.
    pub(super) async fn send(
        &self,
        gate: Gate,
        method: Method,
        path: &str,
        body: Vec<u8>,
    ) -> Result<Vec<u8>, GatewayError> {
        if gate == Gate::Breaker && self.breaker.is_open() {
            return Err(GatewayError::CircuitOpen);
        }
        let url = format!("{}/api/gateway{}", self.base_url(), path);
        // Serialised once: the bytes hashed are the bytes sent.
        let hash = sign(self.cfg.api_key.expose(), &body);
        let mut req = self
            .http
            .request(method, &url)
            .header("ConfigurationId", &self.cfg.configuration_id)
            .header("Hash", hash)
            .header("Accept", "application/json");
        if !body.is_empty() {
            req = req.header("Content-Type", "application/json").body(body);
        }
        let resp = req.send().await.map_err(|e| {
            GatewayError::Unavailable(if e.is_timeout() {
                "no answer in time".to_owned()
            } else if e.is_connect() {
                "connection failed".to_owned()
            } else {
                "the connection broke".to_owned()
            })
        })?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|_| GatewayError::Unavailable("the answer was cut off".to_owned()))?;
        if status.is_success() {
            return Ok(bytes.into());
        }
        // An error answer may be anything (a proxy's HTML page): its report is a bonus.
        let report = Envelope::read(&bytes).ok().and_then(|e| e.error_report());
        Err(match status {
            StatusCode::UNAUTHORIZED => self.refused_credentials(status, report),
            // About this one request (another merchant's job named in a forged notification,
            // a job just paid that cannot be cancelled) until a known-good read says
            // otherwise: the caller decides (`pipeline::CredentialCheck`).
            StatusCode::FORBIDDEN => {
                let err = GatewayError::Forbidden { report };
                tracing::warn!(code = err.code(), path, "{err}");
                err
            }
            StatusCode::NOT_FOUND => GatewayError::NotFound,
            StatusCode::TOO_MANY_REQUESTS => {
                GatewayError::Unavailable("the gateway asked us to slow down".to_owned())
            }
            s if s.is_server_error() => {
                GatewayError::Unavailable(format!("the gateway answered HTTP {}", s.as_u16()))
            }
            s => GatewayError::Rejected {
                status: s.as_u16(),
                report,
            },
        })
    }

    /// Stops every call: repeated bad signatures may lock the merchant's account.
    fn refused_credentials(&self, status: StatusCode, report: Option<ErrorReport>) -> GatewayError {
        let err = GatewayError::Unauthorized {
            status: status.as_u16(),
            report,
        };
        tracing::error!(code = err.code(), "{err}");
        self.breaker.open(err.to_string());
        err
    }
}

/// Whether a request waits on the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Gate {
    /// Refused at once while the breaker is open.
    Breaker,
    /// The breaker's own probe, sent while it is open.
    Probe,
}

/// The answer's envelope with each part still as its exact JSON text: parts are decoded
/// on their own (a malformed `errorReport` hides nothing else), straight from the bytes,
/// so no number passes through f64 on the way to an `Amount`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Envelope<'a> {
    #[serde(borrow, default)]
    pub(super) data: Option<&'a RawValue>,
    #[serde(borrow, default)]
    links: Option<&'a RawValue>,
    #[serde(borrow, default)]
    error_report: Option<&'a RawValue>,
}

impl<'a> Envelope<'a> {
    pub(super) fn read(bytes: &'a [u8]) -> Result<Self, GatewayError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(GatewayError::Decode("the answer was empty".to_owned()));
        }
        serde_json::from_slice(bytes).map_err(|e| GatewayError::Decode(e.to_string()))
    }

    fn error_report(&self) -> Option<ErrorReport> {
        serde_json::from_str(self.error_report?.get()).ok()
    }

    /// `links.action.url`: the hosted payment page of a new job.
    fn payment_page_url(&self) -> Option<String> {
        #[derive(Deserialize)]
        struct Links {
            action: Option<Link>,
        }
        #[derive(Deserialize)]
        struct Link {
            url: Option<String>,
        }
        let links: Links = serde_json::from_str(self.links?.get()).ok()?;
        links.action?.url
    }
}

/// The typed answer and, for the owner, the `data` JSON it came from.
pub(super) fn decode<T: DeserializeOwned>(
    data: Option<&RawValue>,
) -> Result<Fetched<T>, GatewayError> {
    let data = data.ok_or_else(|| GatewayError::Decode("the answer held no data".to_owned()))?;
    let bad = |e: serde_json::Error| GatewayError::Decode(e.to_string());
    let value = serde_json::from_str(data.get()).map_err(bad)?;
    let raw = serde_json::from_str(data.get()).map_err(bad)?;
    Ok(Fetched { value, raw })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_key_never_prints() {
        let cfg = GatewayConfig::new(
            GatewayEnvironment::Integration,
            "cfg".into(),
            ApiKey::new("super-secret-key"),
        );
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("super-secret-key"), "{shown}");
    }

    #[test]
    fn environments_parse() {
        assert_eq!(
            GatewayEnvironment::parse("integration").unwrap().base_url(),
            "https://gateway-int.cashflows.com"
        );
        assert_eq!(
            GatewayEnvironment::parse("http://127.0.0.1:9/")
                .unwrap()
                .base_url(),
            "http://127.0.0.1:9"
        );
        assert!(GatewayEnvironment::parse("staging").is_err());
    }

    #[test]
    fn custom_gateway_must_be_https_unless_loopback() {
        for ok in [
            "https://gateway.example.com",
            "https://gateway.example.com:8443/",
            "http://127.0.0.1:9",
            "http://127.8.9.10:9",
            "http://[::1]:8080/",
            "http://localhost:3000",
            "http://LocalHost",
        ] {
            assert!(GatewayEnvironment::parse(ok).is_ok(), "{ok} is allowed");
        }
        for plain in [
            "http://gateway.example.com",
            "http://10.0.0.5:8080",
            "http://0.0.0.0:9",
            "http://[::2]:9",
            "http://localhost.example.com",
            "http://127.0.0.1.example.com",
        ] {
            let err = GatewayEnvironment::parse(plain).unwrap_err();
            assert!(
                err.contains("must use https://") && err.contains("loopback"),
                "{plain}: {err}"
            );
        }
    }
}
