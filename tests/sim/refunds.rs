//! Refunds as strictly as the gateway makes them: only after the midnight settlement,
//! within the refundable balance, Pending or Failed as switched, from the "portal",
//! never notified, and applied even when their answer is lost.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use tillwatch_sim::{Endpoint, Fault, FaultTarget, OperationStatus, RefundMode, SimHandle};

use crate::money::*;
use crate::support::*;

#[tokio::test]
async fn a_refund_waits_for_the_midnight_settlement_and_notifies_nothing() {
    let (sim, hook, gw, job) = paid_and_heard("M-4").await;

    let same_day = refund(&gw, &job, "4.00", "R-1").await;
    assert_eq!(same_day.status, 406, "{}", same_day.body);
    assert_eq!(error_code(&same_day), "PaymentNotSettled");

    sim.advance_clock(11 * HOUR); // 23:00: still the same day
    let late = refund(&gw, &job, "4.00", "R-1").await;
    assert_eq!(late.status, 406, "{}", late.body);

    sim.advance_clock(2 * HOUR); // 01:00 the next day
    let a = refund(&gw, &job, "4.00", "R-1").await;
    assert_eq!(a.status, 201, "{}", a.body);
    let data = &a.body["data"];
    assert_reference(&data["reference"]);
    assert_wire_time(&data["createDateTimeUtc"]);
    assert_eq!(data["refundNumber"], "R-1");
    assert_eq!(data["amountToRefund"], "4.00");
    assert_eq!(data["status"], "Completed");
    assert_eq!(data["steps"][0]["action"], "Refund");
    assert!(data["attributes"].is_object());

    let payment = reread(&gw, &job).await;
    assert_eq!(payment["status"], "Paid", "a refund is not a status change");
    assert_eq!(payment["refunds"], json!([data]));

    only_the_payment_was_heard(&sim, &hook, &job).await;
    sim.shutdown().await;
}

#[tokio::test]
async fn partial_refunds_add_up_to_the_paid_amount_and_no_further() {
    let sim = start(noon_config()).await;
    let gw = Gateway::new(&sim);
    let job = settled(&sim, "M-5").await;

    for (amount, number) in [("4.00", "R-1"), ("3.50", "R-2")] {
        let a = refund(&gw, &job, amount, number).await;
        assert_eq!(a.status, 201, "{}", a.body);
    }
    let above = refund(&gw, &job, "2.51", "R-3").await;
    assert_eq!(
        (above.status, error_code(&above).as_str()),
        (406, "AmountExceedsRefundableAmount")
    );
    let rest = refund(&gw, &job, "2.50", "R-3").await;
    assert_eq!(rest.status, 201, "{}", rest.body);
    let more = refund(&gw, &job, "0.01", "R-4").await;
    assert_eq!(more.status, 406, "{}", more.body);

    let refunds = reread(&gw, &job).await["refunds"].clone();
    let numbers: Vec<_> = refunds
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["refundNumber"].clone(), r["amountToRefund"].clone()))
        .collect();
    assert_eq!(
        numbers,
        [("R-1", "4.00"), ("R-2", "3.50"), ("R-3", "2.50")].map(|(n, a)| (json!(n), json!(a)))
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn refunds_of_unpaid_payments_are_406_and_bad_input_400() {
    let sim = start(manual_capture()).await;
    let gw = Gateway::new(&sim);
    let reserved = paid(&sim, "M-6", None).await;
    let unpaid = create(&sim, "M-6b", None);
    past_midnight(&sim);

    let a = refund(&gw, &reserved, "1.00", "R-1").await;
    assert_eq!(
        a.status, 406,
        "a reservation is captured or cancelled, not refunded"
    );
    let a = refund(&gw, &unpaid, "1.00", "R-1").await;
    assert_eq!(a.status, 406, "{}", a.body);

    sim.set_auto_capture(true);
    let job = settled(&sim, "M-6c").await;
    let path = format!("{}/refunds", payment_path(&job));
    for body in [
        json!({"refundNumber": "R-1"}),
        json!({"amountToRefund": "1.00"}),
        json!({"amountToRefund": "1.00", "refundNumber": ""}),
        json!({"amountToRefund": "abc", "refundNumber": "R-1"}),
        json!({"amountToRefund": "-1.00", "refundNumber": "R-1"}),
        json!({"amountToRefund": "0.00", "refundNumber": "R-1"}),
        json!({"amountToRefund": "1.005", "refundNumber": "R-1"}),
        json!([1]),
    ] {
        let a = gw.post_json(&path, &body).await;
        assert_eq!(a.status, 400, "{body}: {}", a.body);
        error_code(&a);
    }
    let unknown = format!("/payment-jobs/{}/payments/1/refunds", job.reference);
    let a = gw
        .post_json(
            &unknown,
            &json!({"amountToRefund": "1.00", "refundNumber": "R-1"}),
        )
        .await;
    assert_eq!(
        (a.status, error_code(&a).as_str()),
        (404, "PaymentNotFound")
    );

    // Signed like every route: a wrong hash refunds nothing.
    let body =
        serde_json::to_vec(&json!({"amountToRefund": "1.00", "refundNumber": "R-1"})).unwrap();
    let wrong = hash("not-the-key", &body);
    let a = gw
        .send(
            Method::POST,
            &path,
            Some(&body),
            Some(CONFIG_ID),
            Some(&wrong),
        )
        .await;
    assert_eq!(a.status, 401);
    assert_eq!(reread(&gw, &job).await["refunds"], json!([]));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_pending_refund_counts_against_the_balance_until_it_completes() {
    let sim = start(noon_config()).await;
    let gw = Gateway::new(&sim);
    let job = settled(&sim, "M-9").await;
    sim.set_refund_mode(RefundMode::Pending { pending_for: HOUR });

    let a = refund(&gw, &job, "6.00", "R-1").await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(a.body["data"]["status"], "Pending");
    assert_eq!(a.body["data"]["steps"][0]["status"], "Pending");
    let above = refund(&gw, &job, "4.01", "R-2").await;
    assert_eq!(above.status, 406, "pending refunds count: {}", above.body);
    assert_eq!(reread(&gw, &job).await["refunds"][0]["status"], "Pending");

    sim.advance_clock(HOUR);
    let completed = |sim: &SimHandle| {
        let current = sim.job_typed(&job.reference).unwrap();
        current.payments[0].refunds[0].status == OperationStatus::Completed
    };
    sim.wait_until(completed, WAIT).await.unwrap();
    let r = &reread(&gw, &job).await["refunds"][0];
    assert_eq!(r["status"], "Completed");
    assert_eq!(r["steps"].as_array().unwrap().len(), 2, "{r}");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_failed_refund_says_why_and_refunds_nothing() {
    let sim = start(noon_config()).await;
    let gw = Gateway::new(&sim);
    let job = settled(&sim, "M-10").await;
    sim.set_refund_mode(RefundMode::Failed);

    let a = refund(&gw, &job, "10.00", "R-1").await;
    assert_eq!(a.status, 201, "{}", a.body);
    let data = &a.body["data"];
    assert_eq!(data["status"], "Failed");
    assert_eq!(data["steps"][0]["status"], "Failed");
    assert_eq!(
        data["attributes"]["ErrorCode"],
        "InsufficientMerchantBalance"
    );

    sim.set_refund_mode(RefundMode::Completed);
    let a = refund(&gw, &job, "10.00", "R-2").await;
    assert_eq!(
        a.status, 201,
        "a failed refund leaves the balance: {}",
        a.body
    );
    let statuses: Vec<_> = reread(&gw, &job).await["refunds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].clone())
        .collect();
    assert_eq!(statuses, [json!("Failed"), json!("Completed")]);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_portal_refund_shows_in_refunds_and_notifies_nothing() {
    let (sim, hook, gw, job) = paid_and_heard("M-11").await;

    let early = sim.portal_refund(
        &job.reference,
        &job.payment_reference,
        "1.00".parse().unwrap(),
        None,
    );
    assert_eq!(
        early.unwrap_err().status,
        406,
        "the portal refunds settled payments only"
    );
    past_midnight(&sim);
    let by_handle = sim
        .portal_refund(
            &job.reference,
            &job.payment_reference,
            "3.00".parse().unwrap(),
            Some("P-1".into()),
        )
        .unwrap();
    assert_eq!(by_handle.refund_number, "P-1");

    // Over the unsigned control route, with a number the portal makes up.
    let url = format!(
        "{}/_sim/jobs/{}/payments/{}/refunds",
        sim.base_url(),
        job.reference,
        job.payment_reference
    );
    let res = gw
        .http
        .post(&url)
        .json(&json!({"amount": "2.00"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let made: Value = res.json().await.unwrap();
    assert!(
        made["refundNumber"]
            .as_str()
            .unwrap()
            .starts_with("portal-"),
        "{made}"
    );
    let res = gw
        .http
        .post(&url)
        .json(&json!({"amount": "5.01"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 406, "above the balance");

    let refunds = reread(&gw, &job).await["refunds"].clone();
    assert_eq!(refunds.as_array().unwrap().len(), 2);
    assert_eq!(refunds[0]["amountToRefund"], "3.00");
    assert_eq!(refunds[1], made);

    only_the_payment_was_heard(&sim, &hook, &job).await;
    sim.shutdown().await;
}

#[tokio::test]
async fn a_lost_refund_answer_leaves_exactly_one_refund() {
    let sim = start(noon_config()).await;
    let gw = Gateway::new(&sim);
    let job = settled(&sim, "M-12").await;
    sim.set_fault(FaultTarget::Refund, Fault::LoseAnswer);

    let body =
        serde_json::to_vec(&json!({"amountToRefund": "4.00", "refundNumber": "R-LOST"})).unwrap();
    let sent = gw
        .http
        .post(format!("{}{}/refunds", gw.base, payment_path(&job)))
        .header("ConfigurationId", CONFIG_ID)
        .header("Hash", hash(KEY, &body))
        .header("Content-Type", "application/json")
        .body(body)
        .timeout(Duration::from_millis(500))
        .send()
        .await;
    assert!(sent.unwrap_err().is_timeout(), "the answer never arrives");

    let refunds = reread(&gw, &job).await["refunds"].clone();
    assert_eq!(refunds.as_array().unwrap().len(), 1, "{refunds}");
    assert_eq!(refunds[0]["refundNumber"], "R-LOST");
    assert_eq!(refunds[0]["status"], "Completed");
    assert_eq!(sim.api_request_count(Endpoint::Refund), 1);
    sim.clear_faults();
    sim.shutdown().await;
}
