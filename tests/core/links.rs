use std::time::Duration;
use tillwatch_core::store::Links;

use tillwatch_core::app::{AppError, ServeOptions};
use tillwatch_core::domain::{Amount, ChangeSource, JobRef, PaymentRef, PaymentStatus};
use tillwatch_core::links::{NewPaymentLink, ReturnUrls};
use tillwatch_core::store::CreatedJobRecord;
use tillwatch_sim::{Endpoint, Fault, FaultTarget, Script};

use crate::harness::{Rig, RigOptions};

/// The default ceiling for a link's amount.
fn ceiling() -> Amount {
    tillwatch_core::links::DEFAULT_MAX_LINK_AMOUNT
        .parse()
        .unwrap()
}

fn link(amount: &str, order: &str) -> NewPaymentLink {
    NewPaymentLink {
        amount: amount.into(),
        currency: "GBP".into(),
        order_number: order.into(),
        email: "customer@example.com".into(),
        note: Some("phone order".into()),
    }
}

#[tokio::test]
async fn a_payment_link_is_paid_through_its_notification() {
    let rig = Rig::start("link-paid").await;
    let returns = ReturnUrls {
        success: Some("https://shop.example/thanks".into()),
        ..ReturnUrls::default()
    };
    let created = rig
        .app
        .create_payment_link(
            &rig.gateway,
            link("12.50", "1042"),
            &rig.webhook_url,
            &returns,
            ceiling(),
        )
        .await
        .unwrap();
    let job = created.summary.payment_job_reference.to_string();
    assert_eq!(created.summary.status, PaymentStatus::Pending);
    assert!(created.summary.created_here);
    assert!(created.payment_link.as_deref().unwrap().contains(&job));
    // The gateway was told to notify the current public webhook URL.
    let sim_job = rig.sim.job(&job).unwrap();
    assert_eq!(
        sim_job["attributes"]["WebhookUrl"],
        rig.webhook_url.as_str()
    );

    rig.sim
        .play_and_wait(&job, Script::PaysAtOnce)
        .await
        .unwrap();
    let paid = rig
        .wait_order(&job, "Paid", |d| d.summary.status == PaymentStatus::Paid)
        .await;
    assert_eq!(paid.summary.mismatch, None);
    assert_eq!(paid.summary.order_number.as_deref(), Some("1042"));
    assert_eq!(
        paid.status_events
            .iter()
            .filter(|e| e.payment_reference.is_none())
            .map(|e| (e.to.as_str(), e.source))
            .collect::<Vec<_>>(),
        vec![
            ("Pending", ChangeSource::Owner),
            ("Paid", ChangeSource::Notification)
        ]
    );
    assert_eq!(rig.app.suggest_order_number().await.unwrap(), "1043");
    rig.stop().await;
}

#[tokio::test]
async fn a_payment_link_whose_notification_is_lost_is_paid_through_the_reconciler() {
    let opts = RigOptions {
        serve: ServeOptions {
            reconcile_every: Duration::from_millis(200),
            ..RigOptions::default().serve
        },
        ..RigOptions::default()
    };
    let rig = Rig::start_with("link-reconcile", opts).await;
    let dead = "http://127.0.0.1:9/webhooks/cashflows";
    let created = rig
        .app
        .create_payment_link(
            &rig.gateway,
            link("7.00", "2001"),
            dead,
            &ReturnUrls::default(),
            ceiling(),
        )
        .await
        .unwrap();
    let job = created.summary.payment_job_reference.to_string();
    rig.sim
        .play_and_wait(&job, Script::PaysAtOnce)
        .await
        .unwrap();
    let paid = rig
        .wait_order(&job, "Paid by polling", |d| {
            d.summary.status == PaymentStatus::Paid
        })
        .await;
    assert!(paid.deliveries.is_empty(), "no notification reached us");
    assert!(paid
        .status_events
        .iter()
        .any(|e| e.to == "Paid" && e.source == ChangeSource::Poll));
    rig.stop().await;
}

#[tokio::test]
async fn an_unpaid_link_can_be_cancelled_once() {
    let rig = Rig::start("link-cancel").await;
    let created = rig
        .app
        .create_payment_link(
            &rig.gateway,
            link("9.99", "3001"),
            &rig.webhook_url,
            &ReturnUrls::default(),
            ceiling(),
        )
        .await
        .unwrap();
    let job = created.summary.payment_job_reference.clone();
    let cancelled = rig
        .app
        .cancel_payment_link(&rig.gateway, &job)
        .await
        .unwrap();
    assert_eq!(cancelled.summary.status, PaymentStatus::Cancelled);
    // The gateway also notifies the cancellation: whichever answer is stored first records
    // the change (once); the owner's act is in the audit trail either way.
    let cancellations: Vec<ChangeSource> = cancelled
        .status_events
        .iter()
        .filter(|e| e.to == "Cancelled" && e.payment_reference.is_none())
        .map(|e| e.source)
        .collect();
    assert_eq!(cancellations.len(), 1, "{cancellations:?}");
    assert!(matches!(
        cancellations[0],
        ChangeSource::Owner | ChangeSource::Notification
    ));
    assert!(cancelled.audit.iter().any(|a| a.action == "link cancelled"));
    let again = rig
        .app
        .cancel_payment_link(&rig.gateway, &job)
        .await
        .unwrap_err();
    assert!(
        again.to_string().contains("can no longer be cancelled"),
        "{again}"
    );
    rig.stop().await;
}

#[tokio::test]
async fn a_mismatching_amount_in_the_gateway_answer_is_flagged() {
    let rig = Rig::start("link-mismatch").await;
    // The gateway's job says 1.00 GBP, but we recorded asking for 12.50.
    let sim_job = rig.create_job_notifying("1.00", "4001", None);
    rig.store()
        .record_created_job(CreatedJobRecord {
            job_ref: JobRef::parse(&sim_job.reference).unwrap(),
            first_payment: Some(PaymentRef::parse(&sim_job.payment_reference).unwrap()),
            order_number: "4001".into(),
            email: "customer@example.com".into(),
            amount: "12.50".parse().unwrap(),
            currency: tillwatch_core::domain::Currency::parse("GBP").unwrap(),
            payment_link: None,
            note: None,
            raw: serde_json::json!({}),
        })
        .await
        .unwrap();
    rig.sim
        .play_and_wait(&sim_job.reference, Script::PaysAtOnce)
        .await
        .unwrap();
    assert_eq!(
        rig.notify(&sim_job.reference, &sim_job.payment_reference)
            .await
            .status(),
        200
    );
    let order = rig
        .wait_order(&sim_job.reference, "flagged", |d| {
            d.summary.mismatch.is_some()
        })
        .await;
    let m = order.summary.mismatch.unwrap();
    assert!(m.contains("amount 1.00 where 12.50 was asked"), "{m}");
    rig.stop().await;
}

#[tokio::test]
async fn bad_links_are_refused_with_clear_words() {
    let rig = Rig::start("link-invalid").await;
    let create = |l: NewPaymentLink| {
        let (app, gw, url) = (
            rig.app.clone(),
            rig.gateway.clone(),
            rig.webhook_url.clone(),
        );
        async move {
            app.create_payment_link(&gw, l, &url, &ReturnUrls::default(), ceiling())
                .await
        }
    };
    let words = |r: Result<_, AppError>| r.unwrap_err().to_string();
    assert!(words(create(link("0", "5001")).await).contains("greater than zero"));
    assert!(words(create(link("1.005", "5001")).await).contains("decimal places"));
    assert!(words(
        create(NewPaymentLink {
            currency: "XYZ".into(),
            ..link("1", "5001")
        })
        .await
    )
    .contains("XYZ"));
    assert!(words(
        create(NewPaymentLink {
            email: "nobody".into(),
            ..link("1", "5001")
        })
        .await
    )
    .contains("e-mail"));
    assert!(words(create(link("1", "50/01")).await).contains("order number"));
    // Already used at the gateway (made by the shop's website, say).
    rig.create_job_notifying("3.00", "5002", None);
    assert!(words(create(link("1", "5002")).await).contains("already used at Cashflows"));
    // Already used here.
    create(link("1", "5003")).await.unwrap();
    assert!(words(create(link("1", "5003")).await).contains("already used here"));
    // The gateway's own refusal, in its words.
    rig.sim
        .set_fault_times(FaultTarget::CreateJob, Fault::Status { status: 400 }, 1);
    let refused = words(create(link("1", "5004")).await);
    assert!(refused.contains("refused"), "{refused}");
    assert!(
        rig.app.orders(None, None, 0).await.unwrap().len() == 1,
        "nothing else was recorded"
    );
    rig.stop().await;
}

#[tokio::test]
async fn a_link_amount_nobody_meant_never_reaches_the_gateway() {
    let rig = Rig::start("link-ceiling").await;
    let create = |amount: &str, order: &str, max: Amount| {
        let (app, gw, url) = (
            rig.app.clone(),
            rig.gateway.clone(),
            rig.webhook_url.clone(),
        );
        let l = link(amount, order);
        async move {
            app.create_payment_link(&gw, l, &url, &ReturnUrls::default(), max)
                .await
        }
    };
    let asked = || {
        (
            rig.sim.api_request_count(Endpoint::CreateJob),
            rig.sim.api_request_count(Endpoint::OrderExists),
        )
    };
    for amount in [
        "99999999999999999999",
        "100000.01",
        "0",
        "-1",
        "1.005",
        "0.001",
    ] {
        let refused = create(amount, "6001", ceiling()).await.unwrap_err();
        assert_eq!(refused.code(), "invalid", "{amount}: {refused}");
        assert_eq!(asked(), (0, 0), "{amount} reached the gateway");
    }
    let words = create("100000.01", "6001", ceiling())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        words.contains("ceiling") && words.contains("100000.00 GBP"),
        "{words}"
    );
    // The owner's own ceiling holds too.
    assert!(create("60", "6001", "50".parse().unwrap()).await.is_err());
    assert_eq!(asked(), (0, 0));

    let at_ceiling = create("100000.00", "6002", ceiling()).await.unwrap();
    assert_eq!(at_ceiling.summary.amount.unwrap().to_string(), "100000.00");
    assert_eq!(rig.sim.api_request_count(Endpoint::CreateJob), 1);
    rig.stop().await;
}
