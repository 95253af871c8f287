//! A 200 is a promise: whatever serve acknowledged survives a SIGKILL at any point of the
//! confirmation path and ends confirmed after a restart.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tillwatch::sim::{Endpoint, Fault, FaultTarget, Script, SeriesState, SimConfig};

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acked_but_unconfirmed_notification_is_confirmed_after_sigkill() {
    // (a) acknowledged, the worker stuck asking for the payment.
    crash_while_gateway_hangs(
        "hang-payment",
        FaultTarget::RetrievePayment,
        Endpoint::RetrievePayment,
    )
    .await;
    // (b) the payment fetched, the worker stuck asking for the job.
    crash_while_gateway_hangs("hang-job", FaultTarget::RetrieveJob, Endpoint::RetrieveJob).await;
    // (c) killed at an arbitrary moment of a burst of 20, confirmations slowed down.
    crash_mid_burst().await;
}

async fn crash_while_gateway_hangs(label: &str, target: FaultTarget, stuck_on: Endpoint) {
    eprintln!("[{label}] starting");
    let tmp = TempDir::new(label);
    let sim = start_sim(sim_config("sim-api-key")).await;
    let env = Env::for_sim(&sim, tmp.path());
    let db = env.db();
    let mut serve = Serve::start(&env, 1).await;

    sim.set_fault(target, Fault::Hang);
    let job = new_job(
        &sim,
        &format!("CRASH-{label}"),
        "crash@example.com",
        "12.50",
        Some(serve.webhook_url()),
    );
    let jr = job.reference.clone();
    within(
        "the shopper pays",
        sim.play_and_wait(&jr, Script::PaysAtOnce),
    )
    .await
    .expect("the shopper pays");

    sim_wait(&sim, "serve acknowledges the notification", |h| {
        h.deliveries()
            .iter()
            .any(|d| d.job_ref == jr && d.acknowledged)
    })
    .await;
    // The confirm worker has reached the hung request: this is the crash point.
    sim_wait(&sim, "the confirm worker reaches the hung request", |h| {
        h.api_request_count(stuck_on) >= 1
    })
    .await;
    if stuck_on == Endpoint::RetrieveJob {
        assert!(
            sim.api_request_count(Endpoint::RetrievePayment) >= 1,
            "the payment was fetched before the job"
        );
    }
    poll_until("the delivery row, pending", DEADLINE, || {
        let rows = db.deliveries(&jr)?;
        if rows.iter().any(|r| r.1 == "pending") {
            Ok(())
        } else {
            Err(format!("deliveries {rows:?}"))
        }
    })
    .await;
    assert_ne!(
        db.order_status(&jr).unwrap().as_deref(),
        Some("Paid"),
        "[{label}] nothing may be believed before the gateway answers"
    );

    serve.kill();
    let rows = db.deliveries(&jr).unwrap();
    assert!(
        !rows.is_empty() && rows.iter().all(|r| r.1 == "pending" && r.2 == 200),
        "[{label}] after SIGKILL the acknowledged delivery is still in the inbox, pending: {rows:?}"
    );
    sim.clear_faults();

    serve.restart().await;
    poll_until(
        &format!("[{label}] order {jr} Paid after the restart"),
        DEADLINE,
        || db.paid_and_settled(&jr),
    )
    .await;

    // Nothing lost: a row for every acknowledgement, every row confirmed.
    let acked = acked_per_job(&sim).get(&jr).copied().unwrap_or(0);
    let rows = db.deliveries(&jr).unwrap();
    assert!(acked >= 1);
    assert!(
        rows.len() >= acked,
        "[{label}] {acked} acknowledged, {} stored: {rows:?}",
        rows.len()
    );
    assert!(
        rows.iter().all(|r| r.1 == "confirmed"),
        "[{label}] every delivery settles as confirmed: {rows:?}"
    );

    let out = cli(&env, &["lookup", &jr, "--json"]).await;
    let found = out.json();
    assert_eq!(found.as_array().map(Vec::len), Some(1), "{out}");
    let order = &found[0];
    assert_eq!(order["paymentJobReference"], jr.as_str(), "{out}");
    assert_eq!(order["status"], "Paid", "{out}");
    let deliveries = order["deliveries"].as_array().expect("deliveries");
    assert_eq!(deliveries.len(), rows.len(), "{out}");
    assert!(
        deliveries.iter().all(|d| d["outcome"].is_string()),
        "every delivery has an outcome: {out}"
    );
    drop(serve);
    sim.shutdown().await;
    eprintln!(
        "[{label}] ok: {acked} acknowledged, {} stored, Paid",
        rows.len()
    );
}

const BURST: usize = 20;

async fn crash_mid_burst() {
    let label = "burst";
    eprintln!("[{label}] starting");
    let tmp = TempDir::new(label);
    // A sim minute lasts 0.6 ms and a day 0.86 s: the gateway's fast retries are spent
    // while serve is down, the daily ones reach the restarted serve.
    let config = SimConfig {
        clock_scale: 1e5,
        step_gap: Duration::from_secs(2),
        ..sim_config("sim-api-key")
    };
    let sim = start_sim(config).await;
    let env = Env::for_sim(&sim, tmp.path());
    let db = env.db();
    let mut serve = Serve::start(&env, 1).await;

    // Slow confirmations, so acknowledged deliveries pile up in the inbox.
    sim.set_fault(
        FaultTarget::AnyApi,
        Fault::Delay {
            delay: Duration::from_millis(200),
        },
    );
    let kill_after = fastrand::usize(3..=15);
    eprintln!("[{label}] SIGKILL after {kill_after} acknowledgements");

    let webhook = serve.webhook_url();
    let shop = sim.clone();
    let burst = tokio::spawn(async move {
        let mut refs = Vec::new();
        for i in 0..BURST {
            let job = new_job(
                &shop,
                &format!("BURST-{i:02}"),
                &format!("burst{i:02}@example.com"),
                "5.00",
                Some(webhook.clone()),
            );
            shop.play(&job.reference, Script::PaysAtOnce);
            refs.push(job.reference);
            // Pacing the shoppers, not waiting for anything.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        refs
    });

    sim_wait(&sim, "acknowledgements before the kill", |h| {
        h.deliveries().iter().filter(|d| d.acknowledged).count() >= kill_after
    })
    .await;
    serve.kill();

    // With serve dead nothing more can be acknowledged: this is the set it promised.
    let acked_at_kill: HashSet<(String, String)> = sim
        .deliveries()
        .into_iter()
        .filter(|d| d.acknowledged)
        .map(|d| (d.job_ref, d.payment_ref))
        .collect();
    for (job, payment) in &acked_at_kill {
        let rows = db.deliveries(job).unwrap();
        assert!(
            rows.iter().any(|r| &r.0 == payment),
            "[{label}] {job}/{payment} was acknowledged but has no row in the inbox: {rows:?}"
        );
    }
    let pending_at_kill = db
        .count("SELECT count(*) FROM deliveries WHERE state = 'pending'")
        .unwrap();
    let refs = within("the burst of shoppers", burst)
        .await
        .expect("the burst task");
    assert!(
        acked_at_kill.len() < BURST,
        "[{label}] the kill came mid-burst"
    );
    eprintln!(
        "[{label}] killed with {} of {BURST} acknowledged, {pending_at_kill} deliveries pending in the inbox",
        acked_at_kill.len()
    );

    serve.restart().await;

    let ours: HashSet<String> = refs.iter().cloned().collect();
    sim_wait(&sim, "every series acknowledged after the restart", |h| {
        let series: Vec<_> = h
            .series()
            .into_iter()
            .filter(|s| ours.contains(&s.job_ref))
            .collect();
        series.len() >= BURST && series.iter().all(|s| s.state == SeriesState::Acknowledged)
    })
    .await;
    poll_until(
        &format!("[{label}] all {BURST} orders Paid"),
        DEADLINE,
        || {
            let not_yet: Vec<String> = refs
                .iter()
                .filter_map(|j| db.paid_and_settled(j).err())
                .collect();
            if not_yet.is_empty() {
                Ok(())
            } else {
                Err(not_yet.join("; "))
            }
        },
    )
    .await;

    // Nothing lost: for every job, a stored row per acknowledgement, all confirmed.
    let acked: HashMap<String, usize> = acked_per_job(&sim);
    for job in &refs {
        let rows = db.deliveries(job).unwrap();
        let n = acked.get(job).copied().unwrap_or(0);
        assert!(n >= 1, "[{label}] {job} was acknowledged in the end");
        assert!(
            rows.len() >= n,
            "[{label}] {job}: {n} acknowledged, {} stored",
            rows.len()
        );
        assert!(
            rows.iter().all(|r| r.1 == "confirmed"),
            "[{label}] {job}: {rows:?}"
        );
    }
    let paid = cli(&env, &["orders", "--status", "Paid", "--json"])
        .await
        .json();
    assert_eq!(
        paid.as_array().map(Vec::len),
        Some(BURST),
        "[{label}] orders --status Paid lists the whole burst"
    );
    drop(serve);
    sim.shutdown().await;
    eprintln!("[{label}] ok");
}
