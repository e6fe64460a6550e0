//! Exact CNY amounts, counted in fen (0.01 CNY).
//!
//! Invariant: an [`Amount`] is always within `0..=Amount::MAX_FEN`, so adding two amounts never
//! overflows `u64` and every total the ledger keeps is exact.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::AmountError;

/// A non-negative amount of CNY, held as whole fen.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(u64);

impl Amount {
    /// The largest amount the ledger accepts anywhere (10^16 CNY): far above any real balance,
    /// small enough that the sum of two amounts fits in `u64`.
    pub const MAX_FEN: u64 = 1_000_000_000_000_000_000;
    /// Zero fen.
    pub const ZERO: Amount = Amount(0);
    /// The largest amount, [`Amount::MAX_FEN`] fen.
    pub const MAX: Amount = Amount(Self::MAX_FEN);

    /// An amount of `fen` fen; fails above [`Amount::MAX_FEN`].
    pub fn from_fen(fen: u64) -> Result<Amount, AmountError> {
        if fen > Self::MAX_FEN {
            return Err(AmountError::TooLarge);
        }
        Ok(Amount(fen))
    }

    /// An amount of whole yuan; fails above [`Amount::MAX_FEN`].
    pub fn from_yuan(yuan: u64) -> Result<Amount, AmountError> {
        yuan.checked_mul(100).ok_or(AmountError::TooLarge).and_then(Amount::from_fen)
    }

    /// The amount in fen.
    pub const fn fen(self) -> u64 {
        self.0
    }

    /// True for 0.00.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// Exact conversion from a decimal CNY value: rejects negatives, more than two decimal places
    /// (after dropping trailing zeros: `1.230` is `1.23`) and values above the maximum.
    pub fn from_decimal(value: Decimal) -> Result<Amount, AmountError> {
        if value.is_sign_negative() && !value.is_zero() {
            return Err(AmountError::Negative);
        }
        let value = value.normalize();
        if value.scale() > 2 {
            return Err(AmountError::TooManyDecimals);
        }
        let fen = value.checked_mul(Decimal::ONE_HUNDRED).ok_or(AmountError::TooLarge)?;
        let fen = u64::try_from(fen).map_err(|_| AmountError::TooLarge)?;
        Amount::from_fen(fen)
    }

    /// The amount as a decimal CNY value with two decimal places.
    pub fn to_decimal(self) -> Decimal {
        // MAX_FEN < 2^63, so the cast is lossless.
        Decimal::new(self.0 as i64, 2)
    }

    /// `self + other`, or `None` above [`Amount::MAX_FEN`].
    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        Amount::from_fen(self.0 + other.0).ok()
    }

    /// `self - other`, or `None` below zero.
    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        self.0.checked_sub(other.0).map(Amount)
    }

    /// `self - other`, floored at zero.
    pub fn saturating_sub(self, other: Amount) -> Amount {
        Amount(self.0.saturating_sub(other.0))
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

impl fmt::Debug for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl FromStr for Amount {
    type Err = AmountError;

    /// Parses `"123"`, `"123.4"` or `"123.45"` (CNY): digits, then optionally a point and one or
    /// two digits; nothing else (no spaces, signs, exponents, a bare or leading point, or a third
    /// decimal even if it is zero).
    fn from_str(text: &str) -> Result<Amount, AmountError> {
        if text.starts_with('-') {
            return Err(AmountError::Negative);
        }
        let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
        let (integer, decimals) = match text.split_once('.') {
            Some((integer, decimals)) => (integer, Some(decimals)),
            None => (text, None),
        };
        if !all_digits(integer) || decimals.is_some_and(|decimals| !all_digits(decimals)) {
            return Err(AmountError::Malformed);
        }
        if decimals.is_some_and(|decimals| decimals.len() > 2) {
            return Err(AmountError::TooManyDecimals);
        }
        // The maximum (10^16 CNY) has 17 integer digits: anything longer is too large, however
        // the decimal parser would word it.
        let integer_digits = text.split('.').next().unwrap_or("").trim_start_matches('0').len();
        if integer_digits > 17 {
            return Err(AmountError::TooLarge);
        }
        let value = Decimal::from_str_exact(text).map_err(|err| match err {
            rust_decimal::Error::ExceedsMaximumPossibleValue | rust_decimal::Error::LessThanMinimumPossibleValue => {
                AmountError::TooLarge
            }
            rust_decimal::Error::Underflow => AmountError::TooManyDecimals,
            _ => AmountError::Malformed,
        })?;
        Amount::from_decimal(value)
    }
}

/// Human-readable formats (JSON, TOML) carry amounts as decimal strings (`"10000.00"`) so no
/// float ever touches money; binary formats carry the fen count.
impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() { serializer.collect_str(self) } else { serializer.serialize_u64(self.0) }
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Amount, D::Error> {
        if deserializer.is_human_readable() {
            deserializer.deserialize_any(HumanAmount)
        } else {
            let fen = u64::deserialize(deserializer)?;
            Amount::from_fen(fen).map_err(serde::de::Error::custom)
        }
    }
}

struct HumanAmount;

impl serde::de::Visitor<'_> for HumanAmount {
    type Value = Amount;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a CNY amount as a decimal string such as \"12.34\", or a whole number of yuan")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Amount, E> {
        text.parse().map_err(E::custom)
    }

    fn visit_u64<E: serde::de::Error>(self, yuan: u64) -> Result<Amount, E> {
        Amount::from_yuan(yuan).map_err(E::custom)
    }

    fn visit_i64<E: serde::de::Error>(self, yuan: i64) -> Result<Amount, E> {
        let yuan = u64::try_from(yuan).map_err(|_| E::custom(AmountError::Negative))?;
        self.visit_u64(yuan)
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Amount, E> {
        Err(E::custom(AmountError::Float))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exact_amounts_and_rejects_the_rest() {
        let cases: &[(&str, Result<u64, AmountError>)] = &[
            ("0", Ok(0)),
            ("0.01", Ok(1)),
            ("10000", Ok(1_000_000)),
            ("10000.00", Ok(1_000_000)),
            ("10000.01", Ok(1_000_001)),
            ("1.230", Err(AmountError::TooManyDecimals)),
            ("1.5", Ok(150)),
            (" 5", Err(AmountError::Malformed)),
            ("5 ", Err(AmountError::Malformed)),
            ("5.", Err(AmountError::Malformed)),
            (".5", Err(AmountError::Malformed)),
            ("5.-1", Err(AmountError::Malformed)),
            ("٥", Err(AmountError::Malformed)),
            ("1.234", Err(AmountError::TooManyDecimals)),
            ("0.001", Err(AmountError::TooManyDecimals)),
            ("-1.00", Err(AmountError::Negative)),
            ("+1", Err(AmountError::Malformed)),
            ("1e3", Err(AmountError::Malformed)),
            ("", Err(AmountError::Malformed)),
            ("1.2.3", Err(AmountError::Malformed)),
            ("abc", Err(AmountError::Malformed)),
            ("10000000000000000", Ok(Amount::MAX_FEN)),
            ("10000000000000000.01", Err(AmountError::TooLarge)),
            ("99999999999999999999999999999", Err(AmountError::TooLarge)),
            ("999999999999999999999999999999999", Err(AmountError::TooLarge)),
        ];
        for (text, expected) in cases {
            let got = text.parse::<Amount>().map(Amount::fen);
            assert_eq!(&got, expected, "parsing {text:?}");
        }
    }

    #[test]
    fn display_round_trips() {
        for fen in [0, 1, 99, 100, 123_456, Amount::MAX_FEN] {
            let amount = Amount::from_fen(fen).unwrap();
            assert_eq!(amount.to_string().parse::<Amount>(), Ok(amount));
            assert_eq!(Amount::from_decimal(amount.to_decimal()), Ok(amount));
        }
        assert_eq!(Amount::from_fen(100_001).unwrap().to_string(), "1000.01");
    }

    #[test]
    fn json_takes_strings_and_integers_never_floats() {
        let ok: Amount = serde_json::from_str("\"12.34\"").unwrap();
        assert_eq!(ok.fen(), 1234);
        let whole: Amount = serde_json::from_str("12").unwrap();
        assert_eq!(whole.fen(), 1200);
        assert!(serde_json::from_str::<Amount>("12.34").is_err());
        assert!(serde_json::from_str::<Amount>("-1").is_err());
        assert_eq!(serde_json::to_string(&ok).unwrap(), "\"12.34\"");
    }

    #[test]
    fn arithmetic_is_checked() {
        let max = Amount::from_fen(Amount::MAX_FEN).unwrap();
        assert_eq!(max.checked_add(Amount::from_fen(1).unwrap()), None);
        assert_eq!(Amount::ZERO.checked_sub(Amount::from_fen(1).unwrap()), None);
        assert_eq!(Amount::from_fen(Amount::MAX_FEN + 1), Err(AmountError::TooLarge));
    }
}
