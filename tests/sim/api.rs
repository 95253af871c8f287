//! The gateway API: signatures, shapes, validation and the simple endpoints.

use reqwest::Method;
use serde_json::{json, Value};
use tillwatch_sim::{Endpoint, Script, SeriesState, SimConfig};

use crate::support::*;

fn create_body(order_number: &str) -> Value {
    json!({
        "amountToCollect": "10.00",
        "currency": "GBP",
        "locale": "en_GB",
        "order": {"orderNumber": order_number, "billingIdentity": {"emailAddress": "a@example.com"}},
        "parameters": {"WebhookUrl": "http://127.0.0.1:9/hook", "ReturnUrlSuccess": "http://shop.example/ok"}
    })
}

#[tokio::test]
async fn wrong_hash_is_refused_with_an_error_report() {
    let sim = start(fast_config()).await;
    let job = create(&sim, "B-1", None);
    let gw = Gateway::new(&sim);
    let path = format!("/payment-jobs/{}", job.reference);

    let wrong = hash("not-the-key", b"");
    let a = gw
        .send(Method::GET, &path, None, Some(CONFIG_ID), Some(&wrong))
        .await;
    assert_eq!(a.status, 401);
    assert_eq!(error_code(&a), "InvalidHash");
    assert_eq!(a.body["errorReport"]["isFatalError"], true);

    let a = gw
        .send(Method::GET, &path, None, Some(CONFIG_ID), None)
        .await;
    assert_eq!((a.status, error_code(&a).as_str()), (401, "InvalidHash"));

    let right = hash(KEY, b"");
    let a = gw
        .send(Method::GET, &path, None, Some("other-config"), Some(&right))
        .await;
    assert_eq!(
        (a.status, error_code(&a).as_str()),
        (401, "InvalidConfigurationId")
    );
    let a = gw.send(Method::GET, &path, None, None, Some(&right)).await;
    assert_eq!(
        (a.status, error_code(&a).as_str()),
        (401, "InvalidConfigurationId")
    );

    // Refused requests are still counted: a client that keeps calling shows up.
    assert_eq!(sim.api_request_count(Endpoint::RetrieveJob), 4);
    sim.shutdown().await;
}

#[tokio::test]
async fn right_hash_is_accepted_in_lower_and_upper_hex() {
    let sim = start(fast_config()).await;
    let job = create(&sim, "B-2", None);
    let gw = Gateway::new(&sim);
    let path = format!("/payment-jobs/{}", job.reference);
    let lower = hash(KEY, b"");
    for h in [lower.clone(), lower.to_uppercase()] {
        let a = gw
            .send(Method::GET, &path, None, Some(CONFIG_ID), Some(&h))
            .await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(a.body["data"]["reference"], job.reference.as_str());
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn either_of_two_api_keys_is_accepted() {
    let sim = start(SimConfig {
        api_keys: vec!["old-key".into(), "new-key".into()],
        ..fast_config()
    })
    .await;
    let job = create(&sim, "B-3", None);
    let gw = Gateway::new(&sim);
    let path = format!("/payment-jobs/{}", job.reference);
    for (key, want) in [("old-key", 200), ("new-key", 200), (KEY, 401)] {
        let h = hash(key, b"");
        let a = gw
            .send(Method::GET, &path, None, Some(CONFIG_ID), Some(&h))
            .await;
        assert_eq!(a.status, want, "key {key}");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn the_hash_covers_the_exact_body_bytes() {
    let sim = start(fast_config()).await;
    let gw = Gateway::new(&sim);
    let body = serde_json::to_vec(&create_body("B-4")).unwrap();
    // Signed over the same JSON with different spacing: refused.
    let respaced = serde_json::to_vec_pretty(&create_body("B-4")).unwrap();
    let h = hash(KEY, &respaced);
    let a = gw
        .send(
            Method::POST,
            "/payment-jobs",
            Some(&body),
            Some(CONFIG_ID),
            Some(&h),
        )
        .await;
    assert_eq!((a.status, error_code(&a).as_str()), (401, "InvalidHash"));
    // The key alone is the signature only when there is no body.
    let h = hash(KEY, b"");
    let a = gw
        .send(
            Method::POST,
            "/payment-jobs",
            Some(&body),
            Some(CONFIG_ID),
            Some(&h),
        )
        .await;
    assert_eq!(a.status, 401);
    let a = gw.signed(Method::POST, "/payment-jobs", Some(&body)).await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert!(
        sim.job_refs().len() == 1,
        "only the signed request created a job"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn create_answers_201_with_the_job_its_links_and_a_pending_payment() {
    let sim = start(fast_config()).await;
    let gw = Gateway::new(&sim);
    let a = gw.post_json("/payment-jobs", &create_body("B-5")).await;
    assert_eq!(a.status, 201, "{}", a.body);
    let job = &a.body["data"];
    assert_reference(&job["reference"]);
    let reference = job["reference"].as_str().unwrap();
    assert_eq!(
        a.body["links"]["action"]["url"],
        format!("{}/hpp/{reference}", sim.base_url())
    );
    assert_eq!(
        a.body["links"]["data"]["url"],
        format!("{}/api/gateway/payment-jobs/{reference}", sim.base_url())
    );
    assert!(a.body["errorReport"].is_null());
    assert_eq!(job["type"], "Payment");
    assert_eq!(job["currency"], "GBP");
    assert_eq!(job["amountToCollect"], "10.00");
    assert_eq!(job["amountCollected"], "0.00");
    assert_eq!(job["paidAmount"], "0.00");
    assert_eq!(job["paymentStatus"], "Pending");
    assert!(job["paidDateTimeUtc"].is_null());
    assert_eq!(job["order"]["orderNumber"], "B-5");
    assert_eq!(
        job["order"]["billingIdentity"]["emailAddress"],
        "a@example.com"
    );
    assert_eq!(job["attributes"]["WebhookUrl"], "http://127.0.0.1:9/hook");
    for key in [
        "createDateTimeUtc",
        "expirationDateTimeUtc",
        "lastUpdateTimeUtc",
    ] {
        assert_wire_time(&job[key]);
    }
    let created = tillwatch_sim::parse_wire(job["createDateTimeUtc"].as_str().unwrap()).unwrap();
    let expires =
        tillwatch_sim::parse_wire(job["expirationDateTimeUtc"].as_str().unwrap()).unwrap();
    let days = (expires - created).whole_days();
    assert!((181..=184).contains(&days), "six months, got {days} days");

    let payments = job["payments"].as_array().unwrap();
    assert_eq!(payments.len(), 1);
    let p = &payments[0];
    assert_reference(&p["reference"]);
    assert_ne!(p["reference"], job["reference"]);
    assert_eq!(p["status"], "Pending");
    assert_eq!(p["paymentMethods"], json!(["Card"]));
    assert_eq!(p["surchargeAmount"], "0.00");
    assert_eq!(p["amountToCollect"], "10.00");
    assert!(p["lastErrorReport"].is_null());
    assert_wire_time(&p["createDateTimeUtc"]);
    assert_wire_time(&p["steps"][0]["dateTimeUtc"]);
    assert!(p["refunds"].as_array().unwrap().is_empty());
    assert!(p["captures"].as_array().unwrap().is_empty());

    // The HPP page needs no signature.
    let page = reqwest::get(a.body["links"]["action"]["url"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("Cashflows payment page (simulated)"));
    sim.shutdown().await;
}

#[tokio::test]
async fn create_accepts_numbers_and_camel_case_parameters() {
    let sim = start(fast_config()).await;
    let gw = Gateway::new(&sim);
    let body = json!({
        "amountToCollect": 12.5,
        "currency": "EUR",
        "order": {"orderNumber": "B-6"},
        "parameters": {"webhookUrl": "http://127.0.0.1:9/camel"}
    });
    let a = gw.post_json("/payment-jobs", &body).await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(a.body["data"]["amountToCollect"], "12.50");
    assert_eq!(
        a.body["data"]["attributes"]["WebhookUrl"],
        "http://127.0.0.1:9/camel"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn invalid_create_requests_get_400_with_an_error_report() {
    let sim = start(fast_config()).await;
    let gw = Gateway::new(&sim);
    let with = |key: &str, value: Value| {
        let mut b = create_body("B-7");
        b[key] = value;
        b
    };
    let cases = [
        (
            with("amountToCollect", json!("0")),
            "InvalidAmountToCollect",
        ),
        (
            with("amountToCollect", json!("-5.00")),
            "InvalidAmountToCollect",
        ),
        (
            with("amountToCollect", json!("ten")),
            "InvalidAmountToCollect",
        ),
        (
            with("amountToCollect", json!("1.001")),
            "InvalidAmountToCollect",
        ),
        (
            with("amountToCollect", Value::Null),
            "InvalidAmountToCollect",
        ),
        (with("currency", json!("gbp")), "InvalidCurrency"),
        (with("currency", json!("GB")), "InvalidCurrency"),
        (with("currency", json!("GBPX")), "InvalidCurrency"),
        (
            with("order", json!({"orderNumber": ""})),
            "InvalidOrderNumber",
        ),
        (with("order", json!({})), "InvalidOrderNumber"),
        (
            with("parameters", json!({"WebhookUrl": "not a url"})),
            "InvalidWebhookUrl",
        ),
        (json!([1, 2]), "InvalidRequest"),
    ];
    for (body, code) in cases {
        let a = gw.post_json("/payment-jobs", &body).await;
        assert_eq!(a.status, 400, "{body}: {}", a.body);
        assert_eq!(error_code(&a), code, "{body}");
    }
    let a = gw
        .signed(Method::POST, "/payment-jobs", Some(b"{not json"))
        .await;
    assert_eq!((a.status, error_code(&a).as_str()), (400, "InvalidRequest"));

    // Every problem is reported at once.
    let a = gw
        .post_json(
            "/payment-jobs",
            &json!({"amountToCollect": "0", "currency": "x"}),
        )
        .await;
    let codes: Vec<&str> = a.body["errorReport"]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            "InvalidAmountToCollect",
            "InvalidCurrency",
            "InvalidOrderNumber"
        ]
    );
    assert!(sim.job_refs().is_empty(), "no job was created");
    sim.shutdown().await;
}

#[tokio::test]
async fn unknown_jobs_and_payments_are_404_with_an_error_report() {
    let sim = start(fast_config()).await;
    let a_job = create(&sim, "B-8", None);
    let other = create(&sim, "B-9", None);
    let gw = Gateway::new(&sim);

    let a = gw.get("/payment-jobs/100000000000000001").await;
    assert_eq!(
        (a.status, error_code(&a).as_str()),
        (404, "PaymentJobNotFound")
    );
    let a = gw
        .get(&format!(
            "/payment-jobs/{}/payments/{}",
            a_job.reference, other.payment_reference
        ))
        .await;
    assert_eq!(
        (a.status, error_code(&a).as_str()),
        (404, "PaymentNotFound")
    );
    let a = gw
        .get(&format!(
            "/payment-jobs/100000000000000001/payments/{}",
            a_job.payment_reference
        ))
        .await;
    assert_eq!(a.status, 404);
    let a = gw
        .get(&format!(
            "/payment-jobs/{}/payments/{}",
            a_job.reference, a_job.payment_reference
        ))
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(
        a.body["data"]["reference"],
        a_job.payment_reference.as_str()
    );
    assert_eq!(a.body["data"]["status"], "Pending");
    let a = gw.get("/no-such-thing").await;
    assert_eq!(a.status, 404);
    sim.shutdown().await;
}

#[tokio::test]
async fn head_orders_tells_whether_an_order_number_exists() {
    let sim = start(fast_config()).await;
    create(&sim, "ORDER-1", None);
    create(&sim, "ORDER-1", None); // the gateway does not require unique order numbers
    let gw = Gateway::new(&sim);
    assert_eq!(
        gw.signed(Method::HEAD, "/orders/ORDER-1", None)
            .await
            .status,
        200
    );
    assert_eq!(
        gw.signed(Method::HEAD, "/orders/ORDER-2", None)
            .await
            .status,
        404
    );
    let h = hash("wrong", b"");
    let a = gw
        .send(
            Method::HEAD,
            "/orders/ORDER-1",
            None,
            Some(CONFIG_ID),
            Some(&h),
        )
        .await;
    assert_eq!(a.status, 401);
    assert_eq!(sim.api_request_count(Endpoint::OrderExists), 3);
    sim.shutdown().await;
}

#[tokio::test]
async fn cancel_cancels_an_open_job_notifies_and_refuses_a_final_one() {
    let hook = receiver(Ack::CorrectEcho).await;
    let sim = start(fast_config()).await;
    let job = create(&sim, "B-10", Some(hook.url.clone()));
    let gw = Gateway::new(&sim);
    let path = format!("/payment-jobs/{}/cancel", job.reference);

    let a = gw.signed(Method::PATCH, &path, None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["data"]["paymentStatus"], "Cancelled");
    assert_eq!(a.body["data"]["payments"][0]["status"], "Cancelled");
    let series = sim.wait_settled(1, WAIT).await.unwrap();
    assert_eq!(series.state, SeriesState::Acknowledged);
    assert_eq!(series.payment_ref, job.payment_reference);

    let a = gw.signed(Method::PATCH, &path, None).await;
    assert_eq!(a.status, 406);
    assert_eq!(error_code(&a), "InvalidPaymentJobStatus");

    let paid = create(&sim, "B-11", Some(hook.url.clone()));
    sim.play_and_wait(&paid.reference, Script::PaysAtOnce)
        .await
        .unwrap();
    let a = gw
        .signed(
            Method::PATCH,
            &format!("/payment-jobs/{}/cancel", paid.reference),
            None,
        )
        .await;
    assert_eq!(a.status, 406);
    assert_eq!(sim.job(&paid.reference).unwrap()["paymentStatus"], "Paid");
    let a = gw
        .signed(
            Method::PATCH,
            "/payment-jobs/100000000000000001/cancel",
            None,
        )
        .await;
    assert_eq!(a.status, 404);
    sim.shutdown().await;
}

#[tokio::test]
async fn last_update_time_moves_on_every_change() {
    let sim = start(fast_config()).await;
    let job = create(&sim, "B-12", None);
    let stamp = |sim: &tillwatch_sim::SimHandle| {
        let j = sim.job(&job.reference).unwrap();
        tillwatch_sim::parse_wire(j["lastUpdateTimeUtc"].as_str().unwrap()).unwrap()
    };
    let t0 = stamp(&sim);
    sim.play_and_wait(&job.reference, Script::fails_then_pays(1))
        .await
        .unwrap();
    let t1 = stamp(&sim);
    assert!(t1 > t0);
    let j = sim.job(&job.reference).unwrap();
    let last_step = j["payments"][1]["steps"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last_step["dateTimeUtc"], j["lastUpdateTimeUtc"]);
    sim.shutdown().await;
}

#[tokio::test]
async fn another_merchants_job_is_refused_with_403_to_our_configuration() {
    let sim = start(fast_config()).await;
    let ours = create(&sim, "B-OURS", None);
    let theirs = sim
        .create_job_for("another-merchant", order("B-THEIRS", None))
        .unwrap();
    let gw = Gateway::new(&sim);

    let job_path = format!("/payment-jobs/{}", theirs.reference);
    let payment_path = format!("{job_path}/payments/{}", theirs.payment_reference);
    for path in [&job_path, &payment_path] {
        let a = gw.get(path).await;
        assert_eq!((a.status, error_code(&a).as_str()), (403, "AccessDenied"));
    }
    let a = gw
        .signed(Method::PATCH, &format!("{job_path}/cancel"), None)
        .await;
    assert_eq!(a.status, 403, "{}", a.body);
    assert_eq!(
        sim.job_typed(&theirs.reference).unwrap().payment_status,
        tillwatch_sim::Status::Pending,
        "a refused cancel changes nothing"
    );
    // Its order number is not ours either.
    let a = gw.signed(Method::HEAD, "/orders/B-THEIRS", None).await;
    assert_eq!(a.status, 404);

    // A bad signature is still a 401 first: the 403 needs accepted credentials.
    let wrong = hash("not-the-key", b"");
    let a = gw
        .send(Method::GET, &job_path, None, Some(CONFIG_ID), Some(&wrong))
        .await;
    assert_eq!(a.status, 401);

    // Our own jobs are served as before.
    let a = gw.get(&format!("/payment-jobs/{}", ours.reference)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = gw.signed(Method::HEAD, "/orders/B-OURS", None).await;
    assert_eq!(a.status, 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn another_merchants_job_never_notifies_our_default_webhook() {
    let hook = receiver(Ack::CorrectEcho).await;
    let sim = start(SimConfig {
        default_webhook_url: Some(hook.url.clone()),
        ..fast_config()
    })
    .await;
    let theirs = sim
        .create_job_for("another-merchant", order("B-T2", None))
        .unwrap();
    sim.play_and_wait(&theirs.reference, Script::PaysAtOnce)
        .await
        .unwrap();
    let ours = create(&sim, "B-O2", None);
    sim.play_and_wait(&ours.reference, Script::PaysAtOnce)
        .await
        .unwrap();
    let series = sim.wait_all_settled(2, WAIT).await.unwrap();
    let foreign = series
        .iter()
        .find(|s| s.job_ref == theirs.reference)
        .unwrap();
    assert_eq!(foreign.state, SeriesState::NoWebhook);
    let received = hook.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(
        received[0].body["paymentJobReference"],
        ours.reference.as_str()
    );
    sim.shutdown().await;
}
