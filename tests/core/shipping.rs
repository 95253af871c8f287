//! The owner's shipping actions through the core API: the one shipping rule (paid, never
//! twice, never a mis-stated payment without an audited override) and exact references.

use tillwatch_core::app::AppError;
use tillwatch_core::domain::{JobRef, OrderDetail, PaymentRef, PaymentStatus, ShipRefusal};
use tillwatch_core::store::{CreatedJobRecord, ShipRequest, StoreError};
use tillwatch_core::store::{Links, Orders};
use tillwatch_sim::{JobSnapshot, Script};

use crate::harness::Rig;

/// A link asking `asked` GBP whose job the gateway holds (and the shopper pays) at `paid`.
async fn paid_link_confirmed_at(rig: &Rig, asked: &str, paid: &str, order: &str) -> OrderDetail {
    link_confirmed_after(rig, asked, paid, Script::PaysAtOnce, order).await
}

/// A link asking `asked` GBP whose job the gateway holds at `collect`, played by `script`.
async fn link_confirmed_after(
    rig: &Rig,
    asked: &str,
    collect: &str,
    script: Script,
    order: &str,
) -> OrderDetail {
    let sim_job = rig.create_job_notifying(collect, order, None);
    rig.store()
        .record_created_job(CreatedJobRecord {
            job_ref: JobRef::parse(&sim_job.reference).unwrap(),
            first_payment: Some(PaymentRef::parse(&sim_job.payment_reference).unwrap()),
            order_number: order.into(),
            email: "customer@example.com".into(),
            amount: asked.parse().unwrap(),
            currency: tillwatch_core::domain::Currency::parse("GBP").unwrap(),
            payment_link: None,
            note: None,
            raw: serde_json::json!({}),
        })
        .await
        .unwrap();
    pay_and_notify(rig, &sim_job, script).await;
    rig.wait_order(&sim_job.reference, "Paid", |d| {
        d.summary.status == PaymentStatus::Paid
    })
    .await
}

async fn pay_and_notify(rig: &Rig, job: &JobSnapshot, script: Script) {
    rig.sim.play_and_wait(&job.reference, script).await.unwrap();
    let answer = rig.notify(&job.reference, &job.payment_reference).await;
    assert_eq!(answer.status(), 200);
}

fn refusal(r: Result<OrderDetail, AppError>) -> ShipRefusal {
    match r {
        Err(AppError::Store(StoreError::Ship(refusal))) => refusal,
        other => panic!("expected a ship refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_payment_confirmed_for_less_than_the_link_asked_ships_only_with_an_audited_override() {
    let rig = Rig::start("ship-mismatch").await;
    let order = paid_link_confirmed_at(&rig, "40.00", "0.01", "4040").await;
    let job = order.summary.payment_job_reference.to_string();
    let mismatch = order
        .summary
        .mismatch
        .clone()
        .expect("the mismatch is flagged");
    assert!(
        mismatch.contains("0.01 where 40.00 was asked"),
        "{mismatch}"
    );

    // The window is told why before the owner tries.
    let seen = rig
        .app
        .order(&order.summary.payment_job_reference)
        .await
        .unwrap();
    assert!(!seen.ship.allowed);
    assert_eq!(seen.ship.code.as_deref(), Some("mismatch"));
    assert!(seen.ship.reason.unwrap().contains(&mismatch));

    let refused = rig.app.ship(&job, Some("RM1".into())).await;
    let code = refused.as_ref().map(|_| ()).unwrap_err().code();
    assert_eq!(code, "mismatch");
    assert!(matches!(refusal(refused), ShipRefusal::Mismatch(m) if m == mismatch));
    // Nor through the store directly: the rule is not the faces' to keep.
    let direct = rig
        .store()
        .ship(ShipRequest {
            job_ref: order.summary.payment_job_reference.clone(),
            note: None,
            allow_reserved: true,
            override_mismatch: None,
            by: None,
        })
        .await;
    assert!(matches!(
        direct,
        Err(StoreError::Ship(ShipRefusal::Mismatch(_)))
    ));
    // An override needs a reason.
    assert_eq!(
        refusal(rig.app.ship_despite_mismatch(&job, None, "  ".into()).await),
        ShipRefusal::OverrideWithoutReason
    );
    let still = rig
        .app
        .order(&order.summary.payment_job_reference)
        .await
        .unwrap();
    assert!(!still.summary.shipped, "{still:#?}");
    assert!(
        still.audit.iter().all(|a| a.action == "link created"),
        "{:?}",
        still.audit
    );

    let shipped = rig
        .app
        .ship_despite_mismatch(
            &job,
            Some("RM1".into()),
            "customer paid the rest by bank transfer".into(),
        )
        .await
        .unwrap();
    assert!(shipped.summary.shipped);
    let audit: Vec<(&str, Option<&str>)> = shipped
        .audit
        .iter()
        .filter(|a| a.action != "link created")
        .map(|a| (a.action.as_str(), a.detail.as_deref()))
        .collect();
    assert_eq!(audit[0], ("shipped", Some("RM1")), "{audit:?}");
    assert_eq!(audit[1].0, "mismatch overridden", "{audit:?}");
    let why = audit[1].1.unwrap();
    assert!(
        why.contains("customer paid the rest by bank transfer") && why.contains(&mismatch),
        "{why}"
    );
    rig.stop().await;
}

#[tokio::test]
async fn money_paid_other_than_the_link_asked_ships_only_with_an_audited_override() {
    let rig = Rig::start("ship-paid-other").await;
    // The gateway's job asks what the link asked; the shopper's payment took less.
    let paid_less = Script::PaysOther {
        amount: "4.00".parse().unwrap(),
    };
    let order = link_confirmed_after(&rig, "40.00", "40.00", paid_less, "4041").await;
    let job = order.summary.payment_job_reference.to_string();
    let mismatch = order
        .summary
        .mismatch
        .clone()
        .expect("the mismatch is flagged");
    assert!(
        mismatch.starts_with("paid 4.00 where 40.00 was asked"),
        "{mismatch}"
    );
    assert!(
        !mismatch.contains("amount"),
        "amountToCollect agrees: {mismatch}"
    );
    let seen = rig
        .app
        .order(&order.summary.payment_job_reference)
        .await
        .unwrap();
    assert!(!seen.ship.allowed);
    assert_eq!(seen.ship.code.as_deref(), Some("mismatch"));

    let refused = rig.app.ship(&job, None).await;
    assert!(matches!(refusal(refused), ShipRefusal::Mismatch(m) if m == mismatch));
    let shipped = rig
        .app
        .ship_despite_mismatch(&job, None, "the rest came by bank transfer".into())
        .await
        .unwrap();
    assert!(shipped.summary.shipped);
    assert!(shipped
        .audit
        .iter()
        .any(|a| a.action == "mismatch overridden"
            && a.detail.as_deref().is_some_and(|d| d.contains(&mismatch))));
    rig.stop().await;
}

#[tokio::test]
async fn ship_and_unship_act_only_on_an_exact_reference() {
    let rig = Rig::start("ship-exact").await;
    let a7 = rig.create_job_notifying("7.00", "A-7", None);
    let a70 = rig.create_job_notifying("70.00", "A-70", None);
    for job in [&a7, &a70] {
        pay_and_notify(&rig, job, Script::PaysAtOnce).await;
        rig.wait_order(&job.reference, "Paid", |d| {
            d.summary.status == PaymentStatus::Paid
        })
        .await;
    }

    // A prefix names candidates, never an order to act on.
    let job_prefix = &a70.reference[..a70.reference.len() - 1];
    for (query, expected) in [
        ("A-", vec![&a7, &a70]),
        (job_prefix, vec![&a70]),
        (&a7.payment_reference[..6], vec![&a7]),
    ] {
        match rig.app.ship(query, None).await {
            Err(e @ AppError::NotExact { .. }) => {
                assert_eq!(e.code(), "not_exact");
                let words = e.to_string();
                for job in &expected {
                    assert!(words.contains(&job.reference), "{query}: {words}");
                }
                assert!(words.contains("Paid"), "{words}");
                if expected.len() == 2 {
                    assert!(words.contains("order A-70  Paid  70.00 GBP"), "{words}");
                }
            }
            other => panic!("'{query}' must be refused as not exact: {other:?}"),
        }
        assert!(matches!(
            rig.app.unship(query).await,
            Err(AppError::NotExact { .. })
        ));
    }
    for job in [&a7, &a70] {
        let d = rig
            .app
            .order(&JobRef::parse(&job.reference).unwrap())
            .await
            .unwrap();
        assert!(!d.summary.shipped, "nothing was shipped on a guess");
    }

    // Exact order number and exact payment reference work.
    let shipped = rig.app.ship("A-7", None).await.unwrap();
    assert_eq!(shipped.summary.payment_job_reference.as_str(), a7.reference);
    let shipped = rig.app.ship(&a70.payment_reference, None).await.unwrap();
    assert_eq!(
        shipped.summary.payment_job_reference.as_str(),
        a70.reference
    );
    let undone = rig.app.unship(&a7.payment_reference).await.unwrap();
    assert!(!undone.summary.shipped);
    assert!(matches!(
        rig.app.ship("A-9", None).await,
        Err(AppError::NotFound(_))
    ));
    rig.stop().await;
}
