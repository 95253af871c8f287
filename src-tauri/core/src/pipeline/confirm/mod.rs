//! The confirm worker: takes acknowledged deliveries from the inbox, asks the gateway what
//! really happened, and stores the answer. The inbox is the queue: a delivery that must
//! wait carries its due time in its row, so the worker holds in memory only what it is
//! about to start or has in flight, and a restart simply picks up whatever is due.

mod ask;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::{CoreEvent, EventBus, GatewaySlots};
use crate::domain::{
    DeliveryPolicy, DeliveryState, Failing, FailureClass, JobRef, NextStep, PaymentRef,
};
use crate::gateway::{GatewayClient, GatewayError};
use crate::store::{Claim, Held, Store, StoreError, WorkerId};
use ask::{confirm, Outcome};

#[derive(Clone)]
pub struct ConfirmWorkerConfig {
    /// Requests to the gateway in flight at once (shared with the reconciler, which
    /// only takes what live confirmations leave).
    pub slots: GatewaySlots,
    /// When to ask again after a failure, and when to give up.
    pub policy: DeliveryPolicy,
    /// How many inbox rows are read at a time; also the most the worker holds queued.
    pub page: u32,
    /// How often the inbox is looked at with nothing to wake the worker (a "retry now"
    /// from another process).
    pub idle_poll: Duration,
    /// This worker's hold on what it reads from the inbox, which other processes may
    /// share: no other worker confirms a delivery this one holds.
    pub claim: Claim,
    /// Told when the gateway does not know a delivery's references (the listener charges
    /// their sender for junk).
    pub on_unknown_reference: Option<crate::listener::OnUnknownReference>,
}

impl ConfirmWorkerConfig {
    pub fn new(concurrency: usize) -> Self {
        Self {
            slots: GatewaySlots::new(concurrency),
            policy: DeliveryPolicy::default(),
            page: 500,
            idle_poll: Duration::from_secs(5),
            claim: Claim {
                worker: WorkerId::new(),
                // Far longer than a confirmation takes; a read renews what is still held.
                lease: Duration::from_secs(120),
            },
            on_unknown_reference: None,
        }
    }
}

type Key = (JobRef, PaymentRef);

#[derive(Debug)]
struct Tracked {
    /// The newest delivery id seen for this key; a confirmation settles up to it.
    up_to: i64,
    /// The failure run of its deliveries (the longest one if they differ).
    failing: Option<Failing>,
    in_flight: bool,
    /// A newer delivery arrived while a confirmation was in flight.
    seen_newer: bool,
}

pub struct ConfirmWorker<S> {
    store: S,
    gateway: GatewayClient,
    bus: EventBus,
    cfg: ConfirmWorkerConfig,
    wake: Arc<Notify>,
}

/// The worker's memory: what it has queued or in flight, never what waits in the inbox.
#[derive(Default)]
struct Book {
    tracked: HashMap<Key, Tracked>,
    queue: VecDeque<Key>,
}

impl<S: Store> ConfirmWorker<S> {
    pub fn new(store: S, gateway: GatewayClient, bus: EventBus, cfg: ConfirmWorkerConfig) -> Self {
        Self {
            store,
            gateway,
            bus,
            cfg,
            wake: Arc::new(Notify::new()),
        }
    }

    /// Poke this when a delivery is committed, so it is confirmed at once.
    pub fn waker(&self) -> Arc<Notify> {
        Arc::clone(&self.wake)
    }

    /// Wakes on a notifier the caller already holds (the core's, kept across restarts).
    pub fn waking_on(mut self, wake: Arc<Notify>) -> Self {
        self.wake = wake;
        self
    }

    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut book = Book::default();
        let mut tasks: JoinSet<(Key, i64, Outcome)> = JoinSet::new();
        let mut breaker = self.gateway.breaker().subscribe();
        let slots = self.cfg.slots.clone();
        let low_water = (self.cfg.page as usize / 2).max(1);
        // When to read the inbox next; `None` = read now.
        let mut read_at: Option<Instant> = None;
        // What this worker holds is renewed on a timer, not only when it reads the inbox:
        // it reads only while its queue is short, and one answer from a slow gateway can
        // outlast the lease. A third of the lease leaves two renewals' room for a slow one.
        let renew_every = (self.cfg.claim.lease / 3).max(Duration::from_millis(100));
        let mut renew_at = Instant::now() + renew_every;
        let mut renewing: JoinSet<()> = JoinSet::new();

        loop {
            if read_at.is_none_or(|at| at <= Instant::now()) && book.queue.len() < low_water {
                read_at = Some(match self.read_due(&mut book).await {
                    Ok(next) => next,
                    Err(e) => {
                        tracing::error!(code = e.code(), error = %e, "cannot read the inbox; retrying");
                        Instant::now() + Duration::from_secs(1)
                    }
                });
            }

            // Start what the slots allow; with the breaker open, start nothing.
            while !self.gateway.breaker().is_open() && !book.queue.is_empty() {
                let Some(slot) = slots.try_live() else {
                    break;
                };
                let Some(key) = book.queue.pop_front() else {
                    break;
                };
                let Some(t) = book.tracked.get_mut(&key) else {
                    continue;
                };
                t.in_flight = true;
                t.seen_newer = false;
                let up_to = t.up_to;
                // Which process asked the gateway about what (several may share an inbox).
                tracing::debug!(job = %key.0, payment = %key.1, up_to, "confirming");
                let (store, gateway, bus, worker) = (
                    self.store.clone(),
                    self.gateway.clone(),
                    self.bus.clone(),
                    self.cfg.claim.worker.clone(),
                );
                tasks.spawn(async move {
                    let outcome = confirm(&store, &gateway, &bus, &key, up_to, &worker, slot).await;
                    (key, up_to, outcome)
                });
            }
            if book.queue.is_empty() || self.gateway.breaker().is_open() {
                slots.live_idle();
            }
            let can_start = !book.queue.is_empty() && !self.gateway.breaker().is_open();
            let next_read = read_at.unwrap_or_else(Instant::now);

            tokio::select! {
                _ = &mut shutdown => break,
                _ = self.wake.notified() => read_at = None,
                Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                    if let Ok((key, up_to, outcome)) = done {
                        if let Some(again) = self.finish(&mut book, key, up_to, outcome).await {
                            read_at = Some(read_at.map_or(again, |at| at.min(again)));
                        }
                    }
                }
                _ = tokio::time::sleep_until(next_read), if book.queue.len() < low_water => {
                    read_at = None;
                }
                _ = slots.freed(), if can_start => {}
                Ok(()) = breaker.changed() => read_at = None,
                _ = tokio::time::sleep_until(renew_at) => {
                    renew_at = Instant::now() + renew_every;
                    // One renewal at a time: a slow database must not pile them up.
                    if !book.tracked.is_empty() && renewing.is_empty() {
                        renewing.spawn(renew(self.store.clone(), self.cfg.claim.clone()));
                    }
                }
                Some(_) = renewing.join_next(), if !renewing.is_empty() => {}
            }
        }
        tasks.shutdown().await;
        renewing.shutdown().await;
    }

    /// Reads the deliveries due now into the queue; returns when to read again.
    async fn read_due(&self, book: &mut Book) -> Result<Instant, StoreError> {
        // The store's clock, which every process sharing the inbox reads alike: leases and
        // due times written by a machine whose clock is off mean the same to the others.
        let now = self.store.now().await?;
        // Rows already held are read again; skip past them.
        let limit = self.cfg.page + book.tracked.len() as u32;
        let rows = self.store.claim_due(&self.cfg.claim, now, limit).await?;
        for row in rows {
            let key = (row.job_ref, row.payment_ref);
            match book.tracked.get_mut(&key) {
                Some(t) => {
                    if row.id > t.up_to {
                        t.up_to = row.id;
                        t.seen_newer |= t.in_flight;
                    }
                    t.failing = longest(t.failing, row.failing);
                }
                None => {
                    if book.queue.len() >= self.cfg.page as usize {
                        // The rest stay in the inbox until the queue drains.
                        return Ok(Instant::now());
                    }
                    book.tracked.insert(
                        key.clone(),
                        Tracked {
                            up_to: row.id,
                            failing: row.failing,
                            in_flight: false,
                            seen_newer: false,
                        },
                    );
                    book.queue.push_back(key);
                }
            }
        }
        let poll = Instant::now() + self.cfg.idle_poll;
        Ok(match self.store.next_retry_at(now).await? {
            Some(at) => poll.min(Instant::now() + at.since(now)),
            None => poll,
        })
    }

    /// Settles the book after a confirmation; returns when the inbox should be read again
    /// if sooner than planned.
    async fn finish(
        &self,
        book: &mut Book,
        key: Key,
        up_to: i64,
        outcome: Outcome,
    ) -> Option<Instant> {
        let t = book.tracked.get_mut(&key)?;
        t.in_flight = false;
        match outcome {
            Outcome::Settled if t.seen_newer || t.up_to > up_to => {
                // A newer delivery came while we asked: it may announce a newer status.
                t.failing = None;
                book.queue.push_back(key);
                None
            }
            Outcome::Settled => {
                book.tracked.remove(&key);
                None
            }
            Outcome::Blocked => {
                // Due again as soon as calls resume; the breaker wakes the worker.
                book.tracked.remove(&key);
                None
            }
            Outcome::Failed(class, e) => {
                if let (FailureClass::NotFound, Some(told)) =
                    (class, &self.cfg.on_unknown_reference)
                {
                    told(&key.0, &key.1);
                }
                let previous = t.failing;
                book.tracked.remove(&key);
                // The failure run's start and its windows (dead, unknown) on the store's
                // clock, as every other worker on the inbox measures them.
                let now = match self.store.now().await {
                    Ok(now) => now,
                    Err(se) => {
                        tracing::error!(code = se.code(), error = %se, "cannot record a failed confirmation");
                        // Still held and due: read again shortly.
                        return Some(Instant::now() + Duration::from_secs(1));
                    }
                };
                let (run, next) = self.cfg.policy.after_failure(previous, class, now);
                match next {
                    NextStep::RetryIn(wait) => {
                        let wait = jitter(wait);
                        tracing::warn!(job = %key.0, payment = %key.1, code = e.code(), error = %e, ?wait, attempts = run.attempts, "confirmation failed; will retry");
                        let noted = self
                            .store
                            .note_confirm_failure(
                                &self.held(&key, up_to),
                                run,
                                now.plus(wait),
                                e.to_string(),
                            )
                            .await;
                        if let Err(se) = noted {
                            tracing::error!(code = se.code(), error = %se, "cannot record a failed confirmation");
                            return Some(Instant::now() + wait);
                        }
                        Some(Instant::now() + wait)
                    }
                    NextStep::Settle(state) => {
                        self.give_up(&key, up_to, state, run, &e).await;
                        None
                    }
                }
            }
            Outcome::StoreFailed(e) => {
                book.tracked.remove(&key);
                tracing::error!(job = %key.0, code = e.code(), error = %e, "cannot store a confirmation; will retry");
                // Its rows are still pending and due: read them again shortly.
                Some(Instant::now() + Duration::from_secs(1))
            }
        }
    }

    /// What this worker holds of a payment's deliveries, up to an id.
    fn held(&self, (job, payment): &Key, up_to: i64) -> Held {
        Held {
            job_ref: job.clone(),
            payment_ref: payment.clone(),
            up_to_id: up_to,
            worker: self.cfg.claim.worker.clone(),
        }
    }

    /// Settles a delivery without a confirmation (unknown or dead) and tells the owner.
    async fn give_up(
        &self,
        (job, payment): &Key,
        up_to: i64,
        state: DeliveryState,
        run: Failing,
        e: &GatewayError,
    ) {
        let outcome = match state {
            DeliveryState::Unknown => {
                "refused: the gateway does not know these references".to_owned()
            }
            _ => format!("gave up after {} attempts: {e}", run.attempts),
        };
        tracing::warn!(job = %job, payment = %payment, state = state.as_str(), "{outcome}");
        let noted = self
            .store
            .settle_deliveries(
                &self.held(&(job.clone(), payment.clone()), up_to),
                state,
                outcome,
            )
            .await;
        match noted {
            Ok(()) => self.bus.publish(CoreEvent::DeliverySettled {
                payment_job_reference: job.to_string(),
                payment_reference: payment.to_string(),
                state,
            }),
            Err(se) => {
                tracing::error!(code = se.code(), error = %se, "cannot settle a delivery")
            }
        }
    }
}

/// Extends the worker's hold on everything it still holds (see `Store::renew_claims`).
async fn renew<S: Store>(store: S, claim: Claim) {
    let renewed = async {
        let now = store.now().await?;
        store.renew_claims(&claim, now).await
    }
    .await;
    match renewed {
        Ok(n) => tracing::trace!(n, "leases renewed"),
        Err(e) => {
            tracing::warn!(code = e.code(), error = %e, "cannot renew the leases on held deliveries")
        }
    }
}

/// Of two failure runs, the one that began first (it is the nearer to its limit).
fn longest(a: Option<Failing>, b: Option<Failing>) -> Option<Failing> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.since < a.since { b } else { a }),
        (a, b) => a.or(b),
    }
}

/// ±20 %: deliveries that failed together do not all ask again in the same instant.
fn jitter(d: Duration) -> Duration {
    d.mul_f64(0.8 + fastrand::f64() * 0.4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Timestamp;

    #[test]
    fn the_longest_failure_run_is_kept() {
        let run = |secs: i64| Failing {
            class: FailureClass::NotFound,
            since: Timestamp::from_unix_millis(secs * 1000),
            attempts: 1,
        };
        assert_eq!(longest(Some(run(5)), Some(run(2))), Some(run(2)));
        assert_eq!(longest(None, Some(run(2))), Some(run(2)));
        assert_eq!(longest(Some(run(5)), None), Some(run(5)));
    }
}
