//! A running Tillwatch (listener, confirm worker, reconciler) against the gateway
//! simulator, both on loopback ports, over a fresh store (`backend`).

use std::net::SocketAddr;
use std::time::Duration;
use tillwatch_core::store::{Inbox, Orders};

use tillwatch_core::app::{ServeOptions, ShopPolicy, Tillwatch};
use tillwatch_core::domain::{JobRef, OrderDetail};
use tillwatch_core::gateway::{
    ApiKey, GatewayClient, GatewayConfig, GatewayEnvironment, RetryPolicy,
};
use tillwatch_core::listener::SourcePolicy;
use tillwatch_core::pipeline::{CoreEvent, ReconcileReport};
use tillwatch_sim::{self as sim, CreateJob, SimConfig, SimHandle};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;

pub use crate::backend::{test_store, TestStore};
pub use crate::test_dir::TestDir;

pub const WAIT: Duration = Duration::from_secs(20);

pub struct RigOptions {
    pub sim: SimConfig,
    pub serve: ServeOptions,
    pub gateway_timeout: Duration,
}

impl Default for RigOptions {
    fn default() -> Self {
        Self {
            sim: SimConfig {
                // A month of the gateway's retry schedule passes in a few real seconds.
                clock_scale: 100_000.0,
                step_gap: Duration::from_secs(1),
                ..SimConfig::default()
            },
            serve: ServeOptions {
                concurrency: 4,
                reconcile_every: Duration::from_secs(3600),
                delivery_policy: crate::policy::quick_delivery_policy(),
                // The defaults that ship: the tests post genuine notifications from one
                // address faster than a gateway would, and none may be refused for it.
                sources: SourcePolicy::default(),
                ..ServeOptions::default()
            },
            gateway_timeout: Duration::from_secs(5),
        }
    }
}

pub struct Rig {
    pub sim: SimHandle,
    pub app: Tillwatch<TestStore>,
    pub gateway: GatewayClient,
    pub addr: SocketAddr,
    pub webhook_url: String,
    pub events: broadcast::Receiver<CoreEvent>,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    serving: Option<Serving>,
    serve_opts: ServeOptions,
    _dir: TestDir,
}

pub fn gateway_client(sim: &SimHandle, key: &str, timeout: Duration) -> GatewayClient {
    let mut cfg = GatewayConfig::new(
        GatewayEnvironment::Custom(sim.base_url()),
        sim.config().configuration_id.clone(),
        ApiKey::new(key),
    );
    cfg.timeout = timeout;
    cfg.retry = RetryPolicy {
        max_attempts: 3,
        base: Duration::from_millis(10),
        cap: Duration::from_millis(50),
    };
    GatewayClient::new(cfg).unwrap()
}

pub async fn start_sim(config: SimConfig) -> SimHandle {
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    sim::start(tcp, config).await.unwrap()
}

impl Rig {
    pub async fn start(name: &str) -> Rig {
        Self::start_with(name, RigOptions::default()).await
    }

    pub async fn start_with(name: &str, opts: RigOptions) -> Rig {
        let dir = TestDir::new(name);
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let webhook_url = format!(
            "http://{addr}{}",
            tillwatch_core::listener::webhook_path(opts.serve.webhook_secret.as_deref())
        );
        let sim = start_sim(opts.sim).await;
        let key = sim.config().api_keys[0].clone();
        let gateway = gateway_client(&sim, &key, opts.gateway_timeout);
        let store = test_store(&dir).await;
        let app = Tillwatch::new(
            store,
            ShopPolicy {
                allow_ship_on_reserved: false,
            },
        );
        let events = app.events();
        let serve_opts = opts.serve.clone();
        let (stop, serving) = serve(&app, &gateway, tcp, opts.serve);
        let mut rig = Rig {
            sim,
            app,
            gateway,
            addr,
            webhook_url,
            events,
            http: reqwest::Client::new(),
            stop: Some(stop),
            serving: Some(serving),
            serve_opts,
            _dir: dir,
        };
        // The pass every start makes is over before the test acts: a job the test creates
        // is then confirmed by its notification, not caught by that pass at random.
        rig.next_reconciliation().await;
        rig
    }

    /// Stops serving and serves again on the same address and database, as a restart of
    /// the app (or a Save in the window's settings) does.
    pub async fn restart(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(serving) = self.serving.take() {
            serving.await.unwrap().unwrap();
        }
        let tcp = TcpListener::bind(self.addr).await.unwrap();
        let (stop, serving) = serve(&self.app, &self.gateway, tcp, self.serve_opts.clone());
        self.stop = Some(stop);
        self.serving = Some(serving);
        self.next_reconciliation().await;
    }

    pub fn store(&self) -> &TestStore {
        self.app.store()
    }

    /// A job in the simulator whose notifications go to our listener.
    pub fn create_job(&self, amount: &str, order: &str) -> sim::JobSnapshot {
        self.create_job_notifying(amount, order, Some(self.webhook_url.clone()))
    }

    pub fn create_job_notifying(
        &self,
        amount: &str,
        order: &str,
        webhook: Option<String>,
    ) -> sim::JobSnapshot {
        self.sim
            .create_job(CreateJob {
                amount: amount.parse().unwrap(),
                currency: "GBP".into(),
                order_number: order.into(),
                email: format!("{}@example.com", order.to_lowercase()),
                webhook_url: webhook,
            })
            .unwrap()
    }

    /// A job the shopper paid at once, whose notifications go nowhere: the test decides
    /// what reaches the listener.
    pub async fn paid_job_not_notified(&self, amount: &str, order: &str) -> sim::JobSnapshot {
        let job = self.create_job_notifying(amount, order, None);
        self.sim
            .play_and_wait(&job.reference, sim::Script::PaysAtOnce)
            .await
            .unwrap();
        job
    }

    /// POSTs a notification to our listener as the gateway would.
    pub async fn notify(&self, job: &str, payment: &str) -> reqwest::Response {
        self.http
            .post(&self.webhook_url)
            .json(&serde_json::json!({
                "notifyType": "PaymentStatusChange",
                "paymentJobReference": job,
                "paymentReference": payment,
            }))
            .send()
            .await
            .unwrap()
    }

    /// Polls the store until the order satisfies `pred`.
    pub async fn wait_order(
        &self,
        job: &str,
        what: &str,
        pred: impl Fn(&OrderDetail) -> bool,
    ) -> OrderDetail {
        let job = JobRef::parse(job).unwrap();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(d) = self.store().order(&job).await.unwrap() {
                if pred(&d) {
                    return d;
                }
            }
            if tokio::time::Instant::now() > deadline {
                let now = self.store().order(&job).await.unwrap();
                panic!("timed out waiting for order {job} to be {what}; it is {now:#?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Polls until no acknowledged delivery waits for confirmation.
    pub async fn wait_inbox_empty(&self) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let (backlog, _) = self.store().inbox_status().await.unwrap();
            if backlog == 0 {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out: {backlog} deliveries still wait for confirmation"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Polls until the first pending delivery records a failed confirmation: the attempt
    /// that was in flight has ended.
    pub async fn wait_failed_confirmation(&self) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let pending = self.store().pending_deliveries(10).await.unwrap();
            if pending.first().is_some_and(|p| p.failing.is_some()) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no failed attempt recorded: {pending:#?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The next reconciliation pass to finish (from the events seen since the rig started).
    pub async fn next_reconciliation(&mut self) -> ReconcileReport {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.events.recv()).await {
                Ok(Ok(CoreEvent::ReconcileFinished(r))) => return r,
                Ok(Ok(_)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
                Ok(Err(e)) => panic!("event bus closed: {e}"),
                Err(_) => panic!("no reconciliation finished within {WAIT:?}"),
            }
        }
    }

    /// Waits for an event `check` accepts (events before it are passed over).
    pub async fn wait_event(
        &mut self,
        what: &str,
        check: impl Fn(&CoreEvent) -> bool,
    ) -> CoreEvent {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Ok(e)) if check(&e) => return e,
                Ok(Ok(_)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
                Ok(Err(broadcast::error::RecvError::Closed)) | Err(_) => {
                    panic!("no event: {what}")
                }
            }
        }
    }

    /// Every event published so far.
    pub fn drain_events(&mut self) -> Vec<CoreEvent> {
        let mut out = Vec::new();
        while let Ok(e) = self.events.try_recv() {
            out.push(e);
        }
        out
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(serving) = self.serving.take() {
            serving.await.unwrap().unwrap();
        }
        self.sim.shutdown().await;
    }
}

type Serving = JoinHandle<std::io::Result<()>>;

fn serve(
    app: &Tillwatch<TestStore>,
    gateway: &GatewayClient,
    tcp: TcpListener,
    opts: ServeOptions,
) -> (oneshot::Sender<()>, Serving) {
    let (stop, stopped) = oneshot::channel::<()>();
    let (app, gateway) = (app.clone(), gateway.clone());
    let serving = tokio::spawn(async move {
        app.serve(gateway, tcp, opts, async {
            let _ = stopped.await;
        })
        .await
    });
    (stop, serving)
}

/// Order-level status changes (not attempts') recorded for a job.
pub fn order_status_changes(d: &OrderDetail) -> Vec<(Option<String>, String)> {
    d.status_events
        .iter()
        .filter(|e| e.payment_reference.is_none())
        .map(|e| (e.from.clone(), e.to.clone()))
        .collect()
}

pub fn order_changed_count(events: &[CoreEvent], job: &str) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, CoreEvent::OrderChanged { order, .. } if order.payment_job_reference.as_str() == job))
        .count()
}
