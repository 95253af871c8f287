//! Moving an order's money, carefully: read the job fresh from the gateway, plan (every
//! check before anything is sent), record the plan (`record`, the store's seam), send
//! each request once, and on a lost answer look at the payment before sending again
//! (a refund has no idempotency key); then follow a Pending refund or capture until it
//! ends, for a bounded time. The faces (CLI, window) call these and show the outcome.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use crate::domain::{
    look_for_refund, plan_cancel, plan_capture, plan_refund, Amount, JobRef, JobSnapshot,
    MoneyMove, MoneyPlan, MoveKind, MoveStatus, PaymentRef, PaymentStatus, PlannedMove,
    RefundLookup, Timestamp,
};
use crate::gateway::{GatewayClient, GatewayError, GatewayPayment, MoneyCallError};

/// How a Pending refund or capture is followed: asked about after `first`, then at
/// doubling intervals up to `cap`, for at most `give_up_after` (it is then reported as
/// still Pending).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowPolicy {
    pub first: Duration,
    pub cap: Duration,
    pub give_up_after: Duration,
}

impl Default for FollowPolicy {
    fn default() -> Self {
        Self {
            first: Duration::from_secs(1),
            cap: Duration::from_secs(30),
            give_up_after: Duration::from_secs(120),
        }
    }
}

/// How the owner's action ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoneyOutcome {
    /// Every refund or capture completed (a mix with cancels included).
    Completed,
    /// The gateway has not finished one of them yet (never reported as done).
    Pending,
    /// The gateway declined one of them: nothing moved for it.
    Failed { reason: String },
    /// Every payment (or the job) was cancelled.
    Cancelled,
    /// Nothing (more) was sent: a check failed, or the gateway refused (`406`).
    Refused { sentence: String },
}

/// The outcome, the plan it came from (`None` when refused before one was made), the
/// refunds and captures as the gateway last described them, and what the owner is told.
#[derive(Debug, Clone)]
pub struct MoneyReport {
    pub outcome: MoneyOutcome,
    pub plan: Option<MoneyPlan>,
    pub moves: Vec<MoneyMove>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum MoneyActionError {
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    #[error("the request could not be recorded, so nothing was sent: {0}")]
    Record(String),
    /// The answer was lost and it is not known whether the request arrived: the owner
    /// looks at the order before anything is sent again.
    #[error(
        "the gateway's answer to the {what} was lost and {why}: look at the order at the \
         gateway before trying again"
    )]
    Unconfirmed { what: &'static str, why: String },
}

/// Refunds `amount` (`None`: the whole refundable balance) of order `job`; a same-day
/// payment's full refund is sent as a cancel. `now` is the gateway's time of day.
pub async fn refund_order<R, Fut, E>(
    client: &GatewayClient,
    job: &JobRef,
    amount: Option<Amount>,
    now: Timestamp,
    follow: FollowPolicy,
    record: R,
) -> Result<MoneyReport, MoneyActionError>
where
    R: FnOnce(&MoneyPlan) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    let plan = |j: &JobSnapshot| plan_refund(j, amount, now);
    act(client, job, plan, follow, record).await
}

/// Captures a Reserved order's reservation (in full) and waits for it to complete.
pub async fn capture_order<R, Fut, E>(
    client: &GatewayClient,
    job: &JobRef,
    amount: Option<Amount>,
    now: Timestamp,
    follow: FollowPolicy,
    record: R,
) -> Result<MoneyReport, MoneyActionError>
where
    R: FnOnce(&MoneyPlan) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    let plan = |j: &JobSnapshot| plan_capture(j, amount, now);
    act(client, job, plan, follow, record).await
}

/// Cancels an unsettled payment, voids a reservation, or cancels an unpaid job.
pub async fn cancel_order<R, Fut, E>(
    client: &GatewayClient,
    job: &JobRef,
    now: Timestamp,
    record: R,
) -> Result<MoneyReport, MoneyActionError>
where
    R: FnOnce(&MoneyPlan) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    let plan = |j: &JobSnapshot| plan_cancel(j, now);
    act(client, job, plan, FollowPolicy::default(), record).await
}

/// How one request ended.
enum MoveEnd {
    Moved(MoneyMove),
    Cancelled,
    Refused(String),
}

async fn act<P, R, Fut, E>(
    client: &GatewayClient,
    job: &JobRef,
    plan: P,
    follow: FollowPolicy,
    record: R,
) -> Result<MoneyReport, MoneyActionError>
where
    P: FnOnce(&JobSnapshot) -> Result<MoneyPlan, String>,
    R: FnOnce(&MoneyPlan) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    let snapshot = client.retrieve_job(job).await?.into_snapshot();
    let plan = match plan(&snapshot) {
        Ok(plan) => plan,
        Err(sentence) => {
            return Ok(MoneyReport {
                outcome: MoneyOutcome::Refused { sentence },
                plan: None,
                moves: Vec::new(),
                notes: Vec::new(),
            })
        }
    };
    record(&plan)
        .await
        .map_err(|e| MoneyActionError::Record(e.to_string()))?;
    let mut sender = Sender {
        client,
        job,
        follow,
        notes: plan.note.iter().cloned().collect(),
    };
    let mut moves = Vec::new();
    let mut cancels = 0;
    for planned in &plan.moves {
        match sender.send(planned).await? {
            MoveEnd::Moved(m) => moves.push(m),
            MoveEnd::Cancelled => cancels += 1,
            MoveEnd::Refused(mut sentence) => {
                if !moves.is_empty() || cancels > 0 {
                    sentence.push_str(" The requests before it were sent and stand.");
                }
                return Ok(MoneyReport {
                    outcome: MoneyOutcome::Refused { sentence },
                    notes: sender.notes,
                    plan: Some(plan),
                    moves,
                });
            }
        }
    }
    let outcome = if let Some(failed) = moves.iter().find(|m| m.status == MoveStatus::Failed) {
        MoneyOutcome::Failed {
            reason: failed
                .failure
                .clone()
                .unwrap_or_else(|| "the gateway gave no reason".to_owned()),
        }
    } else if moves.iter().any(|m| m.status == MoveStatus::Pending) {
        MoneyOutcome::Pending
    } else if moves.is_empty() {
        MoneyOutcome::Cancelled
    } else {
        MoneyOutcome::Completed
    };
    Ok(MoneyReport {
        outcome,
        plan: Some(plan),
        moves,
        notes: sender.notes,
    })
}

struct Sender<'a> {
    client: &'a GatewayClient,
    job: &'a JobRef,
    follow: FollowPolicy,
    notes: Vec<String>,
}

/// Sent at most twice: again only when the first was shown not to have arrived.
const MAX_SENDS: u32 = 2;

impl Sender<'_> {
    async fn send(&mut self, planned: &PlannedMove) -> Result<MoveEnd, MoneyActionError> {
        match planned {
            PlannedMove::Refund {
                payment,
                amount,
                refund_number,
            } => self.refund(payment, *amount, refund_number).await,
            PlannedMove::Capture {
                payment,
                amount,
                reserved,
            } => self.capture(payment, *amount, *reserved).await,
            PlannedMove::CancelPayment { payment, .. } => self.cancel_payment(payment).await,
            PlannedMove::CancelJob => match self.client.cancel_job(self.job).await {
                Ok(()) => Ok(MoveEnd::Cancelled),
                Err(GatewayError::Rejected { report, .. } | GatewayError::Forbidden { report }) => {
                    let words =
                        report.map_or_else(|| "no details given".to_owned(), |r| r.summary());
                    Ok(MoveEnd::Refused(format!(
                        "The gateway refused to cancel order {}: {words}.",
                        self.job
                    )))
                }
                Err(e) => Err(e.into()),
            },
        }
    }

    async fn refund(
        &mut self,
        payment: &PaymentRef,
        amount: Amount,
        number: &str,
    ) -> Result<MoveEnd, MoneyActionError> {
        let find = |moves: &[MoneyMove]| match look_for_refund(moves, number) {
            RefundLookup::Found(m) => Some(m),
            RefundLookup::Absent => None,
        };
        for sent in 1..=MAX_SENDS {
            match self.client.refund(self.job, payment, amount, number).await {
                Ok(answer) => {
                    let m = answer.to_move(payment).ok_or_else(|| {
                        GatewayError::Decode("the refund's answer named no amount".to_owned())
                    })?;
                    return self.follow(payment, m, find).await;
                }
                Err(MoneyCallError::Refused { code, words }) => {
                    return Ok(MoveEnd::Refused(format!(
                        "The gateway refused the refund of {amount} from payment {payment}: \
                         {words} ({code})."
                    )))
                }
                Err(MoneyCallError::Gateway(e)) => return Err(e.into()),
                Err(MoneyCallError::AnswerLost(why)) => {
                    let read = self.reread(payment, "refund").await?;
                    if let Some(m) = find(&read.moves()) {
                        self.notes.push(format!(
                            "The answer to refund {number} was lost ({why}); the refund was \
                             found at the gateway and not sent again."
                        ));
                        return self.follow(payment, m, find).await;
                    }
                    if sent < MAX_SENDS {
                        self.notes.push(format!(
                            "The answer to refund {number} was lost ({why}) and the gateway \
                             did not hold it: it was sent again under the same number."
                        ));
                    }
                }
            }
        }
        Err(MoneyActionError::Unconfirmed {
            what: "refund",
            why: "it was still not at the gateway after a second try".to_owned(),
        })
    }

    async fn capture(
        &mut self,
        payment: &PaymentRef,
        amount: Option<Amount>,
        reserved: Option<Amount>,
    ) -> Result<MoveEnd, MoneyActionError> {
        // The latest capture of the payment, or (none listed) its move to Paid.
        let latest = |moves: &[MoneyMove]| {
            moves
                .iter()
                .rev()
                .find(|m| m.kind == MoveKind::Capture)
                .cloned()
        };
        for _ in 1..=MAX_SENDS {
            match self.client.capture(self.job, payment, amount).await {
                Ok(answer) => {
                    let m = answer.to_move(payment, reserved).ok_or_else(|| {
                        GatewayError::Decode("the capture's answer named no amount".to_owned())
                    })?;
                    return self.follow(payment, m, latest).await;
                }
                Err(MoneyCallError::Refused { code, words }) => {
                    return Ok(MoveEnd::Refused(format!(
                        "The gateway refused to capture payment {payment}: {words} ({code})."
                    )))
                }
                Err(MoneyCallError::Gateway(e)) => return Err(e.into()),
                Err(MoneyCallError::AnswerLost(why)) => {
                    let read = self.reread(payment, "capture").await?;
                    let found = latest(&read.moves()).or_else(|| {
                        read.status.is_paid().then(|| MoneyMove {
                            kind: MoveKind::Capture,
                            payment_ref: payment.clone(),
                            reference: None,
                            number: None,
                            amount: read.paid_amount.or(reserved).unwrap_or_default(),
                            status: MoveStatus::Completed,
                            created_at: read.last_activity(),
                            failure: None,
                        })
                    });
                    if let Some(m) = found {
                        self.notes.push(format!(
                            "The answer to the capture was lost ({why}); the capture was found \
                             at the gateway and not sent again."
                        ));
                        return self.follow(payment, m, latest).await;
                    }
                }
            }
        }
        Err(MoneyActionError::Unconfirmed {
            what: "capture",
            why: "it was still not at the gateway after a second try".to_owned(),
        })
    }

    async fn cancel_payment(&mut self, payment: &PaymentRef) -> Result<MoveEnd, MoneyActionError> {
        for _ in 1..=MAX_SENDS {
            let status = match self.client.cancel_payment(self.job, payment).await {
                Ok(answer) => answer.status,
                Err(MoneyCallError::Refused { code, words }) => {
                    return Ok(MoveEnd::Refused(format!(
                        "The gateway refused to cancel payment {payment}: {words} ({code})."
                    )))
                }
                Err(MoneyCallError::Gateway(e)) => return Err(e.into()),
                Err(MoneyCallError::AnswerLost(_)) => {
                    let read = self.reread(payment, "cancel").await?;
                    if read.status != PaymentStatus::Cancelled {
                        continue;
                    }
                    read.status
                }
            };
            return Ok(if status == PaymentStatus::Cancelled {
                MoveEnd::Cancelled
            } else {
                MoveEnd::Refused(format!(
                    "The gateway left payment {payment} {} instead of cancelling it.",
                    status.as_str()
                ))
            });
        }
        Err(MoneyActionError::Unconfirmed {
            what: "cancel",
            why: "the payment was still not cancelled after a second try".to_owned(),
        })
    }

    /// The payment after a lost answer; if the gateway cannot say, nothing is resent.
    async fn reread(
        &self,
        payment: &PaymentRef,
        what: &'static str,
    ) -> Result<GatewayPayment, MoneyActionError> {
        match self.client.retrieve_payment(self.job, payment).await {
            Ok(read) => Ok(read.value),
            Err(e) => Err(MoneyActionError::Unconfirmed {
                what,
                why: format!("asking the gateway whether it arrived failed ({e})"),
            }),
        }
    }

    /// Asks about a Pending move until it ends or the policy gives up (or a read fails):
    /// what it last was stands, never more.
    async fn follow(
        &mut self,
        payment: &PaymentRef,
        mut m: MoneyMove,
        find: impl Fn(&[MoneyMove]) -> Option<MoneyMove>,
    ) -> Result<MoveEnd, MoneyActionError> {
        let start = tokio::time::Instant::now();
        let mut wait = self.follow.first;
        while m.status == MoveStatus::Pending && start.elapsed() + wait <= self.follow.give_up_after
        {
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(self.follow.cap);
            match self.client.retrieve_payment(self.job, payment).await {
                Ok(read) => {
                    if let Some(now) = find(&read.value.moves()) {
                        m = now;
                    }
                }
                // It was sent and is Pending: that stands, and the owner is told.
                Err(e) => {
                    self.notes.push(format!(
                        "It could not be followed to its end ({e}): it is reported as Pending."
                    ));
                    break;
                }
            }
        }
        Ok(MoveEnd::Moved(m))
    }
}
