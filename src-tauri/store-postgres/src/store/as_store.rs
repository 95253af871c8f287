//! `PgStore` as the core's `Store`: each method is the inherent one of the same name (in
//! the module that holds its SQL).

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

use super::PgStore;

type Answer<T> = Result<T, StoreError>;

impl Store for PgStore {
    fn remote_changes(&self) -> Option<RemoteChanges> {
        Some(PgStore::remote_changes(self))
    }

    fn changes_after(
        &self,
        seq: i64,
        limit: u32,
    ) -> impl Future<Output = Answer<Vec<LoggedChange>>> + Send {
        PgStore::changes_after(self, seq, limit)
    }

    fn refusing_when_full(&self) -> Self {
        self.refusing()
    }

    fn record_delivery(&self, d: NewDelivery) -> impl Future<Output = Answer<i64>> + Send {
        PgStore::record_delivery(self, d)
    }

    fn record_rejected_delivery(
        &self,
        d: RejectedDelivery,
    ) -> impl Future<Output = Answer<()>> + Send {
        PgStore::record_rejected_delivery(self, d)
    }

    fn claim_due(
        &self,
        claim: &Claim,
        now: Timestamp,
        limit: u32,
    ) -> impl Future<Output = Answer<Vec<PendingDelivery>>> + Send {
        PgStore::claim_due(self, claim, now, limit)
    }

    fn next_retry_at(
        &self,
        now: Timestamp,
    ) -> impl Future<Output = Answer<Option<Timestamp>>> + Send {
        PgStore::next_retry_at(self, now)
    }

    fn note_confirm_failure(
        &self,
        held: &Held,
        failing: Failing,
        retry_at: Timestamp,
        error: String,
    ) -> impl Future<Output = Answer<()>> + Send {
        PgStore::note_confirm_failure(self, held, failing, retry_at, error)
    }

    fn reopen_unknown(&self) -> impl Future<Output = Answer<u64>> + Send {
        PgStore::reopen_unknown(self)
    }

    fn retry_deliveries(&self, reference: &str) -> impl Future<Output = Answer<u64>> + Send {
        PgStore::retry_deliveries(self, reference)
    }

    fn count_deliveries(&self, state: DeliveryState) -> impl Future<Output = Answer<u64>> + Send {
        PgStore::count_deliveries(self, state)
    }

    fn deliveries_in(
        &self,
        state: DeliveryState,
        limit: u32,
    ) -> impl Future<Output = Answer<Vec<StuckDelivery>>> + Send {
        PgStore::deliveries_in(self, state, limit)
    }

    fn settle_deliveries(
        &self,
        held: &Held,
        state: DeliveryState,
        outcome: String,
    ) -> impl Future<Output = Answer<()>> + Send {
        PgStore::settle_deliveries(self, held, state, outcome)
    }

    fn now(&self) -> impl Future<Output = Answer<Timestamp>> + Send {
        PgStore::now(self)
    }

    fn renew_claims(
        &self,
        claim: &Claim,
        now: Timestamp,
    ) -> impl Future<Output = Answer<u64>> + Send {
        PgStore::renew_claims(self, claim, now)
    }

    fn release_claims(&self) -> impl Future<Output = Answer<u64>> + Send {
        PgStore::release_claims(self)
    }

    fn pending_deliveries(
        &self,
        limit: u32,
    ) -> impl Future<Output = Answer<Vec<PendingDelivery>>> + Send {
        PgStore::pending_deliveries(self, limit)
    }

    fn inbox_status(&self) -> impl Future<Output = Answer<(u64, Option<Timestamp>)>> + Send {
        PgStore::inbox_status(self)
    }

    fn prune_settled_deliveries(
        &self,
        keep: Duration,
    ) -> impl Future<Output = Answer<usize>> + Send {
        PgStore::prune_settled_deliveries(self, keep)
    }

    fn apply_snapshot(
        &self,
        snapshot: JobSnapshot,
        source: ChangeSource,
        mismatch: Option<String>,
        settles: Option<Held>,
    ) -> impl Future<Output = Answer<Applied>> + Send {
        PgStore::apply_snapshot(self, snapshot, source, mismatch, settles)
    }

    fn unfinished_jobs(&self) -> impl Future<Output = Answer<Vec<JobRef>>> + Send {
        PgStore::unfinished_jobs(self)
    }

    fn expectation(&self, job: &JobRef) -> impl Future<Output = Answer<Option<Expected>>> + Send {
        PgStore::expectation(self, job)
    }

    fn order(&self, job: &JobRef) -> impl Future<Output = Answer<Option<OrderDetail>>> + Send {
        PgStore::order(self, job)
    }

    fn orders(&self, filter: OrderFilter) -> impl Future<Output = Answer<OrdersSlice>> + Send {
        PgStore::orders(self, filter)
    }

    fn count_orders(
        &self,
        filter: OrderFilter,
    ) -> impl Future<Output = Answer<(u64, bool)>> + Send {
        PgStore::count_orders(self, filter)
    }

    fn paid_since(
        &self,
        since: Timestamp,
    ) -> impl Future<Output = Answer<Vec<(Amount, Currency, Timestamp)>>> + Send {
        PgStore::paid_since(self, since)
    }

    fn lookup(
        &self,
        query: &str,
        limit: u32,
    ) -> impl Future<Output = Answer<Vec<OrderSummary>>> + Send {
        PgStore::lookup(self, query, limit)
    }

    fn search(&self, query: &str, limit: u32) -> impl Future<Output = Answer<Vec<Found>>> + Send {
        PgStore::search(self, query, limit)
    }

    fn exact_matches(
        &self,
        query: &str,
        limit: u32,
    ) -> impl Future<Output = Answer<Vec<OrderSummary>>> + Send {
        PgStore::exact_matches(self, query, limit)
    }

    fn ship(&self, req: ShipRequest) -> impl Future<Output = Answer<OrderDetail>> + Send {
        PgStore::ship(self, req)
    }

    fn unship(
        &self,
        job: &JobRef,
        by: Option<String>,
    ) -> impl Future<Output = Answer<OrderDetail>> + Send {
        PgStore::unship(self, job, by)
    }

    fn order_number_used(&self, order_number: &str) -> impl Future<Output = Answer<bool>> + Send {
        PgStore::order_number_used(self, order_number)
    }

    fn suggest_order_number(&self) -> impl Future<Output = Answer<String>> + Send {
        PgStore::suggest_order_number(self)
    }

    fn record_created_job(
        &self,
        r: CreatedJobRecord,
    ) -> impl Future<Output = Answer<OrderDetail>> + Send {
        PgStore::record_created_job(self, r)
    }

    fn audit(
        &self,
        job: &JobRef,
        action: &str,
        detail: Option<String>,
    ) -> impl Future<Output = Answer<()>> + Send {
        PgStore::audit(self, job, action, detail)
    }
}
