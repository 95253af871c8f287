//! Backlog benchmark: how long Tillwatch's confirm worker takes to confirm a backlog of
//! distinct notifications against the gateway simulator at a set API latency and
//! concurrency, next to its floor.
//!
//! Each confirmation is two gateway calls (retrieve payment, then retrieve job), so the
//! floor is latency x 2 x count / concurrency. Next to it, a bare client making the same
//! two calls at the same concurrency with nothing else to do shows what the simulator,
//! HTTP and the timer cost on this machine. It prints figures; it asserts nothing about
//! time.
//!
//! `BACKLOG_COUNT` (default 10000), `BACKLOG_CONCURRENCY` (default 16) and
//! `BACKLOG_LATENCY_MS` (default 20) change the run. `cargo bench -p tillwatch-core --bench backlog`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tillwatch_core::domain::{JobRef, PaymentRef, Timestamp};
use tillwatch_core::gateway::{ApiKey, GatewayClient, GatewayConfig, GatewayEnvironment};
use tillwatch_core::pipeline::{ConfirmWorker, ConfirmWorkerConfig, EventBus};
use tillwatch_core::store::Inbox;
use tillwatch_core::store::NewDelivery;
use tillwatch_sim::{self as sim, Endpoint, Fault, FaultTarget, Script, SimConfig};
use tillwatch_store_sqlite::SqliteStore;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

/// How many jobs the bare-client reference confirms (its ratio to its floor does not
/// depend on the count, so a part keeps the run short).
const BARE_SAMPLE: usize = 2_500;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let count: usize = env_or("BACKLOG_COUNT", 10_000usize).max(1);
    let concurrency: usize = env_or("BACKLOG_CONCURRENCY", 16usize).max(1);
    let latency = Duration::from_millis(env_or("BACKLOG_LATENCY_MS", 20u64));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(run(count, concurrency, latency));
}

async fn run(count: usize, concurrency: usize, latency: Duration) {
    let started = Instant::now();
    let dir = scratch_dir();

    // The gateway: shoppers pay at once, and no notification is sent (no webhook URL),
    // so the only traffic is the worker's.
    let config = SimConfig {
        step_gap: Duration::ZERO,
        default_webhook_url: None,
        ..SimConfig::default()
    };
    let (configuration_id, api_key) = (config.configuration_id.clone(), config.api_keys[0].clone());
    let handle = sim::start(
        TcpListener::bind("127.0.0.1:0").await.expect("bind sim"),
        config,
    )
    .await
    .expect("start sim");
    let mut refs = Vec::with_capacity(count);
    let mut shoppers = JoinSet::new();
    for i in 0..count {
        let job = handle
            .create_job(sim::CreateJob {
                amount: "12.50".parse().expect("amount"),
                currency: "GBP".into(),
                order_number: format!("B-{i}"),
                email: format!("shopper{i}@example.com"),
                webhook_url: None,
            })
            .expect("create job");
        let h = handle.clone();
        let job_ref = job.reference.clone();
        shoppers.spawn(async move { h.play_and_wait(&job_ref, Script::PaysAtOnce).await });
        refs.push((job.reference, job.payment_reference));
    }
    while let Some(paid) = shoppers.join_next().await {
        paid.expect("shopper task").expect("shopper paid");
    }

    // The inbox: one acknowledged delivery per job, committed as the listener would.
    let store = SqliteStore::open(dir.join("backlog.db")).expect("open store");
    let mut writes = JoinSet::new();
    for (job, payment) in &refs {
        let store = store.clone();
        let body = format!(
            r#"{{"notifyType":"PaymentStatusChange","paymentJobReference":"{job}","paymentReference":"{payment}"}}"#
        );
        let delivery = NewDelivery {
            received_at: Timestamp::now(),
            remote_addr: Some("127.0.0.1".into()),
            forwarded_for: None,
            body,
            job_ref: JobRef::parse(job).expect("job ref"),
            payment_ref: PaymentRef::parse(payment).expect("payment ref"),
        };
        writes.spawn(async move { store.record_delivery(delivery).await });
    }
    while let Some(w) = writes.join_next().await {
        w.expect("write task").expect("record delivery");
    }
    let (backlog, _) = store.inbox_status().await.expect("inbox status");
    assert_eq!(backlog as usize, count, "every delivery is pending");
    let prepared = started.elapsed();

    handle.set_fault(FaultTarget::AnyApi, Fault::Delay { delay: latency });
    let gateway = GatewayClient::new(GatewayConfig::new(
        GatewayEnvironment::Custom(handle.base_url()),
        configuration_id,
        ApiKey::new(api_key),
    ))
    .expect("gateway client");

    // A reference: the same two calls per notification at the same concurrency from a
    // client that does nothing else (no store, no worker), on part of the jobs. What it
    // loses to the floor is the simulator's, HTTP's and the timer's, not Tillwatch's.
    let sample = count.min(BARE_SAMPLE);
    let bare = bare_client(&gateway, &refs[..sample], concurrency).await;
    let bare_floor = latency.mul_f64(2.0 * sample as f64 / concurrency as f64);
    let calls_before = (
        handle.api_request_count(Endpoint::RetrievePayment),
        handle.api_request_count(Endpoint::RetrieveJob),
    );

    let worker = ConfirmWorker::new(
        store.clone(),
        gateway,
        EventBus::default(),
        ConfirmWorkerConfig::new(concurrency),
    );
    let (stop_tx, mut stop_rx) = watch::channel(false);

    let t0 = Instant::now();
    let worker_task = tokio::spawn(worker.run(async move {
        let _ = stop_rx.wait_for(|s| *s).await;
    }));
    let limit = Duration::from_secs(600);
    let mut timed_out = false;
    loop {
        let (backlog, _) = store.inbox_status().await.expect("inbox status");
        if backlog == 0 {
            break;
        }
        if t0.elapsed() > limit {
            timed_out = true;
            eprintln!("backlog bench: {backlog} still pending after {limit:?}; giving up");
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = t0.elapsed();
    let _ = stop_tx.send(true);
    let _ = worker_task.await;

    let calls_payment = handle.api_request_count(Endpoint::RetrievePayment) - calls_before.0;
    let calls_job = handle.api_request_count(Endpoint::RetrieveJob) - calls_before.1;
    let floor = latency.mul_f64(2.0 * count as f64 / concurrency as f64);
    println!();
    println!(
        "backlog bench: {count} distinct notifications, gateway latency {} ms per call, \
         concurrency {concurrency}, {} cores, load average {}",
        latency.as_millis(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average()
    );
    println!(
        "{:<44} {:>8} {:>10} {:>12} {:>9}",
        "", "count", "seconds", "confirms/s", "/ floor"
    );
    println!(
        "{:<44} {:>8} {:>10.2} {:>12.0} {:>9}",
        "floor (latency x 2 x count / concurrency)",
        count,
        floor.as_secs_f64(),
        count as f64 / floor.as_secs_f64(),
        "1.00x"
    );
    println!(
        "{:<44} {:>8} {:>10.2} {:>12.0} {:>8.2}x",
        "bare client: the 2 calls only, no store",
        sample,
        bare.as_secs_f64(),
        sample as f64 / bare.as_secs_f64(),
        bare.as_secs_f64() / bare_floor.as_secs_f64()
    );
    println!(
        "{:<44} {:>8} {:>10.2} {:>12.0} {:>8.2}x{}",
        "tillwatch confirm worker",
        count,
        took.as_secs_f64(),
        count as f64 / took.as_secs_f64(),
        took.as_secs_f64() / floor.as_secs_f64(),
        if timed_out { "  (timed out)" } else { "" }
    );
    println!(
        "tillwatch / floor: {:.2}x; tillwatch / bare client: {:.2}x; tillwatch's gateway \
         calls: {calls_payment} retrieve-payment, {calls_job} retrieve-job ({count} each expected)",
        took.as_secs_f64() / floor.as_secs_f64(),
        (took.as_secs_f64() / floor.as_secs_f64())
            / (bare.as_secs_f64() / bare_floor.as_secs_f64()),
    );
    println!(
        "setup (sim jobs + inbox rows): {:.1} s; whole backlog bench: {:.1} s",
        prepared.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    handle.shutdown().await;
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Retrieve payment, then job, for each pair, `concurrency` at a time; how long it took.
async fn bare_client(
    gateway: &GatewayClient,
    refs: &[(String, String)],
    concurrency: usize,
) -> Duration {
    let permits = Arc::new(Semaphore::new(concurrency));
    let t0 = Instant::now();
    let mut calls = JoinSet::new();
    for (job, payment) in refs {
        let job = JobRef::parse(job).expect("job ref");
        let payment = PaymentRef::parse(payment).expect("payment ref");
        let (gateway, permits) = (gateway.clone(), Arc::clone(&permits));
        calls.spawn(async move {
            let _permit = permits.acquire_owned().await.expect("semaphore");
            gateway
                .retrieve_payment(&job, &payment)
                .await
                .expect("payment");
            gateway.retrieve_job(&job).await.expect("job");
        });
    }
    while let Some(c) = calls.join_next().await {
        c.expect("bare client task");
    }
    t0.elapsed()
}

/// The 1, 5 and 15 minute load averages: figures from a busy machine are noise.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

fn scratch_dir() -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir = std::env::temp_dir().join(format!(
        "tillwatch-bench-backlog-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}
