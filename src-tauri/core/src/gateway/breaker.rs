use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;

use crate::domain::Timestamp;

/// Whether we may call the gateway. It opens only on evidence about our own credentials:
/// a 401 (repeated bad signatures may lock the merchant's account), or a 403 on a job we
/// hold that a known-good read confirms (see `pipeline::CredentialCheck`). A 403 about one
/// reference never opens it: anyone can post a notification naming another merchant's job.
/// While open, one signed read probes it on a [`ProbeSchedule`]; the first accepted one
/// closes it, as does the owner saving the credentials (`reset`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum BreakerState {
    Closed,
    Open {
        reason: String,
        since: Timestamp,
        /// When the next probe goes, if one is scheduled.
        next_probe_at: Option<Timestamp>,
    },
}

/// When an open breaker is probed: `first` after it opened, then twice as long after each
/// refused probe, never longer than `cap`. Slow, so a truly wrong key cannot lock the
/// account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeSchedule {
    pub first: Duration,
    pub cap: Duration,
}

impl Default for ProbeSchedule {
    fn default() -> Self {
        Self {
            first: Duration::from_secs(60),
            cap: Duration::from_secs(3600),
        }
    }
}

impl ProbeSchedule {
    /// The wait before probe number `n` (1 = the first after the breaker opened).
    pub fn wait_before(&self, n: u32) -> Duration {
        let factor = 1u32.checked_shl(n.saturating_sub(1)).unwrap_or(u32::MAX);
        self.first.saturating_mul(factor).min(self.cap)
    }
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
                    next_probe_at: None,
                };
                true
            } else {
                false
            }
        });
    }

    /// Notes when the next probe goes, for the owner; nothing if the breaker is closed.
    pub fn set_next_probe(&self, at: Option<Timestamp>) {
        self.tx.send_if_modified(|s| match s {
            BreakerState::Open { next_probe_at, .. } if *next_probe_at != at => {
                *next_probe_at = at;
                true
            }
            _ => false,
        });
    }

    /// Calls may go again: the owner saved the credentials, or a probe was accepted.
    /// Subscribers (the confirm worker, the reconciler, the window) are woken.
    pub fn reset(&self) {
        self.tx.send_if_modified(|s| {
            let was_open = matches!(s, BreakerState::Open { .. });
            *s = BreakerState::Closed;
            was_open
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_start_after_a_minute_and_double_up_to_hourly() {
        let s = ProbeSchedule::default();
        let waits: Vec<u64> = (1..=9).map(|n| s.wait_before(n).as_secs()).collect();
        assert_eq!(waits, [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
        assert_eq!(s.wait_before(u32::MAX), Duration::from_secs(3600));
    }
}
