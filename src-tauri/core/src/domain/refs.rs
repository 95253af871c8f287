use std::fmt;

use serde::{Deserialize, Serialize};

/// References are 18-digit numbers today and the gateway's spec types them int64, whose
/// largest value has 19 digits; anything longer is not a reference of the gateway's.
pub const MAX_REF_LEN: usize = 19;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefError {
    #[error("reference is empty")]
    Empty,
    #[error("reference is longer than {MAX_REF_LEN} characters")]
    TooLong,
    #[error("reference must hold only the digits 0-9")]
    NotDigits,
}

fn validate(s: &str) -> Result<(), RefError> {
    if s.is_empty() {
        return Err(RefError::Empty);
    }
    if s.len() > MAX_REF_LEN {
        return Err(RefError::TooLong);
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RefError::NotDigits);
    }
    Ok(())
}

macro_rules! reference_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        /// Kept as a string end to end: 18 digits exceed JavaScript's safe integers.
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: &str) -> Result<Self, RefError> {
                validate(s)?;
                Ok(Self(s.to_owned()))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = RefError;
            fn try_from(s: String) -> Result<Self, RefError> {
                validate(&s)?;
                Ok(Self(s))
            }
        }

        impl From<$name> for String {
            fn from(r: $name) -> String {
                r.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

reference_type!(
    /// The gateway's reference of a payment job (one order, possibly several attempts).
    JobRef
);
reference_type!(
    /// The gateway's reference of one payment (one shopper attempt) inside a job.
    PaymentRef
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_gateway_style_references() {
        let r = JobRef::parse("200421017498767380").unwrap();
        assert_eq!(r.as_str(), "200421017498767380");
    }

    #[test]
    fn refuses_empty_long_and_non_digit_references() {
        assert_eq!(JobRef::parse(""), Err(RefError::Empty));
        assert_eq!(
            JobRef::parse(&"1".repeat(MAX_REF_LEN + 1)),
            Err(RefError::TooLong)
        );
        assert_eq!(PaymentRef::parse("12a4"), Err(RefError::NotDigits));
        assert_eq!(PaymentRef::parse("-1234"), Err(RefError::NotDigits));
        assert_eq!(PaymentRef::parse("１２"), Err(RefError::NotDigits));
    }

    #[test]
    fn deserialising_validates() {
        assert!(serde_json::from_str::<JobRef>("\"123\"").is_ok());
        assert!(serde_json::from_str::<JobRef>("\"12x\"").is_err());
    }
}
