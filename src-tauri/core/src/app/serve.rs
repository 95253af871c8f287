//! Serving: the listener, confirm worker, reconciler, refund watch, breaker probe and pruning run
//! together until shutdown; and, on a shared store, following the changes other
//! processes make.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};

use super::Tillwatch;
use crate::domain::DeliveryPolicy;
use crate::gateway::{GatewayClient, ProbeSchedule};
use crate::listener;
use crate::pipeline::{
    keep_probing, ConfirmWorker, ConfirmWorkerConfig, CoreEvent, CredentialCheck, GatewaySlots,
    Reconciler, ReconcilerConfig, RefundWatch, RefundWatchConfig,
};
use crate::store::{ChangeCursor, RemoteChange, RemoteChanges, Store};

/// Changes read back from the shared store's log per request, when a follower fell behind.
const CATCH_UP_PAGE: u32 = 500;

/// Serving options: what the listener, worker and reconciler need beyond the core.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub webhook_secret: Option<String>,
    /// Gateway requests in flight at once.
    pub concurrency: usize,
    pub reconcile_every: Duration,
    /// How often the refund watch re-asks about orders paid in the last 2 days (older
    /// ones within 30 days: daily). Refunds send no notification.
    pub refund_watch_every: Duration,
    /// When to ask the gateway again about a delivery, and when to give up on it.
    pub delivery_policy: DeliveryPolicy,
    /// Timeouts, connection cap and shutdown grace of the webhook listener.
    pub limits: listener::ServeLimits,
    /// Allow-list, trusted proxies and per-source junk limit of the webhook listener.
    pub sources: listener::SourcePolicy,
    /// How long settled deliveries are kept (pruned at start, then daily).
    pub delivery_retention: Duration,
    /// How long the confirm worker's hold on a notification lasts after its last read: what
    /// another `serve` on a shared store waits before it takes over from a stopped one.
    pub claim_lease: Duration,
    /// When an open breaker is probed with one signed read, to resume calls by itself.
    pub probe: ProbeSchedule,
}

/// The refund watch's period for the most recent orders unless the owner says otherwise.
pub const DEFAULT_REFUND_WATCH_EVERY: Duration = Duration::from_secs(3_600);

/// Settled deliveries are kept this long unless the owner says otherwise.
pub const DEFAULT_DELIVERY_RETENTION_DAYS: u32 = 90;

/// Days as a retention period.
pub fn retention_days(days: u32) -> Duration {
    Duration::from_secs(u64::from(days) * 86_400)
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            webhook_secret: None,
            concurrency: 8,
            reconcile_every: Duration::from_secs(300),
            refund_watch_every: DEFAULT_REFUND_WATCH_EVERY,
            delivery_policy: DeliveryPolicy::default(),
            limits: listener::ServeLimits::default(),
            sources: listener::SourcePolicy::default(),
            delivery_retention: retention_days(DEFAULT_DELIVERY_RETENTION_DAYS),
            claim_lease: Duration::from_secs(120),
            probe: ProbeSchedule::default(),
        }
    }
}

impl<S: Store> Tillwatch<S> {
    /// Tells this process's faces about the order changes other processes commit to a
    /// shared store, as if it had made them, until `stop`. Returns at once where no other
    /// process writes to the store (SQLite). Each change is told once: one this follower
    /// fell behind on is read back from the store's change log.
    pub async fn follow_others(&self, stop: impl Future<Output = ()>) {
        let Some(RemoteChanges {
            mut receiver,
            after,
        }) = self.store.remote_changes()
        else {
            return;
        };
        let mut cursor = ChangeCursor::after(after);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                change = receiver.recv() => match change {
                    Ok(change) => {
                        if cursor.take(change.seq, tokio::time::Instant::now()) {
                            self.publish_remote(change).await;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::info!(missed, "fell behind other processes' changes; reading them back");
                        self.catch_up(&mut cursor).await;
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
            }
        }
    }

    /// Tells the changes in the log after the cursor that it has not handled, in order.
    async fn catch_up(&self, cursor: &mut ChangeCursor) {
        let mut from = cursor.floor();
        loop {
            let page = match self.store.changes_after(from, CATCH_UP_PAGE).await {
                Ok(page) => page,
                Err(e) => {
                    // What is left is told by the next change's reload of its order only.
                    tracing::warn!(code = e.code(), error = %e, "cannot read back the changes this window missed");
                    return;
                }
            };
            for logged in &page {
                from = logged.change.seq;
                if cursor.take(from, tokio::time::Instant::now()) && !logged.ours {
                    self.publish_remote(logged.change.clone()).await;
                }
            }
            if page.len() < CATCH_UP_PAGE as usize {
                return;
            }
        }
    }

    async fn publish_remote(&self, change: RemoteChange) {
        match self.store.order(&change.job_ref).await {
            Ok(Some(detail)) => self.bus.publish(CoreEvent::OrderChanged {
                order: Box::new(detail.summary),
                previous_status: change.previous_status,
                status_changed: change.status_changed,
                source: change.source,
            }),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(code = e.code(), error = %e, job = %change.job_ref, "cannot read an order another process changed")
            }
        }
    }

    /// Runs the listener, confirm worker and reconciler until `shutdown` resolves.
    pub async fn serve(
        &self,
        gateway: GatewayClient,
        tcp: TcpListener,
        opts: ServeOptions,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let stopped = move || {
            let mut rx = stop_rx.clone();
            async move {
                let _ = rx.wait_for(|s| *s).await;
            }
        };
        // A store only this process writes to: what a killed run held is free at once.
        if self.store.remote_changes().is_none() {
            match self.store.release_claims().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deliveries = n, "taking over what the last run held"),
                Err(e) => tracing::error!(code = e.code(), error = %e, "cannot release old claims"),
            }
        }
        // Credentials may have changed since these were settled: a 404 may have meant
        // "wrong account", not "forged". Ask again.
        match self.store.reopen_unknown().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                deliveries = n,
                "asking the gateway again about unknown references"
            ),
            Err(e) => {
                tracing::error!(code = e.code(), error = %e, "cannot re-open unknown deliveries")
            }
        }
        let slots = GatewaySlots::new(opts.concurrency);
        let bus = self.bus.clone();
        let confirm_now = Arc::clone(&self.confirm_now);
        let on_delivery: listener::OnDelivery = Arc::new(move || {
            confirm_now.notify_one();
            bus.publish(CoreEvent::DeliveryReceived {
                received_at: crate::domain::Timestamp::now(),
            });
        });
        // Allow-list and junk limit before a notification reaches the write queue; tunnel
        // probes' nonces noted (adds no route and changes no answer).
        let listener = listener::Listener::new(
            self.store.clone(),
            opts.webhook_secret.as_deref(),
            opts.sources,
            on_delivery,
        )
        .map_router(|r| self.probes.layer(r));
        let mut worker_cfg = ConfirmWorkerConfig {
            slots: slots.clone(),
            policy: opts.delivery_policy,
            on_unknown_reference: Some(listener.on_unknown_reference()),
            ..ConfirmWorkerConfig::new(opts.concurrency)
        };
        worker_cfg.claim.lease = opts.claim_lease;
        let worker = ConfirmWorker::new(
            self.store.clone(),
            gateway.clone(),
            self.bus.clone(),
            worker_cfg,
        )
        .waking_on(Arc::clone(&self.confirm_now));
        let reconciler = Reconciler::new(
            self.store.clone(),
            gateway.clone(),
            self.bus.clone(),
            ReconcilerConfig {
                interval: opts.reconcile_every,
                slots: slots.clone(),
            },
        );
        let refund_watch = RefundWatch::new(
            self.store.clone(),
            reconciler.clone(),
            RefundWatchConfig {
                recent_every: opts.refund_watch_every,
                ..RefundWatchConfig::new(slots)
            },
        );
        let probing_task = {
            let check = CredentialCheck::new(self.store.clone(), gateway.clone());
            tokio::spawn(keep_probing(
                gateway.breaker().clone(),
                opts.probe,
                move || {
                    let check = check.clone();
                    async move { check.probe().await }
                },
                stopped(),
            ))
        };
        let reconcile_asked = {
            let reconciler = reconciler.clone();
            let asked = Arc::clone(&self.reconcile_now);
            let stop = stopped();
            tokio::spawn(async move {
                tokio::pin!(stop);
                loop {
                    tokio::select! {
                        _ = &mut stop => break,
                        _ = asked.notified() => reconciler.trigger(),
                    }
                }
            })
        };
        let worker_task = tokio::spawn(worker.run(stopped()));
        let pruning_task = tokio::spawn(keep_pruning(
            self.store.clone(),
            opts.delivery_retention,
            stopped(),
        ));
        let reconciler_task = tokio::spawn(reconciler.run(stopped()));
        let refund_watch_task = tokio::spawn(refund_watch.run(stopped()));

        let served = listener.serve(tcp, opts.limits, shutdown).await;
        let _ = stop_tx.send(true);
        let _ = reconcile_asked.await;
        let _ = probing_task.await;
        let _ = worker_task.await;
        let _ = pruning_task.await;
        let _ = reconciler_task.await;
        let _ = refund_watch_task.await;
        served
    }
}

/// Prunes settled deliveries past `keep` now, then daily, until `stop` resolves.
async fn keep_pruning<S: Store>(store: S, keep: Duration, stop: impl Future<Output = ()>) {
    const DAILY: Duration = Duration::from_secs(86_400);
    tokio::pin!(stop);
    loop {
        match store.prune_settled_deliveries(keep).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                pruned = n,
                "pruned settled deliveries past the retention period"
            ),
            Err(e) => {
                tracing::warn!(code = e.code(), error = %e, "cannot prune settled deliveries")
            }
        }
        tokio::select! {
            () = &mut stop => return,
            () = tokio::time::sleep(DAILY) => {}
        }
    }
}
