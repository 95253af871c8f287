//! The command line's schema: every command, flag and environment variable `clap` reads.
//! What a command does is in its own module; this one only says what can be typed.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::boot::{self, TunnelWanted};
use crate::config;
use crate::listener;
use crate::tunnel::{ProviderKind, TunnelChoice};

#[derive(Parser, Debug)]
#[command(
    name = "tillwatch",
    version,
    about = "Watch Cashflows payments arrive, each confirmed with the gateway before it is believed."
)]
pub struct Cli {
    /// Folder for the databases and logs.
    #[arg(long, global = true, env = config::ENV_DATA_DIR)]
    pub(super) data_dir: Option<PathBuf>,
    /// A PostgreSQL database shared by several machines (postgres://user@host/db), in
    /// place of this machine's own file. The password comes from
    /// TILLWATCH_DATABASE_PASSWORD, never from the command line.
    #[arg(long, global = true, env = config::ENV_DATABASE_URL)]
    pub(super) database_url: Option<String>,
    /// Which gateway's data to use: demo, integration, production or a URL.
    #[arg(long, global = true, env = config::ENV_GATEWAY)]
    pub(super) gateway: Option<String>,
    /// Print JSON with stable camelCase fields instead of text.
    #[arg(long, global = true)]
    pub(super) json: bool,
    /// Without a command: open the window.
    #[command(subcommand)]
    pub(super) command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub(super) enum Command {
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
        tunnel: TunnelArgs,
        #[command(flatten)]
        listener: ListenerArgs,
        /// Seconds another `serve` on the same shared database waits before it takes over
        /// the notifications this one held when it stopped.
        #[arg(long, default_value_t = 120, hide = true)]
        claim_lease: u64,
        /// Seconds between the refund watch's passes over orders paid in the last 2 days
        /// (those paid in the last 30 days are asked about daily). Refunds made in the
        /// gateway's portal send no notification; this is how they are found.
        #[arg(long, value_name = "SECONDS", default_value = "3600", value_parser = refund_watch_period)]
        refund_watch_every: u64,
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
        /// Capture a Reserved order first and ship only once the capture completed.
        #[arg(long, conflicts_with = "override_mismatch")]
        capture: bool,
    },
    /// Refund a paid order, in full or in part (a same-day payment's full refund is
    /// sent as a cancel).
    Refund {
        /// Exact job reference, payment reference or order number.
        reference: String,
        /// How much (default: the whole refundable balance).
        #[arg(long)]
        amount: Option<String>,
        /// Why, for the owner's own record.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Cancel an unsettled payment, void a reservation, or cancel an unpaid job.
    Cancel {
        /// Exact job reference, payment reference or order number.
        reference: String,
    },
    /// Capture a Reserved order's reservation.
    Capture {
        /// Exact job reference, payment reference or order number.
        reference: String,
        /// Only where the gateway allows partial capture (cards take the full amount).
        #[arg(long)]
        amount: Option<String>,
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
pub(super) struct ListenerArgs {
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
    pub(super) delivery_retention_days: u32,
}

impl ListenerArgs {
    pub(super) fn sources(&self) -> anyhow::Result<listener::SourcePolicy> {
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
pub(super) enum LinkAction {
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

pub const ENV_TUNNEL: &str = "TILLWATCH_TUNNEL";
pub const ENV_PUBLIC_URL: &str = "TILLWATCH_PUBLIC_URL";
pub const ENV_BORE_RELAY: &str = "TILLWATCH_BORE_RELAY";
pub const ENV_NGROK_DOMAIN: &str = "TILLWATCH_NGROK_DOMAIN";

#[derive(clap::Args, Debug, Clone)]
pub struct TunnelArgs {
    /// How the gateway reaches this computer: none (local only), static (your own
    /// reverse proxy or port forward), ngrok (authtoken in TILLWATCH_NGROK_AUTHTOKEN) or
    /// bore (a self-hosted relay; secret in TILLWATCH_BORE_SECRET).
    #[arg(long = "tunnel", env = ENV_TUNNEL, default_value = "none", value_name = "none|static|ngrok|bore")]
    pub kind: ProviderKind,
    /// With --tunnel static: the public base URL that reaches the listener (https://…).
    #[arg(long, env = ENV_PUBLIC_URL, value_name = "URL")]
    pub public_url: Option<String>,
    /// With --tunnel bore: the relay's host (bore's control port is always 7835).
    #[arg(long, env = ENV_BORE_RELAY, value_name = "HOST[:7835]")]
    pub bore_relay: Option<String>,
    /// With --tunnel ngrok: your free static domain (name.ngrok-free.app).
    #[arg(long, env = ENV_NGROK_DOMAIN, value_name = "DOMAIN")]
    pub ngrok_domain: Option<String>,
    /// Seconds between end-to-end checks that the public URL reaches this computer.
    #[arg(long, default_value_t = 20, value_name = "SECONDS")]
    pub probe_every: u64,
}

impl TunnelArgs {
    /// The choice these flags and the environment make, or what is missing. Secrets come
    /// from the environment only (never a flag, never logged).
    pub fn choice(&self) -> anyhow::Result<TunnelChoice> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let wanted = TunnelWanted {
            kind: self.kind,
            public_url: self.public_url.clone(),
            bore_relay: self.bore_relay.clone(),
            ngrok_domain: self.ngrok_domain.clone(),
            ngrok_authtoken: env(boot::ENV_NGROK_AUTHTOKEN),
            bore_secret: env(boot::ENV_BORE_SECRET),
        };
        match self.kind {
            ProviderKind::Static if wanted.public_url.is_none() => {
                anyhow::bail!("--tunnel static needs --public-url https://YOUR-HOST")
            }
            ProviderKind::Ngrok if wanted.ngrok_authtoken.is_none() => anyhow::bail!(
                "--tunnel ngrok needs your authtoken in {} (from the ngrok dashboard)",
                boot::ENV_NGROK_AUTHTOKEN
            ),
            ProviderKind::Bore if wanted.bore_relay.is_none() => {
                anyhow::bail!("--tunnel bore needs --bore-relay HOST (your relay)")
            }
            _ => Ok(wanted.choice()),
        }
    }
}

/// `--refund-watch-every`: whole seconds, at least one.
fn refund_watch_period(text: &str) -> Result<u64, String> {
    match text.trim().parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "the refund watch period is a whole number of seconds, at least 1 (not \"{text}\")"
        )),
    }
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

    fn serve_tunnel_args(args: &[&str]) -> TunnelArgs {
        let cli = Cli::try_parse_from([&["tillwatch", "serve"], args].concat()).unwrap();
        match cli.command {
            Some(Command::Serve { tunnel, .. }) => tunnel,
            other => panic!("not serve: {other:?}"),
        }
    }

    #[test]
    fn a_tunnel_missing_its_setting_is_refused_in_the_flags_words() {
        let missing = |args: &[&str]| {
            serve_tunnel_args(args)
                .choice()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(missing(&["--tunnel", "static"]).contains("--public-url"));
        assert!(missing(&["--tunnel", "bore"]).contains("--bore-relay"));
        let public =
            serve_tunnel_args(&["--tunnel", "static", "--public-url", "https://shop.example"]);
        match public.choice().unwrap() {
            TunnelChoice::Static { public_url } => assert_eq!(public_url, "https://shop.example"),
            _ => panic!("not static"),
        }
        assert!(matches!(
            serve_tunnel_args(&[]).choice().unwrap(),
            TunnelChoice::None
        ));
    }

    #[test]
    fn refund_watch_period_is_whole_seconds_from_one() {
        assert_eq!(refund_watch_period("2"), Ok(2));
        assert_eq!(refund_watch_period("3600"), Ok(3600));
        for bad in ["0", "", "soon", "1.5", "-1"] {
            let said = refund_watch_period(bad).unwrap_err();
            assert!(
                said.starts_with("the refund watch period is a whole number"),
                "{said}"
            );
        }
    }
}
