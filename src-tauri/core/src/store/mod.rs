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
mod orders;
mod page_query;
mod pages;
mod ref_index;
mod refs;
mod search;
mod ship;
mod unfinished;

use std::future::Future;
use std::time::Duration;

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
        }
    }
}

type Answer<T> = Result<T, StoreError>;

/// Everything the core asks of storage. Writes that the gateway or the owner will be told
/// about (an acknowledged delivery, a shipped order) are durable when they return.
pub trait Store: Clone + Send + Sync + 'static {
    /// Orders changed by another process that shares this store, as each change commits;
    /// `None` where no other process writes to it.
    fn remote_changes(&self) -> Option<RemoteChanges>;
    /// The shared store's change log after place `seq`, in order, at most `limit`: what a
    /// follower that fell behind missed. Empty where no other process writes to the store.
    fn changes_after(
        &self,
        seq: i64,
        limit: u32,
    ) -> impl Future<Output = Answer<Vec<LoggedChange>>> + Send;

    /// The same store, whose writes fail at once with [`Unavailable::Overloaded`] when it
    /// is saturated instead of waiting for room: the listener's handle (a 503 now is better
    /// than an answer after the gateway gave up waiting).
    fn refusing_when_full(&self) -> Self;

    /// The time leases, schedules and failure windows are measured by: one clock for
    /// every process sharing the store (the database server's), the machine's own where
    /// no other process shares it. Two machines whose clocks differ then agree on whose
    /// lease ran out and when a delivery is due.
    fn now(&self) -> impl Future<Output = Answer<Timestamp>> + Send;

    // The delivery inbox.

    /// Keeps a notification before it is acknowledged; its id in the inbox.
    fn record_delivery(&self, d: NewDelivery) -> impl Future<Output = Answer<i64>> + Send;
    /// Keeps a refused notification for the owner to see (a bounded number of them).
    fn record_rejected_delivery(
        &self,
        d: RejectedDelivery,
    ) -> impl Future<Output = Answer<()>> + Send;
    /// Claims deliveries due for a confirmation attempt at `now`, oldest first: those no
    /// worker holds, those whose holder's lease ran out, and those this worker already
    /// holds (their lease renewed). Several processes may claim from one inbox at once;
    /// none gets a delivery another holds.
    fn claim_due(
        &self,
        claim: &Claim,
        now: Timestamp,
        limit: u32,
    ) -> impl Future<Output = Answer<Vec<PendingDelivery>>> + Send;
    /// Extends to `now + lease` the hold of `claim`'s worker on every delivery it still
    /// holds (none another worker took over); how many. A worker calls it on a timer, so a
    /// confirmation that outlasts the lease, or a long queue, never lets its rows lapse.
    fn renew_claims(
        &self,
        claim: &Claim,
        now: Timestamp,
    ) -> impl Future<Output = Answer<u64>> + Send;
    /// Lets go of every worker's hold on the inbox; how many deliveries were held. For a
    /// store no other process writes to, at start: every hold is a dead process's, and
    /// waiting out its lease would only delay the payments it held.
    fn release_claims(&self) -> impl Future<Output = Answer<u64>> + Send;
    /// Acknowledged deliveries still waiting for their confirmation, oldest first, whether
    /// or not a worker holds them: what the owner (and a test) may look at, claiming none.
    fn pending_deliveries(
        &self,
        limit: u32,
    ) -> impl Future<Output = Answer<Vec<PendingDelivery>>> + Send;
    /// When the earliest delivery waiting after `now` is due, if any waits.
    fn next_retry_at(
        &self,
        now: Timestamp,
    ) -> impl Future<Output = Answer<Option<Timestamp>>> + Send;
    /// A failed confirmation of the deliveries a worker holds: due again at `retry_at`, and
    /// let go.
    fn note_confirm_failure(
        &self,
        held: &Held,
        failing: Failing,
        retry_at: Timestamp,
        error: String,
    ) -> impl Future<Output = Answer<()>> + Send;
    /// Deliveries the gateway did not know yet, due again (after a restart); how many.
    fn reopen_unknown(&self) -> impl Future<Output = Answer<u64>> + Send;
    /// The owner's "try again" on the deliveries of a reference; how many.
    fn retry_deliveries(&self, reference: &str) -> impl Future<Output = Answer<u64>> + Send;
    fn count_deliveries(&self, state: DeliveryState) -> impl Future<Output = Answer<u64>> + Send;
    fn deliveries_in(
        &self,
        state: DeliveryState,
        limit: u32,
    ) -> impl Future<Output = Answer<Vec<StuckDelivery>>> + Send;
    /// Settles the deliveries a worker holds without a confirmation (the gateway does not
    /// know the payment, or the worker gave up).
    fn settle_deliveries(
        &self,
        held: &Held,
        state: DeliveryState,
        outcome: String,
    ) -> impl Future<Output = Answer<()>> + Send;
    /// Deliveries waiting for confirmation, and when the last one arrived.
    fn inbox_status(&self) -> impl Future<Output = Answer<(u64, Option<Timestamp>)>> + Send;
    /// Forgets settled deliveries older than `keep`; how many.
    fn prune_settled_deliveries(
        &self,
        keep: Duration,
    ) -> impl Future<Output = Answer<usize>> + Send;

    // What the gateway confirmed.

    /// Writes a confirmed job (its attempts, statuses and history) and settles the
    /// deliveries it answers, in one transaction.
    fn apply_snapshot(
        &self,
        snapshot: JobSnapshot,
        source: ChangeSource,
        mismatch: Option<String>,
        settles: Option<Held>,
    ) -> impl Future<Output = Answer<Applied>> + Send;
    /// Jobs not final yet, least recently confirmed first: the reconciler's round.
    fn unfinished_jobs(&self) -> impl Future<Output = Answer<Vec<JobRef>>> + Send;
    /// What this app asked for when it created the job, if it did.
    fn expectation(&self, job: &JobRef) -> impl Future<Output = Answer<Option<Expected>>> + Send;

    // Orders.

    fn order(&self, job: &JobRef) -> impl Future<Output = Answer<Option<OrderDetail>>> + Send;
    fn orders(&self, filter: OrderFilter) -> impl Future<Output = Answer<OrdersSlice>> + Send;
    /// How many orders match, and whether the count stopped at [`COUNT_CAP`].
    fn count_orders(&self, filter: OrderFilter)
        -> impl Future<Output = Answer<(u64, bool)>> + Send;
    /// Paid orders first seen since `since`: today's takings.
    fn paid_since(
        &self,
        since: Timestamp,
    ) -> impl Future<Output = Answer<Vec<(Amount, Currency, Timestamp)>>> + Send;
    /// Orders an owner's words name: exact references first, then prefixes.
    fn lookup(
        &self,
        query: &str,
        limit: u32,
    ) -> impl Future<Output = Answer<Vec<OrderSummary>>> + Send;
    /// The search box: a newer search supersedes this one.
    fn search(&self, query: &str, limit: u32) -> impl Future<Output = Answer<Vec<Found>>> + Send;
    fn exact_matches(
        &self,
        query: &str,
        limit: u32,
    ) -> impl Future<Output = Answer<Vec<OrderSummary>>> + Send;
    /// Marks a paid order shipped, if the shop's rules allow it; audited.
    fn ship(&self, req: ShipRequest) -> impl Future<Output = Answer<OrderDetail>> + Send;
    /// Takes the shipped mark off; `by` (user and machine) is kept in the audit trail.
    fn unship(
        &self,
        job: &JobRef,
        by: Option<String>,
    ) -> impl Future<Output = Answer<OrderDetail>> + Send;

    // Payment links.

    fn order_number_used(&self, order_number: &str) -> impl Future<Output = Answer<bool>> + Send;
    fn suggest_order_number(&self) -> impl Future<Output = Answer<String>> + Send;
    fn record_created_job(
        &self,
        r: CreatedJobRecord,
    ) -> impl Future<Output = Answer<OrderDetail>> + Send;
    fn audit(
        &self,
        job: &JobRef,
        action: &str,
        detail: Option<String>,
    ) -> impl Future<Output = Answer<()>> + Send;
}
