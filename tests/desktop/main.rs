//! End-to-end tests of the real window: the app binary under Xvfb, driven through
//! tauri-driver and WebKitWebDriver, with desktop alerts observed on a private session
//! bus. The gateway simulator runs in the test process.

mod driver;
#[path = "../common/postgres.rs"]
mod postgres;
#[path = "../common/seed.rs"]
mod seed;
#[path = "../common/test_dir.rs"]
mod test_dir;

use std::path::Path;
use std::time::{Duration, Instant};

use driver::{free_port, Desktop, Launch, Window, WAIT};
use test_dir::TestDir;
use tillwatch::sim::{self, CreateJob, Script, SimConfig, SimHandle};
use tillwatch::store::{Confirmations, Inbox, Links};

/// The app pointed at a simulator the test controls.
struct SimApp {
    sim: SimHandle,
    port: u16,
    env: Vec<(String, String)>,
}

impl SimApp {
    async fn start() -> SimApp {
        let port = free_port();
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sim = sim::start(
            tcp,
            SimConfig {
                step_gap: Duration::from_millis(300),
                ..SimConfig::default()
            },
        )
        .await
        .unwrap();
        let env = vec![
            ("TILLWATCH_GATEWAY".to_owned(), sim.base_url()),
            (
                "TILLWATCH_CONFIGURATION_ID".to_owned(),
                sim.config().configuration_id.clone(),
            ),
            (
                "TILLWATCH_API_KEY".to_owned(),
                sim.config().api_keys[0].clone(),
            ),
            ("TILLWATCH_LISTEN".to_owned(), format!("127.0.0.1:{port}")),
        ];
        SimApp { sim, port, env }
    }

    fn webhook(&self) -> String {
        format!("http://127.0.0.1:{}/webhooks/cashflows", self.port)
    }

    async fn wait_listening(&self) {
        let deadline = Instant::now() + WAIT;
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "the app's listener never came up"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn job(&self, amount: &str, order: &str) -> sim::JobSnapshot {
        self.sim
            .create_job(CreateJob {
                amount: amount.parse().unwrap(),
                currency: "GBP".into(),
                order_number: order.into(),
                email: format!("{}@example.com", order.to_lowercase()),
                webhook_url: Some(self.webhook()),
            })
            .unwrap()
    }

    async fn open(&self, desktop: &Desktop, dir: &Path) -> Window {
        let w = Window::open(Launch {
            desktop,
            data_dir: dir,
            env: self.env.clone(),
        })
        .await;
        self.wait_listening().await;
        w
    }
}

fn live_row(job: &str) -> String {
    format!("[data-testid=\"live-row\"][data-job-ref=\"{job}\"]")
}

fn detail_of(job: &str) -> String {
    format!("[data-testid=\"order-detail\"][data-job-ref=\"{job}\"]")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_payment_appears_in_the_live_view() {
    let desktop = Desktop::start();
    let dir = TestDir::new("demo");
    let w = Window::open(Launch {
        desktop: &desktop,
        data_dir: dir.path(),
        env: vec![
            ("TILLWATCH_DEMO_EVERY_MS".into(), "700".into()),
            (
                "TILLWATCH_LISTEN".into(),
                format!("127.0.0.1:{}", free_port()),
            ),
        ],
    })
    .await;
    w.wait_for("[data-testid=\"demo-banner\"]").await;
    let row = w.wait_for("[data-testid=\"live-row\"]").await;
    assert!(w.attr(&row, "data-job-ref").await.unwrap().len() >= 18);
    // The address may be shortened on screen (ellipsis): read the element's own text.
    w.wait_script(
        "const e = document.querySelector('[data-testid=\"webhook-url\"]'); return e ? e.textContent : ''",
        "the health bar showing the webhook URL",
        |url: &String| url.contains("/webhooks/cashflows"),
    )
    .await;
    w.wait_for("[data-testid=\"live-row\"] .chip[data-status=\"Paid\"]")
        .await;
    let shot = w.screenshot("live-view").await;
    eprintln!("screenshot: {}", shot.display());
    w.click(&w.wait_for("[data-testid=\"tab-orders\"]").await)
        .await;
    w.wait_for("[data-testid=\"order-row\"]").await;
    w.screenshot("orders").await;
    w.click(&w.wait_for("[data-testid=\"tab-settings\"]").await)
        .await;
    w.wait_for("[data-testid=\"settings-form\"]").await;
    w.screenshot("settings").await;
    w.close().await;
}

/// Changes reach the window in batches (one event per burst); every order of a burst is
/// shown once, at its newest status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_payments_reaches_the_live_view_whole_at_its_newest_status() {
    let desktop = Desktop::start();
    let dir = TestDir::new("burst");
    let app = SimApp::start().await;
    let w = app.open(&desktop, dir.path()).await;
    w.wait_for("[data-testid=\"live-list\"]").await;

    // 15 orders, two notifications each, all from one address: well-formed notifications
    // are never refused for volume (only junk spends a source's allowance).
    let jobs: Vec<String> = (0..15)
        .map(|i| app.job("5.00", &format!("E2E-BURST-{i}")).reference)
        .collect();
    // Each fails once, then pays: two changes per order, all orders at once.
    let mut shoppers = tokio::task::JoinSet::new();
    for job in &jobs {
        let sim = app.sim.clone();
        let job = job.clone();
        shoppers.spawn(async move { sim.play_and_wait(&job, Script::fails_then_pays(1)).await });
    }
    while let Some(done) = shoppers.join_next().await {
        done.unwrap().unwrap();
    }

    let paid = |rows: &Vec<(String, String)>| {
        jobs.iter()
            .filter(|j| rows.iter().any(|(r, s)| r == *j && s == "Paid"))
            .count()
    };
    let rows = w
        .wait_script(
            "return [...document.querySelectorAll('[data-testid=\"live-row\"]')].map(r => [r.dataset.jobRef, r.querySelector('.chip')?.dataset.status ?? ''])",
            "every order of the burst shown as Paid",
            |rows: &Vec<(String, String)>| paid(rows) == jobs.len(),
        )
        .await;
    assert_eq!(rows.len(), jobs.len(), "each order shown once: {rows:?}");
    w.close().await;
    app.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detail_shows_attempts_and_deliveries_and_shipping_follows_the_status() {
    let desktop = Desktop::start();
    let dir = TestDir::new("detail");
    let app = SimApp::start().await;
    let w = app.open(&desktop, dir.path()).await;

    let paid = app.job("24.00", "E2E-SHIP-1");
    app.sim
        .play_and_wait(&paid.reference, Script::fails_then_pays(1))
        .await
        .unwrap();
    let pending = app.job("8.50", "E2E-SHIP-2");
    app.sim
        .play_and_wait(&pending.reference, Script::Declined)
        .await
        .unwrap();

    w.click(&w.wait_for(&live_row(&paid.reference)).await).await;
    w.wait_for(&detail_of(&paid.reference)).await;
    w.wait_text("[data-testid=\"detail-status\"]", "Paid", |t| {
        t.contains("Paid")
    })
    .await;
    let deadline = Instant::now() + WAIT;
    while w.find_all("[data-testid=\"delivery-row\"]").await.len() < 2 {
        assert!(Instant::now() < deadline, "two deliveries never showed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(w.find_all("[data-testid=\"attempt-row\"]").await.len(), 2);
    let attempts = w.script(
        "return [...document.querySelectorAll('[data-testid=\"attempt-row\"]')].map(e => e.innerText)",
        serde_json::json!([]),
    )
    .await;
    assert!(
        attempts[0].as_str().unwrap().contains("CardDeclined")
            || attempts[0].as_str().unwrap().contains("declined"),
        "{attempts}"
    );
    assert!(!w
        .find_all("[data-testid=\"timeline-event\"]")
        .await
        .is_empty());
    w.screenshot("order-detail").await;

    let ship = w.wait_for("[data-testid=\"ship-button\"]").await;
    assert!(w.enabled(&ship).await, "a paid order can be shipped");
    w.type_into(
        &w.wait_for("[data-testid=\"ship-note\"]").await,
        "RM123456789GB",
    )
    .await;
    w.click(&ship).await;
    w.wait_for("[data-testid=\"shipped-badge\"]").await;
    w.click(&w.wait_for("[data-testid=\"close-detail\"]").await)
        .await;

    w.click(&w.wait_for(&live_row(&pending.reference)).await)
        .await;
    w.wait_for(&detail_of(&pending.reference)).await;
    let ship = w.wait_for("[data-testid=\"ship-button\"]").await;
    assert!(!w.enabled(&ship).await, "a pending order cannot be shipped");
    w.wait_text(
        "[data-testid=\"ship-disabled-reason\"]",
        "a reason naming Pending",
        |t| t.contains("Pending"),
    )
    .await;
    w.screenshot("ship-disabled").await;
    w.close().await;

    // The shipped state survives a restart.
    let w = app.open(&desktop, dir.path()).await;
    w.click(&w.wait_for(&live_row(&paid.reference)).await).await;
    w.wait_for(&detail_of(&paid.reference)).await;
    w.wait_for("[data-testid=\"shipped-badge\"]").await;
    w.wait_for("[data-testid=\"unship-button\"]").await;
    w.close().await;
    app.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mismatched_order_ships_only_through_ship_anyway_with_a_reason() {
    let desktop = Desktop::start();
    let dir = TestDir::new("mismatch");
    let app = SimApp::start().await;
    // A link that asked 40.00 GBP; the gateway's job holds, and the shopper pays, 0.01.
    let job = app.job("0.01", "E2E-MIS-1");
    {
        use tillwatch::domain::{Currency, JobRef, PaymentRef};
        let store = tillwatch::Backend::open_file(dir.path().join("custom.db")).unwrap();
        store
            .record_created_job(tillwatch::store::CreatedJobRecord {
                job_ref: JobRef::parse(&job.reference).unwrap(),
                first_payment: Some(PaymentRef::parse(&job.payment_reference).unwrap()),
                order_number: "E2E-MIS-1".into(),
                email: "e2e-mis-1@example.com".into(),
                amount: "40.00".parse().unwrap(),
                currency: Currency::parse("GBP").unwrap(),
                payment_link: None,
                note: None,
                raw: serde_json::json!({}),
            })
            .await
            .unwrap();
    }
    let w = app.open(&desktop, dir.path()).await;
    app.sim
        .play_and_wait(&job.reference, Script::PaysAtOnce)
        .await
        .unwrap();
    w.click(&w.wait_for(&live_row(&job.reference)).await).await;
    w.wait_for(&detail_of(&job.reference)).await;
    w.wait_for("[data-testid=\"mismatch\"]").await;
    let reason = w
        .wait_text(
            "[data-testid=\"ship-disabled-reason\"]",
            "the rule's mismatch reason",
            |t| t.contains("0.01 where 40.00"),
        )
        .await;
    assert!(reason.contains("does not match"), "{reason}");
    let ship = w.wait_for("[data-testid=\"ship-button\"]").await;
    assert!(
        !w.enabled(&ship).await,
        "a mismatched order cannot ship plainly"
    );
    w.click(&w.wait_for("[data-testid=\"ship-anyway\"]").await)
        .await;
    let confirm = w.wait_for("[data-testid=\"confirm-override\"]").await;
    assert!(!w.enabled(&confirm).await, "no reason, no override");
    w.type_into(
        &w.wait_for("[data-testid=\"override-reason\"]").await,
        "The rest was paid by bank transfer",
    )
    .await;
    let shot = w.screenshot("mismatch-ship-anyway").await;
    let _ = std::fs::copy(&shot, "/tmp/owner-mismatch-ship-anyway.png");
    w.click(&confirm).await;
    w.wait_for("[data-testid=\"shipped-badge\"]").await;
    w.wait_text(
        "[data-testid=\"order-detail\"]",
        "the override in the history",
        |t| t.contains("Shipped despite the mismatch") && t.contains("bank transfer"),
    )
    .await;
    let shot = w.screenshot("mismatch-shipped").await;
    let _ = std::fs::copy(&shot, "/tmp/owner-mismatch-shipped.png");
    w.close().await;
    app.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portal_refund_shows_in_the_detail_and_shipping_needs_an_override() {
    use tillwatch::sim::{Endpoint, Fault, FaultTarget};
    let desktop = Desktop::start();
    let dir = TestDir::new("refund");
    let app = SimApp::start().await;
    let job = app.job("12.50", "E2E-REF-1");
    let w = app.open(&desktop, dir.path()).await;
    // The confirmation waits on the gateway while the money moves in the portal.
    app.sim.set_fault(FaultTarget::RetrieveJob, Fault::Hang);
    app.sim
        .play_and_wait(&job.reference, Script::PaysAtOnce)
        .await
        .unwrap();
    app.sim
        .wait_until(|h| h.api_request_count(Endpoint::RetrieveJob) >= 1, WAIT)
        .await
        .unwrap();
    app.sim.advance_clock(Duration::from_secs(25 * 3600));
    app.sim
        .portal_refund(
            &job.reference,
            &job.payment_reference,
            "2.50".parse().unwrap(),
            Some("PR-E2E".into()),
        )
        .unwrap();
    app.sim.clear_faults();
    w.click(&w.wait_for(&live_row(&job.reference)).await).await;
    w.wait_for(&detail_of(&job.reference)).await;
    w.wait_text(
        "[data-testid=\"money-state\"]",
        "the partly refunded tag",
        |t| t.contains("Partly refunded"),
    )
    .await;
    let refunded = w
        .text(&w.wait_for("[data-testid=\"money-refunded\"]").await)
        .await;
    assert!(refunded.contains("2.50"), "{refunded}");
    let net = w
        .text(&w.wait_for("[data-testid=\"money-net\"]").await)
        .await;
    assert!(net.contains("10.00"), "{net}");
    w.wait_for("[data-testid=\"money-move\"][data-status=\"Completed\"]")
        .await;
    let reason = w
        .wait_text(
            "[data-testid=\"ship-disabled-reason\"]",
            "the rule's partial refund reason",
            |t| t.contains("partly refunded"),
        )
        .await;
    assert!(reason.contains("override"), "{reason}");
    let ship = w.wait_for("[data-testid=\"ship-button\"]").await;
    assert!(
        !w.enabled(&ship).await,
        "a partly refunded order cannot ship plainly"
    );
    w.wait_for("[data-testid=\"ship-anyway\"]").await;
    let shot = w.screenshot("partly-refunded").await;
    let _ = std::fs::copy(&shot, "/tmp/money-partly-refunded.png");
    w.close().await;
    app.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookup_by_payment_reference_opens_the_order() {
    let desktop = Desktop::start();
    let dir = TestDir::new("lookup");
    let app = SimApp::start().await;
    let w = app.open(&desktop, dir.path()).await;
    let job = app.job("12.00", "E2E-FIND-1");
    app.sim
        .play_and_wait(&job.reference, Script::PaysAtOnce)
        .await
        .unwrap();
    w.wait_for(&live_row(&job.reference)).await;

    let search = w.wait_for("[data-testid=\"search-input\"]").await;
    w.type_into(&search, &job.payment_reference).await;
    let hit = w
        .wait_for(&format!(
            "[data-testid=\"search-result\"][data-job-ref=\"{}\"]",
            job.reference
        ))
        .await;
    w.screenshot("search").await;
    w.click(&hit).await;
    w.wait_for(&detail_of(&job.reference)).await;
    w.close().await;
    app.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_change_raises_exactly_one_desktop_alert() {
    let desktop = Desktop::start();
    let dir = TestDir::new("alerts");
    let app = SimApp::start().await;
    let w = app.open(&desktop, dir.path()).await;
    let job = app.job("31.00", "E2E-ALERT-1");
    app.sim
        .play_and_wait(&job.reference, Script::PaysAtOnce)
        .await
        .unwrap();
    w.wait_for(&format!(
        "{} .chip[data-status=\"Paid\"]",
        live_row(&job.reference)
    ))
    .await;

    let deadline = Instant::now() + WAIT;
    while desktop.notifications_mentioning("E2E-ALERT-1") == 0 {
        assert!(Instant::now() < deadline, "no desktop alert was raised");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The gateway sends the same notification again: no second alert.
    let resp = reqwest::Client::new()
        .post(app.webhook())
        .json(&serde_json::json!({
            "notifyType": "PaymentStatusChange",
            "paymentJobReference": job.reference,
            "paymentReference": job.payment_reference,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let db = dir.path().join("custom.db");
    let deadline = Instant::now() + WAIT;
    loop {
        let conn =
            rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .unwrap();
        let settled: i64 = conn
            .query_row(
                "SELECT count(*) FROM deliveries WHERE job_ref = ?1 AND state = 'confirmed'",
                [&job.reference],
                |r| r.get(0),
            )
            .unwrap();
        if settled == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the duplicate was never confirmed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Give a wrongly raised second alert the time to show up on the bus.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(desktop.notifications_mentioning("E2E-ALERT-1"), 1);
    w.close().await;
    app.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_link_made_in_the_window_is_paid() {
    let desktop = Desktop::start();
    let dir = TestDir::new("link");
    let app = SimApp::start().await;
    let w = app.open(&desktop, dir.path()).await;

    w.click(&w.wait_for("[data-testid=\"new-link\"]").await)
        .await;
    w.wait_for("[data-testid=\"link-form\"]").await;
    let order = w.wait_for("[data-testid=\"link-order\"]").await;
    // The suggested order number is there to accept.
    w.wait_script(
        "return document.querySelector('[data-testid=\"link-order\"]').value",
        "an order number suggested",
        |v: &String| !v.is_empty(),
    )
    .await;
    let _ = order;
    w.type_into(&w.wait_for("[data-testid=\"link-amount\"]").await, "19.95")
        .await;
    w.type_into(
        &w.wait_for("[data-testid=\"link-email\"]").await,
        "phone.customer@example.com",
    )
    .await;
    w.screenshot("link-form").await;
    w.click(&w.wait_for("[data-testid=\"link-submit\"]").await)
        .await;
    let url = w
        .wait_text("[data-testid=\"link-url\"]", "the payment page link", |t| {
            t.contains("/hpp/")
        })
        .await;
    w.screenshot("link-created").await;
    let job = url.trim().rsplit('/').next().unwrap().to_owned();
    assert!(job.len() >= 18, "{url}");
    // The gateway was asked to notify this app.
    let sent = app.sim.job(&job).unwrap()["attributes"]["WebhookUrl"].clone();
    assert_eq!(sent.as_str(), Some(app.webhook().as_str()));

    app.sim
        .play_and_wait(&job, Script::PaysAtOnce)
        .await
        .unwrap();
    w.wait_for(&format!("{} .chip[data-status=\"Paid\"]", live_row(&job)))
        .await;
    w.close().await;
    app.sim.shutdown().await;
}

/// A notification Tillwatch gave up confirming waits for the owner in the window, with
/// the gateway's answer, and "Retry now" gets it confirmed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_deliveries_are_shown_with_the_gateways_answer_and_retried() {
    let desktop = Desktop::start();
    let dir = TestDir::new("dead");
    let app = SimApp::start().await;
    let paid = app.job("17.25", "E2E-DEAD-1");
    app.sim
        .play_and_wait(&paid.reference, Script::PaysAtOnce)
        .await
        .unwrap();
    // Its notification was answered, then the gateway refused every confirmation.
    seed::dead_delivery(
        &dir.path().join("custom.db"),
        &paid.reference,
        &paid.payment_reference,
        "gave up after 10 attempts: the gateway refused the request (HTTP 400): InvalidRequest",
    )
    .await;

    let w = app.open(&desktop, dir.path()).await;
    w.wait_text(
        "[data-testid=\"dead-problem\"]",
        "one dead notification",
        |t| t.contains("1 notification needs you"),
    )
    .await;
    w.click(&w.wait_for("[data-testid=\"review-dead\"]").await)
        .await;
    let row = format!(
        "[data-testid=\"dead-row\"][data-payment-ref=\"{}\"]",
        paid.payment_reference
    );
    w.wait_for(&row).await;
    w.wait_text(
        "[data-testid=\"dead-answer\"]",
        "the gateway's answer",
        |t| t.contains("HTTP 400"),
    )
    .await;
    let shot = w.screenshot("dead-deliveries").await;
    eprintln!("screenshot: {}", shot.display());

    w.click(&w.wait_for("[data-testid=\"dead-retry\"]").await)
        .await;
    w.wait_for("[data-testid=\"dead-empty\"]").await;
    w.wait_for(&format!(
        "{} .chip[data-status=\"Paid\"]",
        live_row(&paid.reference)
    ))
    .await;
    let deadline = Instant::now() + WAIT;
    while !w
        .find_all("[data-testid=\"dead-problem\"]")
        .await
        .is_empty()
    {
        assert!(Instant::now() < deadline, "the health bar still shows it");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    w.close().await;
}

/// The order numbers shown in the orders table, top to bottom.
async fn shown_orders(w: &Window) -> Vec<String> {
    w.script(
        "return [...document.querySelectorAll('[data-testid=\"order-row\"] strong')].map(e => e.textContent.trim());",
        serde_json::json!([]),
    )
    .await
    .as_array()
    .expect("a list")
    .iter()
    .map(|v| v.as_str().unwrap_or_default().to_owned())
    .collect()
}

async fn wait_range(w: &Window, what: &str, want: &str) {
    w.wait_text("[data-testid=\"pager-range\"]", what, |t| t == want)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_page_through_the_history_and_search_marks_what_matched() {
    let desktop = Desktop::start();
    let dir = TestDir::new("history");
    seed::paid_orders(&dir.path().join("custom.db"), 120).await;
    let app = SimApp::start().await;
    let w = app.open(&desktop, dir.path()).await;

    w.click(&w.wait_for("[data-testid=\"tab-orders\"]").await)
        .await;
    wait_range(&w, "the first page", "1–50 of 120").await;
    let first = shown_orders(&w).await;
    assert_eq!(first.len(), 50, "{first:?}");
    assert_eq!(first[0], "ORD-119", "newest first");

    w.click(&w.wait_for("[data-testid=\"pager-next\"]").await)
        .await;
    wait_range(&w, "the second page", "51–100 of 120").await;
    let second = shown_orders(&w).await;
    assert_eq!(second.first().map(String::as_str), Some("ORD-69"));
    assert_eq!(second.len(), 50);

    // The last page is the last 50 orders, placed from the end.
    w.click(&w.wait_for("[data-testid=\"pager-last\"]").await)
        .await;
    wait_range(&w, "the last page", "71–120 of 120").await;
    let last = shown_orders(&w).await;
    assert_eq!(last.len(), 50);
    assert_eq!(last.first().map(String::as_str), Some("ORD-49"));
    assert_eq!(last.last().map(String::as_str), Some("ORD-0"));
    assert!(
        !w.enabled(&w.wait_for("[data-testid=\"pager-next\"]").await)
            .await
    );

    w.click(&w.wait_for("[data-testid=\"pager-prev\"]").await)
        .await;
    wait_range(&w, "one page back from the end", "21–70 of 120").await;
    let before_last = shown_orders(&w).await;
    assert_eq!(before_last.first().map(String::as_str), Some("ORD-99"));
    assert_eq!(before_last.last().map(String::as_str), Some("ORD-50"));
    w.click(&w.wait_for("[data-testid=\"pager-prev\"]").await)
        .await;
    wait_range(&w, "back at the top", "1–50 of 120").await;
    assert_eq!(shown_orders(&w).await, first, "the first page coming back");

    // A prefix of an order number: every match listed, the typed part marked.
    let search = w.wait_for("[data-testid=\"search-input\"]").await;
    w.type_into(&search, "ORD-11").await;
    w.wait_for("[data-testid=\"search-result\"]").await;
    let deadline = Instant::now() + WAIT;
    let marked = loop {
        let marked = w
            .script(
                "return [...document.querySelectorAll('[data-testid=\"search-match\"] mark')].map(e => e.textContent);",
                serde_json::json!([]),
            )
            .await;
        let marked: Vec<String> = marked
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_owned())
            .collect();
        // ORD-11 and ORD-110 … ORD-119.
        if marked.len() == 11 || Instant::now() > deadline {
            break marked;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(marked.len(), 11, "{marked:?}");
    assert!(marked.iter().all(|m| m == "ORD-11"), "{marked:?}");
    let shot = w.screenshot("history-search").await;
    let _ = std::fs::copy(&shot, "/tmp/owner-history-search.png");
    w.close().await;
    app.sim.shutdown().await;
}

/// A window on a database shared with a server: it runs no listener of its own, and a
/// payment another machine's Tillwatch confirms shows in its live view at once (pushed by
/// the database, not found by polling).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_on_a_shared_database_shows_another_machines_payment_within_a_second() {
    use tillwatch::domain::{
        ChangeSource, Currency, JobRef, JobSnapshot, PaymentStatus, Timestamp,
    };
    use tillwatch_store_postgres::{DatabaseConfig, Password, PgStore};

    let pg = postgres::TestPostgres::start();
    let desktop = Desktop::start();
    let dir = TestDir::new("shared");
    let w = Window::open(Launch {
        desktop: &desktop,
        data_dir: dir.path(),
        env: vec![
            ("TILLWATCH_DATABASE_URL".to_owned(), pg.url()),
            (
                "TILLWATCH_DATABASE_PASSWORD".to_owned(),
                pg.password().to_owned(),
            ),
        ],
    })
    .await;
    w.wait_for("[data-testid=\"shared-database\"]").await;
    let named = w
        .script(
            "return document.querySelector('[data-testid=\"shared-database\"] .hb-url').title;",
            serde_json::json!([]),
        )
        .await;
    assert!(
        named
            .as_str()
            .is_some_and(|u| u.contains("127.0.0.1") && !u.contains(pg.password())),
        "the bar names the shared database, without its password: {named}"
    );
    assert!(
        w.find_all("[data-testid=\"listener-state\"]")
            .await
            .is_empty(),
        "a window on a shared database runs no listener"
    );
    // No gateway credentials here either, but a shared database is never the demo, and
    // a window that receives nothing has no tunnel to show, not even "Local only".
    for absent in ["demo-banner", "tunnel-state"] {
        assert!(
            w.find_all(&format!("[data-testid=\"{absent}\"]"))
                .await
                .is_empty(),
            "{absent} shown on a shared database"
        );
    }

    // The server's Tillwatch, on another machine: its own connection to the same database.
    let server = PgStore::connect(
        DatabaseConfig::parse(&pg.url())
            .unwrap()
            .with_password(Password::new(pg.password())),
    )
    .await
    .unwrap();
    let confirm = |job: &str| JobSnapshot {
        job_ref: JobRef::parse(job).unwrap(),
        order_number: Some(format!("SHARED-{job}")),
        email: Some("shopper@example.com".into()),
        status: PaymentStatus::Paid,
        amount: Some("12.50".parse().unwrap()),
        paid_amount: None,
        currency: Some(Currency::parse("GBP").unwrap()),
        created_at: None,
        gateway_updated_at: Some(Timestamp::now()),
        payments: Vec::new(),
        raw: serde_json::json!({}),
    };
    // The first proves the window is listening (its connection may still be opening).
    let first = "710000000000000001";
    let mut seen = false;
    let deadline = Instant::now() + WAIT;
    while !seen {
        assert!(
            Instant::now() < deadline,
            "the window never showed the first payment"
        );
        if w.find_all(&live_row(first)).await.is_empty() {
            server
                .apply_snapshot(confirm(first), ChangeSource::Notification, None, None)
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        seen = !w.find_all(&live_row(first)).await.is_empty();
    }

    let second = "710000000000000002";
    let committed = Instant::now();
    server
        .apply_snapshot(confirm(second), ChangeSource::Notification, None, None)
        .await
        .unwrap();
    while w.find_all(&live_row(second)).await.is_empty() {
        assert!(
            committed.elapsed() < Duration::from_secs(1),
            "another machine's payment was not shown within 1 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "shared database: commit to row shown in {:?}",
        committed.elapsed()
    );
    w.screenshot("shared-database").await;
    w.close().await;
}

/// A window whose Settings name a shared database (its password from the environment: no
/// keyring runs under the test's desktop): it is no demo and receives nothing itself, so no
/// demo banner and no "Local only" tunnel chip; it names the machine whose serve takes the
/// notifications and when that one last confirmed. Settings → Shared database tests the
/// connection stage by stage, as typed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_on_a_shared_database_names_the_serve_and_tests_the_connection() {
    use tillwatch::domain::{
        ChangeSource, Currency, JobRef, JobSnapshot, PaymentRef, PaymentStatus, Timestamp,
    };
    use tillwatch::store::{Claim, Held, NewDelivery, WorkerId};
    use tillwatch_store_postgres::{DatabaseConfig, Password, PgStore, Role};

    let pg = postgres::TestPostgres::start();
    let desktop = Desktop::start();
    let dir = TestDir::new("shared-settings");
    std::fs::write(
        dir.path().join("settings.json"),
        serde_json::to_vec(&serde_json::json!({ "databaseUrl": pg.url() })).unwrap(),
    )
    .unwrap();

    // The shop's server: its serve's record, and one notification it confirms.
    let server = PgStore::connect(
        DatabaseConfig::parse(&pg.url())
            .unwrap()
            .with_password(Password::new(pg.password())),
    )
    .await
    .unwrap();
    let (stop_serve, serve_stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = {
        let server = server.clone();
        tokio::spawn(async move {
            server
                .keep_presence(Role::Serve, async {
                    let _ = serve_stopped.await;
                })
                .await;
        })
    };
    let job = JobRef::parse("720000000000000001").unwrap();
    let payment = PaymentRef::parse("720000000000000009").unwrap();
    let id = server
        .record_delivery(NewDelivery {
            received_at: Timestamp::now(),
            remote_addr: Some("127.0.0.1".into()),
            forwarded_for: None,
            body: "{}".into(),
            job_ref: job.clone(),
            payment_ref: payment.clone(),
        })
        .await
        .unwrap();
    let claim = Claim {
        worker: WorkerId::new(),
        lease: Duration::from_secs(60),
    };
    server
        .claim_due(&claim, Timestamp::now(), 10)
        .await
        .unwrap();
    server
        .apply_snapshot(
            JobSnapshot {
                job_ref: job.clone(),
                order_number: Some("SHARED-SERVE-1".into()),
                email: Some("shopper@example.com".into()),
                status: PaymentStatus::Paid,
                amount: Some("18.40".parse().unwrap()),
                paid_amount: None,
                currency: Some(Currency::parse("GBP").unwrap()),
                created_at: None,
                gateway_updated_at: Some(Timestamp::now()),
                payments: Vec::new(),
                raw: serde_json::json!({}),
            },
            ChangeSource::Notification,
            None,
            Some(Held {
                job_ref: job.clone(),
                payment_ref: payment,
                up_to_id: id,
                worker: claim.worker.clone(),
            }),
        )
        .await
        .unwrap();

    let w = Window::open(Launch {
        desktop: &desktop,
        data_dir: dir.path(),
        env: vec![(
            "TILLWATCH_DATABASE_PASSWORD".to_owned(),
            pg.password().to_owned(),
        )],
    })
    .await;
    w.wait_for("[data-testid=\"shared-database\"]").await;
    let machine = tillwatch::store::machine_name();
    let (online, named, confirmed): (String, String, String) = w
        .wait_script(
            "const e = document.querySelector('[data-testid=\"notifications-by\"]'); const c = document.querySelector('[data-testid=\"last-confirmed\"]'); return e ? [e.dataset.online, e.dataset.machine, c ? c.dataset.at : ''] : ['', '', ''];",
            "the health bar naming the serve and its last confirmation",
            |(online, _, at): &(String, String, String)| online == "true" && !at.is_empty(),
        )
        .await;
    assert_eq!(
        (online.as_str(), named.as_str()),
        ("true", machine.as_str())
    );
    assert!(
        confirmed.starts_with(&Timestamp::now().to_string()[..10]),
        "confirmed today: {confirmed}"
    );
    w.wait_for(&live_row(job.as_str())).await;
    assert!(
        w.find_all("[data-testid=\"demo-banner\"]").await.is_empty(),
        "a shared database is not the demo"
    );
    assert!(
        w.find_all("[data-testid=\"tunnel-state\"]")
            .await
            .is_empty(),
        "a shared window receives nothing: no tunnel chip, not even Local only"
    );
    let bar = w
        .text(&w.wait_for("[data-testid=\"health-bar\"]").await)
        .await;
    assert!(
        !bar.contains("Local only") && !bar.contains("Demo"),
        "{bar}"
    );
    let shot = w.screenshot("shared-health-bar").await;
    let _ = std::fs::copy(&shot, "/work/briefs/sharedui-health-bar.png");

    // Settings → Shared database: the saved URL, tested as it stands (the environment's
    // password), then with a wrong one typed.
    w.click(&w.wait_for("[data-testid=\"tab-settings\"]").await)
        .await;
    let url_field = w.wait_for("[data-testid=\"database-url\"]").await;
    w.wait_script(
        "return document.querySelector('[data-testid=\"database-url\"]').value",
        "the saved URL in its field",
        |v: &String| *v == pg.url(),
    )
    .await;
    assert!(w.enabled(&url_field).await);
    click_centred(&w, "[data-testid=\"test-database\"]").await;
    let stages: Vec<(String, String)> = w
        .wait_script(
            "const t = document.querySelector('[data-testid=\"database-test\"]'); const e = document.querySelector('[data-testid=\"database-test-error\"]'); return t ? [...t.querySelectorAll('li')].map(l => [l.dataset.stage, l.dataset.state]) : e ? [['error', e.textContent]] : [];",
            "the connection test's stages",
            |s: &Vec<(String, String)>| !s.is_empty(),
        )
        .await;
    let all_passed: Vec<(String, String)> = ["reached", "tls", "authenticated", "schema"]
        .iter()
        .map(|s| (s.to_string(), "passed".to_string()))
        .collect();
    assert_eq!(stages, all_passed);
    let schema = w
        .text(
            &w.wait_for("[data-testid=\"database-test\"] li[data-stage=\"schema\"]")
                .await,
        )
        .await;
    assert!(schema.contains("up to date"), "{schema}");
    w.script(
        "document.getElementById('shared-database').scrollIntoView({block: 'start'})",
        serde_json::json!([]),
    )
    .await;
    let shot = w.screenshot("shared-settings").await;
    let _ = std::fs::copy(&shot, "/work/briefs/sharedui-settings.png");

    let wrong = "tw-typed-wrong-password";
    centre(&w, "[data-testid=\"database-password\"]").await;
    w.type_into(
        &w.wait_for("[data-testid=\"database-password\"]").await,
        wrong,
    )
    .await;
    click_centred(&w, "[data-testid=\"test-database\"]").await;
    let failed: Vec<(String, String, String)> = w
        .wait_script(
            "const t = document.querySelector('[data-testid=\"database-test\"]'); return t ? [...t.querySelectorAll('li')].map(l => [l.dataset.stage, l.dataset.state, l.textContent]) : [];",
            "the test with a wrong password",
            |s: &Vec<(String, String, String)>| {
                s.iter().any(|(stage, state, _)| stage == "authenticated" && state == "failed")
            },
        )
        .await;
    let words: String = failed.iter().map(|(_, _, t)| t.as_str()).collect();
    assert!(words.contains("authentication failed"), "{words}");
    assert!(
        !words.contains(wrong),
        "the password is never echoed: {words}"
    );
    w.script(
        "document.getElementById('shared-database').scrollIntoView({block: 'start'})",
        serde_json::json!([]),
    )
    .await;
    let shot = w.screenshot("shared-settings-refused").await;
    let _ = std::fs::copy(&shot, "/work/briefs/sharedui-settings-refused.png");

    // The server stops: the window says payments are not being received.
    stop_serve.send(()).unwrap();
    serving.await.unwrap();
    w.click(&w.wait_for("[data-testid=\"tab-live\"]").await)
        .await;
    w.wait_for("[data-testid=\"no-serve-problem\"]").await;
    w.close().await;
}

/// Brings an element to the middle of the window: at the top edge the sticky bar would
/// take the click.
async fn centre(w: &Window, css: &str) {
    w.wait_for(css).await;
    w.script(
        "document.querySelector(arguments[0]).scrollIntoView({block: 'center'})",
        serde_json::json!([css]),
    )
    .await;
}

async fn click_centred(w: &Window, css: &str) {
    centre(w, css).await;
    w.click(&w.wait_for(css).await).await;
}
