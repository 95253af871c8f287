//! The simulator's money switches: auto-capture (for the whole sim and per job),
//! whether a capture notifies, and how new refunds end. Set at start from `SimConfig`,
//! changed by `POST /_sim/money` or the `SimHandle`.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::money::RefundEnd;

/// How the gateway treats money after the payment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MoneySettings {
    /// Card payments are captured at once (`Paid`); off, they stop at `Reserved`.
    pub auto_capture: bool,
    /// A capture (Reserved -> Paid) sends a status notification; the docs are silent.
    pub capture_notifies: bool,
    pub refunds: RefundMode,
}

impl Default for MoneySettings {
    fn default() -> Self {
        Self {
            auto_capture: true,
            capture_notifies: true,
            refunds: RefundMode::Completed,
        }
    }
}

/// How a new refund ends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum RefundMode {
    /// Completed at once.
    Completed,
    /// Pending for this long (sim time, whole seconds on the control route), then Completed.
    Pending {
        #[serde(with = "seconds")]
        pending_for: Duration,
    },
    /// Failed at once: the merchant account's balance is insufficient.
    Failed,
}

impl RefundMode {
    pub(crate) fn end(&self) -> RefundEnd {
        match self {
            RefundMode::Completed => RefundEnd::Completed,
            RefundMode::Pending { .. } => RefundEnd::Pending,
            RefundMode::Failed => RefundEnd::Failed,
        }
    }
}

/// `Duration` as whole seconds on the control route.
mod seconds {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_secs(u64::deserialize(d)?))
    }
}

/// The live switches: the sim-wide settings and per-job auto-capture overrides.
#[derive(Default)]
pub(crate) struct MoneySwitches {
    pub settings: MoneySettings,
    pub auto_capture_by_job: HashMap<String, bool>,
}

impl MoneySwitches {
    pub fn new(settings: MoneySettings) -> Self {
        Self {
            settings,
            auto_capture_by_job: HashMap::new(),
        }
    }

    pub fn auto_capture(&self, job_ref: &str) -> bool {
        self.auto_capture_by_job
            .get(job_ref)
            .copied()
            .unwrap_or(self.settings.auto_capture)
    }
}
