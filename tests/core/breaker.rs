//! The circuit breaker: it opens only on evidence about our own credentials, and an open
//! breaker probes itself closed. A 403 about someone else's job (a forged notification)
//! counts against that notification alone.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tillwatch_core::domain::{ChangeSource, DeliveryState, JobRef, PaymentStatus};
use tillwatch_core::gateway::{BreakerState, ProbeSchedule};
use tillwatch_core::pipeline::{keep_probing, CredentialCheck};
use tillwatch_core::store::{Confirmations, Inbox};
use tillwatch_sim::{Endpoint, Fault, FaultTarget, Script, SimConfig};

use crate::harness::{
    gateway_client, start_sim, test_store, Rig, RigOptions, TestDir, TestStore, WAIT,
};

const ANOTHER_MERCHANT: &str = "another-merchant";

/// Polls until `n` deliveries are dead; they are returned.
async fn wait_dead(rig: &Rig, n: usize) -> Vec<tillwatch_core::domain::StuckDelivery> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let dead = rig
            .store()
            .deliveries_in(DeliveryState::Dead, 100)
            .await
            .unwrap();
        if dead.len() >= n {
            return dead;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {n} deliveries dead: {dead:#?}",
            dead.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn forbidden_references_die_on_their_own_while_a_real_payment_is_confirmed() {
    let rig = Rig::start("forged-403").await;
    let breaker = rig.gateway.breaker().subscribe();
    // Anyone who can post to the webhook can name jobs that belong to another merchant:
    // the gateway answers 403 for each.
    let mut forged = Vec::new();
    for i in 0..4 {
        let theirs = rig
            .sim
            .create_job_for(
                ANOTHER_MERCHANT,
                tillwatch_sim::CreateJob {
                    amount: "1.00".parse().unwrap(),
                    currency: "GBP".into(),
                    order_number: format!("THEIRS-{i}"),
                    email: "x@example.com".into(),
                    webhook_url: None,
                },
            )
            .unwrap();
        let resp = rig
            .notify(&theirs.reference, &theirs.payment_reference)
            .await;
        assert_eq!(resp.status(), 200);
        forged.push(theirs.reference);
    }
    // Then a real payment, notified by the gateway itself.
    let job = rig.create_job("25.00", "REAL-1");
    rig.sim
        .play_and_wait(&job.reference, Script::PaysAtOnce)
        .await
        .unwrap();
    rig.wait_order(&job.reference, "Paid", |d| {
        d.summary.status == PaymentStatus::Paid
    })
    .await;

    // Each forbidden delivery was asked again on its own schedule and ended dead.
    let policy = crate::policy::quick_delivery_policy();
    let dead = wait_dead(&rig, forged.len()).await;
    assert_eq!(dead.len(), forged.len(), "{dead:#?}");
    for d in &dead {
        assert!(forged.contains(&d.payment_job_reference), "{d:#?}");
        let gave_up = format!("gave up after {} attempts", policy.permanent_attempts);
        assert!(
            d.outcome
                .as_deref()
                .is_some_and(|o| o.starts_with(&gave_up)),
            "{d:#?}"
        );
        assert!(
            d.last_error.as_deref().is_some_and(|e| e.contains("403")),
            "{d:#?}"
        );
    }
    rig.wait_inbox_empty().await;
    assert!(
        !breaker.has_changed().unwrap(),
        "the breaker never moved: {:?}",
        rig.gateway.breaker().state()
    );
    // One payment read per attempt, and no job read: nothing else was asked about them.
    let forged_reads = u64::from(policy.permanent_attempts) * forged.len() as u64;
    assert_eq!(
        rig.sim.api_request_count(Endpoint::RetrievePayment),
        forged_reads + 1
    );
    assert!(rig.app.lookup(&forged[0]).await.unwrap().is_empty());
    rig.stop().await;
}

/// Two paid jobs confirmed through the pipeline: jobs we hold.
async fn two_held_jobs(rig: &Rig) -> (tillwatch_sim::JobSnapshot, tillwatch_sim::JobSnapshot) {
    let a = rig.paid_job_not_notified("10.00", "HELD-A").await;
    let b = rig.paid_job_not_notified("20.00", "HELD-B").await;
    for j in [&b, &a] {
        assert_eq!(
            rig.notify(&j.reference, &j.payment_reference)
                .await
                .status(),
            200
        );
        rig.wait_order(&j.reference, "Paid", |d| {
            d.summary.status == PaymentStatus::Paid
        })
        .await;
    }
    rig.wait_inbox_empty().await;
    (a, b)
}

#[tokio::test]
async fn a_403_on_a_job_we_hold_opens_the_breaker_only_when_a_known_good_read_is_refused_too() {
    let rig = Rig::start("held-403").await;
    let (a, b) = two_held_jobs(&rig).await;
    let mut breaker = rig.gateway.breaker().subscribe();

    // The gateway refuses job A's payment, but still shows us job B: the 403 is about A.
    rig.sim
        .set_fault(FaultTarget::RetrievePayment, Fault::Status { status: 403 });
    let good_reads = rig.sim.api_request_count(Endpoint::RetrieveJob);
    assert_eq!(
        rig.notify(&a.reference, &a.payment_reference)
            .await
            .status(),
        200
    );
    let dead = wait_dead(&rig, 1).await;
    assert_eq!(dead[0].payment_job_reference, a.reference);
    assert!(
        !breaker.has_changed().unwrap(),
        "a 403 about one job stops nothing: {:?}",
        rig.gateway.breaker().state()
    );
    // Every refusal was checked against a read of B, and each was accepted.
    let policy = crate::policy::quick_delivery_policy();
    assert_eq!(
        rig.sim.api_request_count(Endpoint::RetrieveJob) - good_reads,
        u64::from(policy.permanent_attempts)
    );
    let held = rig
        .app
        .order(&JobRef::parse(&b.reference).unwrap())
        .await
        .unwrap();
    assert_eq!(held.summary.status, PaymentStatus::Paid);

    // Now the known-good read of B is refused too: that is about us.
    rig.sim
        .set_fault(FaultTarget::AnyApi, Fault::Status { status: 403 });
    assert_eq!(
        rig.notify(&a.reference, &a.payment_reference)
            .await
            .status(),
        200
    );
    tokio::time::timeout(
        WAIT,
        breaker.wait_for(|s| matches!(s, BreakerState::Open { .. })),
    )
    .await
    .expect("the breaker opens")
    .unwrap();
    match rig.gateway.breaker().state() {
        BreakerState::Open { reason, .. } => {
            assert!(reason.contains("HTTP 403"), "{reason}")
        }
        BreakerState::Closed => unreachable!(),
    }
    rig.stop().await;
}

#[tokio::test]
async fn a_probe_closes_the_breaker_by_itself_and_pending_confirmations_resume() {
    let opts = RigOptions {
        serve: tillwatch_core::app::ServeOptions {
            probe: ProbeSchedule {
                first: Duration::from_millis(100),
                cap: Duration::from_millis(400),
            },
            ..RigOptions::default().serve
        },
        ..RigOptions::default()
    };
    let mut rig = Rig::start_with("probe-closes", opts).await;
    // A key rotation gone wrong at the gateway: our own key is refused for a while.
    rig.sim.set_fault(FaultTarget::AnyApi, Fault::Unauthorized);
    let job = rig.paid_job_not_notified("15.00", "PROBE-1").await;
    assert_eq!(
        rig.notify(&job.reference, &job.payment_reference)
            .await
            .status(),
        200
    );
    let mut breaker = rig.gateway.breaker().subscribe();
    tokio::time::timeout(
        WAIT,
        breaker.wait_for(|s| matches!(s, BreakerState::Open { .. })),
    )
    .await
    .expect("the breaker opens")
    .unwrap();
    rig.wait_failed_confirmation().await;
    // Probes go, and are refused, while the gateway refuses us.
    let refused_before = rig.sim.api_request_count(Endpoint::RetrieveJob);
    rig.sim
        .wait_until(
            |s| s.api_request_count(Endpoint::RetrieveJob) >= refused_before + 2,
            WAIT,
        )
        .await
        .unwrap();
    assert!(rig.gateway.breaker().is_open());
    assert!(matches!(
        rig.gateway.breaker().state(),
        BreakerState::Open {
            next_probe_at: Some(_),
            ..
        }
    ));

    // The gateway accepts our key again: nobody touches the settings.
    rig.drain_events();
    rig.sim.clear_faults();
    rig.wait_order(&job.reference, "Paid", |d| {
        d.summary.status == PaymentStatus::Paid
    })
    .await;
    rig.wait_inbox_empty().await;
    assert!(!rig.gateway.breaker().is_open());
    // The reconciler, cut short while the breaker was open, runs again once it closes.
    let pass = rig.next_reconciliation().await;
    assert_eq!(pass.failed, 0, "{pass:?}");
    rig.stop().await;
}

/// The probe schedule on a paused clock. The simulator, the store and each probe's request
/// run on a runtime of their own, on real time; only the schedule runs on the paused
/// clock, moved by hand, so no request's own timeout is hurried along with it.
#[test]
fn probes_go_after_one_minute_then_doubling_to_hourly_one_at_a_time() {
    let real = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let paused = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let dir = TestDir::new("probe-schedule");
    let (sim, gateway, store): (_, _, TestStore) = real.block_on(async {
        let sim = start_sim(SimConfig {
            clock_scale: 100_000.0,
            ..SimConfig::default()
        })
        .await;
        let key = sim.config().api_keys[0].clone();
        let gateway = gateway_client(&sim, &key, WAIT);
        let store = test_store(&dir).await;
        // A job we hold: the probe reads it.
        let created = sim
            .create_job(tillwatch_sim::CreateJob {
                amount: "5.00".parse().unwrap(),
                currency: "GBP".into(),
                order_number: "HELD-1".into(),
                email: "h@example.com".into(),
                webhook_url: None,
            })
            .unwrap();
        let held = JobRef::parse(&created.reference).unwrap();
        let snapshot = gateway.retrieve_job(&held).await.unwrap().into_snapshot();
        store
            .apply_snapshot(snapshot, ChangeSource::Poll, None, None)
            .await
            .unwrap();
        // A 401 opens the breaker.
        sim.set_fault(FaultTarget::AnyApi, Fault::Unauthorized);
        gateway.retrieve_job(&held).await.unwrap_err();
        assert!(gateway.breaker().is_open());
        (sim, gateway, store)
    });
    let reads = |n: u64| sim.api_request_count(Endpoint::RetrieveJob) == n;
    let opened_at = sim.api_request_count(Endpoint::RetrieveJob);

    let check = CredentialCheck::new(store.clone(), gateway.clone());
    let on_real = real.handle().clone();
    let started = Arc::new(AtomicU32::new(0));
    let (done_tx, mut done) = tokio::sync::mpsc::unbounded_channel();
    let probe = {
        let started = Arc::clone(&started);
        move || {
            started.fetch_add(1, Ordering::SeqCst);
            let (check, on_real, done_tx) = (check.clone(), on_real.clone(), done_tx.clone());
            async move {
                let verdict = on_real
                    .spawn(async move { check.probe().await })
                    .await
                    .unwrap();
                // Sent while the schedule's task runs: the test sees it once that task
                // waits for its next probe.
                done_tx.send(()).unwrap();
                verdict
            }
        }
    };
    let started_now = || started.load(Ordering::SeqCst);

    paused.block_on(async {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let probing = tokio::spawn(keep_probing(
            gateway.breaker().clone(),
            ProbeSchedule::default(),
            probe,
            async {
                let _ = stopped.await;
            },
        ));
        // The schedule's task starts and waits for its first probe before time moves.
        tokio::task::yield_now().await;
        assert!(matches!(
            gateway.breaker().state(),
            BreakerState::Open {
                next_probe_at: Some(_),
                ..
            }
        ));
        let minutes = [1u64, 2, 4, 8, 16, 32, 60, 60];
        for (i, m) in minutes.iter().enumerate() {
            let before = i as u32;
            tokio::time::advance(Duration::from_secs(m * 60 - 1)).await;
            tokio::task::yield_now().await;
            assert_eq!(started_now(), before, "no probe before {m} min");
            tokio::time::advance(Duration::from_secs(1)).await;
            done.recv().await.unwrap();
            assert_eq!(started_now(), before + 1, "a probe after {m} min");
            assert!(
                reads(opened_at + u64::from(before) + 1),
                "one read per probe"
            );
            assert!(gateway.breaker().is_open(), "a refused probe keeps it open");
        }

        // A probe the gateway does not answer: however long it hangs, no second one goes.
        sim.set_fault(FaultTarget::RetrieveJob, Fault::Hang);
        tokio::time::advance(Duration::from_secs(3600)).await;
        let hung_at = opened_at + minutes.len() as u64 + 1;
        let waiting = sim.clone();
        real.spawn(async move {
            waiting
                .wait_until(
                    |s| s.api_request_count(Endpoint::RetrieveJob) == hung_at,
                    WAIT,
                )
                .await
        })
        .await
        .unwrap()
        .unwrap();
        for _ in 0..10 {
            tokio::time::advance(Duration::from_secs(3600)).await;
            tokio::task::yield_now().await;
        }
        assert_eq!(started_now(), minutes.len() as u32 + 1);
        assert!(reads(hung_at), "never more than one probe in flight");

        // The gateway accepts us again: the probe in flight is answered and closes it.
        sim.clear_faults();
        done.recv().await.unwrap();
        assert!(!gateway.breaker().is_open(), "closed on the first success");
        // Closed, it probes no more.
        tokio::time::advance(Duration::from_secs(10 * 3600)).await;
        tokio::task::yield_now().await;
        assert_eq!(started_now(), minutes.len() as u32 + 1);
        assert!(reads(hung_at));
        stop.send(()).unwrap();
        probing.await.unwrap();
    });
    real.block_on(async move {
        sim.shutdown().await;
        drop((gateway, store));
    });
}
