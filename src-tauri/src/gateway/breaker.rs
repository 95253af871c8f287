use std::sync::Arc;

use serde::Serialize;
use tokio::sync::watch;

use crate::domain::Timestamp;

/// Whether we may call the gateway. It opens on the first 401/403, because repeated bad
/// signatures may lock the merchant's account, and stays open until the owner fixes the
/// credentials (`reset`), rather than probing on a timer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum BreakerState {
    Closed,
    Open { reason: String, since: Timestamp },
}

#[derive(Clone)]
pub struct Breaker {
    tx: Arc<watch::Sender<BreakerState>>,
}

impl Default for Breaker {
    fn default() -> Self {
        Self {
            tx: Arc::new(watch::channel(BreakerState::Closed).0),
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

    pub fn reset(&self) {
        self.tx.send_if_modified(|s| {
            let was_open = matches!(s, BreakerState::Open { .. });
            *s = BreakerState::Closed;
            was_open
        });
    }
}
