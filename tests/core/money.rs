//! Refund, cancel and capture against the gateway simulator over loopback: every check
//! before anything is sent, a same-day refund sent as a cancel, a lost answer never
//! refunded twice, Pending and Failed refunds followed to their end, capture of a
//! reservation.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tillwatch_core::app::{
    cancel_order, capture_order, refund_order, FollowPolicy, MoneyOutcome, MoneyReport,
};
use tillwatch_core::domain::{Amount, JobRef, MoneyPlan, MoveStatus, PlannedMove, Timestamp};
use tillwatch_core::gateway::GatewayClient;
use tillwatch_sim::{
    CreateJob, Endpoint, Fault, FaultTarget, MoneySettings, RefundMode, Script, SimConfig,
    SimHandle,
};
use time::macros::datetime;

use crate::harness::{gateway_client, start_sim};

const HOUR: Duration = Duration::from_secs(3600);

/// A real-time clock from a fixed noon: payments are same-day until a test moves the
/// clock past midnight.
fn noon(auto_capture: bool) -> SimConfig {
    SimConfig {
        clock_start: Some(datetime!(2026-12-07 12:00 UTC)),
        step_gap: Duration::from_millis(5),
        money: MoneySettings {
            auto_capture,
            ..MoneySettings::default()
        },
        ..SimConfig::default()
    }
}

struct Shop {
    sim: SimHandle,
    client: GatewayClient,
    /// Every plan recorded before its requests were sent.
    recorded: Arc<Mutex<Vec<MoneyPlan>>>,
}

impl Shop {
    async fn start(auto_capture: bool) -> Shop {
        let sim = start_sim(noon(auto_capture)).await;
        let key = sim.config().api_keys[0].clone();
        // Short, so a lost answer is given up on quickly.
        let client = gateway_client(&sim, &key, Duration::from_secs(1));
        Shop {
            sim,
            client,
            recorded: Arc::default(),
        }
    }

    /// A job of `amount` GBP nobody has paid yet.
    fn open(&self, amount: &str, order: &str) -> JobRef {
        let job = self
            .sim
            .create_job(CreateJob {
                amount: amount.parse().unwrap(),
                currency: "GBP".into(),
                order_number: order.into(),
                email: "shopper@example.com".into(),
                webhook_url: None,
            })
            .unwrap();
        JobRef::parse(&job.reference).unwrap()
    }

    /// A job of `amount` GBP the shopper paid (or reserved) at once.
    async fn paid(&self, amount: &str, order: &str) -> JobRef {
        let job = self.open(amount, order);
        self.sim
            .play_and_wait(job.as_str(), Script::PaysAtOnce)
            .await
            .unwrap();
        job
    }

    async fn capture(&self, job: &JobRef, amount: Option<&str>) -> MoneyReport {
        let amount = amount.map(|a| a.parse::<Amount>().unwrap());
        capture_order(
            &self.client,
            job,
            amount,
            self.now(),
            quick(),
            self.recorder(),
        )
        .await
        .unwrap()
    }

    async fn cancel(&self, job: &JobRef) -> MoneyReport {
        cancel_order(&self.client, job, self.now(), self.recorder())
            .await
            .unwrap()
    }

    fn past_midnight(&self) {
        self.sim.advance_clock(13 * HOUR);
    }

    fn now(&self) -> Timestamp {
        Timestamp::from_datetime(self.sim.clock().now())
    }

    fn recorder(&self) -> impl FnOnce(&MoneyPlan) -> std::future::Ready<Result<(), String>> {
        let recorded = self.recorded.clone();
        move |plan: &MoneyPlan| {
            recorded.lock().unwrap().push(plan.clone());
            std::future::ready(Ok(()))
        }
    }

    async fn refund(&self, job: &JobRef, amount: Option<&str>) -> MoneyReport {
        let amount = amount.map(|a| a.parse::<Amount>().unwrap());
        refund_order(
            &self.client,
            job,
            amount,
            self.now(),
            quick(),
            self.recorder(),
        )
        .await
        .unwrap()
    }

    fn sent(&self, endpoint: Endpoint) -> u64 {
        self.sim.api_request_count(endpoint)
    }

    /// The gateway's payments of `job`, as it holds them.
    fn payments(&self, job: &JobRef) -> Vec<Value> {
        self.sim.job(job.as_str()).unwrap()["payments"]
            .as_array()
            .unwrap()
            .clone()
    }

    fn refunds(&self, job: &JobRef) -> Vec<(String, String)> {
        self.payments(job)
            .iter()
            .flat_map(|p| p["refunds"].as_array().unwrap().clone())
            .map(|r| {
                (
                    r["amountToRefund"].as_str().unwrap().to_owned(),
                    r["status"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }
}

fn quick() -> FollowPolicy {
    FollowPolicy {
        first: Duration::from_millis(50),
        cap: Duration::from_millis(200),
        give_up_after: Duration::from_secs(15),
    }
}

fn refused(report: &MoneyReport) -> &str {
    match &report.outcome {
        MoneyOutcome::Refused { sentence } => sentence,
        other => panic!("refused expected, got {other:?}"),
    }
}

#[tokio::test]
async fn a_settled_payment_is_refunded_in_full_under_the_number_recorded_first() {
    let shop = Shop::start(true).await;
    let job = shop.paid("10.00", "MR-1").await;
    shop.past_midnight();

    let report = shop.refund(&job, None).await;
    assert_eq!(report.outcome, MoneyOutcome::Completed, "{report:?}");
    assert_eq!(shop.refunds(&job), [("10.00".into(), "Completed".into())]);
    let recorded = shop.recorded.lock().unwrap().clone();
    let [PlannedMove::Refund { refund_number, .. }] = &recorded[0].moves[..] else {
        panic!("{recorded:?}");
    };
    assert_eq!(
        shop.payments(&job)[0]["refunds"][0]["refundNumber"],
        refund_number.as_str()
    );
    assert_eq!(report.moves[0].number.as_ref(), Some(refund_number));
}

#[tokio::test]
async fn partial_refunds_add_up_and_one_above_the_balance_is_never_sent() {
    let shop = Shop::start(true).await;
    let job = shop.paid("10.00", "MR-2").await;
    shop.past_midnight();

    for amount in ["4.00", "3.50"] {
        let report = shop.refund(&job, Some(amount)).await;
        assert_eq!(report.outcome, MoneyOutcome::Completed, "{report:?}");
    }
    let sent = shop.sent(Endpoint::Refund);
    let above = shop.refund(&job, Some("2.51")).await;
    let sentence = refused(&above);
    assert!(sentence.contains("2.50 GBP"), "{sentence}");
    let bad = shop.refund(&job, Some("0.001")).await;
    assert!(refused(&bad).contains("decimals"));
    assert_eq!(shop.sent(Endpoint::Refund), sent, "nothing was sent");
    assert_eq!(shop.recorded.lock().unwrap().len(), 2, "nor recorded");

    let rest = shop.refund(&job, None).await;
    assert_eq!(rest.outcome, MoneyOutcome::Completed);
    let amounts: Vec<_> = shop.refunds(&job).into_iter().map(|(a, _)| a).collect();
    assert_eq!(amounts, ["4.00", "3.50", "2.50"]);
    let nothing = shop.refund(&job, None).await;
    assert!(refused(&nothing).contains("nothing left"));
}

#[tokio::test]
async fn a_same_day_full_refund_is_a_cancel_and_a_partial_one_says_when() {
    let shop = Shop::start(true).await;
    let job = shop.paid("10.00", "MR-3").await;

    let partial = shop.refund(&job, Some("4.00")).await;
    let sentence = refused(&partial);
    assert!(sentence.contains("from 8 December 2026"), "{sentence}");
    assert_eq!(shop.sent(Endpoint::Refund), 0);
    assert_eq!(shop.sent(Endpoint::CancelPayment), 0);

    let full = shop.refund(&job, None).await;
    assert_eq!(full.outcome, MoneyOutcome::Cancelled, "{full:?}");
    assert!(full.notes.join(" ").contains("sent as a cancel"));
    assert_eq!(shop.payments(&job)[0]["status"], "Cancelled");
    assert_eq!(shop.sent(Endpoint::Refund), 0);
}

#[tokio::test]
async fn a_refund_whose_answer_is_lost_is_found_and_never_sent_twice() {
    let shop = Shop::start(true).await;
    let job = shop.paid("10.00", "MR-4").await;
    shop.past_midnight();
    shop.sim
        .set_fault_times(FaultTarget::Refund, Fault::LoseAnswer, 1);

    let report = shop.refund(&job, Some("6.00")).await;
    assert_eq!(report.outcome, MoneyOutcome::Completed, "{report:?}");
    assert!(
        report.notes.join(" ").contains("not sent again"),
        "{:?}",
        report.notes
    );
    assert_eq!(shop.sent(Endpoint::Refund), 1);
    assert_eq!(shop.refunds(&job), [("6.00".into(), "Completed".into())]);
}

#[tokio::test]
async fn a_pending_refund_is_followed_until_it_completes() {
    let shop = Shop::start(true).await;
    let job = shop.paid("10.00", "MR-5").await;
    shop.past_midnight();
    shop.sim
        .set_refund_mode(RefundMode::Pending { pending_for: HOUR });

    let sim = shop.sim.clone();
    let later = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        sim.advance_clock(2 * HOUR);
    });
    let report = shop.refund(&job, None).await;
    later.await.unwrap();
    assert_eq!(report.outcome, MoneyOutcome::Completed, "{report:?}");
    assert_eq!(report.moves[0].status, MoveStatus::Completed);

    // Not followed long enough: reported as Pending, never as done.
    let job = shop.paid("10.00", "MR-5b").await;
    shop.sim.advance_clock(24 * HOUR);
    let impatient = FollowPolicy {
        give_up_after: Duration::from_millis(100),
        ..quick()
    };
    let report = refund_order(
        &shop.client,
        &job,
        None,
        shop.now(),
        impatient,
        shop.recorder(),
    )
    .await
    .unwrap();
    assert_eq!(report.outcome, MoneyOutcome::Pending, "{report:?}");
}

#[tokio::test]
async fn a_failed_refund_is_failed_with_the_gateways_reason() {
    let shop = Shop::start(true).await;
    let job = shop.paid("10.00", "MR-6").await;
    shop.past_midnight();
    shop.sim.set_refund_mode(RefundMode::Failed);

    let report = shop.refund(&job, None).await;
    match &report.outcome {
        MoneyOutcome::Failed { reason } => {
            assert!(reason.contains("InsufficientMerchantBalance"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_reservation_is_captured_and_a_paid_order_is_not() {
    let shop = Shop::start(false).await;
    let job = shop.paid("10.00", "MR-7").await;
    assert_eq!(shop.payments(&job)[0]["status"], "Reserved");

    let partial = shop.capture(&job, Some("4.00")).await;
    assert!(refused(&partial).contains("full amount"));
    let report = shop.capture(&job, None).await;
    assert_eq!(report.outcome, MoneyOutcome::Completed, "{report:?}");
    assert_eq!(shop.payments(&job)[0]["status"], "Paid");

    let sent = shop.sent(Endpoint::Capture);
    let again = shop.capture(&job, None).await;
    assert!(refused(&again).contains("already captured"));
    assert_eq!(shop.sent(Endpoint::Capture), sent);
}

#[tokio::test]
async fn cancel_voids_a_reservation_and_cancels_an_unpaid_job() {
    let shop = Shop::start(false).await;
    let reserved = shop.paid("10.00", "MR-8").await;
    let report = shop.cancel(&reserved).await;
    assert_eq!(report.outcome, MoneyOutcome::Cancelled, "{report:?}");
    assert_eq!(shop.payments(&reserved)[0]["status"], "Cancelled");

    let open = shop.open("5.00", "MR-9");
    let report = shop.cancel(&open).await;
    assert_eq!(report.outcome, MoneyOutcome::Cancelled, "{report:?}");
    assert_eq!(shop.sent(Endpoint::CancelJob), 1);
}

#[tokio::test]
async fn a_lost_capture_answer_is_found_and_an_expired_reservation_is_refused_first() {
    let shop = Shop::start(false).await;
    let job = shop.paid("10.00", "MR-10").await;
    shop.sim
        .set_fault_times(FaultTarget::Capture, Fault::LoseAnswer, 1);
    let report = shop.capture(&job, None).await;
    assert_eq!(report.outcome, MoneyOutcome::Completed, "{report:?}");
    assert!(report.notes.join(" ").contains("not sent again"));
    assert_eq!(shop.sent(Endpoint::Capture), 1);
    assert_eq!(shop.payments(&job)[0]["status"], "Paid");

    let late = shop.paid("10.00", "MR-11").await;
    shop.sim.advance_clock(8 * 24 * HOUR);
    let report = shop.capture(&late, None).await;
    assert!(
        refused(&report).contains("expired on 14 December 2026"),
        "{report:?}"
    );
    assert_eq!(shop.sent(Endpoint::Capture), 1, "nothing more was sent");
}
