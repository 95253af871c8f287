//! CSV export of orders, safe to open in a spreadsheet.

use crate::domain::OrderSummary;

const HEADER: &str = "paymentJobReference,orderNumber,email,status,amount,currency,attempts,shipped,shippedAt,firstSeenAt,updatedAt,refunded,net";

pub fn orders_csv(orders: &[OrderSummary]) -> String {
    let mut out = String::from(HEADER);
    out.push('\n');
    for o in orders {
        let cells = [
            o.payment_job_reference.to_string(),
            o.order_number.clone().unwrap_or_default(),
            o.email.clone().unwrap_or_default(),
            o.status.to_string(),
            o.amount.map(|a| a.to_string()).unwrap_or_default(),
            o.currency
                .as_ref()
                .map(|c| c.to_string())
                .unwrap_or_default(),
            o.attempts.to_string(),
            o.shipped.to_string(),
            o.shipped_at.map(|t| t.to_string()).unwrap_or_default(),
            o.first_seen_at.to_string(),
            o.updated_at.to_string(),
            // Completed refunds only, and what is left: a pending or failed refund
            // moved no money.
            o.refunded_amount.to_string(),
            o.net_amount().map(|a| a.to_string()).unwrap_or_default(),
        ];
        let line: Vec<String> = cells.iter().map(|c| cell(c)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out
}

/// Quotes where CSV needs it, and defuses text a spreadsheet would run as a formula
/// (order numbers and e-mails come from shoppers).
fn cell(value: &str) -> String {
    let defused = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if defused.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", defused.replace('"', "\"\""))
    } else {
        defused
    }
}

#[cfg(test)]
mod tests {
    use super::{cell, orders_csv};
    use crate::domain::fixtures::order;
    use crate::domain::PaymentStatus;

    #[test]
    fn the_csv_has_refunded_and_net_columns() {
        let mut o = order("100", PaymentStatus::Paid, "2026-01-01T00:00:00Z");
        o.paid_amount = Some("10.00".parse().unwrap());
        o.refunded_amount = "2.50".parse().unwrap();
        o.refund_pending_amount = "1.00".parse().unwrap();
        let csv = orders_csv(&[o]);
        let mut lines = csv.lines();
        assert!(lines.next().unwrap().ends_with(",refunded,net"));
        assert!(lines.next().unwrap().ends_with(",2.50,7.50"), "{csv}");
    }

    #[test]
    fn cells_are_quoted_and_formulas_defused() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("-12"), "'-12");
    }
}
