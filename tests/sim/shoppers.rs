//! Scripted shoppers, the control routes and the demo driver.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{json, Value};
use tillwatch_sim::{spawn_demo_traffic, Script, SeriesState, ShopperError, SimConfig};

use crate::support::*;

#[tokio::test]
async fn fails_then_pays_appends_a_new_payment_per_retry_and_notifies_each() {
    let hook = receiver(Ack::CorrectEcho).await;
    let sim = start(fast_config()).await;
    let job = create(&sim, "C-1", Some(hook.url.clone()));
    let script = Script::FailsThenPays {
        failures: 2,
        reason_code: "InsufficientFunds".into(),
        reason_message: "Not enough money".into(),
    };
    sim.play_and_wait(&job.reference, script).await.unwrap();

    // Read it back through the signed API, as the app would.
    let answer = Gateway::new(&sim)
        .get(&format!("/payment-jobs/{}", job.reference))
        .await;
    let j = &answer.body["data"];
    let payments = j["payments"].as_array().unwrap();
    assert_eq!(payments.len(), 3);
    let refs: Vec<&str> = payments
        .iter()
        .map(|p| p["reference"].as_str().unwrap())
        .collect();
    assert_eq!(refs.iter().collect::<HashSet<_>>().len(), 3, "{refs:?}");
    assert_eq!(refs[0], job.payment_reference);
    for p in &payments[..2] {
        assert_reference(&p["reference"]);
        assert_eq!(p["status"], "Failed");
        assert_eq!(
            p["lastErrorReport"]["errors"][0]["code"],
            "InsufficientFunds"
        );
        assert_eq!(
            p["lastErrorReport"]["errors"][0]["message"],
            "Not enough money"
        );
        assert_eq!(p["paidAmount"], "0.00");
    }
    assert_eq!(payments[2]["status"], "Paid");
    assert!(payments[2]["lastErrorReport"].is_null());
    assert_eq!(payments[2]["paidAmount"], "10.00");
    assert_eq!(j["paymentStatus"], "Paid");
    assert_eq!(j["amountCollected"], "10.00");
    assert_wire_time(&j["paidDateTimeUtc"]);

    let series = sim.wait_all_settled(3, WAIT).await.unwrap();
    assert_eq!(series.len(), 3, "one series per status change: {series:#?}");
    let notified: Vec<&str> = series.iter().map(|s| s.payment_ref.as_str()).collect();
    assert_eq!(notified, refs);
    assert!(series.iter().all(|s| s.state == SeriesState::Acknowledged));
    assert!(series.iter().all(|s| s.job_ref == job.reference));
    assert_eq!(hook.received().len(), 3);
    sim.shutdown().await;
}

#[tokio::test]
async fn exceeding_the_attempt_limit_fails_the_job() {
    let hook = receiver(Ack::CorrectEcho).await;
    let sim = start(SimConfig {
        attempt_limit: 4,
        ..fast_config()
    })
    .await;
    let job = create(&sim, "C-2", Some(hook.url.clone()));
    let j = sim
        .play_and_wait(&job.reference, Script::ExceedsAttemptLimit)
        .await
        .unwrap();
    assert_eq!(j.payments.len(), 4);
    assert!(j.payments.iter().all(|p| p.status.to_string() == "Failed"));
    assert_eq!(sim.job(&job.reference).unwrap()["paymentStatus"], "Failed");
    assert_eq!(sim.wait_all_settled(4, WAIT).await.unwrap().len(), 4);

    // Failing as often as the limit allows ends the job before any payment.
    let again = create(&sim, "C-3", Some(hook.url.clone()));
    let j = sim
        .play_and_wait(&again.reference, Script::fails_then_pays(4))
        .await
        .unwrap();
    assert_eq!(j.payments.len(), 4);
    assert_eq!(serde_json::to_value(j.payment_status).unwrap(), "Failed");
    sim.shutdown().await;
}

#[tokio::test]
async fn cancel_declined_and_never_finishing_shoppers() {
    let hook = receiver(Ack::CorrectEcho).await;
    let sim = start(fast_config()).await;
    let cancels = create(&sim, "C-4", Some(hook.url.clone()));
    let declined = create(&sim, "C-5", Some(hook.url.clone()));
    let idle = create(&sim, "C-6", Some(hook.url.clone()));
    sim.play_and_wait(&cancels.reference, Script::Cancels)
        .await
        .unwrap();
    sim.play_and_wait(&declined.reference, Script::Declined)
        .await
        .unwrap();
    sim.play_and_wait(&idle.reference, Script::NeverFinishes)
        .await
        .unwrap();

    let c = sim.job(&cancels.reference).unwrap();
    assert_eq!(
        (
            c["paymentStatus"].clone(),
            c["payments"][0]["status"].clone()
        ),
        (json!("Cancelled"), json!("Cancelled"))
    );
    let d = sim.job(&declined.reference).unwrap();
    assert_eq!(d["payments"][0]["status"], "Declined");
    assert_eq!(
        d["payments"][0]["lastErrorReport"]["errors"][0]["code"],
        "CardDeclined"
    );
    assert_eq!(
        d["paymentStatus"], "Pending",
        "one decline leaves the job open"
    );
    let i = sim.job(&idle.reference).unwrap();
    assert_eq!(
        (
            i["paymentStatus"].clone(),
            i["payments"][0]["status"].clone()
        ),
        (json!("Pending"), json!("Pending"))
    );

    let series = sim.wait_all_settled(2, WAIT).await.unwrap();
    let notified: HashSet<String> = series.iter().map(|s| s.job_ref.clone()).collect();
    assert_eq!(
        notified,
        HashSet::from([cancels.reference.clone(), declined.reference.clone()])
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_shopper_stops_when_the_job_is_cancelled_under_it() {
    let sim = start(SimConfig {
        step_gap: Duration::from_secs(3600),
        ..fast_config()
    })
    .await;
    let job = create(&sim, "C-7", None);
    let shopper = sim.play(&job.reference, Script::PaysAtOnce);
    let answer = Gateway::new(&sim)
        .signed(
            reqwest::Method::PATCH,
            &format!("/payment-jobs/{}/cancel", job.reference),
            None,
        )
        .await;
    assert_eq!(answer.status, 200);
    let outcome = shopper.await.unwrap();
    assert!(
        matches!(outcome, Err(ShopperError::Interrupted(_))),
        "{outcome:?}"
    );
    assert_eq!(
        sim.job(&job.reference).unwrap()["paymentStatus"],
        "Cancelled"
    );
    let series = sim.wait_all_settled(1, WAIT).await.unwrap();
    assert_eq!(
        series[0].state,
        SeriesState::NoWebhook,
        "no URL anywhere: nothing sent"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn control_routes_drive_the_simulator_over_http() {
    let hook = receiver(Ack::CorrectEcho).await;
    let sim = start(fast_config()).await;
    let http = reqwest::Client::new();
    let base = sim.base_url();

    let created: Value = http
        .post(format!("{base}/_sim/jobs"))
        .json(&json!({
            "amount": "7.50", "currency": "GBP", "orderNumber": "D-1",
            "email": "d@example.com", "webhookUrl": hook.url,
            "script": {"kind": "failsThenPays", "failures": 1,
                       "reasonCode": "CardDeclined", "reasonMessage": "no"}
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let job_ref = created["job"]["reference"].as_str().unwrap().to_owned();
    assert_eq!(created["hppUrl"], format!("{base}/hpp/{job_ref}"));
    sim.wait_all_settled(2, WAIT).await.unwrap();

    let deliveries: Vec<Value> = http
        .get(format!("{base}/_sim/deliveries"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(deliveries.len(), 2);
    assert!(deliveries
        .iter()
        .all(|d| d["acknowledged"] == true && d["jobRef"] == job_ref.as_str()));
    assert_wire_time(&deliveries[0]["simTime"]);

    let bad = http
        .post(format!("{base}/_sim/jobs"))
        .json(&json!({"amount": "1.00", "currency": "gb", "orderNumber": "D-2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);

    let set = http
        .post(format!("{base}/_sim/faults"))
        .json(&json!({"target": "retrieveJob", "fault": {"kind": "status", "status": 503}, "times": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 204);
    let gw = Gateway::new(&sim);
    assert_eq!(
        gw.get(&format!("/payment-jobs/{job_ref}")).await.status,
        503
    );
    assert_eq!(
        gw.get(&format!("/payment-jobs/{job_ref}")).await.status,
        200
    );
    let counts: Value = http
        .get(format!("{base}/_sim/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(counts["retrieveJob"], 2);
    assert_eq!(
        counts["createJob"], 0,
        "control-route jobs are not API requests"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn demo_traffic_creates_and_plays_plausible_jobs() {
    let hook = receiver(Ack::CorrectEcho).await;
    let sim = start(SimConfig {
        default_webhook_url: Some(hook.url.clone()),
        ..fast_config()
    })
    .await;
    let demo = spawn_demo_traffic(sim.clone(), Duration::from_millis(5));
    sim.wait_until(|s| s.job_refs().len() >= 8 && s.series().len() >= 4, WAIT)
        .await
        .unwrap();
    for r in sim.job_refs() {
        let j = sim.job(&r).unwrap();
        let amount: rust_decimal::Decimal = j["amountToCollect"].as_str().unwrap().parse().unwrap();
        assert!(amount > rust_decimal::Decimal::ZERO);
        assert!(j["order"]["orderNumber"]
            .as_str()
            .unwrap()
            .starts_with("TW-"));
        assert!(j["order"]["billingIdentity"]["emailAddress"]
            .as_str()
            .unwrap()
            .ends_with("@example.com"));
    }
    sim.shutdown().await;
    demo.await.unwrap(); // the demo ends with the simulator
}
