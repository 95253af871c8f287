//! The notification sender: strict acknowledgement and the gateway's retry schedule.

use std::time::Duration;

use serde_json::json;
use tillwatch_sim::{RetrySchedule, Script, SeriesState, SimConfig};

use crate::support::*;

const MINUTE: u64 = 60;
const DAY: u64 = 86_400;

/// The default schedule written out by hand: 5 retries a minute apart, then daily
/// while within 7 days of the first attempt, then weekly, none after 30 days.
fn expected_offsets() -> Vec<Duration> {
    let mut secs = vec![0, MINUTE, 2 * MINUTE, 3 * MINUTE, 4 * MINUTE, 5 * MINUTE];
    secs.extend((1..=6).map(|d| d * DAY + 5 * MINUTE));
    secs.extend([
        13 * DAY + 5 * MINUTE,
        20 * DAY + 5 * MINUTE,
        27 * DAY + 5 * MINUTE,
    ]);
    secs.into_iter().map(Duration::from_secs).collect()
}

#[test]
fn default_schedule_is_minutes_then_days_then_weeks_for_a_month() {
    assert_eq!(RetrySchedule::default().offsets(), expected_offsets());
}

#[tokio::test]
async fn correct_echo_is_acknowledged_once_and_never_retried() {
    let hook = receiver(Ack::CorrectEcho).await;
    let sim = start(fast_config()).await;
    let job = create(&sim, "A-1", Some(hook.url.clone()));
    sim.play_and_wait(&job.reference, Script::PaysAtOnce)
        .await
        .unwrap();

    let series = sim.wait_settled(1, WAIT).await.unwrap();
    assert_eq!(series.state, SeriesState::Acknowledged);
    // The signal that the whole retry month has passed, instead of sleeping through it: a
    // witness series that starts after ours was acknowledged and is never acknowledged
    // runs the whole schedule. Every retry ours could still owe falls due before the
    // witness's last attempt, so once the witness gives up nothing more can come.
    let refuser = receiver(Ack::WrongEcho).await;
    let witness = create(&sim, "A-1-witness", Some(refuser.url.clone()));
    sim.play_and_wait(&witness.reference, Script::PaysAtOnce)
        .await
        .unwrap();
    let witness_series = sim.wait_settled(2, WAIT).await.unwrap();
    assert_eq!(witness_series.state, SeriesState::GaveUp);
    assert_eq!(witness_series.attempts as usize, expected_offsets().len());

    let deliveries: Vec<_> = sim
        .deliveries()
        .into_iter()
        .filter(|d| d.job_ref == job.reference)
        .collect();
    assert_eq!(deliveries.len(), 1, "{deliveries:#?}");
    let d = &deliveries[0];
    assert!(d.acknowledged);
    assert_eq!((d.series, d.attempt, d.http_status), (1, 1, Some(200)));
    assert_eq!(d.job_ref, job.reference);
    assert_eq!(d.payment_ref, job.payment_reference);
    assert_eq!(d.error, None);

    let received = hook.received();
    assert_eq!(received.len(), 1);
    assert_eq!(
        received[0].content_type.as_deref(),
        Some("application/json")
    );
    assert_eq!(
        received[0].body,
        json!({
            "notifyType": "PaymentStatusChange",
            "paymentJobReference": job.reference,
            "paymentReference": job.payment_reference,
        })
    );
    sim.shutdown().await;
}

/// Play one paid job against `url` and check the whole unacknowledged series.
async fn assert_retried_on_schedule_then_given_up(url: String, status: Option<u16>) -> usize {
    let sim = start(SimConfig {
        default_webhook_url: Some(url),
        ..fast_config()
    })
    .await;
    let job = create(&sim, "A-2", None);
    sim.play_and_wait(&job.reference, Script::PaysAtOnce)
        .await
        .unwrap();

    let series = sim.wait_settled(1, WAIT).await.unwrap();
    assert_eq!(series.state, SeriesState::GaveUp);
    let attempts = sim.deliveries();
    let first = attempts[0].sim_time;
    let offsets: Vec<Duration> = attempts
        .iter()
        .map(|a| (a.sim_time - first).unsigned_abs())
        .collect();
    assert_eq!(offsets, expected_offsets(), "{attempts:#?}");
    assert!(*offsets.last().unwrap() <= Duration::from_secs(30 * DAY));
    for (i, a) in attempts.iter().enumerate() {
        assert_eq!(a.attempt as usize, i + 1);
        assert_eq!(a.series, 1);
        assert!(
            !a.acknowledged,
            "attempt {} counted acknowledged",
            a.attempt
        );
        assert!(a.error.is_some());
        assert_eq!(a.http_status, status, "{a:?}");
        assert_eq!(a.payment_ref, job.payment_reference);
    }
    assert_eq!(series.attempts as usize, attempts.len());
    sim.shutdown().await;
    attempts.len()
}

async fn assert_unacknowledging_receiver_is_retried(ack: Ack, status: u16) {
    let hook = receiver(ack).await;
    let n = assert_retried_on_schedule_then_given_up(hook.url.clone(), Some(status)).await;
    assert_eq!(
        hook.received().len(),
        n,
        "every attempt reached the webhook"
    );
}

#[tokio::test]
async fn ok_without_echo_is_retried_on_schedule_and_given_up() {
    assert_unacknowledging_receiver_is_retried(Ack::MissingEcho, 200).await;
}

#[tokio::test]
async fn ok_with_wrong_echo_is_retried_on_schedule_and_given_up() {
    assert_unacknowledging_receiver_is_retried(Ack::WrongEcho, 200).await;
}

#[tokio::test]
async fn echo_as_numbers_is_not_an_acknowledgement() {
    assert_unacknowledging_receiver_is_retried(Ack::EchoAsNumbers, 200).await;
}

#[tokio::test]
async fn ok_with_a_non_json_body_is_not_an_acknowledgement() {
    assert_unacknowledging_receiver_is_retried(Ack::NotJson, 200).await;
}

#[tokio::test]
async fn server_error_with_echo_is_retried_on_schedule_and_given_up() {
    assert_unacknowledging_receiver_is_retried(Ack::ServerError, 500).await;
}

#[tokio::test]
async fn refused_connection_is_retried_on_schedule_and_given_up() {
    assert_retried_on_schedule_then_given_up(refused_url().await, None).await;
}

#[tokio::test]
async fn slow_webhook_times_out_and_is_retried() {
    // A webhook that accepts the connection but never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(std::future::pending::<&'static str>),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let sim = start(SimConfig {
        notify_timeout: Duration::from_millis(100),
        retry_schedule: RetrySchedule {
            give_up_after: Duration::from_secs(3 * MINUTE),
            ..RetrySchedule::default()
        },
        ..fast_config()
    })
    .await;
    let job = create(&sim, "A-3", Some(url));
    sim.play_and_wait(&job.reference, Script::PaysAtOnce)
        .await
        .unwrap();
    let series = sim.wait_settled(1, WAIT).await.unwrap();
    assert_eq!(series.state, SeriesState::GaveUp);
    let attempts = sim.deliveries();
    assert_eq!(attempts.len(), 4, "0, 1, 2 and 3 minutes: {attempts:#?}");
    for a in &attempts {
        assert!(!a.acknowledged);
        assert_eq!(a.http_status, None);
        assert!(a.error.as_deref().unwrap().contains("no answer"), "{a:?}");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn a_late_acknowledgement_stops_the_series() {
    // Refuse twice (wrong echo), then acknowledge: three attempts, the last one counted.
    let hook = receiver(Ack::CorrectEcho).await;
    let flaky = receiver(Ack::WrongEcho).await;
    let sim = start(fast_config()).await;
    // Point the job at a proxy-like switch: first the flaky hook, then the good one.
    let switch = switching_hook(flaky.url.clone(), hook.url.clone(), 2).await;
    let job = create(&sim, "A-4", Some(switch));
    sim.play_and_wait(&job.reference, Script::PaysAtOnce)
        .await
        .unwrap();
    let series = sim.wait_settled(1, WAIT).await.unwrap();
    assert_eq!(series.state, SeriesState::Acknowledged);
    let attempts = sim.deliveries();
    let acks: Vec<bool> = attempts.iter().map(|a| a.acknowledged).collect();
    assert_eq!(acks, [false, false, true]);
    let gap = (attempts[2].sim_time - attempts[1].sim_time).unsigned_abs();
    assert_eq!(gap, Duration::from_secs(MINUTE));
    sim.shutdown().await;
}

/// A webhook that forwards the first `n` notifications to `first` and the rest to
/// `then`, answering with whatever they answer.
async fn switching_hook(first: String, then: String, n: usize) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let seen = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: String| {
            let target = if seen.fetch_add(1, Ordering::SeqCst) < n {
                first.clone()
            } else {
                then.clone()
            };
            async move {
                let res = reqwest::Client::new()
                    .post(target)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                let status = axum::http::StatusCode::from_u16(res.status().as_u16()).unwrap();
                (status, res.text().await.unwrap())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}
