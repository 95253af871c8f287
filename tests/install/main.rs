//! The installed package, opened as a shop owner would: `/usr/bin/tillwatch` from the .deb,
//! no arguments, a fresh HOME, the built-in demo. `tests/install/run.sh` builds and
//! installs the package, runs this, then removes the package and checks what is left.
//! Plain `cargo test` skips it: it needs the package installed.

#[path = "../desktop/driver.rs"]
#[allow(dead_code)]
mod driver;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use driver::{free_port, Desktop, Program, Window};

/// The demo starts a payment every few seconds and some of them fail or wait: allow for
/// several before one is paid.
const DEMO_WAIT: Duration = Duration::from_secs(120);

fn required_env(name: &str) -> PathBuf {
    std::env::var_os(name)
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("{name} is not set: run tests/install/run.sh"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the .deb installed: tests/install/run.sh installs it and runs this"]
async fn installed_app_opens_the_demo_and_confirms_a_payment() {
    let app = required_env("TILLWATCH_INSTALLED_APP");
    let home = required_env("TILLWATCH_INSTALL_HOME");
    let desktop = Desktop::start();
    let w = Window::open_program(Program {
        desktop: &desktop,
        path: &app,
        args: Vec::new(),
        env: vec![
            ("HOME".to_owned(), home.to_str().unwrap().to_owned()),
            // Another listener on this machine may hold the default port.
            (
                "TILLWATCH_LISTEN".to_owned(),
                format!("127.0.0.1:{}", free_port()),
            ),
        ],
    })
    .await;
    w.wait_for("[data-testid=\"demo-banner\"]").await;

    // A demo payment confirmed: its row shows Paid, and the desktop alert for it was sent.
    let deadline = Instant::now() + DEMO_WAIT;
    let order = loop {
        let paid = w
            .script(
                "const c = document.querySelector('[data-testid=\"live-row\"] .chip[data-status=\"Paid\"]'); return c ? c.closest('[data-testid=\"live-row\"]').querySelector('strong').textContent : ''",
                serde_json::json!([]),
            )
            .await;
        let order = paid.as_str().unwrap_or_default().trim().to_owned();
        if order.starts_with("TW-") {
            break order;
        }
        if Instant::now() > deadline {
            let shot = w.screenshot("install-no-paid-row").await;
            panic!(
                "no demo payment was confirmed as paid in time ({})",
                shot.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let alert = format!("Order {order} is paid.");
    let deadline = Instant::now() + driver::WAIT;
    while desktop.notifications_mentioning(&alert) == 0 {
        assert!(Instant::now() < deadline, "no desktop alert said {alert:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The owner's data is where the README says, under the fresh HOME.
    let db = home.join(".local/share/tillwatch/demo.db");
    assert!(db.is_file(), "{} was not created", db.display());
    w.close().await;
}
