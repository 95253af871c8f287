//! The gateway's book of payment jobs: every job with its full version history
//! (so a fault can answer an older version), and the status changes shoppers and
//! the cancel route make. Each change reports which (job, payment) to notify.

use std::collections::HashMap;
use std::time::Duration;

use time::{Month, OffsetDateTime};

use super::clock::truncate_to_tick;
use super::model::{
    Amount, BillingIdentity, ErrorReport, Job, JobAttributes, Order, Payment, Status, Step,
};
use super::request::{NewJob, ReturnUrls};

/// How a shopper's pending attempt ends.
#[derive(Clone, Debug)]
pub(crate) enum Outcome {
    Paid,
    /// Authorised but not captured (auto-capture off): the payment stops at Reserved
    /// until a capture.
    Reserved,
    /// Paid, but with other money than the job asked for (a tampered page, a partial
    /// capture): `paidAmount` on the payment and the job says so.
    PaidOther(Amount),
    /// The attempt ends in `status` (Failed, Declined, …) with this error.
    Unpaid {
        status: Status,
        code: String,
        message: String,
    },
}

/// A (job, payment) whose status just changed: the gateway notifies it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Change {
    pub job_ref: String,
    pub payment_ref: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum LedgerError {
    #[error("payment job not found")]
    UnknownJob,
    #[error("payment job is already {0}")]
    NotOpen(Status),
    #[error("payment job has no pending payment")]
    NoPendingPayment,
    #[error("payment job already has a pending payment")]
    PaymentInProgress,
}

struct JobRecord {
    /// Every version of the job, oldest first; the last one is current.
    versions: Vec<Job>,
    /// When each version was made (real time, for answers that lag).
    made: Vec<tokio::time::Instant>,
    return_urls: ReturnUrls,
    /// The `ConfigurationId` of another merchant that owns the job; `None`: ours.
    merchant: Option<String>,
}

impl JobRecord {
    fn current(&self) -> &Job {
        self.versions
            .last()
            .expect("a job has at least one version")
    }
}

pub(crate) struct Ledger {
    jobs: HashMap<String, JobRecord>,
    creation_order: Vec<String>,
    last_reference: u64,
    last_stamp: OffsetDateTime,
}

const TICK: Duration = Duration::from_nanos(100);

impl Ledger {
    pub fn new() -> Self {
        Self {
            jobs: HashMap::new(),
            creation_order: Vec::new(),
            // References are 18-digit numbers; start somewhere random in that range.
            last_reference: fastrand::u64(100_000_000_000_000_000..500_000_000_000_000_000),
            last_stamp: OffsetDateTime::UNIX_EPOCH,
        }
    }

    pub(crate) fn next_reference(&mut self) -> String {
        self.last_reference += fastrand::u64(1..1000);
        self.last_reference.to_string()
    }

    /// A timestamp for a change: 100 ns resolution and strictly increasing, so
    /// `lastUpdateTimeUtc` differs after every change even on a fast real clock.
    fn stamp(&mut self, now: OffsetDateTime) -> OffsetDateTime {
        let mut t = truncate_to_tick(now);
        if t <= self.last_stamp {
            t = self.last_stamp + TICK;
        }
        self.last_stamp = t;
        t
    }

    pub fn create(&mut self, new: NewJob, now: OffsetDateTime) -> Job {
        self.create_for(new, now, None)
    }

    /// A job of the merchant `merchant` names (`None`: the configured one).
    pub fn create_for(
        &mut self,
        new: NewJob,
        now: OffsetDateTime,
        merchant: Option<String>,
    ) -> Job {
        let stamp = self.stamp(now);
        let reference = self.next_reference();
        let payment = new_payment(self.next_reference(), Amount(new.amount), stamp);
        let job = Job {
            reference: reference.clone(),
            create_date_time_utc: stamp,
            kind: "Payment".to_owned(),
            order: Order {
                order_number: new.order_number,
                customer_reference: new.customer_reference,
                billing_identity: BillingIdentity {
                    email_address: new.email,
                },
            },
            currency: new.currency,
            amount_to_collect: Amount(new.amount),
            amount_collected: Amount::ZERO,
            paid_amount: Amount::ZERO,
            paid_date_time_utc: None,
            expiration_date_time_utc: add_months(stamp, 6),
            last_update_time_utc: stamp,
            attributes: JobAttributes {
                webhook_url: new.webhook_url,
            },
            payment_status: Status::Pending,
            payments: vec![payment],
        };
        self.jobs.insert(
            reference.clone(),
            JobRecord {
                versions: vec![job.clone()],
                made: vec![tokio::time::Instant::now()],
                return_urls: new.return_urls,
                merchant,
            },
        );
        self.creation_order.push(reference);
        job
    }

    pub fn job(&self, job_ref: &str) -> Option<&Job> {
        self.jobs.get(job_ref).map(JobRecord::current)
    }

    /// The job as it was before its latest change (the current one if it never changed).
    pub fn stale_job(&self, job_ref: &str) -> Option<&Job> {
        let rec = self.jobs.get(job_ref)?;
        let n = rec.versions.len();
        Some(&rec.versions[n.saturating_sub(2)])
    }

    /// The job as a replica that stopped at `at` holds it: the newest version made then
    /// or before (the first version if all are newer).
    pub fn job_as_of(&self, job_ref: &str, at: tokio::time::Instant) -> Option<&Job> {
        let rec = self.jobs.get(job_ref)?;
        let n = rec.made.iter().filter(|m| **m <= at).count();
        Some(&rec.versions[n.saturating_sub(1)])
    }

    pub fn payment(&self, job_ref: &str, payment_ref: &str) -> Option<&Payment> {
        self.job(job_ref)?.payment(payment_ref)
    }

    /// The payment as it was before its latest change (the current one if it never
    /// changed since it was added to the job).
    pub fn stale_payment(&self, job_ref: &str, payment_ref: &str) -> Option<&Payment> {
        let rec = self.jobs.get(job_ref)?;
        let current = rec.current().payment(payment_ref)?;
        let older = rec
            .versions
            .iter()
            .rev()
            .map_while(|v| v.payment(payment_ref))
            .find(|p| *p != current);
        Some(older.unwrap_or(current))
    }

    /// Whether the job belongs to another merchant than the configured one.
    pub fn is_foreign(&self, job_ref: &str) -> bool {
        self.jobs.get(job_ref).is_some_and(|r| r.merchant.is_some())
    }

    pub fn return_urls(&self, job_ref: &str) -> Option<&ReturnUrls> {
        self.jobs.get(job_ref).map(|r| &r.return_urls)
    }

    /// Whether the configured merchant has a job with this order number.
    pub fn order_exists(&self, order_number: &str) -> bool {
        self.jobs
            .values()
            .any(|r| r.merchant.is_none() && r.current().order.order_number == order_number)
    }

    /// Job references, oldest first.
    pub fn job_refs(&self) -> Vec<String> {
        self.creation_order.clone()
    }

    /// Apply `f` to a copy of the current job and keep the result as a new version.
    pub(crate) fn change<T, E: From<LedgerError>>(
        &mut self,
        job_ref: &str,
        now: OffsetDateTime,
        f: impl FnOnce(&mut Job, OffsetDateTime) -> Result<T, E>,
    ) -> Result<T, E> {
        if !self.jobs.contains_key(job_ref) {
            return Err(LedgerError::UnknownJob.into());
        }
        let stamp = self.stamp(now);
        let rec = self.jobs.get_mut(job_ref).expect("checked above");
        let mut job = rec.current().clone();
        let out = f(&mut job, stamp)?;
        job.last_update_time_utc = stamp;
        rec.versions.push(job);
        rec.made.push(tokio::time::Instant::now());
        Ok(out)
    }

    /// End the job's pending payment with `outcome`. A failure that reaches
    /// `attempt_limit` failed attempts fails the whole job.
    pub fn settle_latest(
        &mut self,
        job_ref: &str,
        outcome: Outcome,
        attempt_limit: u32,
        now: OffsetDateTime,
    ) -> Result<Change, LedgerError> {
        self.change(job_ref, now, |job, t| {
            if !job.is_open() {
                return Err(LedgerError::NotOpen(job.payment_status));
            }
            let amount = match &outcome {
                Outcome::PaidOther(paid) => *paid,
                _ => job.amount_to_collect,
            };
            let payment = job
                .payments
                .last_mut()
                .filter(|p| p.status == Status::Pending)
                .ok_or(LedgerError::NoPendingPayment)?;
            let payment_ref = payment.reference.clone();
            match outcome {
                Outcome::Reserved => {
                    payment.status = Status::Reserved;
                    payment.steps.push(step("Authorise", "Completed", t));
                    job.payment_status = Status::Reserved;
                }
                Outcome::Paid | Outcome::PaidOther(_) => {
                    payment.status = Status::Paid;
                    payment.paid_amount = amount;
                    payment.steps.push(step("Authorise", "Completed", t));
                    payment.steps.push(step("Capture", "Completed", t));
                    job.payment_status = Status::Paid;
                    job.amount_collected = amount;
                    job.paid_amount = amount;
                    job.paid_date_time_utc = Some(t);
                }
                Outcome::Unpaid {
                    status,
                    code,
                    message,
                } => {
                    payment.status = status;
                    payment.last_error_report = Some(ErrorReport::single(&code, &message));
                    payment.steps.push(step("Authorise", "Failed", t));
                    let failed = job
                        .payments
                        .iter()
                        .filter(|p| p.status.is_failed_attempt())
                        .count();
                    if failed >= attempt_limit as usize {
                        job.payment_status = Status::Failed;
                    }
                }
            }
            Ok(Change {
                job_ref: job.reference.clone(),
                payment_ref,
            })
        })
    }

    /// The shopper tries again: a new pending payment with a new reference.
    pub fn new_attempt(
        &mut self,
        job_ref: &str,
        now: OffsetDateTime,
    ) -> Result<String, LedgerError> {
        let reference = self.next_reference();
        self.change(job_ref, now, |job, t| {
            if !job.is_open() {
                return Err(LedgerError::NotOpen(job.payment_status));
            }
            if job.payments.iter().any(|p| !p.status.is_final()) {
                return Err(LedgerError::PaymentInProgress);
            }
            job.payments
                .push(new_payment(reference.clone(), job.amount_to_collect, t));
            Ok(reference)
        })
    }

    /// Cancel an open job and its unfinished payments.
    pub fn cancel(&mut self, job_ref: &str, now: OffsetDateTime) -> Result<Change, LedgerError> {
        self.change(job_ref, now, |job, t| {
            if !job.is_open() {
                return Err(LedgerError::NotOpen(job.payment_status));
            }
            for p in job.payments.iter_mut().filter(|p| !p.status.is_final()) {
                p.status = Status::Cancelled;
                p.steps.push(step("Cancel", "Completed", t));
            }
            job.payment_status = Status::Cancelled;
            let payment_ref = job
                .latest_payment()
                .expect("a job has at least one payment")
                .reference
                .clone();
            Ok(Change {
                job_ref: job.reference.clone(),
                payment_ref,
            })
        })
    }
}

fn new_payment(reference: String, amount: Amount, t: OffsetDateTime) -> Payment {
    Payment {
        reference,
        create_date_time_utc: t,
        payment_methods: vec!["Card".to_owned()],
        status: Status::Pending,
        last_error_report: None,
        amount_to_collect: amount,
        surcharge_amount: Amount::ZERO,
        paid_amount: Amount::ZERO,
        steps: vec![step("Create", "Completed", t)],
        attributes: serde_json::Map::new(),
        refunds: Vec::new(),
        captures: Vec::new(),
    }
}

pub(crate) fn step(action: &str, status: &str, t: OffsetDateTime) -> Step {
    Step {
        action: action.to_owned(),
        status: status.to_owned(),
        date_time_utc: t,
    }
}

/// Calendar months later, the day clamped to the target month's length.
fn add_months(t: OffsetDateTime, months: u8) -> OffsetDateTime {
    let month0 = t.month() as i32 - 1 + i32::from(months);
    let year = t.year() + month0 / 12;
    let month = Month::January.nth_next((month0 % 12) as u8);
    let day = t.day().min(month.length(year));
    let date = time::Date::from_calendar_date(year, month, day).expect("valid clamped date");
    t.replace_date(date)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn six_months_clamps_the_day() {
        assert_eq!(
            add_months(datetime!(2026-08-31 10:00 UTC), 6),
            datetime!(2027-02-28 10:00 UTC)
        );
        assert_eq!(
            add_months(datetime!(2026-01-15 10:00 UTC), 6),
            datetime!(2026-07-15 10:00 UTC)
        );
    }
}
