//! `deliveries --dead` and `retry`: the owner sees the notifications we acknowledged but
//! could not confirm, with the gateway's answer, and sends one back to be asked again.

use tillwatch::sim::Script;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dead_deliveries_are_listed_and_retried_through_the_cli() {
    let tmp = TempDir::new("cli-dead");
    let sim = start_sim(sim_config("sim-api-key")).await;
    let env = Env::for_sim(&sim, tmp.path());
    let job = new_job(&sim, "CLI-DEAD-1", "dora@example.com", "14.00", None);
    within(
        "a shopper pays",
        sim.play_and_wait(&job.reference, Script::PaysAtOnce),
    )
    .await
    .expect("the shopper pays");

    // A delivery that a past `serve` gave up on after the gateway kept refusing it.
    crate::seed::dead_delivery(
        &env.db_path(),
        &job.reference,
        &job.payment_reference,
        "gave up after 10 attempts: the gateway refused the request (HTTP 400)",
    )
    .await;

    let listed = cli(&env, &["deliveries", "--dead", "--json"]).await.json();
    let listed = listed.as_array().expect("a list");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["paymentJobReference"], job.reference.as_str());
    assert_eq!(listed[0]["state"], "dead");
    assert!(listed[0]["outcome"]
        .as_str()
        .is_some_and(|o| o.contains("HTTP 400")));
    let text = cli(&env, &["deliveries", "--dead"]).await;
    assert!(
        text.ok() && text.stdout.contains(&job.payment_reference),
        "{text}"
    );

    let nothing = cli(&env, &["retry", "123456789"]).await;
    assert!(
        !nothing.ok(),
        "retrying what is not dead is refused: {nothing}"
    );
    assert!(
        nothing.stderr.contains("no dead or unknown delivery"),
        "{nothing}"
    );

    let retried = cli(&env, &["retry", &job.payment_reference]).await;
    assert!(retried.ok(), "{retried}");
    let none = cli(&env, &["deliveries", "--dead", "--json"]).await.json();
    assert_eq!(none.as_array().map(Vec::len), Some(0), "{none}");

    // The next `serve` asks the gateway again and the order is paid.
    let serve = Serve::start(&env, 3600).await;
    let db = env.db();
    poll_until("the retried delivery confirmed", DEADLINE, || {
        db.paid_and_settled(&job.reference)
    })
    .await;
    drop(serve);
    sim.shutdown().await;
}
