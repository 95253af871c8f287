//! Tauri commands: each is an adapter over the managed `DesktopState`, the core API or
//! the Settings page's work (`configure`): it translates its arguments, calls one thing
//! and maps the error.

use std::sync::atomic::Ordering;

use tauri::{AppHandle, Runtime, State};

use super::state::DesktopState;
use crate::domain::{JobRef, OrderDetail};
use crate::ipc::{ConnectionTest, DatabaseTest, Health, IpcError, SettingsInput, SettingsView};
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
    Ok(state.ship(&job_ref, note, override_reason).await?)
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

#[tauri::command]
pub async fn get_settings(state: State<'_, DesktopState>) -> Answer<SettingsView> {
    super::configure::view(&state.data_dir).await
}

/// Keeps the settings, then starts the services again on them (new environment, port or
/// credentials).
#[tauri::command]
pub async fn save_settings<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, DesktopState>,
    input: SettingsInput,
) -> Answer<SettingsView> {
    let settings = super::configure::save(&state.data_dir, input).await?;
    super::apply_settings(&app, &settings).await;
    get_settings(state).await
}

#[tauri::command]
pub async fn test_connection(state: State<'_, DesktopState>) -> Answer<ConnectionTest> {
    Ok(state.test_connection().await?)
}

/// "Test connection" of a shared database, as typed in Settings (saved or not).
#[tauri::command]
pub async fn test_database(url: String, password: Option<String>) -> Answer<DatabaseTest> {
    super::configure::test_database(url, password).await
}

/// Opens a `mailto:` address in the owner's mail program (nothing else).
#[tauri::command]
pub async fn open_mail(url: String) -> Answer<()> {
    super::child::open_mail(&url)
}

#[tauri::command]
pub async fn open_log(state: State<'_, DesktopState>) -> Answer<()> {
    super::child::open_log(&state.data_dir.join("tillwatch.log"))
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
    Ok(state.create_payment_link(input).await?)
}

#[tauri::command]
pub async fn cancel_payment_link(
    state: State<'_, DesktopState>,
    job_ref: String,
) -> Answer<OrderDetail> {
    let job = self::job_ref(&job_ref)?;
    Ok(state.cancel_payment_link(&job).await?)
}

/// The last change of the public URL this run (for a window opened after it).
#[tauri::command]
pub async fn get_url_change(
    state: State<'_, DesktopState>,
) -> Answer<Option<crate::tunnel::UrlChange>> {
    Ok(state.url_change().await)
}
