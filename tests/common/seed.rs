//! History written into a database before the app under test opens it: a delivery that a
//! past `serve` acknowledged and then gave up on (dead), and a run of paid orders.

use std::path::Path;

use tillwatch::domain::{
    ChangeSource, Currency, DeliveryState, JobRef, JobSnapshot, PaymentRef, PaymentSnapshot,
    PaymentStatus, Timestamp,
};
use tillwatch::store::{Claim, Confirmations, Held, Inbox, NewDelivery, WorkerId};
use tillwatch::Backend;

pub async fn dead_delivery(db: &Path, job: &str, payment: &str, outcome: &str) {
    let store = Backend::open_file(db).expect("open the database");
    let (job, payment) = (
        JobRef::parse(job).unwrap(),
        PaymentRef::parse(payment).unwrap(),
    );
    let id = store
        .record_delivery(NewDelivery {
            received_at: Timestamp::now(),
            remote_addr: Some("127.0.0.1".into()),
            forwarded_for: None,
            body: "{}".into(),
            job_ref: job.clone(),
            payment_ref: payment.clone(),
        })
        .await
        .unwrap();
    // A past worker held it, then gave up on it.
    let claim = Claim {
        worker: WorkerId::new(),
        lease: std::time::Duration::from_secs(60),
    };
    store.claim_due(&claim, Timestamp::now(), 10).await.unwrap();
    let held = Held {
        job_ref: job,
        payment_ref: payment,
        up_to_id: id,
        worker: claim.worker,
    };
    store
        .settle_deliveries(&held, DeliveryState::Dead, outcome.to_owned())
        .await
        .unwrap();
}

/// `count` paid GBP orders numbered `ORD-0` … one second apart (the newest last), each
/// with one payment. Job references are `4000…` + i, payment references `5000…` + i.
#[allow(dead_code)] // each test binary uses its own part of the seed
pub async fn paid_orders(db: &Path, count: u64) {
    let store = Backend::open_file(db).expect("open the database");
    for i in 0..count {
        let job = format!("{}", 400_000_000_000_000_000u64 + i);
        let payment = format!("{}", 500_000_000_000_000_000u64 + i);
        let at = Timestamp::from_unix_millis(1_780_000_000_000 + i as i64 * 1000);
        let snapshot = JobSnapshot {
            job_ref: JobRef::parse(&job).unwrap(),
            order_number: Some(format!("ORD-{i}")),
            email: Some(format!("shopper{i}@example.com")),
            status: PaymentStatus::Paid,
            amount: Some(format!("{}.50", 10 + i).parse().unwrap()),
            paid_amount: None,
            currency: Some(Currency::parse("GBP").unwrap()),
            created_at: Some(at),
            gateway_updated_at: Some(at),
            payments: vec![PaymentSnapshot {
                payment_ref: PaymentRef::parse(&payment).unwrap(),
                status: PaymentStatus::Paid,
                amount: None,
                paid_amount: None,
                failure_code: None,
                failure_reason: None,
                created_at: Some(at),
                updated_at: None,
                moves: Vec::new(),
                raw: serde_json::json!({ "reference": payment }),
            }],
            raw: serde_json::json!({ "reference": job }),
        };
        store
            .apply_snapshot(snapshot, ChangeSource::Notification, None, None)
            .await
            .unwrap();
    }
}
