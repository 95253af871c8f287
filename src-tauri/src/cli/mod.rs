//! The command line: `serve`, `lookup`, `orders`, `ship`, `unship`, `export`, `sim`,
//! `refund`, `cancel`, `capture`.
//! Each command is a thin face over `app::Tillwatch`: `args` says what can be typed,
//! `serve` runs the listener, `read` the commands that read and mark orders, `links` the
//! payment links, `money` refunds, cancels and captures, and `print` words what they show.

mod args;
mod links;
mod money;
mod print;
mod read;
mod serve;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;

use crate::app::ShopPolicy;
use crate::config::{self, Credentials, Mode};
use crate::gateway::GatewayEnvironment;
use crate::{App, Backend};

pub use args::Cli;
use args::Command;

pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let data_dir = cli
        .data_dir
        .clone()
        .unwrap_or_else(config::default_data_dir);
    let Some(command) = cli.command else {
        return open_window(data_dir);
    };
    init_logging(None);
    let cli = Cli {
        command: Some(command),
        ..cli
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(feature = "desktop")]
fn open_window(data_dir: PathBuf) -> std::process::ExitCode {
    let log = data_dir.join("tillwatch.log");
    init_logging(Some(&log));
    // The window runs its own event loop on this (main) thread.
    match crate::desktop::run(data_dir) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(not(feature = "desktop"))]
fn open_window(_data_dir: PathBuf) -> std::process::ExitCode {
    eprintln!("error: this build has no window (built without the `desktop` feature); use `tillwatch serve`, or see `tillwatch --help`");
    std::process::ExitCode::from(2)
}

/// Logs to stderr, and also to a file the owner can open from the window.
fn init_logging(file: Option<&std::path::Path>) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_env("TILLWATCH_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
    };
    let stderr = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let file_layer = file.and_then(|path| {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .ok()?;
        Some(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(f)),
        )
    });
    let _ = tracing_subscriber::registry()
        .with(filter())
        .with(stderr)
        .with(file_layer)
        .try_init();
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let data_dir = cli
        .data_dir
        .clone()
        .unwrap_or_else(config::default_data_dir);
    // The keyring call blocks: keep it off the async workers.
    let creds = tokio::task::spawn_blocking(credentials)
        .await
        .context("reading the credentials")?
        .map_err(anyhow::Error::msg)?;
    let Some(command) = cli.command else {
        bail!("no command given");
    };
    match command {
        Command::Serve {
            listen,
            concurrency,
            reconcile_every,
            demo_every,
            tunnel,
            listener,
            claim_lease,
            refund_watch_every,
        } => {
            let mode = config::resolve_mode(cli.gateway.as_deref(), creds.as_ref())
                .map_err(anyhow::Error::msg)?;
            // Missing tunnel settings and bad addresses fail before anything starts.
            tunnel.choice()?;
            let sources = listener.sources()?;
            serve::serve(serve::ServeArgs {
                tunnel,
                sources,
                delivery_retention: crate::app::retention_days(listener.delivery_retention_days),
                data_dir,
                database_url: cli.database_url.clone(),
                claim_lease: Duration::from_secs(claim_lease.max(1)),
                mode,
                creds,
                listen,
                concurrency,
                reconcile_every: Duration::from_secs(reconcile_every.max(1)),
                refund_watch_every: Duration::from_secs(refund_watch_every),
                demo_every: Duration::from_secs(demo_every.max(1)),
            })
            .await
        }
        Command::Sim {
            listen,
            webhook,
            demo_every,
            scale,
        } => serve::run_sim(listen, webhook, demo_every, scale).await,
        Command::Link { action } => {
            let (app, gateway, db) = gateway_app(
                cli.gateway.as_deref(),
                cli.database_url.as_deref(),
                creds,
                &data_dir,
                false,
            )
            .await?;
            links::link(app, gateway, action, &data_dir, &db, cli.json).await
        }
        money_command @ (Command::Refund { .. }
        | Command::Cancel { .. }
        | Command::Capture { .. }
        | Command::Ship { capture: true, .. }) => {
            let allow_reserved = matches!(
                money_command,
                Command::Ship {
                    allow_reserved: true,
                    ..
                }
            );
            let (app, gateway, _) = gateway_app(
                cli.gateway.as_deref(),
                cli.database_url.as_deref(),
                creds,
                &data_dir,
                allow_reserved,
            )
            .await?;
            money::money(app, gateway, money_command, cli.json).await
        }
        read_command => {
            // Read commands need no credentials: the mode only picks the database.
            let mode = match cli.gateway.as_deref() {
                None if creds.is_none() => Mode::Demo,
                None => Mode::Gateway(GatewayEnvironment::Integration),
                Some("demo") => Mode::Demo,
                Some(g) => Mode::Gateway(GatewayEnvironment::parse(g).map_err(anyhow::Error::msg)?),
            };
            let db = mode.database_path(&data_dir);
            if cli.database_url.is_none() && !db.exists() {
                bail!(
                    "no database at {} yet: run `tillwatch serve` first",
                    db.display()
                );
            }
            let allow_reserved = matches!(
                read_command,
                Command::Ship {
                    allow_reserved: true,
                    ..
                }
            );
            let app = App::new(
                open_store(cli.database_url.as_deref(), &db).await?,
                ShopPolicy {
                    allow_ship_on_reserved: allow_reserved,
                },
            );
            read::read(app, read_command, cli.json).await
        }
    }
}

/// The app and a gateway client, for the commands that talk to the gateway (payment
/// links, moving money); refused in demo mode or without credentials.
async fn gateway_app(
    gateway: Option<&str>,
    database_url: Option<&str>,
    creds: Option<Credentials>,
    data_dir: &std::path::Path,
    allow_ship_on_reserved: bool,
) -> anyhow::Result<(App, crate::gateway::GatewayClient, PathBuf)> {
    let mode = config::resolve_mode(gateway, creds.as_ref()).map_err(anyhow::Error::msg)?;
    let Some(creds) = creds.filter(|_| mode != Mode::Demo) else {
        bail!(
            "this command needs a gateway: set {} and {}",
            config::ENV_CONFIGURATION_ID,
            config::ENV_API_KEY
        );
    };
    let Mode::Gateway(environment) = &mode else {
        unreachable!("demo refused above")
    };
    let gateway = crate::boot::gateway_client(environment.clone(), creds)?;
    let db = mode.database_path(data_dir);
    let app = App::new(
        open_store(database_url, &db).await?,
        ShopPolicy {
            allow_ship_on_reserved,
        },
    );
    Ok((app, gateway, db))
}

/// The shared database when one is named, else this mode's own file.
async fn open_store(database_url: Option<&str>, db: &std::path::Path) -> anyhow::Result<Backend> {
    let opened = crate::boot::open_store(database_url, std::future::ready(None), db).await;
    match database_url {
        Some(url) => {
            opened.with_context(|| format!("connecting to {}", tillwatch_stores::describe_url(url)))
        }
        None => opened.with_context(|| format!("opening {}", db.display())),
    }
}

/// Credentials from the environment, else (in a build with the window) the OS keyring
/// where the window's settings keep them.
fn credentials() -> Result<Option<Credentials>, String> {
    if let Some(c) = config::credentials_from_env()? {
        return Ok(Some(c));
    }
    #[cfg(feature = "desktop")]
    if let Some(c) = crate::desktop::stored_credentials() {
        return Ok(Some(c));
    }
    Ok(None)
}
