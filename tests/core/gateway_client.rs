use std::time::Duration;

use tillwatch::domain::{Amount, Currency, JobRef, PaymentRef, PaymentStatus};
use tillwatch::gateway::{sign, CreateJobRequest, GatewayError};
use tillwatch::sim::{Endpoint, Fault, FaultTarget, Script, SimConfig};

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
        tillwatch::sim::sign("sim-api-key", body)
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
        .create_job(tillwatch::sim::CreateJob {
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
