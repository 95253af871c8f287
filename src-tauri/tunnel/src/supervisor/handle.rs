//! The faces' view of a tunnel: its state, its events, the last change of its URL, and
//! how to stop it. The supervisor (the parent module) is the one that moves it.

use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::state::{TunnelEvent, TunnelState, UrlChange};

pub(super) struct Shared {
    pub(super) state: watch::Sender<TunnelState>,
    pub(super) events: broadcast::Sender<TunnelEvent>,
    pub(super) last_url_change: Mutex<Option<UrlChange>>,
    pub(super) stop: watch::Sender<bool>,
    pub(super) task: Mutex<Option<JoinHandle<()>>>,
}

/// The faces' view of the tunnel. Cheap to clone.
#[derive(Clone)]
pub struct TunnelHandle {
    pub(super) shared: Arc<Shared>,
}

impl TunnelHandle {
    pub(super) fn with_state(state: TunnelState) -> Self {
        Self {
            shared: Arc::new(Shared {
                state: watch::Sender::new(state),
                events: broadcast::channel(256).0,
                last_url_change: Mutex::new(None),
                stop: watch::Sender::new(false),
                task: Mutex::new(None),
            }),
        }
    }

    /// No tunnel: the listener is reachable from this machine only (the demo).
    pub fn local_only(local_webhook_url: impl Into<String>) -> Self {
        Self::with_state(TunnelState::LocalOnly {
            local_webhook_url: local_webhook_url.into(),
        })
    }

    pub fn state(&self) -> TunnelState {
        self.shared.state.borrow().clone()
    }

    /// The state as a watch: `changed().await` on every new state.
    pub fn watch(&self) -> watch::Receiver<TunnelState> {
        self.shared.state.subscribe()
    }

    /// State changes, URL changes and wake-ups from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<TunnelEvent> {
        self.shared.events.subscribe()
    }

    /// The last URL change this run, for a window opened after it happened.
    pub fn last_url_change(&self) -> Option<UrlChange> {
        lock(&self.shared.last_url_change).clone()
    }

    /// The address Cashflows should post to, while it is reachable.
    pub fn webhook_url(&self) -> Option<String> {
        self.shared.state.borrow().webhook_url().map(str::to_owned)
    }

    /// Waits until the state satisfies `pred` (or the supervisor is gone).
    pub async fn wait_for(&self, pred: impl FnMut(&TunnelState) -> bool) -> TunnelState {
        let mut rx = self.watch();
        let got = rx.wait_for(pred).await.map(|s| s.clone());
        got.unwrap_or_else(|_| self.state())
    }

    /// Closes the tunnel and stops the supervisor; waits for it. Idempotent.
    pub async fn shutdown(&self) {
        self.shared.stop.send_replace(true);
        let task = lock(&self.shared.task).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }

    pub(super) fn publish(&self, state: TunnelState) {
        match &state {
            TunnelState::Down { reason, .. } => tracing::warn!("tunnel down: {reason}"),
            s => tracing::info!("tunnel: {}", s.describe()),
        }
        self.shared.state.send_replace(state.clone());
        let _ = self.shared.events.send(TunnelEvent::StateChanged { state });
    }

    pub(super) fn emit(&self, event: TunnelEvent) {
        if let TunnelEvent::UrlChanged(change) = &event {
            tracing::warn!("{}", change.message);
            *lock(&self.shared.last_url_change) = Some(change.clone());
        }
        let _ = self.shared.events.send(event);
    }
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
