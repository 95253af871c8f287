//! The read commands (`lookup`, `orders`, `ship`, `export`) against a database that a
//! real `serve` filled from real notifications, and clear failures on bad input.

use serde_json::Value;
use tillwatch::sim::{JobSnapshot, Script, SeriesState, SimHandle};

use crate::harness::*;

/// A shop after a real serve run: one order paid at once, one still Pending after a
/// declined card, one paid on the second attempt. Serve keeps running, as it would
/// while the owner uses the CLI.
struct Shop {
    sim: SimHandle,
    env: Env,
    serve: Serve,
    paid: JobSnapshot,
    pending: JobSnapshot,
    retried: JobSnapshot,
    _tmp: TempDir,
}

impl Shop {
    async fn open(label: &str) -> Shop {
        let tmp = TempDir::new(label);
        let sim = start_sim(sim_config("sim-api-key")).await;
        let env = Env::for_sim(&sim, tmp.path());
        let serve = Serve::start(&env, 1).await;
        let hook = Some(serve.webhook_url());
        let paid = new_job(
            &sim,
            "CLI-1001",
            "alice.cli@example.com",
            "12.50",
            hook.clone(),
        );
        let pending = new_job(
            &sim,
            "CLI-1002",
            "bob.cli@example.com",
            "30.00",
            hook.clone(),
        );
        let retried = new_job(&sim, "CLI-1003", "carol.cli@example.com", "8.25", hook);
        for (job, script) in [
            (&paid, Script::PaysAtOnce),
            (&pending, Script::Declined),
            (&retried, Script::fails_then_pays(1)),
        ] {
            within("a shopper plays", sim.play_and_wait(&job.reference, script))
                .await
                .expect("the shopper plays");
        }
        // Paid, declined, failed then paid: four notifications.
        sim_wait(&sim, "four notifications acknowledged", |h| {
            let s = h.series();
            s.len() >= 4 && s.iter().all(|s| s.state == SeriesState::Acknowledged)
        })
        .await;
        let db = env.db();
        poll_until("the three orders confirmed", DEADLINE, || {
            db.paid_and_settled(&paid.reference)?;
            db.paid_and_settled(&retried.reference)?;
            let status = db.order_status(&pending.reference)?;
            let rows = db.deliveries(&pending.reference)?;
            if status.as_deref() == Some("Pending")
                && !rows.is_empty()
                && rows.iter().all(|r| r.1 == "confirmed")
            {
                Ok(())
            } else {
                Err(format!("pending order {status:?}, deliveries {rows:?}"))
            }
        })
        .await;
        Shop {
            sim,
            env,
            serve,
            paid,
            pending,
            retried,
            _tmp: tmp,
        }
    }

    async fn lookup_one(&self, query: &str) -> Value {
        let out = cli(&self.env, &["lookup", query, "--json"]).await;
        let found = out.json();
        assert_eq!(
            found.as_array().map(Vec::len),
            Some(1),
            "lookup '{query}' finds one order: {out}"
        );
        found[0].clone()
    }

    async fn close(self) {
        drop(self.serve);
        self.sim.shutdown().await;
    }
}

fn assert_keys(v: &Value, keys: &[&str], what: &str) {
    let obj = v
        .as_object()
        .unwrap_or_else(|| panic!("{what} is an object: {v}"));
    for k in keys {
        assert!(obj.contains_key(*k), "{what} has `{k}`: {v:#}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lookup_finds_an_order_by_job_ref_payment_ref_order_number_and_email_prefix() {
    let shop = Shop::open("lookup").await;
    let paid = &shop.paid;
    for (query, by) in [
        (paid.reference.as_str(), "job reference"),
        (paid.payment_reference.as_str(), "payment reference"),
        ("CLI-1001", "order number"),
        ("alice.cli", "e-mail prefix"),
    ] {
        let order = shop.lookup_one(query).await;
        assert_eq!(
            order["paymentJobReference"],
            paid.reference.as_str(),
            "lookup by {by}"
        );
    }

    // The full shape, on the order with two attempts.
    let order = shop.lookup_one("CLI-1003").await;
    assert_keys(
        &order,
        &[
            "paymentJobReference",
            "orderNumber",
            "status",
            "amount",
            "currency",
            "shipped",
            "shippedAt",
            "payments",
            "deliveries",
            "statusEvents",
        ],
        "an order",
    );
    assert_eq!(
        order["paymentJobReference"],
        shop.retried.reference.as_str()
    );
    assert_eq!(order["orderNumber"], "CLI-1003");
    assert_eq!(order["status"], "Paid");
    assert_eq!(order["amount"], "8.25");
    assert_eq!(order["currency"], "GBP");
    assert_eq!(order["shipped"], false);
    assert!(order["shippedAt"].is_null());

    let payments = order["payments"].as_array().expect("payments");
    assert_eq!(payments.len(), 2, "two attempts: {order:#}");
    for p in payments {
        assert_keys(
            p,
            &[
                "paymentReference",
                "attempt",
                "status",
                "failureReason",
                "updatedAt",
            ],
            "a payment",
        );
    }
    assert_eq!(payments[0]["attempt"], 1);
    assert_eq!(payments[0]["status"], "Failed");
    assert!(
        payments[0]["failureReason"].is_string(),
        "the failed attempt says why: {order:#}"
    );
    assert_eq!(payments[1]["attempt"], 2);
    assert_eq!(payments[1]["status"], "Paid");
    assert!(payments[1]["failureReason"].is_null());

    let deliveries = order["deliveries"].as_array().expect("deliveries");
    assert_eq!(deliveries.len(), 2, "one per notification: {order:#}");
    for d in deliveries {
        assert_keys(
            d,
            &["receivedAt", "paymentReference", "outcome"],
            "a delivery",
        );
        assert!(d["outcome"].is_string(), "settled: {d}");
    }
    let payment_refs: Vec<&Value> = payments.iter().map(|p| &p["paymentReference"]).collect();
    assert!(
        deliveries
            .iter()
            .all(|d| payment_refs.contains(&&d["paymentReference"])),
        "deliveries name the attempts: {order:#}"
    );

    let events = order["statusEvents"].as_array().expect("statusEvents");
    assert!(!events.is_empty(), "{order:#}");
    for e in events {
        assert_keys(e, &["from", "to", "source", "at"], "a status event");
    }
    assert_eq!(events.last().unwrap()["to"], "Paid", "{order:#}");

    // The text form names the order and its status.
    let out = cli(&shop.env, &["lookup", "CLI-1003"]).await;
    assert!(out.ok(), "{out}");
    assert!(
        out.stdout.contains(&shop.retried.reference) && out.stdout.contains("Paid"),
        "{out}"
    );

    // No match is an error, said plainly.
    let out = cli(&shop.env, &["lookup", "CLI-9999", "--json"]).await;
    assert!(!out.ok(), "{out}");
    assert!(out.stderr.contains("no order matches 'CLI-9999'"), "{out}");
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn orders_lists_orders_by_status_as_json() {
    let shop = Shop::open("orders").await;
    let out = cli(&shop.env, &["orders", "--status", "Paid", "--json"]).await;
    let list = out.json();
    let refs: Vec<&str> = list
        .as_array()
        .expect("a list")
        .iter()
        .map(|o| {
            assert_eq!(o["status"], "Paid", "{out}");
            o["paymentJobReference"].as_str().expect("a reference")
        })
        .collect();
    assert_eq!(refs.len(), 2, "{out}");
    assert!(refs.contains(&shop.paid.reference.as_str()), "{out}");
    assert!(refs.contains(&shop.retried.reference.as_str()), "{out}");

    // A hurried owner's lower case works too.
    let out = cli(&shop.env, &["orders", "--status", "pending", "--json"]).await;
    let list = out.json();
    let list = list.as_array().expect("a list");
    assert_eq!(list.len(), 1, "{out}");
    assert_eq!(
        list[0]["paymentJobReference"],
        shop.pending.reference.as_str()
    );
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ship_is_refused_on_a_pending_order_and_accepted_on_a_paid_one() {
    let shop = Shop::open("ship").await;

    let out = cli(&shop.env, &["ship", "CLI-1002", "--note", "RM123"]).await;
    assert!(!out.ok(), "shipping a Pending order is refused: {out}");
    assert!(
        out.stderr
            .contains("order is Pending: only paid orders can be shipped"),
        "the refusal says why: {out}"
    );
    let pending = shop.lookup_one("CLI-1002").await;
    assert_eq!(pending["shipped"], false);
    assert!(pending["shippedAt"].is_null());

    let out = cli(
        &shop.env,
        &["ship", &shop.paid.reference, "--note", "Royal Mail RM123"],
    )
    .await;
    assert!(out.ok(), "shipping a Paid order is accepted: {out}");
    assert!(out.stdout.starts_with("shipped:"), "{out}");

    let order = shop.lookup_one("CLI-1001").await;
    assert_eq!(order["shipped"], true, "{order:#}");
    assert!(order["shippedAt"].is_string(), "{order:#}");
    assert_eq!(order["shippingNote"], "Royal Mail RM123", "{order:#}");

    let out = cli(&shop.env, &["ship", "CLI-1001"]).await;
    assert!(!out.ok(), "shipping twice is refused: {out}");
    assert!(out.stderr.contains("already marked as shipped"), "{out}");

    let out = cli(&shop.env, &["unship", "CLI-1001"]).await;
    assert!(out.ok(), "{out}");
    assert_eq!(shop.lookup_one("CLI-1001").await["shipped"], false);
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn export_csv_has_a_header_and_one_line_per_order() {
    let shop = Shop::open("export").await;
    let out = cli(&shop.env, &["export", "--csv"]).await;
    assert!(out.ok(), "{out}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines.first().copied(),
        Some("paymentJobReference,orderNumber,email,status,amount,currency,attempts,shipped,shippedAt,firstSeenAt,updatedAt,refunded,net"),
        "{out}"
    );
    assert_eq!(lines.len(), 1 + 3, "a header and three orders: {out}");
    for (job, status, want_net) in [
        (&shop.paid, "Paid", 12.5),
        (&shop.pending, "Pending", 0.0),
        (&shop.retried, "Paid", 8.25),
    ] {
        let mine: Vec<&&str> = lines
            .iter()
            .filter(|l| l.starts_with(&format!("{},", job.reference)))
            .collect();
        assert_eq!(mine.len(), 1, "one line for {}: {out}", job.reference);
        let cells: Vec<&str> = mine[0].split(',').collect();
        assert_eq!(cells.len(), 13, "{}", mine[0]);
        assert_eq!(cells[3], status, "{}", mine[0]);
        // Nothing refunded: net is what was received (nothing for the pending order).
        assert_eq!(cells[11], "0", "{}", mine[0]);
        let net: f64 = cells[12].parse().expect("a net amount");
        assert_eq!(net, want_net, "{}", mine[0]);
    }

    let file = shop.env.data_dir.join("orders.csv");
    let file_s = file.to_string_lossy().into_owned();
    let out2 = cli(&shop.env, &["export", "--csv", "--out", &file_s]).await;
    assert!(out2.ok(), "{out2}");
    let written = std::fs::read_to_string(&file).expect("the export file");
    assert_eq!(written.lines().count(), 4, "{written}");
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gives_a_clear_message_and_a_non_zero_exit() {
    let tmp = TempDir::new("bad-input");
    let env = Env {
        data_dir: tmp.path().join("never-created"),
        gateway: "http://127.0.0.1:9".into(),
        configuration_id: "sim-config".into(),
        api_key: "sim-api-key".into(),
        log: "info".into(),
        extra_env: Vec::new(),
    };

    let out = cli(&env, &["frobnicate"]).await;
    assert!(!out.ok(), "{out}");
    assert!(
        out.stderr.contains("unrecognized subcommand 'frobnicate'"),
        "{out}"
    );

    let out = cli(&env, &["lookup", "CLI-1001"]).await;
    assert!(!out.ok(), "{out}");
    assert!(
        out.stderr.contains("no database at") && out.stderr.contains("run `tillwatch serve` first"),
        "{out}"
    );
    assert!(
        !env.data_dir.exists(),
        "a read command creates no data dir: {}",
        env.data_dir.display()
    );

    for args in [
        &["--gateway", "ftp://example.com", "lookup", "x"][..],
        &["lookup", "x", "--gateway", "nonsense"][..],
        &["--gateway", "nonsense", "serve", "--listen", "127.0.0.1:0"][..],
    ] {
        let out = cli(&env, args).await;
        assert!(!out.ok(), "{args:?}: {out}");
        assert!(
            out.stderr
                .contains("is not a gateway: use integration, production or an http(s) URL"),
            "{args:?}: {out}"
        );
        assert!(!out.stdout.contains("listening on"), "{args:?}: {out}");
    }
    let out = cli(&env, &["--gateway", "http://", "lookup", "x"]).await;
    assert!(!out.ok(), "{out}");
    assert!(out.stderr.contains("is not a valid URL"), "{out}");

    // Half the credentials is refused, not silently taken as demo mode.
    let out = cli_with(&env, &["orders"], |c| {
        c.env_remove("TILLWATCH_API_KEY");
    })
    .await;
    assert!(!out.ok(), "{out}");
    assert!(
        out.stderr
            .contains("TILLWATCH_CONFIGURATION_ID is set but TILLWATCH_API_KEY is not"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ship_by_a_prefix_lists_the_candidates_and_refuses() {
    let shop = Shop::open("ship-prefix").await;
    let paid = &shop.paid;

    // An e-mail prefix names one order only, but it is not the owner naming it.
    let out = cli(&shop.env, &["ship", "alice.cli", "--note", "RM1"]).await;
    assert!(!out.ok(), "a prefix must not ship: {out}");
    assert!(out.stderr.contains("not an exact"), "{out}");
    for part in [paid.reference.as_str(), "CLI-1001", "Paid", "12.50 GBP"] {
        assert!(
            out.stderr.contains(part),
            "the candidate shows {part}: {out}"
        );
    }
    assert_eq!(shop.lookup_one("CLI-1001").await["shipped"], false);

    // Several candidates: all listed.
    let out = cli(&shop.env, &["ship", "CLI-100"]).await;
    assert!(!out.ok(), "{out}");
    for job in [&shop.paid, &shop.pending, &shop.retried] {
        assert!(out.stderr.contains(&job.reference), "{out}");
    }
    let job_prefix = &paid.reference[..paid.reference.len() - 1];
    let out = cli(&shop.env, &["ship", job_prefix]).await;
    assert!(!out.ok(), "{out}");
    assert!(out.stderr.contains(&paid.reference), "{out}");

    // Exact payment reference and exact order number work.
    let out = cli(&shop.env, &["ship", &paid.payment_reference]).await;
    assert!(out.ok(), "{out}");
    assert_eq!(shop.lookup_one("CLI-1001").await["shipped"], true);
    let out = cli(&shop.env, &["unship", "CLI-10"]).await;
    assert!(!out.ok(), "unship by prefix is refused too: {out}");
    assert!(out.stderr.contains("not an exact"), "{out}");
    assert_eq!(shop.lookup_one("CLI-1001").await["shipped"], true);
    let out = cli(&shop.env, &["unship", "CLI-1001"]).await;
    assert!(out.ok(), "{out}");
    assert_eq!(shop.lookup_one("CLI-1001").await["shipped"], false);
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ship_refuses_a_mismatched_order_unless_overridden_with_a_reason() {
    let tmp = TempDir::new("ship-mismatch");
    let sim = start_sim(sim_config("sim-api-key")).await;
    let env = Env::for_sim(&sim, tmp.path());
    let serve = Serve::start(&env, 1).await;
    // A link that asked 40.00; the gateway's job holds, and the shopper pays, 0.01.
    let job = new_job(
        &sim,
        "MIS-1",
        "mis@example.com",
        "0.01",
        Some(serve.webhook_url()),
    );
    {
        use tillwatch::domain::{Currency, JobRef, PaymentRef};
        use tillwatch::store::Links;
        let store = tillwatch::Backend::open_file(env.db_path()).expect("the serve database");
        store
            .record_created_job(tillwatch::store::CreatedJobRecord {
                job_ref: JobRef::parse(&job.reference).unwrap(),
                first_payment: Some(PaymentRef::parse(&job.payment_reference).unwrap()),
                order_number: "MIS-1".into(),
                email: "mis@example.com".into(),
                amount: "40.00".parse().unwrap(),
                currency: Currency::parse("GBP").unwrap(),
                payment_link: None,
                note: None,
                raw: serde_json::json!({}),
            })
            .await
            .expect("record the link");
    }
    within(
        "the shopper pays",
        sim.play_and_wait(&job.reference, Script::PaysAtOnce),
    )
    .await
    .expect("the shopper pays");
    let db = env.db();
    let flagged = format!(
        "SELECT count(*) FROM payment_jobs WHERE job_ref = '{}' AND status = 'Paid'
         AND mismatch IS NOT NULL",
        job.reference
    );
    poll_until("the order Paid and flagged", DEADLINE, || {
        match db.count(&flagged)? {
            1 => Ok(()),
            n => Err(format!("{n} flagged rows")),
        }
    })
    .await;

    let out = cli(&env, &["ship", "MIS-1", "--note", "RM9"]).await;
    assert!(!out.ok(), "a mis-stated payment must not ship: {out}");
    assert!(
        out.stderr.contains("does not match") && out.stderr.contains("0.01 where 40.00"),
        "the refusal says why: {out}"
    );
    let out = cli(&env, &["ship", "MIS-1", "--override-mismatch", " "]).await;
    assert!(!out.ok(), "an override needs a reason: {out}");
    assert!(out.stderr.contains("needs a reason"), "{out}");

    let out = cli(
        &env,
        &[
            "ship",
            "MIS-1",
            "--note",
            "RM9",
            "--override-mismatch",
            "the rest was paid by bank transfer",
            "--json",
        ],
    )
    .await;
    let shipped = out.json();
    assert_eq!(shipped["shipped"], true, "{out}");
    let overrides: Vec<&Value> = shipped["audit"]
        .as_array()
        .expect("an audit trail")
        .iter()
        .filter(|a| a["action"] == "mismatch overridden")
        .collect();
    assert_eq!(overrides.len(), 1, "{shipped:#}");
    let why = overrides[0]["detail"].as_str().unwrap_or_default();
    assert!(
        why.contains("the rest was paid by bank transfer") && why.contains("0.01 where 40.00"),
        "{why}"
    );
    drop(serve);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_create_refuses_an_amount_nobody_meant_before_calling_the_gateway() {
    use tillwatch::sim::Endpoint;
    let tmp = TempDir::new("link-ceiling");
    let sim = start_sim(sim_config("sim-api-key")).await;
    let env = Env::for_sim(&sim, tmp.path());
    let create = |amount: &str, order: &str, extra: &[&str]| {
        let amount = format!("--amount={amount}");
        let mut args = vec![
            "link".to_owned(),
            "create".to_owned(),
            amount,
            "--currency".to_owned(),
            "GBP".to_owned(),
            "--order".to_owned(),
            order.to_owned(),
            "--email".to_owned(),
            "a@example.com".to_owned(),
            "--webhook-url".to_owned(),
            "http://127.0.0.1:9/webhooks/cashflows".to_owned(),
        ];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let env = env.clone();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            cli(&env, &args).await
        }
    };
    let asked = || {
        sim.api_request_count(Endpoint::CreateJob) + sim.api_request_count(Endpoint::OrderExists)
    };
    for amount in ["99999999999999999999", "100000.01", "0", "-1", "1.005"] {
        let out = create(amount, "7001", &[]).await;
        assert!(!out.ok(), "{amount} must be refused: {out}");
        assert_eq!(asked(), 0, "{amount} reached the gateway: {out}");
    }
    let out = create("100000.01", "7001", &[]).await;
    assert!(out.stderr.contains("100000.00 GBP"), "{out}");

    // The owner's ceiling: the flag, else the window's settings.
    let out = create("60", "7001", &["--max-amount", "50"]).await;
    assert!(!out.ok() && out.stderr.contains("50.00 GBP"), "{out}");
    std::fs::write(
        tmp.path().join("settings.json"),
        r#"{"maxLinkAmount": "20"}"#,
    )
    .expect("write the settings");
    let out = create("25", "7001", &[]).await;
    assert!(!out.ok() && out.stderr.contains("20.00 GBP"), "{out}");
    assert_eq!(asked(), 0, "{out}");
    std::fs::remove_file(tmp.path().join("settings.json")).expect("remove the settings");

    let out = create("100000.00", "7002", &[]).await;
    assert!(out.ok(), "the ceiling itself is accepted: {out}");
    assert_eq!(sim.api_request_count(Endpoint::CreateJob), 1);
    assert!(out.stdout.contains("100000.00"), "{out}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn serve_takes_a_refund_watch_period_and_refuses_a_bad_one() {
    let tmp = TempDir::new("refund-watch-every");
    let sim = start_sim(sim_config("sim-api-key")).await;
    let env = Env::for_sim(&sim, tmp.path());

    for bad in ["0", "soon", "1.5"] {
        let out = cli(
            &env,
            &[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--refund-watch-every",
                bad,
            ],
        )
        .await;
        assert!(!out.ok(), "{bad}: {out}");
        assert!(
            out.stderr
                .contains("the refund watch period is a whole number of seconds, at least 1"),
            "{bad}: {out}"
        );
        assert!(!out.stdout.contains("listening on"), "{bad}: {out}");
    }

    // Accepted: serve starts (start_with waits for `listening on`) and keeps running.
    let mut serve = Serve::start_with(&env, 300, &["--refund-watch-every", "2"]).await;
    assert!(serve.is_running(), "{}", serve.logs());
    serve.kill();
    sim.shutdown().await;
}
