//! The one place that maps core events to window events, desktop alerts and the tray.
//! Nothing else in the app calls `emit`.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tauri::{AppHandle, Emitter, Manager, Runtime};
use tokio::sync::broadcast::error::RecvError;

use super::coalesce::Batcher;
use super::services::{Observed, Running};
use super::state::DesktopState;
use super::tray;
use crate::bindings::{
    EVENT_HEALTH_CHANGED, EVENT_ORDERS_CHANGED, EVENT_ORDERS_MISSED, EVENT_TUNNEL_URL_CHANGED,
};
use crate::domain::{ChangeSource, Outcome};
use crate::pipeline::CoreEvent;
use crate::tunnel::TunnelEvent;

/// How long health may lag the change that moved it: a burst of payments sends one.
const HEALTH_GAP: Duration = Duration::from_millis(250);

/// Starts (or restarts) the services on the saved settings, their events forwarded to the
/// window, and tells the window the health they start with.
pub async fn start_services<R: Runtime>(handle: &AppHandle<R>) {
    let state = handle.state::<DesktopState>();
    state
        .start(|running| forward(handle.clone(), running))
        .await;
    emit_health(handle).await;
}

/// Forwards the running core's events to the window until those services stop.
fn forward<R: Runtime>(handle: AppHandle<R>, running: &Running) {
    let mut events = running.app.events();
    let observed = running.observed.clone();
    let alerts_on = running.settings.alerts;
    let mut breaker = running.gateway.breaker().subscribe();
    let mut tunnel = running.tunnel.subscribe();
    tauri::async_runtime::spawn(async move {
        // The backlog and "last notification" move without a core event of their own
        // when a confirmation settles; a slow tick keeps the health bar honest.
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        let mut orders = Batcher::default();
        let mut health_due: Option<Instant> = None;
        loop {
            let orders_due = orders.due();
            tokio::select! {
                event = events.recv() => match event {
                    Ok(event) => {
                        if let Some(batch) = on_core_event(&handle, &observed, alerts_on, &mut orders, event) {
                            send_orders(&handle, batch);
                        }
                        health_soon(&mut health_due);
                    }
                    Err(RecvError::Lagged(n)) => {
                        // Which orders changed is lost: what the window shows is read
                        // again, after the changes already on their way.
                        tracing::warn!(missed = n, "window fell behind the core's events; reloading it");
                        let on_their_way = orders.take(Instant::now());
                        if !on_their_way.is_empty() {
                            send_orders(&handle, on_their_way);
                        }
                        if let Err(e) = handle.emit(EVENT_ORDERS_MISSED, n) {
                            tracing::warn!(error = %e, "could not tell the window");
                        }
                        health_soon(&mut health_due);
                    }
                    Err(RecvError::Closed) => break,
                },
                () = at(orders_due) => send_orders(&handle, orders.take(Instant::now())),
                () = at(health_due) => {
                    health_due = None;
                    emit_health(&handle).await;
                }
                changed = breaker.changed() => {
                    if changed.is_err() { break; }
                    health_soon(&mut health_due);
                }
                _ = tick.tick() => health_soon(&mut health_due),
                event = tunnel.recv() => match event {
                    Ok(TunnelEvent::UrlChanged(change)) => {
                        let _ = handle.emit(EVENT_TUNNEL_URL_CHANGED, &change);
                        health_soon(&mut health_due);
                    }
                    Ok(_) | Err(RecvError::Lagged(_)) => health_soon(&mut health_due),
                    // Local only: no tunnel will ever speak; keep serving the rest.
                    Err(RecvError::Closed) => tunnel = tokio::sync::broadcast::channel(1).1,
                },
            }
        }
    });
}

/// Health is due `HEALTH_GAP` after the first change since it was last sent.
fn health_soon(due: &mut Option<Instant>) {
    due.get_or_insert_with(|| Instant::now() + HEALTH_GAP);
}

/// Waits until `when`, or for ever when there is nothing to wait for.
async fn at(when: Option<Instant>) {
    match when {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

fn send_orders<R: Runtime>(handle: &AppHandle<R>, batch: Vec<CoreEvent>) {
    if let Err(e) = handle.emit(EVENT_ORDERS_CHANGED, &batch) {
        tracing::warn!(error = %e, "could not tell the window");
    }
    tracing::debug!(orders = batch.len(), "order changes sent to the window");
}

/// Alerts and the tray at once; the order change joins a batch for the window, which is
/// returned when it is due now.
fn on_core_event<R: Runtime>(
    handle: &AppHandle<R>,
    observed: &std::sync::Arc<std::sync::Mutex<Observed>>,
    alerts_on: bool,
    orders: &mut Batcher<CoreEvent>,
    event: CoreEvent,
) -> Option<Vec<CoreEvent>> {
    let state = handle.state::<DesktopState>();
    match &event {
        CoreEvent::OrderChanged {
            order,
            previous_status,
            status_changed,
            source,
        } => {
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
            let key = order.payment_job_reference.to_string();
            return orders.offer(&key, event, Instant::now());
        }
        CoreEvent::DeliveryReceived { received_at } => {
            if let Ok(mut o) = observed.lock() {
                o.last_notification_at = Some(received_at.to_string());
            }
        }
        CoreEvent::DeliverySettled { .. } => {}
        CoreEvent::MoneyMoved { order, words, .. } => {
            state.alerts.show_money(order, words, alerts_on);
        }
        CoreEvent::ReconcileFinished(report) => {
            if let Ok(mut o) = observed.lock() {
                o.last_reconcile_at = Some(report.at.to_string());
                o.last_reconcile_caught_up = Some(report.caught_up as u32);
            }
        }
    }
    None
}

/// Sends the health to the window unless it is what the window was last sent.
pub async fn emit_health<R: Runtime>(handle: &AppHandle<R>) {
    let state = handle.state::<DesktopState>();
    let health = state.health().await;
    let Ok(serialized) = serde_json::to_string(&health) else {
        return;
    };
    let new = state
        .sent_health
        .lock()
        .map(|mut sent| sent.is_new(serialized))
        .unwrap_or(true);
    if new {
        let _ = handle.emit(EVENT_HEALTH_CHANGED, &health);
    }
}
