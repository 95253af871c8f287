//! Storage behind one trait: the orders, their attempts and status history, the delivery
//! inbox and the audit log, in domain types. The core is generic over [`Store`]; a backend
//! (SQLite on one machine, PostgreSQL shared by several) implements it in its own crate,
//! and its own errors stop at the trait: what crosses is a [`StoreError`], a code and words
//! for the owner, never the database's text.

mod apply;
mod changes;
mod claims;
mod created;
mod cursor;
mod deliveries;
mod detail;
mod moves;
mod orders;
mod page_query;
mod pages;
mod ref_index;
mod refs;
mod search;
mod ship;
mod unfinished;

pub use apply::{ApplyPlan, HeldJob};
pub use changes::{
    Applied, CreatedJobRecord, Held, LoggedChange, RemoteChange, RemoteChanges, StatusChange,
};
pub use claims::{failure_run, oldest_first};
pub use cursor::{ChangeCursor, HOLE_LIFE};
pub use deliveries::{
    kept_body, machine_name, unreadable_delivery, Claim, NewDelivery, PendingDelivery,
    RejectedDelivery, WorkerId, MAX_KEPT_MALFORMED,
};
pub use detail::DetailRows;
pub use moves::{
    capture_by, plan_moves, HeldMove, MoneyChange, MoneyRefusal, MoneyRequest, MoneyTotals,
    MoveWrite, PaymentMoney, StoredMoney, CAPTURE_WINDOW,
};
pub use orders::{Found, ShipRequest};
pub use page_query::{
    cursor_columns, sort_keys, CountSql, CursorMisfit, KeyKind, PageQuery, PageSql, QueryParam,
};
pub use pages::{CursorValue, OrderCursor, OrderFilter, OrderSort, OrdersSlice, PageAt, COUNT_CAP};
pub use ref_index::{prefix_spellings, suffix_key, IndexChanges, JobNames, EMAIL_CODE, MAX_EXACT};
pub use refs::{
    after_prefix, amount_minor, best_per_job, email_key, reversed, MatchHow, RefKind, RefMatch,
    MIN_PARTIAL,
};
pub use search::{found_orders, range_len, wants_more, RankClass, Ranking};
pub use ship::{not_shipped, unship_audit, AuditEntry, ShipPlan};
pub use unfinished::unfinished_condition;

use crate::domain::{
    Amount, ChangeSource, Currency, DeliveryState, Expected, Failing, JobRef, JobSnapshot,
    OrderDetail, OrderSummary, ShipRefusal, StuckDelivery, Timestamp,
};

/// Why a store cannot take a request now. Every one is worth retrying later: the listener
/// answers 503, so the gateway sends the notification again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unavailable {
    #[error("the disk holding the database is full")]
    Full,
    #[error("the database cannot be written (read-only file or disk)")]
    ReadOnly,
    #[error("the database is busy")]
    Busy,
    #[error("the database writer has stopped")]
    Stopped,
    #[error("too many writes are waiting; try again shortly")]
    Overloaded,
    #[error("the database server cannot be reached")]
    Unreachable,
}

/// A store failure, in words safe for an owner. A backend logs its own detail where the
/// failure happens; none of it crosses the trait.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    /// Another process changed the row first; the caller reads it again.
    #[error("someone else changed it at the same moment; look again")]
    Conflict,
    #[error("no order matches {0}")]
    NotFound(String),
    /// A stored value this build cannot read. The words are ours (the column's value and
    /// why it does not parse), not the database's.
    #[error("stored data could not be read: {0}")]
    Corrupt(String),
    #[error("the database could not do that; the log has the details")]
    Failed,
    #[error(
        "this database was written by a newer Tillwatch (schema {found}; this build knows {known})"
    )]
    TooNew { found: usize, known: usize },
    /// A newer search started: this one was interrupted and its answer is not wanted.
    #[error("a newer search replaced this one")]
    Superseded,
    #[error(transparent)]
    Ship(#[from] ShipRefusal),
    /// A request to move money that was not recorded (nothing was sent).
    #[error(transparent)]
    Money(#[from] MoneyRefusal),
}

impl StoreError {
    /// Stable code for logs and IPC.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unavailable(why) => match why {
                Unavailable::Full => "store_full",
                Unavailable::ReadOnly => "store_read_only",
                Unavailable::Busy => "store_busy",
                Unavailable::Stopped => "store_stopped",
                Unavailable::Overloaded => "store_overloaded",
                Unavailable::Unreachable => "store_unreachable",
            },
            Self::Conflict => "store_conflict",
            Self::NotFound(_) => "not_found",
            Self::Corrupt(_) => "store_corrupt",
            Self::Failed => "store_failed",
            Self::TooNew { .. } => "store_too_new",
            Self::Superseded => "superseded",
            Self::Ship(refusal) => refusal.code(),
            Self::Money(refusal) => refusal.code(),
        }
    }
}

/// What a store call answers.
pub type Answer<T> = Result<T, StoreError>;

/// Everything the core asks of storage. Writes that the gateway or the owner will be told
/// about (an acknowledged delivery, a shipped order) are durable when they return.
///
/// One trait per area below ([`Process`], [`Inbox`], [`Retention`], [`Confirmations`],
/// [`Orders`], [`Links`]), each implemented by a backend in the module that holds its SQL; a
/// store is any type with all of them. Code generic over `S: Store` calls every method; a
/// call on a concrete store needs its area's trait imported.
///
/// To add a method: declare it in its area, and implement it in each backend. Nothing
/// else: the program's `AnyStore` forwards it through
/// [`forward_store!`](crate::forward_store), which the area's declaration writes.
pub trait Store:
    Process + Inbox + Retention + Confirmations + Orders + Links + Clone + Send + Sync + 'static
{
}

impl<S> Store for S where
    S: Process + Inbox + Retention + Confirmations + Orders + Links + Clone + Send + Sync + 'static
{
}

/// Implements [`Store`] for an enum whose variants each hold a store, by forwarding every
/// call to the variant's store: `forward_store!(AnyStore { Sqlite, Postgres });`. The enum
/// must be `From` each variant's store (a `-> Self` method answers with the enum).
#[macro_export]
macro_rules! forward_store {
    ($($enum:tt)*) => {
        $crate::forward_process!($($enum)*);
        $crate::forward_inbox!($($enum)*);
        $crate::forward_retention!($($enum)*);
        $crate::forward_confirmations!($($enum)*);
        $crate::forward_orders!($($enum)*);
        $crate::forward_links!($($enum)*);
    };
}

// The areas, declared with `store_area!` (see `area`).
mod area;

crate::store_area! {
    /// The store as a whole: its clock, the listener's handle, and what other processes
    /// sharing it changed.
    pub trait Process via forward_process {
        /// Orders changed by another process that shares this store, as each change commits;
        /// `None` where no other process writes to it.
        fn remote_changes(&self) -> Option<RemoteChanges>;
        /// The shared store's change log after place `seq`, in order, at most `limit`: what a
        /// follower that fell behind missed. Empty where no other process writes to the store.
        async fn changes_after(&self, seq: i64, limit: u32) -> Answer<Vec<LoggedChange>>;

        /// The same store, whose writes fail at once with [`Unavailable::Overloaded`] when it
        /// is saturated instead of waiting for room: the listener's handle (a 503 now is better
        /// than an answer after the gateway gave up waiting).
        fn refusing_when_full(&self) -> Self;

        /// The time leases, schedules and failure windows are measured by: one clock for
        /// every process sharing the store (the database server's), the machine's own where
        /// no other process shares it. Two machines whose clocks differ then agree on whose
        /// lease ran out and when a delivery is due.
        async fn now(&self) -> Answer<Timestamp>;
    }
}

crate::store_area! {
    /// The delivery inbox.
    pub trait Inbox via forward_inbox {
        /// Keeps a notification before it is acknowledged; its id in the inbox.
        async fn record_delivery(&self, d: NewDelivery) -> Answer<i64>;
        /// Keeps a refused notification for the owner to see (a bounded number of them).
        async fn record_rejected_delivery(&self, d: RejectedDelivery) -> Answer<()>;
        /// Claims deliveries due for a confirmation attempt at `now`, oldest first: those no
        /// worker holds, those whose holder's lease ran out, and those this worker already
        /// holds (their lease renewed). Several processes may claim from one inbox at once;
        /// none gets a delivery another holds.
        async fn claim_due(
            &self,
            claim: &Claim,
            now: Timestamp,
            limit: u32,
        ) -> Answer<Vec<PendingDelivery>>;
        /// Extends to `now + lease` the hold of `claim`'s worker on every delivery it still
        /// holds (none another worker took over); how many. A worker calls it on a timer, so a
        /// confirmation that outlasts the lease, or a long queue, never lets its rows lapse.
        async fn renew_claims(&self, claim: &Claim, now: Timestamp) -> Answer<u64>;
        /// Lets go of every worker's hold on the inbox; how many deliveries were held. For a
        /// store no other process writes to, at start: every hold is a dead process's, and
        /// waiting out its lease would only delay the payments it held.
        async fn release_claims(&self) -> Answer<u64>;
        /// Acknowledged deliveries still waiting for their confirmation, oldest first, whether
        /// or not a worker holds them: what the owner (and a test) may look at, claiming none.
        async fn pending_deliveries(&self, limit: u32) -> Answer<Vec<PendingDelivery>>;
        /// When the earliest delivery waiting after `now` is due, if any waits.
        async fn next_retry_at(&self, now: Timestamp) -> Answer<Option<Timestamp>>;
        /// A failed confirmation of the deliveries a worker holds: due again at `retry_at`, and
        /// let go.
        async fn note_confirm_failure(
            &self,
            held: &Held,
            failing: Failing,
            retry_at: Timestamp,
            error: String,
        ) -> Answer<()>;
        /// Deliveries the gateway did not know yet, due again (after a restart); how many.
        async fn reopen_unknown(&self) -> Answer<u64>;
        /// The owner's "try again" on the deliveries of a reference; how many.
        async fn retry_deliveries(&self, reference: &str) -> Answer<u64>;
        async fn count_deliveries(&self, state: DeliveryState) -> Answer<u64>;
        async fn deliveries_in(
            &self,
            state: DeliveryState,
            limit: u32,
        ) -> Answer<Vec<StuckDelivery>>;
        /// Settles the deliveries a worker holds without a confirmation (the gateway does not
        /// know the payment, or the worker gave up).
        async fn settle_deliveries(
            &self,
            held: &Held,
            state: DeliveryState,
            outcome: String,
        ) -> Answer<()>;
        /// Deliveries waiting for confirmation, and when the last one arrived.
        async fn inbox_status(&self) -> Answer<(u64, Option<Timestamp>)>;
    }
}

crate::store_area! {
    /// How long the inbox keeps what it settled.
    pub trait Retention via forward_retention {
        /// Forgets settled deliveries older than `keep`; how many.
        async fn prune_settled_deliveries(&self, keep: std::time::Duration) -> Answer<usize>;
    }
}

crate::store_area! {
    /// What the gateway confirmed.
    pub trait Confirmations via forward_confirmations {
        /// Writes a confirmed job (its attempts, statuses and history) and settles the
        /// deliveries it answers, in one transaction.
        async fn apply_snapshot(
            &self,
            snapshot: JobSnapshot,
            source: ChangeSource,
            mismatch: Option<String>,
            settles: Option<Held>,
        ) -> Answer<Applied>;
    }
}

crate::store_area! {
    /// Orders: reading them, finding them, shipping them, and what the reconciler reads.
    pub trait Orders via forward_orders {
        async fn order(&self, job: &JobRef) -> Answer<Option<OrderDetail>>;
        async fn orders(&self, filter: OrderFilter) -> Answer<OrdersSlice>;
        /// How many orders match, and whether the count stopped at [`COUNT_CAP`].
        async fn count_orders(&self, filter: OrderFilter) -> Answer<(u64, bool)>;
        /// Paid orders first seen since `since`, each net of its completed refunds:
        /// today's takings.
        async fn paid_since(
            &self,
            since: Timestamp,
        ) -> Answer<Vec<(Amount, Currency, Timestamp)>>;
        /// Orders an owner's words name: exact references first, then prefixes.
        async fn lookup(&self, query: &str, limit: u32) -> Answer<Vec<OrderSummary>>;
        /// The search box: a newer search supersedes this one.
        async fn search(&self, query: &str, limit: u32) -> Answer<Vec<Found>>;
        async fn exact_matches(&self, query: &str, limit: u32) -> Answer<Vec<OrderSummary>>;
        /// Marks a paid order shipped, if the shop's rules allow it; audited.
        async fn ship(&self, req: ShipRequest) -> Answer<OrderDetail>;
        /// Records an owner's request to refund, capture or cancel BEFORE it is sent to the
        /// gateway: a Pending move of `req.kind` on `req.payment_ref`, numbered
        /// `req.number`, by `req.by`, source `owner`, and an audit entry. The sender then
        /// calls the gateway with that number; a lost answer is recovered by reading the
        /// payment's `refunds[]` and matching the number (the next confirmation updates this
        /// record, matched by number, through `apply_snapshot`). Fails, recording nothing,
        /// with [`StoreError::Money`]: the number is already used on the order; or, for a
        /// refund, the refundable balance is not `req.refundable_seen` (checked inside the
        /// write, so two machines refunding one order at once record one refund), or is
        /// below the amount. [`StoreError::NotFound`] when the order or payment is unknown.
        async fn record_money_request(&self, req: MoneyRequest) -> Answer<()>;
        /// Takes the shipped mark off; `by` (user and machine) is kept in the audit trail.
        async fn unship(&self, job: &JobRef, by: Option<String>) -> Answer<OrderDetail>;
        /// Jobs not final yet, least recently confirmed first: the reconciler's round.
        async fn unfinished_jobs(&self) -> Answer<Vec<JobRef>>;
        /// Paid (or Verified) orders whose status became paid in `[from, to)`, oldest first,
        /// after the `(paid at, job)` keyset cursor `after`, at most `limit`: a page of the
        /// refund watch's round, so it never reads the whole history at once.
        async fn paid_between(
            &self,
            from: Timestamp,
            to: Timestamp,
            after: Option<(Timestamp, JobRef)>,
            limit: u32,
        ) -> Answer<Vec<(Timestamp, JobRef)>>;
        /// What this app asked for when it created the job, if it did.
        async fn expectation(&self, job: &JobRef) -> Answer<Option<Expected>>;
    }
}

crate::store_area! {
    /// Payment links, and the audit log the owner's actions write to.
    pub trait Links via forward_links {
        async fn order_number_used(&self, order_number: &str) -> Answer<bool>;
        async fn suggest_order_number(&self) -> Answer<String>;
        async fn record_created_job(&self, r: CreatedJobRecord) -> Answer<OrderDetail>;
        async fn audit(&self, job: &JobRef, action: &str, detail: Option<String>) -> Answer<()>;
    }
}
