//! The demo shows money after the payment: on its late-evening clock, some orders stop
//! at Reserved (a shop with auto-capture off) and some paid ones are refunded in the
//! portal once the midnight settlement has passed, with no notification.

use std::time::Duration;

use tillwatch_sim::{demo_config, spawn_demo_traffic, Job, OperationStatus, SimConfig, Status};

use crate::support::*;

fn jobs(sim: &tillwatch_sim::SimHandle) -> Vec<Job> {
    sim.job_refs()
        .iter()
        .filter_map(|r| sim.job_typed(r))
        .collect()
}

fn has_portal_refund(job: &Job) -> bool {
    job.payments.iter().any(|p| {
        p.refunds.iter().any(|r| {
            r.status == OperationStatus::Completed && r.refund_number.starts_with("portal-")
        })
    })
}

#[tokio::test]
async fn the_demo_reserves_some_orders_and_refunds_some_in_the_portal() {
    let hook = receiver(Ack::CorrectEcho).await;
    // The demo's clock, 200 times faster: its six minutes to midnight last 1.8 s.
    let sim = start(demo_config(SimConfig {
        default_webhook_url: Some(hook.url.clone()),
        clock_scale: 200.0,
        step_gap: Duration::from_secs(3),
        notify_timeout: Duration::from_secs(5),
        ..SimConfig::default()
    }))
    .await;
    let demo = spawn_demo_traffic(sim.clone(), Duration::from_millis(10));
    sim.wait_until(
        |s| {
            let jobs = jobs(s);
            jobs.iter().any(|j| j.payment_status == Status::Reserved)
                && jobs.iter().any(has_portal_refund)
        },
        WAIT,
    )
    .await
    .expect("a Reserved order and a portal refund within the wait");

    let all = jobs(&sim);
    // The first paid orders are ordinary: paid, not refunded; reservations come later.
    let mut paid: Vec<&Job> = all
        .iter()
        .filter(|j| j.paid_date_time_utc.is_some())
        .collect();
    paid.sort_by_key(|j| j.paid_date_time_utc);
    for first in &paid[..2] {
        assert_eq!(first.payment_status, Status::Paid, "{first:?}");
        assert!(!has_portal_refund(first), "{first:?}");
    }
    let first_reserved = all
        .iter()
        .filter(|j| j.payment_status == Status::Reserved)
        .map(|j| j.create_date_time_utc)
        .min()
        .unwrap();
    let paid_before = all
        .iter()
        .filter(|j| j.payment_status == Status::Paid && j.create_date_time_utc < first_reserved)
        .count();
    assert!(
        paid_before >= 3,
        "{paid_before} paid orders before the first reservation"
    );

    // A refund is never notified: every series of a refunded job began before its refund.
    let refunded = all.iter().find(|j| has_portal_refund(j)).unwrap();
    let refund_time = refunded
        .payments
        .iter()
        .flat_map(|p| &p.refunds)
        .map(|r| r.create_date_time_utc)
        .min()
        .unwrap();
    let series: Vec<_> = sim
        .series()
        .into_iter()
        .filter(|s| s.job_ref == refunded.reference)
        .collect();
    assert!(!series.is_empty(), "the payment itself was notified");
    assert!(
        series.iter().all(|s| s.started_sim_time < refund_time),
        "no notification for the refund: {series:?}"
    );

    sim.shutdown().await;
    demo.await.unwrap();
}
