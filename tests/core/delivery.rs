//! The promise at its edges: an acknowledged notification is never dropped (a 404 is asked
//! again), never stuck (errors that never go away end "dead", where the owner can retry
//! them), and never starved (a reconcile pass leaves live confirmations the gateway).

use std::time::{Duration, Instant};
use tillwatch_core::store::Confirmations;
use tillwatch_core::store::Store;

use tillwatch_core::domain::{
    ChangeSource, DeliveryPolicy, DeliveryState, JobRef, JobSnapshot, PaymentStatus,
};
use tillwatch_core::pipeline::CoreEvent;
use tillwatch_sim::{Endpoint, Fault, FaultTarget};

use crate::harness::{Rig, RigOptions, WAIT};

/// Polls the store until the deliveries of `job` hold a failure run.
async fn wait_failing(store: &impl Store, job: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let pending = store.pending_deliveries(100).await.unwrap();
        if pending
            .iter()
            .any(|p| p.job_ref.as_str() == job && p.failing.is_some())
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no failed attempt recorded for {job}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits for the bus to say a delivery of `job` settled in `state`.
async fn wait_settled(rig: &mut Rig, job: &str, state: DeliveryState) {
    let found = tokio::time::timeout(WAIT, async {
        loop {
            match rig.events.recv().await {
                Ok(CoreEvent::DeliverySettled {
                    payment_job_reference,
                    state: s,
                    ..
                }) if payment_job_reference == job && s == state => return,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("event bus closed: {e}"),
            }
        }
    })
    .await;
    assert!(found.is_ok(), "{job} never settled as {state:?}");
}

fn total_calls(rig: &Rig) -> u64 {
    Endpoint::ALL
        .iter()
        .map(|e| rig.sim.api_request_count(*e))
        .sum()
}

#[tokio::test]
async fn gateway_404_then_known_confirms_without_help() {
    // The real schedule: the first re-ask comes within seconds, not at the next start.
    let mut opts = RigOptions::default();
    opts.serve.delivery_policy = DeliveryPolicy::default();
    let rig = Rig::start_with("404-then-known", opts).await;
    let job = rig.paid_job_not_notified("12.00", "U-1").await;
    // Read-after-write lag at the gateway: it does not know the job yet.
    rig.sim
        .set_fault(FaultTarget::AnyApi, Fault::Status { status: 404 });
    assert_eq!(
        rig.notify(&job.reference, &job.payment_reference)
            .await
            .status(),
        200
    );
    wait_failing(rig.store(), &job.reference).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    rig.sim.clear_faults();

    let order = rig
        .wait_order(&job.reference, "Paid", |d| {
            d.summary.status == PaymentStatus::Paid
        })
        .await;
    assert!(order
        .deliveries
        .iter()
        .all(|d| d.state == DeliveryState::Confirmed));
    rig.stop().await;
}

#[tokio::test]
async fn unknown_references_are_asked_again_when_serving_restarts() {
    // Credentials of the wrong environment: every answer is 404 for the whole window.
    let mut rig = Rig::start("unknown-reopened").await;
    let job = rig.paid_job_not_notified("30.00", "U-2").await;
    rig.sim
        .set_fault(FaultTarget::AnyApi, Fault::Status { status: 404 });
    rig.notify(&job.reference, &job.payment_reference).await;
    wait_settled(&mut rig, &job.reference, DeliveryState::Unknown).await;
    let unknown = rig
        .app
        .stuck_deliveries(DeliveryState::Unknown, 10)
        .await
        .unwrap();
    assert_eq!(unknown.len(), 1);
    assert!(
        unknown[0].attempts > 1,
        "a 404 is asked again before giving up"
    );

    // The owner fixes the credentials (Settings → Save restarts serving; so does `serve`).
    rig.sim.clear_faults();
    rig.restart().await;
    rig.wait_order(&job.reference, "Paid", |d| {
        d.summary.status == PaymentStatus::Paid
    })
    .await;
    assert!(rig
        .app
        .stuck_deliveries(DeliveryState::Unknown, 10)
        .await
        .unwrap()
        .is_empty());
    rig.stop().await;
}

#[tokio::test]
async fn errors_that_never_go_away_end_dead_and_retry_now_confirms() {
    let mut rig = Rig::start("dead-then-retried").await;
    let job = rig.paid_job_not_notified("9.99", "U-3").await;
    rig.sim
        .set_fault(FaultTarget::RetrievePayment, Fault::Status { status: 400 });
    rig.notify(&job.reference, &job.payment_reference).await;
    wait_settled(&mut rig, &job.reference, DeliveryState::Dead).await;

    let calls_when_dead = total_calls(&rig);
    let policy = crate::policy::quick_delivery_policy();
    assert_eq!(
        calls_when_dead,
        u64::from(policy.permanent_attempts),
        "bounded attempts"
    );
    let dead = rig
        .app
        .stuck_deliveries(DeliveryState::Dead, 10)
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].payment_reference, job.payment_reference);
    assert_eq!(
        dead[0].attempts, policy.permanent_attempts,
        "the last attempt is counted"
    );
    let answer = dead[0].last_error.as_deref().unwrap_or_default();
    assert!(
        answer.contains("HTTP 400"),
        "the gateway's answer: {answer}"
    );
    assert!(rig.app.lookup(&job.reference).await.unwrap().is_empty());

    rig.sim.clear_faults();
    assert_eq!(rig.app.retry_deliveries(&job.reference).await.unwrap(), 1);
    rig.wait_order(&job.reference, "Paid", |d| {
        d.summary.status == PaymentStatus::Paid
    })
    .await;
    // One confirmation: the payment, then the job.
    assert_eq!(total_calls(&rig), calls_when_dead + 2);
    assert!(rig
        .app
        .stuck_deliveries(DeliveryState::Dead, 10)
        .await
        .unwrap()
        .is_empty());
    // Retrying what is not dead or unknown is refused.
    assert!(rig.app.retry_deliveries(&job.reference).await.is_err());
    rig.stop().await;
}

#[tokio::test]
async fn a_reference_spelled_differently_by_the_gateway_still_settles_its_delivery() {
    let rig = Rig::start("leading-zero").await;
    let job = rig.paid_job_not_notified("5.00", "U-4").await;
    // The spec types references as int64: "0…" is the same job to the gateway.
    let spelled = format!("0{}", job.reference);
    assert_eq!(
        rig.notify(&spelled, &job.payment_reference).await.status(),
        200
    );
    rig.wait_order(&job.reference, "Paid", |d| {
        d.summary.status == PaymentStatus::Paid
    })
    .await;
    rig.wait_inbox_empty().await;
    rig.stop().await;
}

#[tokio::test]
async fn references_beyond_int64_are_refused() {
    let rig = Rig::start("int64-refs").await;
    let twenty = "1".repeat(20);
    assert_eq!(rig.notify(&twenty, "1").await.status(), 400);
    let resp = rig
        .http
        .post(&rig.webhook_url)
        .header("content-type", "application/json")
        .body(r#"{"paymentJobReference":9223372036854775808,"paymentReference":"1"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = rig
        .http
        .post(&rig.webhook_url)
        .header("content-type", "application/json")
        .body(r#"{"paymentJobReference":9223372036854775807,"paymentReference":"1"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    rig.stop().await;
}

/// Issue 9, point 2: the reconciler and the worker used to share one semaphore, on which
/// the reconcile pass queued every job ahead of a live notification.
#[tokio::test]
async fn a_live_notification_is_not_starved_by_a_reconcile_pass() {
    const JOBS: usize = 2000;
    let rig = Rig::start("not-starved").await;
    // 2,000 unfinished jobs the gateway knows and the store holds as Pending.
    let mut seeding = tokio::task::JoinSet::new();
    for i in 0..JOBS {
        let job = rig.create_job_notifying("1.00", &format!("R-{i}"), None);
        let snapshot = JobSnapshot {
            job_ref: JobRef::parse(&job.reference).unwrap(),
            order_number: Some(format!("R-{i}")),
            email: None,
            status: PaymentStatus::Pending,
            amount: None,
            paid_amount: None,
            currency: None,
            created_at: None,
            gateway_updated_at: None,
            payments: Vec::new(),
            raw: serde_json::Value::Null,
        };
        let store = rig.store().clone();
        seeding.spawn(async move {
            store
                .apply_snapshot(snapshot, ChangeSource::Poll, None, None)
                .await
                .unwrap();
        });
        // A few at a time: seeding, not a load test (a shared store's pool would turn
        // thousands of waiting writers away as overloaded, as it should).
        if seeding.len() >= 16 {
            seeding.join_next().await.unwrap().unwrap();
        }
    }
    while let Some(done) = seeding.join_next().await {
        done.unwrap();
    }
    let live = rig.paid_job_not_notified("40.00", "LIVE-1").await;
    rig.sim.set_fault(
        FaultTarget::AnyApi,
        Fault::Delay {
            delay: Duration::from_millis(100),
        },
    );
    rig.app.reconcile_now();
    // The pass is under way: it holds every gateway slot.
    let deadline = tokio::time::Instant::now() + WAIT;
    while rig.sim.api_request_count(Endpoint::RetrieveJob) < 10 {
        assert!(tokio::time::Instant::now() < deadline, "no reconcile pass");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let sent = Instant::now();
    assert_eq!(
        rig.notify(&live.reference, &live.payment_reference)
            .await
            .status(),
        200
    );
    rig.wait_order(&live.reference, "Paid", |d| {
        d.summary.status == PaymentStatus::Paid
    })
    .await;
    let latency = sent.elapsed();
    let checked = rig.sim.api_request_count(Endpoint::RetrieveJob);
    eprintln!(
        "live confirmation during a {JOBS}-job reconcile pass (gateway 100 ms): {} ms; \
         the pass had asked about {checked} jobs",
        latency.as_millis()
    );
    // Not a timing assertion: the live notification went ahead of the pass's queue. At
    // 100 ms a call and 4 slots the whole pass takes ~50 s; a live confirmation that
    // waited for it would find almost every job asked.
    assert!(
        checked < JOBS as u64 / 4,
        "the live confirmation waited for {checked} of {JOBS} reconcile checks"
    );
    rig.stop().await;
}
