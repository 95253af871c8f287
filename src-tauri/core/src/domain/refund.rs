//! Refunds worked out before anything is sent: what each payment that paid can still give
//! back (paid, minus completed and pending refunds; Cancelled counts as nothing
//! received), the checks, which payment(s) to refund (largest first), a same-day full
//! refund sent as a cancel, each refund's new `refundNumber`, and, after a lost answer,
//! whether the refund reached the gateway ("never twice").

use rust_decimal::Decimal;

use super::money_plan::{money, MoneyPlan, PlannedMove};
use super::settlement::{date_in_words, is_settled, paid_at, settles_at};
use super::{
    Amount, JobRef, JobSnapshot, MoneyMove, MoveKind, MoveStatus, PaymentRef, PaymentStatus,
    Timestamp, DEFAULT_MINOR_DIGITS,
};

/// The money one paid payment took and gave back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentBalance {
    pub payment_ref: PaymentRef,
    pub paid: Amount,
    /// Completed refunds.
    pub refunded: Amount,
    /// Refunds the gateway has not finished: they count against the balance.
    pub pending: Amount,
}

impl PaymentBalance {
    /// What can still be refunded (never below zero).
    pub fn refundable(&self) -> Amount {
        let left = self.paid.decimal() - self.refunded.decimal() - self.pending.decimal();
        Amount::new(left.max(Decimal::ZERO))
    }
}

fn refunds_of(moves: &[MoneyMove], status: MoveStatus) -> Amount {
    Amount::new(
        moves
            .iter()
            .filter(|m| m.kind == MoveKind::Refund && m.status == status)
            .map(|m| m.amount.decimal())
            .sum(),
    )
}

/// Each payment that paid (Paid or Verified: a Cancelled one received nothing), in the
/// job's attempt order. `paidAmount` where the gateway gave it, else what was asked.
pub fn payment_balances(job: &JobSnapshot) -> Vec<PaymentBalance> {
    job.payments
        .iter()
        .filter(|p| p.status.is_paid())
        .filter_map(|p| {
            Some(PaymentBalance {
                payment_ref: p.payment_ref.clone(),
                paid: p.paid_amount.or(p.amount)?,
                refunded: refunds_of(&p.moves, MoveStatus::Completed),
                pending: refunds_of(&p.moves, MoveStatus::Pending),
            })
        })
        .collect()
}

/// What the whole order can still refund.
pub fn refundable_balance(job: &JobSnapshot) -> Amount {
    Amount::new(
        payment_balances(job)
            .iter()
            .map(|b| b.refundable().decimal())
            .sum(),
    )
}

/// A new `refundNumber`: `tw-` and the job's reference, the time in base 36 and 16
/// random bits, and `n` (the refund's place in its plan). At most 40 characters.
pub fn new_refund_number(job: &JobRef, now: Timestamp, n: usize) -> String {
    let millis = u64::try_from(now.unix_millis()).unwrap_or_default();
    format!("tw-{job}-{}{:04x}-{n}", base36(millis), fastrand::u16(..))
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// After a refund's answer was lost: whether the gateway holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundLookup {
    /// It reached the gateway: never send it again.
    Found(MoneyMove),
    /// Not there: sending it again cannot refund twice.
    Absent,
}

/// Looks for the refund recorded as `refund_number` among the payment's moves as read
/// back from the gateway.
pub fn look_for_refund(moves: &[MoneyMove], refund_number: &str) -> RefundLookup {
    moves
        .iter()
        .find(|m| m.kind == MoveKind::Refund && m.number.as_deref() == Some(refund_number))
        .map_or(RefundLookup::Absent, |m| RefundLookup::Found(m.clone()))
}

/// Checks a refund of `amount` (`None`: the whole refundable balance) of order `job` at
/// `now` and plans it: each payment that paid, largest balance first, refunded if
/// settled, cancelled if it is same-day and the refund takes all of it, refused
/// otherwise with the date a refund becomes possible.
pub fn plan_refund(
    job: &JobSnapshot,
    amount: Option<Amount>,
    now: Timestamp,
) -> Result<MoneyPlan, String> {
    let job_ref = &job.job_ref;
    let currency = job.currency.as_ref();
    if !job.status.is_paid() {
        let hint = if job.status == PaymentStatus::Reserved {
            ": a reservation is captured or cancelled, not refunded"
        } else {
            ""
        };
        return Err(format!(
            "Order {job_ref} is {}: only a Paid (or Verified) order can be refunded{hint}.",
            job.status.as_str()
        ));
    }
    let balances = payment_balances(job);
    let total = refundable_balance(job);
    let amount = match amount {
        None if total == Amount::ZERO => {
            return Err(format!("Order {job_ref} has nothing left to refund."));
        }
        None => total,
        Some(a) => a,
    };
    if amount.decimal() <= Decimal::ZERO {
        return Err("The amount to refund must be greater than zero.".to_owned());
    }
    let digits = currency.map_or(DEFAULT_MINOR_DIGITS, |c| c.minor_digits());
    if amount.decimal().normalize().scale() > digits {
        return Err(format!(
            "{amount} has more decimals than {} takes ({digits}).",
            currency.map_or("the currency", |c| c.as_str())
        ));
    }
    if amount > total {
        let sum = |f: fn(&PaymentBalance) -> Amount| {
            money(
                Amount::new(balances.iter().map(|b| f(b).decimal()).sum()),
                currency,
            )
        };
        return Err(format!(
            "{} is more than order {job_ref} can refund: {} (paid {}, refunded {}, pending {}).",
            money(amount, currency),
            money(total, currency),
            sum(|b| b.paid),
            sum(|b| b.refunded),
            sum(|b| b.pending),
        ));
    }

    let mut by_size: Vec<&PaymentBalance> = balances
        .iter()
        .filter(|b| b.refundable() > Amount::ZERO)
        .collect();
    by_size.sort_by_key(|b| std::cmp::Reverse(b.refundable()));
    let mut left = amount.decimal();
    let mut moves = Vec::new();
    let mut parts = Vec::new();
    for b in by_size {
        if left <= Decimal::ZERO {
            break;
        }
        let part = Amount::new(left.min(b.refundable().decimal()));
        left -= part.decimal();
        parts.push(format!(
            "{} from payment {}",
            money(part, currency),
            b.payment_ref
        ));
        moves.push(plan_part(job, b, part, now, moves.len())?);
    }
    let mut notes = Vec::new();
    if moves.len() > 1 {
        notes.push(format!(
            "The refund is spread across {} payments, largest first: {}.",
            moves.len(),
            parts.join(", ")
        ));
    }
    if moves
        .iter()
        .any(|m| matches!(m, PlannedMove::CancelPayment { .. }))
    {
        notes.push(
            "A payment made today is not settled yet: its refund is sent as a cancel of the \
             whole payment."
                .to_owned(),
        );
    }
    Ok(MoneyPlan {
        job_ref: job_ref.clone(),
        currency: job.currency.clone(),
        moves,
        note: (!notes.is_empty()).then(|| notes.join(" ")),
    })
}

/// One payment's share: a refund if settled, else a cancel if it takes the whole payment.
fn plan_part(
    job: &JobSnapshot,
    b: &PaymentBalance,
    part: Amount,
    now: Timestamp,
    n: usize,
) -> Result<PlannedMove, String> {
    let payment = job
        .payments
        .iter()
        .find(|p| p.payment_ref == b.payment_ref)
        .ok_or_else(|| format!("Payment {} is not in the job.", b.payment_ref))?;
    if is_settled(payment, now) {
        return Ok(PlannedMove::Refund {
            payment: b.payment_ref.clone(),
            amount: part,
            refund_number: new_refund_number(&job.job_ref, now, n),
        });
    }
    let untouched = b.refunded == Amount::ZERO && b.pending == Amount::ZERO;
    if untouched && part.same_money(b.paid) {
        return Ok(PlannedMove::CancelPayment {
            payment: b.payment_ref.clone(),
            amount: Some(part),
        });
    }
    let from =
        paid_at(payment).map_or_else(|| "tomorrow".to_owned(), |t| date_in_words(settles_at(t)));
    Err(format!(
        "Payment {} of order {} was made today and is not settled yet: a partial refund can \
         be made from {from} (UTC). Today only the whole payment ({}) can be cancelled.",
        b.payment_ref,
        job.job_ref,
        money(b.paid, job.currency.as_ref())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::money_plan::tests::{at, job, pay};

    const PAID: &str = "2026-12-07T12:00:00Z";
    const NEXT_DAY: &str = "2026-12-08T09:00:00Z";

    fn refund_move(payment: &str, amount: &str, status: MoveStatus, number: &str) -> MoneyMove {
        MoneyMove {
            kind: MoveKind::Refund,
            payment_ref: PaymentRef::parse(payment).unwrap(),
            reference: None,
            number: Some(number.to_owned()),
            amount: amount.parse().unwrap(),
            status,
            created_at: None,
            failure: None,
        }
    }

    fn a(s: &str) -> Option<Amount> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn the_balance_is_paid_minus_completed_and_pending_refunds_and_cancelled_is_nothing() {
        let mut paid = pay("71", PaymentStatus::Paid, "10.00", PAID);
        paid.moves = vec![
            refund_move("71", "3.00", MoveStatus::Completed, "a"),
            refund_move("71", "2.00", MoveStatus::Pending, "b"),
            refund_move("71", "4.00", MoveStatus::Failed, "c"),
        ];
        let mut cancelled = pay("72", PaymentStatus::Cancelled, "10.00", PAID);
        cancelled.paid_amount = a("10.00");
        let j = job(PaymentStatus::Paid, vec![paid, cancelled]);
        let balances = payment_balances(&j);
        assert_eq!(balances.len(), 1, "a cancelled payment received nothing");
        assert_eq!(balances[0].refundable(), "5.00".parse().unwrap());
        assert_eq!(refundable_balance(&j), "5.00".parse().unwrap());
    }

    #[test]
    fn checks_come_before_anything_is_sent() {
        let j = job(
            PaymentStatus::Paid,
            vec![pay("71", PaymentStatus::Paid, "10.00", PAID)],
        );
        let now = at(NEXT_DAY);
        for (amount, words) in [
            ("0", "greater than zero"),
            ("-1", "greater than zero"),
            ("1.005", "more decimals than GBP"),
            (
                "10.01",
                "more than order 7 can refund: 10.00 GBP (paid 10.00 GBP",
            ),
        ] {
            let err = plan_refund(&j, a(amount), now).unwrap_err();
            assert!(err.contains(words), "{amount}: {err}");
        }
        let reserved = job(
            PaymentStatus::Reserved,
            vec![pay("71", PaymentStatus::Reserved, "10.00", PAID)],
        );
        let err = plan_refund(&reserved, None, now).unwrap_err();
        assert!(err.contains("only a Paid (or Verified)"), "{err}");
        let plan = plan_refund(&j, None, now).unwrap();
        assert!(
            matches!(&plan.moves[..], [PlannedMove::Refund { amount, .. }] if amount.to_string() == "10.00")
        );
        assert_eq!(plan.note, None);
    }

    #[test]
    fn the_payment_that_paid_is_refunded_and_several_are_spread_largest_first() {
        let j = job(
            PaymentStatus::Paid,
            vec![
                pay("70", PaymentStatus::Failed, "10.00", PAID),
                pay("71", PaymentStatus::Paid, "4.00", PAID),
                pay("72", PaymentStatus::Paid, "6.00", PAID),
                pay("73", PaymentStatus::Declined, "10.00", PAID),
            ],
        );
        let plan = plan_refund(&j, a("8.00"), at(NEXT_DAY)).unwrap();
        let parts: Vec<_> = plan
            .moves
            .iter()
            .map(|m| match m {
                PlannedMove::Refund {
                    payment, amount, ..
                } => (payment.to_string(), amount.to_string()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            parts,
            [("72".into(), "6.00".into()), ("71".into(), "2.00".into())]
        );
        let note = plan.note.unwrap();
        assert!(
            note.contains("spread across 2 payments, largest first"),
            "{note}"
        );
        let only = plan_refund(&j, a("5.00"), at(NEXT_DAY)).unwrap();
        assert!(
            matches!(&only.moves[..], [PlannedMove::Refund { payment, .. }] if payment.as_str() == "72")
        );
    }

    #[test]
    fn a_same_day_full_refund_is_a_cancel_and_a_partial_one_waits_for_the_date() {
        let j = job(
            PaymentStatus::Paid,
            vec![pay("71", PaymentStatus::Paid, "10.00", PAID)],
        );
        let evening = at("2026-12-07T23:00:00Z");
        let plan = plan_refund(&j, None, evening).unwrap();
        assert!(matches!(
            &plan.moves[..],
            [PlannedMove::CancelPayment { .. }]
        ));
        assert!(plan.note.unwrap().contains("sent as a cancel"));
        let err = plan_refund(&j, a("4.00"), evening).unwrap_err();
        assert!(err.contains("from 8 December 2026"), "{err}");
    }

    #[test]
    fn refund_numbers_are_new_short_and_unique() {
        let job_ref = JobRef::parse("1234567890123456789").unwrap();
        let now = Timestamp::now();
        let a = new_refund_number(&job_ref, now, 0);
        let b = new_refund_number(&job_ref, now, 1);
        assert_ne!(a, b);
        assert!(
            a.len() <= 50 && a.starts_with("tw-1234567890123456789-"),
            "{a}"
        );
    }

    #[test]
    fn a_refund_found_after_a_lost_answer_is_never_sent_again() {
        let moves = vec![refund_move("71", "3.00", MoveStatus::Pending, "tw-1")];
        assert!(
            matches!(look_for_refund(&moves, "tw-1"), RefundLookup::Found(m) if m.status == MoveStatus::Pending)
        );
        assert_eq!(look_for_refund(&moves, "tw-2"), RefundLookup::Absent);
    }
}
