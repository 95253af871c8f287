//! A running Tillwatch (listener, confirm worker, reconciler) against the gateway
//! simulator, both on loopback ports, over a real SQLite file in a fresh folder.

use std::net::SocketAddr;
use std::time::Duration;

use tillwatch::app::{ServeOptions, ShopPolicy, Tillwatch};
use tillwatch::domain::{JobRef, OrderDetail};
use tillwatch::gateway::{ApiKey, GatewayClient, GatewayConfig, GatewayEnvironment, RetryPolicy};
use tillwatch::listener::SourcePolicy;
use tillwatch::pipeline::CoreEvent;
use tillwatch::sim::{self, CreateJob, SimConfig, SimHandle};
use tillwatch::store::Store;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;

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
                confirm_backoff: RetryPolicy {
                    max_attempts: u32::MAX,
                    base: Duration::from_millis(20),
                    cap: Duration::from_millis(200),
                },
                // The tests post faster from one address than a gateway would; the rate
                // limit has its own tests.
                sources: SourcePolicy {
                    rate_limit: None,
                    ..SourcePolicy::default()
                },
                ..ServeOptions::default()
            },
            gateway_timeout: Duration::from_secs(5),
        }
    }
}

pub struct Rig {
    pub sim: SimHandle,
    pub app: Tillwatch,
    pub gateway: GatewayClient,
    pub addr: SocketAddr,
    pub webhook_url: String,
    pub events: broadcast::Receiver<CoreEvent>,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    serving: Option<JoinHandle<std::io::Result<()>>>,
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
            tillwatch::listener::webhook_path(opts.serve.webhook_secret.as_deref())
        );
        let sim = start_sim(opts.sim).await;
        let key = sim.config().api_keys[0].clone();
        let gateway = gateway_client(&sim, &key, opts.gateway_timeout);
        let store = Store::open(dir.path().join("tillwatch.db")).unwrap();
        let app = Tillwatch::new(
            store,
            ShopPolicy {
                allow_ship_on_reserved: false,
            },
        );
        let events = app.events();
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = {
            let app = app.clone();
            let gateway = gateway.clone();
            tokio::spawn(async move {
                app.serve(gateway, tcp, opts.serve, async {
                    let _ = stopped.await;
                })
                .await
            })
        };
        Rig {
            sim,
            app,
            gateway,
            addr,
            webhook_url,
            events,
            http: reqwest::Client::new(),
            stop: Some(stop),
            serving: Some(serving),
            _dir: dir,
        }
    }

    pub fn store(&self) -> &Store {
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
