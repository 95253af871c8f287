//! Faults injected on demand into the gateway API, and per-endpoint request counts.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A gateway API operation, for counting and fault matching.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Endpoint {
    CreateJob,
    RetrieveJob,
    RetrievePayment,
    CancelJob,
    OrderExists,
    Capture,
    Refund,
    CancelPayment,
}

impl Endpoint {
    pub const ALL: [Endpoint; 8] = [
        Endpoint::CreateJob,
        Endpoint::RetrieveJob,
        Endpoint::RetrievePayment,
        Endpoint::CancelJob,
        Endpoint::OrderExists,
        Endpoint::Capture,
        Endpoint::Refund,
        Endpoint::CancelPayment,
    ];

    /// The operation changes the gateway's books (so its answer can be lost after).
    pub fn changes_state(self) -> bool {
        !matches!(
            self,
            Endpoint::RetrieveJob | Endpoint::RetrievePayment | Endpoint::OrderExists
        )
    }
}

/// Which requests a fault applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FaultTarget {
    RetrievePayment,
    RetrieveJob,
    CreateJob,
    CancelJob,
    OrderExists,
    Capture,
    Refund,
    CancelPayment,
    /// Every gateway API request (a specific target's fault wins over this one).
    AnyApi,
}

impl FaultTarget {
    fn of(endpoint: Endpoint) -> FaultTarget {
        match endpoint {
            Endpoint::CreateJob => FaultTarget::CreateJob,
            Endpoint::RetrieveJob => FaultTarget::RetrieveJob,
            Endpoint::RetrievePayment => FaultTarget::RetrievePayment,
            Endpoint::CancelJob => FaultTarget::CancelJob,
            Endpoint::OrderExists => FaultTarget::OrderExists,
            Endpoint::Capture => FaultTarget::Capture,
            Endpoint::Refund => FaultTarget::Refund,
            Endpoint::CancelPayment => FaultTarget::CancelPayment,
        }
    }
}

/// What goes wrong.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Fault {
    /// Behave normally (setting this clears the target).
    None,
    /// Answer this HTTP status with an error envelope.
    Status { status: u16 },
    /// Answer normally after this real-time delay.
    Delay {
        #[serde(with = "millis")]
        delay: Duration,
    },
    /// Never answer until faults are next set or cleared (then answer normally), or
    /// the sim stops (then 503).
    Hang,
    /// Answer 401 with an `InvalidHash` error report, as for a bad signature.
    Unauthorized,
    /// Answer the job or payment as it was before its latest change.
    StaleAnswer,
    /// Answer as a replica `lag` behind would (real time): the newest version of the job
    /// or payment that is at least that old. On `RetrieveJob` alone, the job's listing
    /// lags the payment's own answer, as the gateway's replicas can.
    Lagging {
        #[serde(with = "millis")]
        lag: Duration,
    },
    /// Apply the request, then never answer until faults are next set or cleared (the
    /// client times out first): a refund is made but its answer is lost. On a read,
    /// the same as `Hang`.
    LoseAnswer,
}

/// `Duration` as whole milliseconds on the control route.
mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

struct Rule {
    fault: Fault,
    /// Requests still to be hit; `None` until cleared.
    remaining: Option<u32>,
}

#[derive(Default)]
pub(crate) struct Faults {
    rules: HashMap<FaultTarget, Rule>,
    counts: HashMap<Endpoint, u64>,
    generation: u64,
}

impl Faults {
    pub fn set(&mut self, target: FaultTarget, fault: Fault, times: Option<u32>) {
        self.generation += 1;
        if fault == Fault::None || times == Some(0) {
            self.rules.remove(&target);
        } else {
            self.rules.insert(
                target,
                Rule {
                    fault,
                    remaining: times,
                },
            );
        }
    }

    pub fn clear(&mut self) {
        self.generation += 1;
        self.rules.clear();
    }

    /// Count a request to `endpoint` and take the fault it meets, if any.
    pub fn on_request(&mut self, endpoint: Endpoint) -> Fault {
        *self.counts.entry(endpoint).or_default() += 1;
        self.take(endpoint)
    }

    /// The fault a request to `endpoint` meets now, using up one of its times.
    pub fn take(&mut self, endpoint: Endpoint) -> Fault {
        for target in [FaultTarget::of(endpoint), FaultTarget::AnyApi] {
            let Some(rule) = self.rules.get_mut(&target) else {
                continue;
            };
            let fault = rule.fault.clone();
            if let Some(n) = rule.remaining.as_mut() {
                *n -= 1;
                if *n == 0 {
                    self.rules.remove(&target);
                }
            }
            return fault;
        }
        Fault::None
    }

    /// Bumped by every `set` and `clear`: a hung request goes on once it changes.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn count(&self, endpoint: Endpoint) -> u64 {
        self.counts.get(&endpoint).copied().unwrap_or(0)
    }
}
