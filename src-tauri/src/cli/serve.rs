//! `tillwatch serve` (the listener, confirm worker, reconciler and refund watch, with no window) and
//! `tillwatch sim` (the gateway simulator on its own).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use tillwatch_store_sqlite::{Ownership, Program};
use tokio::net::TcpListener;

use super::args::TunnelArgs;
use super::print::{state_line, summary_line};
use crate::app::{ServeOptions, ShopPolicy};
use crate::boot;
use crate::config::{self, Credentials, Mode};
use crate::pipeline::CoreEvent;
use crate::tunnel::{TunnelEvent, TunnelHandle, TunnelState};
use crate::{listener, sim, App};

pub(super) struct ServeArgs {
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub claim_lease: Duration,
    pub mode: Mode,
    pub creds: Option<Credentials>,
    pub listen: SocketAddr,
    pub concurrency: usize,
    pub reconcile_every: Duration,
    pub refund_watch_every: Duration,
    pub demo_every: Duration,
    pub tunnel: TunnelArgs,
    pub sources: listener::SourcePolicy,
    pub delivery_retention: Duration,
}

pub(super) async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let db = args.mode.database_path(&args.data_dir);
    // Before anything starts: a second serve on the same file would strip the first's
    // claims. Held until this function returns; the OS lets go if the process is killed.
    let _owner = match args.database_url {
        Some(_) => None,
        None => Some(Ownership::take(
            &db,
            Program::Serve,
            &crate::app::local_actor(),
        )?),
    };
    let secret = std::env::var(config::ENV_WEBHOOK_SECRET)
        .ok()
        .filter(|s| !s.is_empty());
    if let Some(s) = &secret {
        listener::validate_secret(s).map_err(anyhow::Error::msg)?;
    }
    let tcp = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let local = tcp.local_addr()?;
    let webhook_url = format!(
        "http://{local}{}",
        listener::webhook_path(secret.as_deref())
    );

    let boot::Gateway {
        environment,
        client: gateway,
        demo_sim,
    } = boot::start_gateway(
        &args.mode,
        args.creds,
        boot::Demo {
            webhook_url: Some(webhook_url.clone()),
            step_gap: Duration::from_secs(4),
            shoppers_every: Some(args.demo_every),
        },
    )
    .await?;
    // `demo_sim` lives until this function returns: the demo gateway serves as long.
    if let Some(sim) = &demo_sim {
        eprintln!(
            "DEMO MODE: no credentials set, so the built-in demo gateway at {} plays shoppers.",
            sim.base_url()
        );
    }

    let store = super::open_store(args.database_url.as_deref(), &db).await?;
    let app = App::new(
        store,
        ShopPolicy {
            allow_ship_on_reserved: false,
        },
    );

    match &args.database_url {
        Some(url) => eprintln!(
            "database   {} (shared)",
            tillwatch_stores::describe_url(url)
        ),
        None => eprintln!("database   {}", db.display()),
    }
    eprintln!("gateway    {}", environment.base_url());
    eprintln!("webhook    {webhook_url}");
    // Printed on stdout so scripts and tests can wait for it.
    println!("listening on {local}");

    let tunnel = start_tunnel(
        &args.tunnel,
        &app,
        local,
        &listener::webhook_path(secret.as_deref()),
        &db,
    )?;

    let mut events = app.events();
    tokio::spawn(async move {
        while let Ok(event) = events.recv().await {
            if let CoreEvent::OrderChanged {
                order,
                status_changed: true,
                source,
                ..
            } = &event
            {
                println!("{}  ({})", summary_line(order), source.as_str());
            }
        }
    });

    // On a shared database: the record that tells the windows this machine takes the
    // notifications, and when it last confirmed one.
    let (presence_stop, presence_stopped) = tokio::sync::oneshot::channel::<()>();
    let presence = {
        let store = app.store().clone();
        tokio::spawn(async move {
            store
                .keep_presence(tillwatch_store_postgres::Role::Serve, async {
                    let _ = presence_stopped.await;
                })
                .await;
        })
    };
    app.serve(
        gateway,
        tcp,
        ServeOptions {
            webhook_secret: secret,
            concurrency: args.concurrency,
            reconcile_every: args.reconcile_every,
            refund_watch_every: args.refund_watch_every,
            sources: args.sources,
            delivery_retention: args.delivery_retention,
            claim_lease: args.claim_lease,
            ..ServeOptions::default()
        },
        shutdown_signal(),
    )
    .await?;
    let _ = presence_stop.send(());
    let _ = presence.await;
    tunnel.shutdown().await;
    eprintln!("stopped");
    Ok(())
}

/// Starts the tunnel for `serve` (or none), and prints on stdout each public webhook URL
/// ("public webhook URL: …"), each state change ("tunnel: …") and, prominently, what to
/// change in the Cashflows portal when the URL changed.
fn start_tunnel(
    args: &TunnelArgs,
    app: &App,
    local: SocketAddr,
    webhook_path: &str,
    database: &Path,
) -> anyhow::Result<TunnelHandle> {
    let choice = args.choice()?;
    let probe_every = Duration::from_secs(args.probe_every.max(1));
    let Some(supervisor) = boot::tunnel_supervisor(
        &choice,
        app,
        local,
        webhook_path,
        database,
        Some(probe_every),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?
    else {
        eprintln!("tunnel     none: only this computer can reach the listener (see --tunnel)");
        return Ok(TunnelHandle::local_only(format!(
            "http://{local}{webhook_path}"
        )));
    };
    let mut events = supervisor.handle().subscribe();
    let handle = supervisor.spawn();
    tokio::spawn(async move {
        let mut last_line = String::new();
        let mut last_url = String::new();
        loop {
            let event = match events.recv().await {
                Ok(e) => e,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => break,
            };
            match event {
                TunnelEvent::StateChanged { state } => {
                    if let TunnelState::Up { webhook_url, .. } = &state {
                        if *webhook_url != last_url {
                            println!("public webhook URL: {webhook_url}");
                            last_url = webhook_url.clone();
                        }
                    }
                    let line = state_line(&state);
                    if !line.is_empty() && line != last_line {
                        println!("tunnel: {line}");
                        last_line = line;
                    }
                }
                TunnelEvent::UrlChanged(change) => {
                    println!("\n*** ACTION NEEDED ***\n{}\n", change.message);
                }
                TunnelEvent::WokeUp { .. } => {
                    println!("tunnel: woke from sleep; checking for payments missed meanwhile")
                }
            }
        }
    });
    Ok(handle)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

pub(super) async fn run_sim(
    listen: SocketAddr,
    webhook: Option<String>,
    demo_every: u64,
    scale: f64,
) -> anyhow::Result<()> {
    if !(scale.is_finite() && scale > 0.0) {
        bail!("--scale must be a positive number");
    }
    let tcp = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let config = sim::SimConfig {
        default_webhook_url: webhook,
        clock_scale: scale,
        ..sim::SimConfig::default()
    };
    eprintln!(
        "simulated gateway: TILLWATCH_GATEWAY=http://{} TILLWATCH_CONFIGURATION_ID={} (demo API key: {})",
        tcp.local_addr()?,
        config.configuration_id,
        config.api_keys[0]
    );
    let handle = sim::start(tcp, config).await?;
    println!("listening on {}", handle.base_url());
    if demo_every > 0 {
        sim::spawn_demo_traffic(handle.clone(), Duration::from_secs(demo_every));
    }
    shutdown_signal().await;
    handle.shutdown().await;
    Ok(())
}
