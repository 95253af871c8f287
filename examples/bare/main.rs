//! The floor for the window's footprint: a bare Tauri 2 window with the same Tauri, the
//! same build profile and features, no plugins, commands or tray, showing one word.
//! `benches/desktop.rs` runs it beside Tillwatch and prints each figure beside this one's.
//!
//! `cargo build --release --example bare --features tauri/custom-protocol`

fn main() {
    tauri::Builder::default()
        .run(tauri::generate_context!("examples/bare/tauri.conf.json"))
        .expect("the bare window runs");
}
