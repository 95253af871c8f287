//! The life of an acknowledged notification. Once we have answered 200 the gateway stops
//! sending it, so from then on it is ours to keep until the gateway has told us the truth:
//!
//! ```text
//! pending ──confirmed by the gateway──────────────────▶ confirmed
//!    │ ──404 for longer than the not-found window────▶ unknown   (re-opened when the
//!    │                                                            credentials change)
//!    └──an error that will not go away, too often──▶ dead      (the owner can retry)
//! ```
//!
//! Every failed attempt goes through [`DeliveryPolicy::after_failure`], which says when to
//! ask again or which final state to settle in. Nothing else decides a delivery's fate.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub enum DeliveryState {
    /// Acknowledged and waiting for the gateway to confirm it.
    Pending,
    Confirmed,
    /// The gateway kept saying it does not know the references for the whole not-found
    /// window: a forged or mistaken notification, or the wrong credentials.
    Unknown,
    /// The gateway's answer kept failing in a way that will not fix itself (a refused
    /// request, an answer we cannot read). Waits for the owner to retry it.
    Dead,
    /// The body could not be read; refused with a 4xx and never acknowledged.
    Malformed,
}

impl DeliveryState {
    pub const ALL: [DeliveryState; 5] = [
        Self::Pending,
        Self::Confirmed,
        Self::Unknown,
        Self::Dead,
        Self::Malformed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Confirmed => "confirmed",
            Self::Unknown => "unknown",
            Self::Dead => "dead",
            Self::Malformed => "malformed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }

    /// Settled deliveries need nothing more from the worker.
    pub fn is_settled(self) -> bool {
        !matches!(self, Self::Pending)
    }

    /// States the owner may send back to the worker ("retry now").
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Unknown | Self::Dead)
    }
}

/// A delivery the owner must know about: settled without a confirmation (dead or
/// unknown), with what the gateway last answered.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct StuckDelivery {
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub id: i64,
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub received_at: Timestamp,
    pub payment_job_reference: String,
    pub payment_reference: String,
    pub state: DeliveryState,
    /// Confirmation attempts made.
    pub attempts: u32,
    /// The gateway's last answer, in words.
    pub last_error: Option<String>,
    pub outcome: Option<String>,
    #[cfg_attr(feature = "ts", ts(type = "string | null"))]
    pub settled_at: Option<Timestamp>,
}

/// How a confirmation attempt failed, as far as the delivery's fate is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureClass {
    /// The gateway does not know the references (yet: it may lag behind its own writes).
    NotFound,
    /// Will not go away by asking again: a refused request, an unreadable answer.
    Permanent,
    /// The gateway is down, slow or overloaded.
    Transient,
}

impl FailureClass {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "notFound",
            Self::Permanent => "permanent",
            Self::Transient => "transient",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::NotFound, Self::Permanent, Self::Transient]
            .into_iter()
            .find(|c| c.as_str() == s)
    }
}

/// A run of failures of one class: when it began and how many attempts it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failing {
    pub class: FailureClass,
    pub since: Timestamp,
    pub attempts: u32,
}

/// What to do with a pending delivery after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    /// Ask again after this long.
    RetryIn(Duration),
    /// Give up: settle in this state (`Unknown` or `Dead`).
    Settle(DeliveryState),
}

/// The retry schedule and the limits after which a delivery is settled without a
/// confirmation. Windows are measured from the first failure of the current class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryPolicy {
    /// First re-ask after a 404 (read-after-write lag at the gateway is seconds).
    pub not_found_first: Duration,
    pub not_found_cap: Duration,
    /// How long a 404 is re-asked before the references count as unknown.
    pub not_found_for: Duration,
    pub transient_first: Duration,
    pub transient_cap: Duration,
    /// An outage longer than the gateway's own retry month is not an outage.
    pub transient_for: Duration,
    pub permanent_first: Duration,
    pub permanent_cap: Duration,
    /// Attempts, or time, after which an error that will not go away makes it dead.
    pub permanent_attempts: u32,
    pub permanent_for: Duration,
}

const HOUR: Duration = Duration::from_secs(3600);

impl Default for DeliveryPolicy {
    fn default() -> Self {
        Self {
            not_found_first: Duration::from_secs(2),
            not_found_cap: HOUR,
            not_found_for: 72 * HOUR,
            transient_first: Duration::from_secs(1),
            transient_cap: Duration::from_secs(300),
            transient_for: 31 * 24 * HOUR,
            permanent_first: Duration::from_secs(30),
            permanent_cap: HOUR,
            permanent_attempts: 10,
            permanent_for: 24 * HOUR,
        }
    }
}

impl DeliveryPolicy {
    /// The failure run after this attempt, and what to do next. A failure of another
    /// class than the previous run starts a new run.
    pub fn after_failure(
        &self,
        previous: Option<Failing>,
        class: FailureClass,
        now: Timestamp,
    ) -> (Failing, NextStep) {
        let run = match previous {
            Some(p) if p.class == class => Failing {
                attempts: p.attempts.saturating_add(1),
                ..p
            },
            _ => Failing {
                class,
                since: now,
                attempts: 1,
            },
        };
        let elapsed = now.since(run.since);
        let (first, cap, window) = match class {
            FailureClass::NotFound => {
                (self.not_found_first, self.not_found_cap, self.not_found_for)
            }
            FailureClass::Transient => {
                (self.transient_first, self.transient_cap, self.transient_for)
            }
            FailureClass::Permanent => {
                (self.permanent_first, self.permanent_cap, self.permanent_for)
            }
        };
        let out_of_attempts =
            class == FailureClass::Permanent && run.attempts >= self.permanent_attempts;
        if elapsed >= window || out_of_attempts {
            let state = match class {
                FailureClass::NotFound => DeliveryState::Unknown,
                _ => DeliveryState::Dead,
            };
            return (run, NextStep::Settle(state));
        }
        (run, NextStep::RetryIn(backoff(first, cap, run.attempts)))
    }
}

/// `first`, doubling with each attempt, never above `cap`.
fn backoff(first: Duration, cap: Duration, attempt: u32) -> Duration {
    let factor = 1u32
        .checked_shl(attempt.saturating_sub(1))
        .unwrap_or(u32::MAX);
    first.saturating_mul(factor).min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_unix_millis(1_800_000_000_000 + secs * 1000)
    }

    /// Runs failures of one class every time the policy asks, until it settles.
    fn run_until_settled(
        policy: &DeliveryPolicy,
        class: FailureClass,
    ) -> (Vec<Duration>, DeliveryState, Duration) {
        let mut now = at(0);
        let mut previous = None;
        let mut waits = Vec::new();
        loop {
            let (run, next) = policy.after_failure(previous, class, now);
            match next {
                NextStep::RetryIn(d) => {
                    waits.push(d);
                    now = now.plus(d);
                    previous = Some(run);
                }
                NextStep::Settle(state) => return (waits, state, now.since(at(0))),
            }
        }
    }

    #[test]
    fn not_found_is_asked_again_within_ten_seconds_then_for_72_hours() {
        let policy = DeliveryPolicy::default();
        let (waits, state, lasted) = run_until_settled(&policy, FailureClass::NotFound);
        assert!(waits[0] <= Duration::from_secs(10), "{:?}", waits[0]);
        assert_eq!(state, DeliveryState::Unknown);
        assert!(lasted >= 72 * HOUR, "gave up after {lasted:?}");
        assert!(waits.iter().all(|w| *w <= HOUR));
        // Bounded: a forged reference costs the gateway well under a hundred requests.
        assert!(waits.len() < 100, "{} attempts", waits.len());
    }

    #[test]
    fn errors_that_never_go_away_are_dead_after_bounded_attempts_or_a_day() {
        let policy = DeliveryPolicy::default();
        let (waits, state, lasted) = run_until_settled(&policy, FailureClass::Permanent);
        assert_eq!(state, DeliveryState::Dead);
        assert!(waits.len() < policy.permanent_attempts as usize);
        assert!(lasted <= 24 * HOUR);

        let slow = DeliveryPolicy {
            permanent_attempts: u32::MAX,
            ..policy
        };
        let (_, state, lasted) = run_until_settled(&slow, FailureClass::Permanent);
        assert_eq!(state, DeliveryState::Dead);
        assert!(lasted >= 24 * HOUR && lasted <= 25 * HOUR, "{lasted:?}");
    }

    #[test]
    fn outages_are_retried_for_the_gateways_month_then_dead() {
        let (waits, state, lasted) =
            run_until_settled(&DeliveryPolicy::default(), FailureClass::Transient);
        assert_eq!(state, DeliveryState::Dead);
        assert!(lasted >= 31 * 24 * HOUR);
        assert!(waits.iter().all(|w| *w <= Duration::from_secs(300)));
    }

    #[test]
    fn a_new_class_of_failure_starts_a_new_run() {
        let policy = DeliveryPolicy::default();
        let (run, _) = policy.after_failure(None, FailureClass::NotFound, at(0));
        let (run, _) = policy.after_failure(Some(run), FailureClass::NotFound, at(60 * 3600));
        assert_eq!((run.attempts, run.since), (2, at(0)));
        // Nearly 72 h of 404s, then an outage: the outage gets its own month.
        let (run, next) = policy.after_failure(Some(run), FailureClass::Transient, at(71 * 3600));
        assert_eq!(run.class, FailureClass::Transient);
        assert_eq!((run.attempts, run.since), (1, at(71 * 3600)));
        assert_eq!(next, NextStep::RetryIn(policy.transient_first));
    }

    #[test]
    fn states_round_trip_and_only_unknown_and_dead_are_retryable() {
        for s in DeliveryState::ALL {
            assert_eq!(DeliveryState::parse(s.as_str()), Some(s));
        }
        let retryable: Vec<_> = DeliveryState::ALL
            .into_iter()
            .filter(|s| s.is_retryable())
            .collect();
        assert_eq!(retryable, [DeliveryState::Unknown, DeliveryState::Dead]);
        assert!(!DeliveryState::Pending.is_settled());
    }
}
