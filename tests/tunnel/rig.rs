//! Tillwatch and the gateway simulator in-process on loopback, a real bore relay on its own
//! thread and runtime (so it can be killed), and a TCP proxy that can go silent.
//! (A few lines copied from tests/core/harness.rs rather than shared.)

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tillwatch_core::app::{ServeOptions, ShopPolicy, Tillwatch};
use tillwatch_core::gateway::{
    ApiKey, GatewayClient, GatewayConfig, GatewayEnvironment, RetryPolicy,
};
use tillwatch_core::pipeline::CoreEvent;
use tillwatch_core::store::Orders;
use tillwatch_sim::{self as sim, CreateJob, SimConfig, SimHandle};
use tillwatch_store_sqlite::SqliteStore;
use tillwatch_tunnel::{
    Backoff, SupervisorConfig, SupervisorHooks, TunnelEvent, TunnelHandle, TunnelProvider,
    TunnelState, TunnelSupervisor, UrlChange,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, oneshot, watch};
use tokio::task::JoinHandle;

pub use crate::test_dir::TestDir;

pub const WAIT: Duration = Duration::from_secs(30);
pub const BORE_CONTROL_PORT: u16 = 7835;
pub const WEBHOOK_SECRET: &str = "tunnel-test-secret-0123456789";

/// Held by every test that runs a bore relay (the control port is fixed).
pub static RELAY_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Supervisor timings for tests: fast probes, short waits.
pub fn fast(cfg: &mut SupervisorConfig) {
    cfg.connect_timeout = Duration::from_secs(5);
    cfg.backoff = Backoff {
        base: Duration::from_millis(100),
        cap: Duration::from_millis(800),
    };
    cfg.probe_every = Duration::from_millis(200);
    cfg.probe_timeout = Duration::from_millis(1500);
    cfg.probe_failures = 2;
}

pub struct Rig {
    pub sim: SimHandle,
    pub app: Tillwatch<SqliteStore>,
    pub local: SocketAddr,
    pub tunnel: TunnelHandle,
    /// Every tunnel event so far, in order (nothing is lost, unlike a watch).
    pub tunnel_log: Arc<Mutex<Vec<TunnelEvent>>>,
    pub events: broadcast::Receiver<CoreEvent>,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    serving: Option<JoinHandle<std::io::Result<()>>>,
    pub dir: TestDir,
}

impl Rig {
    /// Tillwatch (with a webhook secret) and the simulator, the tunnel kept by `provider`.
    pub async fn start(name: &str, provider: Arc<dyn TunnelProvider>, clock_scale: f64) -> Rig {
        let dir = TestDir::new(name);
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let local = tcp.local_addr().unwrap();
        let sim = sim::start(
            TcpListener::bind("127.0.0.1:0").await.unwrap(),
            SimConfig {
                clock_scale,
                step_gap: Duration::from_millis(10),
                ..SimConfig::default()
            },
        )
        .await
        .unwrap();
        let mut gw = GatewayConfig::new(
            GatewayEnvironment::Custom(sim.base_url()),
            sim.config().configuration_id.clone(),
            ApiKey::new(sim.config().api_keys[0].clone()),
        );
        gw.timeout = Duration::from_secs(5);
        gw.retry = RetryPolicy {
            max_attempts: 3,
            base: Duration::from_millis(10),
            cap: Duration::from_millis(50),
        };
        let gateway = GatewayClient::new(gw).unwrap();
        let app = Tillwatch::new(
            SqliteStore::open(dir.path().join("tillwatch.db")).unwrap(),
            ShopPolicy {
                allow_ship_on_reserved: false,
            },
        );
        let events = app.events();

        let mut cfg = SupervisorConfig::new(
            local,
            tillwatch_core::listener::webhook_path(Some(WEBHOOK_SECRET)),
        );
        cfg.url_file = Some(dir.path().join("tunnel-url.txt"));
        fast(&mut cfg);
        let supervisor = TunnelSupervisor::new(provider, cfg, SupervisorHooks::for_app(&app));
        let mut tunnel_events = supervisor.handle().subscribe();
        let tunnel = supervisor.spawn();
        let tunnel_log: Arc<Mutex<Vec<TunnelEvent>>> = Arc::default();
        {
            let log = Arc::clone(&tunnel_log);
            tokio::spawn(async move {
                while let Ok(e) = tunnel_events.recv().await {
                    log.lock().unwrap().push(e);
                }
            });
        }

        let opts = ServeOptions {
            webhook_secret: Some(WEBHOOK_SECRET.to_owned()),
            reconcile_every: Duration::from_secs(3600),
            delivery_policy: crate::policy::quick_delivery_policy(),
            ..ServeOptions::default()
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = {
            let app = app.clone();
            tokio::spawn(async move {
                app.serve(gateway, tcp, opts, async {
                    let _ = stopped.await;
                })
                .await
            })
        };
        Rig {
            sim,
            app,
            local,
            tunnel,
            tunnel_log,
            events,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            stop: Some(stop),
            serving: Some(serving),
            dir,
        }
    }

    /// Waits for a tunnel state, failing with the last one seen.
    pub async fn wait_state(&self, what: &str, pred: impl Fn(&TunnelState) -> bool) -> TunnelState {
        match tokio::time::timeout(WAIT, self.tunnel.wait_for(|s| pred(s))).await {
            Ok(s) if pred(&s) => s,
            _ => panic!(
                "timed out waiting for the tunnel to be {what}; it is {:#?}",
                self.tunnel.state()
            ),
        }
    }

    pub async fn wait_up(&self) -> (String, String) {
        match self.wait_state("up", TunnelState::is_up).await {
            TunnelState::Up {
                public_url,
                webhook_url,
                ..
            } => (public_url, webhook_url),
            _ => unreachable!(),
        }
    }

    /// Where the tunnel log stands now.
    pub fn mark(&self) -> usize {
        self.tunnel_log.lock().unwrap().len()
    }

    /// The first tunnel event at or after `from` that satisfies `pred`, and its index.
    pub async fn wait_tunnel_event(
        &self,
        from: usize,
        what: &str,
        pred: impl Fn(&TunnelEvent) -> bool,
    ) -> (usize, TunnelEvent) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            {
                let log = self.tunnel_log.lock().unwrap();
                if let Some((i, e)) = log.iter().enumerate().skip(from).find(|(_, e)| pred(e)) {
                    return (i, e.clone());
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "timed out waiting for {what}; the tunnel said {:#?}",
                    &log[from.min(log.len())..]
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The first state at or after `from` that satisfies `pred`.
    pub async fn wait_tunnel_state(
        &self,
        from: usize,
        what: &str,
        pred: impl Fn(&TunnelState) -> bool,
    ) -> (usize, TunnelState) {
        let (i, e) = self
            .wait_tunnel_event(
                from,
                what,
                |e| matches!(e, TunnelEvent::StateChanged { state } if pred(state)),
            )
            .await;
        match e {
            TunnelEvent::StateChanged { state } => (i, state),
            _ => unreachable!(),
        }
    }

    /// URL changes announced at or after `from`.
    pub fn url_changes(&self, from: usize) -> Vec<UrlChange> {
        self.tunnel_log.lock().unwrap()[from..]
            .iter()
            .filter_map(|e| match e {
                TunnelEvent::UrlChanged(c) => Some(c.clone()),
                _ => None,
            })
            .collect()
    }

    pub fn create_job(&self, order: &str, webhook: &str) -> sim::JobSnapshot {
        self.sim
            .create_job(CreateJob {
                amount: "12.50".parse().unwrap(),
                currency: "GBP".into(),
                order_number: order.into(),
                email: format!("{}@example.com", order.to_lowercase()),
                webhook_url: Some(webhook.to_owned()),
            })
            .unwrap()
    }

    /// Polls the store until the order satisfies `pred`.
    pub async fn wait_order(
        &self,
        job: &str,
        what: &str,
        pred: impl Fn(&tillwatch_core::domain::OrderDetail) -> bool,
    ) -> tillwatch_core::domain::OrderDetail {
        let job = tillwatch_core::domain::JobRef::parse(job).unwrap();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(d) = self.app.store().order(&job).await.unwrap() {
                if pred(&d) {
                    return d;
                }
            }
            if tokio::time::Instant::now() > deadline {
                let now = self.app.store().order(&job).await.unwrap();
                panic!("timed out waiting for order {job} to be {what}; it is {now:#?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for a reconciliation that finished at or after `since`.
    pub async fn wait_reconciliation_since(&mut self, since: tillwatch_core::domain::Timestamp) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.events.recv()).await {
                Ok(Ok(CoreEvent::ReconcileFinished(r))) if r.at >= since => return,
                Ok(Ok(_)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
                Ok(Err(e)) => panic!("event bus closed: {e}"),
                Err(_) => panic!("no reconciliation ran after {since}"),
            }
        }
    }

    pub async fn stop(mut self) {
        self.tunnel.shutdown().await;
        assert_eq!(self.tunnel.state(), TunnelState::Stopped);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(serving) = self.serving.take() {
            serving.await.unwrap().unwrap();
        }
        self.sim.shutdown().await;
    }
}

/// A real bore relay (`bore_cli::server::Server`) on its own thread and runtime, so that
/// killing it closes every socket it had, as a relay process dying would.
pub struct Relay {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Relay {
    /// Control port on `control_ip:7835`, tunnels on `tunnels_ip`; waits until it accepts.
    pub async fn start(control_ip: IpAddr, tunnels_ip: IpAddr) -> Relay {
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let mut server = bore_cli::server::Server::new(20_000..=20_999, None);
                server.set_bind_addr(control_ip);
                server.set_bind_tunnels(tunnels_ip);
                tokio::select! {
                    r = server.listen() => panic!("the bore relay stopped: {r:?}"),
                    _ = stopped => {}
                }
            });
            // Dropping the runtime drops every task: all the relay's sockets close.
            drop(rt);
        });
        let deadline = tokio::time::Instant::now() + WAIT;
        while TcpStream::connect((control_ip, BORE_CONTROL_PORT))
            .await
            .is_err()
        {
            assert!(
                !thread.is_finished() && tokio::time::Instant::now() < deadline,
                "the bore relay did not start on {control_ip}:{BORE_CONTROL_PORT}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Relay {
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Stops the relay and waits until its sockets are closed.
    pub async fn kill(mut self) {
        self.shut();
        if let Some(t) = self.thread.take() {
            tokio::task::spawn_blocking(move || t.join())
                .await
                .unwrap()
                .expect("the relay thread panicked");
        }
    }

    fn shut(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.shut();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A TCP proxy in front of the relay's control port that can go silent: when frozen it
/// stops forwarding in both directions and holds every connection open (no FIN, no RST),
/// as a dead network path or a hung relay does. Connections made after a thaw are
/// forwarded again; the frozen ones stay held, like connections lost in a real outage.
pub struct SilentProxy {
    frozen: watch::Sender<bool>,
    held: Arc<Mutex<Vec<TcpStream>>>,
    task: JoinHandle<()>,
}

impl SilentProxy {
    pub async fn start(listen: SocketAddr, upstream: SocketAddr) -> SilentProxy {
        let tcp = TcpListener::bind(listen).await.unwrap();
        let frozen = watch::Sender::new(false);
        let held: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let task = {
            let frozen = frozen.clone();
            let held = Arc::clone(&held);
            tokio::spawn(async move {
                loop {
                    let Ok((inbound, _)) = tcp.accept().await else {
                        return;
                    };
                    if *frozen.borrow() {
                        held.lock().unwrap().push(inbound);
                        continue;
                    }
                    let Ok(outbound) = TcpStream::connect(upstream).await else {
                        continue;
                    };
                    tokio::spawn(pair(
                        inbound,
                        outbound,
                        frozen.subscribe(),
                        Arc::clone(&held),
                    ));
                }
            })
        };
        SilentProxy { frozen, held, task }
    }

    pub fn freeze(&self) {
        self.frozen.send_replace(true);
    }

    pub fn thaw(&self) {
        self.frozen.send_replace(false);
    }
}

impl Drop for SilentProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.held.lock().unwrap().clear();
    }
}

/// Forwards both ways until either side closes (passed on) or the proxy freezes (then
/// both sockets are held open, silent).
async fn pair(
    a: TcpStream,
    b: TcpStream,
    mut frozen: watch::Receiver<bool>,
    held: Arc<Mutex<Vec<TcpStream>>>,
) {
    let (mut a_read, mut a_write) = a.into_split();
    let (mut b_read, mut b_write) = b.into_split();
    let mut up = [0u8; 4096];
    let mut down = [0u8; 4096];
    let is_frozen = frozen.clone();
    loop {
        tokio::select! {
            _ = async { let _ = frozen.wait_for(|f| *f).await; } => break,
            n = a_read.read(&mut up) => match n {
                Ok(n) if n > 0 && !*is_frozen.borrow() => {
                    if b_write.write_all(&up[..n]).await.is_err() { return; }
                }
                Ok(n) if n > 0 => break,
                _ => { let _ = b_write.shutdown().await; return; }
            },
            n = b_read.read(&mut down) => match n {
                Ok(n) if n > 0 && !*is_frozen.borrow() => {
                    if a_write.write_all(&down[..n]).await.is_err() { return; }
                }
                Ok(n) if n > 0 => break,
                _ => { let _ = a_write.shutdown().await; return; }
            },
        }
    }
    let mut held = held.lock().unwrap();
    held.push(a_read.reunite(a_write).unwrap());
    held.push(b_read.reunite(b_write).unwrap());
}
