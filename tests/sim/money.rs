//! Money after the payment: capture and cancel as strictly as the gateway allows
//! them, the money switches on the control API, and the helpers `refunds` shares.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use tillwatch_sim::{JobSnapshot, MoneySettings, RefundMode, Script, SimConfig, SimHandle};
use time::macros::datetime;

use crate::support::*;

pub const HOUR: Duration = Duration::from_secs(3600);

/// Real-time clock from a fixed noon: payments are same-day until a test moves the
/// clock past midnight.
pub fn noon_config() -> SimConfig {
    SimConfig {
        clock_start: Some(datetime!(2026-12-07 12:00 UTC)),
        step_gap: Duration::from_millis(5),
        notify_timeout: Duration::from_secs(5),
        ..SimConfig::default()
    }
}

pub fn manual_capture() -> SimConfig {
    SimConfig {
        money: MoneySettings {
            auto_capture: false,
            ..MoneySettings::default()
        },
        ..noon_config()
    }
}

/// A 10.00 GBP job whose shopper has paid (or reserved, with auto-capture off).
pub async fn paid(sim: &SimHandle, order_number: &str, webhook_url: Option<String>) -> JobSnapshot {
    let job = create(sim, order_number, webhook_url);
    sim.play_and_wait(&job.reference, Script::PaysAtOnce)
        .await
        .unwrap();
    job
}

/// A noon sim, a webhook that acknowledges, a client, and a paid job notified to it.
pub async fn paid_and_heard(order_number: &str) -> (SimHandle, Receiver, Gateway, JobSnapshot) {
    let sim = start(noon_config()).await;
    let hook = receiver(Ack::CorrectEcho).await;
    let gw = Gateway::new(&sim);
    let job = paid(&sim, order_number, Some(hook.url.clone())).await;
    (sim, hook, gw, job)
}

pub fn payment_path(job: &JobSnapshot) -> String {
    format!(
        "/payment-jobs/{}/payments/{}",
        job.reference, job.payment_reference
    )
}

pub async fn refund(gw: &Gateway, job: &JobSnapshot, amount: &str, number: &str) -> Answer {
    let body = json!({"amountToRefund": amount, "refundNumber": number});
    gw.post_json(&format!("{}/refunds", payment_path(job)), &body)
        .await
}

pub async fn capture(gw: &Gateway, job: &JobSnapshot, body: &Value) -> Answer {
    gw.post_json(&format!("{}/captures", payment_path(job)), body)
        .await
}

pub async fn cancel(gw: &Gateway, job: &JobSnapshot, body: Option<&Value>) -> Answer {
    let bytes = body.map(|b| serde_json::to_vec(b).unwrap());
    gw.signed(
        Method::PATCH,
        &format!("{}/cancel", payment_path(job)),
        bytes.as_deref(),
    )
    .await
}

/// The payment as the gateway answers it now.
pub async fn reread(gw: &Gateway, job: &JobSnapshot) -> Value {
    let a = gw.get(&payment_path(job)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    a.body["data"].clone()
}

/// The job's notification series once `at_least` series in all have settled and a
/// moment has passed for any that a change would have started.
pub async fn series_of(sim: &SimHandle, job: &JobSnapshot, at_least: usize) -> usize {
    sim.wait_all_settled(at_least, WAIT).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let series = sim.series().into_iter();
    series.filter(|s| s.job_ref == job.reference).count()
}

/// A paid job, past the midnight that settles it.
pub async fn settled(sim: &SimHandle, order_number: &str) -> JobSnapshot {
    let job = paid(sim, order_number, None).await;
    past_midnight(sim);
    job
}

/// The payment's own notification was the only one: nothing since.
pub async fn only_the_payment_was_heard(sim: &SimHandle, hook: &Receiver, job: &JobSnapshot) {
    assert_eq!(
        series_of(sim, job, 1).await,
        1,
        "only the payment was notified"
    );
    assert_eq!(hook.received().len(), 1);
}

pub fn past_midnight(sim: &SimHandle) {
    sim.advance_clock(13 * HOUR);
}

#[tokio::test]
async fn capture_moves_a_reservation_to_paid_and_a_second_capture_is_406() {
    let sim = start(manual_capture()).await;
    let hook = receiver(Ack::CorrectEcho).await;
    let gw = Gateway::new(&sim);
    let job = paid(&sim, "M-1", Some(hook.url.clone())).await;
    let before = reread(&gw, &job).await;
    assert_eq!(before["status"], "Reserved");
    assert_eq!(before["paidAmount"], "0.00");
    assert_eq!(before["captures"], json!([]));
    sim.wait_all_settled(1, WAIT).await.unwrap();

    let a = capture(&gw, &job, &json!({})).await;
    assert_eq!(a.status, 201, "{}", a.body);
    let data = &a.body["data"];
    assert_reference(&data["reference"]);
    assert_wire_time(&data["createDateTimeUtc"]);
    assert_eq!(data["status"], "Completed");
    assert_eq!(data["amountToCapture"], "10.00");
    assert_eq!(data["isFinalCapture"], true);
    assert!(data["attributes"].is_object());
    assert!(
        data.get("steps").is_none(),
        "a capture has no steps: {data}"
    );

    let after = reread(&gw, &job).await;
    assert_eq!(after["status"], "Paid");
    assert_eq!(after["paidAmount"], "10.00");
    assert_eq!(after["captures"], json!([data]));
    let job_now = gw.get(&format!("/payment-jobs/{}", job.reference)).await;
    assert_eq!(job_now.body["data"]["paymentStatus"], "Paid");
    assert_eq!(job_now.body["data"]["payments"][0]["captures"][0], *data);

    // The capture is a status change: notified by default (Reserved, then Paid).
    sim.wait_all_settled(2, WAIT).await.unwrap();
    assert_eq!(hook.received().len(), 2);

    let again = capture(&gw, &job, &json!({})).await;
    assert_eq!(again.status, 406, "{}", again.body);
    assert_eq!(error_code(&again), "InvalidPaymentStatus");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_card_takes_only_a_full_capture() {
    let sim = start(manual_capture()).await;
    let gw = Gateway::new(&sim);
    let job = paid(&sim, "M-2", None).await;

    let partial = capture(&gw, &job, &json!({"amountToCapture": "4.00"})).await;
    assert_eq!(
        (partial.status, error_code(&partial).as_str()),
        (406, "PartialCaptureNotAllowed")
    );
    let above = capture(&gw, &job, &json!({"amountToCapture": "10.01"})).await;
    assert_eq!(above.status, 400, "{}", above.body);
    let garbage = capture(&gw, &job, &json!({"amountToCapture": "ten"})).await;
    assert_eq!(garbage.status, 400, "{}", garbage.body);
    let flag = capture(&gw, &job, &json!({"isFinalCapture": "yes"})).await;
    assert_eq!(flag.status, 400, "{}", flag.body);
    assert_eq!(reread(&gw, &job).await["status"], "Reserved");

    // The seventh day is still in time (the next test shows the eighth is not).
    sim.advance_clock(7 * 24 * HOUR - HOUR);
    let full = capture(
        &gw,
        &job,
        &json!({"amountToCapture": "10.00", "isFinalCapture": true}),
    )
    .await;
    assert_eq!(full.status, 201, "{}", full.body);
    sim.shutdown().await;
}

#[tokio::test]
async fn auto_capture_per_job_and_capture_notifications_switch_off() {
    let sim = start(noon_config()).await;
    let hook = receiver(Ack::CorrectEcho).await;
    let gw = Gateway::new(&sim);
    sim.set_capture_notifies(false);
    let job = create(&sim, "M-3", Some(hook.url.clone()));
    sim.set_job_auto_capture(&job.reference, false);
    sim.play_and_wait(&job.reference, Script::PaysAtOnce)
        .await
        .unwrap();
    let other = paid(&sim, "M-3b", None).await;
    assert_eq!(
        reread(&gw, &other).await["status"],
        "Paid",
        "the sim-wide switch is on"
    );
    assert_eq!(reread(&gw, &job).await["status"], "Reserved");

    let a = capture(&gw, &job, &json!({})).await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(reread(&gw, &job).await["status"], "Paid");
    let ours = series_of(&sim, &job, 2).await;
    assert_eq!(ours, 1, "only the reservation was notified");
    assert_eq!(hook.received().len(), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_same_day_payment_is_cancelled_in_full_only() {
    let (sim, hook, gw, job) = paid_and_heard("M-7").await;

    let partial = cancel(&gw, &job, Some(&json!({"amountToCancel": "5.00"}))).await;
    assert_eq!(
        (partial.status, error_code(&partial).as_str()),
        (406, "PartialCancelNotAllowed")
    );
    let garbage = cancel(&gw, &job, Some(&json!({"amountToCancel": "five"}))).await;
    assert_eq!(garbage.status, 400, "{}", garbage.body);
    assert_eq!(reread(&gw, &job).await["status"], "Paid");

    let a = cancel(&gw, &job, None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let data = &a.body["data"];
    assert_eq!(data["reference"], job.payment_reference.as_str());
    assert_eq!(data["status"], "Cancelled");
    assert_eq!(
        data["paidAmount"], "10.00",
        "as the real one, it keeps showing it"
    );
    assert_eq!(reread(&gw, &job).await, *data);
    let job_now = gw.get(&format!("/payment-jobs/{}", job.reference)).await;
    assert_eq!(
        job_now.body["data"]["paymentStatus"], "Pending",
        "open for another"
    );
    assert_eq!(job_now.body["data"]["amountCollected"], "0.00");

    // A status change: notified (paid, then cancelled).
    sim.wait_all_settled(2, WAIT).await.unwrap();
    assert_eq!(hook.received().len(), 2);
    let again = cancel(&gw, &job, None).await;
    assert_eq!(again.status, 406, "{}", again.body);
    past_midnight(&sim);
    let a = refund(&gw, &job, "1.00", "R-1").await;
    assert_eq!(a.status, 406, "a cancelled payment is not refunded");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_settled_payment_is_not_cancelled_and_a_reservation_is() {
    let sim = start(noon_config()).await;
    let gw = Gateway::new(&sim);
    let job = paid(&sim, "M-8", None).await;
    let reserved = create(&sim, "M-8b", None);
    sim.set_job_auto_capture(&reserved.reference, false);
    sim.play_and_wait(&reserved.reference, Script::PaysAtOnce)
        .await
        .unwrap();
    past_midnight(&sim);

    let a = cancel(&gw, &job, None).await;
    assert_eq!(
        (a.status, error_code(&a).as_str()),
        (406, "InvalidPaymentStatus")
    );
    assert_eq!(reread(&gw, &job).await["status"], "Paid");

    let void = cancel(&gw, &reserved, Some(&json!({"amountToCancel": "10.00"}))).await;
    assert_eq!(void.status, 200, "{}", void.body);
    assert_eq!(void.body["data"]["status"], "Cancelled");
    let a = capture(&gw, &reserved, &json!({})).await;
    assert_eq!(a.status, 406, "a voided reservation is not captured");
    sim.shutdown().await;
}

#[tokio::test]
async fn the_control_api_switches_money_and_moves_the_clock() {
    let sim = start(noon_config()).await;
    let http = reqwest::Client::new();
    let base = sim.base_url();
    let gw = Gateway::new(&sim);

    let res = http
        .post(format!("{base}/_sim/money"))
        .json(
            &json!({"captureNotifies": false, "refunds": {"kind": "pending", "pendingFor": 7200}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let settings: Value = res.json().await.unwrap();
    assert_eq!(
        settings,
        json!({"autoCapture": true, "captureNotifies": false, "refunds": {"kind": "pending", "pendingFor": 7200}})
    );
    assert_eq!(
        sim.money_settings().refunds,
        RefundMode::Pending {
            pending_for: 2 * HOUR
        }
    );

    let res = http
        .post(format!("{base}/_sim/jobs"))
        .json(
            &json!({"amount": "10.00", "currency": "GBP", "orderNumber": "M-13",
                      "autoCapture": false, "script": {"kind": "paysAtOnce"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    let job_ref = created["job"]["reference"].as_str().unwrap().to_owned();
    let reserved = |sim: &SimHandle| {
        sim.job(&job_ref)
            .is_some_and(|j| j["payments"][0]["status"] == "Reserved")
    };
    sim.wait_until(reserved, WAIT).await.unwrap();

    let before = sim.clock().now();
    let res = http
        .post(format!("{base}/_sim/clock/advance"))
        .json(&json!({"seconds": 86400}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let now: Value = res.json().await.unwrap();
    let now = tillwatch_sim::parse_wire(now["now"].as_str().unwrap()).unwrap();
    assert!(now - before >= time::Duration::DAY, "{before} -> {now}");
    assert_eq!(reread_job_status(&gw, &job_ref).await, "Reserved");
    sim.shutdown().await;
}

async fn reread_job_status(gw: &Gateway, job_ref: &str) -> Value {
    gw.get(&format!("/payment-jobs/{job_ref}")).await.body["data"]["paymentStatus"].clone()
}

#[tokio::test]
async fn a_reservation_older_than_seven_days_is_not_captured() {
    let sim = start(manual_capture()).await;
    let gw = Gateway::new(&sim);
    let job = paid(&sim, "M-2b", None).await;
    sim.advance_clock(7 * 24 * HOUR + HOUR);
    let late = capture(&gw, &job, &json!({})).await;
    assert_eq!(
        (late.status, error_code(&late).as_str()),
        (406, "ReservationExpired")
    );
    assert_eq!(reread(&gw, &job).await["status"], "Reserved");
    sim.shutdown().await;
}
