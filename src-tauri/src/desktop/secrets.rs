//! The configuration ID and API key in the OS keyring, with the tunnel's secrets and the
//! shared database's password. Environment variables, when set, win over the keyring (for
//! servers and tests). Secrets never reach a log line.

use crate::config::{self, Credentials};
use crate::gateway::ApiKey;

const SERVICE: &str = "tillwatch";
const CONFIGURATION_ID: &str = "configuration-id";
const API_KEY: &str = "api-key";
const NGROK_AUTHTOKEN: &str = "ngrok-authtoken";
const BORE_SECRET: &str = "bore-secret";
const DATABASE_PASSWORD: &str = "database-password";

pub const NO_KEYRING: &str = "No OS keyring is available here (no Secret Service is running). \
Set TILLWATCH_CONFIGURATION_ID and TILLWATCH_API_KEY in the environment instead.";

#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Environment,
    Keyring,
    None,
}

fn entry(name: &str) -> Result<keyring::Entry, String> {
    keyring::Entry::new(SERVICE, name).map_err(words)
}

fn words(e: keyring::Error) -> String {
    match e {
        keyring::Error::NoStorageAccess(_) | keyring::Error::PlatformFailure(_) => {
            NO_KEYRING.to_owned()
        }
        other => format!("The keyring refused: {other}"),
    }
}

fn read(name: &str) -> Result<Option<String>, String> {
    match entry(name)?.get_password() {
        Ok(v) => Ok(Some(v)),
        Err(keyring::Error::NoEntry) => Ok(None),
        Err(e) => Err(words(e)),
    }
}

/// `load` on a blocking thread: the keyring's calls block, and async workers must not.
pub async fn load_off_runtime() -> (Option<Credentials>, Source, Option<String>) {
    tokio::task::spawn_blocking(load).await.unwrap_or_else(|_| {
        (
            None,
            Source::None,
            Some("the keyring could not be read".to_owned()),
        )
    })
}

/// `tunnel_secrets` on a blocking thread.
pub async fn tunnel_secrets_off_runtime() -> (Option<String>, Option<String>) {
    tokio::task::spawn_blocking(tunnel_secrets)
        .await
        .unwrap_or((None, None))
}

/// Credentials and where they came from; the error says why the keyring could not help.
pub fn load() -> (Option<Credentials>, Source, Option<String>) {
    match config::credentials_from_env() {
        Ok(Some(c)) => return (Some(c), Source::Environment, None),
        Ok(None) => {}
        Err(e) => return (None, Source::None, Some(e)),
    }
    match (read(CONFIGURATION_ID), read(API_KEY)) {
        (Ok(Some(id)), Ok(Some(key))) => (
            Some(Credentials {
                configuration_id: id,
                api_key: ApiKey::new(key),
            }),
            Source::Keyring,
            None,
        ),
        (Err(e), _) | (_, Err(e)) => (None, Source::None, Some(e)),
        _ => (None, Source::None, None),
    }
}

/// The configuration ID shown in settings (not secret), and whether an API key is stored.
pub fn describe() -> (Option<String>, bool, Result<(), String>) {
    if let Ok(Some(c)) = config::credentials_from_env() {
        return (Some(c.configuration_id), true, Ok(()));
    }
    match (read(CONFIGURATION_ID), read(API_KEY)) {
        (Ok(id), Ok(key)) => (id, key.is_some(), Ok(())),
        (Err(e), _) | (_, Err(e)) => (None, false, Err(e)),
    }
}

pub fn store(configuration_id: Option<&str>, api_key: Option<&str>) -> Result<(), String> {
    if let Some(id) = configuration_id.map(str::trim) {
        if id.is_empty() {
            match entry(CONFIGURATION_ID)?.delete_credential() {
                Ok(()) | Err(keyring::Error::NoEntry) => {}
                Err(e) => return Err(words(e)),
            }
        } else {
            entry(CONFIGURATION_ID)?.set_password(id).map_err(words)?;
        }
    }
    if let Some(key) = api_key.filter(|k| !k.is_empty()) {
        entry(API_KEY)?.set_password(key).map_err(words)?;
    }
    Ok(())
}

/// The tunnel's secrets: environment first (servers, tests), then the keyring.
pub fn tunnel_secrets() -> (Option<String>, Option<String>) {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let ngrok =
        env(crate::boot::ENV_NGROK_AUTHTOKEN).or_else(|| read(NGROK_AUTHTOKEN).ok().flatten());
    let bore = env(crate::boot::ENV_BORE_SECRET).or_else(|| read(BORE_SECRET).ok().flatten());
    (ngrok, bore)
}

pub fn store_tunnel_secrets(ngrok: Option<&str>, bore: Option<&str>) -> Result<(), String> {
    if let Some(t) = ngrok.filter(|t| !t.is_empty()) {
        entry(NGROK_AUTHTOKEN)?.set_password(t).map_err(words)?;
    }
    if let Some(t) = bore.filter(|t| !t.is_empty()) {
        entry(BORE_SECRET)?.set_password(t).map_err(words)?;
    }
    Ok(())
}

/// The shared database's password from the keyring (the environment's, which wins, is read
/// with the URL by `DatabaseConfig::from_url_and_env`).
pub fn database_password() -> Option<String> {
    read(DATABASE_PASSWORD)
        .ok()
        .flatten()
        .filter(|p| !p.is_empty())
}

/// `database_password` on a blocking thread.
pub async fn database_password_off_runtime() -> Option<String> {
    tokio::task::spawn_blocking(database_password)
        .await
        .unwrap_or(None)
}

pub fn store_database_password(password: &str) -> Result<(), String> {
    entry(DATABASE_PASSWORD)?
        .set_password(password)
        .map_err(words)
}

/// Whether the environment names the shared database's password (it wins over the keyring).
pub fn database_password_from_env() -> bool {
    [
        tillwatch_store_postgres::PASSWORD_ENV,
        tillwatch_store_postgres::PGPASSWORD_ENV,
    ]
    .iter()
    .any(|name| std::env::var(name).is_ok_and(|v| !v.is_empty()))
}

/// The secrets the owner typed into Settings; an absent or empty one keeps the stored one
/// (an empty configuration ID removes it).
pub struct Entered {
    pub configuration_id: Option<String>,
    pub api_key: Option<String>,
    pub ngrok_authtoken: Option<String>,
    pub bore_secret: Option<String>,
    pub database_password: Option<String>,
}

/// Why what was typed could not be kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaveError {
    /// The blocking thread that talks to the keyring did not come back.
    Unreachable,
    /// The keyring refused, in words.
    Refused(String),
}

/// Keeps what was typed in the keyring, on blocking threads: the database password, then
/// the credentials, then the tunnel's secrets (stopping at the first refusal).
pub async fn save_off_runtime(entered: Entered) -> Result<(), SaveError> {
    async fn off_runtime(
        job: impl FnOnce() -> Result<(), String> + Send + 'static,
    ) -> Result<(), SaveError> {
        tokio::task::spawn_blocking(job)
            .await
            .map_err(|_| SaveError::Unreachable)?
            .map_err(SaveError::Refused)
    }
    if let Some(password) = entered.database_password {
        off_runtime(move || store_database_password(&password)).await?;
    }
    let (id, key) = (entered.configuration_id, entered.api_key);
    if id.is_some() || key.as_deref().is_some_and(|k| !k.is_empty()) {
        off_runtime(move || store(id.as_deref(), key.as_deref())).await?;
    }
    let (ngrok, bore) = (entered.ngrok_authtoken, entered.bore_secret);
    if ngrok.as_deref().is_some_and(|t| !t.is_empty())
        || bore.as_deref().is_some_and(|t| !t.is_empty())
    {
        off_runtime(move || store_tunnel_secrets(ngrok.as_deref(), bore.as_deref())).await?;
    }
    Ok(())
}
