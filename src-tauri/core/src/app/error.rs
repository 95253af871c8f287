//! The core API's one error type: a stable code for the faces, words for the owner.

use crate::domain::OrderSummary;
use crate::gateway::GatewayError;
use crate::store::StoreError;

/// An error for the faces: a stable code plus words for the owner.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    #[error("no order matches '{0}'")]
    NotFound(String),
    #[error(
        "'{query}' names {count} orders; use the payment job reference:{}",
        candidate_lines(candidates)
    )]
    Ambiguous {
        query: String,
        count: usize,
        candidates: Vec<OrderSummary>,
    },
    /// Only a prefix matched: acting on a guess could ship the wrong order.
    #[error(
        "'{query}' is not an exact job reference, payment reference or order number; \
         orders that start with it:{}",
        candidate_lines(candidates)
    )]
    NotExact {
        query: String,
        candidates: Vec<OrderSummary>,
    },
    #[error("{0}")]
    Invalid(String),
}

/// One line per candidate order: job reference, order number, status, amount.
fn candidate_lines(candidates: &[OrderSummary]) -> String {
    candidates
        .iter()
        .map(|o| {
            let money = match (&o.amount, &o.currency) {
                (Some(a), Some(c)) => format!("{} {c}", a.display_in(c)),
                _ => "-".to_owned(),
            };
            format!(
                "\n  job {}  order {}  {}  {money}",
                o.payment_job_reference,
                o.order_number.as_deref().unwrap_or("-"),
                o.status
            )
        })
        .collect()
}

impl AppError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Store(e) => e.code(),
            Self::Gateway(e) => e.code(),
            Self::NotFound(_) => "not_found",
            Self::Ambiguous { .. } => "ambiguous",
            Self::NotExact { .. } => "not_exact",
            Self::Invalid(_) => "invalid",
        }
    }
}
