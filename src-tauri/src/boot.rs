//! One start-up path for `tillwatch serve` and the window: the store the orders are kept
//! in, the gateway (the real one, or the demo simulator started here), the tunnel that
//! lets the gateway reach this computer, and the file where that tunnel remembers its
//! public URL. Each face words its own errors and prints its own lines; what is started,
//! and how, is decided here once.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tillwatch_store_postgres::{DatabaseConfig, Password};
use tillwatch_stores::OpenError;
use tokio::net::TcpListener;

use crate::config::{Credentials, Mode};
use crate::gateway::{ApiKey, GatewayClient, GatewayConfig, GatewayEnvironment, GatewayError};
use crate::tunnel::{
    ProviderKind, SupervisorConfig, SupervisorHooks, TunnelChoice, TunnelError, TunnelSupervisor,
};
use crate::{sim, App, Backend};

/// The tunnel's secrets in the environment (servers, tests); the window's settings keep
/// them in the OS keyring otherwise. Never a flag, never logged.
pub const ENV_NGROK_AUTHTOKEN: &str = "TILLWATCH_NGROK_AUTHTOKEN";
pub const ENV_BORE_SECRET: &str = "TILLWATCH_BORE_SECRET";

/// What the file next to the database that remembers the tunnel's public base URL ends
/// in (`demo.db` → `demo.tunnel-url.txt`).
const TUNNEL_URL_FILE: &str = "tunnel-url.txt";

/// Where the tunnel of the process serving `database` remembers the public base URL it
/// last reported, for `tillwatch link create` run beside it.
pub fn tunnel_url_file(database: &Path) -> PathBuf {
    database.with_extension(TUNNEL_URL_FILE)
}

/// The shared database at `shared_url` when one is named, else the file `file`. A shared
/// database's password comes from the URL or the environment, else from
/// `keyring_password` (awaited only then).
pub async fn open_store(
    shared_url: Option<&str>,
    keyring_password: impl Future<Output = Option<String>>,
    file: &Path,
) -> Result<Backend, OpenError> {
    match shared_url {
        Some(url) => {
            let mut config = DatabaseConfig::from_url_and_env(url)?;
            if !config.has_password() {
                if let Some(password) = keyring_password.await {
                    config = config.with_password(Password::new(password));
                }
            }
            Backend::connect_with(config).await
        }
        None => Backend::open_file(file),
    }
}

/// The one place a gateway client is configured.
pub fn gateway_client(
    environment: GatewayEnvironment,
    creds: Credentials,
) -> Result<GatewayClient, GatewayError> {
    GatewayClient::new(GatewayConfig::new(
        environment,
        creds.configuration_id,
        creds.api_key,
    ))
}

/// The credentials the demo simulator configured by `config` accepts.
pub fn demo_credentials(config: &sim::SimConfig) -> Credentials {
    Credentials {
        configuration_id: config.configuration_id.clone(),
        api_key: ApiKey::new(config.api_keys[0].clone()),
    }
}

/// How a face runs the demo gateway when it has no credentials.
pub struct Demo {
    /// Where the simulator sends notifications: this process's listener, if it has one.
    pub webhook_url: Option<String>,
    /// Time between one step of a demo payment and the next.
    pub step_gap: Duration,
    /// How often a demo shopper pays; `None`: no shoppers (a window that does not serve).
    pub shoppers_every: Option<Duration>,
}

/// The gateway this process talks to.
pub struct Gateway {
    pub environment: GatewayEnvironment,
    pub client: GatewayClient,
    /// The simulator playing the gateway, when this process started one (stop it last).
    pub demo_sim: Option<sim::SimHandle>,
}

/// The real gateway `mode` names, with `creds`; or, in demo mode, a simulator started on
/// a free local port, playing shoppers as `demo` says.
pub async fn start_gateway(
    mode: &Mode,
    creds: Option<Credentials>,
    demo: Demo,
) -> anyhow::Result<Gateway> {
    let (environment, creds, demo_sim) = match (mode, creds) {
        (Mode::Demo, _) => {
            let sim_tcp = TcpListener::bind("127.0.0.1:0").await?;
            // The demo's clock starts late in the evening, so that its portal refunds
            // (made after the midnight settlement) show within minutes (see sim's demo).
            let config = sim::demo_config(sim::SimConfig {
                default_webhook_url: demo.webhook_url,
                step_gap: demo.step_gap,
                ..sim::SimConfig::default()
            });
            let creds = demo_credentials(&config);
            let handle = sim::start(sim_tcp, config).await?;
            if let Some(every) = demo.shoppers_every {
                sim::spawn_demo_traffic(handle.clone(), every);
            }
            (
                GatewayEnvironment::Custom(handle.base_url()),
                creds,
                Some(handle),
            )
        }
        (Mode::Gateway(env), Some(creds)) => (env.clone(), creds, None),
        (Mode::Gateway(_), None) => anyhow::bail!("credentials are required for a real gateway"),
    };
    let client = gateway_client(environment.clone(), creds)?;
    Ok(Gateway {
        environment,
        client,
        demo_sim,
    })
}

/// The tunnel the owner asked for (by flags or in the settings), with its secrets.
#[derive(Debug, Clone)]
pub struct TunnelWanted {
    pub kind: ProviderKind,
    pub public_url: Option<String>,
    pub bore_relay: Option<String>,
    pub ngrok_domain: Option<String>,
    pub ngrok_authtoken: Option<String>,
    pub bore_secret: Option<String>,
}

impl TunnelWanted {
    /// The tunnel this asks for. A setting left out stays empty, for the provider to say
    /// what is missing.
    pub fn choice(&self) -> TunnelChoice {
        match self.kind {
            ProviderKind::None => TunnelChoice::None,
            ProviderKind::Static => TunnelChoice::Static {
                public_url: self.public_url.clone().unwrap_or_default(),
            },
            ProviderKind::Ngrok => TunnelChoice::Ngrok {
                authtoken: self.ngrok_authtoken.clone().unwrap_or_default(),
                domain: self.ngrok_domain.clone(),
            },
            ProviderKind::Bore => TunnelChoice::Bore {
                relay: self.bore_relay.clone().unwrap_or_default(),
                secret: self.bore_secret.clone(),
            },
        }
    }
}

/// The supervisor (not yet spawned) of the tunnel `choice` names, to the listener at
/// `local`; it remembers its public URL in `tunnel_url_file(database)`. `None`: no tunnel
/// is wanted. `probe_every`: the end-to-end check's period, else the supervisor's own.
pub fn tunnel_supervisor(
    choice: &TunnelChoice,
    app: &App,
    local: SocketAddr,
    webhook_path: &str,
    database: &Path,
    probe_every: Option<Duration>,
) -> Result<Option<TunnelSupervisor>, TunnelError> {
    let Some(provider) = choice.provider()? else {
        return Ok(None);
    };
    let mut cfg = SupervisorConfig::new(local, webhook_path);
    cfg.url_file = Some(tunnel_url_file(database));
    if let Some(every) = probe_every {
        cfg.probe_every = every;
    }
    Ok(Some(TunnelSupervisor::new(
        provider,
        cfg,
        SupervisorHooks::for_app(app),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted(kind: ProviderKind) -> TunnelWanted {
        TunnelWanted {
            kind,
            public_url: None,
            bore_relay: None,
            ngrok_domain: None,
            ngrok_authtoken: None,
            bore_secret: None,
        }
    }

    #[test]
    fn the_tunnel_url_file_sits_beside_the_database() {
        assert_eq!(
            tunnel_url_file(Path::new("/d/demo.db")),
            Path::new("/d/demo.tunnel-url.txt")
        );
    }

    #[test]
    fn a_tunnel_choice_carries_what_was_asked_and_leaves_the_rest_empty() {
        assert!(matches!(
            wanted(ProviderKind::None).choice(),
            TunnelChoice::None
        ));
        match wanted(ProviderKind::Static).choice() {
            TunnelChoice::Static { public_url } => assert_eq!(public_url, ""),
            _ => panic!("not static"),
        }
        let bore = TunnelWanted {
            bore_relay: Some("relay.example".into()),
            bore_secret: Some("s".into()),
            ..wanted(ProviderKind::Bore)
        };
        match bore.choice() {
            TunnelChoice::Bore { relay, secret } => {
                assert_eq!(relay, "relay.example");
                assert_eq!(secret.as_deref(), Some("s"));
            }
            _ => panic!("not bore"),
        }
        let ngrok = TunnelWanted {
            ngrok_domain: Some("shop.ngrok-free.app".into()),
            ..wanted(ProviderKind::Ngrok)
        };
        match ngrok.choice() {
            TunnelChoice::Ngrok { authtoken, domain } => {
                assert_eq!(authtoken, "");
                assert_eq!(domain.as_deref(), Some("shop.ngrok-free.app"));
            }
            _ => panic!("not ngrok"),
        }
        // A missing setting is for the provider to word.
        assert!(wanted(ProviderKind::Static).choice().provider().is_err());
    }

    #[test]
    fn demo_credentials_are_the_simulators() {
        let config = sim::SimConfig::default();
        let creds = demo_credentials(&config);
        assert_eq!(creds.configuration_id, config.configuration_id);
    }
}
