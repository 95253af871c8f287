//! One owner per SQLite file: a second `serve` on the same data folder is refused with a
//! sentence naming the first, the read commands (and the owner's own writes) work beside
//! it, and a SIGKILLed owner lets the next one in at once.

use std::process::Stdio;
use std::time::Instant;

use tillwatch::sim::Script;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_second_serve_on_the_same_data_folder_is_refused_naming_the_first() {
    let tmp = TempDir::new("owner");
    let sim = start_sim(sim_config("sim-api-key")).await;
    let env = Env::for_sim(&sim, tmp.path());
    let db = env.db();
    let mut first = Serve::start(&env, 1).await;
    let first_pid = first.pid().expect("the first serve runs");

    let job = new_job(
        &sim,
        "OWNER-1",
        "owner@example.com",
        "12.50",
        Some(first.webhook_url()),
    );
    within(
        "the shopper pays",
        sim.play_and_wait(&job.reference, Script::PaysAtOnce),
    )
    .await
    .expect("the shopper pays");
    poll_until("the order confirmed", DEADLINE, || {
        db.paid_and_settled(&job.reference)
    })
    .await;

    let second = second_serve(&env).await;
    assert!(!second.ok(), "the second serve was refused: {second}");
    assert!(
        second
            .stderr
            .contains(&format!("in use by tillwatch serve (pid {first_pid},")),
        "the refusal names the serve holding the file: {second}"
    );
    assert!(
        second.stderr.contains("stop it first"),
        "the refusal says what to do: {second}"
    );
    assert!(
        !second.stdout.contains("listening on"),
        "the second serve never listened: {second}"
    );
    assert!(
        first.is_running(),
        "the first serve is untouched\n{}",
        first.logs()
    );

    // The read commands work beside the owner.
    let found = cli(&env, &["lookup", &job.reference, "--json"])
        .await
        .json();
    assert_eq!(found[0]["status"], "Paid", "{found}");
    let orders = cli(&env, &["orders", "--json"]).await.json();
    assert_eq!(orders.as_array().map(Vec::len), Some(1), "{orders}");
    let out = cli(&env, &["deliveries", "--dead"]).await;
    assert!(out.ok(), "{out}");
    let out = cli(&env, &["export", "--csv"]).await;
    assert!(out.ok() && out.stdout.contains("OWNER-1"), "{out}");
    // So do the owner's own writes: they go through SQLite's one-writer lock (WAL), and
    // the serving process's next read sees them.
    let shipped = cli(&env, &["ship", "OWNER-1", "--json"]).await.json();
    assert_eq!(shipped["shipped"], true, "{shipped}");

    // A killed owner holds nothing: the OS let go of its lock with the process.
    first.kill();
    let started = Instant::now();
    let mut next = Serve::start(&env, 1).await;
    eprintln!(
        "a new serve listened {:?} after the SIGKILL",
        started.elapsed()
    );
    let job = new_job(
        &sim,
        "OWNER-2",
        "owner2@example.com",
        "7.00",
        Some(next.webhook_url()),
    );
    within(
        "the shopper pays",
        sim.play_and_wait(&job.reference, Script::PaysAtOnce),
    )
    .await
    .expect("the shopper pays");
    poll_until("the new owner confirms", DEADLINE, || {
        db.paid_and_settled(&job.reference)
    })
    .await;
    assert!(next.is_running(), "{}", next.logs());
    drop(next);
    sim.shutdown().await;
}

/// A second `serve` on the same folder, on a port of its own. Old builds started it, so it
/// is stopped (and the test fails) if it has not exited by the deadline.
async fn second_serve(env: &Env) -> Output {
    let mut c = env.command();
    c.args(["serve", "--listen", "127.0.0.1:0", "--reconcile-every", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn the second serve");
    let started = Instant::now();
    while matches!(child.try_wait(), Ok(None)) && started.elapsed() < DEADLINE {
        tokio::time::sleep(POLL).await;
    }
    let _ = child.kill();
    let out = blocking(move || child.wait_with_output().expect("the second serve's output")).await;
    Output {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
