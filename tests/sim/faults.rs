//! Faults on demand and request counting.

use std::time::Duration;

use tillwatch_sim::{Endpoint, Fault, FaultTarget, Script};

use crate::support::*;

#[tokio::test]
async fn status_fault_for_two_requests_then_normal_answers() {
    let sim = start(fast_config()).await;
    let job = create(&sim, "E-1", None);
    let gw = Gateway::new(&sim);
    let path = format!(
        "/payment-jobs/{}/payments/{}",
        job.reference, job.payment_reference
    );
    sim.set_fault_times(
        FaultTarget::RetrievePayment,
        Fault::Status { status: 500 },
        2,
    );

    let statuses = [
        gw.get(&path).await,
        gw.get(&path).await,
        gw.get(&path).await,
    ];
    assert_eq!(error_code(&statuses[0]), "SimulatedFault");
    let codes: Vec<u16> = statuses.iter().map(|a| a.status).collect();
    assert_eq!(codes, [500, 500, 200]);
    assert_eq!(
        statuses[2].body["data"]["reference"],
        job.payment_reference.as_str()
    );
    assert_eq!(sim.api_request_count(Endpoint::RetrievePayment), 3);
    // Other endpoints were never affected.
    assert_eq!(
        gw.get(&format!("/payment-jobs/{}", job.reference))
            .await
            .status,
        200
    );

    // Until cleared: every request fails.
    sim.set_fault(FaultTarget::AnyApi, Fault::Status { status: 503 });
    for _ in 0..3 {
        assert_eq!(gw.get(&path).await.status, 503);
    }
    sim.clear_faults();
    assert_eq!(gw.get(&path).await.status, 200);
    assert_eq!(sim.api_request_count(Endpoint::RetrievePayment), 7);
    sim.shutdown().await;
}

#[tokio::test]
async fn stale_answer_returns_the_version_before_the_latest_change() {
    let sim = start(fast_config()).await;
    let job = create(&sim, "E-2", None);
    sim.play_and_wait(&job.reference, Script::PaysAtOnce)
        .await
        .unwrap();
    let gw = Gateway::new(&sim);
    let job_path = format!("/payment-jobs/{}", job.reference);
    let pay_path = format!("{job_path}/payments/{}", job.payment_reference);
    let fresh = gw.get(&job_path).await.body["data"].clone();
    assert_eq!(fresh["paymentStatus"], "Paid");

    sim.set_fault(FaultTarget::RetrieveJob, Fault::StaleAnswer);
    sim.set_fault(FaultTarget::RetrievePayment, Fault::StaleAnswer);
    let stale = gw.get(&job_path).await;
    assert_eq!(stale.status, 200);
    let stale = &stale.body["data"];
    assert_eq!(stale["paymentStatus"], "Pending");
    assert_eq!(stale["payments"][0]["status"], "Pending");
    assert!(stale["paidDateTimeUtc"].is_null());
    let older = tillwatch_sim::parse_wire(stale["lastUpdateTimeUtc"].as_str().unwrap()).unwrap();
    let newer = tillwatch_sim::parse_wire(fresh["lastUpdateTimeUtc"].as_str().unwrap()).unwrap();
    assert!(older < newer);
    let stale_payment = gw.get(&pay_path).await;
    assert_eq!(stale_payment.body["data"]["status"], "Pending");

    sim.clear_faults();
    assert_eq!(
        gw.get(&job_path).await.body["data"]["paymentStatus"],
        "Paid"
    );
    assert_eq!(gw.get(&pay_path).await.body["data"]["status"], "Paid");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_lagging_listing_shows_the_job_as_it_was_until_the_lag_has_passed() {
    let sim = start(fast_config()).await;
    let job = create(&sim, "E-3", None);
    // Paid, with other money than the job asked for.
    let paid = Script::PaysOther {
        amount: "0.40".parse().unwrap(),
    };
    sim.play_and_wait(&job.reference, paid).await.unwrap();
    let lag = Duration::from_millis(300);
    sim.set_fault(FaultTarget::RetrieveJob, Fault::Lagging { lag });
    let gw = Gateway::new(&sim);
    let job_path = format!("/payment-jobs/{}", job.reference);
    let pay_path = format!("{job_path}/payments/{}", job.payment_reference);

    // The payment's own answer is current; the job's listing is not yet.
    let payment = gw.get(&pay_path).await.body["data"].clone();
    assert_eq!(payment["status"], "Paid");
    assert_eq!(payment["paidAmount"], "0.40");
    let listing = gw.get(&job_path).await.body["data"].clone();
    assert_eq!(listing["paymentStatus"], "Pending");
    assert_eq!(listing["payments"][0]["status"], "Pending");

    // Once the lag has passed, the listing agrees, and says what was paid.
    tokio::time::sleep(lag + Duration::from_millis(100)).await;
    let listing = gw.get(&job_path).await.body["data"].clone();
    assert_eq!(listing["paymentStatus"], "Paid");
    assert_eq!(listing["paidAmount"], "0.40");
    assert_eq!(listing["amountToCollect"], "10.00", "what the job asked");
    assert_eq!(listing["payments"][0]["paidAmount"], "0.40");
    sim.shutdown().await;
}

#[tokio::test]
async fn unauthorized_fault_answers_401_with_an_error_report() {
    let sim = start(fast_config()).await;
    let job = create(&sim, "E-3", None);
    let gw = Gateway::new(&sim);
    sim.set_fault(FaultTarget::AnyApi, Fault::Unauthorized);
    let a = gw.get(&format!("/payment-jobs/{}", job.reference)).await;
    assert_eq!((a.status, error_code(&a).as_str()), (401, "InvalidHash"));
    assert_eq!(sim.api_request_count(Endpoint::RetrieveJob), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn hang_holds_the_answer_until_faults_are_cleared() {
    let sim = start(fast_config()).await;
    let job = create(&sim, "E-4", None);
    sim.set_fault(FaultTarget::RetrieveJob, Fault::Hang);
    let gw = Gateway::new(&sim);
    let path = format!("/payment-jobs/{}", job.reference);
    let pending = tokio::spawn(async move { gw.get(&path).await.status });
    sim.wait_until(|s| s.api_request_count(Endpoint::RetrieveJob) == 1, WAIT)
        .await
        .unwrap();
    // No timed look for an answer that must not come: while the fault stands, the
    // simulator changes (a new job wakes every hung request to re-check) and a later
    // request to another endpoint gets its whole answer; the hung one still has none.
    let other = create(&sim, "E-4-other", None);
    let answered = Gateway::new(&sim)
        .get(&format!(
            "/payment-jobs/{}/payments/{}",
            other.reference, other.payment_reference
        ))
        .await;
    assert_eq!(answered.status, 200);
    assert!(!pending.is_finished(), "a hung request was answered");
    sim.clear_faults();
    assert_eq!(pending.await.unwrap(), 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn delayed_answers_still_arrive_and_shutdown_releases_hung_requests() {
    let sim = start(fast_config()).await;
    let job = create(&sim, "E-5", None);
    let gw = Gateway::new(&sim);
    let path = format!("/payment-jobs/{}", job.reference);
    sim.set_fault(
        FaultTarget::RetrieveJob,
        Fault::Delay {
            delay: Duration::from_millis(20),
        },
    );
    assert_eq!(gw.get(&path).await.status, 200);

    // A target's own fault wins over AnyApi: clear the delay first.
    sim.clear_faults();
    sim.set_fault(FaultTarget::AnyApi, Fault::Hang);
    let pending = tokio::spawn(async move { gw.get(&path).await.status });
    sim.wait_until(|s| s.api_request_count(Endpoint::RetrieveJob) == 2, WAIT)
        .await
        .unwrap();
    sim.shutdown().await;
    assert_eq!(pending.await.unwrap(), 503);
}
