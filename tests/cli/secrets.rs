//! The API key comes from the environment and goes only into request signatures: never
//! onto serve's output (even at debug level, even on gateway errors), never into the
//! database file or its WAL.

use tillwatch::sim::{Endpoint, Fault, FaultTarget, Script, SeriesState};

use crate::harness::*;

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn api_key_never_appears_in_output_or_database() {
    let key = format!(
        "tw-secret-{:016x}{:016x}",
        fastrand::u64(..),
        fastrand::u64(..)
    );
    let tmp = TempDir::new("secret");
    let sim = start_sim(sim_config(&key)).await;
    let mut env = Env::for_sim(&sim, tmp.path());
    env.log = "debug".into();
    assert_eq!(env.api_key, key);
    let db = env.db();
    let mut serve = Serve::start(&env, 1).await;
    let hook = Some(serve.webhook_url());

    // A clean confirmation, and one through gateway errors and retries.
    let plain = new_job(&sim, "KEY-1", "key1@example.com", "3.00", hook.clone());
    let bumpy = new_job(&sim, "KEY-2", "key2@example.com", "4.00", hook.clone());
    sim.set_fault_times(
        FaultTarget::RetrievePayment,
        Fault::Status { status: 500 },
        2,
    );
    for job in [&plain, &bumpy] {
        within(
            "a shopper pays",
            sim.play_and_wait(&job.reference, Script::PaysAtOnce),
        )
        .await
        .expect("the shopper pays");
    }
    poll_until("both orders Paid", DEADLINE, || {
        db.paid_and_settled(&plain.reference)?;
        db.paid_and_settled(&bumpy.reference)
    })
    .await;

    // And a refused signature (which opens serve's breaker), the likeliest place for a
    // careless error message to quote credentials.
    sim.set_fault(FaultTarget::AnyApi, Fault::Unauthorized);
    let refused = new_job(&sim, "KEY-3", "key3@example.com", "5.00", hook);
    let before = sim.api_request_count(Endpoint::RetrievePayment);
    within(
        "a shopper pays",
        sim.play_and_wait(&refused.reference, Script::PaysAtOnce),
    )
    .await
    .expect("the shopper pays");
    sim_wait(&sim, "serve asks and is refused", |h| {
        h.api_request_count(Endpoint::RetrievePayment) > before
            && h.series()
                .iter()
                .all(|s| s.state == SeriesState::Acknowledged)
    })
    .await;
    poll_until("serve logs the refusal", DEADLINE, || {
        let err = serve.stderr();
        if err.contains(&refused.reference) {
            Ok(())
        } else {
            Err("no log line for the refused job yet".to_owned())
        }
    })
    .await;

    // The read commands get the key in their environment too.
    let mut outputs = Vec::new();
    for args in [
        &["lookup", "KEY", "--json"][..],
        &["orders", "--json"][..],
        &["export", "--csv"][..],
    ] {
        let out = cli(&env, args).await;
        assert!(out.ok(), "{args:?}: {out}");
        outputs.push(out);
    }

    serve.kill();

    let (stdout, stderr) = (serve.stdout(), serve.stderr());
    // Not vacuous: there is output to search, with the gateway and the jobs in it.
    assert!(stderr.contains(&sim.base_url()), "{}", serve.logs());
    assert!(stdout.contains(&plain.reference), "{}", serve.logs());
    assert!(!stdout.contains(&key), "the API key is on serve's stdout");
    assert!(!stderr.contains(&key), "the API key is on serve's stderr");
    for out in &outputs {
        assert!(
            !out.stdout.contains(&key) && !out.stderr.contains(&key),
            "the API key is in a read command's output"
        );
    }

    // The database as bytes, WAL included (serve was killed: nothing was checkpointed).
    let mut scanned = 0;
    let mut saw_job = false;
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let path = tmp.path().join(format!("custom.db{suffix}"));
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        scanned += 1;
        saw_job |= contains(&bytes, plain.reference.as_bytes());
        assert!(
            !contains(&bytes, key.as_bytes()),
            "the API key is stored in {}",
            path.display()
        );
    }
    assert!(scanned >= 2, "the database and its WAL were scanned");
    assert!(saw_job, "the scan sees stored data (the job reference)");
    // Nothing else in the data dir holds it either.
    for entry in std::fs::read_dir(tmp.path()).expect("the data dir") {
        let path = entry.expect("an entry").path();
        if path.is_file() {
            let bytes = std::fs::read(&path).expect("read a data file");
            assert!(
                !contains(&bytes, key.as_bytes()),
                "the API key is stored in {}",
                path.display()
            );
        }
    }
    sim.shutdown().await;
}
