use serde::{Deserialize, Deserializer, Serialize};

/// The gateway's `errorReport`. Any field may be missing or `null`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ErrorReport {
    #[serde(deserialize_with = "null_as_default")]
    pub errors: Vec<ErrorEntry>,
    #[serde(deserialize_with = "null_as_default")]
    pub warnings: Vec<serde_json::Value>,
    pub language: Option<String>,
    pub is_fatal_error: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ErrorEntry {
    #[serde(deserialize_with = "null_as_default")]
    pub code: String,
    pub message: Option<String>,
    pub translated_message: Option<String>,
    pub parameters: Option<serde_json::Value>,
}

/// `null` reads as the field's default, as a missing field does: the gateway sends both.
pub(super) fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

impl ErrorReport {
    /// Codes may carry suffixes (`InvalidCustomerReference_1`); callers match the stem.
    pub fn has_code(&self, stem: &str) -> bool {
        self.errors
            .iter()
            .any(|e| e.code == stem || e.code.split('_').next() == Some(stem))
    }

    /// Words for the owner: the translated message where the gateway gave one.
    pub fn summary(&self) -> String {
        let parts: Vec<String> = self
            .errors
            .iter()
            .map(|e| {
                let text = e
                    .translated_message
                    .as_deref()
                    .or(e.message.as_deref())
                    .unwrap_or("");
                if text.is_empty() {
                    e.code.clone()
                } else {
                    format!("{} ({})", text, e.code)
                }
            })
            .collect();
        if parts.is_empty() {
            "no details given".to_owned()
        } else {
            parts.join("; ")
        }
    }
}

/// What can go wrong talking to the gateway. Messages are safe to show an owner: they
/// never carry the API key or the signature.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GatewayError {
    #[error("the gateway refused our credentials (HTTP {status}): {}; calls are stopped until the configuration ID and API key are fixed, or until a check (first after a minute, then up to hourly) finds them accepted again", report_text(.report))]
    Unauthorized {
        status: u16,
        report: Option<ErrorReport>,
    },
    /// A 403 on one operation (another merchant's job, cancelling a job that was just
    /// paid): other calls carry on.
    #[error("the gateway refused this operation (HTTP 403): {}", report_text(.report))]
    Forbidden { report: Option<ErrorReport> },
    #[error("calls to the gateway are stopped because it refused our credentials; fix the configuration ID and API key (a check, up to hourly, resumes calls once the gateway accepts them again)")]
    CircuitOpen,
    #[error("the gateway does not know this reference")]
    NotFound,
    #[error("the gateway refused the request (HTTP {status}): {}", report_text(.report))]
    Rejected {
        status: u16,
        report: Option<ErrorReport>,
    },
    #[error("the gateway could not be reached: {0}")]
    Unavailable(String),
    #[error("the gateway's answer could not be read: {0}")]
    Decode(String),
}

fn report_text(r: &Option<ErrorReport>) -> String {
    r.as_ref()
        .map_or_else(|| "no details given".to_owned(), ErrorReport::summary)
}

impl GatewayError {
    /// Worth trying again later without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }

    /// A short stable code for logs, IPC and the store.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized { .. } => "gateway_unauthorized",
            Self::Forbidden { .. } => "gateway_forbidden",
            Self::CircuitOpen => "gateway_circuit_open",
            Self::NotFound => "gateway_not_found",
            Self::Rejected { .. } => "gateway_rejected",
            Self::Unavailable(_) => "gateway_unavailable",
            Self::Decode(_) => "gateway_bad_answer",
        }
    }
}
