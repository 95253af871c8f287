use super::{
    judge, Amount, Currency, JobRef, MoneyMove, PaymentRef, PaymentStatus, Seen, Timestamp, Verdict,
};

/// What the gateway said about a payment job at one moment: the only source of truth
/// for statuses. Built from the gateway's answer, written by the store.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSnapshot {
    pub job_ref: JobRef,
    pub order_number: Option<String>,
    pub email: Option<String>,
    pub status: PaymentStatus,
    pub amount: Option<Amount>,
    pub paid_amount: Option<Amount>,
    pub currency: Option<Currency>,
    pub created_at: Option<Timestamp>,
    /// The gateway's `lastUpdateTimeUtc`: orders answers so an older one never wins.
    pub gateway_updated_at: Option<Timestamp>,
    /// In attempt order (oldest first).
    pub payments: Vec<PaymentSnapshot>,
    pub raw: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PaymentSnapshot {
    pub payment_ref: PaymentRef,
    pub status: PaymentStatus,
    pub amount: Option<Amount>,
    /// What the gateway says this payment took (`paidAmount`), which may differ from
    /// what it was asked to collect.
    pub paid_amount: Option<Amount>,
    pub failure_code: Option<String>,
    pub failure_reason: Option<String>,
    pub created_at: Option<Timestamp>,
    /// The latest time the gateway gives for something done to this payment (its steps):
    /// orders two views of it, the job's listing and the payment's own answer.
    pub updated_at: Option<Timestamp>,
    /// Its captures and refunds as the gateway lists them (`captures[]`, `refunds[]`).
    pub moves: Vec<MoneyMove>,
    pub raw: serde_json::Value,
}

impl JobSnapshot {
    /// Folds the payment's own answer into the job's listing of it. The two are read a
    /// moment apart and the listing may lag: of the two views of that payment, the one
    /// newer by the payment's own gateway time wins, or, when that clock cannot tell,
    /// the one further along (`judge`). When the answer wins, the job's status is worked
    /// out again from its payments. Returns whether the two views disagreed, so the
    /// caller can ask again soon instead of at the next reconcile pass.
    pub fn fold_payment_answer(&mut self, answer: PaymentSnapshot) -> bool {
        let listed = self
            .payments
            .iter()
            .position(|p| p.payment_ref == answer.payment_ref);
        let disagreed = match listed {
            // Never drop the payment we were told of; a listing that lacks one that has
            // moved on lags.
            None => answer.status != PaymentStatus::Pending,
            Some(i) => {
                let held = &self.payments[i];
                if held.status == answer.status {
                    return false;
                }
                let listed = Seen {
                    status: &held.status,
                    at: held.updated_at,
                };
                let answered = Seen {
                    status: &answer.status,
                    at: answer.updated_at,
                };
                if judge(Some(listed), answered) == Verdict::Ignore {
                    // The listing is newer, or as far along: it stands.
                    return true;
                }
                true
            }
        };
        let at = answer.updated_at;
        match listed {
            Some(i) => self.payments[i] = answer,
            None => self.payments.push(answer),
        }
        self.status = job_status(&self.status, &self.payments);
        // The answer is as fresh as its payment's own time: an older listing must not
        // undo it by the job's clock.
        self.gateway_updated_at = self.gateway_updated_at.max(at);
        disagreed
    }
}

/// The job's status when its own word may lag its payments. The whole job decides, not
/// one attempt: any paid attempt makes it paid, an authorised one makes an open job
/// Reserved; otherwise (a failed attempt may be retried) the job's own word stands.
pub fn job_status(stated: &PaymentStatus, payments: &[PaymentSnapshot]) -> PaymentStatus {
    if stated.is_paid() {
        return stated.clone();
    }
    if let Some(p) = payments.iter().find(|p| p.status.is_paid()) {
        return p.status.clone();
    }
    let reserved = payments.iter().any(|p| p.status == PaymentStatus::Reserved);
    if reserved && !stated.is_final() {
        return PaymentStatus::Reserved;
    }
    stated.clone()
}

/// What we asked the gateway for when we created a job: its answers must agree.
#[derive(Debug, Clone, PartialEq)]
pub struct Expected {
    pub amount: Amount,
    pub currency: Currency,
    pub order_number: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures::{job_snapshot, payment_snapshot};

    fn at(s: &str) -> Option<Timestamp> {
        Some(Timestamp::parse(s).unwrap())
    }

    fn payment(status: PaymentStatus, updated: Option<Timestamp>) -> PaymentSnapshot {
        payment_snapshot("77", status, updated)
    }

    fn job(
        status: PaymentStatus,
        listed: PaymentSnapshot,
        updated: Option<Timestamp>,
    ) -> JobSnapshot {
        job_snapshot("7", status, updated, vec![listed])
    }

    const T0: &str = "2026-11-24T10:00:00.0012345Z";
    const T1: &str = "2026-11-24T10:00:05.0012345Z";

    #[test]
    fn a_fresher_payment_answer_beats_a_lagging_listing_and_the_job_follows() {
        let mut j = job(
            PaymentStatus::Pending,
            payment(PaymentStatus::Pending, at(T0)),
            at(T0),
        );
        assert!(j.fold_payment_answer(payment(PaymentStatus::Paid, at(T1))));
        assert_eq!(j.payments[0].status, PaymentStatus::Paid);
        assert_eq!(j.status, PaymentStatus::Paid);
        assert_eq!(j.gateway_updated_at, at(T1));
    }

    #[test]
    fn a_fresher_listing_beats_a_lagging_payment_answer() {
        let mut j = job(
            PaymentStatus::Failed,
            payment(PaymentStatus::Failed, at(T1)),
            at(T1),
        );
        assert!(j.fold_payment_answer(payment(PaymentStatus::Pending, at(T0))));
        assert_eq!(j.payments[0].status, PaymentStatus::Failed);
        assert_eq!(j.status, PaymentStatus::Failed);
        assert_eq!(j.gateway_updated_at, at(T1));
    }

    #[test]
    fn when_the_clock_cannot_tell_the_view_further_along_wins() {
        for (listed_at, answer_at) in [(None, None), (at(T0), at(T0)), (at(T0), None)] {
            let mut j = job(
                PaymentStatus::Pending,
                payment(PaymentStatus::Pending, listed_at),
                at(T0),
            );
            assert!(j.fold_payment_answer(payment(PaymentStatus::Paid, answer_at)));
            assert_eq!(j.status, PaymentStatus::Paid, "{listed_at:?} {answer_at:?}");
            let mut j = job(
                PaymentStatus::Pending,
                payment(PaymentStatus::Reserved, listed_at),
                at(T0),
            );
            assert!(j.fold_payment_answer(payment(PaymentStatus::Pending, answer_at)));
            assert_eq!(j.payments[0].status, PaymentStatus::Reserved);
        }
    }

    #[test]
    fn agreeing_views_change_nothing_and_a_missing_payment_is_added() {
        let listed = payment(PaymentStatus::Paid, at(T0));
        let mut j = job(PaymentStatus::Paid, listed.clone(), at(T0));
        let before = j.clone();
        assert!(!j.fold_payment_answer(payment(PaymentStatus::Paid, at(T1))));
        assert_eq!(j, before);

        let mut j = job(PaymentStatus::Pending, listed, at(T0));
        j.payments.clear();
        assert!(j.fold_payment_answer(payment(PaymentStatus::Reserved, at(T1))));
        assert_eq!((j.payments.len(), j.status), (1, PaymentStatus::Reserved));
    }

    #[test]
    fn a_failed_attempt_leaves_an_open_job_to_its_own_word() {
        let failed = payment(PaymentStatus::Failed, None);
        assert_eq!(
            job_status(&PaymentStatus::Pending, std::slice::from_ref(&failed)),
            PaymentStatus::Pending
        );
        assert_eq!(
            job_status(
                &PaymentStatus::Cancelled,
                &[payment(PaymentStatus::Reserved, None)]
            ),
            PaymentStatus::Cancelled
        );
    }
}
