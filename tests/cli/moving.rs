//! The owner moves money from the command line against the simulator: what is refused
//! sends nothing, and a same-day full refund goes as a cancel.

use tillwatch::sim::{Endpoint, Script};

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refund_above_the_balance_is_refused_and_a_same_day_full_refund_is_sent_as_a_cancel() {
    let tmp = TempDir::new("money-refund-cli");
    let sim = start_sim(sim_config("sim-api-key")).await;
    let env = Env::for_sim(&sim, tmp.path());
    let db = env.db();
    let serve = Serve::start(&env, 1).await;
    let job = new_job(
        &sim,
        "MOVE-1",
        "move@example.com",
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
    poll_until("the order confirmed", DEADLINE, || db.paid_and_settled(&jr)).await;

    let out = cli(&env, &["refund", &jr, "--amount", "99.00"]).await;
    assert!(!out.ok(), "{out}");
    assert!(out.stderr.contains("more than"), "{out}");
    assert_eq!(sim.api_request_count(Endpoint::Refund), 0, "nothing sent");
    assert_eq!(sim.api_request_count(Endpoint::CancelPayment), 0);

    let out = cli(&env, &["refund", &jr]).await;
    assert!(out.ok(), "{out}");
    assert!(out.stdout.contains("cancel"), "the owner is told: {out}");
    assert_eq!(sim.api_request_count(Endpoint::Refund), 0, "{out}");
    assert_eq!(sim.api_request_count(Endpoint::CancelPayment), 1, "{out}");
}
