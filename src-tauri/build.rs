fn main() {
    // Only the window needs Tauri's build step (it embeds tauri.conf.json and ui/dist).
    #[cfg(feature = "desktop")]
    {
        // The window embeds the built UI at compile time. Without it Tauri's context macro
        // panics with a page of macro backtrace; say in one line what to run instead.
        // Read at run time: cargo reuses one build script for every checkout of the crate.
        let root = std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
        let dist = std::path::Path::new(&root).join("ui/dist/index.html");
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
