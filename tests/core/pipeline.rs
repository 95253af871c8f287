use std::time::Duration;
use tillwatch_core::store::Inbox;

use tillwatch_core::domain::{ChangeSource, DeliveryState, JobRef, PaymentStatus};
use tillwatch_core::pipeline::CoreEvent;
use tillwatch_sim::{Endpoint, Fault, FaultTarget, Script};

use crate::harness::{order_changed_count, order_status_changes, Rig, RigOptions, WAIT};

#[tokio::test]
async fn paid_notification_is_acknowledged_confirmed_and_stored() {
    let mut rig = Rig::start("seed-flow").await;
    let job = rig.create_job("12.50", "A-1001");
    rig.sim
        .play_and_wait(&job.reference, Script::PaysAtOnce)
        .await
        .unwrap();

    let series = rig.sim.wait_all_settled(1, WAIT).await.unwrap();
    assert_eq!(series.len(), 1);
    let attempts: Vec<_> = rig
        .sim
        .deliveries()
        .into_iter()
        .filter(|d| d.series == series[0].series)
        .collect();
    assert_eq!(attempts.len(), 1, "one delivery, no retries: {attempts:#?}");
    assert!(attempts[0].acknowledged);
    assert_eq!(attempts[0].http_status, Some(200));

    let order = rig
        .wait_order(&job.reference, "Paid", |d| {
            d.summary.status == PaymentStatus::Paid
        })
        .await;
    assert_eq!(order.summary.order_number.as_deref(), Some("A-1001"));
    assert_eq!(order.summary.amount.unwrap().to_string(), "12.50");
    assert_eq!(order.summary.currency.as_ref().unwrap().as_str(), "GBP");
    assert_eq!(order.payments.len(), 1);
    assert_eq!(
        order.payments[0].payment_reference.as_str(),
        job.payment_reference
    );
    assert_eq!(order.deliveries.len(), 1);
    assert_eq!(order.deliveries[0].response_status, 200);
    rig.wait_inbox_empty().await;
    let order = rig
        .app
        .order(&JobRef::parse(&job.reference).unwrap())
        .await
        .unwrap();
    assert_eq!(order.deliveries[0].state, DeliveryState::Confirmed);
    assert_eq!(
        order_status_changes(&order),
        vec![(None, "Paid".to_owned())]
    );
    assert!(order
        .status_events
        .iter()
        .all(|e| e.source == ChangeSource::Notification));

    let events = rig.drain_events();
    assert!(events.iter().any(|e| matches!(e,
        CoreEvent::OrderChanged { order, status_changed: true, .. }
            if order.status == PaymentStatus::Paid && order.payment_job_reference.as_str() == job.reference)));
    rig.stop().await;
}

#[tokio::test]
async fn shopper_retries_make_one_order_with_every_attempt() {
    let rig = Rig::start("retries").await;
    let job = rig.create_job("30.00", "A-1002");
    rig.sim
        .play_and_wait(
            &job.reference,
            Script::FailsThenPays {
                failures: 2,
                reason_code: "InsufficientFunds".into(),
                reason_message: "The card has insufficient funds.".into(),
            },
        )
        .await
        .unwrap();
    rig.sim.wait_all_settled(3, WAIT).await.unwrap();
    rig.wait_inbox_empty().await;
    let order = rig
        .wait_order(&job.reference, "Paid with three attempts", |d| {
            d.summary.status == PaymentStatus::Paid && d.payments.len() == 3
        })
        .await;

    let orders = rig.app.orders(None, None, 0).await.unwrap();
    assert_eq!(orders.len(), 1, "one order for the job");
    assert_eq!(order.summary.attempts, 3);
    let statuses: Vec<_> = order.payments.iter().map(|p| p.status.clone()).collect();
    assert_eq!(
        statuses,
        vec![
            PaymentStatus::Failed,
            PaymentStatus::Failed,
            PaymentStatus::Paid
        ]
    );
    let numbers: Vec<u32> = order.payments.iter().map(|p| p.attempt).collect();
    assert_eq!(numbers, vec![1, 2, 3]);
    for failed in &order.payments[..2] {
        assert_eq!(failed.failure_code.as_deref(), Some("InsufficientFunds"));
        assert_eq!(
            failed.failure_reason.as_deref(),
            Some("The card has insufficient funds.")
        );
    }
    assert_eq!(order.payments[2].failure_code, None);
    // Every attempt's notification was received and confirmed.
    assert_eq!(order.deliveries.len(), 3);
    assert!(order
        .deliveries
        .iter()
        .all(|d| d.state == DeliveryState::Confirmed));
    rig.stop().await;
}

#[tokio::test]
async fn duplicate_notifications_change_status_once() {
    let mut rig = Rig::start("duplicates").await;
    // No webhook: only the test's own 50 copies reach the listener.
    let job = rig.paid_job_not_notified("9.99", "A-1003").await;

    let mut sends = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let http = rig.http.clone();
        let url = rig.webhook_url.clone();
        let body = serde_json::json!({
            "notifyType": "PaymentStatusChange",
            "paymentJobReference": job.reference,
            "paymentReference": job.payment_reference,
        });
        sends.spawn(async move { http.post(url).json(&body).send().await.unwrap() });
    }
    while let Some(resp) = sends.join_next().await {
        let resp = resp.unwrap();
        assert_eq!(resp.status(), 200);
        let echo: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(echo["paymentJobReference"], job.reference.as_str());
        assert_eq!(echo["paymentReference"], job.payment_reference.as_str());
    }
    rig.wait_inbox_empty().await;
    let order = rig
        .wait_order(&job.reference, "Paid", |d| {
            d.summary.status == PaymentStatus::Paid
        })
        .await;
    assert_eq!(order.deliveries.len(), 50, "every delivery is kept");
    assert_eq!(
        order_status_changes(&order),
        vec![(None, "Paid".to_owned())]
    );
    let payment_changes = order
        .status_events
        .iter()
        .filter(|e| e.payment_reference.is_some())
        .count();
    assert_eq!(payment_changes, 1);
    // Coalesced: far fewer gateway calls than deliveries.
    assert!(rig.sim.api_request_count(Endpoint::RetrievePayment) < 50);
    let events = rig.drain_events();
    assert_eq!(
        order_changed_count(&events, &job.reference),
        1,
        "{events:#?}"
    );
    rig.stop().await;
}

#[tokio::test]
async fn stale_gateway_answer_never_overwrites_a_newer_status() {
    let mut rig = Rig::start("stale").await;
    let job = rig.paid_job_not_notified("5.00", "A-1004").await;
    assert_eq!(
        rig.notify(&job.reference, &job.payment_reference)
            .await
            .status(),
        200
    );
    rig.wait_order(&job.reference, "Paid", |d| {
        d.summary.status == PaymentStatus::Paid
    })
    .await;
    rig.wait_inbox_empty().await;
    rig.drain_events();

    // The gateway now answers with the job as it was before it was paid.
    rig.sim.set_fault(FaultTarget::AnyApi, Fault::StaleAnswer);
    let before = rig.sim.api_request_count(Endpoint::RetrieveJob);
    assert_eq!(
        rig.notify(&job.reference, &job.payment_reference)
            .await
            .status(),
        200
    );
    rig.wait_inbox_empty().await;
    assert!(
        rig.sim.api_request_count(Endpoint::RetrieveJob) > before,
        "it asked again"
    );

    let order = rig
        .app
        .order(&JobRef::parse(&job.reference).unwrap())
        .await
        .unwrap();
    assert_eq!(order.summary.status, PaymentStatus::Paid);
    assert_eq!(order.payments[0].status, PaymentStatus::Paid);
    assert_eq!(
        order_status_changes(&order),
        vec![(None, "Paid".to_owned())]
    );
    assert!(order
        .deliveries
        .last()
        .unwrap()
        .outcome
        .as_deref()
        .unwrap()
        .contains("older answer"));
    assert_eq!(order_changed_count(&rig.drain_events(), &job.reference), 0);
    rig.stop().await;
}

#[tokio::test]
async fn forged_references_create_no_order() {
    let mut rig = Rig::start("forged").await;
    let resp = rig.notify("200421017498767380", "200421100461508616").await;
    // Acknowledged (we cannot know yet), but never believed.
    assert_eq!(resp.status(), 200);
    rig.wait_inbox_empty().await;
    assert!(rig.app.orders(None, None, 0).await.unwrap().is_empty());
    assert!(rig
        .app
        .lookup("200421017498767380")
        .await
        .unwrap()
        .is_empty());
    let events = rig.drain_events();
    assert!(events.iter().any(|e| matches!(e, CoreEvent::DeliverySettled { payment_job_reference, state: DeliveryState::Unknown, .. } if payment_job_reference == "200421017498767380")));

    // A real job with a payment reference from another job is forged too.
    let a = rig.create_job_notifying("1.00", "A-1", None);
    let b = rig.create_job_notifying("2.00", "A-2", None);
    assert_eq!(
        rig.notify(&a.reference, &b.payment_reference)
            .await
            .status(),
        200
    );
    rig.wait_inbox_empty().await;
    assert!(rig.app.orders(None, None, 0).await.unwrap().is_empty());
    rig.stop().await;
}

#[tokio::test]
async fn gateway_server_errors_are_retried_until_it_answers() {
    let rig = Rig::start("server-errors").await;
    // More failures than the client's own retries: the worker must come back to it.
    rig.sim.set_fault_times(
        FaultTarget::RetrievePayment,
        Fault::Status { status: 500 },
        7,
    );
    let job = rig.create_job("15.00", "A-1005");
    rig.sim
        .play_and_wait(&job.reference, Script::PaysAtOnce)
        .await
        .unwrap();
    let order = rig
        .wait_order(&job.reference, "Paid", |d| {
            d.summary.status == PaymentStatus::Paid
        })
        .await;
    assert!(rig.sim.api_request_count(Endpoint::RetrievePayment) >= 8);
    assert_eq!(
        order_status_changes(&order),
        vec![(None, "Paid".to_owned())]
    );
    rig.stop().await;
}

#[tokio::test]
async fn hanging_gateway_times_out_and_is_retried() {
    let opts = RigOptions {
        gateway_timeout: Duration::from_millis(300),
        ..RigOptions::default()
    };
    let rig = Rig::start_with("hang", opts).await;
    rig.sim.set_fault(FaultTarget::RetrieveJob, Fault::Hang);
    let job = rig.create_job("15.00", "A-1006");
    rig.sim
        .play_and_wait(&job.reference, Script::PaysAtOnce)
        .await
        .unwrap();
    // Acknowledged at once even though the gateway hangs.
    rig.sim.wait_all_settled(1, WAIT).await.unwrap();
    assert!(rig.sim.deliveries().iter().all(|d| d.acknowledged));

    // The worker gives up on the hung call, counts it, and tries again later.
    rig.wait_failed_confirmation().await;
    assert!(rig
        .app
        .order(&JobRef::parse(&job.reference).unwrap())
        .await
        .is_err());
    rig.sim.clear_faults();
    rig.wait_order(&job.reference, "Paid", |d| {
        d.summary.status == PaymentStatus::Paid
    })
    .await;
    rig.stop().await;
}

#[tokio::test]
async fn unauthorized_opens_the_circuit_and_calls_stop() {
    let mut rig = Rig::start("unauthorized").await;
    rig.sim.set_fault(FaultTarget::AnyApi, Fault::Unauthorized);
    let job = rig.paid_job_not_notified("15.00", "A-1007").await;
    assert_eq!(
        rig.notify(&job.reference, &job.payment_reference)
            .await
            .status(),
        200
    );

    let deadline = tokio::time::Instant::now() + WAIT;
    while !rig.gateway.breaker().is_open() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "breaker never opened"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The confirmation that met the 401 has ended (its failure is on record), so no
    // gateway call is in flight from here on.
    rig.wait_failed_confirmation().await;
    let calls = rig.sim.api_request_count(Endpoint::RetrievePayment);
    assert_eq!(calls, 1, "a 401 is never retried");

    // More notifications (each committed before its 200) and a whole reconciliation
    // pass: no further call reaches the gateway.
    for _ in 0..5 {
        assert_eq!(
            rig.notify(&job.reference, &job.payment_reference)
                .await
                .status(),
            200
        );
    }
    // The pass run at start has finished (the rig waits for it); one more is asked for
    // and awaited.
    rig.app.reconcile_now();
    rig.next_reconciliation().await;
    let total = |rig: &Rig| {
        Endpoint::ALL
            .iter()
            .map(|e| rig.sim.api_request_count(*e))
            .sum::<u64>()
    };
    assert_eq!(total(&rig), 1, "calls stopped while the circuit is open");
    let (backlog, _) = rig.store().inbox_status().await.unwrap();
    assert_eq!(backlog, 6, "nothing is lost: every delivery waits");

    // The owner fixes the credentials: calls resume and the backlog is confirmed.
    rig.sim.clear_faults();
    rig.gateway.breaker().reset();
    rig.wait_order(&job.reference, "Paid", |d| {
        d.summary.status == PaymentStatus::Paid
    })
    .await;
    rig.wait_inbox_empty().await;
    // Every call is accounted for, with no wait for "nothing more": the 401, then whole
    // confirmations (a payment and a job request each) of the six coalesced deliveries. A
    // call made while the circuit was open, however late, would be counted here (the
    // simulator counts refused requests too). Usually one confirmation covers all six; on a
    // loaded machine the worker may have read only some of them when calls resumed, and a
    // delivery read while its confirmation is in flight earns one more, never more.
    let (payment_calls, job_calls) = (
        rig.sim.api_request_count(Endpoint::RetrievePayment),
        rig.sim.api_request_count(Endpoint::RetrieveJob),
    );
    assert_eq!(
        payment_calls,
        job_calls + 1,
        "the 401, then whole confirmations"
    );
    assert!(
        (1..=2).contains(&job_calls),
        "{job_calls} confirmations of six coalesced deliveries"
    );
    assert_eq!(total(&rig), payment_calls + job_calls);
    rig.stop().await;
}

#[tokio::test]
async fn reconciler_finds_a_payment_whose_notification_never_arrived() {
    let opts = RigOptions {
        serve: tillwatch_core::app::ServeOptions {
            reconcile_every: Duration::from_millis(200),
            ..RigOptions::default().serve
        },
        ..RigOptions::default()
    };
    let mut rig = Rig::start_with("reconcile", opts).await;
    // The gateway's notifications for this job go nowhere.
    let job = rig.create_job_notifying(
        "44.00",
        "A-1008",
        Some("http://127.0.0.1:9/webhooks/cashflows".into()),
    );
    // We heard of the job once, while it was still pending.
    assert_eq!(
        rig.notify(&job.reference, &job.payment_reference)
            .await
            .status(),
        200
    );
    rig.wait_order(&job.reference, "Pending", |d| {
        d.summary.status == PaymentStatus::Pending
    })
    .await;

    rig.sim
        .play_and_wait(&job.reference, Script::PaysAtOnce)
        .await
        .unwrap();
    let order = rig
        .wait_order(&job.reference, "Paid by polling", |d| {
            d.summary.status == PaymentStatus::Paid
        })
        .await;
    let changes: Vec<_> = order
        .status_events
        .iter()
        .filter(|e| e.payment_reference.is_none())
        .map(|e| (e.to.as_str(), e.source))
        .collect();
    assert_eq!(
        changes,
        vec![
            ("Pending", ChangeSource::Notification),
            ("Paid", ChangeSource::Poll)
        ]
    );
    assert_eq!(
        order.deliveries.len(),
        1,
        "no notification of the payment arrived"
    );
    // The pass reports when it ends, after the write seen above.
    rig.wait_event(
        "a reconcile pass that caught the payment up",
        |e| matches!(e, CoreEvent::ReconcileFinished(r) if r.caught_up >= 1),
    )
    .await;
    rig.stop().await;
}

#[tokio::test]
async fn a_lagging_job_listing_does_not_hold_back_a_paid_answer() {
    // No reconcile pass can help within the test: the order must be caught by the
    // confirmation itself, and by asking again within seconds.
    let opts = RigOptions {
        serve: tillwatch_core::app::ServeOptions {
            reconcile_every: Duration::from_secs(300),
            ..RigOptions::default().serve
        },
        ..RigOptions::default()
    };
    let mut rig = Rig::start_with("lagging-listing", opts).await;
    let job = rig.create_job("30.00", "A-2001");
    // The payment's own answer is current; the job's listing lags it by 5 s, so it shows
    // the payment as Pending until 5 s after it was paid, then agrees.
    rig.sim.set_fault(
        FaultTarget::RetrieveJob,
        Fault::Lagging {
            lag: Duration::from_secs(5),
        },
    );
    rig.sim
        .play_and_wait(&job.reference, Script::PaysAtOnce)
        .await
        .unwrap();

    let order = rig
        .wait_order(&job.reference, "Paid", |d| {
            d.summary.status == PaymentStatus::Paid
        })
        .await;
    assert_eq!(order.payments[0].status, PaymentStatus::Paid);
    assert!(
        order
            .status_events
            .iter()
            .all(|e| e.source == ChangeSource::Notification),
        "taken from the notification's confirmation, not a reconcile pass: {:#?}",
        order.status_events
    );

    // The delivery is held until the listing agrees, then settles.
    rig.wait_inbox_empty().await;
    let order = rig
        .app
        .order(&JobRef::parse(&job.reference).unwrap())
        .await
        .unwrap();
    assert_eq!(order.summary.status, PaymentStatus::Paid);
    assert_eq!(
        order_status_changes(&order),
        vec![(None, "Paid".to_owned())],
        "one change, never back to Pending"
    );
    assert_eq!(order.deliveries.len(), 1, "no new notification");
    assert_eq!(order.deliveries[0].state, DeliveryState::Confirmed);
    assert_eq!(
        order.deliveries[0].outcome.as_deref(),
        Some("confirmed: Paid")
    );
    let series = rig.sim.wait_all_settled(1, WAIT).await.unwrap();
    assert_eq!(series.len(), 1, "the gateway sent one notification");
    assert!(
        rig.sim.api_request_count(Endpoint::RetrieveJob) >= 2,
        "the job was asked again while its listing lagged"
    );
    let events = rig.drain_events();
    assert_eq!(
        order_changed_count(&events, &job.reference),
        1,
        "{events:#?}"
    );
    rig.stop().await;
}
