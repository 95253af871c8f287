//! The one core API. The CLI, the window's commands and the listener are thin faces over
//! it: each translates its arguments, calls one method here and maps the error. Its
//! errors are in `error`, serving (and following other processes) in `serve`, and the
//! owner's "Test connection" in `connection`; moving an order's money (refund, capture,
//! cancel) in `money`, and the methods that do it for an order in `moving`.

mod connection;
mod error;
mod money;
mod moving;
mod serve;

use std::sync::Arc;

use tokio::sync::{broadcast, Notify};

use crate::domain::{
    DeliveryState, JobRef, OrderDetail, OrderSummary, PaymentStatus, ShipRules, StuckDelivery,
    Timestamp,
};
use crate::listener::ProbeBook;
use crate::pipeline::{CoreEvent, EventBus};
use crate::store::{OrderCursor, OrderFilter, PageAt, ShipRequest, Store};
use crate::views::{OrdersPage, OrdersQuery, SearchHit, Today};

pub use connection::{test_connection, GatewayCheck};
pub use error::AppError;
pub use money::{
    cancel_order, capture_order, refund_order, FollowPolicy, MoneyActionError, MoneyOutcome,
    MoneyReport,
};
pub use moving::{money_requests, CaptureAndShip};
pub use serve::{
    retention_days, ServeOptions, DEFAULT_DELIVERY_RETENTION_DAYS, DEFAULT_REFUND_WATCH_EVERY,
};

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
}
