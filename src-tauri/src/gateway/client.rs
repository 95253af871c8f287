use std::fmt;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;

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
                reqwest::Url::parse(url).map_err(|e| format!("'{url}' is not a valid URL: {e}"))?;
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
        let (data, _) = self.call(Method::GET, &path, None).await?;
        decode(data)
    }

    /// "RetrievePaymentJob" in Cashflows' docs: one payment of a job.
    pub async fn retrieve_payment(
        &self,
        job: &JobRef,
        payment: &PaymentRef,
    ) -> Result<Fetched<GatewayPayment>, GatewayError> {
        let path = format!("/payment-jobs/{job}/payments/{payment}");
        let (data, _) = self.call(Method::GET, &path, None).await?;
        decode(data)
    }

    /// Creating is not idempotent, so it is never retried automatically after the request
    /// may have reached the gateway: a timeout surfaces to the owner instead.
    pub async fn create_job(&self, req: &CreateJobRequest) -> Result<CreatedJob, GatewayError> {
        let body = serde_json::to_vec(req).map_err(|e| GatewayError::Decode(e.to_string()))?;
        let (data, envelope) = self
            .call_once_with_body(Method::POST, "/payment-jobs", body)
            .await?;
        let fetched: Fetched<GatewayJob> = decode(data)?;
        let payment_page_url = envelope
            .pointer("/links/action/url")
            .and_then(|u| u.as_str())
            .map(str::to_owned);
        Ok(CreatedJob {
            job: fetched.value,
            raw: fetched.raw,
            payment_page_url,
        })
    }

    /// `HEAD /orders/{orderNumber}`: whether the gateway already holds this order number.
    /// Callers pass a validated order number (letters, digits, `-`, `_`, `.`).
    pub async fn order_exists(&self, order_number: &str) -> Result<bool, GatewayError> {
        let path = format!("/orders/{order_number}");
        match self.call(Method::HEAD, &path, None).await {
            Ok(_) => Ok(true),
            Err(GatewayError::NotFound) => Ok(false),
            Err(e) => Err(e),
        }
    }

    pub async fn cancel_job(&self, job: &JobRef) -> Result<(), GatewayError> {
        let path = format!("/payment-jobs/{job}/cancel");
        self.call(Method::PATCH, &path, None).await.map(|_| ())
    }

    /// A signed GET/PATCH with retries on transient failures.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(serde_json::Value, serde_json::Value), GatewayError> {
        let policy = self.cfg.retry;
        let mut attempt = 1;
        loop {
            match self.send(method.clone(), path, body.clone()).await {
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

    async fn call_once_with_body(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
    ) -> Result<(serde_json::Value, serde_json::Value), GatewayError> {
        self.send(method, path, Some(body)).await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(serde_json::Value, serde_json::Value), GatewayError> {
        if self.breaker.is_open() {
            return Err(GatewayError::CircuitOpen);
        }
        let url = format!("{}/api/gateway{}", self.base_url(), path);
        // Serialised once: the bytes hashed are the bytes sent.
        let body = body.unwrap_or_default();
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
        let envelope: serde_json::Value = if bytes.is_empty() {
            serde_json::Value::Null
        } else {
            match serde_json::from_slice(&bytes) {
                Ok(v) => v,
                Err(_) if status.is_server_error() => serde_json::Value::Null,
                Err(e) if status.is_success() => return Err(GatewayError::Decode(e.to_string())),
                Err(_) => serde_json::Value::Null,
            }
        };
        let report = envelope
            .get("errorReport")
            .filter(|r| !r.is_null())
            .and_then(|r| serde_json::from_value::<ErrorReport>(r.clone()).ok());
        match status {
            s if s.is_success() => {
                let data = envelope
                    .get("data")
                    .cloned()
                    .unwrap_or(serde_json::Value::Null);
                Ok((data, envelope))
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                let err = GatewayError::Unauthorized {
                    status: status.as_u16(),
                    report,
                };
                tracing::error!(code = err.code(), "{err}");
                self.breaker.open(err.to_string());
                Err(err)
            }
            StatusCode::NOT_FOUND => Err(GatewayError::NotFound),
            StatusCode::TOO_MANY_REQUESTS => Err(GatewayError::Unavailable(
                "the gateway asked us to slow down".to_owned(),
            )),
            s if s.is_server_error() => Err(GatewayError::Unavailable(format!(
                "the gateway answered HTTP {}",
                s.as_u16()
            ))),
            s => Err(GatewayError::Rejected {
                status: s.as_u16(),
                report,
            }),
        }
    }
}

fn decode<T: DeserializeOwned>(data: serde_json::Value) -> Result<Fetched<T>, GatewayError> {
    if data.is_null() {
        return Err(GatewayError::Decode("the answer held no data".to_owned()));
    }
    let value = T::deserialize(&data).map_err(|e| GatewayError::Decode(e.to_string()))?;
    Ok(Fetched { value, raw: data })
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
}
