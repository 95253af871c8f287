//! Tauri commands: each translates its arguments, calls the core and maps the error.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tauri::{AppHandle, Runtime, State};
use tauri_plugin_autostart::ManagerExt;

use super::secrets;
use super::services::DesktopState;
use crate::app::AppError;
use crate::domain::{JobRef, OrderDetail};
use crate::gateway::{ApiKey, GatewayClient, GatewayConfig, GatewayError};
use crate::ipc::{ConnectionTest, DatabaseTest, Health, IpcError, SettingsInput, SettingsView};
use crate::settings::Settings;
use crate::views::{OrdersPage, OrdersQuery, SearchHit, Today};

type Answer<T> = Result<T, IpcError>;

fn job_ref(s: &str) -> Result<JobRef, IpcError> {
    JobRef::parse(s).map_err(|e| IpcError {
        code: "invalid".into(),
        message: format!("'{s}' is not a payment job reference: {e}"),
    })
}

#[tauri::command]
pub async fn list_orders(state: State<'_, DesktopState>, query: OrdersQuery) -> Answer<OrdersPage> {
    Ok(state.app().await?.orders_page(query).await?)
}

#[tauri::command]
pub async fn get_order(state: State<'_, DesktopState>, job_ref: String) -> Answer<OrderDetail> {
    let job = self::job_ref(&job_ref)?;
    Ok(state.app().await?.order(&job).await?)
}

#[tauri::command]
pub async fn search_orders(
    state: State<'_, DesktopState>,
    query: String,
) -> Answer<Vec<SearchHit>> {
    Ok(state.app().await?.search(&query, 20).await?)
}

/// `override_reason`: the owner's reason for shipping despite a mismatch ("Ship anyway…").
#[tauri::command]
pub async fn ship_order(
    state: State<'_, DesktopState>,
    job_ref: String,
    note: Option<String>,
    override_reason: Option<String>,
) -> Answer<OrderDetail> {
    self::job_ref(&job_ref)?;
    let app = state.app().await?;
    Ok(match override_reason {
        Some(reason) => app.ship_despite_mismatch(&job_ref, note, reason).await?,
        None => app.ship(&job_ref, note).await?,
    })
}

#[tauri::command]
pub async fn unship_order(state: State<'_, DesktopState>, job_ref: String) -> Answer<OrderDetail> {
    self::job_ref(&job_ref)?;
    Ok(state.app().await?.unship(&job_ref).await?)
}

#[tauri::command]
pub async fn get_today(
    state: State<'_, DesktopState>,
    since: String,
    utc_offset_minutes: i32,
) -> Answer<Today> {
    Ok(state.app().await?.today(&since, utc_offset_minutes).await?)
}

#[tauri::command]
pub async fn get_health(state: State<'_, DesktopState>) -> Answer<Health> {
    Ok(state.health().await)
}

#[tauri::command]
pub async fn mark_seen<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, DesktopState>,
) -> Answer<Health> {
    state.unseen.store(0, Ordering::Relaxed);
    super::tray::set_unseen(&app, 0);
    Ok(state.health().await)
}

fn settings_view(data_dir: &std::path::Path) -> SettingsView {
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

#[tauri::command]
pub async fn get_settings(state: State<'_, DesktopState>) -> Answer<SettingsView> {
    let dir = state.data_dir.clone();
    Ok(tokio::task::spawn_blocking(move || settings_view(&dir))
        .await
        .map_err(|_| AppError::Invalid("settings could not be read".into()))?)
}

#[tauri::command]
pub async fn save_settings<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, DesktopState>,
    input: SettingsInput,
) -> Answer<SettingsView> {
    let invalid = |message: String| IpcError {
        code: "invalid".into(),
        message,
    };
    let mut settings = input.settings.clone();
    // A password pasted into the URL goes to the keyring with the typed one, never to disk.
    let database_password = settings
        .take_database_password(input.database_password.clone())
        .map_err(|e| invalid(e.to_string()))?;
    settings.validate().map_err(|e| invalid(e.to_string()))?;
    if let Some(password) = database_password {
        tokio::task::spawn_blocking(move || secrets::store_database_password(&password))
            .await
            .map_err(|_| invalid("the keyring could not be reached".into()))?
            .map_err(|message| IpcError {
                code: "keyring_unavailable".into(),
                message,
            })?;
    }
    let (id, key) = (input.configuration_id.clone(), input.api_key.clone());
    if id.is_some() || key.as_deref().is_some_and(|k| !k.is_empty()) {
        tokio::task::spawn_blocking(move || secrets::store(id.as_deref(), key.as_deref()))
            .await
            .map_err(|_| invalid("the keyring could not be reached".into()))?
            .map_err(|message| IpcError {
                code: "keyring_unavailable".into(),
                message,
            })?;
    }
    let (ngrok, bore) = (input.ngrok_authtoken.clone(), input.bore_secret.clone());
    if ngrok.as_deref().is_some_and(|t| !t.is_empty())
        || bore.as_deref().is_some_and(|t| !t.is_empty())
    {
        tokio::task::spawn_blocking(move || {
            secrets::store_tunnel_secrets(ngrok.as_deref(), bore.as_deref())
        })
        .await
        .map_err(|_| invalid("the keyring could not be reached".into()))?
        .map_err(|message| IpcError {
            code: "keyring_unavailable".into(),
            message,
        })?;
    }
    settings
        .save(&state.data_dir)
        .map_err(|e| invalid(e.to_string()))?;
    let autostart = app.autolaunch();
    let login = if settings.start_at_login {
        autostart.enable()
    } else {
        autostart.disable()
    };
    if let Err(e) = login {
        tracing::warn!(error = %e, "start at login could not be changed");
    }
    // New environment, port or credentials: start again on them.
    super::events::start_services(&app).await;
    get_settings(state).await
}

#[tauri::command]
pub async fn test_connection(state: State<'_, DesktopState>) -> Answer<ConnectionTest> {
    let (base, config) = {
        let guard = state.running().await;
        let Some(r) = guard.as_ref() else {
            return Ok(ConnectionTest {
                ok: false,
                message: super::services::not_running().to_string(),
            });
        };
        (r.gateway.base_url().to_owned(), r.gateway.clone())
    };
    let (creds, _, problem) = secrets::load_off_runtime().await;
    let (configuration_id, api_key) = match creds {
        Some(c) => (c.configuration_id, c.api_key),
        None if state.health().await.demo => {
            let demo = crate::sim::SimConfig::default();
            (demo.configuration_id, ApiKey::new(demo.api_keys[0].clone()))
        }
        None => {
            return Ok(ConnectionTest {
                ok: false,
                message: problem
                    .unwrap_or_else(|| "No configuration ID and API key are set.".into()),
            })
        }
    };
    // A separate client: a refused test must not stop the running pipeline's calls.
    let mut cfg = GatewayConfig::new(
        crate::gateway::GatewayEnvironment::Custom(base),
        configuration_id,
        api_key,
    );
    cfg.timeout = Duration::from_secs(10);
    cfg.retry.max_attempts = 1;
    let probe = GatewayClient::new(cfg)?;
    let unknown =
        JobRef::parse("000000000000000000").map_err(|e| AppError::Invalid(e.to_string()))?;
    let result = match probe.retrieve_job(&unknown).await {
        Ok(_) | Err(GatewayError::NotFound) => {
            config.breaker().reset();
            ConnectionTest {
                ok: true,
                message: "Connected: the gateway accepted our signed request.".into(),
            }
        }
        Err(GatewayError::Unauthorized { .. } | GatewayError::Forbidden { .. }) => ConnectionTest {
            ok: false,
            message: "The gateway refused the configuration ID or API key. Check both in the Cashflows portal.".into(),
        },
        Err(e) => ConnectionTest {
            ok: false,
            message: format!("Could not talk to the gateway: {e}"),
        },
    };
    Ok(result)
}

/// "Test connection" of a shared database, as typed in Settings (saved or not): each
/// stage in turn. The password is, first found: `password` (typed, not yet saved), the
/// URL's, the environment's, the keyring's.
#[tauri::command]
pub async fn test_database(url: String, password: Option<String>) -> Answer<DatabaseTest> {
    use tillwatch_store_postgres::{check_connection, take_password, DatabaseConfig, Password};
    let invalid = |message: String| IpcError {
        code: "invalid".into(),
        message,
    };
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

/// Opens a `mailto:` address in the owner's mail program. Nothing but mailto: is
/// accepted, so the window cannot be made to launch arbitrary programs or pages.
#[tauri::command]
pub async fn open_mail(url: String) -> Answer<()> {
    let invalid = |message: &str| IpcError {
        code: "invalid".into(),
        message: message.into(),
    };
    if !url.starts_with("mailto:") || url.len() > 8192 || url.chars().any(char::is_control) {
        return Err(invalid("only an e-mail (mailto:) address can be opened"));
    }
    super::child::desktop_open(&url)
        .spawn()
        .map(|_| ())
        .map_err(|e| IpcError {
            code: "open_failed".into(),
            message: format!("No mail program could be opened ({e}); copy the link instead."),
        })
}

#[tauri::command]
pub async fn open_log(state: State<'_, DesktopState>) -> Answer<()> {
    let log = state.data_dir.join("tillwatch.log");
    super::child::desktop_open(&log)
        .spawn()
        .map(|_| ())
        .map_err(|e| IpcError {
            code: "open_failed".into(),
            message: format!(
                "The log is at {} (it could not be opened: {e}).",
                log.display()
            ),
        })
}

#[tauri::command]
pub async fn suggest_order_number(state: State<'_, DesktopState>) -> Answer<String> {
    Ok(state.app().await?.suggest_order_number().await?)
}

/// Creates the job at the gateway, telling it to notify the webhook URL in use now.
#[tauri::command]
pub async fn create_payment_link(
    state: State<'_, DesktopState>,
    input: crate::links::NewPaymentLink,
) -> Answer<OrderDetail> {
    let (app, gateway, webhook_url, returns, max_amount) = {
        let guard = state.running().await;
        let r = guard.as_ref().ok_or_else(super::services::not_running)?;
        let url = r.public_webhook_url().ok_or_else(|| {
            AppError::Invalid("the listener is not running, so the gateway could not notify us: fix it in Settings first".into())
        })?;
        let max_amount = r
            .settings
            .max_link_amount()
            .map_err(|e| AppError::Invalid(e.to_string()))?;
        (
            r.app.clone(),
            r.gateway.clone(),
            url,
            r.settings.return_urls.clone(),
            max_amount,
        )
    };
    Ok(app
        .create_payment_link(&gateway, input, &webhook_url, &returns, max_amount)
        .await?)
}

#[tauri::command]
pub async fn cancel_payment_link(
    state: State<'_, DesktopState>,
    job_ref: String,
) -> Answer<OrderDetail> {
    let job = self::job_ref(&job_ref)?;
    let (app, gateway) = {
        let guard = state.running().await;
        let r = guard.as_ref().ok_or_else(super::services::not_running)?;
        (r.app.clone(), r.gateway.clone())
    };
    Ok(app.cancel_payment_link(&gateway, &job).await?)
}

/// The last change of the public URL this run (for a window opened after it).
#[tauri::command]
pub async fn get_url_change(
    state: State<'_, DesktopState>,
) -> Answer<Option<crate::tunnel::UrlChange>> {
    Ok(state
        .running()
        .await
        .as_ref()
        .and_then(|r| r.tunnel.last_url_change()))
}
