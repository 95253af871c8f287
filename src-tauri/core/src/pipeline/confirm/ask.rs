//! One confirmation: ask the gateway about a delivery's payment and job, store what it
//! says, and decide where an error takes the delivery.

use std::time::Duration;

use super::Key;
use crate::domain::{ChangeSource, FailureClass, JobRef, PaymentRef};
use crate::gateway::{Fetched, GatewayClient, GatewayError};
use crate::pipeline::{mismatch, CoreEvent, CredentialCheck, EventBus, Slot, Verdict};
use crate::store::{Held, Store, StoreError, WorkerId};

pub(super) enum Outcome {
    Settled,
    Failed(FailureClass, GatewayError),
    /// Calls were already stopped (bad credentials): no attempt was made, none counted.
    Blocked,
    StoreFailed(StoreError),
}

/// Which way a gateway error takes a delivery (see `domain::delivery`).
fn classify(e: &GatewayError) -> Option<FailureClass> {
    match e {
        GatewayError::NotFound => Some(FailureClass::NotFound),
        GatewayError::Unavailable(_) => Some(FailureClass::Transient),
        GatewayError::Decode(_) => Some(FailureClass::Permanent),
        // About this reference only (another merchant's job, named by anyone who can post
        // to the webhook): asked again on its own schedule until it is dead, never a reason
        // to stop other confirmations. A 403 on a job we hold is judged first (`refused`).
        // 400, 406… will not change by asking again either.
        GatewayError::Forbidden { .. } | GatewayError::Rejected { .. } => {
            Some(FailureClass::Permanent)
        }
        // The attempt reached the gateway and failed; the breaker now holds every call
        // until the owner fixes the credentials, so this run cannot grow meanwhile.
        GatewayError::Unauthorized { .. } => Some(FailureClass::Transient),
        GatewayError::CircuitOpen => None,
    }
}

/// How long to wait before asking again while the job's listing and the payment's own
/// answer disagree: seconds, not the next reconcile pass; some 30 s in all, after which
/// what was decided from the two stands and the delivery settles.
const RECHECKS: [Duration; 5] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(8),
    Duration::from_secs(15),
];

/// One confirmation: payment, then job, then one transaction. Never trusts the
/// notification's body for anything but the two references. The gateway slot is handed
/// back as soon as the gateway has answered: the local commit that follows must not keep
/// another confirmation from asking. While the two answers disagree about the payment,
/// what they decide is stored at once and the pair is asked again shortly (a slot is
/// taken again for each re-ask); the delivery stays held and pending until they agree
/// or the re-asks run out, so a restart meanwhile confirms it again.
pub(super) async fn confirm<S: Store>(
    store: &S,
    gateway: &GatewayClient,
    bus: &EventBus,
    (job, payment): &Key,
    up_to: i64,
    worker: &WorkerId,
    slot: Slot,
) -> Outcome {
    let slots = slot.pool();
    let mut slot = Some(slot);
    let mut rechecks = RECHECKS.iter();
    loop {
        let asking = match slot.take() {
            Some(s) => s,
            None => slots.background().await,
        };
        let (snapshot, disagreed) = match ask(gateway, job, payment, asking).await {
            Ok(answer) => answer,
            Err(e) => return failed(store, gateway, job, e).await,
        };
        let again = if disagreed { rechecks.next() } else { None };
        // Settled by the references asked, whatever spelling the gateway answers with.
        let settles = again.is_none().then(|| Held {
            job_ref: job.clone(),
            payment_ref: payment.clone(),
            up_to_id: up_to,
            worker: worker.clone(),
        });
        if let Err(e) = store_answer(store, bus, job, snapshot, settles).await {
            return Outcome::StoreFailed(e);
        }
        let Some(wait) = again else {
            return Outcome::Settled;
        };
        tracing::info!(job = %job, payment = %payment, ?wait, "the job's listing and the payment's answer disagree; asking again");
        tokio::time::sleep(*wait).await;
    }
}

/// The payment's answer and the job's, folded into one snapshot (see
/// `JobSnapshot::fold_payment_answer`), and whether they disagreed.
async fn ask(
    gateway: &GatewayClient,
    job: &JobRef,
    payment: &PaymentRef,
    slot: Slot,
) -> Result<(crate::domain::JobSnapshot, bool), GatewayError> {
    let fetched_payment = gateway.retrieve_payment(job, payment).await?;
    let fetched_job = gateway.retrieve_job(job).await;
    drop(slot);
    let mut snapshot = fetched_job?.into_snapshot();
    let Fetched { value, raw } = fetched_payment;
    let disagreed = snapshot.fold_payment_answer(value.to_snapshot(raw));
    Ok((snapshot, disagreed))
}

/// Checks the answer against what we asked for, stores it (settling `settles`), and
/// tells the faces what changed.
async fn store_answer<S: Store>(
    store: &S,
    bus: &EventBus,
    job: &JobRef,
    snapshot: crate::domain::JobSnapshot,
    settles: Option<Held>,
) -> Result<(), StoreError> {
    let expected = store.expectation(&snapshot.job_ref).await?;
    let flag = mismatch(expected.as_ref(), &snapshot);
    if let Some(m) = &flag {
        tracing::warn!(job = %job, "gateway answer disagrees with what was asked: {m}");
    }
    let applied = store
        .apply_snapshot(snapshot, ChangeSource::Notification, flag, settles)
        .await?;
    for event in CoreEvent::all_from_applied(&applied, ChangeSource::Notification) {
        bus.publish(event);
    }
    Ok(())
}

/// Where a gateway error takes the confirmation of `job`.
async fn failed<S: Store>(
    store: &S,
    gateway: &GatewayClient,
    job: &JobRef,
    e: GatewayError,
) -> Outcome {
    if let GatewayError::Forbidden { .. } = e {
        return refused(store, gateway, job, e).await;
    }
    match classify(&e) {
        Some(class) => Outcome::Failed(class, e),
        None => Outcome::Blocked,
    }
}

/// A 403 on `job`. About that reference only, unless it is a job we hold and a known-good
/// read is refused too: then it is about our credentials, and the breaker is open.
async fn refused<S: Store>(
    store: &S,
    gateway: &GatewayClient,
    job: &JobRef,
    e: GatewayError,
) -> Outcome {
    let check = CredentialCheck::new(store.clone(), gateway.clone());
    match check.holds(job).await {
        Err(se) => return Outcome::StoreFailed(se),
        Ok(false) => {}
        Ok(true) => match check.after_refusal(job).await {
            Verdict::Accepted => {}
            // Like a 401: the breaker holds every call, so this run cannot grow meanwhile.
            Verdict::Refused(ours) => return Outcome::Failed(FailureClass::Transient, ours),
            // Not yet known whose the refusal is: ask again soon, counting nothing against it.
            Verdict::Unanswered(_) => return Outcome::Failed(FailureClass::Transient, e),
        },
    }
    Outcome::Failed(FailureClass::Permanent, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_errors_take_deliveries_the_right_way() {
        assert_eq!(
            classify(&GatewayError::NotFound),
            Some(FailureClass::NotFound)
        );
        assert_eq!(
            classify(&GatewayError::Decode("bad".into())),
            Some(FailureClass::Permanent)
        );
        let rejected = |status| GatewayError::Rejected {
            status,
            report: None,
        };
        assert_eq!(classify(&rejected(400)), Some(FailureClass::Permanent));
        assert_eq!(
            classify(&GatewayError::Forbidden { report: None }),
            Some(FailureClass::Permanent),
            "a 403 counts against its reference"
        );
        assert_eq!(
            classify(&GatewayError::Unavailable("down".into())),
            Some(FailureClass::Transient)
        );
        assert_eq!(classify(&GatewayError::CircuitOpen), None);
    }
}
