//! The window's figures: launch to first paint, confirmation-to-window latency, and idle
//! memory (the app plus its WebKit processes). Runs the real window under Xvfb through
//! WebDriver, as the end-to-end tests do; prints figures, asserts nothing.
//!
//! `cargo bench --bench desktop` (BENCH_PAYMENTS sets how many payments are timed).

#[path = "../tests/desktop/driver.rs"]
#[allow(dead_code)]
mod driver;

use std::time::{Duration, Instant};

use driver::{Desktop, Launch, Window};
use tillwatch::domain::Timestamp;
use tillwatch::sim::{self, CreateJob, Script, SimConfig};

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// The app's process and every process below it (WebKit's web and network processes).
fn family(root: u32) -> Vec<u32> {
    let mut all = vec![root];
    let mut i = 0;
    while i < all.len() {
        let parent = all[i];
        if let Ok(dir) = std::fs::read_dir("/proc") {
            for e in dir.flatten() {
                let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                    continue;
                };
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                // ppid is the 4th field, after the parenthesised name.
                let ppid = stat
                    .rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
                if ppid == Some(parent) && !all.contains(&pid) {
                    all.push(pid);
                }
            }
        }
        i += 1;
    }
    all
}

fn app_pid(data_dir: &std::path::Path) -> Option<u32> {
    let needle = data_dir.to_string_lossy().into_owned();
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_string_lossy().parse().ok()?;
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let cmd = String::from_utf8_lossy(&cmd);
        (cmd.contains("tillwatch") && cmd.contains(&needle) && !cmd.contains("tauri-driver"))
            .then_some(pid)
    })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo test --benches` runs this without `--bench`: stay quick then.
    if !std::env::args().any(|a| a == "--bench") {
        println!("desktop bench: run with `cargo bench --bench desktop`");
        return;
    }
    let payments: usize = std::env::var("BENCH_PAYMENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let desktop = Desktop::start();
    let dir = std::env::temp_dir().join(format!("tillwatch-bench-desktop-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = sim::start(
        tcp,
        SimConfig {
            step_gap: Duration::from_millis(50),
            ..SimConfig::default()
        },
    )
    .await
    .unwrap();
    let port = driver::free_port();
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

    let started = Instant::now();
    let w = Window::open(Launch {
        desktop: &desktop,
        data_dir: &dir,
        env,
    })
    .await;
    w.wait_for("[data-testid=\"health-bar\"]").await;
    let first_paint = started.elapsed();

    // Note when each payment's row first appears, in the page's own clock.
    w.script(
        "window.__seen = {}; new MutationObserver(() => { for (const r of document.querySelectorAll('[data-testid=\"live-row\"]')) { if (!(r.dataset.jobRef in window.__seen)) window.__seen[r.dataset.jobRef] = Date.now(); } }).observe(document.body, {subtree: true, childList: true, attributes: true}); return true;",
        serde_json::json!([]),
    )
    .await;
    let webhook = format!("http://127.0.0.1:{port}/webhooks/cashflows");
    let mut jobs = Vec::new();
    for i in 0..payments {
        let job = sim
            .create_job(CreateJob {
                amount: "10.00".parse().unwrap(),
                currency: "GBP".into(),
                order_number: format!("BENCH-{i}"),
                email: "bench@example.com".into(),
                webhook_url: Some(webhook.clone()),
            })
            .unwrap();
        sim.play_and_wait(&job.reference, Script::PaysAtOnce)
            .await
            .unwrap();
        jobs.push(job.reference);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let seen = loop {
        let seen = w
            .script("return window.__seen", serde_json::json!([]))
            .await;
        if jobs.iter().all(|j| seen.get(j).is_some()) || Instant::now() > deadline {
            break seen;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let conn = rusqlite::Connection::open_with_flags(
        dir.join("custom.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut latencies = Vec::new();
    for j in &jobs {
        let confirmed: String = conn
            .query_row(
                "SELECT first_seen_at FROM payment_jobs WHERE job_ref = ?1",
                [j],
                |r| r.get(0),
            )
            .unwrap();
        let confirmed_ms = Timestamp::parse(&confirmed).unwrap().unix_millis() as f64;
        if let Some(shown) = seen.get(j).and_then(|v| v.as_f64()) {
            latencies.push(shown - confirmed_ms);
        }
    }
    latencies.sort_by(|a, b| a.partial_cmp(b).unwrap());

    // Idle: nothing arrives for a while.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (rss_app, rss_all) = match app_pid(&dir) {
        Some(pid) => {
            let fam = family(pid);
            (rss_kib(pid), fam.iter().map(|p| rss_kib(*p)).sum::<u64>())
        }
        None => (0, 0),
    };

    println!("tillwatch window ({} payments timed)", latencies.len());
    println!(
        "  launch to first paint (incl. WebDriver session)  {:>8.0} ms",
        first_paint.as_secs_f64() * 1000.0
    );
    println!(
        "  confirmation to window   p50 {:>6.1} ms   p99 {:>6.1} ms   max {:>6.1} ms   (target < 200 ms)",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "  idle memory (RSS)        app {:>6.1} MiB   app + WebKit processes {:>6.1} MiB",
        rss_app as f64 / 1024.0,
        rss_all as f64 / 1024.0
    );
    w.close().await;
    sim.shutdown().await;
    if std::env::var_os("BENCH_KEEP").is_some() {
        println!("  kept {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
