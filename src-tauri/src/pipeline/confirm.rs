//! The confirm worker: takes acknowledged deliveries from the inbox, asks the gateway what
//! really happened, and stores the answer. The inbox is the queue, so a restart simply
//! picks up whatever is still pending.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::{mismatch, CoreEvent, EventBus};
use crate::domain::{ChangeSource, DeliveryState, JobRef, PaymentRef};
use crate::gateway::{Fetched, GatewayClient, GatewayError, RetryPolicy};
use crate::store::{Settles, Store, StoreError};

#[derive(Debug, Clone)]
pub struct ConfirmWorkerConfig {
    /// Requests to the gateway in flight at once (shared with the reconciler).
    pub permits: Arc<Semaphore>,
    /// Waits between confirmation attempts of one delivery that keeps failing.
    pub backoff: RetryPolicy,
    /// How many inbox rows are read at a time.
    pub page: u32,
}

impl ConfirmWorkerConfig {
    pub fn new(concurrency: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            backoff: RetryPolicy {
                max_attempts: u32::MAX,
                base: Duration::from_secs(1),
                cap: Duration::from_secs(300),
            },
            page: 500,
        }
    }
}

type Key = (JobRef, PaymentRef);

#[derive(Debug)]
enum Phase {
    Queued,
    InFlight {
        seen_newer: bool,
    },
    /// Backing off after a failure; the deadline is in the worker's `waiting` list.
    Waiting,
}

#[derive(Debug)]
struct Tracked {
    /// The newest delivery id seen for this key; a confirmation settles up to it.
    up_to: i64,
    failures: u32,
    phase: Phase,
}

enum Outcome {
    Settled,
    Retry(GatewayError),
    StoreFailed(StoreError),
}

pub struct ConfirmWorker {
    store: Store,
    gateway: GatewayClient,
    bus: EventBus,
    cfg: ConfirmWorkerConfig,
    wake: Arc<Notify>,
    /// Told when a confirmation hands back its gateway slot, so the next one starts.
    freed: Arc<Notify>,
}

impl ConfirmWorker {
    pub fn new(
        store: Store,
        gateway: GatewayClient,
        bus: EventBus,
        cfg: ConfirmWorkerConfig,
    ) -> Self {
        Self {
            store,
            gateway,
            bus,
            cfg,
            wake: Arc::new(Notify::new()),
            freed: Arc::new(Notify::new()),
        }
    }

    /// Poke this when a delivery is committed, so it is confirmed at once.
    pub fn waker(&self) -> Arc<Notify> {
        Arc::clone(&self.wake)
    }

    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut tracked: HashMap<Key, Tracked> = HashMap::new();
        let mut queue: VecDeque<Key> = VecDeque::new();
        // Only failing keys wait here, so scanning it is cheap.
        let mut waiting: Vec<(Instant, Key)> = Vec::new();
        let mut tasks: JoinSet<(Key, i64, Outcome)> = JoinSet::new();
        let mut breaker = self.gateway.breaker().subscribe();
        // Read from the start of the inbox: after a restart every pending row is ours.
        let mut cursor: i64 = 0;
        let mut must_read = true;

        loop {
            if must_read {
                match self.read_new(&mut cursor, &mut tracked, &mut queue).await {
                    Ok(()) => must_read = false,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot read the inbox; retrying");
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                            _ = &mut shutdown => break,
                        }
                        continue;
                    }
                }
            }

            let now = Instant::now();
            waiting.retain(|(until, key)| {
                if *until > now {
                    return true;
                }
                if let Some(t) = tracked.get_mut(key) {
                    t.phase = Phase::Queued;
                    queue.push_back(key.clone());
                }
                false
            });

            // Start what the permits allow; with the breaker open, start nothing.
            while !self.gateway.breaker().is_open() {
                let Some(key) = queue.front().cloned() else {
                    break;
                };
                let Ok(permit) = Arc::clone(&self.cfg.permits).try_acquire_owned() else {
                    break;
                };
                queue.pop_front();
                let Some(t) = tracked.get_mut(&key) else {
                    continue;
                };
                t.phase = Phase::InFlight { seen_newer: false };
                let up_to = t.up_to;
                let (store, gateway, bus) =
                    (self.store.clone(), self.gateway.clone(), self.bus.clone());
                let freed = Arc::clone(&self.freed);
                tasks.spawn(async move {
                    let slot = GatewaySlot { permit, freed };
                    let outcome = confirm(&store, &gateway, &bus, &key, up_to, slot).await;
                    (key, up_to, outcome)
                });
            }

            let next_wait = waiting.iter().map(|(until, _)| *until).min();
            let can_start = !queue.is_empty() && !self.gateway.breaker().is_open();

            tokio::select! {
                _ = &mut shutdown => break,
                _ = self.wake.notified() => must_read = true,
                Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                    if let Ok((key, up_to, outcome)) = done {
                        if let Some(until) = self.finish(&mut tracked, &mut queue, key.clone(), up_to, outcome).await {
                            waiting.push((until, key));
                        }
                    }
                }
                _ = sleep_until_opt(next_wait) => {}
                _ = self.freed.notified(), if can_start => {}
                // Permits are shared with the reconciler: look again soon when blocked.
                _ = tokio::time::sleep(Duration::from_millis(50)), if can_start => {}
                Ok(()) = breaker.changed() => {}
            }
        }
        tasks.shutdown().await;
    }

    /// Reads every inbox row newer than the cursor, a page at a time.
    async fn read_new(
        &self,
        cursor: &mut i64,
        tracked: &mut HashMap<Key, Tracked>,
        queue: &mut VecDeque<Key>,
    ) -> Result<(), StoreError> {
        loop {
            let rows = self
                .store
                .pending_deliveries_after(*cursor, self.cfg.page)
                .await?;
            let full = rows.len() as u32 == self.cfg.page;
            for row in rows {
                *cursor = (*cursor).max(row.id);
                let key = (row.job_ref, row.payment_ref);
                match tracked.get_mut(&key) {
                    Some(t) => {
                        t.up_to = t.up_to.max(row.id);
                        if let Phase::InFlight { seen_newer } = &mut t.phase {
                            *seen_newer = true;
                        }
                    }
                    None => {
                        tracked.insert(
                            key.clone(),
                            Tracked {
                                up_to: row.id,
                                failures: row.confirm_attempts,
                                phase: Phase::Queued,
                            },
                        );
                        queue.push_back(key);
                    }
                }
            }
            if !full {
                return Ok(());
            }
        }
    }

    async fn finish(
        &self,
        tracked: &mut HashMap<Key, Tracked>,
        queue: &mut VecDeque<Key>,
        key: Key,
        up_to: i64,
        outcome: Outcome,
    ) -> Option<Instant> {
        let t = tracked.get_mut(&key)?;
        let seen_newer = matches!(t.phase, Phase::InFlight { seen_newer: true }) || t.up_to > up_to;
        match outcome {
            Outcome::Settled if seen_newer => {
                // A newer delivery came while we asked: it may announce a newer status.
                t.failures = 0;
                t.phase = Phase::Queued;
                queue.push_back(key);
                None
            }
            Outcome::Settled => {
                tracked.remove(&key);
                None
            }
            Outcome::Retry(e) => {
                t.failures += 1;
                let wait = self.cfg.backoff.delay(t.failures);
                tracing::warn!(job = %key.0, payment = %key.1, error = %e, ?wait, "confirmation failed; will retry");
                if let Err(se) = self
                    .store
                    .note_confirm_failure(&key.0, &key.1, up_to, e.to_string())
                    .await
                {
                    tracing::error!(error = %se, "cannot record a failed confirmation");
                }
                t.phase = Phase::Waiting;
                Some(Instant::now() + wait)
            }
            Outcome::StoreFailed(e) => {
                t.failures += 1;
                tracing::error!(job = %key.0, error = %e, "cannot store a confirmation; will retry");
                t.phase = Phase::Waiting;
                Some(Instant::now() + self.cfg.backoff.ceiling(t.failures))
            }
        }
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// One confirmation: payment, then job, then one transaction. Never trusts the
/// notification's body for anything but the two references.
/// A gateway request slot, handed back as soon as the gateway has answered: the local
/// commit that follows must not keep another confirmation from asking.
struct GatewaySlot {
    permit: tokio::sync::OwnedSemaphorePermit,
    freed: Arc<Notify>,
}

impl GatewaySlot {
    fn release(self) {
        drop(self.permit);
        self.freed.notify_one();
    }
}

async fn confirm(
    store: &Store,
    gateway: &GatewayClient,
    bus: &EventBus,
    (job, payment): &Key,
    up_to: i64,
    slot: GatewaySlot,
) -> Outcome {
    let fetched_payment = match gateway.retrieve_payment(job, payment).await {
        Ok(p) => p,
        Err(GatewayError::NotFound) => return unknown(store, bus, job, payment, up_to).await,
        Err(e) => return Outcome::Retry(e),
    };
    let fetched_job = gateway.retrieve_job(job).await;
    slot.release();
    let fetched_job = match fetched_job {
        Ok(j) => j,
        Err(GatewayError::NotFound) => return unknown(store, bus, job, payment, up_to).await,
        Err(e) => return Outcome::Retry(e),
    };
    let mut snapshot = fetched_job.into_snapshot();
    // The job answer may lag the payment answer: never drop the payment we were told of.
    if !snapshot.payments.iter().any(|p| &p.payment_ref == payment) {
        let Fetched { value, raw } = fetched_payment;
        snapshot.payments.push(value.to_snapshot(raw));
    }
    let expected = match store.expectation(job).await {
        Ok(e) => e,
        Err(e) => return Outcome::StoreFailed(e),
    };
    let flag = mismatch(expected.as_ref(), &snapshot);
    if let Some(m) = &flag {
        tracing::warn!(job = %job, "gateway answer disagrees with the job created here: {m}");
    }
    let settles = Settles {
        payment_ref: payment.clone(),
        up_to_id: up_to,
    };
    match store
        .apply_snapshot(snapshot, ChangeSource::Notification, flag, Some(settles))
        .await
    {
        Ok(applied) => {
            if let Some(event) = CoreEvent::from_applied(&applied, ChangeSource::Notification) {
                bus.publish(event);
            }
            Outcome::Settled
        }
        Err(e) => Outcome::StoreFailed(e),
    }
}

/// References the gateway does not know: recorded as such, no order is created.
async fn unknown(
    store: &Store,
    bus: &EventBus,
    job: &JobRef,
    payment: &PaymentRef,
    up_to: i64,
) -> Outcome {
    tracing::warn!(job = %job, payment = %payment, "notification for references the gateway does not know");
    match store
        .settle_deliveries(
            job,
            payment,
            up_to,
            DeliveryState::UnknownReference,
            "refused: the gateway does not know these references".to_owned(),
        )
        .await
    {
        Ok(()) => {
            bus.publish(CoreEvent::DeliveryUnknown {
                payment_job_reference: job.to_string(),
                payment_reference: payment.to_string(),
            });
            Outcome::Settled
        }
        Err(e) => Outcome::StoreFailed(e),
    }
}
