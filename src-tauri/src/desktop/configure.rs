//! The Settings page's work: what it shows, keeping what the owner saved (the settings
//! file and, for secrets, the keyring), and testing a shared database before it is saved.

use std::path::Path;

use super::secrets;
use crate::app::AppError;
use crate::ipc::{DatabaseTest, IpcError, SettingsInput, SettingsView};
use crate::settings::Settings;

fn invalid(message: String) -> IpcError {
    IpcError {
        code: "invalid".into(),
        message,
    }
}

fn settings_view(data_dir: &Path) -> SettingsView {
    let (configuration_id, has_api_key, keyring) = secrets::describe();
    let (ngrok, bore) = secrets::tunnel_secrets();
    SettingsView {
        settings: Settings::load(data_dir),
        configuration_id,
        has_api_key,
        keyring_available: keyring.is_ok(),
        keyring_message: keyring.err(),
        credentials_from_env: matches!(crate::config::credentials_from_env(), Ok(Some(_))),
        has_ngrok_authtoken: ngrok.is_some(),
        has_bore_secret: bore.is_some(),
        has_database_password: secrets::database_password().is_some(),
        database_url_from_env: std::env::var(crate::config::ENV_DATABASE_URL)
            .is_ok_and(|u| !u.trim().is_empty()),
        database_password_from_env: secrets::database_password_from_env(),
    }
}

/// What the Settings page shows (read off the async workers: the keyring blocks).
pub async fn view(data_dir: &Path) -> Result<SettingsView, IpcError> {
    let dir = data_dir.to_owned();
    Ok(tokio::task::spawn_blocking(move || settings_view(&dir))
        .await
        .map_err(|_| AppError::Invalid("settings could not be read".into()))?)
}

/// Checks and keeps what the owner saved: secrets to the keyring, the rest to the
/// settings file. Returns the settings kept.
pub async fn save(data_dir: &Path, input: SettingsInput) -> Result<Settings, IpcError> {
    let mut settings = input.settings.clone();
    // A password pasted into the URL goes to the keyring with the typed one, never to disk.
    let database_password = settings
        .take_database_password(input.database_password.clone())
        .map_err(|e| invalid(e.to_string()))?;
    settings.validate().map_err(|e| invalid(e.to_string()))?;
    secrets::save_off_runtime(secrets::Entered {
        configuration_id: input.configuration_id.clone(),
        api_key: input.api_key.clone(),
        ngrok_authtoken: input.ngrok_authtoken.clone(),
        bore_secret: input.bore_secret.clone(),
        database_password,
    })
    .await
    .map_err(|e| match e {
        secrets::SaveError::Unreachable => invalid("the keyring could not be reached".into()),
        secrets::SaveError::Refused(message) => IpcError {
            code: "keyring_unavailable".into(),
            message,
        },
    })?;
    settings
        .save(data_dir)
        .map_err(|e| invalid(e.to_string()))?;
    Ok(settings)
}

/// "Test connection" of a shared database, as typed in Settings (saved or not): each
/// stage in turn. The password is, first found: `password` (typed, not yet saved), the
/// URL's, the environment's, the keyring's.
pub async fn test_database(
    url: String,
    password: Option<String>,
) -> Result<DatabaseTest, IpcError> {
    use tillwatch_store_postgres::{check_connection, take_password, DatabaseConfig, Password};
    if url.trim().is_empty() {
        return Err(invalid(
            "Enter the shared database's URL (postgres://user@host/database).".into(),
        ));
    }
    let (url, in_url) = take_password(&url).map_err(|e| invalid(e.to_string()))?;
    let mut config = DatabaseConfig::from_url_and_env(&url).map_err(|e| invalid(e.to_string()))?;
    let chosen = match password.filter(|p| !p.is_empty()) {
        Some(typed) => Some(typed),
        None => match in_url {
            Some(p) => Some(p.expose().to_owned()),
            None if config.has_password() => None,
            None => secrets::database_password_off_runtime().await,
        },
    };
    if let Some(p) = chosen {
        config = config.with_password(Password::new(p));
    }
    Ok(check_connection(&config).await.into())
}
