//! The one place that maps core events to window events, desktop alerts and the tray.
//! Nothing else in the app calls `emit`.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tauri::{AppHandle, Emitter, Manager, Runtime};
use tokio::sync::broadcast::error::RecvError;

use super::services::{DesktopState, Running};
use super::tray;
use crate::bindings::{EVENT_HEALTH_CHANGED, EVENT_ORDER_CHANGED, EVENT_TUNNEL_URL_CHANGED};
use crate::domain::{ChangeSource, Outcome};
use crate::pipeline::CoreEvent;
use crate::tunnel::TunnelEvent;

/// Forwards the running core's events to the window until those services stop.
pub fn forward<R: Runtime>(handle: AppHandle<R>, running: &Running) {
    let mut events = running.app.events();
    let observed = running.observed.clone();
    let alerts_on = running.settings.alerts;
    let mut breaker = running.gateway.breaker().subscribe();
    let mut tunnel = running.tunnel.subscribe();
    tauri::async_runtime::spawn(async move {
        // The backlog and "last notification" move without a core event of their own
        // when a confirmation settles; a slow tick keeps the health bar honest.
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Ok(event) => on_core_event(&handle, &observed, alerts_on, event).await,
                    Err(RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "window fell behind the core's events");
                        emit_health(&handle).await;
                    }
                    Err(RecvError::Closed) => break,
                },
                changed = breaker.changed() => {
                    if changed.is_err() { break; }
                    emit_health(&handle).await;
                }
                _ = tick.tick() => emit_health(&handle).await,
                event = tunnel.recv() => match event {
                    Ok(TunnelEvent::UrlChanged(change)) => {
                        let _ = handle.emit(EVENT_TUNNEL_URL_CHANGED, &change);
                        emit_health(&handle).await;
                    }
                    Ok(_) | Err(RecvError::Lagged(_)) => emit_health(&handle).await,
                    // Local only: no tunnel will ever speak; keep serving the rest.
                    Err(RecvError::Closed) => tunnel = tokio::sync::broadcast::channel(1).1,
                },
            }
        }
    });
}

async fn on_core_event<R: Runtime>(
    handle: &AppHandle<R>,
    observed: &std::sync::Arc<std::sync::Mutex<super::services::Observed>>,
    alerts_on: bool,
    event: CoreEvent,
) {
    let state = handle.state::<DesktopState>();
    match &event {
        CoreEvent::OrderChanged {
            order,
            previous_status,
            status_changed,
            source,
        } => {
            if let Err(e) = handle.emit(EVENT_ORDER_CHANGED, &event) {
                tracing::warn!(error = %e, "could not tell the window");
            }
            tracing::debug!(job = %order.payment_job_reference, "order change sent to the window");
            if *status_changed && *source != ChangeSource::Owner {
                // One decision for the tray and the alert, by outcome class.
                if let Some(outcome) = state.alerts.news(order, previous_status.as_ref()) {
                    if outcome == Outcome::Paid {
                        let n = state.unseen.fetch_add(1, Ordering::Relaxed) + 1;
                        tray::set_unseen(handle, n);
                    }
                    state.alerts.show(order, alerts_on);
                }
            }
        }
        CoreEvent::DeliveryReceived { received_at } => {
            if let Ok(mut o) = observed.lock() {
                o.last_notification_at = Some(received_at.to_string());
            }
        }
        CoreEvent::DeliverySettled { .. } => {}
        CoreEvent::ReconcileFinished(report) => {
            if let Ok(mut o) = observed.lock() {
                o.last_reconcile_at = Some(report.at.to_string());
                o.last_reconcile_caught_up = Some(report.caught_up as u32);
            }
        }
    }
    emit_health(handle).await;
}

pub async fn emit_health<R: Runtime>(handle: &AppHandle<R>) {
    let health = handle.state::<DesktopState>().health().await;
    let _ = handle.emit(EVENT_HEALTH_CHANGED, &health);
}
