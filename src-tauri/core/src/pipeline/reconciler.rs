//! The reconciler re-asks the gateway about every unfinished job, at start and on a timer,
//! so a payment whose notification never arrived (laptop asleep, tunnel down, URL changed)
//! is still caught, by polling rather than by the gateway's next daily retry.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::{JoinError, JoinSet};

use super::{mismatch, CoreEvent, CredentialCheck, EventBus, GatewaySlots, ReconcileReport, Slot};
use crate::domain::{ChangeSource, JobRef, Timestamp};
use crate::gateway::{BreakerState, GatewayClient, GatewayError};
use crate::store::Store;

#[derive(Debug, Clone)]
pub struct ReconcilerConfig {
    pub interval: Duration,
    /// Shared with the confirm worker; the reconciler takes only slots it leaves free.
    pub slots: GatewaySlots,
}

/// What a pass of re-asking the gateway did, job by job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassCount {
    pub checked: usize,
    /// Jobs whose own status changed.
    pub changed: usize,
    pub failed: usize,
}

impl PassCount {
    /// Counts one finished [`Reconciler::check`] (an error or a panicked task fails).
    pub(super) fn add(&mut self, done: Result<Result<bool, GatewayError>, JoinError>) {
        self.checked += 1;
        match done {
            Ok(Ok(true)) => self.changed += 1,
            Ok(Ok(false)) => {}
            Ok(Err(_)) | Err(_) => self.failed += 1,
        }
    }
}

#[derive(Clone)]
pub struct Reconciler<S> {
    store: S,
    gateway: GatewayClient,
    bus: EventBus,
    cfg: ReconcilerConfig,
    now: Arc<Notify>,
}

impl<S: Store> Reconciler<S> {
    pub fn new(store: S, gateway: GatewayClient, bus: EventBus, cfg: ReconcilerConfig) -> Self {
        Self {
            store,
            gateway,
            bus,
            cfg,
            now: Arc::new(Notify::new()),
        }
    }

    /// Whether gateway calls are held back (the breaker is open).
    pub(super) fn gateway_paused(&self) -> bool {
        self.gateway.breaker().is_open()
    }

    /// Ask for a pass at once (e.g. after the public URL changed).
    pub fn trigger(&self) {
        self.now.notify_one();
    }

    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut breaker = self.gateway.breaker().subscribe();
        loop {
            // A pass over thousands of jobs must not hold up a shutdown.
            let report = tokio::select! {
                report = self.reconcile_once() => report,
                _ = &mut shutdown => break,
            };
            tracing::info!(
                checked = report.checked,
                caught_up = report.caught_up,
                failed = report.failed,
                "reconciliation finished"
            );
            // The next pass: on the timer, when asked, or as soon as calls resume after the
            // breaker was open (what it held back, or a pass it cut short, is caught up).
            let next = tokio::time::sleep(self.cfg.interval);
            tokio::pin!(next);
            let mut held_back = self.gateway.breaker().is_open();
            breaker.borrow_and_update();
            loop {
                tokio::select! {
                    _ = &mut shutdown => return,
                    _ = &mut next => break,
                    _ = self.now.notified() => break,
                    Ok(()) = breaker.changed() => {
                        let open = matches!(*breaker.borrow_and_update(), BreakerState::Open { .. });
                        if open {
                            held_back = true;
                        } else if held_back {
                            break;
                        }
                    }
                }
            }
        }
    }

    /// One pass over every unfinished job. Changes found are recorded with source "poll".
    pub async fn reconcile_once(&self) -> ReconcileReport {
        let mut report = ReconcileReport {
            at: Timestamp::now(),
            checked: 0,
            caught_up: 0,
            failed: 0,
        };
        if self.gateway.breaker().is_open() {
            report.failed = 1;
            self.bus
                .publish(CoreEvent::ReconcileFinished(report.clone()));
            return report;
        }
        let jobs = match self.store.unfinished_jobs().await {
            Ok(j) => j,
            Err(e) => {
                tracing::error!(error = %e, "cannot list unfinished jobs");
                report.failed = 1;
                return report;
            }
        };
        let mut tasks = JoinSet::new();
        let mut count = PassCount::default();
        // A slot first, then a task: the pass never holds more work than it has slots
        // for, and it waits (not the live confirmations) whenever they need the gateway.
        for job in jobs {
            let slot = self.cfg.slots.background().await;
            while let Some(done) = tasks.try_join_next() {
                count.add(done);
            }
            let this = self.clone();
            tasks.spawn(async move { this.check(&job, slot).await });
        }
        while let Some(done) = tasks.join_next().await {
            count.add(done);
        }
        report.checked = count.checked;
        report.caught_up = count.changed;
        report.failed = count.failed;
        report.at = Timestamp::now();
        self.bus
            .publish(CoreEvent::ReconcileFinished(report.clone()));
        report
    }

    /// Asks the gateway about one job (holding `slot` for the call) and records what it
    /// says with source "poll". Whether the order's own status changed.
    pub(super) async fn check(&self, job: &JobRef, slot: Slot) -> Result<bool, GatewayError> {
        let answer = self.gateway.retrieve_job(job).await;
        if let Err(GatewayError::Forbidden { .. }) = answer {
            // Every job in the round is one we hold: is the refusal about it, or about us?
            CredentialCheck::new(self.store.clone(), self.gateway.clone())
                .after_refusal(job)
                .await;
        }
        drop(slot);
        let snapshot = answer?.into_snapshot();
        let store_err = |e: crate::store::StoreError| GatewayError::Unavailable(e.to_string());
        let expected = self.store.expectation(job).await.map_err(store_err)?;
        let flag = mismatch(expected.as_ref(), &snapshot);
        let applied = self
            .store
            .apply_snapshot(snapshot, ChangeSource::Poll, flag, None)
            .await
            .map_err(store_err)?;
        let changed = applied.job_change().is_some();
        for event in CoreEvent::all_from_applied(&applied, ChangeSource::Poll) {
            self.bus.publish(event);
        }
        Ok(changed)
    }
}
