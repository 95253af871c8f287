//! The window the shop owner lives in: Tauri commands and events, tray, desktop alerts,
//! settings and the keyring. Everything here is a thin adapter over the core
//! (`app::Tillwatch`); the one place that maps core events to window events is `events`.

mod alerts;
mod child;
mod coalesce;
mod commands;
mod configure;
mod deliveries;
mod events;
mod secrets;
mod services;
mod state;
mod tray;

use std::path::PathBuf;

use tauri::webview::PageLoadEvent;
use tauri::{Manager, WindowEvent};

pub use state::DesktopState;

/// Credentials the owner saved in the window (the OS keyring), for the CLI.
pub fn stored_credentials() -> Option<crate::config::Credentials> {
    match secrets::load() {
        (Some(c), secrets::Source::Keyring, _) => Some(c),
        _ => None,
    }
}

/// How long after the page has loaded the tray icon is made (see `on_page_load`).
const TRAY_AFTER_LOAD: std::time::Duration = std::time::Duration::from_millis(1500);

/// Opens the window (and starts the listener, pipeline and reconciler). Blocks until the
/// owner quits. Must be called on the main thread.
pub fn run(data_dir: PathBuf) -> anyhow::Result<()> {
    let state = DesktopState::new(data_dir);
    tauri::Builder::default()
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
            // A second launch shows the running one instead of starting another listener.
            show_main(app);
        }))
        .plugin(tauri_plugin_window_state::Builder::default().build())
        .plugin(tauri_plugin_autostart::init(
            tauri_plugin_autostart::MacosLauncher::LaunchAgent,
            None,
        ))
        .manage(state)
        .invoke_handler(tauri::generate_handler![
            commands::list_orders,
            commands::get_order,
            commands::search_orders,
            commands::ship_order,
            commands::unship_order,
            commands::get_today,
            commands::get_health,
            commands::mark_seen,
            commands::get_settings,
            commands::save_settings,
            commands::test_connection,
            commands::test_database,
            commands::open_log,
            commands::open_mail,
            commands::suggest_order_number,
            commands::create_payment_link,
            commands::cancel_payment_link,
            commands::get_url_change,
            deliveries::list_stuck_deliveries,
            deliveries::retry_deliveries,
        ])
        .on_page_load(|webview, payload| {
            // The tray loads the indicator library and registers over D-Bus on the main
            // thread, which also presents the window's frames: made in `setup` it held up
            // the event loop's first turn, so it comes once the page is up. (Measured: it
            // is not what delays the first paint; see benches/desktop.rs's split.)
            if payload.event() == PageLoadEvent::Finished {
                let handle = webview.app_handle().clone();
                tauri::async_runtime::spawn(async move {
                    tokio::time::sleep(TRAY_AFTER_LOAD).await;
                    let on_main = handle.clone();
                    let _ = on_main.run_on_main_thread(move || {
                        if handle.tray_by_id(tray::TRAY_ID).is_none() {
                            if let Err(e) = tray::create(&handle) {
                                tracing::warn!(error = %e, "no tray icon");
                            }
                        }
                    });
                });
            }
        })
        .setup(|app| {
            let handle = app.handle().clone();
            tauri::async_runtime::spawn(async move {
                events::start_services(&handle).await;
            });
            Ok(())
        })
        .on_window_event(|window, event| {
            // Closing hides to the tray: a closed app would miss payments.
            if let WindowEvent::CloseRequested { api, .. } = event {
                if window.app_handle().tray_by_id(tray::TRAY_ID).is_some()
                    && std::env::var_os("TILLWATCH_QUIT_ON_CLOSE").is_none()
                {
                    let _ = window.hide();
                    api.prevent_close();
                }
            }
        })
        .run(tauri::generate_context!())
        .map_err(|e| anyhow::anyhow!("the window could not start: {e}"))
}

/// Puts saved settings into effect: start at login or not, and the services started
/// again on them.
async fn apply_settings<R: tauri::Runtime>(
    app: &tauri::AppHandle<R>,
    settings: &crate::settings::Settings,
) {
    use tauri_plugin_autostart::ManagerExt;
    let autostart = app.autolaunch();
    let login = if settings.start_at_login {
        autostart.enable()
    } else {
        autostart.disable()
    };
    if let Err(e) = login {
        tracing::warn!(error = %e, "start at login could not be changed");
    }
    events::start_services(app).await;
}

pub(crate) fn show_main<R: tauri::Runtime>(app: &tauri::AppHandle<R>) {
    if let Some(w) = app.get_webview_window("main") {
        let _ = w.show();
        let _ = w.unminimize();
        let _ = w.set_focus();
    }
}
