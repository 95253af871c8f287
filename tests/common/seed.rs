//! A delivery that a past `serve` acknowledged and then gave up on (dead), written into a
//! database before the app under test opens it.

use std::path::Path;

use tillwatch::domain::{DeliveryState, JobRef, PaymentRef, Timestamp};
use tillwatch::store::{NewDelivery, Store};

pub async fn dead_delivery(db: &Path, job: &str, payment: &str, outcome: &str) {
    let store = Store::open(db).expect("open the database");
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
    store
        .settle_deliveries(&job, &payment, id, DeliveryState::Dead, outcome.to_owned())
        .await
        .unwrap();
}
