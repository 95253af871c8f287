//! Real storage failures under a running serve: a full disk, a disk the kernel turned
//! read-only. A notification that cannot be stored must never be acknowledged (200); it
//! is answered 503 so the gateway sends it again, and serve keeps serving.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use tillwatch::sim::{JobSnapshot, Script, SimHandle};

use crate::harness::*;

/// Why a storage test could not run. Outside CI it says so loudly and the test returns
/// early; under `CI=true` (where we are root and these tests must run) it fails the test,
/// so a broken precondition cannot pass as green.
fn not_run(test: &str, why: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test} must run in CI (CI=true) but cannot: {why}");
    }
    eprintln!("NOT RUN: {test}: {why}; returning early");
}

/// Root and a working mount, or `None` after saying loudly why the test did not run.
fn privileged(test: &str, mount: impl FnOnce() -> Result<Mount, String>) -> Option<Mount> {
    if !is_root() {
        not_run(test, "needs root to mount a filesystem");
        return None;
    }
    match mount() {
        Ok(m) => Some(m),
        Err(why) => {
            not_run(test, &format!("could not mount its filesystem ({why})"));
            None
        }
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client")
}

/// POSTs the gateway's notification for `job` to serve; the answer's status and body.
async fn deliver(http: &reqwest::Client, serve: &Serve, job: &JobSnapshot) -> (u16, Value) {
    let answer = http
        .post(serve.webhook_url())
        .json(&notification(&job.reference, &job.payment_reference))
        .send()
        .await
        .unwrap_or_else(|e| panic!("serve did not answer a notification: {e}"));
    let status = answer.status().as_u16();
    let body = answer.json().await.unwrap_or(Value::Null);
    (status, body)
}

fn assert_acknowledged(status: u16, body: &Value, job: &JobSnapshot) {
    assert_eq!(status, 200, "acknowledged: {body}");
    assert_eq!(body["paymentJobReference"], job.reference.as_str());
    assert_eq!(body["paymentReference"], job.payment_reference.as_str());
}

/// Paid jobs whose notifications the test delivers by hand (the sim has no webhook URL
/// for them, so it sends nothing itself).
async fn paid_jobs(sim: &SimHandle, prefix: &str, n: usize) -> Vec<JobSnapshot> {
    let mut jobs = Vec::new();
    for i in 0..n {
        let job = new_job(
            sim,
            &format!("{prefix}-{i}"),
            &format!("{prefix}{i}@example.com"),
            "7.00",
            None,
        );
        within(
            "a shopper pays",
            sim.play_and_wait(&job.reference, Script::PaysAtOnce),
        )
        .await
        .expect("the shopper pays");
        jobs.push(job);
    }
    jobs
}

/// Writes until the filesystem refuses with ENOSPC, in smaller and smaller pieces so
/// not a byte is left. Returns how much was written.
fn fill(path: &Path) -> u64 {
    let mut f = std::fs::File::create(path).expect("create the filler");
    let mut total = 0u64;
    for size in [256 * 1024, 4096, 64, 1] {
        let buf = vec![0xA5u8; size];
        loop {
            match f.write(&buf) {
                Ok(0) => break,
                Ok(n) => total += n as u64,
                Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
                Err(e) => panic!("filling the disk failed otherwise: {e}"),
            }
        }
    }
    total
}

async fn wait_paid(db: &Db, jobs: &[JobSnapshot]) {
    poll_until(
        "the orders Paid and their deliveries confirmed",
        DEADLINE,
        || {
            let not_yet: Vec<String> = jobs
                .iter()
                .filter_map(|j| db.paid_and_settled(&j.reference).err())
                .collect();
            if not_yet.is_empty() {
                Ok(())
            } else {
                Err(not_yet.join("; "))
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn full_disk_answers_503_never_200() {
    let name = "full_disk_answers_503_never_200";
    let Some(mount) = privileged(name, || Mount::tmpfs("full", "2m")) else {
        return;
    };
    let sim = start_sim(sim_config("sim-api-key")).await;
    let env = Env::for_sim(&sim, &mount.dir);
    let db = env.db();
    let mut serve = Serve::start(&env, 1).await;
    let http = http();
    let jobs = paid_jobs(&sim, "FULL", 6).await;

    // With room on the disk, a notification is stored and confirmed.
    let (status, body) = deliver(&http, &serve, &jobs[0]).await;
    assert_acknowledged(status, &body, &jobs[0]);
    wait_paid(&db, &jobs[..1]).await;

    let filler = mount.dir.join("filler");
    let filled = blocking({
        let filler = filler.clone();
        move || fill(&filler)
    })
    .await;
    eprintln!("filled the tmpfs with {filled} bytes");

    for round in 0..3 {
        for job in &jobs[1..5] {
            let (status, body) = deliver(&http, &serve, job).await;
            assert_eq!(
                status, 503,
                "round {round}: with the disk full a notification must be answered 503, never 200; got {status} {body}\n{}",
                serve.logs()
            );
        }
    }
    assert!(
        serve.is_running(),
        "serve survives a full disk\n{}",
        serve.logs()
    );
    assert!(
        serve.stderr().contains("store_full"),
        "the refusals come from the full disk, not from something else\n{}",
        serve.logs()
    );
    let stored = db
        .count("SELECT count(*) FROM deliveries WHERE response_status = 200")
        .unwrap();
    assert_eq!(stored, 1, "nothing was stored while the disk was full");

    std::fs::remove_file(&filler).expect("remove the filler");

    // Room again: a new notification is acknowledged and confirmed, and so are the
    // gateway's retries of the refused ones.
    let (status, body) = deliver(&http, &serve, &jobs[5]).await;
    assert_acknowledged(status, &body, &jobs[5]);
    for job in &jobs[1..5] {
        let (status, body) = deliver(&http, &serve, job).await;
        assert_acknowledged(status, &body, job);
    }
    wait_paid(&db, &jobs).await;
    assert!(serve.is_running());
    drop(serve);
    sim.shutdown().await;
}

/// `mount -o remount,ro` cannot be used here: Linux refuses it (EBUSY) while any file on
/// the filesystem is open for writing, and SQLite keeps the database, its WAL and its
/// shared-memory file open read-write. So the disk turns read-only the way real ones do:
/// ext4 mounted `errors=remount-ro` meets an error (the kernel's own `trigger_fs_error`
/// switch) and the kernel flips it read-only under the open files; writes then fail
/// with EROFS.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn read_only_database_answers_503_never_200() {
    let name = "read_only_database_answers_503_never_200";
    let Some(mut mount) = privileged(name, || Mount::ext4("ro", 16)) else {
        return;
    };
    let trigger = match mount.device_name() {
        Ok(dev) => format!("/sys/fs/ext4/{dev}/trigger_fs_error"),
        Err(why) => {
            not_run(name, &format!("cannot name the ext4 device ({why})"));
            return;
        }
    };
    if !Path::new(&trigger).exists() {
        not_run(name, &format!("this kernel has no {trigger}"));
        return;
    }
    let sim = start_sim(sim_config("sim-api-key")).await;
    let env = Env::for_sim(&sim, &mount.dir);
    let db = env.db();
    let mut serve = Serve::start(&env, 1).await;
    let http = http();
    let jobs = paid_jobs(&sim, "RO", 6).await;

    let (status, body) = deliver(&http, &serve, &jobs[0]).await;
    assert_acknowledged(status, &body, &jobs[0]);
    wait_paid(&db, &jobs[..1]).await;

    std::fs::write(&trigger, "tillwatch test: the disk turns read-only")
        .expect("trigger an ext4 error");
    let probe = std::fs::write(mount.dir.join("probe"), b"x");
    assert_eq!(
        probe.as_ref().map_err(|e| e.raw_os_error()),
        Err(Some(30)),
        "the filesystem is read-only now (EROFS); mount options: {}",
        mount.options()
    );

    for round in 0..3 {
        for job in &jobs[1..5] {
            let (status, body) = deliver(&http, &serve, job).await;
            assert_eq!(
                status, 503,
                "round {round}: with the database read-only a notification must be answered 503, never 200; got {status} {body}\n{}",
                serve.logs()
            );
        }
    }
    assert!(
        serve.is_running(),
        "serve survives a read-only disk\n{}",
        serve.logs()
    );
    assert!(
        serve.stderr().contains("store_read_only"),
        "the refusal is named for what it is (read-only), not a bare I/O error\n{}",
        serve.logs()
    );

    let dir = mount.dir.to_string_lossy().into_owned();
    match system("mount", &["-o", "remount,rw", &dir]) {
        Ok(()) => eprintln!("{name}: remounted read-write in place; serve keeps running"),
        Err(why) => {
            // Linux keeps an ext4 that hit an error with errors=remount-ro read-only
            // (`emergency_ro`) until it is unmounted, whatever remount asks.
            eprintln!(
                "{name}: the kernel keeps the errored filesystem read-only ({why}); \
                 recovering as an owner would: stop serve, e2fsck, mount again, restart serve"
            );
            serve.kill();
            mount
                .fsck_and_remount_ext4()
                .expect("check and mount the disk again");
            serve.restart().await;
        }
    }

    let (status, body) = deliver(&http, &serve, &jobs[5]).await;
    assert_acknowledged(status, &body, &jobs[5]);
    for job in &jobs[1..5] {
        let (status, body) = deliver(&http, &serve, job).await;
        assert_acknowledged(status, &body, job);
    }
    wait_paid(&db, &jobs).await;
    assert!(serve.is_running());
    drop(serve);
    sim.shutdown().await;
}
