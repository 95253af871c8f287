//! The running core behind the window: started from the settings (or the environment)
//! on the one start-up path (`boot`), stopped when the settings change.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tillwatch_store_sqlite::{OwnerError, Ownership, Program};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};

use super::secrets::{self, Source};
use crate::app::ServeOptions;
use crate::app::ShopPolicy;
use crate::boot::{self, TunnelWanted};
use crate::config::{self, Mode};
use crate::gateway::{GatewayClient, GatewayEnvironment};
use crate::settings::Settings;
use crate::tunnel::TunnelHandle;
use crate::App;
use crate::{listener, sim};

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

impl Running {
    /// The webhook URL the gateway can reach now: the public one when a tunnel is up.
    pub fn public_webhook_url(&self) -> Option<String> {
        self.tunnel
            .webhook_url()
            .or_else(|| self.webhook_url.clone())
    }

    pub(super) async fn stop(mut self) {
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

pub(super) async fn start_services(
    data_dir: &std::path::Path,
    settings: Settings,
) -> Result<Running, String> {
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

    let boot::Gateway {
        client: gateway,
        demo_sim,
        ..
    } = boot::start_gateway(
        &mode,
        creds,
        boot::Demo {
            webhook_url: webhook_url.clone(),
            step_gap: Duration::from_secs(3),
            shoppers_every: owner.is_some().then(demo_every),
        },
    )
    .await
    .map_err(|e| e.to_string())?;

    // A shared database's password: the URL's or the environment's, else the OS keyring
    // (where Settings keeps it).
    let store = boot::open_store(
        shared.as_deref(),
        secrets::database_password_off_runtime(),
        &db,
    )
    .await
    .map_err(|e| e.to_string())?;
    let app = App::new(
        store,
        ShopPolicy {
            allow_ship_on_reserved: settings.ship_on_reserved,
        },
    );

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
                // The refund watch's period and windows: the defaults (Settings come later).
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
    let choice = TunnelWanted {
        kind: t.provider,
        public_url: t.public_url.clone(),
        bore_relay: t.bore_relay.clone(),
        ngrok_domain: t.ngrok_domain.clone(),
        ngrok_authtoken: ngrok_token,
        bore_secret,
    }
    .choice();
    match boot::tunnel_supervisor(&choice, app, local, &path, database, None) {
        Ok(Some(supervisor)) => supervisor.spawn(),
        Ok(None) => TunnelHandle::local_only(local_url),
        Err(e) => {
            tracing::warn!("the tunnel cannot start: {e}");
            TunnelHandle::local_only(local_url)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
