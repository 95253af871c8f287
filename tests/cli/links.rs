//! `tillwatch link create` and `link cancel` through the real binary, against the gateway
//! simulator: what the owner is shown, what the gateway holds afterwards, and refusals
//! that leave nothing behind at the gateway.

use serde_json::Value;
use tillwatch::sim::{Endpoint, Script, SimHandle};

use crate::harness::*;

/// A webhook on which nothing listens: the simulator's notifications for links that no
/// test serves go nowhere.
const NOWHERE: &str = "http://127.0.0.1:9/webhooks/cashflows";

/// The job reference in `link create`'s text output (`… job REF  attempts …`).
fn job_in(out: &Output) -> String {
    out.stdout
        .split_whitespace()
        .skip_while(|w| *w != "job")
        .nth(1)
        .unwrap_or_else(|| panic!("no job reference in the output: {out}"))
        .to_owned()
}

/// The simulator's hosted payment page for a job.
fn payment_page(sim: &SimHandle, job: &str) -> String {
    format!("{}/hpp/{job}", sim.base_url())
}

/// The simulator's job, as its API would answer it.
fn sim_job(sim: &SimHandle, job: &str) -> Value {
    sim.job(job)
        .unwrap_or_else(|| panic!("the simulator holds no job {job}"))
}

/// What a refused `link create` must leave behind at the gateway: nothing.
struct GatewayJobs {
    jobs: usize,
    create_calls: u64,
}

impl GatewayJobs {
    fn now(sim: &SimHandle) -> Self {
        Self {
            jobs: sim.job_refs().len(),
            create_calls: sim.api_request_count(Endpoint::CreateJob),
        }
    }

    fn assert_unchanged(&self, sim: &SimHandle, what: &str) {
        assert_eq!(
            sim.job_refs().len(),
            self.jobs,
            "{what}: no job was created"
        );
        assert_eq!(
            sim.api_request_count(Endpoint::CreateJob),
            self.create_calls,
            "{what}: the gateway was not even asked to create one"
        );
    }
}

/// Asserts a failed command whose error names `words`.
fn assert_refused(out: &Output, words: &[&str]) {
    assert!(!out.ok(), "the command must fail: {out}");
    let said = out.stderr.to_lowercase();
    for w in words {
        assert!(
            said.contains(&w.to_lowercase()),
            "the error says '{w}': {out}"
        );
    }
    assert!(
        out.stdout.trim().is_empty(),
        "nothing printed as a result: {out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn link_create_prints_the_payment_page_and_job_and_the_gateway_holds_what_was_asked() {
    let tmp = TempDir::new("link-create");
    let sim = start_sim(sim_config("sim-api-key")).await;
    let env = Env::for_sim(&sim, tmp.path());
    let serve = Serve::start(&env, 300).await;

    let out = cli(
        &env,
        &[
            "link",
            "create",
            "--amount",
            "42.50",
            "--currency",
            "EUR",
            "--order",
            "PHONE-7",
            "--email",
            "dana@example.com",
            "--webhook-url",
            &serve.webhook_url(),
        ],
    )
    .await;
    assert!(out.ok(), "link create succeeds: {out}");
    let job = job_in(&out);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "the order line, then the link: {out}");
    assert!(lines[0].contains("Pending"), "{out}");
    assert!(lines[0].contains("order PHONE-7"), "{out}");
    assert_eq!(
        lines[1],
        payment_page(&sim, &job),
        "the payment page to send: {out}"
    );

    // The gateway holds the job as it was asked for, told to notify our webhook.
    let held = sim_job(&sim, &job);
    assert_eq!(held["amountToCollect"], "42.50", "{held:#}");
    assert_eq!(held["currency"], "EUR", "{held:#}");
    assert_eq!(held["order"]["orderNumber"], "PHONE-7", "{held:#}");
    assert_eq!(
        held["order"]["billingIdentity"]["emailAddress"], "dana@example.com",
        "{held:#}"
    );
    assert_eq!(
        held["attributes"]["WebhookUrl"],
        serve.webhook_url().as_str(),
        "{held:#}"
    );

    // The customer pays on that page: the running serve hears of it and confirms it.
    within(
        "the customer pays",
        sim.play_and_wait(&job, Script::PaysAtOnce),
    )
    .await
    .expect("the customer pays");
    let db = env.db();
    poll_until("the link's order Paid", DEADLINE, || {
        db.paid_and_settled(&job)
    })
    .await;
    let found = cli(&env, &["lookup", "PHONE-7", "--json"]).await.json();
    assert_eq!(found[0]["paymentJobReference"], job.as_str(), "{found:#}");
    assert_eq!(found[0]["status"], "Paid", "{found:#}");
    assert_eq!(found[0]["createdHere"], true, "{found:#}");
    assert_eq!(found[0]["mismatch"], Value::Null, "{found:#}");
    drop(serve);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn link_create_json_gives_the_order_with_its_link_and_notifies_the_remembered_public_url() {
    let tmp = TempDir::new("link-json");
    let sim = start_sim(sim_config("sim-api-key")).await;
    let env = Env::for_sim(&sim, tmp.path());
    // What a serve with a tunnel leaves next to the database for the CLI to find.
    std::fs::create_dir_all(&env.data_dir).expect("the data dir");
    std::fs::write(
        env.db_path().with_extension("tunnel-url.txt"),
        "https://abc123.tunnel.example/\n",
    )
    .expect("remember a public URL");

    let out = cli(
        &env,
        &[
            "link",
            "create",
            "--json",
            "--amount",
            "9.90",
            "--order",
            "DM-1",
            "--email",
            "eve@example.com",
            "--note",
            "asked on the phone",
        ],
    )
    .await;
    let order = out.json();
    let job = order["paymentJobReference"]
        .as_str()
        .unwrap_or_else(|| panic!("a job reference: {order:#}"))
        .to_owned();
    assert_eq!(order["orderNumber"], "DM-1", "{order:#}");
    assert_eq!(order["status"], "Pending", "{order:#}");
    assert_eq!(order["currency"], "GBP", "GBP unless asked: {order:#}");
    assert_eq!(order["createdHere"], true, "{order:#}");
    assert_eq!(
        order["paymentLink"],
        payment_page(&sim, &job).as_str(),
        "{order:#}"
    );
    assert_eq!(order["email"], "eve@example.com", "{order:#}");
    // The owner's note is kept with the order (no output shows it yet).
    assert_eq!(
        env.db()
            .text("SELECT note FROM payment_jobs WHERE job_ref = ?1", &job)
            .unwrap()
            .as_deref(),
        Some("asked on the phone")
    );

    let held = sim_job(&sim, &job);
    assert_eq!(held["amountToCollect"], "9.90", "{held:#}");
    assert_eq!(held["currency"], "GBP", "{held:#}");
    assert_eq!(held["order"]["orderNumber"], "DM-1", "{held:#}");
    assert_eq!(
        held["attributes"]["WebhookUrl"], "https://abc123.tunnel.example/webhooks/cashflows",
        "the public URL serve last reported, not the local listener: {held:#}"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn link_create_without_a_known_public_url_warns_and_names_the_local_listener() {
    let tmp = TempDir::new("link-local");
    let sim = start_sim(sim_config("sim-api-key")).await;
    let env = Env::for_sim(&sim, tmp.path());
    let out = cli(
        &env,
        &[
            "link",
            "create",
            "--amount",
            "5",
            "--order",
            "L-1",
            "--email",
            "f@example.com",
        ],
    )
    .await;
    assert!(out.ok(), "{out}");
    assert!(
        out.stderr.contains("no public webhook URL is known"),
        "the owner is warned that the gateway cannot reach this machine: {out}"
    );
    let held = sim_job(&sim, &job_in(&out));
    assert_eq!(held["amountToCollect"], "5.00", "{held:#}");
    assert_eq!(
        held["attributes"]["WebhookUrl"],
        format!(
            "http://{}/webhooks/cashflows",
            tillwatch::config::DEFAULT_LISTEN
        )
        .as_str(),
        "{held:#}"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn link_cancel_cancels_the_job_at_the_gateway_and_in_lookup_once() {
    let tmp = TempDir::new("link-cancel");
    let sim = start_sim(sim_config("sim-api-key")).await;
    let env = Env::for_sim(&sim, tmp.path());
    let out = cli(
        &env,
        &[
            "link",
            "create",
            "--amount",
            "15.00",
            "--order",
            "C-1",
            "--email",
            "g@example.com",
            "--webhook-url",
            NOWHERE,
        ],
    )
    .await;
    assert!(out.ok(), "{out}");
    let job = job_in(&out);

    // By order number, as an owner would type it.
    let out = cli(&env, &["link", "cancel", "C-1"]).await;
    assert!(out.ok(), "link cancel succeeds: {out}");
    assert!(out.stdout.contains("Cancelled"), "{out}");
    assert!(out.stdout.contains(&job), "{out}");

    let held = sim_job(&sim, &job);
    assert_eq!(held["paymentStatus"], "Cancelled", "{held:#}");
    let found = cli(&env, &["lookup", &job, "--json"]).await.json();
    assert_eq!(found[0]["status"], "Cancelled", "{found:#}");
    let audit = found[0]["audit"].to_string();
    assert!(
        audit.contains("link cancelled"),
        "the owner's act is audited: {audit}"
    );

    // A second cancel is refused in words, and the gateway is not asked again.
    let cancels = sim.api_request_count(Endpoint::CancelJob);
    let out = cli(&env, &["link", "cancel", &job, "--json"]).await;
    assert_refused(&out, &["Cancelled", "can no longer be cancelled"]);
    assert_eq!(sim.api_request_count(Endpoint::CancelJob), cancels);

    // An order nobody knows is refused too.
    let out = cli(&env, &["link", "cancel", "NO-SUCH-ORDER"]).await;
    assert_refused(&out, &["no order matches", "NO-SUCH-ORDER"]);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn link_create_with_bad_input_fails_clearly_and_creates_nothing_at_the_gateway() {
    let tmp = TempDir::new("link-bad");
    let sim = start_sim(sim_config("sim-api-key")).await;
    let env = Env::for_sim(&sim, tmp.path());
    let create = |currency: &'static str, order: &'static str| {
        let env = env.clone();
        async move {
            cli(
                &env,
                &[
                    "link",
                    "create",
                    "--amount",
                    "20.00",
                    "--currency",
                    currency,
                    "--order",
                    order,
                    "--email",
                    "h@example.com",
                    "--webhook-url",
                    NOWHERE,
                ],
            )
            .await
        }
    };

    let before = GatewayJobs::now(&sim);
    let out = create("XYZ", "B-1").await;
    assert_refused(&out, &["XYZ", "not a currency"]);
    before.assert_unchanged(&sim, "unknown currency");

    // An order number the shop's website already used at the gateway.
    new_job(&sim, "WEB-1", "web@example.com", "3.00", None);
    let before = GatewayJobs::now(&sim);
    let out = create("GBP", "WEB-1").await;
    assert_refused(&out, &["WEB-1", "already used at Cashflows"]);
    before.assert_unchanged(&sim, "order number used at the gateway");

    // An order number a link made here already has.
    assert!(create("GBP", "B-2").await.ok());
    let before = GatewayJobs::now(&sim);
    let out = create("GBP", "B-2").await;
    assert_refused(&out, &["B-2", "already used here"]);
    before.assert_unchanged(&sim, "order number used here");

    // Only the one good link became an order.
    let orders = cli(&env, &["orders", "--json"]).await.json();
    assert_eq!(
        orders.as_array().map(Vec::len),
        Some(1),
        "one order: {orders:#}"
    );
    sim.shutdown().await;
}
