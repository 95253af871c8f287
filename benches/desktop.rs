//! The window's footprint against its floor: Tillwatch and a bare Tauri 2 window (the
//! `bare` example: same Tauri, same build, no plugins, one word on the page), both release
//! builds, both under Xvfb through WebDriver as the end-to-end tests drive them, measured
//! side by side in one run:
//!
//! - launch to first contentful paint: the process's exec (a launcher stamps the clock)
//!   to the page's own `first-contentful-paint` entry, median of BENCH_LAUNCHES launches;
//! - idle memory after 60 s: the main process and every process below it (WebKit's web
//!   and network processes), summed as PSS from /proc/*/smaps_rollup (RSS where absent);
//! - idle CPU over those 60 s, the same processes, in % of one core;
//! - confirmation to row painted, p50/p95/p99 over BENCH_PAYMENTS payments (the row's
//!   first animation frame in the page's clock against the confirmation's stored time);
//! - memory after BENCH_HISTORY more payments have gone through the live view.
//!
//! It prints figures and asserts nothing. Run through `benches/run.sh`: it measures the
//! .deb's own binary (BENCH_APP, unpacked from scripts/package.sh's package) and builds
//! the bare window first. By hand:
//! `cargo build --release --example bare --features tauri/custom-protocol &&
//!  BENCH_APP=/usr/bin/tillwatch cargo bench --bench desktop --features tauri/custom-protocol`
//! (`tauri/custom-protocol` is what `cargo tauri build` adds). Without BENCH_APP it
//! measures the app built for the bench, which carries the dev-dependencies' features.

#[path = "../tests/desktop/driver.rs"]
#[allow(dead_code)]
mod driver;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use driver::{Desktop, Program, Window};
use tillwatch::domain::Timestamp;
use tillwatch::sim::{self, CreateJob, Script, SimConfig, SimHandle};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

const IDLE: Duration = Duration::from_secs(60);

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Of a process's PSS: the anonymous and the shared-memory parts, in KiB.
type Split = (u64, u64);

/// A process's memory in KiB: proportional set size where the kernel reports it (shared
/// pages split between the processes that map them), else resident set size; and the
/// anonymous and shared-memory parts of it (heaps, and buffers shared between processes
/// such as rendered frames; the rest is mapped files: code, libraries, fonts, which the
/// kernel can drop).
fn memory_kib(pid: u32) -> (u64, bool, Option<Split>) {
    let field = |path: String, name: &str| -> Option<u64> {
        std::fs::read_to_string(path).ok().and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
    };
    match field(format!("/proc/{pid}/smaps_rollup"), "Pss:") {
        Some(pss) => (
            pss,
            true,
            field(format!("/proc/{pid}/smaps_rollup"), "Pss_Anon:")
                .zip(field(format!("/proc/{pid}/smaps_rollup"), "Pss_Shmem:")),
        ),
        None => (
            field(format!("/proc/{pid}/status"), "VmRSS:").unwrap_or(0),
            false,
            None,
        ),
    }
}

/// CPU time used so far (user + system), in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // utime and stime are the 14th and 15th fields; `rest` starts at the 3rd.
    let get = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    get(11) + get(12)
}

fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// The process and every process below it (WebKit's web and network processes, and the
/// sandbox helpers that start them).
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

/// The process whose command line carries `marker` (each launch has its own).
fn find_pid(marker: &str) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_string_lossy().parse().ok()?;
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let cmd = String::from_utf8_lossy(&cmd);
        (cmd.contains(marker) && !cmd.contains("tauri-driver") && !cmd.contains("WebKitWebDriver"))
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

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    percentile(&v, 0.5)
}

/// What the processes of one window hold.
#[derive(Default, Clone)]
struct Memory {
    total_kib: u64,
    pss: bool,
    /// Per process: name, total, anonymous and shared-memory parts (the rest is files).
    parts: Vec<(String, u64, Option<Split>)>,
}

impl Memory {
    fn of(root: u32) -> Memory {
        let mut m = Memory {
            pss: true,
            ..Memory::default()
        };
        for pid in family(root) {
            let (kib, pss, anon) = memory_kib(pid);
            m.total_kib += kib;
            m.pss &= pss;
            m.parts.push((comm(pid), kib, anon));
        }
        m
    }

    fn mib(&self) -> f64 {
        self.total_kib as f64 / 1024.0
    }

    fn breakdown(&self) -> String {
        self.parts
            .iter()
            .filter(|(_, kib, _)| *kib > 1024)
            .map(|(name, kib, anon)| match anon {
                Some((a, sh)) => format!(
                    "{name} {:.1} (anon {:.1}, shmem {:.1})",
                    *kib as f64 / 1024.0,
                    *a as f64 / 1024.0,
                    *sh as f64 / 1024.0
                ),
                None => format!("{name} {:.1}", *kib as f64 / 1024.0),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// One launch of a window: its WebDriver session, process and scratch folder.
struct Launched {
    window: Window,
    pid: u32,
    /// The app's listener port (each launch has its own, so a closing one never holds it).
    port: u16,
    first_paint_ms: f64,
    /// Where the time to first paint went: exec to the page's navigation start (the
    /// native start: process, GTK, plugins, window, web process), then in the page's
    /// clock its DOMContentLoaded (HTML parsed, scripts run) and its first paint.
    split: [f64; 3],
    dir: PathBuf,
}

/// Which program a launch opens.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    App,
    Bare,
}

struct Bench {
    app: PathBuf,
    bare: PathBuf,
    scratch: PathBuf,
    launches: usize,
    env: Vec<(String, String)>,
}

impl Bench {
    /// Opens a window through a launcher that stamps the exec time, and waits for its
    /// first contentful paint.
    async fn launch(&self, desktop: &Desktop, kind: Kind, n: usize) -> Launched {
        let name = match kind {
            Kind::App => "app",
            Kind::Bare => "bare",
        };
        let dir = self.scratch.join(format!("{name}-{n}"));
        std::fs::create_dir_all(&dir).unwrap();
        let stamp = dir.join("launched");
        let launcher = dir.join("launch");
        let binary = match kind {
            Kind::App => &self.app,
            Kind::Bare => &self.bare,
        };
        std::fs::write(
            &launcher,
            format!(
                "#!/bin/sh\ndate +%s%N > '{}'\nexec '{}' \"$@\"\n",
                stamp.display(),
                binary.display()
            ),
        )
        .unwrap();
        std::process::Command::new("chmod")
            .arg("+x")
            .arg(&launcher)
            .status()
            .unwrap();
        // Each launch starts cold in its own WebKit data and caches, as a first start does.
        let mut env = Vec::new();
        for (var, sub) in [
            ("XDG_CONFIG_HOME", "config"),
            ("XDG_DATA_HOME", "data"),
            ("XDG_CACHE_HOME", "cache"),
        ] {
            let d = dir.join("xdg").join(sub);
            std::fs::create_dir_all(&d).unwrap();
            env.push((var.to_owned(), d.to_str().unwrap().to_owned()));
        }
        let port = driver::free_port();
        if kind == Kind::App {
            env.extend(self.env.iter().cloned());
            env.push(("TILLWATCH_LISTEN".to_owned(), format!("127.0.0.1:{port}")));
        }
        let marker = dir.to_str().unwrap().to_owned();
        // The bare window ignores its arguments; they name the launch in its command line.
        let window = Window::open_program(Program {
            desktop,
            path: &launcher,
            args: vec!["--data-dir".to_owned(), marker.clone()],
            env,
        })
        .await;
        let deadline = Instant::now() + driver::WAIT;
        let painted = loop {
            let v = window
                .script(
                    "const p = performance.getEntriesByName('first-contentful-paint')[0]; const n = performance.getEntriesByType('navigation')[0]; return p ? [performance.timeOrigin, p.startTime, n ? n.domContentLoadedEventEnd : 0] : null",
                    serde_json::json!([]),
                )
                .await;
            if let Some([origin, paint, loaded]) = v.as_array().and_then(|a| {
                let f = |i: usize| a.get(i).and_then(serde_json::Value::as_f64);
                Some([f(0)?, f(1)?, f(2)?])
            }) {
                break (origin, paint, loaded);
            }
            assert!(
                Instant::now() < deadline,
                "{name}: no first-contentful-paint entry"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let launched_ns: f64 = std::fs::read_to_string(&stamp)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let pid = find_pid(&marker).expect("the window's process");
        let (origin, paint, loaded) = painted;
        Launched {
            window,
            pid,
            port,
            first_paint_ms: origin + paint - launched_ns / 1e6,
            split: [origin - launched_ns / 1e6, loaded, paint],
            dir,
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo test --benches` runs this without `--bench`: stay quick then.
    if !std::env::args().any(|a| a == "--bench") {
        println!("desktop bench: run with `cargo bench --bench desktop`");
        return;
    }
    let payments: usize = env_or("BENCH_PAYMENTS", 50usize).max(1);
    let history: usize = env_or("BENCH_HISTORY", 10_000usize);
    let launches: usize = env_or("BENCH_LAUNCHES", 3usize).max(1);
    let app = std::env::var_os("BENCH_APP")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_tillwatch")));
    // The example sits beside this bench's own build: target/release/examples/bare.
    let bare = std::env::current_exe()
        .unwrap()
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("examples/bare");
    assert!(
        bare.is_file(),
        "no bare window at {}: run `cargo build --release --example bare --features tauri/custom-protocol` (benches/run.sh does)",
        bare.display()
    );
    let scratch =
        std::env::temp_dir().join(format!("tillwatch-bench-desktop-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();

    // The gateway: notifications for the timed payments are the simulator's own; the
    // history's are posted by this bench (below), so no default webhook.
    let sim = sim::start(
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        SimConfig {
            step_gap: Duration::from_millis(50),
            ..SimConfig::default()
        },
    )
    .await
    .unwrap();
    let bench = Bench {
        app: app.clone(),
        bare: bare.clone(),
        scratch: scratch.clone(),
        launches,
        env: vec![
            ("TILLWATCH_GATEWAY".to_owned(), sim.base_url()),
            (
                "TILLWATCH_CONFIGURATION_ID".to_owned(),
                sim.config().configuration_id.clone(),
            ),
            (
                "TILLWATCH_API_KEY".to_owned(),
                sim.config().api_keys[0].clone(),
            ),
        ],
    };
    println!(
        "desktop footprint: {} against {}",
        app.display(),
        bare.display()
    );

    // Launches, one at a time, alternating; the last of each stays open for the idle run.
    let desktop_app = Desktop::start();
    let desktop_bare = Desktop::start();
    let (mut paint_app, mut paint_bare) = (Vec::new(), Vec::new());
    let (mut split_app, mut split_bare) = (Vec::new(), Vec::new());
    let mut open_app = None;
    let mut open_bare = None;
    for n in 0..bench.launches {
        let b = bench.launch(&desktop_bare, Kind::Bare, n).await;
        paint_bare.push(b.first_paint_ms);
        split_bare.push(b.split);
        let a = bench.launch(&desktop_app, Kind::App, n).await;
        paint_app.push(a.first_paint_ms);
        split_app.push(a.split);
        if n + 1 == bench.launches {
            open_app = Some(a);
            open_bare = Some(b);
        } else {
            a.window.close().await;
            b.window.close().await;
        }
    }
    let (app_w, bare_w) = (open_app.unwrap(), open_bare.unwrap());
    app_w.window.wait_for("[data-testid=\"health-bar\"]").await;

    // Idle, both at once: nothing arrives.
    let fam_ticks = |pid: u32| family(pid).into_iter().map(cpu_ticks).sum::<u64>();
    let (t0_app, t0_bare, t0) = (fam_ticks(app_w.pid), fam_ticks(bare_w.pid), Instant::now());
    tokio::time::sleep(IDLE).await;
    let secs = t0.elapsed().as_secs_f64();
    // Clock ticks are 1/100 s on Linux.
    let cpu = |ticks: u64| ticks as f64 / 100.0 / secs * 100.0;
    let idle_cpu_app = cpu(fam_ticks(app_w.pid) - t0_app);
    let idle_cpu_bare = cpu(fam_ticks(bare_w.pid) - t0_bare);
    let idle_app = Memory::of(app_w.pid);
    let idle_bare = Memory::of(bare_w.pid);
    bare_w.window.close().await;

    // Confirmation to row painted: note each row's first animation frame.
    let w = &app_w.window;
    w.script(
        "window.__seen = {}; new MutationObserver(() => { for (const r of document.querySelectorAll('[data-testid=\"live-row\"]')) { const j = r.dataset.jobRef; if (!(j in window.__seen)) { window.__seen[j] = 0; requestAnimationFrame(() => { window.__seen[j] = Date.now(); }); } } }).observe(document.body, {subtree: true, childList: true, attributes: true}); return true;",
        serde_json::json!([]),
    )
    .await;
    let port = app_w.port;
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
        let all = jobs.iter().all(|j| {
            seen.get(j)
                .and_then(|v| v.as_f64())
                .is_some_and(|t| t > 0.0)
        });
        if all || Instant::now() > deadline {
            break seen;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let db = app_w.dir.join("custom.db");
    let conn =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
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
        if let Some(shown) = seen.get(j).and_then(|v| v.as_f64()).filter(|t| *t > 0.0) {
            latencies.push(shown - confirmed_ms);
        }
    }
    latencies.sort_by(|a, b| a.partial_cmp(b).unwrap());
    // Memory is compared settled against settled: after as quiet a spell as the idle
    // figure's. (Right after a burst the web process still holds garbage its collector
    // has not yet handed back.)
    tokio::time::sleep(IDLE).await;
    let after_timed = Memory::of(app_w.pid);

    // History: many more payments through the live view, in two halves, memory after each
    // (settled): the second half shows whether memory still grows once the caches are warm.
    let first_half = history / 2;
    let mut history_took = Duration::ZERO;
    let mut after_half = None;
    if first_half > 0 {
        history_took += run_history(&sim, port, first_half, &conn, payments, 0).await;
        tokio::time::sleep(IDLE).await;
        after_half = Some(Memory::of(app_w.pid));
    }
    if history > first_half {
        history_took += run_history(
            &sim,
            port,
            history - first_half,
            &conn,
            payments + first_half,
            first_half,
        )
        .await;
    }
    let history_took = (history > 0).then_some(history_took);
    let just_after = Memory::of(app_w.pid);
    tokio::time::sleep(IDLE).await;
    let after_history = Memory::of(app_w.pid);
    let rows_shown = w
        .script(
            "return document.querySelectorAll('[data-testid=\"live-row\"]').length",
            serde_json::json!([]),
        )
        .await;

    let measure = if idle_app.pss && idle_bare.pss {
        "PSS"
    } else {
        "RSS"
    };
    let (fp_app, fp_bare) = (median(paint_app.clone()), median(paint_bare.clone()));
    println!();
    println!(
        "{:<44} {:>12} {:>12} {:>7}   goal",
        "", "tillwatch", "bare window", "ratio"
    );
    println!(
        "{:<44} {:>9.0} ms {:>9.0} ms {:>6.2}x   <= 1.3x and < 1000 ms",
        format!("launch to first contentful paint (median of {launches})"),
        fp_app,
        fp_bare,
        fp_app / fp_bare
    );
    println!(
        "{:<44} {:>8.1} MiB {:>8.1} MiB {:>6.2}x   <= 1.3x",
        format!("idle memory after 60 s ({measure}, all processes)"),
        idle_app.mib(),
        idle_bare.mib(),
        idle_app.mib() / idle_bare.mib()
    );
    println!(
        "{:<44} {:>10.2} % {:>10.2} %            < 1 %",
        "idle CPU over 60 s (% of one core)", idle_cpu_app, idle_cpu_bare
    );
    println!(
        "{:<44} {:>9.0} ms {:>12}            p95 < 200 ms",
        format!(
            "confirmation to row painted, p50 ({} timed)",
            latencies.len()
        ),
        percentile(&latencies, 0.5),
        "-"
    );
    println!(
        "{:<44} {:>9.0} ms",
        "                                         p95",
        percentile(&latencies, 0.95)
    );
    println!(
        "{:<44} {:>9.0} ms",
        "                                         p99",
        percentile(&latencies, 0.99)
    );
    println!(
        "{:<44} {:>8.1} MiB {:>8.1} MiB            no growth",
        format!("memory after {payments} timed payments, 60 s on"),
        after_timed.mib(),
        idle_bare.mib()
    );
    if let Some(half) = &after_half {
        println!(
            "{:<44} {:>8.1} MiB {:>8.1} MiB",
            format!("memory after {first_half} more, 60 s on"),
            half.mib(),
            idle_bare.mib(),
        );
    }
    if let Some(took) = history_took {
        println!(
            "{:<44} {:>8.1} MiB {:>8.1} MiB            no growth (+{:.1} MiB on the {payments}, +{:.1} MiB on the first {first_half})",
            format!("memory after {history} more, 60 s on"),
            after_history.mib(),
            idle_bare.mib(),
            after_history.mib() - after_timed.mib(),
            after_history.mib() - after_half.as_ref().map_or(after_timed.mib(), Memory::mib)
        );
        println!(
            "  ({history} payments confirmed in {:.0} s; {} rows in the live view; {:.1} MiB right after the last)",
            took.as_secs_f64(),
            rows_shown,
            just_after.mib()
        );
    }
    println!("  launches (ms): tillwatch {paint_app:.0?}, bare {paint_bare:.0?}");
    let split = |runs: &[[f64; 3]]| -> [f64; 3] {
        [0, 1, 2].map(|i| median(runs.iter().map(|r| r[i]).collect()))
    };
    let (sa, sb) = (split(&split_app), split(&split_bare));
    println!(
        "  first paint, medians (ms): exec to page start {:.0} / {:.0}, then DOMContentLoaded at {:.0} / {:.0}, first paint at {:.0} / {:.0} (tillwatch / bare)",
        sa[0], sb[0], sa[1], sb[1], sa[2], sb[2]
    );
    println!(
        "  idle, by process (MiB): tillwatch: {}",
        idle_app.breakdown()
    );
    println!(
        "                          bare:      {}",
        idle_bare.breakdown()
    );
    println!(
        "  after the {payments} (MiB):  tillwatch: {}",
        after_timed.breakdown()
    );
    if let Some(half) = &after_half {
        println!(
            "  after {first_half} (MiB):  tillwatch: {}",
            half.breakdown()
        );
    }
    println!(
        "  after the history (MiB): tillwatch: {}",
        after_history.breakdown()
    );

    app_w.window.close().await;
    sim.shutdown().await;
    if std::env::var_os("BENCH_KEEP").is_some() {
        println!("  kept {}", scratch.display());
    } else {
        let _ = std::fs::remove_dir_all(&scratch);
    }
}

/// `count` payments paid at the gateway, their notifications posted to the app's listener
/// from many loopback addresses (the listener allows each source 20 a second), until the
/// app has confirmed them all (`already` confirmed before; order numbers from `first`).
/// Returns how long that took.
async fn run_history(
    sim: &SimHandle,
    port: u16,
    count: usize,
    conn: &rusqlite::Connection,
    already: usize,
    first: usize,
) -> Duration {
    let mut refs = Vec::with_capacity(count);
    let mut shoppers = JoinSet::new();
    for i in first..first + count {
        let job = sim
            .create_job(CreateJob {
                amount: "12.50".parse().unwrap(),
                currency: "GBP".into(),
                order_number: format!("HIST-{i}"),
                email: format!("shopper{i}@example.com"),
                webhook_url: None,
            })
            .unwrap();
        let s = sim.clone();
        let job_ref = job.reference.clone();
        shoppers.spawn(async move { s.play_and_wait(&job_ref, Script::PaysAtOnce).await });
        refs.push((job.reference, job.payment_reference));
    }
    while let Some(paid) = shoppers.join_next().await {
        paid.unwrap().unwrap();
    }
    let started = Instant::now();
    let sources: Vec<reqwest::Client> = (2..=201u8)
        .map(|last| {
            reqwest::Client::builder()
                .local_address(std::net::IpAddr::from([127, 0, 0, last]))
                .build()
                .unwrap()
        })
        .collect();
    let url = format!("http://127.0.0.1:{port}/webhooks/cashflows");
    let gate = Arc::new(Semaphore::new(16));
    let mut posts = JoinSet::new();
    for (i, (job, payment)) in refs.into_iter().enumerate() {
        let client = sources[i % sources.len()].clone();
        let url = url.clone();
        let permit = Arc::clone(&gate).acquire_owned().await.unwrap();
        posts.spawn(async move {
            let body = format!(
                r#"{{"notifyType":"PaymentStatusChange","paymentJobReference":"{job}","paymentReference":"{payment}"}}"#
            );
            // A refusal (429, 503) is retried, as the gateway would.
            for _ in 0..50 {
                let ok = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                if ok {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            drop(permit);
        });
    }
    while posts.join_next().await.is_some() {}
    let want = (count + already) as i64;
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        let have: i64 = conn
            .query_row("SELECT COUNT(*) FROM payment_jobs", [], |r| r.get(0))
            .unwrap_or(0);
        if have >= want || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    started.elapsed()
}
