use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tillwatch_core::store::Inbox;
use tillwatch_core::store::Store;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use tillwatch_core::listener::{
    router, serve_with, JunkLimit, Listener, RefusalCounts, ServeLimits, SourcePolicy, BODY_LIMIT,
    GATEWAY_INTEGRATION,
};
use tillwatch_store_sqlite::SqliteStore;
use tillwatch_store_sqlite::{MAX_KEPT_MALFORMED, WRITE_QUEUE};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower::ServiceExt;

use crate::harness::{test_store, Rig, TestDir, WAIT};

const SECRET: &str = "s3cret-path-0123456789";

fn app(store: &impl Store, secret: Option<&str>) -> (axum::Router, Arc<AtomicUsize>) {
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

async fn delivery_states(store: &impl Store) -> Vec<(String, i64)> {
    // Through the public API: the inbox status and every pending row.
    let pending = store.pending_deliveries(10_000).await.unwrap();
    pending
        .into_iter()
        .map(|p| (p.job_ref.to_string(), p.id))
        .collect()
}

#[tokio::test]
async fn valid_notification_is_committed_then_echoed() {
    let dir = TestDir::new("listener-ok");
    let store = SqliteStore::open(dir.path().join("t.db")).unwrap();
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
    let reopened = SqliteStore::open(dir.path().join("t.db")).unwrap();
    assert_eq!(
        delivery_states(&reopened).await,
        vec![("200421017498767380".to_owned(), 1)]
    );
}

#[tokio::test]
async fn malformed_notifications_are_refused_and_logged() {
    let dir = TestDir::new("listener-bad");
    let store = test_store(&dir).await;
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
    // Kept off the intake path, so shortly after the answer.
    eventually(|| async { store.inbox_status().await.unwrap().1.is_some() }).await;
    let (backlog, _) = store.inbox_status().await.unwrap();
    assert_eq!(backlog, 0);
}

#[tokio::test]
async fn only_the_webhook_route_exists() {
    let dir = TestDir::new("listener-routes");
    let store = test_store(&dir).await;
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
    let store = test_store(&dir).await;
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

/// Waits until `check` holds (the refusal log writes shortly after the answer).
async fn eventually<F, Fut>(check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    tokio::time::timeout(WAIT, async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("it came true");
}

#[tokio::test]
async fn refused_deliveries_are_kept_only_up_to_a_bound() {
    let dir = TestDir::new("listener-bound");
    let store = SqliteStore::open(dir.path().join("t.db")).unwrap();
    // All at once, as a flood the listener let through would arrive at the store.
    let mut sends = tokio::task::JoinSet::new();
    for i in 0..(MAX_KEPT_MALFORMED + 25) {
        let store = store.clone();
        sends.spawn(async move {
            store
                .record_rejected_delivery(tillwatch_core::store::RejectedDelivery {
                    received_at: tillwatch_core::domain::Timestamp::now(),
                    remote_addr: Some("203.0.113.1".into()),
                    forwarded_for: None,
                    body: format!("garbage {i}"),
                    error: "body is not JSON".into(),
                    response_status: 400,
                })
                .await
        });
    }
    while let Some(kept) = sends.join_next().await {
        kept.unwrap().unwrap();
    }
    drop(store);
    assert_eq!(count_refusals(&dir), MAX_KEPT_MALFORMED);
}

fn count_refusals(dir: &TestDir) -> i64 {
    let conn = rusqlite::Connection::open(dir.path().join("t.db")).unwrap();
    conn.query_row(
        "SELECT count(*) FROM deliveries WHERE state = 'malformed'",
        [],
        |r| r.get(0),
    )
    .unwrap()
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
    assert!(rig.app.orders(None, None, 0).await.unwrap().is_empty());
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
    let store = SqliteStore::open(dir.path().join("t.db")).unwrap();
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
        assert_eq!(
            stored, acknowledged,
            "every 200 has its row, and only those"
        );
    })
    .await
    .expect("the listener answered");
}

/// A listener serving `router` on a loopback port until `stop` is sent.
struct Served {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    serving: JoinHandle<std::io::Result<()>>,
}

async fn serve_router(r: axum::Router, limits: ServeLimits) -> Served {
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = tokio::spawn(serve_with(tcp, r, limits, async {
        let _ = stopped.await;
    }));
    Served {
        addr,
        stop,
        serving,
    }
}

impl Served {
    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(WAIT, self.serving)
            .await
            .expect("the listener stopped")
            .unwrap()
            .unwrap();
    }
}

/// Long enough never to fire in a test that is not about it.
const NEVER: Duration = Duration::from_secs(3600);

fn limits() -> ServeLimits {
    ServeLimits {
        header_read_timeout: NEVER,
        body_timeout: NEVER,
        shutdown_grace: NEVER,
        ..ServeLimits::default()
    }
}

/// Everything the server sends until it closes the connection (a reset counts as closed).
async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let read = tokio::time::timeout(WAIT, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server never closed the connection");
    String::from_utf8_lossy(&got).into_owned()
}

fn raw_notification(job: &str) -> String {
    let body = notification(job, "1");
    format!(
        "POST /webhooks/cashflows HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

#[tokio::test]
async fn a_body_sent_byte_by_byte_gets_408_after_the_body_timeout() {
    let dir = TestDir::new("listener-slow-body");
    let store = test_store(&dir).await;
    let (r, woken) = app(&store, None);
    let served = serve_router(
        r,
        ServeLimits {
            body_timeout: Duration::from_millis(200),
            ..limits()
        },
    )
    .await;
    let mut slow = TcpStream::connect(served.addr).await.unwrap();
    slow.write_all(b"POST /webhooks/cashflows HTTP/1.1\r\nHost: t\r\nContent-Length: 60\r\n\r\n{")
        .await
        .unwrap();
    let answer = read_until_closed(&mut slow).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(woken.load(Ordering::SeqCst), 0);
    // Still serving others (a GET: its 405 needs no write racing the short timeout).
    let mut other = TcpStream::connect(served.addr).await.unwrap();
    other
        .write_all(b"GET /webhooks/cashflows HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut other).await;
    assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
    served.stop().await;
}

#[tokio::test]
async fn headers_sent_slowly_are_cut_off_after_the_header_timeout() {
    let dir = TestDir::new("listener-slow-header");
    let store = test_store(&dir).await;
    let (r, _) = app(&store, None);
    let served = serve_router(
        r,
        ServeLimits {
            header_read_timeout: Duration::from_millis(200),
            ..limits()
        },
    )
    .await;
    let mut slow = TcpStream::connect(served.addr).await.unwrap();
    slow.write_all(b"POST /webhooks/cashflows HTTP/1.1\r\nHost: t\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut slow).await;
    assert!(!answer.contains(" 200 "), "{answer}");
    // A connection that never sends a byte is cut off too.
    let mut silent = TcpStream::connect(served.addr).await.unwrap();
    read_until_closed(&mut silent).await;
    served.stop().await;
}

#[tokio::test]
async fn shutdown_gives_up_on_a_straggler_after_the_grace_period() {
    let dir = TestDir::new("listener-straggler");
    let store = test_store(&dir).await;
    let (r, _) = app(&store, None);
    // Tells the test the straggler's request is inside the server.
    let (started_tx, started) = tokio::sync::mpsc::unbounded_channel::<()>();
    let r = r.layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| {
            let _ = started_tx.send(());
            next.run(req)
        },
    ));
    let served = serve_router(
        r,
        ServeLimits {
            shutdown_grace: Duration::from_millis(200),
            ..limits()
        },
    )
    .await;
    let mut straggler = TcpStream::connect(served.addr).await.unwrap();
    straggler
        .write_all(b"POST /webhooks/cashflows HTTP/1.1\r\nHost: t\r\nContent-Length: 60\r\n\r\n{")
        .await
        .unwrap();
    let mut started = started;
    started.recv().await.unwrap();
    served.stop().await;
    // Given up on: its connection is closed.
    read_until_closed(&mut straggler).await;
}

#[tokio::test]
async fn connections_beyond_the_cap_are_refused_until_one_is_released() {
    let dir = TestDir::new("listener-cap");
    let store = SqliteStore::open(dir.path().join("t.db")).unwrap();
    let (r, _) = app(&store, None);
    let served = serve_router(
        r,
        ServeLimits {
            max_connections: 2,
            ..limits()
        },
    )
    .await;
    // Accepted in order, so when the third is accepted the first two hold the slots.
    let first = TcpStream::connect(served.addr).await.unwrap();
    let _second = TcpStream::connect(served.addr).await.unwrap();
    let mut third = TcpStream::connect(served.addr).await.unwrap();
    let _ = third.write_all(raw_notification("1").as_bytes()).await;
    let answer = read_until_closed(&mut third).await;
    assert!(answer.is_empty(), "refused without an answer: {answer}");

    drop(first);
    // The slot frees once the server has seen the first one go.
    tokio::time::timeout(WAIT, async {
        loop {
            let mut next = TcpStream::connect(served.addr).await.unwrap();
            let _ = next.write_all(raw_notification("2").as_bytes()).await;
            let answer = read_until_closed(&mut next).await;
            if !answer.is_empty() {
                assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("served once a slot was released");
    served.stop().await;
}

fn from(ip: &str, forwarded_for: Option<&str>, body: String) -> Request<Body> {
    let mut req = post("/webhooks/cashflows", body);
    if let Some(xff) = forwarded_for {
        req.headers_mut()
            .insert("x-forwarded-for", xff.parse().unwrap());
    }
    let peer: SocketAddr = format!("{ip}:40000").parse().unwrap();
    req.extensions_mut().insert(ConnectInfo(peer));
    req
}

fn guarded(store: &impl Store, policy: SourcePolicy) -> axum::Router {
    Listener::new(store.clone(), None, policy, Arc::new(|| {})).router()
}

fn kept_refusals(dir: &TestDir) -> Vec<(Option<String>, i64)> {
    let conn = rusqlite::Connection::open(dir.path().join("t.db")).unwrap();
    let mut stmt = conn
        .prepare("SELECT remote_addr, response_status FROM deliveries WHERE state = 'malformed' ORDER BY id")
        .unwrap();
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    rows.map(Result::unwrap).collect()
}

#[tokio::test]
async fn the_allow_list_refuses_other_sources_with_403_and_keeps_a_record() {
    let dir = TestDir::new("listener-allow");
    let store = SqliteStore::open(dir.path().join("t.db")).unwrap();
    let r = guarded(
        &store,
        SourcePolicy {
            allow_from: GATEWAY_INTEGRATION.to_vec(),
            trusted_proxies: vec!["10.0.0.5".parse().unwrap()],
            ..SourcePolicy::default()
        },
    );
    let send = |ip: &str, xff: Option<&str>, job: &str| {
        r.clone().oneshot(from(ip, xff, notification(job, "1")))
    };
    // The gateway itself, and through the trusted proxy.
    assert_eq!(send("54.75.5.171", None, "1").await.unwrap().status(), 200);
    assert_eq!(
        send("10.0.0.5", Some("203.0.113.9, 54.73.83.234"), "2")
            .await
            .unwrap()
            .status(),
        200,
        "the right-most address the proxy did not add is the gateway"
    );
    // Anyone else, including one naming the gateway in a header it could write itself.
    for (ip, xff) in [
        ("203.0.113.9", None),
        ("203.0.113.9", Some("54.75.5.171")),
        ("10.0.0.5", Some("54.75.5.171, 203.0.113.9")),
        ("10.0.0.5", None),
    ] {
        let resp = send(ip, xff, "3").await.unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{ip} {xff:?}");
        assert!(body_json(resp).await.get("error").is_some());
    }
    // Only notifications are guarded: the tunnel's probe still gets its 405, and an
    // unknown path its 404, without a refusal kept for either.
    let mut probe = from("203.0.113.9", None, String::new());
    *probe.method_mut() = axum::http::Method::GET;
    assert_eq!(r.clone().oneshot(probe).await.unwrap().status(), 405);
    let mut elsewhere = from("203.0.113.9", None, String::new());
    *elsewhere.uri_mut() = "/admin".parse().unwrap();
    assert_eq!(r.clone().oneshot(elsewhere).await.unwrap().status(), 404);
    let stored: Vec<String> = delivery_states(&store)
        .await
        .into_iter()
        .map(|(job, _)| job)
        .collect();
    assert_eq!(stored, vec!["1", "2"]);
    eventually(|| async { kept_refusals(&dir).len() == 4 }).await;
    let refusals = kept_refusals(&dir);
    assert_eq!(refusals.len(), 4);
    assert!(refusals.iter().all(|(_, status)| *status == 403));
    assert_eq!(refusals[0].0.as_deref(), Some("203.0.113.9"));
}

#[tokio::test]
async fn without_an_allow_list_every_source_is_served() {
    let dir = TestDir::new("listener-allow-off");
    let store = test_store(&dir).await;
    let r = guarded(&store, SourcePolicy::default());
    let resp = r
        .oneshot(from(
            "198.51.100.7",
            Some("1.2.3.4"),
            notification("5", "1"),
        ))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_allow_list_holds_over_real_sockets() {
    let dir = TestDir::new("listener-allow-socket");
    let store = test_store(&dir).await;
    let policy = |allow: &str| SourcePolicy {
        allow_from: vec![allow.parse().unwrap()],
        ..SourcePolicy::default()
    };
    let http = reqwest::Client::new();
    for (allow, want) in [("127.0.0.2", 403), ("127.0.0.1", 200)] {
        let served = serve_router(guarded(&store, policy(allow)), limits()).await;
        let resp = http
            .post(format!("http://{}/webhooks/cashflows", served.addr))
            .header("x-forwarded-for", "127.0.0.1")
            .body(notification("9", "1"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), want, "allowing {allow}");
        served.stop().await;
    }
}

#[tokio::test(start_paused = true)]
async fn junk_spends_its_sources_allowance_and_well_formed_notifications_never_do() {
    let dir = TestDir::new("listener-rate");
    // SQLite on either run: under paused time a network store's own timeouts would fire at
    // once, and the junk limit is the listener's, not the store's.
    let store = SqliteStore::open(dir.path().join("t.db")).unwrap();
    let r = guarded(
        &store,
        SourcePolicy {
            junk_limit: Some(JunkLimit {
                per_minute: 120,
                burst: 4,
            }),
            ..SourcePolicy::default()
        },
    );
    let send = |ip: &'static str, body: String| {
        let r = r.clone();
        async move { r.oneshot(from(ip, None, body)).await.unwrap().status() }
    };
    let junk = || "not a notification".to_owned();
    // Far more well-formed notifications than the junk burst: none is refused.
    for job in 0..50 {
        assert_eq!(
            send("203.0.113.1", notification(&job.to_string(), "1")).await,
            StatusCode::OK
        );
    }
    for _ in 0..4 {
        assert_eq!(send("203.0.113.1", junk()).await, StatusCode::BAD_REQUEST);
    }
    assert_eq!(
        send("203.0.113.1", junk()).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // The same source's well-formed notifications are still taken.
    assert_eq!(
        send("203.0.113.1", notification("50", "1")).await,
        StatusCode::OK
    );
    assert_eq!(
        send("203.0.113.2", junk()).await,
        StatusCode::BAD_REQUEST,
        "another source"
    );
    // Half a second refills one token at 120 a minute.
    tokio::time::advance(Duration::from_millis(500)).await;
    assert_eq!(send("203.0.113.1", junk()).await, StatusCode::BAD_REQUEST);
    assert_eq!(
        send("203.0.113.1", junk()).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(delivery_states(&store).await.len(), 51);
    // What got 429 was not kept: 4 + 1 + 1 refusals. (The writer is a thread: paused
    // time would race ahead of it.)
    tokio::time::resume();
    eventually(|| async { count_refusals(&dir) == 6 }).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(count_refusals(&dir), 6);
}

/// The listener as `serve` runs it (shipped defaults unless `policy` says otherwise), on a
/// loopback port.
struct Shipped {
    addr: SocketAddr,
    refusals: Arc<RefusalCounts>,
    stop: oneshot::Sender<()>,
    serving: JoinHandle<std::io::Result<()>>,
}

async fn serve_shipped(store: &impl Store, policy: SourcePolicy, limits: ServeLimits) -> Shipped {
    let listener = Listener::new(store.clone(), None, policy, Arc::new(|| {}));
    let refusals = listener.refusals();
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = tokio::spawn(listener.serve(tcp, limits, async {
        let _ = stopped.await;
    }));
    Shipped {
        addr,
        refusals,
        stop,
        serving,
    }
}

impl Shipped {
    fn url(&self) -> String {
        format!("http://{}/webhooks/cashflows", self.addr)
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(WAIT, self.serving)
            .await
            .expect("the listener stopped")
            .unwrap()
            .unwrap();
    }
}

/// An HTTP client whose connections come from `ip` (any 127.x address is this machine).
fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

/// Posts a genuine notification; its status, and whether the answer echoed both references.
async fn post_genuine(http: &reqwest::Client, url: &str, job: &str) -> (u16, bool) {
    let resp = http
        .post(url)
        .header("content-type", "application/json")
        .body(notification(job, "7"))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let echo: serde_json::Value = resp.json().await.unwrap_or_default();
    (
        status,
        echo == serde_json::json!({"paymentJobReference": job, "paymentReference": "7"}),
    )
}

/// Sends `jobs` genuine notifications, `at_once` in flight; the answers that were not 200
/// with the echo.
async fn send_genuine(
    http: &reqwest::Client,
    url: &str,
    jobs: std::ops::Range<u32>,
    at_once: usize,
) -> Vec<(u32, u16)> {
    let gate = Arc::new(tokio::sync::Semaphore::new(at_once));
    let mut sends = tokio::task::JoinSet::new();
    for job in jobs {
        let (http, url, gate) = (http.clone(), url.to_owned(), Arc::clone(&gate));
        sends.spawn(async move {
            let _turn = gate.acquire_owned().await.unwrap();
            let (status, echoed) = post_genuine(&http, &url, &job.to_string()).await;
            (job, status, echoed)
        });
    }
    let mut refused = Vec::new();
    while let Some(sent) = sends.join_next().await {
        let (job, status, echoed) = sent.unwrap();
        if status != 200 || !echoed {
            refused.push((job, status));
        }
    }
    refused
}

#[tokio::test]
async fn three_hundred_genuine_notifications_eight_at_a_time_are_all_acknowledged() {
    let dir = TestDir::new("listener-backlog");
    // On either store: on PostgreSQL the listener's own connections are opened at start
    // and a burst waits for them, rather than being answered 503.
    let store = test_store(&dir).await;
    let served = serve_shipped(&store, SourcePolicy::default(), ServeLimits::default()).await;
    let refused = send_genuine(&reqwest::Client::new(), &served.url(), 1..301, 8).await;
    assert_eq!(refused, vec![], "a backlog delivered at once is all taken");
    assert_eq!(delivery_states(&store).await.len(), 300);
    served.stop().await;
}

#[tokio::test]
async fn two_hundred_genuine_notifications_one_after_another_are_all_acknowledged() {
    let dir = TestDir::new("listener-sequence");
    // On either store: on PostgreSQL the listener's own connections are opened at start
    // and a burst waits for them, rather than being answered 503.
    let store = test_store(&dir).await;
    let served = serve_shipped(&store, SourcePolicy::default(), ServeLimits::default()).await;
    let refused = send_genuine(&reqwest::Client::new(), &served.url(), 1..201, 1).await;
    assert_eq!(refused, vec![]);
    assert_eq!(delivery_states(&store).await.len(), 200);
    served.stop().await;
}

#[tokio::test]
async fn a_junk_flood_is_throttled_while_genuine_notifications_from_its_address_and_another_are_taken(
) {
    let dir = TestDir::new("listener-junk-flood");
    let store = SqliteStore::open(dir.path().join("t.db")).unwrap();
    let served = serve_shipped(&store, SourcePolicy::default(), ServeLimits::default()).await;
    let started = std::time::Instant::now();
    // The bore case: the flood and the gateway both arrive from 127.0.0.1.
    let flooder = reqwest::Client::new();
    let mut flood = tokio::task::JoinSet::new();
    // 64 in flight: from 127.0.0.1 (a tunnel agent's address, not capped per source) more
    // would fill the global connection cap, which no rule can tell from the gateway's.
    let in_flight = Arc::new(tokio::sync::Semaphore::new(64));
    for i in 0..400 {
        let (http, url) = (flooder.clone(), served.url());
        let in_flight = Arc::clone(&in_flight);
        flood.spawn(async move {
            let _turn = in_flight.acquire_owned().await.unwrap();
            http.post(&url)
                .body(format!("junk {i}"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        });
    }
    let (url, elsewhere) = (served.url(), client_from("127.0.0.2"));
    let (same, other) = tokio::join!(
        send_genuine(&flooder, &url, 1..101, 8),
        send_genuine(&elsewhere, &url, 1001..1101, 8),
    );
    let mut answers = std::collections::BTreeMap::<u16, u32>::new();
    while let Some(status) = flood.join_next().await {
        *answers.entry(status.unwrap()).or_default() += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(
        same,
        vec![],
        "genuine notifications from the flood's own address"
    );
    assert_eq!(other, vec![], "genuine notifications from another address");
    assert_eq!(delivery_states(&store).await.len(), 200);
    // The default allowance: 30 at once, then 60 a minute.
    let allowance = 30 + elapsed.ceil() as u32 + 1;
    let bad = answers.get(&400).copied().unwrap_or(0);
    assert!(
        answers.get(&429).copied().unwrap_or(0) >= 400 - allowance,
        "{answers:?} in {elapsed:.1} s"
    );
    assert!(bad <= allowance, "{answers:?} in {elapsed:.1} s");
    assert_eq!(answers.values().sum::<u32>(), 400, "{answers:?}");
    // Only what got 400 is kept, and all of it.
    eventually(|| async { count_refusals(&dir) == i64::from(bad) }).await;
    assert_eq!(
        RefusalCounts::get(&served.refusals.limited),
        u64::from(400 - bad)
    );
    served.stop().await;
}

/// A raw connection from `ip` to `addr`.
async fn connect_from(ip: &str, addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{ip}:0").parse().unwrap()).unwrap();
    socket.connect(addr).await.unwrap()
}

#[tokio::test]
async fn one_source_holding_connections_cannot_take_every_slot() {
    let dir = TestDir::new("listener-per-source");
    let store = SqliteStore::open(dir.path().join("t.db")).unwrap();
    let (r, _) = app(&store, None);
    let served = serve_router(
        r,
        ServeLimits {
            max_connections: 4,
            per_source_connections: 2,
            ..limits()
        },
    )
    .await;
    // One host opens connections and sends nothing: it gets its two, the rest are closed.
    let _held = [
        connect_from("127.0.0.2", served.addr).await,
        connect_from("127.0.0.2", served.addr).await,
    ];
    for _ in 0..2 {
        let mut more = connect_from("127.0.0.2", served.addr).await;
        let _ = more.write_all(raw_notification("1").as_bytes()).await;
        let answer = read_until_closed(&mut more).await;
        assert!(answer.is_empty(), "closed without an answer: {answer}");
    }
    // Another source still has room.
    let mut gateway = connect_from("127.0.0.3", served.addr).await;
    gateway
        .write_all(raw_notification("2").as_bytes())
        .await
        .unwrap();
    let answer = read_until_closed(&mut gateway).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    served.stop().await;
}

#[tokio::test]
async fn with_an_allow_list_and_no_trusted_proxy_a_stranger_is_closed_at_accept() {
    let dir = TestDir::new("listener-accept");
    let store = SqliteStore::open(dir.path().join("t.db")).unwrap();
    let served = serve_shipped(
        &store,
        SourcePolicy {
            allow_from: vec!["127.0.0.2".parse().unwrap()],
            ..SourcePolicy::default()
        },
        ServeLimits::default(),
    )
    .await;
    let started = std::time::Instant::now();
    // Far more connections than the listener's cap: none takes a slot.
    for _ in 0..300 {
        let mut stranger = connect_from("127.0.0.1", served.addr).await;
        let _ = stranger.write_all(raw_notification("1").as_bytes()).await;
        let answer = read_until_closed(&mut stranger).await;
        assert!(answer.is_empty(), "closed unread: {answer}");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut allowed = connect_from("127.0.0.2", served.addr).await;
    allowed
        .write_all(raw_notification("2").as_bytes())
        .await
        .unwrap();
    let answer = read_until_closed(&mut allowed).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(
        RefusalCounts::get(&served.refusals.closed_at_accept),
        300,
        "every one counted"
    );
    // Visible to the owner, but kept only within the stranger's junk allowance.
    eventually(|| async { count_refusals(&dir) > 0 }).await;
    let kept = kept_refusals(&dir);
    assert!(
        kept.len() as f64 <= 30.0 + elapsed.ceil() + 1.0,
        "{} kept in {elapsed:.1} s",
        kept.len()
    );
    assert_eq!(kept[0], (Some("127.0.0.1".to_owned()), 403));
    assert_eq!(
        delivery_states(&store).await.len(),
        1,
        "only the allowed source's"
    );
    served.stop().await;
}

#[tokio::test]
async fn references_the_gateway_does_not_know_spend_their_senders_junk_allowance() {
    let mut opts = crate::harness::RigOptions::default();
    // One unit back a minute: none comes back while the test runs.
    opts.serve.sources.junk_limit = Some(JunkLimit {
        per_minute: 1,
        burst: 10,
    });
    let rig = Rig::start_with("listener-unknown-refs", opts).await;
    // Well-formed, so all acknowledged; but the gateway knows none of them (404), and the
    // first 404 the confirm worker gets for each spends the sender's allowance.
    for n in 0..10 {
        let resp = rig.notify(&(900_000 + n).to_string(), "1").await;
        assert_eq!(resp.status(), 200);
    }
    rig.wait_inbox_empty().await;
    // Its allowance spent on forged references, the same source's junk is not kept…
    let junk = rig
        .http
        .post(&rig.webhook_url)
        .body("}{")
        .send()
        .await
        .unwrap();
    assert_eq!(junk.status(), 429);
    // …while its well-formed notifications are still taken.
    assert_eq!(rig.notify("1", "2").await.status(), 200);
    rig.stop().await;
}
