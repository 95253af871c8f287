use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use tillwatch::listener::{router, BODY_LIMIT};
use tillwatch::store::{Store, MAX_KEPT_MALFORMED, WRITE_QUEUE};
use tower::ServiceExt;

use crate::harness::{Rig, TestDir, WAIT};

const SECRET: &str = "s3cret-path-0123456789";

fn app(store: &Store, secret: Option<&str>) -> (axum::Router, Arc<AtomicUsize>) {
    let woken = Arc::new(AtomicUsize::new(0));
    let w = Arc::clone(&woken);
    let r = router(
        store.clone(),
        secret,
        Arc::new(move || {
            w.fetch_add(1, Ordering::SeqCst);
        }),
    );
    (r, woken)
}

fn post(path: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(path)
        .header("content-type", "application/json")
        .body(body.into())
        .unwrap()
}

async fn body_json(resp: axum::response::Response) -> serde_json::Value {
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

async fn delivery_states(store: &Store) -> Vec<(String, i64)> {
    // Through the public API: the inbox status and every pending row.
    let pending = store.pending_deliveries_after(0, 10_000).await.unwrap();
    pending
        .into_iter()
        .map(|p| (p.job_ref.to_string(), p.id))
        .collect()
}

#[tokio::test]
async fn valid_notification_is_committed_then_echoed() {
    let dir = TestDir::new("listener-ok");
    let store = Store::open(dir.path().join("t.db")).unwrap();
    let (r, woken) = app(&store, None);
    let resp = r
        .oneshot(post(
            "/webhooks/cashflows",
            r#"{"notifyType":"PaymentStatusChange","PaymentJobReference":"200421017498767380","paymentreference":"200421100461508616"}"#,
        ))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        body_json(resp).await,
        serde_json::json!({"paymentJobReference":"200421017498767380","paymentReference":"200421100461508616"})
    );
    assert_eq!(woken.load(Ordering::SeqCst), 1);
    // The row is there for a fresh connection: committed, not just buffered.
    drop(store);
    let reopened = Store::open(dir.path().join("t.db")).unwrap();
    assert_eq!(
        delivery_states(&reopened).await,
        vec![("200421017498767380".to_owned(), 1)]
    );
}

#[tokio::test]
async fn malformed_notifications_are_refused_and_logged() {
    let dir = TestDir::new("listener-bad");
    let store = Store::open(dir.path().join("t.db")).unwrap();
    let (r, woken) = app(&store, None);
    let cases: Vec<(Body, StatusCode)> = vec![
        (Body::from("not json at all"), StatusCode::BAD_REQUEST),
        (Body::from("[]"), StatusCode::BAD_REQUEST),
        (
            Body::from(r#"{"paymentJobReference":"123"}"#),
            StatusCode::BAD_REQUEST,
        ),
        (
            Body::from(r#"{"paymentJobReference":"12a","paymentReference":"1"}"#),
            StatusCode::BAD_REQUEST,
        ),
        (
            Body::from(format!(
                r#"{{"paymentJobReference":"{}","paymentReference":"1"}}"#,
                "9".repeat(40)
            )),
            StatusCode::BAD_REQUEST,
        ),
        (
            Body::from(vec![b'x'; BODY_LIMIT + 1]),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (Body::from(vec![0xff, 0xfe, 0x00]), StatusCode::BAD_REQUEST),
    ];
    for (body, want) in cases {
        let resp = r
            .clone()
            .oneshot(post("/webhooks/cashflows", body))
            .await
            .unwrap();
        assert_eq!(resp.status(), want);
        let json = body_json(resp).await;
        assert!(json.get("error").is_some(), "{json}");
        assert!(
            json.get("paymentJobReference").is_none(),
            "no echo on refusal"
        );
    }
    assert_eq!(woken.load(Ordering::SeqCst), 0, "nothing queued");
    assert!(delivery_states(&store).await.is_empty());
    let (backlog, last) = store.inbox_status().await.unwrap();
    assert_eq!(backlog, 0);
    assert!(last.is_some(), "refusals are visible in the deliveries log");
}

#[tokio::test]
async fn only_the_webhook_route_exists() {
    let dir = TestDir::new("listener-routes");
    let store = Store::open(dir.path().join("t.db")).unwrap();
    let (r, _) = app(&store, None);
    let get = Request::get("/webhooks/cashflows")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        r.clone().oneshot(get).await.unwrap().status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
    let put = Request::put("/webhooks/cashflows")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        r.clone().oneshot(put).await.unwrap().status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
    for path in [
        "/",
        "/api",
        "/webhooks",
        "/webhooks/cashflows/extra",
        "/orders",
    ] {
        let resp = r.clone().oneshot(post(path, "{}")).await.unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn secret_path_is_the_only_way_in() {
    let dir = TestDir::new("listener-secret");
    let store = Store::open(dir.path().join("t.db")).unwrap();
    let (r, _) = app(&store, Some(SECRET));
    let body = r#"{"paymentJobReference":"1","paymentReference":"2"}"#;
    let plain = r
        .clone()
        .oneshot(post("/webhooks/cashflows", body))
        .await
        .unwrap();
    assert_eq!(plain.status(), StatusCode::NOT_FOUND);
    let wrong = r
        .clone()
        .oneshot(post("/webhooks/cashflows/not-the-secret-at-all", body))
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::NOT_FOUND);
    let right = r
        .oneshot(post(&format!("/webhooks/cashflows/{SECRET}"), body))
        .await
        .unwrap();
    assert_eq!(right.status(), StatusCode::OK);
}

#[tokio::test]
async fn refused_deliveries_are_kept_only_up_to_a_bound() {
    let dir = TestDir::new("listener-bound");
    let store = Store::open(dir.path().join("t.db")).unwrap();
    let (r, _) = app(&store, None);
    let mut sends = tokio::task::JoinSet::new();
    for i in 0..(MAX_KEPT_MALFORMED + 25) {
        let r = r.clone();
        sends.spawn(async move {
            r.oneshot(post("/webhooks/cashflows", format!("garbage {i}")))
                .await
                .unwrap()
                .status()
        });
    }
    while let Some(s) = sends.join_next().await {
        assert_eq!(s.unwrap(), StatusCode::BAD_REQUEST);
    }
    drop(store);
    let conn = rusqlite::Connection::open(dir.path().join("t.db")).unwrap();
    let kept: i64 = conn
        .query_row(
            "SELECT count(*) FROM deliveries WHERE state = 'malformed'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(kept, MAX_KEPT_MALFORMED);
}

#[tokio::test]
async fn listener_keeps_serving_after_garbage_over_real_sockets() {
    let rig = Rig::start("listener-socket").await;
    let http = &rig.http;
    let url = &rig.webhook_url;
    assert_eq!(
        http.post(url).body("}{").send().await.unwrap().status(),
        400
    );
    assert_eq!(
        http.post(url)
            .body(vec![b'a'; 20 * 1024])
            .send()
            .await
            .unwrap()
            .status(),
        413
    );
    assert_eq!(http.get(url).send().await.unwrap().status(), 405);
    assert_eq!(http.delete(url).send().await.unwrap().status(), 405);
    let other = format!("http://{}/admin", rig.addr);
    assert_eq!(http.post(&other).send().await.unwrap().status(), 404);
    // Still serving, and nothing became an order.
    let resp = rig.notify("1", "2").await;
    assert_eq!(resp.status(), 200);
    rig.wait_inbox_empty().await;
    assert!(rig.app.orders(None, None, 0, 0).await.unwrap().is_empty());
    rig.stop().await;
}

fn notification(job: &str, payment: &str) -> String {
    serde_json::json!({
        "notifyType": "PaymentStatusChange",
        "paymentJobReference": job,
        "paymentReference": payment,
    })
    .to_string()
}

#[tokio::test]
async fn a_full_write_queue_answers_503_and_acknowledges_only_what_is_stored() {
    let dir = TestDir::new("listener-queue-full");
    let store = Store::open(dir.path().join("t.db")).unwrap();
    let (r, _) = app(&store, None);
    let paused = store.pause_writer().await.unwrap();
    let beyond = 10;
    let mut sends = tokio::task::JoinSet::new();
    for i in 0..(WRITE_QUEUE + beyond) {
        let r = r.clone();
        sends.spawn(async move {
            let job = (100_000 + i).to_string();
            let resp = r
                .oneshot(post("/webhooks/cashflows", notification(&job, "1")))
                .await
                .unwrap();
            (job, resp.status())
        });
    }
    tokio::time::timeout(WAIT, async {
        // While the writer is held only the refused can answer, and they answer at once.
        for _ in 0..beyond {
            let (_, status) = sends.join_next().await.unwrap().unwrap();
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        }
        drop(paused);
        let mut acknowledged = Vec::new();
        while let Some(sent) = sends.join_next().await {
            let (job, status) = sent.unwrap();
            assert_eq!(status, StatusCode::OK, "job {job}");
            acknowledged.push(job);
        }
        acknowledged.sort();
        let mut stored: Vec<String> = delivery_states(&store)
            .await
            .into_iter()
            .map(|(job, _)| job)
            .collect();
        stored.sort();
        assert_eq!(acknowledged.len(), WRITE_QUEUE);
        assert_eq!(stored, acknowledged, "every 200 has its row, and only those");
    })
    .await
    .expect("the listener answered");
}
