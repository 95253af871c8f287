//! `SimHandle`, the in-process face that tests and the demo mode drive the running
//! simulator through.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;

use super::clock::SimClock;
use super::deliveries::{DeliveryAttempt, SeriesRecord};
use super::faults::{Endpoint, Fault, FaultTarget};
use super::model::{ErrorReport, Job, Refund};
use super::money_api::{portal_refund, PortalRefused};
use super::money_settings::{MoneySettings, RefundMode};
use super::request::CreateJob;
use super::shared::{lock, Shared};
use super::shopper::{self, Script, ShopperError};
use super::SimConfig;

/// A job just created, with the page to send the shopper to.
#[derive(Clone, Debug, PartialEq)]
pub struct JobSnapshot {
    pub reference: String,
    /// The reference of the job's first payment (`payments[0]`).
    pub payment_reference: String,
    pub hpp_url: String,
    pub job: Job,
}

/// Waiting for the simulator took longer than allowed.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("timed out after {0:?} waiting for the simulator")]
pub struct WaitTimeout(pub Duration);

/// A handle on a running simulator. Cheap to clone; `shutdown` stops it.
#[derive(Clone)]
pub struct SimHandle {
    pub(crate) shared: Arc<Shared>,
    pub(crate) server: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl SimHandle {
    /// `http://127.0.0.1:PORT`; the gateway API lives under `/api/gateway`.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    pub fn config(&self) -> &SimConfig {
        &self.shared.config
    }

    /// The sim clock as it reads now (a copy: `advance_clock` replaces it).
    pub fn clock(&self) -> SimClock {
        self.shared.clock()
    }

    /// Create a job in-process (no signature), as the shop's website would.
    pub fn create_job(&self, request: CreateJob) -> Result<JobSnapshot, ErrorReport> {
        self.create_job_for(&self.shared.config.configuration_id, request)
    }

    /// Create a job of the merchant whose `ConfigurationId` is `configuration_id`. Another
    /// merchant's job is refused (403) to our configuration, as the gateway refuses it;
    /// its notifications go only to its own `webhook_url`.
    pub fn create_job_for(
        &self,
        configuration_id: &str,
        request: CreateJob,
    ) -> Result<JobSnapshot, ErrorReport> {
        let new = request.validate()?;
        let merchant = (configuration_id != self.shared.config.configuration_id)
            .then(|| configuration_id.to_owned());
        let job = lock(&self.shared.ledger).create_for(new, self.shared.now(), merchant);
        self.shared.bump();
        Ok(JobSnapshot {
            reference: job.reference.clone(),
            payment_reference: job.payments[0].reference.clone(),
            hpp_url: self.shared.hpp_url(&job.reference),
            job,
        })
    }

    /// Spawn a shopper playing `script` on the job.
    pub fn play(&self, job_ref: &str, script: Script) -> JoinHandle<Result<Job, ShopperError>> {
        tokio::spawn(shopper::play(
            self.shared.clone(),
            job_ref.to_owned(),
            script,
        ))
    }

    /// Play `script` to its end; the job as the shopper left it. Notifications may
    /// still be in flight: see `wait_all_settled`.
    pub async fn play_and_wait(&self, job_ref: &str, script: Script) -> Result<Job, ShopperError> {
        shopper::play(self.shared.clone(), job_ref.to_owned(), script).await
    }

    /// The job's current JSON, as `GET /payment-jobs/{ref}` answers in `data`.
    pub fn job(&self, job_ref: &str) -> Option<serde_json::Value> {
        self.job_typed(job_ref)
            .map(|j| serde_json::to_value(j).expect("a job serialises"))
    }

    pub fn job_typed(&self, job_ref: &str) -> Option<Job> {
        lock(&self.shared.ledger).job(job_ref).cloned()
    }

    /// Move sim time forward by `by` (e.g. past the midnight that settles a payment).
    /// Pending refunds due by then complete; waits already under way keep their deadlines.
    pub fn advance_clock(&self, by: Duration) {
        {
            let mut clock = lock(&self.shared.clock);
            *clock = clock.advanced(by);
        }
        self.shared.bump();
    }

    /// The money switches as they are now.
    pub fn money_settings(&self) -> MoneySettings {
        lock(&self.shared.money).settings.clone()
    }

    /// Replace the sim-wide money switches (per-job auto-capture overrides stay).
    pub fn set_money_settings(&self, settings: MoneySettings) {
        lock(&self.shared.money).settings = settings;
        self.shared.bump();
    }

    /// Whether card payments of jobs without their own setting stop at `Reserved`.
    pub fn set_auto_capture(&self, on: bool) {
        lock(&self.shared.money).settings.auto_capture = on;
        self.shared.bump();
    }

    /// Auto-capture for one job, whatever the sim-wide switch says.
    pub fn set_job_auto_capture(&self, job_ref: &str, on: bool) {
        lock(&self.shared.money)
            .auto_capture_by_job
            .insert(job_ref.to_owned(), on);
    }

    /// Whether a capture sends a status notification (default on).
    pub fn set_capture_notifies(&self, on: bool) {
        lock(&self.shared.money).settings.capture_notifies = on;
        self.shared.bump();
    }

    /// How refunds made from now on end.
    pub fn set_refund_mode(&self, mode: RefundMode) {
        lock(&self.shared.money).settings.refunds = mode;
        self.shared.bump();
    }

    /// Refund as the merchant would in the Cashflows portal: no signature, no
    /// notification, and the same checks as the API (settled, within the balance).
    /// Without a `refund_number` the portal makes one up.
    pub fn portal_refund(
        &self,
        job_ref: &str,
        payment_ref: &str,
        amount: rust_decimal::Decimal,
        refund_number: Option<String>,
    ) -> Result<Refund, PortalRefused> {
        portal_refund(&self.shared, job_ref, payment_ref, amount, refund_number)
    }

    /// Every job reference, oldest first.
    pub fn job_refs(&self) -> Vec<String> {
        lock(&self.shared.ledger).job_refs()
    }

    /// Every notification delivery attempt so far, in the order they were made.
    pub fn deliveries(&self) -> Vec<DeliveryAttempt> {
        lock(&self.shared.log).attempts.clone()
    }

    /// Every notification series so far, by series number.
    pub fn series(&self) -> Vec<SeriesRecord> {
        lock(&self.shared.log).series.clone()
    }

    /// Gateway API requests received for `endpoint` (including refused ones).
    pub fn api_request_count(&self, endpoint: Endpoint) -> u64 {
        lock(&self.shared.faults).count(endpoint)
    }

    /// Apply `fault` to `target` until cleared (`Fault::None` clears the target).
    pub fn set_fault(&self, target: FaultTarget, fault: Fault) {
        lock(&self.shared.faults).set(target, fault, None);
        self.shared.bump();
    }

    /// Apply `fault` to the next `times` requests to `target` only.
    pub fn set_fault_times(&self, target: FaultTarget, fault: Fault, times: u32) {
        lock(&self.shared.faults).set(target, fault, Some(times));
        self.shared.bump();
    }

    /// Clear every fault (and release hung requests).
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
        self.shared.bump();
    }

    /// Wait until `predicate` holds, re-checking on every change in the simulator
    /// (jobs, deliveries, series, requests, faults).
    pub async fn wait_until(
        &self,
        mut predicate: impl FnMut(&SimHandle) -> bool,
        timeout: Duration,
    ) -> Result<(), WaitTimeout> {
        let mut changes = self.shared.changed.subscribe();
        let wait = async {
            loop {
                changes.borrow_and_update();
                if predicate(self) {
                    return;
                }
                if changes.changed().await.is_err() {
                    // Unreachable while `self` holds the sender; avoid a busy loop anyway.
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .map_err(|_| WaitTimeout(timeout))
    }

    /// Wait until notification series `series` is acknowledged, given up or stopped.
    pub async fn wait_settled(
        &self,
        series: u64,
        timeout: Duration,
    ) -> Result<SeriesRecord, WaitTimeout> {
        let find = |h: &SimHandle| {
            h.series()
                .into_iter()
                .find(|s| s.series == series && s.state.is_settled())
        };
        self.wait_until(|h| find(h).is_some(), timeout).await?;
        Ok(find(self).expect("settled series stays settled"))
    }

    /// Wait until at least `min_series` series exist and all of them have settled.
    pub async fn wait_all_settled(
        &self,
        min_series: usize,
        timeout: Duration,
    ) -> Result<Vec<SeriesRecord>, WaitTimeout> {
        self.wait_until(
            |h| {
                let s = h.series();
                s.len() >= min_series && s.iter().all(|s| s.state.is_settled())
            },
            timeout,
        )
        .await?;
        Ok(self.series())
    }

    /// Stop the server, shoppers, notification series and demo traffic; waits for
    /// the server to finish. Idempotent.
    pub async fn shutdown(&self) {
        self.shared.shutdown.send_replace(true);
        self.shared.bump();
        let server = lock(&self.server).take();
        if let Some(server) = server {
            if let Err(e) = server.await {
                tracing::warn!(error = %e, "sim: server task ended badly");
            }
        }
    }

    pub fn is_shut_down(&self) -> bool {
        self.shared.is_stopped()
    }
}
