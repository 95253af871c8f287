//! A process that missed other processes' changes catches up from the change log: after
//! its LISTEN connection dropped (and could not come back for a while), and when its
//! receiver fell behind. Each change is told once, in order, whether heard or read back.

use std::time::{Duration, Instant};

use tillwatch_core::app::{ShopPolicy, Tillwatch};
use tillwatch_core::domain::{ChangeSource, PaymentStatus};
use tillwatch_core::pipeline::CoreEvent;
use tillwatch_core::store::RemoteChange;
use tillwatch_core::store::{Confirmations, Process};
use tillwatch_store_postgres::{PgPool, PgStore, LISTENER_SUFFIX, MAX_CONNECTIONS};
use tokio::sync::broadcast::{self, error::RecvError};

use crate::postgres::{TestPostgres, USER};
use crate::store::{job, settle_listeners, snapshot};

/// Another process confirms a job's status (a `serve` on another machine).
async fn confirm(by: &PgStore, job_ref: &str, status: &str, second: u32) {
    let at = format!("2026-11-24T10:00:{second:02}Z");
    let status = PaymentStatus::from(status.to_owned());
    by.apply_snapshot(
        snapshot(job_ref, status, &at, &format!("O-{job_ref}")),
        ChangeSource::Notification,
        None,
        None,
    )
    .await
    .unwrap();
}

async fn store_named(pg: &TestPostgres, name: &str, changes_kept: usize) -> PgStore {
    let url = pg.url_with(&format!("sslmode=disable&application_name={name}"));
    PgStore::connect_keeping(crate::config(pg, &url), changes_kept)
        .await
        .expect("the store connects and migrates")
}

/// What `rx` receives until `wanted` changes came (or 20 s), then anything more in 500 ms.
async fn receive(
    rx: &mut broadcast::Receiver<RemoteChange>,
    wanted: usize,
) -> Vec<(i64, String, Option<String>, bool)> {
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let wait = if got.len() < wanted {
            deadline.saturating_duration_since(Instant::now())
        } else {
            Duration::from_millis(500)
        };
        match tokio::time::timeout(wait, rx.recv()).await {
            Ok(Ok(c)) => got.push((
                c.seq,
                c.job_ref.to_string(),
                c.previous_status.map(|s| s.to_string()),
                c.status_changed,
            )),
            Ok(Err(e)) => panic!("{e:?}"),
            Err(_) => return got,
        }
    }
}

fn told(seq: i64, job: &str, previous: Option<&str>) -> (i64, String, Option<String>, bool) {
    (seq, job.to_owned(), previous.map(str::to_owned), true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_cut_off_reads_back_what_it_missed_once_in_order() {
    let pg = TestPostgres::start();
    let follower = store_named(&pg, "follower", 1024).await;
    let serve = store_named(&pg, "serve", 1024).await;
    let admin = crate::pool(&pg).await;
    let admin = admin.get().await.unwrap();
    // The database's connections are switched off from another database.
    let outside = PgPool::connect(&crate::config_for(&pg, "postgres"))
        .await
        .unwrap();
    let outside = outside.get().await.unwrap();
    let mut heard = follower.remote_changes().unwrap().receiver;
    settle_listeners().await;

    confirm(&serve, "1", "Pending", 0).await;
    assert_eq!(receive(&mut heard, 1).await, [told(1, "1", None)]);
    // A write that rolled back leaves a hole at 2; 3 is heard live and is not told again
    // when the follower later reads the log from below the hole.
    admin
        .execute("SELECT nextval('order_changes_seq_seq')", &[])
        .await
        .unwrap();
    confirm(&serve, "2", "Pending", 0).await;
    assert_eq!(receive(&mut heard, 1).await, [told(3, "2", None)]);

    // The follower's LISTEN connection drops, and cannot come back for a while (the
    // network is gone): meanwhile the other machine confirms three changes.
    outside
        .batch_execute(&format!("ALTER DATABASE {USER} ALLOW_CONNECTIONS false"))
        .await
        .unwrap();
    let cut: bool = outside
        .query_one(
            "SELECT bool_and(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity
             WHERE application_name = $1",
            &[&format!("follower{LISTENER_SUFFIX}")],
        )
        .await
        .unwrap()
        .get(0);
    assert!(cut, "the follower's LISTEN connection was cut");
    confirm(&serve, "3", "Paid", 1).await;
    confirm(&serve, "4", "Failed", 1).await;
    confirm(&serve, "1", "Paid", 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    outside
        .batch_execute(&format!("ALTER DATABASE {USER} ALLOW_CONNECTIONS true"))
        .await
        .unwrap();

    // Back: exactly the missed changes, each once, in the order they were logged, with
    // what the window alerts on (Job 1 was Pending and is now Paid).
    assert_eq!(
        receive(&mut heard, 3).await,
        [
            told(4, "3", None),
            told(5, "4", None),
            told(6, "1", Some("Pending"))
        ]
    );
    // And it listens again: the next change is heard live, once.
    confirm(&serve, "5", "Paid", 3).await;
    assert_eq!(receive(&mut heard, 1).await, [told(7, "5", None)]);
}

/// The events a window would get from `follow_others`: (job, previous status) per order
/// change, until `wanted` came (or 20 s), then anything more in 500 ms.
async fn window_events(
    rx: &mut broadcast::Receiver<CoreEvent>,
    wanted: usize,
) -> Vec<(String, Option<String>)> {
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let wait = if got.len() < wanted {
            deadline.saturating_duration_since(Instant::now())
        } else {
            Duration::from_millis(500)
        };
        match tokio::time::timeout(wait, rx.recv()).await {
            Ok(Ok(CoreEvent::OrderChanged {
                order,
                previous_status,
                status_changed,
                ..
            })) => {
                assert!(status_changed);
                got.push((
                    order.payment_job_reference.to_string(),
                    previous_status.map(|s| s.to_string()),
                ));
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("the test's own receiver: {e:?}"),
            Err(_) => return got,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_that_fell_behind_reads_back_what_it_missed_once_in_order() {
    let pg = TestPostgres::start();
    // Two changes kept for a slow receiver: a burst of ten overruns it.
    let window_store = store_named(&pg, "window", 2).await;
    let serve = store_named(&pg, "serve", 1024).await;
    let window = Tillwatch::new(
        window_store.clone(),
        ShopPolicy {
            allow_ship_on_reserved: false,
        },
    );
    let mut events = window.events();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let following = tokio::spawn({
        let window = window.clone();
        async move {
            window
                .follow_others(async {
                    let _ = stopped.await;
                })
                .await;
        }
    });
    // A receiver of the store's own, to know when the LISTEN task has told the burst.
    let mut witness = window_store.remote_changes().unwrap().receiver;
    settle_listeners().await;

    confirm(&serve, "1", "Pending", 0).await;
    assert_eq!(
        window_events(&mut events, 1).await,
        [("1".to_owned(), None)]
    );

    // The window is slow to read orders (every connection busy) while a burst commits.
    let mut busy = Vec::new();
    for _ in 0..MAX_CONNECTIONS {
        busy.push(window_store.pool().get().await.unwrap());
    }
    for n in 10..20 {
        confirm(&serve, &n.to_string(), "Paid", 1).await;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, witness.recv()).await {
            Ok(Ok(c)) if c.job_ref == job("19") => break,
            Ok(Ok(_) | Err(RecvError::Lagged(_))) => {}
            other => panic!("the burst was never told: {other:?}"),
        }
    }
    drop(busy);

    // Every change once, in order, and none again.
    let expected: Vec<(String, Option<String>)> = (10..20).map(|n| (n.to_string(), None)).collect();
    assert_eq!(window_events(&mut events, 10).await, expected);
    confirm(&serve, "1", "Paid", 2).await;
    assert_eq!(
        window_events(&mut events, 1).await,
        [("1".to_owned(), Some("Pending".to_owned()))]
    );

    let _ = stop.send(());
    following.await.unwrap();
}

#[tokio::test]
async fn the_change_log_keeps_a_week() {
    let pg = TestPostgres::start();
    let serve = store_named(&pg, "serve", 1024).await;
    confirm(&serve, "1", "Pending", 0).await;
    confirm(&serve, "2", "Pending", 0).await;
    let admin = crate::pool(&pg).await;
    let admin = admin.get().await.unwrap();
    // The first change was made eight days ago by the database's clock.
    admin
        .execute(
            "UPDATE order_changes SET changed_at = now() - interval '8 days' WHERE seq = 1",
            &[],
        )
        .await
        .unwrap();
    // A process starting forgets it; the recent one stays for followers to read.
    let _window = store_named(&pg, "window", 1024).await;
    let kept: Vec<i64> = admin
        .query("SELECT seq FROM order_changes ORDER BY seq", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(kept, [2]);
    let read_back = serve.changes_after(0, 10).await.unwrap();
    assert_eq!(read_back.len(), 1);
    assert_eq!(read_back[0].change.job_ref, job("2"));
    assert!(read_back[0].ours, "its own change, marked so");
}
