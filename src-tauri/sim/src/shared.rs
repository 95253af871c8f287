//! The running simulator's state, shared by its routes, shoppers and notifier.

use std::future::Future;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::watch;

use super::clock::SimClock;
use super::deliveries::DeliveryLog;
use super::faults::Faults;
use super::ledger::Ledger;
use super::money_settings::MoneySwitches;
use super::SimConfig;

/// Lock, ignoring poisoning: a panicked test task must not wedge the simulator.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) struct Shared {
    pub config: SimConfig,
    /// Replaced (never rewound) when a test advances sim time.
    pub clock: Mutex<SimClock>,
    pub money: Mutex<MoneySwitches>,
    pub base_url: String,
    pub ledger: Mutex<Ledger>,
    pub faults: Mutex<Faults>,
    pub log: Mutex<DeliveryLog>,
    /// Client for notifications (per-request timeout, no redirects).
    pub http: reqwest::Client,
    /// Bumped on every observable change, so waiters re-check their predicate.
    pub changed: watch::Sender<u64>,
    pub shutdown: watch::Sender<bool>,
}

impl Shared {
    pub fn bump(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub fn clock(&self) -> SimClock {
        *lock(&self.clock)
    }

    /// The current sim time.
    pub fn now(&self) -> time::OffsetDateTime {
        self.clock().now()
    }

    pub fn is_stopped(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Resolves once the simulator is shutting down.
    pub fn stopped(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.shutdown.subscribe();
        async move {
            // An error means the sender is gone, which also means stopped.
            let _ = rx.wait_for(|stopped| *stopped).await;
        }
    }

    pub fn hpp_url(&self, job_ref: &str) -> String {
        format!("{}/hpp/{job_ref}", self.base_url)
    }

    pub fn job_url(&self, job_ref: &str) -> String {
        format!("{}/api/gateway/payment-jobs/{job_ref}", self.base_url)
    }
}
