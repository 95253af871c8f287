//! Money leaving after the payment, as `lookup` shows it: a refund made in the portal
//! (which notifies nothing) is read from the gateway's answer when `serve` confirms the
//! order, and `lookup --json` carries what was paid, refunded and left.

use std::time::Duration;

use tillwatch::sim::{Endpoint, Fault, FaultTarget, Script};

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_portal_refund_shows_in_lookup_with_paid_refunded_and_net() {
    let tmp = TempDir::new("money-lookup");
    let sim = start_sim(sim_config("sim-api-key")).await;
    let env = Env::for_sim(&sim, tmp.path());
    let db = env.db();
    let serve = Serve::start(&env, 1).await;

    // The confirmation waits on the gateway while the money moves in the portal.
    sim.set_fault(FaultTarget::RetrieveJob, Fault::Hang);
    let job = new_job(
        &sim,
        "MONEY-1",
        "money@example.com",
        "12.50",
        Some(serve.webhook_url()),
    );
    let jr = job.reference.clone();
    within(
        "the shopper pays",
        sim.play_and_wait(&jr, Script::PaysAtOnce),
    )
    .await
    .expect("the shopper pays");
    sim_wait(&sim, "the confirm worker asks for the job", |h| {
        h.api_request_count(Endpoint::RetrieveJob) >= 1
    })
    .await;
    // Settled at the next midnight: a day later the portal may refund it.
    sim.advance_clock(Duration::from_secs(25 * 3600));
    sim.portal_refund(
        &jr,
        &job.payment_reference,
        "2.50".parse().unwrap(),
        Some("PR-1".into()),
    )
    .expect("the portal refunds a settled payment");
    sim.clear_faults();
    poll_until("the order confirmed", DEADLINE, || db.paid_and_settled(&jr)).await;

    let out = cli(&env, &["lookup", &jr, "--json"]).await;
    assert!(out.ok(), "{out}");
    let order = &out.json()[0];
    assert_eq!(order["paidAmount"], "12.50", "{order:#}");
    assert_eq!(order["refundedAmount"], "2.50", "{order:#}");
    assert_eq!(order["netAmount"], "10.00", "{order:#}");
    assert_eq!(order["moneyState"], "partlyRefunded");
    assert!(
        order["captureBy"].is_null(),
        "a paid order has no capture deadline"
    );
    assert_eq!(order["captures"].as_array().map(Vec::len), Some(0));
    let refunds = order["refunds"].as_array().expect("refunds");
    assert_eq!(refunds.len(), 1, "{order:#}");
    assert_eq!(refunds[0]["refundNumber"], "PR-1");
    assert_eq!(refunds[0]["amount"], "2.50");
    assert_eq!(refunds[0]["status"], "Completed");
    assert!(refunds[0]["by"].is_null(), "made in the portal, not by us");
    assert!(refunds[0].get("createdAt").is_some());

    // The words: refunded and net, and the ship rule's override.
    let out = cli(&env, &["lookup", &jr]).await;
    assert!(out.ok(), "{out}");
    assert!(
        out.stdout.contains("refunded 2.50 GBP") && out.stdout.contains("net 10.00 GBP"),
        "{out}"
    );
    let out = cli(&env, &["ship", &jr]).await;
    assert!(
        !out.ok(),
        "a partly refunded order ships only by override: {out}"
    );
    assert!(out.stderr.contains("partly refunded"), "{out}");
    drop(serve);
}
