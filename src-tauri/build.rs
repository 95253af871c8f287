fn main() {
    // Only the window needs Tauri's build step (it embeds tauri.conf.json and ui/dist).
    #[cfg(feature = "desktop")]
    {
        // The window embeds the built UI at compile time. Without it Tauri's context macro
        // panics with a page of macro backtrace; say in one line what to run instead.
        let dist = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ui/dist/index.html");
        println!("cargo:rerun-if-changed=ui/dist/index.html");
        if !dist.is_file() {
            println!(
                "cargo::error=the window's UI is not built (no ui/dist): run `scripts/setup.sh && npm --prefix ui run build`, then build again (or build without the window: --no-default-features)"
            );
            return;
        }
        tauri_build::build();
    }
}
