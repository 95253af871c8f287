//! The tray icon: the count of payments the owner has not looked at yet.

use tauri::menu::{Menu, MenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Runtime};

pub const TRAY_ID: &str = "tillwatch";

pub fn create<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    let show = MenuItem::with_id(app, "show", "Show Tillwatch", true, None::<&str>)?;
    let quit = MenuItem::with_id(
        app,
        "quit",
        "Quit (stops receiving payments)",
        true,
        None::<&str>,
    )?;
    let menu = Menu::with_items(app, &[&show, &quit])?;
    let mut builder = TrayIconBuilder::with_id(TRAY_ID)
        .tooltip("Tillwatch")
        .menu(&menu)
        .on_menu_event(|app, event| match event.id.as_ref() {
            "show" => super::show_main(app),
            "quit" => app.exit(0),
            _ => {}
        });
    if let Some(icon) = app.default_window_icon() {
        builder = builder.icon(icon.clone());
    }
    builder.build(app)?;
    Ok(())
}

pub fn set_unseen<R: Runtime>(app: &AppHandle<R>, unseen: u32) {
    if let Some(tray) = app.tray_by_id(TRAY_ID) {
        let text = match unseen {
            0 => "Tillwatch".to_owned(),
            1 => "Tillwatch — 1 new payment".to_owned(),
            n => format!("Tillwatch — {n} new payments"),
        };
        let _ = tray.set_tooltip(Some(&text));
        let _ = tray.set_title(Some(if unseen == 0 {
            String::new()
        } else {
            unseen.to_string()
        }));
    }
}
