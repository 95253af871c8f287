//! The `serve` command's tunnel flags and what it prints about the tunnel.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use crate::tunnel::{
    ProviderKind, SupervisorConfig, SupervisorHooks, TunnelChoice, TunnelErrorKind, TunnelEvent,
    TunnelHandle, TunnelState, TunnelSupervisor,
};
use crate::App;

pub const ENV_TUNNEL: &str = "TILLWATCH_TUNNEL";
pub const ENV_PUBLIC_URL: &str = "TILLWATCH_PUBLIC_URL";
pub const ENV_BORE_RELAY: &str = "TILLWATCH_BORE_RELAY";
pub const ENV_NGROK_DOMAIN: &str = "TILLWATCH_NGROK_DOMAIN";
/// Secrets come from the environment only (never a flag, never logged).
pub const ENV_NGROK_AUTHTOKEN: &str = "TILLWATCH_NGROK_AUTHTOKEN";
pub const ENV_BORE_SECRET: &str = "TILLWATCH_BORE_SECRET";

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
    /// The choice these flags and the environment make, or what is missing.
    pub fn choice(&self) -> anyhow::Result<TunnelChoice> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Ok(match self.kind {
            ProviderKind::None => TunnelChoice::None,
            ProviderKind::Static => TunnelChoice::Static {
                public_url: self.public_url.clone().ok_or_else(|| {
                    anyhow::anyhow!("--tunnel static needs --public-url https://YOUR-HOST")
                })?,
            },
            ProviderKind::Ngrok => TunnelChoice::Ngrok {
                authtoken: env(ENV_NGROK_AUTHTOKEN).ok_or_else(|| {
                    anyhow::anyhow!(
                        "--tunnel ngrok needs your authtoken in {ENV_NGROK_AUTHTOKEN} (from the ngrok dashboard)"
                    )
                })?,
                domain: self.ngrok_domain.clone(),
            },
            ProviderKind::Bore => TunnelChoice::Bore {
                relay: self.bore_relay.clone().ok_or_else(|| {
                    anyhow::anyhow!("--tunnel bore needs --bore-relay HOST (your relay)")
                })?,
                secret: env(ENV_BORE_SECRET),
            },
        })
    }
}

/// Starts the tunnel for `serve` (or none), and prints on stdout each public webhook URL
/// ("public webhook URL: …"), each state change ("tunnel: …") and, prominently, what to
/// change in the Cashflows portal when the URL changed.
pub fn start(
    args: &TunnelArgs,
    app: &App,
    local: SocketAddr,
    webhook_path: &str,
    database: &Path,
) -> anyhow::Result<TunnelHandle> {
    let choice = args.choice()?;
    let Some(provider) = choice.provider().map_err(|e| anyhow::anyhow!("{e}"))? else {
        eprintln!("tunnel     none: only this computer can reach the listener (see --tunnel)");
        return Ok(TunnelHandle::local_only(format!(
            "http://{local}{webhook_path}"
        )));
    };
    let mut cfg = SupervisorConfig::new(local, webhook_path);
    cfg.url_file = Some(database.with_extension("tunnel-url.txt"));
    cfg.probe_every = Duration::from_secs(args.probe_every.max(1));
    let supervisor = TunnelSupervisor::new(provider, cfg, SupervisorHooks::for_app(app));
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

/// The state in words (empty: nothing to print); the retry countdown is left out so
/// repeated failures of the same kind print once.
fn state_line(state: &TunnelState) -> String {
    match state {
        TunnelState::Down {
            provider,
            reason,
            kind,
            ..
        } => {
            let hint = match kind {
                TunnelErrorKind::Refused | TunnelErrorKind::Misconfigured => {
                    " (retrying; fix the setting)"
                }
                _ => " (retrying)",
            };
            format!("DOWN ({provider}): {reason}{hint}")
        }
        // Retries are in the DOWN line already.
        TunnelState::Connecting {
            attempt: 2..,
            public_url: None,
            ..
        } => String::new(),
        TunnelState::Connecting {
            provider,
            public_url: None,
            ..
        } => format!("connecting ({provider})"),
        other => other.describe(),
    }
}
