//! The supervisor with a fake provider: bounded connects, a capped and jittered retry
//! schedule, "up" only once a probe reached us, URL changes told to the owner, a
//! reconciliation after every connection. Plus the real ngrok wrapper against loopback
//! stand-ins (no test here can reach ngrok).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::post;
use axum::Router;
use tillwatch_tunnel::{
    Backoff, BoxFuture, ConnectRequest, NgrokProvider, ProbeBook, SupervisorConfig,
    SupervisorHooks, TunnelError, TunnelErrorKind, TunnelEvent, TunnelHandle, TunnelProvider,
    TunnelSession, TunnelState, TunnelSupervisor,
};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, oneshot};

use crate::rig::{fast, TestDir, WAIT};

#[derive(Clone)]
enum Step {
    Fail(TunnelError),
    /// Never answers.
    Hang,
    Open(String),
}

/// A provider that follows a script, then repeats its last step.
struct Fake {
    steps: Mutex<VecDeque<Step>>,
    last: Mutex<Step>,
    calls: AtomicU32,
    requests: Mutex<Vec<ConnectRequest>>,
    /// Ends the sessions it opened, newest last.
    enders: Mutex<Vec<oneshot::Sender<TunnelError>>>,
    /// Sessions not yet dropped.
    live: Arc<AtomicI32>,
}

impl Fake {
    fn new(steps: impl IntoIterator<Item = Step>) -> Arc<Fake> {
        let steps: VecDeque<Step> = steps.into_iter().collect();
        Arc::new(Fake {
            last: Mutex::new(steps.back().cloned().unwrap_or(Step::Hang)),
            steps: Mutex::new(steps),
            calls: AtomicU32::new(0),
            requests: Mutex::default(),
            enders: Mutex::default(),
            live: Arc::default(),
        })
    }

    fn then(&self, steps: impl IntoIterator<Item = Step>) {
        let mut q = self.steps.lock().unwrap();
        q.extend(steps);
        if let Some(last) = q.back() {
            *self.last.lock().unwrap() = last.clone();
        }
    }

    /// The provider notices that the newest session ended.
    fn end_newest(&self, why: &str) {
        let ender = self
            .enders
            .lock()
            .unwrap()
            .pop()
            .expect("a session is open");
        let _ = ender.send(TunnelError::new(TunnelErrorKind::Ended, why));
    }

    fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }
}

impl TunnelProvider for Fake {
    fn name(&self) -> &'static str {
        "fake"
    }

    fn connect(
        &self,
        request: ConnectRequest,
    ) -> BoxFuture<'_, Result<Box<dyn TunnelSession>, TunnelError>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.requests.lock().unwrap().push(request);
        let step = self
            .steps
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| self.last.lock().unwrap().clone());
        Box::pin(async move {
            match step {
                Step::Fail(e) => Err(e),
                Step::Hang => std::future::pending().await,
                Step::Open(url) => {
                    let (tx, rx) = oneshot::channel();
                    self.enders.lock().unwrap().push(tx);
                    self.live.fetch_add(1, Ordering::SeqCst);
                    Ok(Box::new(FakeSession {
                        url,
                        end: rx,
                        live: Arc::clone(&self.live),
                    }) as Box<dyn TunnelSession>)
                }
            }
        })
    }
}

struct FakeSession {
    url: String,
    end: oneshot::Receiver<TunnelError>,
    live: Arc<AtomicI32>,
}

impl TunnelSession for FakeSession {
    fn public_url(&self) -> &str {
        &self.url
    }

    fn ended(&mut self) -> BoxFuture<'_, TunnelError> {
        Box::pin(async move {
            match (&mut self.end).await {
                Ok(e) => e,
                Err(_) => std::future::pending().await,
            }
        })
    }
}

impl Drop for FakeSession {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A stand-in for the listener, wrapped with the probe book like the real one; the fake
/// "tunnel" is the identity, so its public URL is this address.
async fn our_listener(book: &ProbeBook) -> SocketAddr {
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let router = book.layer(Router::new().route("/webhooks/cashflows", post(|| async { "ok" })));
    tokio::spawn(async move { axum::serve(tcp, router).await });
    addr
}

/// Someone else's server at an address: answers, but is not us.
async fn not_our_listener() -> SocketAddr {
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let router = Router::new().route("/webhooks/cashflows", post(|| async { "ok" }));
    tokio::spawn(async move { axum::serve(tcp, router).await });
    addr
}

struct Supervised {
    handle: TunnelHandle,
    events: broadcast::Receiver<TunnelEvent>,
    log: Vec<TunnelEvent>,
    reconciliations: Arc<AtomicU32>,
}

impl Supervised {
    fn start(
        provider: Arc<dyn TunnelProvider>,
        book: &ProbeBook,
        tweak: impl FnOnce(&mut SupervisorConfig),
    ) -> Self {
        let mut cfg = SupervisorConfig::new("127.0.0.1:9".parse().unwrap(), "/webhooks/cashflows");
        fast(&mut cfg);
        cfg.backoff = Backoff {
            base: Duration::from_millis(20),
            cap: Duration::from_millis(160),
        };
        tweak(&mut cfg);
        let reconciliations = Arc::new(AtomicU32::new(0));
        let counter = Arc::clone(&reconciliations);
        let supervisor = TunnelSupervisor::new(
            provider,
            cfg,
            SupervisorHooks {
                probes: book.clone(),
                reconcile_now: Arc::new(move || {
                    counter.fetch_add(1, Ordering::SeqCst);
                }),
            },
        );
        let events = supervisor.handle().subscribe();
        Supervised {
            handle: supervisor.spawn(),
            events,
            log: Vec::new(),
            reconciliations,
        }
    }

    /// The next event satisfying `pred` (every event seen is kept in `log`).
    async fn next(&mut self, what: &str, pred: impl Fn(&TunnelEvent) -> bool) -> TunnelEvent {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.events.recv()).await {
                Ok(Ok(e)) => {
                    self.log.push(e.clone());
                    if pred(&e) {
                        return e;
                    }
                }
                Ok(Err(e)) => panic!("tunnel events: {e}"),
                Err(_) => panic!("timed out waiting for {what}; saw {:#?}", self.log),
            }
        }
    }

    async fn next_state(&mut self, what: &str, pred: impl Fn(&TunnelState) -> bool) -> TunnelState {
        match self
            .next(
                what,
                |e| matches!(e, TunnelEvent::StateChanged { state } if pred(state)),
            )
            .await
        {
            TunnelEvent::StateChanged { state } => state,
            _ => unreachable!(),
        }
    }
}

fn is_url_change(e: &TunnelEvent) -> bool {
    matches!(e, TunnelEvent::UrlChanged(_))
}

#[tokio::test]
async fn a_connect_that_never_answers_is_cut_off_and_retried() {
    let fake = Fake::new([Step::Hang]);
    let book = ProbeBook::new();
    let mut s = Supervised::start(fake.clone(), &book, |c| {
        c.connect_timeout = Duration::from_millis(100);
    });
    let down = s.next_state("down", TunnelState::is_down).await;
    let TunnelState::Down { kind, reason, .. } = down else {
        unreachable!()
    };
    assert_eq!(kind, TunnelErrorKind::TimedOut);
    assert_eq!(
        reason,
        "fake did not open the tunnel within 1 s. Notifications cannot arrive until it does."
    );
    s.next_state("another attempt", |st| {
        matches!(st, TunnelState::Connecting { attempt: 3, .. })
    })
    .await;
    assert!(fake.calls() >= 3);
    s.handle.shutdown().await;
    assert_eq!(s.handle.state(), TunnelState::Stopped);
}

#[tokio::test]
async fn failures_are_retried_on_a_capped_jittered_schedule() {
    let offline = TunnelError::new(
        TunnelErrorKind::Offline,
        "This computer cannot reach ngrok (no internet?). Notifications cannot arrive until it can.",
    );
    let fake = Fake::new([Step::Fail(offline.clone())]);
    let book = ProbeBook::new();
    let mut s = Supervised::start(fake.clone(), &book, |_| {});
    let backoff = Backoff {
        base: Duration::from_millis(20),
        cap: Duration::from_millis(160),
    };
    let mut first_since = None;
    let mut waits = Vec::new();
    for failures in 1..=10u32 {
        let st = s.next_state("down", TunnelState::is_down).await;
        let TunnelState::Down {
            reason,
            kind,
            since,
            retry_in_ms,
            ..
        } = st
        else {
            unreachable!()
        };
        assert_eq!(kind, TunnelErrorKind::Offline);
        assert_eq!(reason, offline.message);
        // "down since" is when it went down, not the latest failure.
        assert_eq!(*first_since.get_or_insert(since), since);
        let ceiling = backoff.ceiling(failures).as_millis() as u64;
        assert!(
            retry_in_ms <= ceiling,
            "failure {failures}: {retry_in_ms} ms > {ceiling} ms"
        );
        assert!(retry_in_ms <= 160, "never beyond the cap");
        waits.push(retry_in_ms);
    }
    // Past the cap the waits are drawn, not fixed.
    let capped: std::collections::HashSet<_> = waits[4..].iter().collect();
    assert!(capped.len() > 1, "{waits:?}");
    s.handle.shutdown().await;
}

#[tokio::test]
async fn up_only_once_a_probe_reached_us_and_new_urls_are_told_with_a_reconciliation_each_time() {
    let book = ProbeBook::new();
    let addr = our_listener(&book).await;
    // Two names for the same listener: two different public URLs.
    let url_a = format!("http://127.0.0.1:{}", addr.port());
    let url_b = format!("http://localhost:{}", addr.port());
    let dir = TestDir::new("sup-urls");
    let url_file = dir.path().join("tunnel-url.txt");
    let fake = Fake::new([Step::Open(url_a.clone())]);
    let mut s = Supervised::start(fake.clone(), &book, |c| c.url_file = Some(url_file.clone()));

    let checking = s
        .next_state("checking", |st| {
            matches!(
                st,
                TunnelState::Connecting {
                    public_url: Some(_),
                    ..
                }
            )
        })
        .await;
    assert!(
        checking.describe().contains(&url_a),
        "{}",
        checking.describe()
    );
    let first = s.next("the first URL", is_url_change).await;
    let TunnelEvent::UrlChanged(first) = first else {
        unreachable!()
    };
    assert_eq!(first.previous_webhook_url, None);
    let up = s.next_state("up", TunnelState::is_up).await;
    assert_eq!(
        up.webhook_url(),
        Some(format!("{url_a}/webhooks/cashflows").as_str())
    );
    assert_eq!(s.reconciliations.load(Ordering::SeqCst), 1);
    assert_eq!(std::fs::read_to_string(&url_file).unwrap().trim(), url_a);

    // The provider notices the end; the same URL comes back: no change to tell.
    fake.then([Step::Open(url_a.clone())]);
    fake.end_newest("relay went away");
    let down = s.next_state("down", TunnelState::is_down).await;
    assert!(
        matches!(&down, TunnelState::Down { kind: TunnelErrorKind::Ended, reason, .. } if reason == "relay went away")
    );
    s.next_state("up again", TunnelState::is_up).await;
    assert_eq!(
        s.log.iter().filter(|e| is_url_change(e)).count(),
        1,
        "same URL: nothing new to tell"
    );
    assert_eq!(s.reconciliations.load(Ordering::SeqCst), 2);
    // The provider is asked for the address it had.
    assert_eq!(
        fake.requests
            .lock()
            .unwrap()
            .last()
            .unwrap()
            .last_url
            .as_deref(),
        Some(url_a.as_str())
    );

    // A different URL: told prominently, remembered, reconciled.
    fake.then([Step::Open(url_b.clone())]);
    fake.end_newest("relay went away again");
    let change = s.next("a URL change", is_url_change).await;
    let TunnelEvent::UrlChanged(change) = change else {
        unreachable!()
    };
    assert_eq!(
        change.previous_webhook_url,
        Some(format!("{url_a}/webhooks/cashflows"))
    );
    assert_eq!(change.webhook_url, format!("{url_b}/webhooks/cashflows"));
    assert!(change.message.contains(
        "Cashflows will keep sending notifications to the old address for up to a month"
    ));
    assert!(change.message.contains(&format!(
        "In the Cashflows portal, set the webhook URL to {url_b}/webhooks/cashflows"
    )));
    s.next_state("up on the new URL", TunnelState::is_up).await;
    assert_eq!(s.reconciliations.load(Ordering::SeqCst), 3);
    assert_eq!(std::fs::read_to_string(&url_file).unwrap().trim(), url_b);
    assert_eq!(s.handle.last_url_change(), Some(change));

    s.handle.shutdown().await;
    assert_eq!(fake.live.load(Ordering::SeqCst), 0, "the tunnel was closed");
    assert_eq!(book.pending(), 0);
}

#[tokio::test]
async fn a_url_remembered_from_a_previous_run_counts_as_the_last_one() {
    let book = ProbeBook::new();
    let addr = our_listener(&book).await;
    let url = format!("http://127.0.0.1:{}", addr.port());
    let dir = TestDir::new("sup-remembered");
    let url_file = dir.path().join("tunnel-url.txt");
    std::fs::write(&url_file, "https://old.example.com\n").unwrap();
    let fake = Fake::new([Step::Open(url.clone())]);
    let mut s = Supervised::start(fake.clone(), &book, |c| c.url_file = Some(url_file.clone()));
    let TunnelEvent::UrlChanged(change) = s.next("a URL change", is_url_change).await else {
        unreachable!()
    };
    assert_eq!(
        change.previous_webhook_url.as_deref(),
        Some("https://old.example.com/webhooks/cashflows")
    );
    assert_eq!(
        fake.requests.lock().unwrap()[0].last_url.as_deref(),
        Some("https://old.example.com")
    );
    s.handle.shutdown().await;
}

#[tokio::test]
async fn an_address_that_does_not_reach_us_is_down_with_the_probe_reason() {
    let book = ProbeBook::new();
    let theirs = not_our_listener().await;
    let url = format!("http://127.0.0.1:{}", theirs.port());
    let fake = Fake::new([Step::Open(url.clone())]);
    let mut s = Supervised::start(fake.clone(), &book, |_| {});
    let down = s.next_state("down", TunnelState::is_down).await;
    let TunnelState::Down { kind, reason, .. } = down else {
        unreachable!()
    };
    assert_eq!(kind, TunnelErrorKind::ProbeFailed);
    assert!(reason.contains("answered 405"), "{reason}");
    assert!(reason.contains("never reached Tillwatch"), "{reason}");
    assert!(
        !s.log
            .iter()
            .any(|e| matches!(e, TunnelEvent::StateChanged { state } if state.is_up())),
        "never claimed up"
    );
    assert_eq!(s.reconciliations.load(Ordering::SeqCst), 0);
    s.next_state("retrying", |st| {
        matches!(st, TunnelState::Connecting { attempt: 2, .. })
    })
    .await;
    s.handle.shutdown().await;
    assert_eq!(fake.live.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_tunnel_that_goes_dark_while_up_is_caught_by_the_probe() {
    let book = ProbeBook::new();
    // The public side is a port we close later without the provider noticing.
    let front = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let front_addr = front.local_addr().unwrap();
    let ours = book.layer(Router::new().route("/webhooks/cashflows", post(|| async { "ok" })));
    let server = tokio::spawn(async move { axum::serve(front, ours).await });
    let fake = Fake::new([Step::Open(format!("http://{front_addr}"))]);
    let mut s = Supervised::start(fake.clone(), &book, |_| {});
    s.next_state("up", TunnelState::is_up).await;
    server.abort();
    let down = s.next_state("down", TunnelState::is_down).await;
    let TunnelState::Down { kind, reason, .. } = down else {
        unreachable!()
    };
    assert_eq!(kind, TunnelErrorKind::ProbeFailed);
    assert!(
        reason.starts_with("The tunnel stopped carrying requests"),
        "{reason}"
    );
    s.handle.shutdown().await;
}

/// The real ngrok wrapper, dialling a loopback port where nothing listens: what an
/// offline machine sees, in the owner's words, through the supervisor.
#[tokio::test]
async fn ngrok_on_an_offline_machine_says_so_in_words() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let ngrok = NgrokProvider::new("2fakeAuthtoken", Some("shop.ngrok-free.app".into()))
        .unwrap()
        .with_server_addr(addr.to_string());
    let book = ProbeBook::new();
    let mut s = Supervised::start(Arc::new(ngrok), &book, |_| {});
    let down = s.next_state("down", TunnelState::is_down).await;
    let TunnelState::Down {
        kind,
        reason,
        provider,
        ..
    } = down
    else {
        unreachable!()
    };
    assert_eq!(provider, "ngrok");
    assert_eq!(kind, TunnelErrorKind::Offline);
    assert_eq!(
        reason,
        "This computer cannot reach ngrok (no internet?). Notifications cannot arrive until it can."
    );
    s.handle.shutdown().await;
}

/// The real ngrok wrapper against a server that accepts and never says a word: the SDK
/// would wait for ever; the supervisor's bound cuts it off.
#[tokio::test]
async fn ngrok_connect_time_is_bounded() {
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = Arc::clone(&held);
    let acceptor = tokio::spawn(async move {
        while let Ok((conn, _)) = silent.accept().await {
            keep.lock().unwrap().push(conn);
        }
    });
    let ngrok = NgrokProvider::new("2fakeAuthtoken", None)
        .unwrap()
        .with_server_addr(addr.to_string());
    let book = ProbeBook::new();
    let mut s = Supervised::start(Arc::new(ngrok), &book, |c| {
        c.connect_timeout = Duration::from_millis(300);
    });
    let down = s.next_state("down", TunnelState::is_down).await;
    let TunnelState::Down { kind, reason, .. } = down else {
        unreachable!()
    };
    assert_eq!(kind, TunnelErrorKind::TimedOut, "{reason}");
    assert!(
        reason.starts_with("ngrok did not open the tunnel within"),
        "{reason}"
    );
    assert!(!held.lock().unwrap().is_empty(), "it did dial");
    s.handle.shutdown().await;
    acceptor.abort();
}
