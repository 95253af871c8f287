//! The store a process runs on, chosen when it starts: its own SQLite file (the default,
//! no server needed) or a PostgreSQL database that several machines share. One enum, so
//! the core stays generic and the program still chooses at run time.

use std::path::Path;
use std::time::Duration;

use tillwatch_core::domain::{
    Amount, ChangeSource, Currency, DeliveryState, Expected, Failing, JobRef, JobSnapshot,
    OrderDetail, OrderSummary, StuckDelivery, Timestamp,
};
use tillwatch_core::store::{
    Applied, Claim, CreatedJobRecord, Found, Held, LoggedChange, NewDelivery, OrderFilter,
    OrdersSlice, PendingDelivery, RejectedDelivery, RemoteChanges, ShipRequest, Store, StoreError,
};
use tillwatch_store_postgres::{DatabaseConfig, PgError, PgStore, Role};
use tillwatch_store_sqlite::SqliteStore;

/// A database URL as it may be shown: no password.
pub fn describe_url(url: &str) -> String {
    DatabaseConfig::parse(url)
        .map(|c| c.to_string())
        .unwrap_or_else(|_| "the shared database (its URL does not parse)".into())
}

/// Where a process keeps its orders.
#[derive(Clone)]
pub enum AnyStore {
    /// A file of its own.
    Sqlite(SqliteStore),
    /// A database server shared with other processes and machines.
    Postgres(PgStore),
}

/// Why the store could not be opened, in words for the owner (no password, no server
/// text).
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    File(#[from] StoreError),
    #[error(transparent)]
    Server(#[from] PgError),
}

impl AnyStore {
    /// The SQLite file at `path`, created if needed.
    pub fn open_file(path: impl AsRef<Path>) -> Result<Self, OpenError> {
        Ok(Self::Sqlite(SqliteStore::open(path)?))
    }

    /// The PostgreSQL database at `url` (`postgres://user@host/db`); the password comes
    /// from the environment (`TILLWATCH_DATABASE_PASSWORD`) or the URL, never a log.
    pub async fn connect(url: &str) -> Result<Self, OpenError> {
        Self::connect_with(DatabaseConfig::from_url_and_env(url)?).await
    }

    /// The PostgreSQL database `config` names, its password already chosen (the window's
    /// comes from the environment or the OS keyring).
    pub async fn connect_with(config: DatabaseConfig) -> Result<Self, OpenError> {
        Ok(Self::Postgres(PgStore::connect(config).await?))
    }

    /// Keeps this process's row in the shared database's record of machines until `stop`
    /// (`PgStore::keep_presence`); a file of its own has no other machine to tell.
    pub async fn keep_presence(&self, role: Role, stop: impl std::future::Future<Output = ()>) {
        if let Self::Postgres(s) = self {
            s.keep_presence(role, stop).await;
        }
    }

    /// Whether other processes may write to this store too.
    pub fn is_shared(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }
}

/// The same call on whichever store this is.
macro_rules! on_either {
    ($self:ident, $s:ident => $call:expr) => {
        match $self {
            AnyStore::Sqlite($s) => $call.await,
            AnyStore::Postgres($s) => $call.await,
        }
    };
}

type Answer<T> = Result<T, StoreError>;

impl Store for AnyStore {
    fn remote_changes(&self) -> Option<RemoteChanges> {
        match self {
            Self::Sqlite(s) => s.remote_changes(),
            Self::Postgres(s) => Store::remote_changes(s),
        }
    }

    async fn changes_after(&self, seq: i64, limit: u32) -> Answer<Vec<LoggedChange>> {
        on_either!(self, s => s.changes_after(seq, limit))
    }

    fn refusing_when_full(&self) -> Self {
        match self {
            Self::Sqlite(s) => Self::Sqlite(Store::refusing_when_full(s)),
            Self::Postgres(s) => Self::Postgres(s.refusing_when_full()),
        }
    }

    async fn record_delivery(&self, d: NewDelivery) -> Answer<i64> {
        on_either!(self, s => Store::record_delivery(s, d))
    }

    async fn record_rejected_delivery(&self, d: RejectedDelivery) -> Answer<()> {
        on_either!(self, s => Store::record_rejected_delivery(s, d))
    }

    async fn claim_due(
        &self,
        claim: &Claim,
        now: Timestamp,
        limit: u32,
    ) -> Answer<Vec<PendingDelivery>> {
        on_either!(self, s => Store::claim_due(s, claim, now, limit))
    }

    async fn now(&self) -> Answer<Timestamp> {
        on_either!(self, s => Store::now(s))
    }

    async fn renew_claims(&self, claim: &Claim, now: Timestamp) -> Answer<u64> {
        on_either!(self, s => Store::renew_claims(s, claim, now))
    }

    async fn release_claims(&self) -> Answer<u64> {
        on_either!(self, s => Store::release_claims(s))
    }

    async fn pending_deliveries(&self, limit: u32) -> Answer<Vec<PendingDelivery>> {
        on_either!(self, s => Store::pending_deliveries(s, limit))
    }

    async fn next_retry_at(&self, now: Timestamp) -> Answer<Option<Timestamp>> {
        on_either!(self, s => Store::next_retry_at(s, now))
    }

    async fn note_confirm_failure(
        &self,
        held: &Held,
        failing: Failing,
        retry_at: Timestamp,
        error: String,
    ) -> Answer<()> {
        on_either!(self, s => Store::note_confirm_failure(s, held, failing, retry_at, error))
    }

    async fn reopen_unknown(&self) -> Answer<u64> {
        on_either!(self, s => Store::reopen_unknown(s))
    }

    async fn retry_deliveries(&self, reference: &str) -> Answer<u64> {
        on_either!(self, s => Store::retry_deliveries(s, reference))
    }

    async fn count_deliveries(&self, state: DeliveryState) -> Answer<u64> {
        on_either!(self, s => Store::count_deliveries(s, state))
    }

    async fn deliveries_in(&self, state: DeliveryState, limit: u32) -> Answer<Vec<StuckDelivery>> {
        on_either!(self, s => Store::deliveries_in(s, state, limit))
    }

    async fn settle_deliveries(
        &self,
        held: &Held,
        state: DeliveryState,
        outcome: String,
    ) -> Answer<()> {
        on_either!(self, s => Store::settle_deliveries(s, held, state, outcome))
    }

    async fn inbox_status(&self) -> Answer<(u64, Option<Timestamp>)> {
        on_either!(self, s => Store::inbox_status(s))
    }

    async fn prune_settled_deliveries(&self, keep: Duration) -> Answer<usize> {
        on_either!(self, s => Store::prune_settled_deliveries(s, keep))
    }

    async fn apply_snapshot(
        &self,
        snapshot: JobSnapshot,
        source: ChangeSource,
        mismatch: Option<String>,
        settles: Option<Held>,
    ) -> Answer<Applied> {
        on_either!(self, s => Store::apply_snapshot(s, snapshot, source, mismatch, settles))
    }

    async fn unfinished_jobs(&self) -> Answer<Vec<JobRef>> {
        on_either!(self, s => Store::unfinished_jobs(s))
    }

    async fn expectation(&self, job: &JobRef) -> Answer<Option<Expected>> {
        on_either!(self, s => Store::expectation(s, job))
    }

    async fn order(&self, job: &JobRef) -> Answer<Option<OrderDetail>> {
        on_either!(self, s => Store::order(s, job))
    }

    async fn orders(&self, filter: OrderFilter) -> Answer<OrdersSlice> {
        on_either!(self, s => Store::orders(s, filter))
    }

    async fn count_orders(&self, filter: OrderFilter) -> Answer<(u64, bool)> {
        on_either!(self, s => Store::count_orders(s, filter))
    }

    async fn paid_since(&self, since: Timestamp) -> Answer<Vec<(Amount, Currency, Timestamp)>> {
        on_either!(self, s => Store::paid_since(s, since))
    }

    async fn lookup(&self, query: &str, limit: u32) -> Answer<Vec<OrderSummary>> {
        on_either!(self, s => Store::lookup(s, query, limit))
    }

    async fn search(&self, query: &str, limit: u32) -> Answer<Vec<Found>> {
        on_either!(self, s => Store::search(s, query, limit))
    }

    async fn exact_matches(&self, query: &str, limit: u32) -> Answer<Vec<OrderSummary>> {
        on_either!(self, s => Store::exact_matches(s, query, limit))
    }

    async fn ship(&self, req: ShipRequest) -> Answer<OrderDetail> {
        on_either!(self, s => Store::ship(s, req))
    }

    async fn unship(&self, job: &JobRef, by: Option<String>) -> Answer<OrderDetail> {
        on_either!(self, s => Store::unship(s, job, by))
    }

    async fn order_number_used(&self, order_number: &str) -> Answer<bool> {
        on_either!(self, s => Store::order_number_used(s, order_number))
    }

    async fn suggest_order_number(&self) -> Answer<String> {
        on_either!(self, s => Store::suggest_order_number(s))
    }

    async fn record_created_job(&self, r: CreatedJobRecord) -> Answer<OrderDetail> {
        on_either!(self, s => Store::record_created_job(s, r))
    }

    async fn audit(&self, job: &JobRef, action: &str, detail: Option<String>) -> Answer<()> {
        on_either!(self, s => Store::audit(s, job, action, detail))
    }
}
