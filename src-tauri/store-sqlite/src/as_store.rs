//! `SqliteStore` as the core's `Store`: each method is the inherent one of the same name
//! (in the module that holds its SQL).

use std::future::Future;
use std::time::Duration;

use tillwatch_core::domain::{
    Amount, ChangeSource, Currency, DeliveryState, Expected, Failing, JobRef, JobSnapshot,
    OrderDetail, OrderSummary, StuckDelivery, Timestamp,
};
use tillwatch_core::store::{
    Applied, Claim, CreatedJobRecord, Found, Held, LoggedChange, NewDelivery, OrderFilter,
    OrdersSlice, PendingDelivery, RejectedDelivery, RemoteChanges, ShipRequest, Store, StoreError,
};

use super::SqliteStore;

type Answer<T> = Result<T, StoreError>;

impl Store for SqliteStore {
    /// One process owns the file: nothing else writes to it.
    fn remote_changes(&self) -> Option<RemoteChanges> {
        None
    }

    /// No other process writes to the file: there is nothing to miss.
    fn changes_after(
        &self,
        _seq: i64,
        _limit: u32,
    ) -> impl Future<Output = Answer<Vec<LoggedChange>>> + Send {
        std::future::ready(Ok(Vec::new()))
    }

    fn refusing_when_full(&self) -> Self {
        SqliteStore::refusing_when_full(self)
    }

    fn record_delivery(&self, d: NewDelivery) -> impl Future<Output = Answer<i64>> + Send {
        SqliteStore::record_delivery(self, d)
    }

    fn record_rejected_delivery(
        &self,
        d: RejectedDelivery,
    ) -> impl Future<Output = Answer<()>> + Send {
        SqliteStore::record_rejected_delivery(self, d)
    }

    fn claim_due(
        &self,
        claim: &Claim,
        now: Timestamp,
        limit: u32,
    ) -> impl Future<Output = Answer<Vec<PendingDelivery>>> + Send {
        SqliteStore::claim_due(self, claim, now, limit)
    }

    fn now(&self) -> impl Future<Output = Answer<Timestamp>> + Send {
        // One machine, one clock: no process on another machine shares this file.
        std::future::ready(Ok(Timestamp::now()))
    }

    fn renew_claims(
        &self,
        claim: &Claim,
        now: Timestamp,
    ) -> impl Future<Output = Answer<u64>> + Send {
        SqliteStore::renew_claims(self, claim, now)
    }

    fn release_claims(&self) -> impl Future<Output = Answer<u64>> + Send {
        SqliteStore::release_claims(self)
    }

    fn pending_deliveries(
        &self,
        limit: u32,
    ) -> impl Future<Output = Answer<Vec<PendingDelivery>>> + Send {
        SqliteStore::pending_deliveries(self, limit)
    }

    fn next_retry_at(
        &self,
        now: Timestamp,
    ) -> impl Future<Output = Answer<Option<Timestamp>>> + Send {
        SqliteStore::next_retry_at(self, now)
    }

    fn note_confirm_failure(
        &self,
        held: &Held,
        failing: Failing,
        retry_at: Timestamp,
        error: String,
    ) -> impl Future<Output = Answer<()>> + Send {
        SqliteStore::note_confirm_failure(self, held, failing, retry_at, error)
    }

    fn reopen_unknown(&self) -> impl Future<Output = Answer<u64>> + Send {
        SqliteStore::reopen_unknown(self)
    }

    fn retry_deliveries(&self, reference: &str) -> impl Future<Output = Answer<u64>> + Send {
        SqliteStore::retry_deliveries(self, reference)
    }

    fn count_deliveries(&self, state: DeliveryState) -> impl Future<Output = Answer<u64>> + Send {
        SqliteStore::count_deliveries(self, state)
    }

    fn deliveries_in(
        &self,
        state: DeliveryState,
        limit: u32,
    ) -> impl Future<Output = Answer<Vec<StuckDelivery>>> + Send {
        SqliteStore::deliveries_in(self, state, limit)
    }

    fn settle_deliveries(
        &self,
        held: &Held,
        state: DeliveryState,
        outcome: String,
    ) -> impl Future<Output = Answer<()>> + Send {
        SqliteStore::settle_deliveries(self, held, state, outcome)
    }

    fn inbox_status(&self) -> impl Future<Output = Answer<(u64, Option<Timestamp>)>> + Send {
        SqliteStore::inbox_status(self)
    }

    fn prune_settled_deliveries(
        &self,
        keep: Duration,
    ) -> impl Future<Output = Answer<usize>> + Send {
        SqliteStore::prune_settled_deliveries(self, keep)
    }

    fn apply_snapshot(
        &self,
        snapshot: JobSnapshot,
        source: ChangeSource,
        mismatch: Option<String>,
        settles: Option<Held>,
    ) -> impl Future<Output = Answer<Applied>> + Send {
        SqliteStore::apply_snapshot(self, snapshot, source, mismatch, settles)
    }

    fn unfinished_jobs(&self) -> impl Future<Output = Answer<Vec<JobRef>>> + Send {
        SqliteStore::unfinished_jobs(self)
    }

    fn expectation(&self, job: &JobRef) -> impl Future<Output = Answer<Option<Expected>>> + Send {
        SqliteStore::expectation(self, job)
    }

    fn order(&self, job: &JobRef) -> impl Future<Output = Answer<Option<OrderDetail>>> + Send {
        SqliteStore::order(self, job)
    }

    fn orders(&self, filter: OrderFilter) -> impl Future<Output = Answer<OrdersSlice>> + Send {
        SqliteStore::orders(self, filter)
    }

    fn count_orders(
        &self,
        filter: OrderFilter,
    ) -> impl Future<Output = Answer<(u64, bool)>> + Send {
        SqliteStore::count_orders(self, filter)
    }

    fn paid_since(
        &self,
        since: Timestamp,
    ) -> impl Future<Output = Answer<Vec<(Amount, Currency, Timestamp)>>> + Send {
        SqliteStore::paid_since(self, since)
    }

    fn lookup(
        &self,
        query: &str,
        limit: u32,
    ) -> impl Future<Output = Answer<Vec<OrderSummary>>> + Send {
        SqliteStore::lookup(self, query, limit)
    }

    fn search(&self, query: &str, limit: u32) -> impl Future<Output = Answer<Vec<Found>>> + Send {
        SqliteStore::search(self, query, limit)
    }

    fn exact_matches(
        &self,
        query: &str,
        limit: u32,
    ) -> impl Future<Output = Answer<Vec<OrderSummary>>> + Send {
        SqliteStore::exact_matches(self, query, limit)
    }

    fn ship(&self, req: ShipRequest) -> impl Future<Output = Answer<OrderDetail>> + Send {
        SqliteStore::ship(self, req)
    }

    fn unship(
        &self,
        job: &JobRef,
        by: Option<String>,
    ) -> impl Future<Output = Answer<OrderDetail>> + Send {
        SqliteStore::unship(self, job, by)
    }

    fn order_number_used(&self, order_number: &str) -> impl Future<Output = Answer<bool>> + Send {
        SqliteStore::order_number_used(self, order_number)
    }

    fn suggest_order_number(&self) -> impl Future<Output = Answer<String>> + Send {
        SqliteStore::suggest_order_number(self)
    }

    fn record_created_job(
        &self,
        r: CreatedJobRecord,
    ) -> impl Future<Output = Answer<OrderDetail>> + Send {
        SqliteStore::record_created_job(self, r)
    }

    fn audit(
        &self,
        job: &JobRef,
        action: &str,
        detail: Option<String>,
    ) -> impl Future<Output = Answer<()>> + Send {
        SqliteStore::audit(self, job, action, detail)
    }
}
