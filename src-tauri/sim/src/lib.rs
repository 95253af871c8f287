//! A Cashflows gateway simulator: the gateway API with its request signature, the
//! hosted payment page's shoppers, and the notification sender with the gateway's
//! retry schedule, on a scaled clock.
//!
//! It stands in for an external system, so it talks HTTP only and shares no types
//! with the rest of the crate.
//!
//! Routes: the signed gateway API under `/api/gateway` (`POST /payment-jobs`,
//! `GET /payment-jobs/{job}`, `GET /payment-jobs/{job}/payments/{payment}`,
//! `PATCH /payment-jobs/{job}/cancel`, `HEAD /orders/{orderNumber}`, and money after
//! the payment: `POST …/payments/{payment}/captures`, `POST …/payments/{payment}/refunds`,
//! `PATCH …/payments/{payment}/cancel`), the hosted page `GET /hpp/{job}`, and unsigned
//! control routes under `/_sim/` (jobs, play, deliveries, series, requests, faults,
//! money switches, clock advance, portal refunds) for another process to drive it. Bind
//! it to loopback: the control routes have no authentication.
//!
//! Money follows the gateway's rules: a payment settles at the first midnight (UTC, sim
//! clock) after it was paid; before that it can only be cancelled, in full, from then on
//! only refunded, within paid minus completed and pending refunds. Anything else in the
//! wrong state is a `406`. Refunds never notify; captures do unless switched off.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use tillwatch_sim::{self as sim, Script, SimConfig};
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let handle = sim::start(listener, SimConfig::default()).await?;
//! let job = handle
//!     .create_job(sim::CreateJob {
//!         amount: "12.50".parse().unwrap(),
//!         currency: "GBP".into(),
//!         order_number: "A-1".into(),
//!         email: "shopper@example.com".into(),
//!         webhook_url: Some("http://127.0.0.1:8080/webhooks/cashflows".into()),
//!     })
//!     .unwrap();
//! handle.play(&job.reference, Script::PaysAtOnce);
//! # Ok(()) }
//! ```

mod api;
mod auth;
mod clock;
mod control;
mod deliveries;
mod demo;
mod faults;
mod handle;
mod ledger;
mod model;
mod money;
mod money_api;
mod money_settings;
mod notifier;
mod request;
mod shared;
mod shopper;

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

pub use auth::sign;
pub use clock::{format_wire, parse_wire, SimClock};
pub use deliveries::{DeliveryAttempt, SeriesRecord, SeriesState};
pub use demo::{demo_clock_start, demo_config, spawn_demo_traffic};
pub use faults::{Endpoint, Fault, FaultTarget};
pub use handle::{JobSnapshot, SimHandle, WaitTimeout};
pub use model::{
    Amount, BillingIdentity, Capture, ErrorItem, ErrorReport, Job, JobAttributes, NotificationBody,
    OperationStatus, Order, Payment, Refund, Status, Step,
};
pub use money_api::PortalRefused;
pub use money_settings::{MoneySettings, RefundMode};
pub use notifier::RetrySchedule;
pub use request::CreateJob;
pub use shopper::{Script, ShopperError};

use shared::Shared;

/// How the simulated gateway behaves.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The merchant's `ConfigurationId` header value.
    pub configuration_id: String,
    /// Accepted API keys (two during a key rotation); a request signed with any passes.
    pub api_keys: Vec<String>,
    /// Sim seconds per real second (1.0 real time; 1e6 makes a month last ~2.6 s).
    pub clock_scale: f64,
    /// What the sim clock reads at start (`None`: now), e.g. a fixed noon so that a
    /// test's payments are same-day until it advances the clock past midnight.
    pub clock_start: Option<time::OffsetDateTime>,
    /// Where to notify jobs created without a `WebhookUrl`.
    pub default_webhook_url: Option<String>,
    /// Failed payments after which a job is Failed (the real limit is unpublished).
    pub attempt_limit: u32,
    pub retry_schedule: RetrySchedule,
    /// Sim time between a shopper's steps.
    pub step_gap: Duration,
    /// Real-time limit for one notification POST.
    pub notify_timeout: Duration,
    /// Auto-capture, capture notifications and how refunds end (changeable while running).
    pub money: MoneySettings,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            configuration_id: "sim-config".to_owned(),
            api_keys: vec!["sim-api-key".to_owned()],
            clock_scale: 1.0,
            clock_start: None,
            default_webhook_url: None,
            attempt_limit: 3,
            retry_schedule: RetrySchedule::default(),
            step_gap: Duration::from_secs(2),
            notify_timeout: Duration::from_secs(10),
            money: MoneySettings::default(),
        }
    }
}

impl SimConfig {
    fn check(&self) -> io::Result<()> {
        let invalid = |msg: String| Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
        if !(self.clock_scale.is_finite() && self.clock_scale > 0.0) {
            return invalid(format!("clock_scale must be > 0, got {}", self.clock_scale));
        }
        if self.api_keys.is_empty() {
            return invalid("at least one API key is needed".to_owned());
        }
        if self.attempt_limit == 0 {
            return invalid("attempt_limit must be at least 1".to_owned());
        }
        self.retry_schedule.check().or_else(invalid)
    }
}

/// Serve the simulator on `listener` until `SimHandle::shutdown`.
pub async fn start(listener: TcpListener, config: SimConfig) -> io::Result<SimHandle> {
    config.check()?;
    let addr = listener.local_addr()?;
    // A wildcard bind is still reached on loopback.
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let base_url = format!("http://{}", std::net::SocketAddr::new(ip, addr.port()));
    let http = reqwest::Client::builder()
        .timeout(config.notify_timeout)
        // A redirect is not a 200: the gateway does not follow it.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("tillwatch-sim (Cashflows gateway simulator)")
        .build()
        .map_err(io::Error::other)?;
    let shared = Arc::new(Shared {
        clock: Mutex::new(match config.clock_start {
            Some(start) => SimClock::starting_at(start, config.clock_scale),
            None => SimClock::new(config.clock_scale),
        }),
        money: Mutex::new(money_settings::MoneySwitches::new(config.money.clone())),
        config,
        base_url,
        ledger: Mutex::new(ledger::Ledger::new()),
        faults: Mutex::default(),
        log: Mutex::default(),
        http,
        changed: watch::Sender::new(0),
        shutdown: watch::Sender::new(false),
    });
    let handle = SimHandle {
        shared: shared.clone(),
        server: Arc::new(Mutex::new(None)),
    };
    let app = api::router(shared.clone())
        .merge(money_api::router(shared.clone()))
        .merge(control::router(handle.clone()))
        .fallback(api::not_found);
    let stopped = shared.stopped();
    let server = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stopped)
            .await
        {
            tracing::error!(error = %e, "sim: server failed");
        }
    });
    *shared::lock(&handle.server) = Some(server);
    Ok(handle)
}

/// `start`, then shut down when `signal` resolves.
pub async fn start_with_shutdown(
    listener: TcpListener,
    config: SimConfig,
    signal: impl Future<Output = ()> + Send + 'static,
) -> io::Result<SimHandle> {
    let handle = start(listener, config).await?;
    let stopper = handle.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = signal => stopper.shutdown().await,
            _ = stopper.shared.stopped() => {}
        }
    });
    Ok(handle)
}
