//! Several `serve` processes on one PostgreSQL database: the work shared between them, one
//! alert per change whoever confirmed it, a SIGKILLed serve's deliveries taken over by
//! another once its lease ran out, and the server stopped and started again under load.
//! Real processes, a real server (tests/common/postgres.rs), the simulator in this process.
//!
//! The notifications are POSTed by the test (the simulator's jobs have no webhook URL), so
//! it knows exactly what was acknowledged. Each job's notification comes from its own
//! address, forwarded by a proxy serve trusts (`--trusted-proxy 127.0.0.1`): the per-source
//! rate limit (20/s) is far above one gateway's traffic and would otherwise turn a
//! thousand-notification test into a test of the limiter.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tillwatch::domain::{DeliveryState, JobRef};
use tillwatch::sim::{Endpoint, Fault, FaultTarget, JobSnapshot, Script, SimConfig, SimHandle};
use tillwatch::store::Store;
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
        if i % 10 == 0 {
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
        .map(|(i, j)| (j.reference.clone(), if i % 10 == 0 { 2 } else { 1 }))
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
