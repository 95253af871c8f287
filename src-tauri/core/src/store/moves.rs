//! Captures and refunds as a store keeps them, decided without a database: which moves of
//! a gateway answer are new and which changed status (the events a confirmation reports),
//! and whether an owner's request to move money may be recorded before it is sent. A
//! backend reads the moves it holds, asks these functions, and writes what they say.

use super::AuditEntry;
use crate::domain::{
    Amount, ChangeSource, JobRef, MoneyMove, MoveKind, MoveStatus, PaymentRef, PaymentStatus,
    Timestamp,
};

/// A capture or refund as a store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldMove {
    /// The row's id in the store.
    pub id: i64,
    pub payment_ref: PaymentRef,
    pub kind: MoveKind,
    pub reference: Option<String>,
    pub number: Option<String>,
    pub amount: Amount,
    pub status: MoveStatus,
    pub created_at: Option<Timestamp>,
    pub failure: Option<String>,
}

/// What a store writes of one move of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoveWrite {
    /// First seen: learnt from the gateway (`by` unknown).
    Insert(MoneyMove),
    /// Already held as row `id`: its columns become these (the status never goes back
    /// from an end state to Pending; the plan has already kept the end state).
    Update { id: i64, now: MoneyMove },
}

/// A move that is new or whose status changed: what the window and the alerts tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoneyChange {
    pub kind: MoveKind,
    pub payment_ref: PaymentRef,
    pub number: Option<String>,
    pub amount: Amount,
    /// `None` when first seen.
    pub from: Option<MoveStatus>,
    pub to: MoveStatus,
    /// The gateway's reason, for a failed one.
    pub failure: Option<String>,
}

impl MoneyChange {
    /// The owner's words for it, amounts shown as `money` writes them ("£2.50").
    pub fn words(&self, money: &str) -> String {
        let what = match self.kind {
            MoveKind::Refund => "Refund",
            MoveKind::Capture => "Capture",
            MoveKind::Cancel => "Cancel",
        };
        match (self.from, self.to) {
            (_, MoveStatus::Failed) => match &self.failure {
                Some(why) => format!("{what} of {money} failed: {why}"),
                None => format!("{what} of {money} failed"),
            },
            (None, MoveStatus::Pending) => {
                format!("{what} of {money} found, pending (made in the portal)")
            }
            (None, MoveStatus::Completed) => {
                format!("{what} of {money} found (made in the portal)")
            }
            (Some(_), MoveStatus::Completed) => format!("{what} of {money} completed"),
            (Some(_), MoveStatus::Pending) => format!("{what} of {money} pending"),
        }
    }
}

/// The writes and changes for the moves of one answer against those held. A move is the
/// held one of the same payment and kind with the same gateway reference, else with the
/// same refund number (an owner's request recorded before the gateway gave it a
/// reference). A move the gateway no longer lists is left as it is.
pub fn plan_moves(held: &[HeldMove], incoming: &[MoneyMove]) -> (Vec<MoveWrite>, Vec<MoneyChange>) {
    let mut taken = vec![false; held.len()];
    let mut writes = Vec::new();
    let mut changes = Vec::new();
    for m in incoming {
        let same = |h: &HeldMove| h.payment_ref == m.payment_ref && h.kind == m.kind;
        let found = held
            .iter()
            .enumerate()
            .position(|(i, h)| {
                !taken[i] && same(h) && m.reference.is_some() && h.reference == m.reference
            })
            .or_else(|| {
                held.iter().enumerate().position(|(i, h)| {
                    !taken[i] && same(h) && m.number.is_some() && h.number == m.number
                })
            });
        let Some(i) = found else {
            writes.push(MoveWrite::Insert(m.clone()));
            changes.push(change(m, None));
            continue;
        };
        taken[i] = true;
        let h = &held[i];
        let mut now = m.clone();
        // An end state stands: a lagging answer never makes it Pending again.
        if h.status.is_final() && !m.status.is_final() {
            now.status = h.status;
        }
        now.reference = now.reference.or_else(|| h.reference.clone());
        now.number = now.number.or_else(|| h.number.clone());
        now.created_at = now.created_at.or(h.created_at);
        now.failure = now.failure.or_else(|| h.failure.clone());
        if now.status != h.status {
            changes.push(change(&now, Some(h.status)));
        }
        let same_row = now.status == h.status
            && now.reference == h.reference
            && now.number == h.number
            && now.amount.same_money(h.amount)
            && now.created_at == h.created_at
            && now.failure == h.failure;
        if !same_row {
            writes.push(MoveWrite::Update { id: h.id, now });
        }
    }
    (writes, changes)
}

fn change(m: &MoneyMove, from: Option<MoveStatus>) -> MoneyChange {
    MoneyChange {
        kind: m.kind,
        payment_ref: m.payment_ref.clone(),
        number: m.number.clone(),
        amount: m.amount,
        from,
        to: m.status,
        failure: m.failure.clone(),
    }
}

/// Where an order's money stands once moves are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MoneyTotals {
    /// What the payments that count as received took (a Cancelled one took nothing).
    pub paid: Amount,
    /// Completed refunds.
    pub refunded: Amount,
    /// Refunds asked for and not ended yet.
    pub refund_pending: Amount,
}

impl MoneyTotals {
    /// The totals of `payments` (status and what each took) and their `moves` (kind,
    /// status, amount). A Failed move never counts.
    pub fn of<'a>(
        payments: impl IntoIterator<Item = (&'a PaymentStatus, Option<Amount>)>,
        moves: impl IntoIterator<Item = (MoveKind, MoveStatus, Amount)>,
    ) -> Self {
        let paid = payments
            .into_iter()
            .filter(|(s, _)| s.is_paid())
            .filter_map(|(_, a)| a)
            .map(Amount::decimal)
            .sum();
        let (mut refunded, mut pending) =
            (rust_decimal::Decimal::ZERO, rust_decimal::Decimal::ZERO);
        for (kind, status, amount) in moves {
            match (kind, status) {
                (MoveKind::Refund, MoveStatus::Completed) => refunded += amount.decimal(),
                (MoveKind::Refund, MoveStatus::Pending) => pending += amount.decimal(),
                _ => {}
            }
        }
        Self {
            paid: Amount::new(paid),
            refunded: Amount::new(refunded),
            refund_pending: Amount::new(pending),
        }
    }

    /// Paid less completed refunds.
    pub fn net(&self) -> Amount {
        Amount::new(self.paid.decimal() - self.refunded.decimal())
    }

    /// What may still be refunded: paid less completed and pending refunds.
    pub fn refundable(&self) -> Amount {
        Amount::new(
            (self.paid.decimal() - self.refunded.decimal() - self.refund_pending.decimal())
                .max(rust_decimal::Decimal::ZERO),
        )
    }
}

/// How long a Reserved payment's authorisation holds: the bank releases the money after.
pub const CAPTURE_WINDOW: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// When the earliest Reserved payment's authorisation runs out: [`CAPTURE_WINDOW`] after
/// its gateway time (`payments`: status and the gateway's time of the authorisation).
pub fn capture_by<'a>(
    payments: impl IntoIterator<Item = (&'a PaymentStatus, Option<Timestamp>)>,
) -> Option<Timestamp> {
    payments
        .into_iter()
        .filter(|(s, _)| **s == PaymentStatus::Reserved)
        .filter_map(|(_, at)| at)
        .min()
        .map(|at| at.plus(CAPTURE_WINDOW))
}

/// What a store keeps on the order's row so every list reads its money without adding up
/// rows: written after every change to its payments or moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredMoney {
    pub totals: MoneyTotals,
    pub capture_by: Option<Timestamp>,
}

/// One payment as the money read needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentMoney {
    pub status: PaymentStatus,
    /// What it took (`paidAmount`), where the gateway said.
    pub amount: Option<Amount>,
    /// What it was asked to collect.
    pub asked: Option<Amount>,
    /// The gateway's time of it (its authorisation, for a Reserved one).
    pub created_at: Option<Timestamp>,
}

impl StoredMoney {
    /// The money of an order of `job_status` whose job answer says it took `job_paid`.
    /// What the payments that count as received took is added up; when none of them
    /// says what it took, a paid job's own `paidAmount` stands, else what they were asked.
    pub fn of(
        job_status: &PaymentStatus,
        job_paid: Option<Amount>,
        payments: &[PaymentMoney],
        moves: &[HeldMove],
    ) -> Self {
        let said = payments
            .iter()
            .any(|p| p.status.is_paid() && p.amount.is_some());
        let mut totals = MoneyTotals::of(
            payments
                .iter()
                .map(|p| (&p.status, if said { p.amount } else { p.asked })),
            moves.iter().map(|m| (m.kind, m.status, m.amount)),
        );
        if !said && job_status.is_paid() {
            if let Some(paid) = job_paid {
                totals.paid = paid;
            }
        }
        Self {
            totals,
            capture_by: capture_by(payments.iter().map(|p| (&p.status, p.created_at))),
        }
    }
}

/// An owner's request to move money, recorded before it is sent
/// ([`Orders::record_money_request`](super::Orders::record_money_request)): the record
/// is what stops a lost answer from sending it twice, and the balance check inside the
/// same transaction is what stops two machines from refunding one order at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoneyRequest {
    pub job_ref: JobRef,
    /// The payment the money moves on (the one that actually paid).
    pub payment_ref: PaymentRef,
    pub kind: MoveKind,
    /// Unique per order: the refund's `refundNumber` (a capture or cancel gets one too,
    /// so its record can be found again).
    pub number: String,
    pub amount: Amount,
    /// Who asked (user@machine).
    pub by: Option<String>,
    /// For a refund: the order's refundable balance the owner saw when deciding
    /// ([`MoneyTotals::refundable`]). If the store now holds another, the request is
    /// refused with [`MoneyRefusal::BalanceChanged`] and nothing is recorded.
    pub refundable_seen: Option<Amount>,
}

/// Why a request to move money was not recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyRefusal {
    #[error("the refundable balance changed (now {now}): someone else moved money on this order; look again")]
    BalanceChanged { now: Amount },
    #[error("{amount} is more than the refundable balance ({refundable})")]
    AboveBalance { amount: Amount, refundable: Amount },
    #[error("the number {0} is already used on this order")]
    NumberUsed(String),
    #[error("this order has no payment {0}")]
    NoSuchPayment(String),
}

impl MoneyRefusal {
    pub fn code(&self) -> &'static str {
        match self {
            Self::BalanceChanged { .. } => "balance_changed",
            Self::AboveBalance { .. } => "above_balance",
            Self::NumberUsed(_) => "number_used",
            Self::NoSuchPayment(_) => "no_such_payment",
        }
    }
}

impl MoneyRequest {
    /// Whether the request may be recorded, given the order's totals now and whether its
    /// number is already used on the order.
    pub fn check(&self, now: &MoneyTotals, number_used: bool) -> Result<(), MoneyRefusal> {
        if number_used {
            return Err(MoneyRefusal::NumberUsed(self.number.clone()));
        }
        if self.kind != MoveKind::Refund {
            return Ok(());
        }
        let refundable = now.refundable();
        if let Some(seen) = self.refundable_seen {
            if !seen.same_money(refundable) {
                return Err(MoneyRefusal::BalanceChanged { now: refundable });
            }
        }
        if self.amount > refundable {
            return Err(MoneyRefusal::AboveBalance {
                amount: self.amount,
                refundable,
            });
        }
        Ok(())
    }

    /// The move as recorded: Pending, no gateway reference yet.
    pub fn pending_move(&self) -> MoneyMove {
        MoneyMove {
            kind: self.kind,
            payment_ref: self.payment_ref.clone(),
            reference: None,
            number: Some(self.number.clone()),
            amount: self.amount,
            status: MoveStatus::Pending,
            created_at: None,
            failure: None,
        }
    }

    /// Recorded as the owner's.
    pub fn source(&self) -> ChangeSource {
        ChangeSource::Owner
    }

    /// The audit entry it leaves: what was asked, on which payment, under which number.
    pub fn audit(&self) -> AuditEntry {
        AuditEntry {
            action: match self.kind {
                MoveKind::Refund => "refund requested",
                MoveKind::Capture => "capture requested",
                MoveKind::Cancel => "cancel requested",
            },
            detail: Some(format!(
                "{} on payment {} (number {})",
                self.amount, self.payment_ref, self.number
            )),
            by: self.by.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amount(s: &str) -> Amount {
        s.parse().unwrap()
    }

    fn refund(reference: Option<&str>, number: Option<&str>, a: &str, s: MoveStatus) -> MoneyMove {
        MoneyMove {
            kind: MoveKind::Refund,
            payment_ref: PaymentRef::parse("200").unwrap(),
            reference: reference.map(str::to_owned),
            number: number.map(str::to_owned),
            amount: amount(a),
            status: s,
            created_at: None,
            failure: None,
        }
    }

    fn held(id: i64, m: &MoneyMove) -> HeldMove {
        HeldMove {
            id,
            payment_ref: m.payment_ref.clone(),
            kind: m.kind,
            reference: m.reference.clone(),
            number: m.number.clone(),
            amount: m.amount,
            status: m.status,
            created_at: m.created_at,
            failure: m.failure.clone(),
        }
    }

    #[test]
    fn a_new_refund_is_inserted_and_reported() {
        let m = refund(Some("r1"), None, "2.50", MoveStatus::Completed);
        let (writes, changes) = plan_moves(&[], std::slice::from_ref(&m));
        assert_eq!(writes, [MoveWrite::Insert(m)]);
        assert_eq!(
            (changes[0].from, changes[0].to),
            (None, MoveStatus::Completed)
        );
        assert_eq!(
            changes[0].words("£2.50"),
            "Refund of £2.50 found (made in the portal)"
        );
    }

    #[test]
    fn a_status_change_is_matched_by_reference_then_by_number() {
        let was = refund(Some("r1"), Some("n1"), "2.50", MoveStatus::Pending);
        let now = refund(Some("r1"), Some("n1"), "2.50", MoveStatus::Completed);
        let (writes, changes) = plan_moves(&[held(7, &was)], std::slice::from_ref(&now));
        assert_eq!(
            writes,
            [MoveWrite::Update {
                id: 7,
                now: now.clone()
            }]
        );
        assert_eq!(changes[0].words("£2.50"), "Refund of £2.50 completed");
        // An owner's request recorded without a reference is found by its number.
        let asked = refund(None, Some("n1"), "2.50", MoveStatus::Pending);
        let (writes, changes) = plan_moves(&[held(8, &asked)], std::slice::from_ref(&now));
        assert_eq!(writes, [MoveWrite::Update { id: 8, now }]);
        assert_eq!(changes.len(), 1);
    }

    #[test]
    fn an_unchanged_move_writes_nothing_and_an_end_state_never_goes_back() {
        let done = refund(Some("r1"), None, "2.50", MoveStatus::Completed);
        assert_eq!(
            plan_moves(&[held(1, &done)], std::slice::from_ref(&done)),
            (vec![], vec![])
        );
        let lagging = refund(Some("r1"), None, "2.50", MoveStatus::Pending);
        let (writes, changes) = plan_moves(&[held(1, &done)], &[lagging]);
        assert!(changes.is_empty());
        assert!(writes.is_empty(), "{writes:?}");
    }

    #[test]
    fn a_failed_refund_says_why_and_never_counts() {
        let mut failed = refund(Some("r2"), None, "5.00", MoveStatus::Failed);
        failed.failure = Some("InsufficientMerchantBalance".into());
        let (_, changes) = plan_moves(&[], std::slice::from_ref(&failed));
        assert_eq!(
            changes[0].words("£5.00"),
            "Refund of £5.00 failed: InsufficientMerchantBalance"
        );
        let paid = PaymentStatus::Paid;
        let t = MoneyTotals::of(
            [(&paid, Some(amount("10.00")))],
            [
                (MoveKind::Refund, MoveStatus::Failed, amount("5.00")),
                (MoveKind::Refund, MoveStatus::Completed, amount("2.00")),
                (MoveKind::Refund, MoveStatus::Pending, amount("1.00")),
                (MoveKind::Capture, MoveStatus::Completed, amount("10.00")),
            ],
        );
        assert_eq!(t.refunded, amount("2.00"));
        assert_eq!(t.refund_pending, amount("1.00"));
        assert!(t.net().same_money(amount("8.00")));
        assert!(t.refundable().same_money(amount("7.00")));
    }

    #[test]
    fn the_capture_deadline_is_seven_days_from_the_earliest_authorisation() {
        let at = |s: &str| Some(Timestamp::parse(s).unwrap());
        let (reserved, paid) = (PaymentStatus::Reserved, PaymentStatus::Paid);
        assert_eq!(
            capture_by([
                (&paid, at("2026-01-01T00:00:00Z")),
                (&reserved, at("2026-01-03T10:00:00Z")),
                (&reserved, None),
            ]),
            at("2026-01-10T10:00:00Z")
        );
        assert_eq!(capture_by([(&paid, at("2026-01-01T00:00:00Z"))]), None);
    }

    #[test]
    fn a_paid_job_whose_payments_name_no_amount_counts_its_own() {
        let p = PaymentMoney {
            status: PaymentStatus::Paid,
            amount: None,
            asked: Some(amount("10.00")),
            created_at: None,
        };
        let m = StoredMoney::of(
            &PaymentStatus::Paid,
            Some(amount("9.00")),
            std::slice::from_ref(&p),
            &[],
        );
        assert!(m.totals.paid.same_money(amount("9.00")));
        let cancelled = PaymentMoney {
            status: PaymentStatus::Cancelled,
            ..p
        };
        let m = StoredMoney::of(
            &PaymentStatus::Cancelled,
            Some(amount("9.00")),
            &[cancelled],
            &[],
        );
        assert_eq!(m.totals.paid, Amount::ZERO);
    }

    #[test]
    fn a_cancelled_payment_counts_as_nothing_received() {
        let (cancelled, paid) = (PaymentStatus::Cancelled, PaymentStatus::Paid);
        let t = MoneyTotals::of(
            [
                (&cancelled, Some(amount("10.00"))),
                (&paid, Some(amount("3.00"))),
            ],
            [],
        );
        assert!(t.paid.same_money(amount("3.00")));
    }

    #[test]
    fn a_request_is_refused_when_the_balance_changed_or_is_too_small() {
        let paid = PaymentStatus::Paid;
        let totals = MoneyTotals::of([(&paid, Some(amount("10.00")))], []);
        let mut req = MoneyRequest {
            job_ref: JobRef::parse("100").unwrap(),
            payment_ref: PaymentRef::parse("200").unwrap(),
            kind: MoveKind::Refund,
            number: "n1".into(),
            amount: amount("4.00"),
            by: None,
            refundable_seen: Some(amount("10.00")),
        };
        assert_eq!(req.check(&totals, false), Ok(()));
        assert_eq!(
            req.check(&totals, true),
            Err(MoneyRefusal::NumberUsed("n1".into()))
        );
        req.refundable_seen = Some(amount("6.00"));
        assert_eq!(
            req.check(&totals, false).unwrap_err().code(),
            "balance_changed"
        );
        req.refundable_seen = None;
        req.amount = amount("10.01");
        assert_eq!(
            req.check(&totals, false).unwrap_err().code(),
            "above_balance"
        );
    }
}
