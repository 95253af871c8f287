use std::fmt;

use serde::{Deserialize, Serialize};

/// A payment or payment-job status as the gateway words it. Unknown words are kept as
/// they came, so a new status never breaks parsing and is shown to the owner verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum PaymentStatus {
    Pending,
    /// Authorised, not captured.
    Reserved,
    Paid,
    /// Cashflows' own client treats it as success.
    Verified,
    Cancelled,
    Failed,
    Declined,
    Rejected,
    Blocked,
    Expired,
    /// Undocumented; treated as still in progress.
    Commissioned,
    Other(String),
}

impl PaymentStatus {
    pub fn as_str(&self) -> &str {
        match self {
            Self::Pending => "Pending",
            Self::Reserved => "Reserved",
            Self::Paid => "Paid",
            Self::Verified => "Verified",
            Self::Cancelled => "Cancelled",
            Self::Failed => "Failed",
            Self::Declined => "Declined",
            Self::Rejected => "Rejected",
            Self::Blocked => "Blocked",
            Self::Expired => "Expired",
            Self::Commissioned => "Commissioned",
            Self::Other(s) => s,
        }
    }

    /// Money has been taken (or verified as good).
    pub fn is_paid(&self) -> bool {
        matches!(self, Self::Paid | Self::Verified)
    }

    /// No further change is expected without the owner acting. Reserved is not final: it
    /// still waits for capture or expiry. Unknown words are not final, so we keep polling.
    pub fn is_final(&self) -> bool {
        Self::FINAL_WORDS.contains(&self.as_str()) && !matches!(self, Self::Other(_))
    }

    /// The words of every final status, for queries that select the unfinished.
    pub const FINAL_WORDS: &'static [&'static str] = &[
        "Paid",
        "Verified",
        "Cancelled",
        "Failed",
        "Declined",
        "Rejected",
        "Blocked",
        "Expired",
    ];

    /// A final status in which no money was taken.
    pub fn is_failure(&self) -> bool {
        self.is_final() && !self.is_paid()
    }
}

/// The class of a final status the owner hears about once: paid, or ended without
/// payment. Paid→Verified (or Failed→Declined) stays in one class, so it is no new news.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    Paid,
    NotPaid,
}

impl PaymentStatus {
    /// `None` while the payment may still change (Pending, Reserved, unknown words).
    pub fn outcome(&self) -> Option<Outcome> {
        if self.is_paid() {
            Some(Outcome::Paid)
        } else if self.is_failure() {
            Some(Outcome::NotPaid)
        } else {
            None
        }
    }
}

impl From<String> for PaymentStatus {
    fn from(s: String) -> Self {
        match s.as_str() {
            "Pending" => Self::Pending,
            "Reserved" => Self::Reserved,
            "Paid" => Self::Paid,
            "Verified" => Self::Verified,
            "Cancelled" => Self::Cancelled,
            "Failed" => Self::Failed,
            "Declined" => Self::Declined,
            "Rejected" => Self::Rejected,
            "Blocked" => Self::Blocked,
            "Expired" => Self::Expired,
            "Commissioned" => Self::Commissioned,
            _ => Self::Other(s),
        }
    }
}

impl From<&str> for PaymentStatus {
    fn from(s: &str) -> Self {
        Self::from(s.to_owned())
    }
}

impl From<PaymentStatus> for String {
    fn from(s: PaymentStatus) -> String {
        match s {
            PaymentStatus::Other(s) => s,
            known => known.as_str().to_owned(),
        }
    }
}

impl fmt::Display for PaymentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_statuses_survive_a_round_trip() {
        let s: PaymentStatus = serde_json::from_str("\"PartiallyRefunded\"").unwrap();
        assert_eq!(s, PaymentStatus::Other("PartiallyRefunded".into()));
        assert!(!s.is_final());
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"PartiallyRefunded\"");
    }

    #[test]
    fn finality_and_success() {
        assert!(PaymentStatus::Paid.is_paid() && PaymentStatus::Paid.is_final());
        assert!(PaymentStatus::Verified.is_paid());
        assert!(!PaymentStatus::Reserved.is_final());
        assert!(!PaymentStatus::Commissioned.is_final());
        assert!(PaymentStatus::Declined.is_failure());
        assert!(!PaymentStatus::Pending.is_failure());
    }

    #[test]
    fn outcome_classes_group_final_statuses() {
        assert_eq!(PaymentStatus::Paid.outcome(), Some(Outcome::Paid));
        assert_eq!(PaymentStatus::Verified.outcome(), Some(Outcome::Paid));
        for s in ["Failed", "Declined", "Cancelled", "Expired", "Blocked"] {
            assert_eq!(
                PaymentStatus::from(s).outcome(),
                Some(Outcome::NotPaid),
                "{s}"
            );
        }
        for s in ["Pending", "Reserved", "Commissioned", "PartiallyRefunded"] {
            assert_eq!(PaymentStatus::from(s).outcome(), None, "{s}");
        }
    }
}
