//! What crosses the window's IPC boundary beyond the core's read models: the health bar,
//! settings as the window shows and saves them, and errors as a code plus words.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// What the health bar shows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    pub demo: bool,
    pub environment: String,
    pub listener_up: bool,
    /// Why the listener is not up, in words.
    pub listener_error: Option<String>,
    /// The shared database this window shows (no password): the server's Tillwatch takes
    /// the notifications, this window runs no listener.
    pub shared_database: Option<String>,
    /// On a shared database: the machine whose `tillwatch serve` takes the notifications,
    /// as the database last saw it; `None` when no serve was ever seen there.
    pub notifications_by: Option<ServeSeen>,
    /// The URL the gateway must post to (local until a tunnel gives a public one).
    pub webhook_url: Option<String>,
    pub public_url: Option<String>,
    /// Tunnel state in words, when a tunnel is configured.
    pub tunnel: Option<String>,
    /// The tunnel state's tag: localOnly, connecting, up, down or stopped.
    pub tunnel_status: Option<String>,
    pub gateway_url: Option<String>,
    /// Calls stopped after the gateway refused our credentials.
    pub circuit_open: bool,
    pub circuit_reason: Option<String>,
    /// Acknowledged notifications still waiting for the gateway's confirmation.
    #[ts(type = "number")]
    pub inbox_backlog: u64,
    /// Acknowledged notifications Tillwatch gave up on: they wait for the owner.
    #[ts(type = "number")]
    pub dead_deliveries: u64,
    pub last_notification_at: Option<String>,
    pub last_reconcile_at: Option<String>,
    /// How many orders the last reconciliation caught up.
    pub last_reconcile_caught_up: Option<u32>,
    pub unseen_payments: u32,
}

/// A `tillwatch serve` on the shared database, from its record of machines (times by the
/// database's clock).
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ServeSeen {
    pub machine: String,
    /// Running now: it said it was there within the last 90 s and has not stopped.
    pub online: bool,
    pub last_seen_at: String,
    /// When it last confirmed a notification with the gateway.
    pub last_confirmed_at: Option<String>,
    /// Other serves running on the same database (they share the work).
    pub other_serves: u32,
}

/// An error across IPC: a stable code for the program and words for the owner.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct IpcError {
    pub code: String,
    pub message: String,
}

impl From<tillwatch_core::gateway::GatewayError> for IpcError {
    fn from(e: tillwatch_core::gateway::GatewayError) -> Self {
        tillwatch_core::app::AppError::from(e).into()
    }
}

impl From<tillwatch_core::app::AppError> for IpcError {
    fn from(e: tillwatch_core::app::AppError) -> Self {
        Self {
            code: e.code().to_owned(),
            message: e.to_string(),
        }
    }
}

/// Settings as the window shows them: never the API key itself.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SettingsView {
    pub settings: crate::settings::Settings,
    pub configuration_id: Option<String>,
    pub has_api_key: bool,
    /// False where no OS keyring exists; `keyring_message` says what to do.
    pub keyring_available: bool,
    pub keyring_message: Option<String>,
    /// Credentials come from TILLWATCH_* environment variables and override the keyring.
    pub credentials_from_env: bool,
    pub has_ngrok_authtoken: bool,
    pub has_bore_secret: bool,
    /// A shared database's password is kept in the keyring.
    pub has_database_password: bool,
    /// TILLWATCH_DATABASE_URL is set: it wins over the URL saved here.
    pub database_url_from_env: bool,
    /// TILLWATCH_DATABASE_PASSWORD (or PGPASSWORD) is set: it wins over the keyring.
    pub database_password_from_env: bool,
}

/// Settings as the window saves them. An absent API key keeps the stored one.
#[derive(Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SettingsInput {
    pub settings: crate::settings::Settings,
    pub configuration_id: Option<String>,
    pub api_key: Option<String>,
    /// Absent: keep the stored one.
    pub ngrok_authtoken: Option<String>,
    pub bore_secret: Option<String>,
    /// The shared database's password. Absent or empty: keep the stored one.
    pub database_password: Option<String>,
}

/// Written by hand so a logged or panicking `SettingsInput` never shows a secret.
impl std::fmt::Debug for SettingsInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |s: &Option<String>| s.as_ref().map(|_| "[redacted]");
        f.debug_struct("SettingsInput")
            .field("settings", &self.settings)
            .field("configuration_id", &self.configuration_id)
            .field("api_key", &redacted(&self.api_key))
            .field("ngrok_authtoken", &redacted(&self.ngrok_authtoken))
            .field("bore_secret", &redacted(&self.bore_secret))
            .field("database_password", &redacted(&self.database_password))
            .finish()
    }
}

/// "Test connection" of a shared database: each stage tried, in order, up to the first
/// that failed (`reached`, `tls`, `authenticated`, `schema`).
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseTest {
    pub ok: bool,
    pub stages: Vec<DatabaseTestStage>,
    /// The schema version found, once the server let us ask.
    pub schema_version: Option<i32>,
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseTestStage {
    pub stage: String,
    pub passed: bool,
    pub detail: String,
}

impl From<tillwatch_store_postgres::ConnectionCheck> for DatabaseTest {
    fn from(check: tillwatch_store_postgres::ConnectionCheck) -> Self {
        Self {
            ok: check.ok(),
            schema_version: check.schema_version,
            stages: check
                .stages
                .into_iter()
                .map(|s| DatabaseTestStage {
                    stage: s.stage.as_str().to_owned(),
                    passed: s.passed,
                    detail: s.detail,
                })
                .collect(),
        }
    }
}

/// The result of "test connection", in words.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionTest {
    pub ok: bool,
    pub message: String,
}

impl From<tillwatch_core::app::GatewayCheck> for ConnectionTest {
    fn from(check: tillwatch_core::app::GatewayCheck) -> Self {
        Self {
            ok: check.ok,
            message: check.message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_input_debug_shows_no_secret() {
        let input = SettingsInput {
            settings: crate::settings::Settings::default(),
            configuration_id: Some("cfg-123".into()),
            api_key: Some("tw-api-key-secret".into()),
            ngrok_authtoken: Some("tw-ngrok-secret".into()),
            bore_secret: Some("tw-bore-secret".into()),
            database_password: Some("tw-db-secret".into()),
        };
        let shown = format!("{input:?} {input:#?}");
        for secret in [
            "tw-api-key-secret",
            "tw-ngrok-secret",
            "tw-bore-secret",
            "tw-db-secret",
        ] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(
            shown.contains("[redacted]") && shown.contains("cfg-123"),
            "{shown}"
        );
    }

    #[test]
    fn an_ipc_error_from_an_sqlite_failure_holds_no_sql_text() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let sqlite = conn
            .execute("SELEC job_ref FROM payment_jobs", [])
            .unwrap_err();
        assert!(
            sqlite.to_string().contains("SELEC"),
            "the raw text has SQL in it"
        );
        let ipc = IpcError::from(tillwatch_core::app::AppError::from(
            tillwatch_core::store::StoreError::from(tillwatch_store_sqlite::DbError::from(sqlite)),
        ));
        assert_eq!(ipc.code, "store_failed");
        for leak in ["SELEC", "syntax", "payment_jobs", "sqlite"] {
            assert!(!ipc.message.contains(leak), "{leak} in {ipc:?}");
        }
        let as_json = serde_json::to_string(&ipc).unwrap();
        assert!(!as_json.contains("SELEC"), "{as_json}");
    }
}
