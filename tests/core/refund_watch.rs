//! The refund watch: a refund made in the gateway's portal sends no notification, and the
//! watch finds it by asking the gateway again about recently paid orders, recorded with
//! source "poll".

use std::time::{Duration, Instant};

use tillwatch_core::app::ServeOptions;
use tillwatch_core::domain::{ChangeSource, JobRef, MoneyState, MoveStatus, PaymentStatus};
use tillwatch_core::store::Orders;
use tillwatch_sim::{Endpoint, Script};

use crate::harness::{Rig, RigOptions};

const HOUR: Duration = Duration::from_secs(3_600);
const WATCH_EVERY: Duration = Duration::from_secs(1);

#[tokio::test]
async fn a_portal_refund_is_found_within_one_watch_period() {
    let mut opts = RigOptions::default();
    opts.serve = ServeOptions {
        refund_watch_every: WATCH_EVERY,
        ..opts.serve
    };
    let rig = Rig::start_with("refund-watch", opts).await;
    let job = rig.create_job("12.50", "RW-1");
    rig.sim
        .play_and_wait(&job.reference, Script::PaysAtOnce)
        .await
        .unwrap();
    let paid = rig
        .wait_order(&job.reference, "paid", |d| {
            d.summary.status == PaymentStatus::Paid
        })
        .await;
    let payment = job_payment(&rig, &job.reference);

    // Settled at the sim's midnight; then refunded in the portal: no notification.
    rig.sim.advance_clock(24 * HOUR);
    let deliveries = rig.sim.deliveries().len();
    let asked = rig.sim.api_request_count(Endpoint::RetrieveJob);
    let refunded_at = Instant::now();
    rig.sim
        .portal_refund(
            &job.reference,
            &payment,
            "2.50".parse().unwrap(),
            Some("RW-REFUND-1".into()),
        )
        .unwrap();

    // The order's stored gateway answer shows the refund: the gateway was asked again and
    // its answer applied.
    let found = rig
        .wait_order(&job.reference, "re-confirmed with the refund", |d| {
            d.raw_last_answer
                .as_ref()
                .is_some_and(|raw| raw.to_string().contains("RW-REFUND-1"))
        })
        .await;
    let took = refunded_at.elapsed();
    assert!(
        took <= WATCH_EVERY + Duration::from_secs(2),
        "found after {took:?}, more than one watch period"
    );
    assert!(rig.sim.api_request_count(Endpoint::RetrieveJob) > asked);
    assert_eq!(
        rig.sim.deliveries().len(),
        deliveries,
        "a refund notifies nothing"
    );
    assert!(
        found.last_confirmed_at > paid.last_confirmed_at,
        "confirmed again: {:?} then {:?}",
        paid.last_confirmed_at,
        found.last_confirmed_at
    );
    assert_eq!(
        found.summary.status,
        PaymentStatus::Paid,
        "a refund is no status change"
    );
    assert_eq!(
        found.status_events.len(),
        paid.status_events.len(),
        "nothing new in the status history"
    );
    // And the refund itself is recorded, learnt by polling: source Poll, nobody's, counted.
    let refund = found
        .refunds
        .iter()
        .find(|r| r.refund_number.as_deref() == Some("RW-REFUND-1"))
        .expect("the refund is recorded with the order");
    assert_eq!(refund.status, MoveStatus::Completed);
    assert_eq!(refund.source, ChangeSource::Poll, "found by the watch");
    assert_eq!(refund.by, None, "made elsewhere: nobody here asked for it");
    assert_eq!(found.summary.refunded_amount, "2.50".parse().unwrap());
    assert_eq!(found.summary.money_state(), MoneyState::PartlyRefunded);
    rig.stop().await;
}

#[tokio::test]
async fn paid_orders_are_read_a_page_at_a_time_in_paid_order() {
    let rig = Rig::start("paid-between").await;
    let mut jobs = Vec::new();
    for n in 0..5 {
        let job = rig.create_job("3.00", &format!("PB-{n}"));
        rig.sim
            .play_and_wait(&job.reference, Script::PaysAtOnce)
            .await
            .unwrap();
        rig.wait_order(&job.reference, "paid", |d| {
            d.summary.status == PaymentStatus::Paid
        })
        .await;
        jobs.push(JobRef::parse(&job.reference).unwrap());
    }
    let unpaid = rig.create_job("4.00", "PB-unpaid");
    let from = tillwatch_core::domain::Timestamp::from_unix_millis(0);
    let to = tillwatch_core::domain::Timestamp::now().plus(HOUR);
    let store = rig.store();

    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .paid_between(from, to, after.clone(), 2)
            .await
            .unwrap();
        assert!(page.len() <= 2);
        if let (Some(last), Some(first)) = (seen.last(), page.first()) {
            assert!(
                last < first,
                "pages follow each other: {last:?} then {first:?}"
            );
        }
        after = page.last().cloned();
        let full = page.len() == 2;
        seen.extend(page);
        if !full {
            break;
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "oldest paid first, ties by job");
    let mut got: Vec<JobRef> = seen.into_iter().map(|(_, j)| j).collect();
    got.sort();
    jobs.sort();
    assert_eq!(
        got, jobs,
        "every paid order once, and no unpaid {}",
        unpaid.reference
    );

    // A window that ends before the first payment holds nothing.
    let none = store
        .paid_between(from, from.plus(HOUR), None, 10)
        .await
        .unwrap();
    assert!(none.is_empty());
    rig.stop().await;
}

/// Figures, not a check: how long a live confirmation takes (notification posted to order
/// Paid in the store) with and without a refund watch pass over `SEEDED` paid orders running,
/// at a simulated gateway latency. `cargo test -p tillwatch-core --test core --release
/// refund_watch::added_time -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; prints figures"]
async fn added_time_on_a_live_confirmation() {
    const SEEDED: usize = 400;
    const LIVE: usize = 20;
    let latency = Duration::from_millis(20);
    let mut rig = Rig::start("refund-watch-added-time").await;
    for n in 0..SEEDED {
        let job = rig.create_job("5.00", &format!("SEED-{n}"));
        rig.sim
            .play_and_wait(&job.reference, Script::PaysAtOnce)
            .await
            .unwrap();
    }
    rig.wait_inbox_empty().await;
    rig.sim.set_fault(
        tillwatch_sim::FaultTarget::AnyApi,
        tillwatch_sim::Fault::Delay { delay: latency },
    );

    async fn live_confirmations(rig: &Rig, label: &str) -> Vec<Duration> {
        let mut took = Vec::new();
        for n in 0..LIVE {
            let job = rig
                .paid_job_not_notified("7.00", &format!("{label}-{n}"))
                .await;
            let payment = job_payment(rig, &job.reference);
            let job_ref = JobRef::parse(&job.reference).unwrap();
            let start = Instant::now();
            assert!(rig
                .notify(&job.reference, &payment)
                .await
                .status()
                .is_success());
            loop {
                let d = rig.store().order(&job_ref).await.unwrap();
                if d.is_some_and(|d| d.summary.status == PaymentStatus::Paid) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            took.push(start.elapsed());
        }
        took.sort();
        took
    }

    let quiet = live_confirmations(&rig, "QUIET").await;
    // A restart starts a watch pass over every seeded order at once.
    let asked = rig.sim.api_request_count(Endpoint::RetrieveJob);
    rig.restart().await;
    let busy = live_confirmations(&rig, "BUSY").await;
    let watch_calls = rig.sim.api_request_count(Endpoint::RetrieveJob) - asked;
    let median = |v: &[Duration]| v[v.len() / 2];
    println!(
        "live confirmation, {LIVE} each, gateway latency {latency:?}, concurrency 4: \
         quiet median {:?} max {:?}; during a watch pass over {SEEDED} paid orders \
         ({watch_calls} job reads meanwhile) median {:?} max {:?}",
        median(&quiet),
        quiet[LIVE - 1],
        median(&busy),
        busy[LIVE - 1]
    );
    rig.stop().await;
}

fn job_payment(rig: &Rig, job: &str) -> String {
    rig.sim.job_typed(job).unwrap().payments[0]
        .reference
        .clone()
}
