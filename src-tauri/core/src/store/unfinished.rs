//! Which orders may still change: those whose status is not final. The store's partial
//! index `payment_jobs_unfinished` is worded the same, so a planner reads it alone.

use crate::domain::PaymentStatus;

/// The condition on `status` naming the orders that may still change.
pub fn unfinished_condition() -> String {
    let words = PaymentStatus::FINAL_WORDS
        .iter()
        .map(|w| format!("'{w}'"))
        .collect::<Vec<_>>()
        .join(", ");
    format!("status NOT IN ({words})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_final_status_is_excluded_and_nothing_else() {
        let condition = unfinished_condition();
        for word in PaymentStatus::FINAL_WORDS {
            assert!(condition.contains(&format!("'{word}'")), "{condition}");
        }
        assert!(!condition.contains("'Reserved'"), "{condition}");
        assert!(condition.starts_with("status NOT IN ("));
    }
}
