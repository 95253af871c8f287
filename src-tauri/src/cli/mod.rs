//! The command line: `serve`, `lookup`, `orders`, `ship`, `unship`, `export`, `sim`.
//! Each command is a thin face over `app::Tillwatch`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use serde::Serialize;
use tillwatch_store_sqlite::{Ownership, Program};
use tokio::net::TcpListener;

use crate::app::{ServeOptions, ShopPolicy};
use crate::config::{self, Credentials, Mode};
use crate::domain::{DeliveryState, OrderDetail, OrderSummary, PaymentStatus};
use crate::gateway::{GatewayClient, GatewayConfig, GatewayEnvironment};
use crate::pipeline::CoreEvent;
use crate::{listener, sim};
use crate::{App, Backend};

#[derive(Parser, Debug)]
#[command(
    name = "tillwatch",
    version,
    about = "Watch Cashflows payments arrive, each confirmed with the gateway before it is believed."
)]
pub struct Cli {
    /// Folder for the databases and logs.
    #[arg(long, global = true, env = config::ENV_DATA_DIR)]
    data_dir: Option<PathBuf>,
    /// A PostgreSQL database shared by several machines (postgres://user@host/db), in
    /// place of this machine's own file. The password comes from
    /// TILLWATCH_DATABASE_PASSWORD, never from the command line.
    #[arg(long, global = true, env = config::ENV_DATABASE_URL)]
    database_url: Option<String>,
    /// Which gateway's data to use: demo, integration, production or a URL.
    #[arg(long, global = true, env = config::ENV_GATEWAY)]
    gateway: Option<String>,
    /// Print JSON with stable camelCase fields instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Without a command: open the window.
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the webhook listener, the confirm worker and the reconciler (no window).
    /// With no credentials it runs on the built-in demo gateway with demo shoppers.
    Serve {
        #[arg(long, env = config::ENV_LISTEN, default_value = config::DEFAULT_LISTEN)]
        listen: SocketAddr,
        /// Gateway requests in flight at once.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        /// Seconds between reconciliations of unfinished jobs.
        #[arg(long, default_value_t = 300)]
        reconcile_every: u64,
        /// Seconds between demo orders (demo mode only).
        #[arg(long, default_value_t = 6)]
        demo_every: u64,
        #[command(flatten)]
        tunnel: crate::tunnel_cli::TunnelArgs,
        #[command(flatten)]
        listener: ListenerArgs,
        /// Seconds another `serve` on the same shared database waits before it takes over
        /// the notifications this one held when it stopped.
        #[arg(long, default_value_t = 120, hide = true)]
        claim_lease: u64,
    },
    /// Find orders by job reference, payment reference, order number or e-mail.
    Lookup { query: String },
    /// List orders, newest first.
    Orders {
        /// Only this status (Paid, Pending, Failed, ...).
        #[arg(long)]
        status: Option<String>,
        /// Only shipped (true) or unshipped (false) orders.
        #[arg(long)]
        shipped: Option<bool>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Mark a paid order as shipped.
    Ship {
        /// Exact job reference, payment reference or order number.
        reference: String,
        /// A note or tracking number.
        #[arg(long)]
        note: Option<String>,
        /// Ship although the gateway confirmed other money than was asked; the reason is
        /// kept in the audit log.
        #[arg(long, value_name = "REASON")]
        override_mismatch: Option<String>,
        /// This shop ships on Reserved (authorised, captured later).
        #[arg(long, env = "TILLWATCH_SHIP_ON_RESERVED")]
        allow_reserved: bool,
    },
    /// Undo `ship`.
    Unship {
        /// Exact job reference, payment reference or order number.
        reference: String,
    },
    /// Notifications we acknowledged but could not confirm: dead ones (the gateway's
    /// errors never went away) or unknown ones (the gateway never knew the references).
    Deliveries {
        /// Dead deliveries: they wait for `tillwatch retry`.
        #[arg(long, conflicts_with = "unknown", required_unless_present = "unknown")]
        dead: bool,
        /// Deliveries whose references the gateway never knew.
        #[arg(long)]
        unknown: bool,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Ask the gateway again about the dead or unknown deliveries of a reference (a
    /// running `serve` picks them up within seconds).
    Retry {
        /// The exact job reference or payment reference.
        reference: String,
    },
    /// Write every order as CSV.
    Export {
        #[arg(long, required = true)]
        csv: bool,
        /// File to write (standard output if absent).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Payment links: create a Cashflows payment job and print its payment page URL.
    Link {
        #[command(subcommand)]
        action: LinkAction,
    },
    /// Run the Cashflows gateway simulator on its own.
    Sim {
        #[arg(long, default_value = "127.0.0.1:8788")]
        listen: SocketAddr,
        /// Where to send notifications for jobs created without a WebhookUrl.
        #[arg(long)]
        webhook: Option<String>,
        /// Create a demo order every N seconds (0: none).
        #[arg(long, default_value_t = 0)]
        demo_every: u64,
        /// Sim seconds per real second.
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
    },
}

/// Who may post notifications, and how long settled ones are kept.
#[derive(clap::Args, Debug)]
struct ListenerArgs {
    /// Accept notifications only from these addresses, comma-separated; `integration` and
    /// `production` stand for Cashflows' published addresses. Default: any address.
    #[arg(long, env = "TILLWATCH_ALLOW_FROM", value_name = "IP,...")]
    allow_from: Option<String>,
    /// Reverse proxies (or a tunnel agent) whose X-Forwarded-For names the real sender.
    #[arg(long, env = "TILLWATCH_TRUSTED_PROXY", value_name = "IP,...")]
    trusted_proxy: Option<String>,
    /// Days a settled delivery is kept before it is pruned.
    #[arg(long, default_value_t = crate::app::DEFAULT_DELIVERY_RETENTION_DAYS,
          value_parser = clap::value_parser!(u32).range(1..))]
    delivery_retention_days: u32,
}

impl ListenerArgs {
    fn sources(&self) -> anyhow::Result<listener::SourcePolicy> {
        let parse = |list: &Option<String>, flag: &str| {
            listener::parse_addresses(list.as_deref().unwrap_or(""))
                .map_err(|e| anyhow::anyhow!("--{flag}: {e}"))
        };
        Ok(listener::SourcePolicy {
            allow_from: parse(&self.allow_from, "allow-from")?,
            trusted_proxies: parse(&self.trusted_proxy, "trusted-proxy")?,
            ..listener::SourcePolicy::default()
        })
    }
}

// Parsed once per run: the size of the larger variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
enum LinkAction {
    /// Create a payment job and print the link to send the customer.
    Create {
        /// Amount in major units, e.g. 12.50.
        #[arg(long)]
        amount: String,
        #[arg(long, default_value = "GBP")]
        currency: String,
        /// Order number (default: one past the highest numeric one in use).
        #[arg(long)]
        order: Option<String>,
        /// The customer's e-mail address.
        #[arg(long)]
        email: String,
        #[arg(long)]
        note: Option<String>,
        /// The largest amount a link may ask for (default: `maxLinkAmount` in the data
        /// folder's settings.json, else 100000).
        #[arg(long, env = "TILLWATCH_MAX_LINK_AMOUNT")]
        max_amount: Option<String>,
        /// The public webhook URL the gateway must notify (default: the last public URL
        /// the tunnel reported, else the local listener's).
        #[arg(long, env = "TILLWATCH_PUBLIC_WEBHOOK_URL")]
        webhook_url: Option<String>,
        #[arg(long, env = "TILLWATCH_RETURN_URL_SUCCESS")]
        return_url_success: Option<String>,
        #[arg(long, env = "TILLWATCH_RETURN_URL_FAILED")]
        return_url_failed: Option<String>,
        #[arg(long, env = "TILLWATCH_RETURN_URL_CANCELLED")]
        return_url_cancelled: Option<String>,
    },
    /// Cancel an unpaid link.
    Cancel {
        /// Job reference or order number.
        reference: String,
    },
}

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
        } => {
            let mode = config::resolve_mode(cli.gateway.as_deref(), creds.as_ref())
                .map_err(anyhow::Error::msg)?;
            // Missing tunnel settings and bad addresses fail before anything starts.
            tunnel.choice()?;
            let sources = listener.sources()?;
            serve(ServeArgs {
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
                demo_every: Duration::from_secs(demo_every.max(1)),
            })
            .await
        }
        Command::Sim {
            listen,
            webhook,
            demo_every,
            scale,
        } => run_sim(listen, webhook, demo_every, scale).await,
        Command::Link { action } => {
            let mode = config::resolve_mode(cli.gateway.as_deref(), creds.as_ref())
                .map_err(anyhow::Error::msg)?;
            let Some(creds) = creds.filter(|_| mode != Mode::Demo) else {
                bail!(
                    "payment links need a gateway: set {} and {}",
                    config::ENV_CONFIGURATION_ID,
                    config::ENV_API_KEY
                );
            };
            let Mode::Gateway(environment) = &mode else {
                unreachable!("demo refused above")
            };
            let gateway = GatewayClient::new(GatewayConfig::new(
                environment.clone(),
                creds.configuration_id,
                creds.api_key,
            ))?;
            let db = mode.database_path(&data_dir);
            let app = App::new(
                open_store(cli.database_url.as_deref(), &db).await?,
                ShopPolicy {
                    allow_ship_on_reserved: false,
                },
            );
            link(app, gateway, action, &data_dir, &db, cli.json).await
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
            read(app, read_command, cli.json).await
        }
    }
}

async fn read(app: App, command: Command, json: bool) -> anyhow::Result<()> {
    match command {
        Command::Lookup { query } => {
            let found = app.lookup(&query).await?;
            if found.is_empty() {
                bail!("no order matches '{query}'");
            }
            if json {
                print_json(&found)?;
            } else {
                for d in &found {
                    print_detail(d);
                }
            }
        }
        Command::Orders {
            status,
            shipped,
            limit,
        } => {
            let status = status.map(|s| PaymentStatus::from(capitalise(&s)));
            let orders = app.orders(status, shipped, limit).await?;
            if json {
                print_json(&orders)?;
            } else if orders.is_empty() {
                println!("no orders");
            } else {
                for o in &orders {
                    println!("{}", summary_line(o));
                }
            }
        }
        Command::Ship {
            reference,
            note,
            override_mismatch,
            ..
        } => {
            let d = match override_mismatch {
                Some(reason) => app.ship_despite_mismatch(&reference, note, reason).await?,
                None => app.ship(&reference, note).await?,
            };
            if json {
                print_json(&d)?;
            } else {
                println!("shipped: {}", summary_line(&d.summary));
            }
        }
        Command::Unship { reference } => {
            let d = app.unship(&reference).await?;
            if json {
                print_json(&d)?;
            } else {
                println!("no longer shipped: {}", summary_line(&d.summary));
            }
        }
        Command::Deliveries { dead, limit, .. } => {
            let state = if dead {
                DeliveryState::Dead
            } else {
                DeliveryState::Unknown
            };
            let stuck = app.stuck_deliveries(state, limit).await?;
            if json {
                print_json(&stuck)?;
            } else if stuck.is_empty() {
                println!("no {} deliveries", state.as_str());
            } else {
                for d in &stuck {
                    println!(
                        "{}  job {}  payment {}  {} attempts  {}",
                        d.received_at,
                        d.payment_job_reference,
                        d.payment_reference,
                        d.attempts,
                        d.last_error
                            .as_deref()
                            .or(d.outcome.as_deref())
                            .unwrap_or("")
                    );
                }
                println!("retry one with: tillwatch retry <job or payment reference>");
            }
        }
        Command::Retry { reference } => {
            let n = app.retry_deliveries(&reference).await?;
            if json {
                print_json(&serde_json::json!({ "reopened": n }))?;
            } else {
                println!("{n} deliveries of {reference} will be asked about again");
            }
        }
        Command::Export { out, .. } => {
            let csv = app.export_csv().await?;
            match out {
                Some(path) => std::fs::write(&path, csv)
                    .with_context(|| format!("writing {}", path.display()))?,
                None => print!("{csv}"),
            }
        }
        Command::Serve { .. } | Command::Sim { .. } | Command::Link { .. } => {
            unreachable!("handled by run")
        }
    }
    Ok(())
}

async fn link(
    app: App,
    gateway: GatewayClient,
    action: LinkAction,
    data_dir: &std::path::Path,
    database: &std::path::Path,
    json: bool,
) -> anyhow::Result<()> {
    let detail = match action {
        LinkAction::Create {
            amount,
            currency,
            order,
            email,
            note,
            max_amount,
            webhook_url,
            return_url_success,
            return_url_failed,
            return_url_cancelled,
        } => {
            let webhook_url = match webhook_url {
                Some(u) => u,
                None => current_webhook_url(database),
            };
            let order_number = match order {
                Some(o) => o,
                None => app.suggest_order_number().await?,
            };
            let returns = crate::links::ReturnUrls {
                success: return_url_success,
                failed: return_url_failed,
                cancelled: return_url_cancelled,
            };
            let new = crate::links::NewPaymentLink {
                amount,
                currency,
                order_number,
                email,
                note,
            };
            // The flag wins; else the ceiling the owner set in the window's settings.
            let max_amount = match max_amount {
                Some(m) => {
                    crate::settings::parse_max_link_amount(&m).map_err(anyhow::Error::msg)?
                }
                None => crate::settings::Settings::load(data_dir).max_link_amount()?,
            };
            app.create_payment_link(&gateway, new, &webhook_url, &returns, max_amount)
                .await?
        }
        LinkAction::Cancel { reference } => {
            let job = app.resolve(&reference).await?;
            app.cancel_payment_link(&gateway, &job).await?
        }
    };
    if json {
        print_json(&detail)?;
    } else {
        println!("{}", summary_line(&detail.summary));
        if let Some(url) = &detail.payment_link {
            println!("{url}");
        }
    }
    Ok(())
}

/// The public webhook URL a running `serve` last reported (its tunnel remembers the public
/// base URL next to the database), else the local default.
fn current_webhook_url(database: &std::path::Path) -> String {
    let path = listener::webhook_path(std::env::var(config::ENV_WEBHOOK_SECRET).ok().as_deref());
    let remembered = std::fs::read_to_string(database.with_extension("tunnel-url.txt"))
        .ok()
        .map(|s| s.trim().trim_end_matches('/').to_owned())
        .filter(|s| s.starts_with("http"));
    match remembered {
        Some(base) => format!("{base}{path}"),
        None => {
            let local = format!("http://{}{path}", config::DEFAULT_LISTEN);
            eprintln!("warning: no public webhook URL is known; the gateway will be told {local}");
            local
        }
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

/// Status words are the gateway's ("Paid"); accept "paid" from a hurried owner.
fn capitalise(s: &str) -> String {
    let mut c = s.trim().chars();
    match c.next() {
        Some(f) => f
            .to_uppercase()
            .chain(c.flat_map(char::to_lowercase))
            .collect(),
        None => String::new(),
    }
}

fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn money(o: &OrderSummary) -> String {
    match (&o.amount, &o.currency) {
        (Some(a), Some(c)) => format!("{} {c}", a.display_in(c)),
        (Some(a), None) => a.to_string(),
        _ => "-".to_owned(),
    }
}

fn summary_line(o: &OrderSummary) -> String {
    format!(
        "{:<10} {:>12}  order {:<12} job {}  attempts {}{}{}",
        o.status.as_str(),
        money(o),
        o.order_number.as_deref().unwrap_or("-"),
        o.payment_job_reference,
        o.attempts,
        if o.shipped { "  shipped" } else { "" },
        o.mismatch
            .as_deref()
            .map(|m| format!("  MISMATCH: {m}"))
            .unwrap_or_default(),
    )
}

fn print_detail(d: &OrderDetail) {
    println!("{}", summary_line(&d.summary));
    if let Some(email) = &d.summary.email {
        println!("  e-mail {email}");
    }
    for p in &d.payments {
        let why = match (&p.failure_reason, &p.failure_code) {
            (Some(r), Some(c)) => format!(" — {r} ({c})"),
            (None, Some(c)) => format!(" — {c}"),
            _ => String::new(),
        };
        println!(
            "  attempt {} payment {} {}{}",
            p.attempt, p.payment_reference, p.status, why
        );
    }
    for e in &d.status_events {
        println!(
            "  {} {} -> {} ({}){}",
            e.at,
            e.from.as_deref().unwrap_or("new"),
            e.to,
            e.source.as_str(),
            e.payment_reference
                .as_ref()
                .map(|p| format!(" payment {p}"))
                .unwrap_or_default()
        );
    }
    for dl in &d.deliveries {
        println!(
            "  delivery {} answered {} {}",
            dl.received_at,
            dl.response_status,
            dl.outcome.as_deref().unwrap_or(dl.state_word())
        );
    }
}

struct ServeArgs {
    data_dir: PathBuf,
    database_url: Option<String>,
    claim_lease: Duration,
    mode: Mode,
    creds: Option<Credentials>,
    listen: SocketAddr,
    concurrency: usize,
    reconcile_every: Duration,
    demo_every: Duration,
    tunnel: crate::tunnel_cli::TunnelArgs,
    sources: listener::SourcePolicy,
    delivery_retention: Duration,
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
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

    let (environment, creds, _demo_sim) = match (&args.mode, args.creds) {
        (Mode::Demo, _) => {
            let sim_tcp = TcpListener::bind("127.0.0.1:0").await?;
            let sim_config = sim::SimConfig {
                default_webhook_url: Some(webhook_url.clone()),
                step_gap: Duration::from_secs(4),
                ..sim::SimConfig::default()
            };
            let creds = Credentials {
                configuration_id: sim_config.configuration_id.clone(),
                api_key: crate::gateway::ApiKey::new(sim_config.api_keys[0].clone()),
            };
            let handle = sim::start(sim_tcp, sim_config).await?;
            sim::spawn_demo_traffic(handle.clone(), args.demo_every);
            eprintln!(
                "DEMO MODE: no credentials set, so the built-in demo gateway at {} plays shoppers.",
                handle.base_url()
            );
            (
                GatewayEnvironment::Custom(handle.base_url()),
                creds,
                Some(handle),
            )
        }
        (Mode::Gateway(env), Some(creds)) => (env.clone(), creds, None),
        (Mode::Gateway(_), None) => bail!("credentials are required for a real gateway"),
    };

    let store = open_store(args.database_url.as_deref(), &db).await?;
    let app = App::new(
        store,
        ShopPolicy {
            allow_ship_on_reserved: false,
        },
    );
    let gateway = GatewayClient::new(GatewayConfig::new(
        environment.clone(),
        creds.configuration_id,
        creds.api_key,
    ))?;

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

    let tunnel = crate::tunnel_cli::start(
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

/// The shared database when one is named, else this mode's own file.
async fn open_store(database_url: Option<&str>, db: &std::path::Path) -> anyhow::Result<Backend> {
    match database_url {
        Some(url) => Backend::connect(url)
            .await
            .with_context(|| format!("connecting to {}", tillwatch_stores::describe_url(url))),
        None => Backend::open_file(db).with_context(|| format!("opening {}", db.display())),
    }
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

async fn run_sim(
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

#[cfg(test)]
mod tests {
    use super::*;

    fn serve_listener_args(args: &[&str]) -> ListenerArgs {
        let cli = Cli::try_parse_from([&["tillwatch", "serve"], args].concat()).unwrap();
        match cli.command {
            Some(Command::Serve { listener, .. }) => listener,
            other => panic!("not serve: {other:?}"),
        }
    }

    #[test]
    fn serve_takes_an_allow_list_trusted_proxies_and_a_retention() {
        let args = serve_listener_args(&[
            "--allow-from",
            "production,192.0.2.1",
            "--trusted-proxy",
            "127.0.0.1",
            "--delivery-retention-days",
            "30",
        ]);
        let sources = args.sources().unwrap();
        assert_eq!(sources.allow_from.len(), 3);
        assert_eq!(
            sources.trusted_proxies,
            vec![std::net::IpAddr::from([127, 0, 0, 1])]
        );
        assert_eq!(args.delivery_retention_days, 30);
        // Off by default.
        let args = serve_listener_args(&[]);
        assert!(args.sources().unwrap().allow_from.is_empty());
        assert_eq!(args.delivery_retention_days, 90);
        assert!(serve_listener_args(&["--allow-from", "gateway.example"])
            .sources()
            .is_err());
        assert!(
            Cli::try_parse_from(["tillwatch", "serve", "--delivery-retention-days", "0"]).is_err()
        );
    }
}
