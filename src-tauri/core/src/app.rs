//! The one core API. The CLI, the window's commands and the listener are thin faces over
//! it: each translates its arguments, calls one method here and maps the error.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch, Notify};

use crate::domain::{
    DeliveryPolicy, DeliveryState, JobRef, OrderDetail, OrderSummary, PaymentStatus, ShipRules,
    StuckDelivery, Timestamp,
};
use crate::gateway::{GatewayClient, GatewayError, ProbeSchedule};
use crate::listener::{self, ProbeBook};
use crate::pipeline::{
    keep_probing, ConfirmWorker, ConfirmWorkerConfig, CoreEvent, CredentialCheck, EventBus,
    GatewaySlots, Reconciler, ReconcilerConfig,
};
use crate::store::{
    ChangeCursor, OrderCursor, OrderFilter, PageAt, RemoteChange, RemoteChanges, ShipRequest,
    Store, StoreError,
};
use crate::views::{OrdersPage, OrdersQuery, SearchHit, Today};

/// Changes read back from the shared store's log per request, when a follower fell behind.
const CATCH_UP_PAGE: u32 = 500;

/// An error for the faces: a stable code plus words for the owner.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    #[error("no order matches '{0}'")]
    NotFound(String),
    #[error(
        "'{query}' names {count} orders; use the payment job reference:{}",
        candidate_lines(candidates)
    )]
    Ambiguous {
        query: String,
        count: usize,
        candidates: Vec<OrderSummary>,
    },
    /// Only a prefix matched: acting on a guess could ship the wrong order.
    #[error(
        "'{query}' is not an exact job reference, payment reference or order number; \
         orders that start with it:{}",
        candidate_lines(candidates)
    )]
    NotExact {
        query: String,
        candidates: Vec<OrderSummary>,
    },
    #[error("{0}")]
    Invalid(String),
}

/// One line per candidate order: job reference, order number, status, amount.
fn candidate_lines(candidates: &[OrderSummary]) -> String {
    candidates
        .iter()
        .map(|o| {
            let money = match (&o.amount, &o.currency) {
                (Some(a), Some(c)) => format!("{} {c}", a.display_in(c)),
                _ => "-".to_owned(),
            };
            format!(
                "\n  job {}  order {}  {}  {money}",
                o.payment_job_reference,
                o.order_number.as_deref().unwrap_or("-"),
                o.status
            )
        })
        .collect()
}

impl AppError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Store(e) => e.code(),
            Self::Gateway(e) => e.code(),
            Self::NotFound(_) => "not_found",
            Self::Ambiguous { .. } => "ambiguous",
            Self::NotExact { .. } => "not_exact",
            Self::Invalid(_) => "invalid",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ShopPolicy {
    /// Ship on Reserved (authorised, captured later by the shop).
    pub allow_ship_on_reserved: bool,
}

impl ShopPolicy {
    pub fn ship_rules(&self) -> ShipRules {
        ShipRules {
            allow_reserved: self.allow_ship_on_reserved,
        }
    }
}

/// Serving options: what the listener, worker and reconciler need beyond the core.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub webhook_secret: Option<String>,
    /// Gateway requests in flight at once.
    pub concurrency: usize,
    pub reconcile_every: Duration,
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
            delivery_policy: DeliveryPolicy::default(),
            limits: listener::ServeLimits::default(),
            sources: listener::SourcePolicy::default(),
            delivery_retention: retention_days(DEFAULT_DELIVERY_RETENTION_DAYS),
            claim_lease: Duration::from_secs(120),
            probe: ProbeSchedule::default(),
        }
    }
}

/// The user and machine this process runs as ("ana@till-2"): where several machines share
/// one store, the audit trail says who shipped.
pub fn local_actor() -> String {
    let user = ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "someone".into());
    format!("{user}@{}", crate::store::machine_name())
}

#[derive(Clone)]
pub struct Tillwatch<S> {
    store: S,
    bus: EventBus,
    policy: ShopPolicy,
    /// Probes of the public webhook URL in flight (the tunnel's end-to-end probe).
    probes: ProbeBook,
    /// Asks the running reconciler for a pass at once (kept until `serve` runs).
    reconcile_now: Arc<Notify>,
    /// Tells the confirm worker the inbox has something due (kept until `serve` runs).
    confirm_now: Arc<Notify>,
    /// Who this process acts for in the audit trail: user and machine.
    actor: String,
}

impl<S: Store> Tillwatch<S> {
    pub fn new(store: S, policy: ShopPolicy) -> Self {
        Self {
            store,
            bus: EventBus::default(),
            policy,
            probes: ProbeBook::new(),
            reconcile_now: Arc::new(Notify::new()),
            confirm_now: Arc::new(Notify::new()),
            actor: local_actor(),
        }
    }

    /// The listener's probe book: a tunnel probe counts only if it reached this app.
    pub fn probe_book(&self) -> &ProbeBook {
        &self.probes
    }

    /// Asks the reconciler for a pass at once (e.g. after the tunnel reconnected or its
    /// URL changed); remembered if `serve` has not started it yet.
    pub fn reconcile_now(&self) {
        self.reconcile_now.notify_one();
    }

    /// A handle that asks the reconciler for a pass, for a part that outlives borrows of
    /// this app (the tunnel supervisor, after every reconnection).
    pub fn reconcile_trigger(&self) -> Arc<dyn Fn() + Send + Sync> {
        let now = Arc::clone(&self.reconcile_now);
        Arc::new(move || now.notify_one())
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// The shop's shipping rules, for read models built outside this file.
    pub fn ship_rules(&self) -> ShipRules {
        self.policy.ship_rules()
    }

    pub fn events(&self) -> broadcast::Receiver<CoreEvent> {
        self.bus.subscribe()
    }

    pub fn bus(&self) -> &EventBus {
        &self.bus
    }

    /// Every order matching a job reference, payment reference, order number or e-mail,
    /// exact or prefix, with its attempts, deliveries and history.
    pub async fn lookup(&self, query: &str) -> Result<Vec<OrderDetail>, AppError> {
        let found = self.store.lookup(query, 50).await?;
        let mut out = Vec::with_capacity(found.len());
        for s in found {
            if let Some(d) = self.store.order(&s.payment_job_reference).await? {
                out.push(d.under(self.policy.ship_rules()));
            }
        }
        Ok(out)
    }

    /// The window's search box: what matched, for highlighting. A newer search interrupts
    /// this one, which then fails with the code `superseded`.
    pub async fn search(&self, query: &str, limit: u32) -> Result<Vec<SearchHit>, AppError> {
        let found = self.store.search(query, limit).await?;
        Ok(found.into_iter().map(SearchHit::from).collect())
    }

    /// One order, with whether the shop's rule lets it ship.
    pub async fn order(&self, job: &JobRef) -> Result<OrderDetail, AppError> {
        self.store
            .order(job)
            .await?
            .map(|d| d.under(self.policy.ship_rules()))
            .ok_or_else(|| AppError::NotFound(job.to_string()))
    }

    /// The newest orders (at most `limit`; 0: all).
    pub async fn orders(
        &self,
        status: Option<PaymentStatus>,
        shipped: Option<bool>,
        limit: u32,
    ) -> Result<Vec<OrderSummary>, AppError> {
        Ok(self
            .store
            .orders(OrderFilter {
                status,
                shipped,
                limit,
                ..OrderFilter::default()
            })
            .await?
            .orders)
    }

    /// One page of the orders table.
    pub async fn orders_page(&self, q: OrdersQuery) -> Result<OrdersPage, AppError> {
        let parse_time = |s: Option<String>| -> Result<Option<Timestamp>, AppError> {
            s.filter(|s| !s.is_empty())
                .map(|s| {
                    Timestamp::parse(&s)
                        .map_err(|_| AppError::Invalid(format!("'{s}' is not a date and time")))
                })
                .transpose()
        };
        let filter = OrderFilter {
            status: q.status.filter(|s| !s.is_empty()).map(PaymentStatus::from),
            shipped: q.shipped,
            from: parse_time(q.from)?,
            to: parse_time(q.to)?,
            sort: q.sort,
            ascending: q.ascending,
            limit: q.limit.clamp(1, 500),
            at: PageAt::First,
        };
        let cursor = |text: String| {
            OrderCursor::decode(q.sort, &text)
                .ok_or_else(|| AppError::Invalid("that page is not in this list".into()))
        };
        let filter = OrderFilter {
            at: match (q.after, q.before, q.last) {
                (Some(after), _, _) => PageAt::After(cursor(after)?),
                (None, Some(before), _) => PageAt::Before(cursor(before)?),
                (None, None, true) => PageAt::Last,
                (None, None, false) => PageAt::First,
            },
            ..filter
        };
        let (total, total_capped) = self.store.count_orders(filter.clone()).await?;
        let slice = self.store.orders(filter).await?;
        Ok(OrdersPage {
            orders: slice.orders,
            total,
            total_capped,
            next: slice.next.map(|c| c.encode()),
            prev: slice.prev.map(|c| c.encode()),
        })
    }

    /// Today's takings and the day's chart, "today" starting at `since` (local midnight).
    pub async fn today(&self, since: &str, utc_offset_minutes: i32) -> Result<Today, AppError> {
        let since = Timestamp::parse(since)
            .map_err(|_| AppError::Invalid(format!("'{since}' is not a date and time")))?;
        let paid = self.store.paid_since(since).await?;
        Ok(crate::views::today(&paid, utc_offset_minutes))
    }

    /// One order named exactly by its job reference, payment reference or order number.
    /// A query that only starts some references is refused with those orders listed, as
    /// is one that names several: the owner's actions must never land on a guess.
    pub async fn resolve(&self, query: &str) -> Result<JobRef, AppError> {
        let q = query.trim();
        let exact = self.store.exact_matches(q, 10).await?;
        match exact.as_slice() {
            [one] => Ok(one.payment_job_reference.clone()),
            [] => {
                let candidates = self.store.lookup(q, 10).await?;
                if candidates.is_empty() {
                    Err(AppError::NotFound(q.to_owned()))
                } else {
                    Err(AppError::NotExact {
                        query: q.to_owned(),
                        candidates,
                    })
                }
            }
            many => Err(AppError::Ambiguous {
                query: q.to_owned(),
                count: many.len(),
                candidates: many.to_vec(),
            }),
        }
    }

    /// Marks an order shipped; refused with the reason unless it is paid (or Reserved
    /// where the shop allows it) and its confirmed money matches what was asked.
    pub async fn ship(&self, query: &str, note: Option<String>) -> Result<OrderDetail, AppError> {
        self.ship_request(query, note, None).await
    }

    /// Ships a paid order whose confirmed money differs from what was asked: the owner's
    /// reason goes into the audit log with the mismatch.
    pub async fn ship_despite_mismatch(
        &self,
        query: &str,
        note: Option<String>,
        reason: String,
    ) -> Result<OrderDetail, AppError> {
        self.ship_request(query, note, Some(reason)).await
    }

    async fn ship_request(
        &self,
        query: &str,
        note: Option<String>,
        override_mismatch: Option<String>,
    ) -> Result<OrderDetail, AppError> {
        let job_ref = self.resolve(query).await?;
        let detail = self
            .store
            .ship(ShipRequest {
                job_ref,
                note,
                allow_reserved: self.policy.allow_ship_on_reserved,
                override_mismatch,
                by: Some(self.actor.clone()),
            })
            .await?;
        self.bus.publish(CoreEvent::owner_changed(&detail.summary));
        Ok(detail)
    }

    pub async fn unship(&self, query: &str) -> Result<OrderDetail, AppError> {
        let job_ref = self.resolve(query).await?;
        let detail = self
            .store
            .unship(&job_ref, Some(self.actor.clone()))
            .await?
            .under(self.policy.ship_rules());
        self.bus.publish(CoreEvent::owner_changed(&detail.summary));
        Ok(detail)
    }

    /// Deliveries settled without a confirmation that the owner should look at: dead
    /// ones (the gateway's errors never went away) or unknown ones, newest first.
    pub async fn stuck_deliveries(
        &self,
        state: DeliveryState,
        limit: u32,
    ) -> Result<Vec<StuckDelivery>, AppError> {
        if !state.is_retryable() {
            return Err(AppError::Invalid(format!(
                "'{}' deliveries are not listed here; use dead or unknown",
                state.as_str()
            )));
        }
        Ok(self.store.deliveries_in(state, limit).await?)
    }

    /// "Retry now": the dead or unknown deliveries of an exact job or payment reference go
    /// back to the confirm worker with a fresh schedule. A running `serve` (this process's
    /// at once, another's within its idle poll) asks the gateway again.
    pub async fn retry_deliveries(&self, reference: &str) -> Result<u64, AppError> {
        let n = self.store.retry_deliveries(reference).await?;
        if n == 0 {
            return Err(AppError::NotFound(format!(
                "{}: no dead or unknown delivery",
                reference.trim()
            )));
        }
        self.confirm_now.notify_one();
        Ok(n)
    }

    /// All orders as CSV, newest first.
    pub async fn export_csv(&self) -> Result<String, AppError> {
        let orders = self.store.orders(OrderFilter::default()).await?.orders;
        Ok(crate::export::orders_csv(&orders))
    }

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
                slots,
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

        let served = listener.serve(tcp, opts.limits, shutdown).await;
        let _ = stop_tx.send(true);
        let _ = reconcile_asked.await;
        let _ = probing_task.await;
        let _ = worker_task.await;
        let _ = pruning_task.await;
        let _ = reconciler_task.await;
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
