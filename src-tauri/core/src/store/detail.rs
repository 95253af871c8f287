//! An order's detail, assembled from what a store reads of it: the summary, the job's own
//! columns, its attempts, deliveries, status history and audit log.

use crate::domain::{
    Attempt, AuditView, DeliveryView, MoneyMoveView, MoveKind, OrderDetail, OrderSummary,
    ShipCheck, ShipRules, StatusEventView, Timestamp,
};

/// What a store reads of one order besides its summary, each list in its stored order.
#[derive(Debug, Clone, Default)]
pub struct DetailRows {
    pub shipping_note: Option<String>,
    pub payment_link: Option<String>,
    pub last_confirmed_at: Option<Timestamp>,
    /// The gateway's last answer as stored text.
    pub raw: Option<String>,
    pub payments: Vec<Attempt>,
    pub deliveries: Vec<DeliveryView>,
    pub status_events: Vec<StatusEventView>,
    pub audit: Vec<AuditView>,
    /// Its captures, refunds and cancels, oldest first.
    pub moves: Vec<MoneyMoveView>,
}

impl DetailRows {
    /// The detail of the order `summary` describes. Its ship check is the strict rule
    /// until the core applies the shop's (`OrderDetail::under`); a last answer that does
    /// not read as JSON is left out.
    pub fn assemble(self, summary: OrderSummary) -> OrderDetail {
        OrderDetail {
            ship: ShipCheck::of(&summary, ShipRules::default()),
            summary,
            shipping_note: self.shipping_note,
            payment_link: self.payment_link,
            last_confirmed_at: self.last_confirmed_at,
            payments: self.payments,
            deliveries: self.deliveries,
            status_events: self.status_events,
            audit: self.audit,
            refunds: of_kind(&self.moves, MoveKind::Refund),
            captures: of_kind(&self.moves, MoveKind::Capture),
            raw_last_answer: self.raw.and_then(|r| serde_json::from_str(&r).ok()),
        }
    }
}

fn of_kind(moves: &[MoneyMoveView], kind: MoveKind) -> Vec<MoneyMoveView> {
    moves.iter().filter(|m| m.kind == kind).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures::order;
    use crate::domain::PaymentStatus;

    #[test]
    fn the_detail_checks_the_strict_rule_and_keeps_only_a_readable_answer() {
        let reserved = order("100", PaymentStatus::Reserved, "2026-01-01T00:00:00Z");
        let rows = DetailRows {
            raw: Some(r#"{"status":"Reserved"}"#.into()),
            shipping_note: Some("box 3".into()),
            ..DetailRows::default()
        };
        let detail = rows.assemble(reserved.clone());
        assert!(!detail.ship.allowed);
        assert_eq!(detail.shipping_note.as_deref(), Some("box 3"));
        assert_eq!(
            detail.raw_last_answer,
            Some(serde_json::json!({"status": "Reserved"}))
        );
        let unreadable = DetailRows {
            raw: Some("not json".into()),
            ..DetailRows::default()
        };
        assert_eq!(unreadable.assemble(reserved).raw_last_answer, None);
    }
}
