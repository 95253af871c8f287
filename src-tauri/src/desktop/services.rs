//! The running core behind the window: started from the settings (or the environment),
//! restarted when the settings change.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tillwatch_store_sqlite::{OwnerError, Ownership, Program};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch, RwLock, RwLockReadGuard};

use super::alerts::Alerts;
use super::secrets::{self, Source};
use crate::app::{AppError, ServeOptions, ShopPolicy};
use crate::config::{self, Credentials, Mode};
use crate::domain::DeliveryState;
use crate::gateway::{ApiKey, GatewayClient, GatewayConfig, GatewayEnvironment};
use crate::ipc::Health;
use crate::settings::Settings;
use crate::store::Inbox;
use crate::tunnel::{
    ProviderKind, SupervisorConfig, SupervisorHooks, TunnelChoice, TunnelHandle, TunnelSupervisor,
};
use crate::{listener, sim};
use crate::{App, Backend};

/// What the health bar shows that only the running services know.
#[derive(Debug, Default, Clone)]
pub struct Observed {
    pub last_notification_at: Option<String>,
    pub last_reconcile_at: Option<String>,
    pub last_reconcile_caught_up: Option<u32>,
}

pub struct Running {
    pub app: App,
    pub gateway: GatewayClient,
    pub settings: Settings,
    pub demo: bool,
    pub environment: String,
    pub webhook_url: Option<String>,
    pub listener_error: Option<String>,
    /// The shared database this window shows (no password), when it runs no listener of
    /// its own.
    pub shared_database: Option<String>,
    pub observed: Arc<Mutex<Observed>>,
    pub tunnel: TunnelHandle,
    stop: Option<oneshot::Sender<()>>,
    serving: Option<tauri::async_runtime::JoinHandle<()>>,
    demo_sim: Option<sim::SimHandle>,
    /// This window's hold on its database file, while it serves it (dropped last, once
    /// the services have stopped).
    _owner: Option<Ownership>,
}

/// How long a command waits for the services' first start before it gives up.
const FIRST_START_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

pub struct DesktopState {
    pub data_dir: PathBuf,
    running: RwLock<Option<Running>>,
    /// True once the first start has been tried. The window asks for its first pages as
    /// soon as it loads, which can be before the start-up task has even taken the lock:
    /// until then a command waits, rather than answering "still starting" to a view that
    /// would show that error until something else made it load again.
    first_start: watch::Sender<bool>,
    pub unseen: AtomicU32,
    pub alerts: Alerts,
    /// The health the window was last sent (the window is sent only a change).
    pub sent_health: std::sync::Mutex<super::coalesce::SameAsLast>,
}

/// What a command answers when there are no services to ask.
pub fn not_running() -> AppError {
    AppError::Invalid(
        "Tillwatch's services are not running: the log says why; saving the settings starts them again"
            .into(),
    )
}

impl DesktopState {
    pub fn new(data_dir: PathBuf) -> Self {
        Self {
            data_dir,
            running: RwLock::new(None),
            first_start: watch::Sender::new(false),
            unseen: AtomicU32::new(0),
            alerts: Alerts::default(),
            sent_health: Default::default(),
        }
    }

    /// The running services, once the first start has been tried (or after
    /// `FIRST_START_WAIT`); `None` when they are not running.
    pub async fn running(&self) -> RwLockReadGuard<'_, Option<Running>> {
        let mut tried = self.first_start.subscribe();
        let _ = tokio::time::timeout(FIRST_START_WAIT, tried.wait_for(|t| *t)).await;
        self.running.read().await
    }

    /// The core API of the running services.
    pub async fn app(&self) -> Result<App, AppError> {
        self.running()
            .await
            .as_ref()
            .map(|r| r.app.clone())
            .ok_or_else(not_running)
    }

    /// Starts the services for the saved settings (stopping any running ones first);
    /// `on_started` wires the new ones to the window before anyone can see them.
    pub async fn start(&self, on_started: impl FnOnce(&Running)) {
        let mut slot = self.running.write().await;
        if let Some(old) = slot.take() {
            old.stop().await;
        }
        let settings = Settings::load(&self.data_dir);
        match start_services(&self.data_dir, settings).await {
            Ok(running) => {
                on_started(&running);
                *slot = Some(running);
            }
            Err(e) => tracing::error!("the services could not start: {e}"),
        }
        self.first_start.send_replace(true);
    }

    pub async fn health(&self) -> Health {
        let guard = self.running.read().await;
        let Some(r) = guard.as_ref() else {
            return Health {
                listener_error: Some("Tillwatch is starting…".into()),
                ..Health::default()
            };
        };
        let (backlog, last) = r.app.store().inbox_status().await.unwrap_or((0, None));
        let dead = r
            .app
            .store()
            .count_deliveries(DeliveryState::Dead)
            .await
            .unwrap_or(0);
        let observed = r.observed.lock().map(|o| o.clone()).unwrap_or_default();
        let breaker = r.gateway.breaker().state();
        let tunnel = r.tunnel.state();
        let (circuit_open, circuit_reason) = match breaker {
            crate::gateway::BreakerState::Closed => (false, None),
            crate::gateway::BreakerState::Open { reason, .. } => (true, Some(reason)),
        };
        let shared = r.shared_database.is_some();
        let notifications_by = match r.app.store() {
            Backend::Postgres(pg) if shared => match pg.machines().await {
                Ok(machines) => crate::machines::notifications_by(&machines),
                Err(e) => {
                    tracing::warn!(code = e.code(), error = %e, "cannot read the shared database's machines");
                    None
                }
            },
            _ => None,
        };
        Health {
            demo: r.demo,
            environment: r.environment.clone(),
            listener_up: r.listener_error.is_none() && r.shared_database.is_none(),
            listener_error: r.listener_error.clone(),
            shared_database: r.shared_database.clone(),
            notifications_by,
            webhook_url: r.webhook_url.clone(),
            // Only a tunnel that is up gives a public address; local-only is not one.
            public_url: tunnel
                .is_up()
                .then(|| tunnel.webhook_url().map(str::to_owned))
                .flatten(),
            // A shared window receives nothing: no tunnel, not even "local only".
            tunnel: (!shared).then(|| tunnel.describe()),
            tunnel_status: (!shared).then(|| tunnel.status_word().to_owned()),
            gateway_url: Some(r.gateway.base_url().to_owned()),
            circuit_open,
            circuit_reason,
            inbox_backlog: backlog,
            dead_deliveries: dead,
            last_notification_at: last
                .map(|t| t.to_string())
                .or(observed.last_notification_at),
            last_reconcile_at: observed.last_reconcile_at,
            last_reconcile_caught_up: observed.last_reconcile_caught_up,
            unseen_payments: self.unseen.load(Ordering::Relaxed),
        }
    }
}

impl Running {
    /// The webhook URL the gateway can reach now: the public one when a tunnel is up.
    pub fn public_webhook_url(&self) -> Option<String> {
        self.tunnel
            .webhook_url()
            .or_else(|| self.webhook_url.clone())
    }

    async fn stop(mut self) {
        self.tunnel.shutdown().await;
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(serving) = self.serving.take() {
            let _ = serving.await;
        }
        if let Some(sim) = self.demo_sim.take() {
            sim.shutdown().await;
        }
    }
}

/// Where to listen: the environment wins (tests, servers), then the settings.
fn listen_addr(settings: &Settings) -> SocketAddr {
    std::env::var(config::ENV_LISTEN)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], settings.listen_port)))
}

fn demo_every() -> Duration {
    std::env::var("TILLWATCH_DEMO_EVERY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_millis)
        .unwrap_or(Duration::from_secs(8))
}

async fn start_services(data_dir: &std::path::Path, settings: Settings) -> Result<Running, String> {
    let (creds, source, keyring_problem) = secrets::load_off_runtime().await;
    if let Some(p) = &keyring_problem {
        tracing::warn!("{p}");
    }
    // Environment credentials pick the gateway from the environment, as the CLI does.
    let mode = match (&source, &creds) {
        (Source::Environment, Some(c)) => {
            config::resolve_mode(std::env::var(config::ENV_GATEWAY).ok().as_deref(), Some(c))?
        }
        (_, Some(_)) => settings.mode().map_err(|e| e.to_string())?,
        (_, None) => Mode::Demo,
    };

    // A database shared with other machines: the server's `tillwatch serve` takes the
    // notifications and confirms them; this window only shows and acts on orders.
    // The environment wins (servers, tests), as for the credentials.
    let shared = std::env::var(config::ENV_DATABASE_URL)
        .ok()
        .filter(|u| !u.trim().is_empty())
        .or_else(|| settings.shared_database_url().map(str::to_owned));
    let db = mode.database_path(data_dir);
    // A file of our own is served by one process only: while `tillwatch serve` (or another
    // window on another desktop session) holds it, this window shows its orders and takes
    // no notifications.
    let (owner, not_owner) = match &shared {
        Some(_) => (None, None),
        None => match Ownership::take(&db, Program::Window, &crate::app::local_actor()) {
            Ok(o) => (Some(o), None),
            Err(e) => (None, Some(not_the_owner(&e))),
        },
    };
    let addr = listen_addr(&settings);
    let secret = settings.webhook_secret.clone();
    let (tcp, listener_error) = if shared.is_some() {
        (None, None)
    } else if not_owner.is_some() {
        (None, not_owner)
    } else {
        match TcpListener::bind(addr).await {
            Ok(t) => (Some(t), None),
            Err(e) => (
                None,
                Some(format!(
                    "The listener could not start on {addr} ({e}). Another program may use that port: change it in Settings."
                )),
            ),
        }
    };
    let webhook_url = tcp
        .as_ref()
        .and_then(|t| t.local_addr().ok())
        .map(|a| format!("http://{a}{}", listener::webhook_path(secret.as_deref())));

    let (environment, creds, demo_sim) = match (&mode, creds) {
        (Mode::Demo, _) => {
            let sim_tcp = TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| e.to_string())?;
            let cfg = sim::SimConfig {
                default_webhook_url: webhook_url.clone(),
                step_gap: Duration::from_secs(3),
                ..sim::SimConfig::default()
            };
            let creds = Credentials {
                configuration_id: cfg.configuration_id.clone(),
                api_key: ApiKey::new(cfg.api_keys[0].clone()),
            };
            let handle = sim::start(sim_tcp, cfg).await.map_err(|e| e.to_string())?;
            if owner.is_some() {
                sim::spawn_demo_traffic(handle.clone(), demo_every());
            }
            (
                GatewayEnvironment::Custom(handle.base_url()),
                creds,
                Some(handle),
            )
        }
        (Mode::Gateway(env), Some(c)) => (env.clone(), c, None),
        (Mode::Gateway(_), None) => return Err("no credentials".into()),
    };

    let store = match &shared {
        Some(url) => connect_shared(url).await,
        None => Backend::open_file(&db).map_err(|e| e.to_string()),
    }?;
    let app = App::new(
        store,
        ShopPolicy {
            allow_ship_on_reserved: settings.ship_on_reserved,
        },
    );
    let gateway = GatewayClient::new(GatewayConfig::new(
        environment.clone(),
        creds.configuration_id,
        creds.api_key,
    ))
    .map_err(|e| e.to_string())?;

    let local = tcp.as_ref().and_then(|t| t.local_addr().ok());
    let tunnel_secrets = secrets::tunnel_secrets_off_runtime().await;
    let tunnel = start_tunnel(
        &settings,
        &app,
        local,
        secret.as_deref(),
        &db,
        tunnel_secrets,
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = if shared.is_some() {
        // Other machines' changes, told to this window as if it had made them.
        // And this window's row in the record of machines.
        let app = app.clone();
        Some(tauri::async_runtime::spawn(async move {
            let (done, is_done) = watch::channel(false);
            let until_done = |mut rx: watch::Receiver<bool>| async move {
                let _ = rx.wait_for(|d| *d).await;
            };
            tokio::join!(
                async {
                    let _ = stopped.await;
                    let _ = done.send(true);
                },
                app.follow_others(until_done(is_done.clone())),
                app.store()
                    .keep_presence(tillwatch_store_postgres::Role::Window, until_done(is_done)),
            );
        }))
    } else {
        tcp.map(|tcp| {
            let app = app.clone();
            let gateway = gateway.clone();
            let opts = ServeOptions {
                webhook_secret: secret,
                sources: settings.source_policy(),
                delivery_retention: settings.delivery_retention(),
                ..ServeOptions::default()
            };
            tauri::async_runtime::spawn(async move {
                let shutdown = async {
                    let _ = stopped.await;
                };
                if let Err(e) = app.serve(gateway, tcp, opts, shutdown).await {
                    tracing::error!(error = %e, "the listener stopped");
                }
            })
        })
    };

    let environment_name = match &mode {
        // A shared window without credentials: the server confirms; this one needs them
        // only to make payment links.
        Mode::Demo if shared.is_some() => "not set".to_owned(),
        Mode::Demo => "demo".to_owned(),
        Mode::Gateway(GatewayEnvironment::Integration) => "integration".to_owned(),
        Mode::Gateway(GatewayEnvironment::Production) => "production".to_owned(),
        Mode::Gateway(GatewayEnvironment::Custom(url)) => url.clone(),
    };
    tracing::info!(database = %db.display(), environment = %environment_name, "services started");
    Ok(Running {
        app,
        gateway,
        settings,
        // Demo data is a file of its own: a shared database is never the demo.
        demo: mode == Mode::Demo && shared.is_none(),
        environment: environment_name,
        webhook_url,
        listener_error,
        shared_database: shared.as_deref().map(tillwatch_stores::describe_url),
        observed: Arc::new(Mutex::new(Observed::default())),
        tunnel,
        stop: Some(stop),
        serving,
        demo_sim,
        _owner: owner,
    })
}

/// Why this window takes no notifications, in the health bar's words.
fn not_the_owner(e: &OwnerError) -> String {
    match e {
        OwnerError::Held { database, holder } => format!(
            "{} is in use by {holder}, which takes the notifications; this window only shows the orders. Stop it, then save the settings to take them here.",
            database.display()
        ),
        OwnerError::Io { .. } => format!("{e}; this window takes no notifications."),
    }
}

/// The shared database at `url`, its password from the environment or the URL, else the
/// OS keyring (where Settings keeps it).
async fn connect_shared(url: &str) -> Result<Backend, String> {
    use tillwatch_store_postgres::{DatabaseConfig, Password};
    let mut config = DatabaseConfig::from_url_and_env(url).map_err(|e| e.to_string())?;
    if !config.has_password() {
        if let Some(password) = secrets::database_password_off_runtime().await {
            config = config.with_password(Password::new(password));
        }
    }
    Backend::connect_with(config)
        .await
        .map_err(|e| e.to_string())
}

/// The tunnel the settings choose, or local only. A misconfigured tunnel is reported as
/// down in words rather than keeping the rest from starting.
fn start_tunnel(
    settings: &Settings,
    app: &App,
    local: Option<SocketAddr>,
    secret: Option<&str>,
    database: &std::path::Path,
    (ngrok_token, bore_secret): (Option<String>, Option<String>),
) -> TunnelHandle {
    let path = listener::webhook_path(secret);
    let Some(local) = local else {
        return TunnelHandle::local_only(String::new());
    };
    let local_url = format!("http://{local}{path}");
    let t = &settings.tunnel;
    let choice = match t.provider {
        ProviderKind::None => TunnelChoice::None,
        ProviderKind::Static => TunnelChoice::Static {
            public_url: t.public_url.clone().unwrap_or_default(),
        },
        ProviderKind::Ngrok => TunnelChoice::Ngrok {
            authtoken: ngrok_token.unwrap_or_default(),
            domain: t.ngrok_domain.clone(),
        },
        ProviderKind::Bore => TunnelChoice::Bore {
            relay: t.bore_relay.clone().unwrap_or_default(),
            secret: bore_secret,
        },
    };
    match choice.provider() {
        Ok(Some(provider)) => {
            let mut cfg = SupervisorConfig::new(local, path);
            cfg.url_file = Some(database.with_extension("tunnel-url.txt"));
            TunnelSupervisor::new(provider, cfg, SupervisorHooks::for_app(app)).spawn()
        }
        Ok(None) => TunnelHandle::local_only(local_url),
        Err(e) => {
            tracing::warn!("the tunnel cannot start: {e}");
            TunnelHandle::local_only(local_url)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    /// The window's first pages are asked for before the start-up task has taken the
    /// lock: the answer waits for that first start instead of an error the view would
    /// keep showing.
    #[tokio::test]
    async fn a_command_waits_for_the_first_start_instead_of_failing_at_once() {
        let dir =
            std::env::temp_dir().join(format!("tillwatch-first-start-{}", std::process::id()));
        let state = Arc::new(DesktopState::new(dir));
        let asking = Arc::clone(&state);
        let answer = tokio::spawn(async move { asking.app().await.map(|_| ()) });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            !answer.is_finished(),
            "answered before the services were started"
        );

        // The start is tried and fails: now the command answers, in words.
        state.first_start.send_replace(true);
        let e = answer.await.unwrap().unwrap_err();
        assert!(e.to_string().contains("not running"), "{e}");
    }

    /// A window opened on a file that `tillwatch serve` already serves takes no
    /// notifications (no listener, no worker) and says who holds it; once that process
    /// lets go, the next start serves.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_window_on_a_file_another_process_serves_takes_no_notifications_and_says_who() {
        let dir = std::env::temp_dir().join(format!(
            "tillwatch-window-owner-{}-{}",
            std::process::id(),
            unique_suffix()
        ));
        let settings = Settings {
            listen_port: 0,
            ..Settings::default()
        };
        let db = Mode::Demo.database_path(&dir);
        let serve = Ownership::take(&db, Program::Serve, "ana@till-2").unwrap();

        let running = start_services(&dir, settings.clone()).await.unwrap();
        let said = running.listener_error.clone().unwrap_or_default();
        assert!(
            said.contains(&format!(
                "in use by tillwatch serve (pid {}, run by ana@till-2",
                std::process::id()
            )) && said.contains("Stop it"),
            "{said}"
        );
        assert!(running.webhook_url.is_none() && running.serving.is_none());
        running.stop().await;

        drop(serve);
        let running = start_services(&dir, settings).await.unwrap();
        assert_eq!(running.listener_error, None);
        assert!(running.webhook_url.is_some() && running.serving.is_some());
        let refused = Ownership::take(&db, Program::Serve, "ana@till-2").unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("in use by the Tillwatch window"),
            "{refused}"
        );
        running.stop().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn unique_suffix() -> u128 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    }
}
