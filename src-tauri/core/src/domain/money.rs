use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("'{0}' is not a decimal amount")]
    NotDecimal(String),
    #[error("the amount must be greater than zero")]
    NotPositive,
    #[error("{currency} takes at most {max} decimal places")]
    TooManyDecimals { currency: Currency, max: u32 },
    #[error("'{0}' is not a three-letter ISO 4217 currency code")]
    BadCurrency(String),
    #[error("{0} is not a currency Tillwatch knows")]
    UnknownCurrency(String),
    #[error(
        "{amount} {currency} is above this shop's ceiling for a payment link ({max} {currency}); \
         the ceiling can be changed in Settings"
    )]
    AboveCeiling {
        amount: String,
        max: String,
        currency: Currency,
    },
}

/// An amount of money in major units. Decimal, never floating point.
/// The gateway sends amounts as strings ("10.00") and sometimes as numbers: both parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Amount(Decimal);

impl Amount {
    pub const ZERO: Amount = Amount(Decimal::ZERO);

    pub fn new(d: Decimal) -> Self {
        Self(d)
    }

    pub fn decimal(self) -> Decimal {
        self.0
    }

    /// Amounts that mean the same money compare equal whatever their scale ("10" == "10.00").
    pub fn same_money(self, other: Amount) -> bool {
        self.0.normalize() == other.0.normalize()
    }

    /// A string with the currency's usual number of decimals, e.g. "12.50".
    pub fn display_in(self, currency: &Currency) -> String {
        let mut d = self.0;
        d.rescale(currency.minor_digits());
        d.to_string()
    }

    /// Validates an owner-entered amount for a currency: positive, within its decimals.
    pub fn for_charge(s: &str, currency: &Currency) -> Result<Amount, MoneyError> {
        let a: Amount = s.parse()?;
        if a.0 <= Decimal::ZERO {
            return Err(MoneyError::NotPositive);
        }
        if a.0.normalize().scale() > currency.minor_digits() {
            return Err(MoneyError::TooManyDecimals {
                currency: currency.clone(),
                max: currency.minor_digits(),
            });
        }
        Ok(a)
    }
}

impl Amount {
    /// Validates an owner-entered amount for a payment link: as `for_charge`, and no more
    /// than the shop's ceiling, so a slipped finger never reaches the gateway.
    pub fn for_link(s: &str, currency: &Currency, ceiling: Amount) -> Result<Amount, MoneyError> {
        let a = Self::for_charge(s, currency)?;
        if a.0 > ceiling.0 {
            return Err(MoneyError::AboveCeiling {
                amount: s.trim().to_owned(),
                max: ceiling.display_in(currency),
                currency: currency.clone(),
            });
        }
        Ok(a)
    }
}

impl FromStr for Amount {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, MoneyError> {
        let t = s.trim();
        // Decimal::from_str accepts things like "1_000"; the gateway never sends those.
        let plain = !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
            && t.bytes().filter(|&b| b == b'.').count() <= 1;
        if !plain {
            return Err(MoneyError::NotDecimal(s.to_owned()));
        }
        Decimal::from_str(t)
            .map(Amount)
            .map_err(|_| MoneyError::NotDecimal(s.to_owned()))
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // The value's exact JSON text: serde_json (without `arbitrary_precision`) would
        // hold a non-integer number as f64 and lose digits before we saw it.
        let raw = Box::<serde_json::value::RawValue>::deserialize(d)?;
        let text = raw.get();
        let amount = match text.as_bytes().first() {
            Some(b'"') => serde_json::from_str::<String>(text)
                .map_err(serde::de::Error::custom)?
                .parse(),
            Some(b'-' | b'0'..=b'9') => Amount::from_json_number(text),
            _ => {
                return Err(serde::de::Error::custom(format!(
                    "expected an amount, found {text}"
                )))
            }
        };
        amount.map_err(serde::de::Error::custom)
    }
}

impl Amount {
    /// A JSON number's text, exponent allowed ("1.5e2"), read as a decimal.
    fn from_json_number(text: &str) -> Result<Amount, MoneyError> {
        if text.contains(['e', 'E']) {
            Decimal::from_scientific(text)
                .map(Amount)
                .map_err(|_| MoneyError::NotDecimal(text.to_owned()))
        } else {
            text.parse()
        }
    }
}

/// ISO 4217 alpha-3 code, upper case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency(String);

/// Currencies a UK-centred card gateway settles, with their minor-unit digits: the ones a
/// payment link may ask for, GBP first (the window lists them in this order).
pub const KNOWN_CURRENCIES: &[(&str, u32)] = &[
    ("GBP", 2),
    ("EUR", 2),
    ("USD", 2),
    ("CHF", 2),
    ("SEK", 2),
    ("NOK", 2),
    ("DKK", 2),
    ("PLN", 2),
    ("CZK", 2),
    ("HUF", 2),
    ("CAD", 2),
    ("AUD", 2),
    ("NZD", 2),
    ("JPY", 0),
];

/// Minor-unit digits of a currency not in `KNOWN_CURRENCIES`.
pub const DEFAULT_MINOR_DIGITS: u32 = 2;

impl Currency {
    /// Any well-formed code (the gateway's answers are shown as they are).
    pub fn parse(s: &str) -> Result<Self, MoneyError> {
        if s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(MoneyError::BadCurrency(s.to_owned()))
        }
    }

    /// A code the owner may charge in: well formed and known.
    pub fn known(s: &str) -> Result<Self, MoneyError> {
        let c = Self::parse(&s.trim().to_ascii_uppercase())?;
        if KNOWN_CURRENCIES.iter().any(|(k, _)| *k == c.0) {
            Ok(c)
        } else {
            Err(MoneyError::UnknownCurrency(c.0))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn minor_digits(&self) -> u32 {
        KNOWN_CURRENCIES
            .iter()
            .find(|(k, _)| *k == self.0)
            .map_or(DEFAULT_MINOR_DIGITS, |(_, d)| *d)
    }
}

/// From the gateway's JSON: read in any case ("gbp"), kept upper case.
impl TryFrom<String> for Currency {
    type Error = MoneyError;
    fn try_from(s: String) -> Result<Self, MoneyError> {
        Self::parse(&s.to_ascii_uppercase())
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.0
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_parse_from_strings_and_json_numbers_without_floats() {
        let a: Amount = serde_json::from_str("\"10.00\"").unwrap();
        let b: Amount = serde_json::from_str("10.1").unwrap();
        let c: Amount = serde_json::from_str("0.30000000000000004").unwrap();
        assert_eq!(a.to_string(), "10.00");
        assert_eq!(b.to_string(), "10.1");
        assert_eq!(c.to_string(), "0.30000000000000004");
        assert!(serde_json::from_str::<Amount>("\"ten\"").is_err());
        assert!(serde_json::from_str::<Amount>("\"1_000\"").is_err());
        assert!(serde_json::from_str::<Amount>("null").is_err());
    }

    #[test]
    fn same_money_ignores_scale() {
        let a: Amount = "10".parse().unwrap();
        let b: Amount = "10.00".parse().unwrap();
        assert!(a.same_money(b));
        assert!(!a.same_money("10.01".parse().unwrap()));
    }

    #[test]
    fn charges_are_positive_and_within_the_currency_decimals() {
        let gbp = Currency::known("gbp").unwrap();
        let jpy = Currency::known("JPY").unwrap();
        assert_eq!(
            Amount::for_charge("12.50", &gbp).unwrap().display_in(&gbp),
            "12.50"
        );
        assert_eq!(
            Amount::for_charge("12.5", &gbp).unwrap().display_in(&gbp),
            "12.50"
        );
        assert_eq!(Amount::for_charge("0", &gbp), Err(MoneyError::NotPositive));
        assert!(matches!(
            Amount::for_charge("1.005", &gbp),
            Err(MoneyError::TooManyDecimals { .. })
        ));
        assert!(matches!(
            Amount::for_charge("100.5", &jpy),
            Err(MoneyError::TooManyDecimals { .. })
        ));
        let max: Amount = "100000".parse().unwrap();
        assert!(Amount::for_link("100000.00", &gbp, max).is_ok());
        for refused in ["100000.01", "99999999999999999999", "0", "-1", "1.005"] {
            assert!(Amount::for_link(refused, &gbp, max).is_err(), "{refused}");
        }
        let words = Amount::for_link("100000.01", &gbp, max)
            .unwrap_err()
            .to_string();
        assert!(words.contains("100000.00 GBP"), "{words}");
        assert!(matches!(
            Currency::known("XYZ"),
            Err(MoneyError::UnknownCurrency(_))
        ));
        assert!(matches!(
            Currency::parse("gb"),
            Err(MoneyError::BadCurrency(_))
        ));
    }

    #[test]
    fn number_amounts_keep_every_digit() {
        // f64 would make the first 12345678901234568 and could make the second 0.1000000000000000055…
        let big: Amount = serde_json::from_slice(b"12345678901234567.891").unwrap();
        assert_eq!(big.to_string(), "12345678901234567.891");
        let tenth: Amount = serde_json::from_slice(b"0.1").unwrap();
        assert_eq!(tenth.to_string(), "0.1");
        let whole: Amount = serde_json::from_slice(b"40").unwrap();
        assert_eq!(whole.to_string(), "40");
        let sci: Amount = serde_json::from_slice(b"1.5e2").unwrap();
        assert!(sci.same_money("150".parse().unwrap()), "{sci}");
        let negative: Amount = serde_json::from_slice(b"-0.01").unwrap();
        assert_eq!(negative.to_string(), "-0.01");

        #[derive(Deserialize)]
        struct Holder {
            amount: Option<Amount>,
        }
        let h: Holder = serde_json::from_slice(br#"{"amount": 98765432109876543.21}"#).unwrap();
        assert_eq!(h.amount.unwrap().to_string(), "98765432109876543.21");
        let h: Holder = serde_json::from_slice(br#"{"amount": null}"#).unwrap();
        assert_eq!(h.amount, None);
        assert!(serde_json::from_slice::<Amount>(b"true").is_err());
        assert!(serde_json::from_slice::<Amount>(br#"{"value": 1}"#).is_err());
    }

    #[test]
    fn currency_from_the_gateway_is_upper_cased() {
        let c: Currency = serde_json::from_str("\"gbp\"").unwrap();
        assert_eq!(c.as_str(), "GBP");
        let c: Currency = serde_json::from_str("\"Eur\"").unwrap();
        assert_eq!(c.as_str(), "EUR");
        assert!(serde_json::from_str::<Currency>("\"pounds\"").is_err());
    }

    #[test]
    fn amounts_also_read_from_a_json_value() {
        // Through `Value` a number is already f64; a string keeps its text.
        let a: Amount = serde_json::from_value(serde_json::json!("10.00")).unwrap();
        assert_eq!(a.to_string(), "10.00");
        let b: Amount = serde_json::from_value(serde_json::json!(10.5)).unwrap();
        assert_eq!(b.to_string(), "10.5");
    }
}
