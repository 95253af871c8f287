//! The managed service behind the window's commands: the running services (started on
//! the saved settings, restarted when they change), the health bar they feed, and the
//! few operations that need more than the core API. A command is an adapter over these.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use tokio::sync::{watch, RwLock, RwLockReadGuard};

use super::alerts::Alerts;
use super::secrets;
use super::services::{start_services, Running};
use crate::app::AppError;
use crate::domain::{DeliveryState, JobRef, OrderDetail};
use crate::gateway::GatewayClient;
use crate::ipc::{ConnectionTest, Health};
use crate::links::NewPaymentLink;
use crate::settings::Settings;
use crate::store::Inbox;
use crate::tunnel::UrlChange;
use crate::{App, Backend};

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

    /// The core API and the gateway client of the running services.
    async fn app_and_gateway(&self) -> Result<(App, GatewayClient), AppError> {
        let guard = self.running().await;
        let r = guard.as_ref().ok_or_else(not_running)?;
        Ok((r.app.clone(), r.gateway.clone()))
    }

    /// Ships an order, despite a mismatch when the owner gave a reason ("Ship anyway…").
    pub async fn ship(
        &self,
        job_ref: &str,
        note: Option<String>,
        override_reason: Option<String>,
    ) -> Result<OrderDetail, AppError> {
        let app = self.app().await?;
        match override_reason {
            Some(reason) => app.ship_despite_mismatch(job_ref, note, reason).await,
            None => app.ship(job_ref, note).await,
        }
    }

    /// "Test connection": the saved credentials (the demo's in demo mode) against the
    /// gateway the services talk to.
    pub async fn test_connection(&self) -> Result<ConnectionTest, AppError> {
        let running = {
            let guard = self.running().await;
            let Some(r) = guard.as_ref() else {
                return Ok(ConnectionTest {
                    ok: false,
                    message: not_running().to_string(),
                });
            };
            r.gateway.clone()
        };
        let (creds, _, problem) = secrets::load_off_runtime().await;
        let creds = match creds {
            Some(c) => c,
            None if self.health().await.demo => {
                crate::boot::demo_credentials(&crate::sim::SimConfig::default())
            }
            None => {
                return Ok(ConnectionTest {
                    ok: false,
                    message: problem
                        .unwrap_or_else(|| "No configuration ID and API key are set.".into()),
                })
            }
        };
        Ok(
            crate::app::test_connection(&running, creds.configuration_id, creds.api_key)
                .await?
                .into(),
        )
    }

    /// Creates the job at the gateway, telling it to notify the webhook URL in use now.
    pub async fn create_payment_link(
        &self,
        input: NewPaymentLink,
    ) -> Result<OrderDetail, AppError> {
        let (app, gateway, webhook_url, returns, max_amount) = {
            let guard = self.running().await;
            let r = guard.as_ref().ok_or_else(not_running)?;
            let url = r.public_webhook_url().ok_or_else(|| {
                AppError::Invalid("the listener is not running, so the gateway could not notify us: fix it in Settings first".into())
            })?;
            let max_amount = r
                .settings
                .max_link_amount()
                .map_err(|e| AppError::Invalid(e.to_string()))?;
            (
                r.app.clone(),
                r.gateway.clone(),
                url,
                r.settings.return_urls.clone(),
                max_amount,
            )
        };
        app.create_payment_link(&gateway, input, &webhook_url, &returns, max_amount)
            .await
    }

    pub async fn cancel_payment_link(&self, job: &JobRef) -> Result<OrderDetail, AppError> {
        let (app, gateway) = self.app_and_gateway().await?;
        app.cancel_payment_link(&gateway, job).await
    }

    /// The last change of the public URL this run (for a window opened after it).
    pub async fn url_change(&self) -> Option<UrlChange> {
        self.running()
            .await
            .as_ref()
            .and_then(|r| r.tunnel.last_url_change())
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
}
