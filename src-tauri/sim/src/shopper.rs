//! Scripted shoppers on the hosted payment page. Each step waits the configured
//! sim-time gap, changes the job in the ledger, and notifies the status change.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::ledger::{LedgerError, Outcome};
use super::model::{Amount, Job, Status};
use super::notifier::notify;
use super::shared::{lock, Shared};

/// What the shopper does with a payment job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Script {
    /// The first payment is paid.
    PaysAtOnce,
    /// The first payment is paid, with this amount instead of what the job asked.
    PaysOther { amount: rust_decimal::Decimal },
    /// `failures` payments fail (each retry a new payment), then one is paid. Reaching
    /// the attempt limit ends the job as Failed instead.
    FailsThenPays {
        failures: u32,
        reason_code: String,
        reason_message: String,
    },
    /// Fails `attempt_limit` times; the job ends Failed.
    ExceedsAttemptLimit,
    /// Cancels on the payment page; the job ends Cancelled.
    Cancels,
    /// Opens the page and leaves: the payment stays Pending.
    NeverFinishes,
    /// The card is declined and the shopper gives up (the job stays open).
    Declined,
}

impl Script {
    /// `FailsThenPays` with a card-declined reason.
    pub fn fails_then_pays(failures: u32) -> Self {
        Script::FailsThenPays {
            failures,
            reason_code: "CardDeclined".to_owned(),
            reason_message: "The card was declined by the issuer.".to_owned(),
        }
    }
}

/// Why a shopper stopped before the end of its script.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ShopperError {
    #[error("payment job {0} not found")]
    UnknownJob(String),
    /// The job changed under the shopper (e.g. cancelled through the API).
    #[error("the shopper could not go on: {0}")]
    Interrupted(String),
    #[error("the simulator stopped")]
    Stopped,
}

enum Action {
    Settle(Outcome),
    Retry,
    Cancel,
}

fn actions(script: Script, attempt_limit: u32) -> Vec<Action> {
    let unpaid = |status, code: &str, message: &str| {
        Action::Settle(Outcome::Unpaid {
            status,
            code: code.to_owned(),
            message: message.to_owned(),
        })
    };
    match script {
        Script::PaysAtOnce => vec![Action::Settle(Outcome::Paid)],
        Script::PaysOther { amount } => vec![Action::Settle(Outcome::PaidOther(Amount(amount)))],
        Script::FailsThenPays {
            failures,
            reason_code,
            reason_message,
        } => {
            let mut v = Vec::new();
            for i in 0..failures.min(attempt_limit) {
                v.push(unpaid(Status::Failed, &reason_code, &reason_message));
                if i + 1 == attempt_limit {
                    return v; // the job is Failed now: no retry, no payment
                }
                v.push(Action::Retry);
            }
            v.push(Action::Settle(Outcome::Paid));
            v
        }
        Script::ExceedsAttemptLimit => {
            let mut v = Vec::new();
            for i in 0..attempt_limit {
                if i > 0 {
                    v.push(Action::Retry);
                }
                v.push(unpaid(
                    Status::Failed,
                    "InsufficientFunds",
                    "The card has insufficient funds.",
                ));
            }
            v
        }
        Script::Cancels => vec![Action::Cancel],
        Script::NeverFinishes => Vec::new(),
        Script::Declined => vec![unpaid(
            Status::Declined,
            "CardDeclined",
            "The card was declined by the issuer.",
        )],
    }
}

/// Play `script` on the job; the job as the shopper left it.
pub(crate) async fn play(
    shared: Arc<Shared>,
    job_ref: String,
    script: Script,
) -> Result<Job, ShopperError> {
    let current = |shared: &Shared| {
        lock(&shared.ledger)
            .job(&job_ref)
            .cloned()
            .ok_or_else(|| ShopperError::UnknownJob(job_ref.clone()))
    };
    current(&shared)?;
    for action in actions(script, shared.config.attempt_limit) {
        tokio::select! {
            _ = shared.stopped() => return Err(ShopperError::Stopped),
            _ = shared.clock().sleep(shared.config.step_gap) => {}
        }
        let now = shared.now();
        // With auto-capture off, a card payment stops at Reserved until captured.
        let action = match action {
            Action::Settle(Outcome::Paid) if !lock(&shared.money).auto_capture(&job_ref) => {
                Action::Settle(Outcome::Reserved)
            }
            other => other,
        };
        let change = {
            let mut ledger = lock(&shared.ledger);
            match action {
                Action::Settle(outcome) => ledger
                    .settle_latest(&job_ref, outcome, shared.config.attempt_limit, now)
                    .map(Some),
                Action::Retry => ledger.new_attempt(&job_ref, now).map(|_| None),
                Action::Cancel => ledger.cancel(&job_ref, now).map(Some),
            }
        };
        shared.bump();
        match change {
            Ok(Some(change)) => notify(&shared, change),
            Ok(None) => {}
            Err(LedgerError::UnknownJob) => return Err(ShopperError::UnknownJob(job_ref)),
            Err(e) => return Err(ShopperError::Interrupted(e.to_string())),
        }
    }
    current(&shared)
}
