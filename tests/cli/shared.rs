//! Several `serve` processes on one PostgreSQL database: the work shared between them, one
//! alert per change whoever confirmed it, a SIGKILLed serve's deliveries taken over by
//! another once its lease ran out, and the server stopped and started again under load;
//! two serves whose clocks are 5 minutes apart (libfaketime), a gateway slower than the
//! lease, and a path to the database that goes silent without closing (a loopback proxy,
//! harness.rs `SilentProxy`).
//! Real processes, a real server (tests/common/postgres.rs), the simulator in this process.
//!
//! The notifications are POSTed by the test (the simulator's jobs have no webhook URL), so
//! it knows exactly what was acknowledged. Each job's notification comes from its own
//! address, forwarded by a proxy serve trusts (`--trusted-proxy 127.0.0.1`), so the
//! trusted-proxy path is under load too. (One address would do as well: the listener's
//! junk limit never refuses a well-formed notification, however many one source sends.)

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tillwatch::domain::{DeliveryState, JobRef};
use tillwatch::sim::{Endpoint, Fault, FaultTarget, JobSnapshot, Script, SimConfig, SimHandle};
use tillwatch::store::{Inbox, Orders};
use tillwatch::Backend;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::harness::*;
use crate::postgres::{TestPostgres, USER};

/// Shoppers that pay within a millisecond: a thousand paid jobs in moments.
fn quick_sim() -> SimConfig {
    SimConfig {
        step_gap: Duration::from_millis(1),
        ..sim_config("sim-api-key")
    }
}

/// The environment of a serve (and of the read commands) on the shared database: the URL
/// and the password as an owner gives them, in the environment.
fn shared_env(sim: &SimHandle, data_dir: &std::path::Path, pg: &TestPostgres) -> Env {
    let mut env = Env::for_sim(sim, data_dir);
    env.extra_env = vec![
        ("TILLWATCH_DATABASE_URL".into(), pg.url()),
        ("TILLWATCH_DATABASE_PASSWORD".into(), pg.password().into()),
    ];
    env
}

/// The test's own look into the shared database, through the store the program uses.
async fn open_store(pg: &TestPostgres) -> Backend {
    let url = format!(
        "postgres://{USER}:{}@127.0.0.1:{}/{USER}?sslmode=disable",
        pg.password(),
        pg.port()
    );
    Backend::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("the test cannot open the shared database: {e}"))
}

/// Paid jobs whose notifications the test delivers by hand.
async fn paid_jobs(sim: &SimHandle, prefix: &str, n: usize) -> Vec<JobSnapshot> {
    let jobs: Vec<JobSnapshot> = (0..n)
        .map(|i| {
            new_job(
                sim,
                &format!("{prefix}-{i}"),
                &format!("{prefix}{i}@example.com"),
                "7.00",
                None,
            )
        })
        .collect();
    let shoppers: Vec<_> = jobs
        .iter()
        .map(|j| sim.play(&j.reference, Script::PaysAtOnce))
        .collect();
    for s in shoppers {
        within("a shopper pays", s)
            .await
            .expect("the shopper task")
            .expect("the shopper pays");
    }
    jobs
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .expect("an HTTP client")
}

/// The address job `i`'s notification comes from (see the module's comment).
fn source(i: usize) -> String {
    let i = u32::try_from(i).expect("a small index");
    Ipv4Addr::from(0x0a00_0000 | (i & 0x00ff_ffff)).to_string()
}

/// POSTs job `i`'s notification to `webhook`; the answer's status and body, or why there
/// was none.
async fn post(
    http: &reqwest::Client,
    webhook: &str,
    i: usize,
    job: &JobSnapshot,
) -> Result<(u16, Value), String> {
    let answer = http
        .post(webhook)
        .header("x-forwarded-for", source(i))
        .json(&notification(&job.reference, &job.payment_reference))
        .send()
        .await
        .map_err(|e| format!("no answer: {e}"))?;
    let status = answer.status().as_u16();
    let body = answer.json().await.unwrap_or(Value::Null);
    Ok((status, body))
}

/// POSTs job `i`'s notification until it is acknowledged, sending it again after a 503
/// as the gateway does (a busy machine may be slow to open its first connections); a
/// refused notification is not stored, so each is stored once.
async fn sent_until_acknowledged(
    http: &reqwest::Client,
    webhook: &str,
    i: usize,
    job: &JobSnapshot,
) -> Result<(), String> {
    for _ in 0..20 {
        match post(http, webhook, i, job).await {
            Ok((503, _)) => tokio::time::sleep(Duration::from_millis(250)).await,
            answer => return acknowledged(&answer, job),
        }
    }
    Err(format!("{}: 503 twenty times", job.reference))
}

fn acknowledged(answer: &Result<(u16, Value), String>, job: &JobSnapshot) -> Result<(), String> {
    match answer {
        Ok((200, body))
            if body["paymentJobReference"] == job.reference.as_str()
                && body["paymentReference"] == job.payment_reference.as_str() =>
        {
            Ok(())
        }
        other => Err(format!("{}: {other:?}", job.reference)),
    }
}

/// The serve arguments every test here uses.
fn serve_args(claim_lease: &'static str) -> [&'static str; 4] {
    ["--trusted-proxy", "127.0.0.1", "--claim-lease", claim_lease]
}

/// How many of a serve's status-change lines (what an owner is alerted by) name `job`.
fn alerts(stdout: &str, job: &str) -> usize {
    let needle = format!(" job {job}  attempts ");
    stdout.lines().filter(|l| l.contains(&needle)).count()
}

/// Ok once every job is Paid and every one of its deliveries (at least `min_rows[job]`)
/// is settled as confirmed, with none pending anywhere.
async fn all_paid_and_confirmed(
    store: &Backend,
    jobs: &[JobSnapshot],
    min_rows: &HashMap<String, usize>,
) -> Result<(), String> {
    let pending = store
        .pending_deliveries(10)
        .await
        .map_err(|e| e.to_string())?;
    if !pending.is_empty() {
        return Err(format!("{} (or more) deliveries pending", pending.len()));
    }
    for job in jobs {
        let jr = JobRef::parse(&job.reference).expect("a job reference");
        let detail = store
            .order(&jr)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("no order {}", job.reference))?;
        let want = min_rows.get(&job.reference).copied().unwrap_or(1);
        let confirmed = detail
            .deliveries
            .iter()
            .filter(|d| d.state == DeliveryState::Confirmed)
            .count();
        if detail.summary.status.as_str() != "Paid"
            || confirmed != detail.deliveries.len()
            || confirmed < want
        {
            return Err(format!(
                "order {} is {}, deliveries {:?} (want {want} confirmed)",
                job.reference,
                detail.summary.status.as_str(),
                detail
                    .deliveries
                    .iter()
                    .map(|d| d.state_word())
                    .collect::<Vec<_>>()
            ));
        }
    }
    Ok(())
}

/// Re-checks the async `probe` until it is Ok; panics with its last word after `deadline`.
async fn eventually<F, Fut>(what: &str, deadline: Duration, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let start = Instant::now();
    loop {
        match probe().await {
            Ok(()) => return,
            Err(why) if start.elapsed() > deadline => {
                panic!("timed out after {deadline:?} waiting for {what}; last seen: {why}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

// ---------------------------------------------------------------------------------------

const JOBS: usize = 1000;
/// POSTs in flight at once, over both serves: far above a shop's rate. At 32, a loaded CI
/// machine had a few waits for a listener connection pass the 1 s limit (503s, which the
/// gateway retries); the listener's own connections are tested in the store's tests.
const IN_FLIGHT: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_serves_share_a_thousand_notifications_and_alert_once() {
    let pg = blocking(TestPostgres::start).await;
    let sim = start_sim(quick_sim()).await;
    let (dir_a, dir_b) = (TempDir::new("shared-a"), TempDir::new("shared-b"));
    let a = Serve::start_with(
        &shared_env(&sim, dir_a.path(), &pg),
        300,
        &serve_args("120"),
    )
    .await;
    let b = Serve::start_with(
        &shared_env(&sim, dir_b.path(), &pg),
        300,
        &serve_args("120"),
    )
    .await;
    let store = open_store(&pg).await;
    let jobs = Arc::new(paid_jobs(&sim, "SHARED", JOBS).await);

    // Job i to A or B in turn; every tenth also to the other one (the gateway's retry
    // reaching the other machine).
    let webhooks = Arc::new([a.webhook_url(), b.webhook_url()]);
    let mut sends = Vec::new();
    for i in 0..JOBS {
        sends.push((i, i % 2));
        if i.is_multiple_of(10) {
            sends.push((i, 1 - i % 2));
        }
    }
    let started = Instant::now();
    let http = http();
    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut posts = JoinSet::new();
    for (i, to) in sends.iter().copied() {
        let (http, jobs, webhooks, in_flight) = (
            http.clone(),
            Arc::clone(&jobs),
            Arc::clone(&webhooks),
            Arc::clone(&in_flight),
        );
        posts.spawn(async move {
            let _permit = in_flight.acquire_owned().await.expect("the semaphore");
            let answer = post(&http, &webhooks[to], i, &jobs[i]).await;
            acknowledged(&answer, &jobs[i])
        });
    }
    let mut refused = Vec::new();
    while let Some(done) = posts.join_next().await {
        if let Err(why) = done.expect("a POST task") {
            refused.push(why);
        }
    }
    assert!(
        refused.is_empty(),
        "every notification is acknowledged with both references echoed; {} were not, e.g. {:?}\n--- A\n{}\n--- B\n{}",
        refused.len(),
        &refused[..refused.len().min(5)],
        a.logs(),
        b.logs()
    );
    eprintln!(
        "{} notifications acknowledged in {:?}",
        sends.len(),
        started.elapsed()
    );

    let min_rows: HashMap<String, usize> = jobs
        .iter()
        .enumerate()
        .map(|(i, j)| {
            (
                j.reference.clone(),
                if i.is_multiple_of(10) { 2 } else { 1 },
            )
        })
        .collect();
    eventually(
        "every order Paid and every delivery confirmed",
        Duration::from_secs(180),
        || async {
            let confirmed = store
                .count_deliveries(DeliveryState::Confirmed)
                .await
                .map_err(|e| e.to_string())?;
            if confirmed < sends.len() as u64 {
                return Err(format!("{confirmed} of {} confirmed", sends.len()));
            }
            all_paid_and_confirmed(&store, &jobs, &min_rows).await
        },
    )
    .await;
    eprintln!("all confirmed {:?} after the first POST", started.elapsed());
    assert_eq!(
        store
            .count_deliveries(DeliveryState::Confirmed)
            .await
            .unwrap(),
        sends.len() as u64,
        "one delivery row per acknowledged POST, each settled confirmed"
    );
    for state in [DeliveryState::Dead, DeliveryState::Unknown] {
        assert_eq!(store.count_deliveries(state).await.unwrap(), 0, "{state:?}");
    }

    // The alert lines are printed just after the commit: let the last ones arrive.
    eventually("an alert line for every order", DEADLINE, || async {
        let (out_a, out_b) = (a.stdout(), b.stdout());
        let missing = jobs
            .iter()
            .filter(|j| alerts(&out_a, &j.reference) + alerts(&out_b, &j.reference) == 0)
            .count();
        if missing == 0 {
            Ok(())
        } else {
            Err(format!("{missing} orders without an alert yet"))
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (out_a, out_b) = (a.stdout(), b.stdout());
    let twice: Vec<String> = jobs
        .iter()
        .filter_map(|j| {
            let n = alerts(&out_a, &j.reference) + alerts(&out_b, &j.reference);
            (n != 1).then(|| format!("{} alerted {n} times", j.reference))
        })
        .collect();
    assert!(
        twice.is_empty(),
        "one alert per order across both serves: {twice:?}"
    );
    let by_a = jobs
        .iter()
        .filter(|j| alerts(&out_a, &j.reference) == 1)
        .count();
    let by_b = JOBS - by_a;
    eprintln!("A confirmed {by_a} orders, B {by_b}");
    assert!(
        by_a > 0 && by_b > 0,
        "both serves did some of the work: A {by_a}, B {by_b}"
    );
    drop((a, b));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_serves_deliveries_are_confirmed_by_the_other_after_its_lease() {
    const N: usize = 20;
    const LEASE: Duration = Duration::from_secs(3);
    let pg = blocking(TestPostgres::start).await;
    let sim = start_sim(quick_sim()).await;
    let (dir_a, dir_b) = (TempDir::new("lease-a"), TempDir::new("lease-b"));
    let mut a =
        Serve::start_with(&shared_env(&sim, dir_a.path(), &pg), 300, &serve_args("3")).await;
    let b = Serve::start_with(&shared_env(&sim, dir_b.path(), &pg), 300, &serve_args("3")).await;
    let store = open_store(&pg).await;
    let jobs = paid_jobs(&sim, "LEASE", N).await;

    // The gateway stops answering: whatever A claims, it holds.
    sim.set_fault(FaultTarget::AnyApi, Fault::Hang);
    let asked_before = sim.api_request_count(Endpoint::RetrievePayment);
    let http = http();
    let webhook = a.webhook_url();
    let mut last_sent = Instant::now();
    let mut posts = JoinSet::new();
    for (i, job) in jobs.iter().cloned().enumerate() {
        let (http, webhook) = (http.clone(), webhook.clone());
        last_sent = Instant::now();
        posts.spawn(async move {
            let answer = post(&http, &webhook, i, &job).await;
            acknowledged(&answer, &job)
        });
    }
    while let Some(done) = posts.join_next().await {
        done.expect("a POST task")
            .unwrap_or_else(|why| panic!("A acknowledges: {why}\n{}", a.logs()));
    }
    // A's confirm worker is stuck on the gateway with every slot it has.
    sim_wait(&sim, "A's worker waits on the gateway", |h| {
        h.api_request_count(Endpoint::RetrievePayment) - asked_before >= 8
    })
    .await;
    let pending = store.pending_deliveries(100).await.unwrap();
    assert_eq!(pending.len(), N, "all {N} acknowledged, none confirmed yet");

    a.kill();
    let killed = Instant::now();
    sim.clear_faults();
    eprintln!(
        "A killed {:?} after its last notification was sent",
        killed - last_sent
    );

    // B takes A's deliveries once A's lease has run out, and not before.
    let mut first_paid: Option<Instant> = None;
    let mut all_paid: Option<Instant> = None;
    let deadline = Instant::now() + DEADLINE;
    while Instant::now() < deadline {
        let mut paid = 0;
        for job in &jobs {
            let jr = JobRef::parse(&job.reference).unwrap();
            if let Ok(Some(d)) = store.order(&jr).await {
                if d.summary.status.as_str() == "Paid" {
                    paid += 1;
                }
            }
        }
        if paid > 0 && first_paid.is_none() {
            first_paid = Some(Instant::now());
        }
        if paid == N && store.pending_deliveries(1).await.unwrap().is_empty() {
            all_paid = Some(Instant::now());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (Some(first), Some(all)) = (first_paid, all_paid) else {
        panic!(
            "B did not confirm A's deliveries within {DEADLINE:?} of the kill\n--- B\n{}",
            b.logs()
        );
    };
    eprintln!(
        "B confirmed the first of A's deliveries {:?} after the kill ({:?} after the last was sent), all of them {:?} after the kill",
        first - killed,
        first - last_sent,
        all - killed
    );
    assert!(
        first >= last_sent + LEASE,
        "nothing of A's is taken before its lease ({LEASE:?}) ran out: the first was confirmed {:?} after A's last notification was sent",
        first - last_sent
    );
    let min_rows = HashMap::new();
    all_paid_and_confirmed(&store, &jobs, &min_rows)
        .await
        .unwrap_or_else(|why| panic!("{why}\n--- B\n{}", b.logs()));
    assert_eq!(
        store
            .count_deliveries(DeliveryState::Confirmed)
            .await
            .unwrap(),
        N as u64,
        "nothing acknowledged is lost"
    );

    eventually("B's alert for every order", DEADLINE, || async {
        let out = b.stdout();
        let missing = jobs
            .iter()
            .filter(|j| alerts(&out, &j.reference) == 0)
            .count();
        if missing == 0 {
            Ok(())
        } else {
            Err(format!("{missing} without an alert"))
        }
    })
    .await;
    let (out_a, out_b) = (a.stdout(), b.stdout());
    for job in &jobs {
        assert_eq!(
            alerts(&out_a, &job.reference),
            0,
            "A died before confirming"
        );
        assert_eq!(alerts(&out_b, &job.reference), 1, "{}", job.reference);
    }
    drop((a, b));
    sim.shutdown().await;
}

/// One POST as the load saw it.
#[derive(Debug, Clone)]
struct Sent {
    job: usize,
    sent: Instant,
    answered: Instant,
    answer: Result<u16, String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_stopped_and_started_again_under_load_loses_nothing_acknowledged() {
    const N: usize = 400;
    let mut pg = blocking(TestPostgres::start).await;
    let sim = start_sim(quick_sim()).await;
    let dir = TempDir::new("pg-restart");
    let serve =
        Serve::start_with(&shared_env(&sim, dir.path(), &pg), 300, &serve_args("120")).await;
    let store = open_store(&pg).await;
    let jobs = Arc::new(paid_jobs(&sim, "PGDOWN", N).await);

    // The load: one notification every ~15 ms, in order, each answer noted.
    let log: Arc<Mutex<Vec<Sent>>> = Arc::default();
    let load = {
        let (http, webhook, jobs, log) = (
            http(),
            serve.webhook_url(),
            Arc::clone(&jobs),
            Arc::clone(&log),
        );
        tokio::spawn(async move {
            for (i, job) in jobs.iter().enumerate() {
                let sent = Instant::now();
                let answer = post(&http, &webhook, i, job).await;
                let answered = Instant::now();
                let answer = match answer {
                    Ok((200, _)) => acknowledged(&answer, job).map(|()| 200),
                    Ok((status, _)) => Ok(status),
                    Err(e) => Err(e),
                };
                log.lock().unwrap().push(Sent {
                    job: i,
                    sent,
                    answered,
                    answer,
                });
                tokio::time::sleep(Duration::from_millis(15)).await;
            }
        })
    };
    let acked = |log: &Mutex<Vec<Sent>>| {
        log.lock()
            .unwrap()
            .iter()
            .filter(|s| s.answer == Ok(200))
            .count()
    };
    poll_until("50 acknowledgements before the stop", DEADLINE, || {
        let n = acked(&log);
        if n >= 50 {
            Ok(())
        } else {
            Err(format!("{n} acknowledged"))
        }
    })
    .await;

    let (mut pg, down) = blocking(move || {
        pg.stop();
        let down = Instant::now();
        (pg, down)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let starting = Instant::now();
    let (pg, up) = blocking(move || {
        pg.start_again();
        let up = Instant::now();
        (pg, up)
    })
    .await;
    eprintln!(
        "PostgreSQL down for {:?} (stopped, then started again in {:?})",
        starting - down,
        up - starting
    );
    within("the load ends", load).await.expect("the load task");
    let log = log.lock().unwrap().clone();

    // Serve answered every POST, and never 200 while the server was down.
    let no_answer: Vec<&Sent> = log.iter().filter(|s| s.answer.is_err()).collect();
    assert!(
        no_answer.is_empty(),
        "serve answers every notification: {no_answer:?}\n{}",
        serve.logs()
    );
    let while_down: Vec<&Sent> = log
        .iter()
        .filter(|s| s.sent >= down && s.answered <= starting)
        .collect();
    assert!(
        while_down.len() >= 10,
        "the load went on while the server was down: {} POSTs",
        while_down.len()
    );
    for s in &while_down {
        assert_eq!(
            s.answer,
            Ok(503),
            "with the database down a notification must be answered 503, never 200: {s:?}\n{}",
            serve.logs()
        );
    }
    let after: Vec<&Sent> = log.iter().filter(|s| s.sent >= up).collect();
    let first_ok = after.iter().position(|s| s.answer == Ok(200));
    let Some(first_ok) = first_ok else {
        panic!(
            "after the server came back, notifications are acknowledged again ({} sent after)\n{}",
            after.len(),
            serve.logs()
        );
    };
    eprintln!(
        "{} POSTs while down (all 503); the first 200 came {:?} after the server was up, {} refusals before it",
        while_down.len(),
        after[first_ok].answered - up,
        first_ok
    );
    assert!(
        after[first_ok..].iter().all(|s| s.answer == Ok(200)),
        "once the server is back every notification is acknowledged: {:?}",
        after[first_ok..]
            .iter()
            .filter(|s| s.answer != Ok(200))
            .collect::<Vec<_>>()
    );
    assert!(
        after.len() - first_ok >= 50,
        "enough load after the restart"
    );

    // What got 200 is confirmed: a confirmed row for every acknowledgement.
    let mut acks: HashMap<String, usize> = HashMap::new();
    for s in log.iter().filter(|s| s.answer == Ok(200)) {
        *acks.entry(jobs[s.job].reference.clone()).or_default() += 1;
    }
    let acked_jobs: Vec<JobSnapshot> = jobs
        .iter()
        .filter(|j| acks.contains_key(&j.reference))
        .cloned()
        .collect();
    eventually(
        "every acknowledged notification confirmed",
        Duration::from_secs(60),
        || all_paid_and_confirmed(&store, &acked_jobs, &acks),
    )
    .await;

    // The gateway sends the refused ones again: acknowledged and confirmed now.
    let refused: HashSet<usize> = log
        .iter()
        .filter(|s| s.answer != Ok(200))
        .map(|s| s.job)
        .filter(|i| !acks.contains_key(&jobs[*i].reference))
        .collect();
    let http = http();
    for &i in &refused {
        let answer = post(&http, &serve.webhook_url(), i, &jobs[i]).await;
        acknowledged(&answer, &jobs[i]).unwrap_or_else(|why| panic!("the retry: {why}"));
    }
    eventually("every order confirmed", Duration::from_secs(60), || {
        all_paid_and_confirmed(&store, &jobs, &acks)
    })
    .await;
    eprintln!(
        "{} acknowledged under load, {} sent again after refusals; all Paid",
        acks.values().sum::<usize>(),
        refused.len()
    );
    drop(serve);
    drop(pg);
    sim.shutdown().await;
}

/// The environment of a serve whose clock runs `offset` ahead (libfaketime, preloaded:
/// `date`, `SystemTime` and tokio's wall clock all see it; the monotonic clock stays real,
/// so timers and timeouts keep their length), logging each confirmation it starts.
fn skewed_env(base: &Env, offset: &str) -> Env {
    let mut env = base.clone();
    env.extra_env.extend([
        ("LD_PRELOAD".to_owned(), FAKETIME_LIB.to_owned()),
        ("FAKETIME".to_owned(), offset.to_owned()),
        ("FAKETIME_DONT_FAKE_MONOTONIC".to_owned(), "1".to_owned()),
        ("FAKETIME_DONT_RESET".to_owned(), "1".to_owned()),
    ]);
    env
}

const FAKETIME_LIB: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/// Logs every confirmation a serve starts (`confirming job=… payment=…`), so a test can
/// tell which process asked the gateway about which payment.
fn logging_confirmations(mut env: Env) -> Env {
    env.log = "info,tillwatch_core::pipeline::confirm=debug".into();
    env
}

/// How many confirmations of `job` a serve started, by its log.
fn confirmations(stderr: &str, job: &str) -> usize {
    let needle = format!(" job={job} ");
    stderr
        .lines()
        .filter(|l| l.contains("confirming") && l.contains(&needle))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_serves_five_minutes_apart_confirm_each_notification_once() {
    const N: usize = 60;
    assert!(
        std::path::Path::new(FAKETIME_LIB).exists(),
        "{FAKETIME_LIB} is missing: run scripts/setup.sh (Debian package faketime)"
    );
    let pg = blocking(TestPostgres::start).await;
    let sim = start_sim(quick_sim()).await;
    let (dir_a, dir_b) = (TempDir::new("skew-a"), TempDir::new("skew-b"));
    let env_a = logging_confirmations(shared_env(&sim, dir_a.path(), &pg));
    let env_b = skewed_env(
        &logging_confirmations(shared_env(&sim, dir_b.path(), &pg)),
        "+5m",
    );
    let a = Serve::start_with(&env_a, 300, &serve_args("120")).await;
    let b = Serve::start_with(&env_b, 300, &serve_args("120")).await;
    let store = open_store(&pg).await;
    let jobs = Arc::new(paid_jobs(&sim, "SKEW", N).await);

    // A gateway that takes a moment to answer: each serve holds what it claimed for a
    // while, which is when a wrong reading of another's lease takes it over.
    sim.set_fault(
        FaultTarget::AnyApi,
        Fault::Delay {
            delay: Duration::from_millis(150),
        },
    );
    let payments_before = sim.api_request_count(Endpoint::RetrievePayment);
    let jobs_before = sim.api_request_count(Endpoint::RetrieveJob);

    let webhooks = Arc::new([a.webhook_url(), b.webhook_url()]);
    let http = http();
    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut posts = JoinSet::new();
    for i in 0..N {
        let (http, jobs, webhooks, in_flight) = (
            http.clone(),
            Arc::clone(&jobs),
            Arc::clone(&webhooks),
            Arc::clone(&in_flight),
        );
        posts.spawn(async move {
            let _permit = in_flight.acquire_owned().await.expect("the semaphore");
            sent_until_acknowledged(&http, &webhooks[i % 2], i, &jobs[i]).await
        });
    }
    while let Some(done) = posts.join_next().await {
        done.expect("a POST task").unwrap_or_else(|why| {
            panic!(
                "acknowledged: {why}\n--- A\n{}\n--- B\n{}",
                a.logs(),
                b.logs()
            )
        });
    }

    let min_rows = HashMap::new();
    eventually(
        "every order Paid and every delivery confirmed",
        Duration::from_secs(120),
        || all_paid_and_confirmed(&store, &jobs, &min_rows),
    )
    .await;
    sim.clear_faults();

    // B's clock really is ahead: it stamps what it receives with its own time.
    let received = |i: usize| {
        let store = store.clone();
        let jr = JobRef::parse(&jobs[i].reference).unwrap();
        async move {
            let d = store.order(&jr).await.unwrap().expect("an order");
            d.deliveries[0].received_at
        }
    };
    let skew = received(1).await.since(received(0).await);
    assert!(
        skew > Duration::from_secs(240),
        "B (under faketime +5m) stamps its receipts minutes ahead of A: {skew:?}"
    );

    // The alert lines and the log come a moment after the commit.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (err_a, err_b) = (a.stderr(), b.stderr());
    let mut by_a = 0;
    let mut by_b = 0;
    let mut twice = Vec::new();
    for job in jobs.iter() {
        let (na, nb) = (
            confirmations(&err_a, &job.reference),
            confirmations(&err_b, &job.reference),
        );
        by_a += na;
        by_b += nb;
        if na + nb != 1 {
            twice.push(format!("{}: A {na}, B {nb}", job.reference));
        }
    }
    let payment_reads = sim.api_request_count(Endpoint::RetrievePayment) - payments_before;
    let job_reads = sim.api_request_count(Endpoint::RetrieveJob) - jobs_before;
    eprintln!(
        "{N} notifications: A confirmed {by_a}, B (5 min ahead) {by_b}; the gateway saw \
         {payment_reads} payment reads and {job_reads} job reads ({} duplicated pairs)",
        payment_reads.saturating_sub(N as u64)
    );
    assert!(
        twice.is_empty(),
        "each notification is confirmed by exactly one serve; {} were not: {:?}",
        twice.len(),
        &twice[..twice.len().min(10)]
    );
    assert_eq!(
        (payment_reads, job_reads),
        (N as u64, N as u64),
        "one payment read and one job read per notification"
    );
    drop((a, b));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_confirmation_slower_than_the_lease_keeps_its_deliveries_from_another_serve() {
    const N: usize = 3;
    // Answers this slow make one confirmation (a payment read, then a job read) last 16 s,
    // eight leases: the holder must renew while it waits, whatever it reads.
    const GATEWAY_DELAY: Duration = Duration::from_secs(8);
    let pg = blocking(TestPostgres::start).await;
    let sim = start_sim(quick_sim()).await;
    let (dir_a, dir_b) = (TempDir::new("renew-a"), TempDir::new("renew-b"));
    let a = Serve::start_with(
        &logging_confirmations(shared_env(&sim, dir_a.path(), &pg)),
        300,
        &serve_args("2"),
    )
    .await;
    let b = Serve::start_with(
        &logging_confirmations(shared_env(&sim, dir_b.path(), &pg)),
        300,
        &serve_args("2"),
    )
    .await;
    let store = open_store(&pg).await;
    let jobs = paid_jobs(&sim, "SLOWGW", N).await;

    sim.set_fault(
        FaultTarget::AnyApi,
        Fault::Delay {
            delay: GATEWAY_DELAY,
        },
    );
    let payments_before = sim.api_request_count(Endpoint::RetrievePayment);
    let jobs_before = sim.api_request_count(Endpoint::RetrieveJob);
    let http = http();
    for (i, job) in jobs.iter().enumerate() {
        acknowledged(&post(&http, &a.webhook_url(), i, job).await, job)
            .unwrap_or_else(|why| panic!("A acknowledges: {why}\n{}", a.logs()));
    }
    let min_rows = HashMap::new();
    eventually(
        "every order Paid and every delivery confirmed",
        Duration::from_secs(90),
        || all_paid_and_confirmed(&store, &jobs, &min_rows),
    )
    .await;
    sim.clear_faults();
    tokio::time::sleep(Duration::from_millis(500)).await;

    let (err_a, err_b) = (a.stderr(), b.stderr());
    let by_a: usize = jobs
        .iter()
        .map(|j| confirmations(&err_a, &j.reference))
        .sum();
    let by_b: usize = jobs
        .iter()
        .map(|j| confirmations(&err_b, &j.reference))
        .sum();
    let payment_reads = sim.api_request_count(Endpoint::RetrievePayment) - payments_before;
    let job_reads = sim.api_request_count(Endpoint::RetrieveJob) - jobs_before;
    eprintln!(
        "{N} notifications to A (lease 2 s, gateway {GATEWAY_DELAY:?} per answer): A started \
         {by_a} confirmations, B {by_b}; {payment_reads} payment reads, {job_reads} job reads"
    );
    assert_eq!(
        by_b,
        0,
        "B never takes what A holds and renews\n--- B\n{}",
        b.logs()
    );
    assert_eq!(by_a, N, "A confirms each once");
    assert_eq!(
        (payment_reads, job_reads),
        (N as u64, N as u64),
        "one payment read and one job read per notification"
    );
    drop((a, b));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_path_gone_silent_gets_503s_and_the_serve_recovers_by_itself() {
    const N: usize = 20;
    /// The listener's own limit on a request (ServeLimits::body_timeout): a 503 must come
    /// before it, or the gateway sees a 408 from a request the store still holds.
    const LISTENER_LIMIT: Duration = Duration::from_secs(10);
    /// How soon after the path is back the serve must confirm again, by itself.
    const RECOVERY: Duration = Duration::from_secs(30);
    let pg = blocking(TestPostgres::start).await;
    let proxy = SilentProxy::start(pg.port()).await;
    let sim = start_sim(quick_sim()).await;
    let dir = TempDir::new("silent-path");
    let mut env = shared_env(&sim, dir.path(), &pg);
    env.extra_env[0].1 = format!(
        "postgres://{USER}@127.0.0.1:{}/{USER}?sslmode=disable",
        proxy.port
    );
    let serve = Serve::start_with(&env, 300, &serve_args("120")).await;
    let store = open_store(&pg).await;
    let jobs = paid_jobs(&sim, "SILENT", N).await;
    let http = http();
    let webhook = serve.webhook_url();
    let no_rows = HashMap::new();

    for (i, job) in jobs.iter().enumerate().take(5) {
        acknowledged(&post(&http, &webhook, i, job).await, job)
            .unwrap_or_else(|why| panic!("acknowledged through the proxy: {why}"));
    }
    eventually("the first five confirmed", DEADLINE, || {
        all_paid_and_confirmed(&store, &jobs[..5], &no_rows)
    })
    .await;

    // The path goes silent: every connection serve holds (listener's, worker's) hangs.
    proxy.drop_path();
    let mut slowest = Duration::ZERO;
    for (i, job) in jobs.iter().enumerate().take(10).skip(5) {
        let sent = Instant::now();
        let answer = post(&http, &webhook, i, job).await;
        slowest = slowest.max(sent.elapsed());
        assert!(
            matches!(answer, Ok((503, _))),
            "with the database out of reach, notification {i} is answered 503 (the gateway \
             sends it again): {answer:?}\n{}",
            serve.logs()
        );
    }
    assert!(
        slowest < LISTENER_LIMIT,
        "each 503 comes within the listener's limit, not as its timeout: {slowest:?}"
    );

    // The path is back for new connections; the hung ones stay hung.
    proxy.restore();
    let restored = Instant::now();
    let mut first_ack = None;
    while restored.elapsed() < RECOVERY {
        let answer = post(&http, &webhook, 10, &jobs[10]).await;
        if acknowledged(&answer, &jobs[10]).is_ok() {
            first_ack = Some(restored.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let first_ack = first_ack.unwrap_or_else(|| {
        panic!(
            "no notification acknowledged within {RECOVERY:?} of the path's return\n{}",
            serve.logs()
        )
    });
    eventually(
        "the first notification after the return confirmed",
        RECOVERY.saturating_sub(restored.elapsed()),
        || all_paid_and_confirmed(&store, &jobs[10..11], &no_rows),
    )
    .await;
    let first_confirmed = restored.elapsed();
    eprintln!(
        "silent path: slowest 503 {slowest:?}; after the return, first 200 in {first_ack:?}, \
         first confirmation in {first_confirmed:?}"
    );

    // The gateway sends the refused ones again, and the rest arrive: all confirmed.
    for (i, job) in jobs.iter().enumerate().skip(5) {
        acknowledged(&post(&http, &webhook, i, job).await, job)
            .unwrap_or_else(|why| panic!("acknowledged after the return: {why}"));
    }
    eventually("every order confirmed", Duration::from_secs(60), || {
        all_paid_and_confirmed(&store, &jobs, &no_rows)
    })
    .await;
    drop(serve);
    drop(proxy);
    sim.shutdown().await;
}

/// A real `serve` on the shared database keeps its row in the record of machines (what a
/// window names as taking the notifications): there as soon as it serves, and carrying the
/// time of its confirmation, by the database's clock, once it confirmed a notification.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_serve_on_the_shared_database_records_its_last_confirmation() {
    use tillwatch_store_postgres::Role;

    let pg = blocking(TestPostgres::start).await;
    let sim = start_sim(quick_sim()).await;
    let dir = TempDir::new("shared-machines");
    let serve =
        Serve::start_with(&shared_env(&sim, dir.path(), &pg), 300, &serve_args("120")).await;
    let store = open_store(&pg).await;
    let Backend::Postgres(pg_store) = &store else {
        panic!("the shared database is PostgreSQL");
    };
    let serves = || async {
        let seen = pg_store.machines().await.map_err(|e| e.to_string())?;
        Ok::<_, String>(
            seen.into_iter()
                .filter(|m| m.role == Role::Serve)
                .collect::<Vec<_>>(),
        )
    };
    eventually("the serve's row", DEADLINE, || async {
        match serves().await?.as_slice() {
            [one] if one.is_alive() && one.last_confirmed_at.is_none() => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;

    let jobs = paid_jobs(&sim, "MACHINE", 1).await;
    let answer = post(&http(), &serve.webhook_url(), 0, &jobs[0]).await;
    acknowledged(&answer, &jobs[0]).unwrap();
    eventually("its confirmation recorded", DEADLINE, || async {
        match serves().await?.as_slice() {
            [one] if one.is_alive() && one.last_confirmed_at.is_some() => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let confirmed = serves().await.unwrap()[0].last_confirmed_at.unwrap();
    let detail = store
        .order(&JobRef::parse(&jobs[0].reference).unwrap())
        .await
        .unwrap()
        .expect("the confirmed order");
    assert_eq!(detail.summary.status.as_str(), "Paid");
    // No later than the database's clock now, and not before the notification arrived.
    let now: time::OffsetDateTime = pg_store
        .pool()
        .get()
        .await
        .unwrap()
        .query_one("SELECT now()", &[])
        .await
        .unwrap()
        .get(0);
    assert!(confirmed <= now, "{confirmed} <= {now}");
    assert!(
        now - confirmed < time::Duration::minutes(1),
        "{confirmed} vs {now}"
    );
    drop(serve);
    sim.shutdown().await;
}
