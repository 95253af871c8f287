use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::watch;

use crate::domain::Timestamp;

/// Whether we may call the gateway. It opens on the first 401, because repeated bad
/// signatures may lock the merchant's account, and on `READ_REFUSALS_TO_OPEN` 403s in a
/// row on reads; a 403 on a write is about that operation alone and never opens it.
/// It stays open until the owner fixes the credentials (`reset`), rather than probing on
/// a timer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum BreakerState {
    Closed,
    Open { reason: String, since: Timestamp },
}

/// 403s in a row on reads that open the breaker. One may be about a single job; three
/// in a row, with no success between, are about our credentials.
pub const READ_REFUSALS_TO_OPEN: u32 = 3;

#[derive(Clone)]
pub struct Breaker {
    tx: Arc<watch::Sender<BreakerState>>,
    read_refusals: Arc<AtomicU32>,
}

impl Default for Breaker {
    fn default() -> Self {
        Self {
            tx: Arc::new(watch::channel(BreakerState::Closed).0),
            read_refusals: Arc::new(AtomicU32::new(0)),
        }
    }
}

impl Breaker {
    pub fn is_open(&self) -> bool {
        matches!(*self.tx.borrow(), BreakerState::Open { .. })
    }

    pub fn state(&self) -> BreakerState {
        self.tx.borrow().clone()
    }

    pub fn subscribe(&self) -> watch::Receiver<BreakerState> {
        self.tx.subscribe()
    }

    pub fn open(&self, reason: String) {
        self.tx.send_if_modified(|s| {
            if matches!(s, BreakerState::Closed) {
                *s = BreakerState::Open {
                    reason,
                    since: Timestamp::now(),
                };
                true
            } else {
                false
            }
        });
    }

    /// Counts a 403 on a read; true when it is the `READ_REFUSALS_TO_OPEN`th in a row, so
    /// the caller opens the breaker with its reason.
    pub fn count_read_refusal(&self) -> bool {
        self.read_refusals.fetch_add(1, Ordering::Relaxed) + 1 >= READ_REFUSALS_TO_OPEN
    }

    /// Any successful answer ends a run of refusals.
    pub fn count_success(&self) {
        self.read_refusals.store(0, Ordering::Relaxed);
    }

    pub fn reset(&self) {
        self.read_refusals.store(0, Ordering::Relaxed);
        self.tx.send_if_modified(|s| {
            let was_open = matches!(s, BreakerState::Open { .. });
            *s = BreakerState::Closed;
            was_open
        });
    }
}
