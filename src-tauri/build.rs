fn main() {
    // Only the window needs Tauri's build step (it embeds tauri.conf.json and ui/dist).
    #[cfg(feature = "desktop")]
    tauri_build::build();
}
