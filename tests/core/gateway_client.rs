use std::sync::{Arc, Mutex};
use std::time::Duration;

use tillwatch_core::domain::{Amount, Currency, JobRef, PaymentRef, PaymentStatus, Timestamp};
use tillwatch_core::gateway::{
    sign, ApiKey, CreateJobRequest, GatewayClient, GatewayConfig, GatewayEnvironment, GatewayError,
};
use tillwatch_sim::{Endpoint, Fault, FaultTarget, Script, SimConfig};
use tokio::net::TcpListener;

use crate::harness::{gateway_client, start_sim};

fn sim_config() -> SimConfig {
    SimConfig {
        clock_scale: 100_000.0,
        api_keys: vec!["first-key".into(), "second-key".into()],
        ..SimConfig::default()
    }
}

#[test]
fn signature_matches_an_independent_sha512() {
    // `printf 'sim-api-key{"amountToCollect":"10.00"}' | sha512sum`, and the sim's own
    // implementation, written separately.
    let body = br#"{"amountToCollect":"10.00"}"#;
    assert_eq!(
        sign("sim-api-key", body),
        tillwatch_sim::sign("sim-api-key", body)
    );
    assert!(sign("sim-api-key", body).starts_with("9577af1404c1d502"));
}

#[tokio::test]
async fn signed_calls_create_and_retrieve_jobs() {
    let sim = start_sim(sim_config()).await;
    let client = gateway_client(&sim, "second-key", Duration::from_secs(5));
    let gbp = Currency::known("GBP").unwrap();
    let created = client
        .create_job(&CreateJobRequest::new(
            Amount::for_charge("12.50", &gbp).unwrap(),
            gbp,
            "ORD-1".into(),
            "a@example.com".into(),
        ))
        .await
        .unwrap();
    let job_ref = created.job.reference.clone();
    assert!(created.payment_page_url.unwrap().contains(job_ref.as_str()));
    assert_eq!(created.job.payments.len(), 1);
    assert_eq!(created.job.payments[0].status, PaymentStatus::Pending);

    sim.play_and_wait(job_ref.as_str(), Script::PaysAtOnce)
        .await
        .unwrap();
    let job = client.retrieve_job(&job_ref).await.unwrap().into_snapshot();
    assert_eq!(job.status, PaymentStatus::Paid);
    assert_eq!(job.order_number.as_deref(), Some("ORD-1"));
    assert_eq!(job.email.as_deref(), Some("a@example.com"));
    assert_eq!(job.amount.unwrap().to_string(), "12.50");
    let payment = client
        .retrieve_payment(&job_ref, &job.payments[0].payment_ref)
        .await
        .unwrap();
    assert_eq!(payment.value.status, PaymentStatus::Paid);
    sim.shutdown().await;
}

#[tokio::test]
async fn gateway_error_reports_are_decoded() {
    let sim = start_sim(sim_config()).await;
    let client = gateway_client(&sim, "first-key", Duration::from_secs(5));
    let gbp = Currency::known("GBP").unwrap();
    let err = client
        .create_job(&CreateJobRequest::new(
            Amount::ZERO,
            gbp,
            "ORD-2".into(),
            "a@example.com".into(),
        ))
        .await
        .unwrap_err();
    match &err {
        GatewayError::Rejected {
            status: 400,
            report: Some(r),
        } => {
            assert!(r.has_code("InvalidAmountToCollect"), "{r:?}");
        }
        other => panic!("expected a 400 with a report, got {other:?}"),
    }
    assert!(err.to_string().contains("InvalidAmountToCollect"));
    let missing = client
        .retrieve_job(&JobRef::parse("123456789012345678").unwrap())
        .await
        .unwrap_err();
    assert!(matches!(missing, GatewayError::NotFound));
    sim.shutdown().await;
}

#[tokio::test]
async fn wrong_key_opens_the_breaker_after_one_call() {
    let sim = start_sim(sim_config()).await;
    let client = gateway_client(&sim, "not-the-key", Duration::from_secs(5));
    let job = JobRef::parse("123456789012345678").unwrap();
    let err = client.retrieve_job(&job).await.unwrap_err();
    assert!(
        matches!(
            err,
            GatewayError::Unauthorized {
                status: 401,
                report: Some(_)
            }
        ),
        "{err:?}"
    );
    assert!(client.breaker().is_open());
    assert!(
        !err.to_string().contains("not-the-key"),
        "the key never shows"
    );
    for _ in 0..3 {
        assert!(matches!(
            client.retrieve_job(&job).await,
            Err(GatewayError::CircuitOpen)
        ));
    }
    assert_eq!(sim.api_request_count(Endpoint::RetrieveJob), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn transient_failures_are_retried_and_then_reported() {
    let sim = start_sim(sim_config()).await;
    let client = gateway_client(&sim, "first-key", Duration::from_millis(300));
    let created = sim
        .create_job(tillwatch_sim::CreateJob {
            amount: "3.00".parse().unwrap(),
            currency: "GBP".into(),
            order_number: "ORD-3".into(),
            email: "b@example.com".into(),
            webhook_url: None,
        })
        .unwrap();
    let job = JobRef::parse(&created.reference).unwrap();
    let payment = PaymentRef::parse(&created.payment_reference).unwrap();

    sim.set_fault_times(
        FaultTarget::RetrievePayment,
        Fault::Status { status: 503 },
        2,
    );
    client.retrieve_payment(&job, &payment).await.unwrap();
    assert_eq!(sim.api_request_count(Endpoint::RetrievePayment), 3);

    sim.set_fault(FaultTarget::RetrieveJob, Fault::Hang);
    let err = client.retrieve_job(&job).await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert_eq!(
        sim.api_request_count(Endpoint::RetrieveJob),
        3,
        "three tries"
    );
    assert!(!client.breaker().is_open());
    sim.shutdown().await;
}

// ---- A 403 is about one operation or one job; only a 401 stops every call here.

fn unpaid_sim_job(sim: &tillwatch_sim::SimHandle, order: &str) -> (JobRef, PaymentRef) {
    let created = sim
        .create_job(tillwatch_sim::CreateJob {
            amount: "40.00".parse().unwrap(),
            currency: "GBP".into(),
            order_number: order.into(),
            email: "c@example.com".into(),
            webhook_url: None,
        })
        .unwrap();
    (
        JobRef::parse(&created.reference).unwrap(),
        PaymentRef::parse(&created.payment_reference).unwrap(),
    )
}

#[tokio::test]
async fn a_403_on_a_write_leaves_the_breaker_closed() {
    let sim = start_sim(sim_config()).await;
    let client = gateway_client(&sim, "first-key", Duration::from_secs(5));
    let (job, _) = unpaid_sim_job(&sim, "ORD-403");

    sim.set_fault(FaultTarget::CancelJob, Fault::Status { status: 403 });
    let err = client.cancel_job(&job).await.unwrap_err();
    assert_eq!(err.code(), "gateway_forbidden", "{err:?}");
    assert!(
        err.to_string().contains("refused this operation"),
        "a clear message: {err}"
    );
    assert!(
        !client.breaker().is_open(),
        "one refused cancel stops nothing"
    );

    sim.set_fault(FaultTarget::CreateJob, Fault::Status { status: 403 });
    let gbp = Currency::known("GBP").unwrap();
    let err = client
        .create_job(&CreateJobRequest::new(
            Amount::for_charge("5.00", &gbp).unwrap(),
            gbp,
            "ORD-403b".into(),
            "c@example.com".into(),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "gateway_forbidden", "{err:?}");
    assert!(
        !client.breaker().is_open(),
        "one refused create stops nothing"
    );

    let snap = client.retrieve_job(&job).await.unwrap().into_snapshot();
    assert_eq!(snap.status, PaymentStatus::Pending);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_401_on_a_write_opens_the_breaker_at_once() {
    let sim = start_sim(sim_config()).await;
    let client = gateway_client(&sim, "first-key", Duration::from_secs(5));
    let (job, _) = unpaid_sim_job(&sim, "ORD-401");
    sim.set_fault(FaultTarget::CancelJob, Fault::Unauthorized);
    let err = client.cancel_job(&job).await.unwrap_err();
    assert_eq!(err.code(), "gateway_unauthorized", "{err:?}");
    assert!(client.breaker().is_open());
    assert!(matches!(
        client.retrieve_job(&job).await,
        Err(GatewayError::CircuitOpen)
    ));
    assert_eq!(sim.api_request_count(Endpoint::RetrieveJob), 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_403_on_a_read_is_about_that_job_and_never_opens_the_breaker() {
    let sim = start_sim(sim_config()).await;
    let client = gateway_client(&sim, "first-key", Duration::from_secs(5));
    let (ours, _) = unpaid_sim_job(&sim, "ORD-403r");
    let theirs = sim
        .create_job_for(
            "another-merchant",
            tillwatch_sim::CreateJob {
                amount: "1.00".parse().unwrap(),
                currency: "GBP".into(),
                order_number: "THEIRS-1".into(),
                email: "x@example.com".into(),
                webhook_url: None,
            },
        )
        .unwrap();
    let (job, payment) = (
        JobRef::parse(&theirs.reference).unwrap(),
        PaymentRef::parse(&theirs.payment_reference).unwrap(),
    );
    // Any number of them, in a row: who they are about is for the caller to find out.
    for _ in 0..5 {
        let err = client.retrieve_payment(&job, &payment).await.unwrap_err();
        assert_eq!(err.code(), "gateway_forbidden", "{err:?}");
        let err = client.retrieve_job(&job).await.unwrap_err();
        assert_eq!(err.code(), "gateway_forbidden", "{err:?}");
    }
    assert!(!client.breaker().is_open());
    assert_eq!(
        sim.api_request_count(Endpoint::RetrieveJob),
        5,
        "never retried"
    );
    client.retrieve_job(&ours).await.unwrap();
    sim.shutdown().await;
}

#[tokio::test]
async fn credential_checks_take_a_404_as_accepted_and_the_probe_passes_an_open_breaker() {
    let sim = start_sim(sim_config()).await;
    let client = gateway_client(&sim, "first-key", Duration::from_secs(5));
    let (ours, _) = unpaid_sim_job(&sim, "ORD-CHK");
    let nothing = JobRef::parse("000000000000000000").unwrap();
    client.check_credentials(&ours).await.unwrap();
    // The signature is checked before the job is looked up: a 404 proves it was accepted.
    client.check_credentials(&nothing).await.unwrap();

    let refused = gateway_client(&sim, "not-the-key", Duration::from_secs(5));
    let err = refused.check_credentials(&nothing).await.unwrap_err();
    assert_eq!(err.code(), "gateway_unauthorized", "{err:?}");
    assert!(refused.breaker().is_open());
    assert!(matches!(
        refused.check_credentials(&ours).await,
        Err(GatewayError::CircuitOpen)
    ));
    // Only the probe goes while it is open, once, never retried.
    sim.set_fault(FaultTarget::AnyApi, Fault::Status { status: 503 });
    let before = sim.api_request_count(Endpoint::RetrieveJob);
    let err = refused.probe_credentials(&ours).await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert_eq!(sim.api_request_count(Endpoint::RetrieveJob), before + 1);
    sim.set_fault(FaultTarget::AnyApi, Fault::None);
    let err = refused.probe_credentials(&ours).await.unwrap_err();
    assert_eq!(err.code(), "gateway_unauthorized", "{err:?}");
    assert!(
        refused.breaker().is_open(),
        "a probe never closes it itself"
    );
    sim.shutdown().await;
}

// ---- Recorded answers, served byte for byte by a stand-in gateway on loopback.

/// A stand-in gateway that answers every request with one recorded answer, byte for
/// byte, and remembers what it was asked.
struct Recorded {
    base: String,
    asked: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Recorded {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../tests/fixtures/gateway/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The fixture's `data`, as the kept raw answer must equal it.
fn fixture_data(name: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_slice(&fixture(name)).unwrap();
    v["data"].clone()
}

async fn serve_recorded(status: u16, name: &str) -> Recorded {
    let body = axum::body::Bytes::from(fixture(name));
    let status = axum::http::StatusCode::from_u16(status).unwrap();
    let asked = Arc::new(Mutex::new(Vec::new()));
    let app = axum::Router::new().fallback({
        let asked = Arc::clone(&asked);
        move |req: axum::extract::Request| {
            asked
                .lock()
                .unwrap()
                .push(format!("{} {}", req.method(), req.uri().path()));
            let body = body.clone();
            async move { (status, [("content-type", "application/json")], body) }
        }
    });
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", tcp.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(tcp, app).await.unwrap();
    });
    Recorded { base, asked, task }
}

fn client_for(gw: &Recorded) -> GatewayClient {
    let mut cfg = GatewayConfig::new(
        GatewayEnvironment::parse(&gw.base).unwrap(),
        "cfg-1".into(),
        ApiKey::new("recorded-key"),
    );
    cfg.retry.max_attempts = 1;
    GatewayClient::new(cfg).unwrap()
}

fn ts(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

fn amount(s: &str) -> Option<String> {
    Some(s.to_owned())
}

fn job_ref(s: &str) -> JobRef {
    JobRef::parse(s).unwrap()
}

#[tokio::test]
async fn recorded_paid_job_decodes_in_attempt_order() {
    let gw = serve_recorded(200, "job-paid.json").await;
    let client = client_for(&gw);
    let fetched = client
        .retrieve_job(&job_ref("200421017498767380"))
        .await
        .unwrap();
    assert_eq!(fetched.raw, fixture_data("job-paid.json"));
    let job = fetched.into_snapshot();
    assert_eq!(job.status, PaymentStatus::Paid);
    assert_eq!(job.amount.map(|a| a.to_string()), amount("40.00"));
    assert_eq!(job.paid_amount.map(|a| a.to_string()), amount("40.00"));
    assert_eq!(job.currency.as_ref().map(Currency::as_str), Some("GBP"));
    assert_eq!(job.order_number.as_deref(), Some("ORD-1042"));
    assert_eq!(job.email.as_deref(), Some("ada@example.com"));
    assert_eq!(job.created_at, Some(ts("2026-11-24T10:09:12.1234567Z")));
    assert_eq!(
        job.gateway_updated_at,
        Some(ts("2026-11-24T10:11:57.0012345Z"))
    );
    let refs: Vec<_> = job
        .payments
        .iter()
        .map(|p| p.payment_ref.as_str())
        .collect();
    assert_eq!(refs, ["200421100461508616", "200421100461508617"]);
    let (declined, paid) = (&job.payments[0], &job.payments[1]);
    assert_eq!(declined.status, PaymentStatus::Declined);
    assert_eq!(declined.failure_code.as_deref(), Some("CardDeclined_05"));
    assert_eq!(
        declined.failure_reason.as_deref(),
        Some("The card issuer declined the payment.")
    );
    assert_eq!(paid.status, PaymentStatus::Paid);
    assert_eq!(paid.failure_code, None);
    assert_eq!(paid.created_at, Some(ts("2026-11-24T10:11:20.0000001Z")));
    assert_eq!(paid.raw, fixture_data("job-paid.json")["payments"][1]);
    assert_eq!(
        gw.asked.lock().unwrap().as_slice(),
        ["GET /api/gateway/payment-jobs/200421017498767380"]
    );
}

#[tokio::test]
async fn recorded_loose_formats_decode_exactly() {
    let gw = serve_recorded(200, "job-loose-formats.json").await;
    let client = client_for(&gw);
    let fetched = client
        .retrieve_job(&job_ref("200421017498767381"))
        .await
        .unwrap();
    assert_eq!(fetched.raw, fixture_data("job-loose-formats.json"));
    let job = fetched.into_snapshot();
    // An unknown status word is kept as it came.
    assert_eq!(job.status, PaymentStatus::Other("PartiallyCaptured".into()));
    // JSON numbers keep every digit: no trip through f64.
    assert_eq!(
        job.amount.map(|a| a.to_string()),
        amount("12345678901234567.891")
    );
    assert_eq!(job.paid_amount.map(|a| a.to_string()), amount("0.1"));
    assert_eq!(job.currency.as_ref().map(Currency::as_str), Some("GBP"));
    // No offset means UTC; seven fractional digits are read.
    assert_eq!(job.created_at, Some(ts("2026-11-24T10:09:12Z")));
    assert_eq!(
        job.gateway_updated_at,
        Some(ts("2026-11-24T10:12:30.9346867Z"))
    );
    // Listed newest first by the gateway; kept in attempt order.
    let refs: Vec<_> = job
        .payments
        .iter()
        .map(|p| p.payment_ref.as_str())
        .collect();
    assert_eq!(refs, ["200421100461508618", "200421100461508619"]);
    let (failed, open) = (&job.payments[0], &job.payments[1]);
    assert_eq!(failed.status, PaymentStatus::Failed);
    assert_eq!(
        failed.amount.map(|a| a.to_string()),
        amount("12345678901234567.891")
    );
    assert_eq!(failed.failure_code.as_deref(), Some("InsufficientFunds_51"));
    assert_eq!(failed.failure_reason.as_deref(), Some("Insufficient funds"));
    assert_eq!(failed.created_at, Some(ts("2026-11-24T10:10:00.5Z")));
    assert_eq!(open.status, PaymentStatus::Other("Authorising".into()));
    assert_eq!(
        open.amount.map(|a| a.to_string()),
        amount("12345678901234567.891")
    );
    assert_eq!(open.created_at, Some(ts("2026-11-24T10:12:00.0000001Z")));
    assert_eq!(
        open.raw,
        fixture_data("job-loose-formats.json")["payments"][0]
    );
}

#[tokio::test]
async fn recorded_job_of_nulls_decodes() {
    let gw = serve_recorded(200, "job-nulls.json").await;
    let client = client_for(&gw);
    let fetched = client
        .retrieve_job(&job_ref("200421017498767382"))
        .await
        .unwrap();
    assert_eq!(fetched.raw, fixture_data("job-nulls.json"));
    let job = fetched.into_snapshot();
    assert_eq!(job.job_ref.as_str(), "200421017498767382");
    assert!(job.payments.is_empty());
    assert_eq!(job.status, PaymentStatus::Pending);
    assert_eq!(job.amount, None);
    assert_eq!(job.currency, None);
    assert_eq!(job.order_number, None);
    assert_eq!(job.gateway_updated_at, None);
}

#[tokio::test]
async fn recorded_created_job_gives_the_payment_page() {
    let gw = serve_recorded(201, "job-created.json").await;
    let client = client_for(&gw);
    let gbp = Currency::known("GBP").unwrap();
    let created = client
        .create_job(&CreateJobRequest::new(
            Amount::for_charge("12.50", &gbp).unwrap(),
            gbp,
            "ORD-2001".into(),
            "bo@example.com".into(),
        ))
        .await
        .unwrap();
    assert_eq!(created.raw, fixture_data("job-created.json"));
    assert_eq!(created.job.reference.as_str(), "200421017498767390");
    assert_eq!(
        created.payment_page_url.as_deref(),
        Some("https://gateway-int.cashflows.com/payment?ref=200421017498767390")
    );
    assert_eq!(
        created.job.currency.as_ref().map(Currency::as_str),
        Some("GBP")
    );
    assert_eq!(created.job.payments.len(), 1);
    let first = &created.job.payments[0];
    assert_eq!(first.status, PaymentStatus::Pending);
    assert!(first.steps.is_empty());
    assert_eq!(
        gw.asked.lock().unwrap().as_slice(),
        ["POST /api/gateway/payment-jobs"]
    );
}

#[tokio::test]
async fn recorded_payments_decode_with_reasons_and_unknown_statuses() {
    let gw = serve_recorded(200, "payment-declined.json").await;
    let client = client_for(&gw);
    let job = job_ref("200421017498767380");
    let declined = client
        .retrieve_payment(&job, &PaymentRef::parse("200421100461508616").unwrap())
        .await
        .unwrap();
    assert_eq!(declined.raw, fixture_data("payment-declined.json"));
    let p = &declined.value;
    assert_eq!(p.status, PaymentStatus::Declined);
    // A number amount keeps its scale as written.
    assert_eq!(p.amount_to_collect.map(|a| a.to_string()), amount("40.00"));
    assert_eq!(p.paid_amount.map(|a| a.to_string()), amount("0"));
    assert!(p.steps.is_empty());
    assert_eq!(
        p.failure(),
        Some((
            "CardDeclined_05".to_owned(),
            "The card issuer declined the payment.".to_owned()
        ))
    );
    assert_eq!(p.last_activity(), Some(ts("2026-11-24T10:09:40.5Z")));
    assert_eq!(
        gw.asked.lock().unwrap().as_slice(),
        ["GET /api/gateway/payment-jobs/200421017498767380/payments/200421100461508616"]
    );

    let gw = serve_recorded(200, "payment-unknown-status.json").await;
    let client = client_for(&gw);
    let odd = client
        .retrieve_payment(&job, &PaymentRef::parse("200421100461508620").unwrap())
        .await
        .unwrap();
    assert_eq!(odd.raw, fixture_data("payment-unknown-status.json"));
    let p = &odd.value;
    assert_eq!(
        p.status,
        PaymentStatus::Other("AwaitingThreeDSecure".into())
    );
    assert_eq!(p.amount_to_collect.map(|a| a.to_string()), amount("7.5"));
    assert_eq!(
        p.create_date_time_utc,
        Some(ts("2026-11-24T10:20:00.1234567Z"))
    );
    assert_eq!(p.last_activity(), Some(ts("2026-11-24T10:20:05.9999999Z")));
    assert_eq!(p.failure(), None);
}

#[tokio::test]
async fn recorded_error_reports_decode_per_status() {
    let job = job_ref("200421017498767380");

    let gw = serve_recorded(400, "error-400.json").await;
    let err = client_for(&gw).retrieve_job(&job).await.unwrap_err();
    match &err {
        GatewayError::Rejected {
            status: 400,
            report: Some(r),
        } => assert!(r.has_code("InvalidAmountToCollect"), "{r:?}"),
        other => panic!("expected a 400 with its report, got {other:?}"),
    }

    let gw = serve_recorded(401, "error-401.json").await;
    let client = client_for(&gw);
    let err = client.retrieve_job(&job).await.unwrap_err();
    match &err {
        GatewayError::Unauthorized {
            status: 401,
            report: Some(r),
        } => assert!(r.has_code("InvalidToken"), "{r:?}"),
        other => panic!("expected a 401 with its report, got {other:?}"),
    }
    assert!(client.breaker().is_open());

    let gw = serve_recorded(403, "error-403.json").await;
    let client = client_for(&gw);
    let err = client.cancel_job(&job).await.unwrap_err();
    assert_eq!(err.code(), "gateway_forbidden", "{err:?}");
    assert!(
        err.to_string().contains("OperationNotAllowed_2"),
        "the gateway's reason is shown: {err}"
    );
    assert!(!client.breaker().is_open());
    assert_eq!(
        gw.asked.lock().unwrap().as_slice(),
        ["PATCH /api/gateway/payment-jobs/200421017498767380/cancel"]
    );

    let gw = serve_recorded(404, "error-404.json").await;
    let err = client_for(&gw).retrieve_job(&job).await.unwrap_err();
    assert!(matches!(err, GatewayError::NotFound), "{err:?}");
}
