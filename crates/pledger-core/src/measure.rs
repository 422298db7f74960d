//! What a pledge is measured in: money as an integer count of a currency's minor units
//! (ISO 4217), or a whole count of some unit (`40 laptops`). Never floating point.

use std::fmt;

use iso_currency::Currency;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::FieldError;

/// The largest value an amount or count may take: 2^53 − 1, so that every JSON reader holds
/// it exactly. Sums are checked against it too.
pub const MAX_VALUE: u64 = (1 << 53) - 1;

/// A sum of values of one unit, in its minor units. Every value an event carries is at most
/// [`MAX_VALUE`] and a log holds fewer than 2^64 events, so no sum of them reaches 2^117: a
/// `Total` is exact, never saturated or wrapped, whatever the ledger.
pub type Total = u128;

/// The unit of a measure: an ISO 4217 currency, or a named unit counted in whole numbers.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Unit {
    /// An ISO 4217 currency, by its code; values are in its minor units.
    Currency(String),
    /// A named unit counted in whole numbers (`laptops`).
    Count(String),
}

impl Unit {
    /// An ISO 4217 currency code (`XOF`, `USD`).
    pub fn currency(code: &str) -> Result<Unit, FieldError> {
        match Currency::from_code(code) {
            Some(c) if c.exponent().is_some() => Ok(Unit::Currency(c.code().to_owned())),
            _ => Err(FieldError::new("currency", code, "an ISO 4217 currency code like XOF, USD or EUR")),
        }
    }

    /// A counted unit (`laptops`, `sessions`): 1–40 characters, no control characters.
    pub fn count(name: &str) -> Result<Unit, FieldError> {
        let ok = !name.trim().is_empty()
            && name.chars().count() <= 40
            && name == name.trim()
            && !name.chars().any(char::is_control);
        if ok {
            Ok(Unit::Count(name.to_owned()))
        } else {
            Err(FieldError::new("unit", name, "1-40 characters, no control characters or outer spaces"))
        }
    }

    /// Decimal places of the unit: the currency's minor-unit exponent, 0 for counts.
    pub fn exponent(&self) -> u32 {
        match self {
            Unit::Currency(code) => Currency::from_code(code).and_then(|c| c.exponent()).map_or(0, u32::from),
            Unit::Count(_) => 0,
        }
    }

    /// Whether the unit is a currency.
    pub fn is_money(&self) -> bool {
        matches!(self, Unit::Currency(_))
    }

    /// The currency code or the unit's name.
    pub fn name(&self) -> &str {
        match self {
            Unit::Currency(c) | Unit::Count(c) => c,
        }
    }

    /// Parses a value written for people (`1500000`, `12500.50`) in this unit into minor units.
    /// Refuses signs, exponents, separators, more decimals than the unit has, zero, and values
    /// above [`MAX_VALUE`].
    pub fn parse_value(&self, text: &str) -> Result<u64, FieldError> {
        let exp = self.exponent();
        let rule = if exp == 0 {
            "a positive whole number without separators"
        } else {
            "a positive decimal number with at most the currency's decimals, without separators"
        };
        let bad = || FieldError::new(if self.is_money() { "amount" } else { "quantity" }, text, rule);
        let (whole, frac) = match text.split_once('.') {
            Some((w, f)) => (w, f),
            None => (text, ""),
        };
        if whole.is_empty()
            || !whole.bytes().all(|c| c.is_ascii_digit())
            || !frac.bytes().all(|c| c.is_ascii_digit())
            || (text.contains('.') && frac.is_empty())
            || frac.len() > exp as usize
            || whole.len() > 17
        {
            return Err(bad());
        }
        let mut value: u64 = whole.parse().map_err(|_| bad())?;
        for i in 0..exp as usize {
            let digit = frac.as_bytes().get(i).map_or(0, |c| u64::from(c - b'0'));
            value = value.checked_mul(10).and_then(|v| v.checked_add(digit)).ok_or_else(bad)?;
        }
        if value == 0 || value > MAX_VALUE {
            return Err(bad());
        }
        Ok(value)
    }

    /// Writes `value` minor units for people: `USD 12,500.50`, `40 laptops`; a value or a
    /// [`Total`] of them.
    pub fn format(&self, value: impl Into<Total>) -> String {
        let value: Total = value.into();
        match self {
            Unit::Currency(code) => format!("{code} {}", format_decimal(value, self.exponent(), true)),
            Unit::Count(unit) => format!("{} {unit}", group_thousands(&value.to_string())),
        }
    }
}

/// `value` minor units as a plain decimal with `exp` places (`12500.50`), optionally grouped.
pub fn format_decimal(value: impl Into<Total>, exp: u32, grouped: bool) -> String {
    let digits = value.into().to_string();
    let exp = exp as usize;
    let (whole, frac) = if exp == 0 {
        (digits, String::new())
    } else if digits.len() > exp {
        let (w, f) = digits.split_at(digits.len() - exp);
        (w.to_owned(), f.to_owned())
    } else {
        ("0".to_owned(), format!("{digits:0>exp$}"))
    };
    let whole = if grouped { group_thousands(&whole) } else { whole };
    if frac.is_empty() {
        whole
    } else {
        format!("{whole}.{frac}")
    }
}

fn group_thousands(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A positive value in a unit. On the wire: `{"minor": 150000, "currency": "USD"}` or
/// `{"count": 40, "unit": "laptops"}` (docs/format.md §"Measures").
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Measure {
    /// The value, in minor units of a currency or in whole units; from 1 to `MAX_VALUE`.
    pub value: u64,
    /// The unit.
    pub unit: Unit,
}

impl Measure {
    /// A measure, refused when `value` is zero or above `MAX_VALUE`.
    pub fn new(value: u64, unit: Unit) -> Result<Self, FieldError> {
        if value == 0 || value > MAX_VALUE {
            return Err(FieldError::new("amount", &value.to_string(), "a whole number from 1 to 2^53-1"));
        }
        Ok(Measure { value, unit })
    }
}

impl fmt::Display for Measure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.unit.format(self.value))
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MeasureWire<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    minor: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", borrow)]
    currency: Option<std::borrow::Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", borrow)]
    unit: Option<std::borrow::Cow<'a, str>>,
}

impl Serialize for Measure {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let wire = match &self.unit {
            Unit::Currency(c) => {
                MeasureWire { minor: Some(self.value), currency: Some(c.into()), count: None, unit: None }
            }
            Unit::Count(u) => {
                MeasureWire { minor: None, currency: None, count: Some(self.value), unit: Some(u.into()) }
            }
        };
        wire.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Measure {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let w = MeasureWire::deserialize(d)?;
        let (value, unit) = match (w.minor, w.currency, w.count, w.unit) {
            (Some(v), Some(c), None, None) => (v, Unit::currency(&c).map_err(D::Error::custom)?),
            (None, None, Some(v), Some(u)) => (v, Unit::count(&u).map_err(D::Error::custom)?),
            _ => {
                return Err(D::Error::custom(
                    "a measure is either {\"minor\": N, \"currency\": C} or {\"count\": N, \"unit\": U}",
                ))
            }
        };
        Measure::new(value, unit).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_amounts_in_minor_units() {
        let usd = Unit::currency("USD").unwrap();
        let xof = Unit::currency("XOF").unwrap();
        assert_eq!(usd.parse_value("12500.5").unwrap(), 1_250_050);
        assert_eq!(usd.parse_value("12500").unwrap(), 1_250_000);
        assert_eq!(usd.parse_value("0.01").unwrap(), 1);
        assert_eq!(xof.parse_value("75000000").unwrap(), 75_000_000);
        for bad in ["", "-5", "+5", "1e6", "1,000", "1.001", "0", "0.00", ".5", "5.", "1 000", "99999999999999999999"] {
            assert!(usd.parse_value(bad).is_err(), "{bad:?} accepted");
        }
        assert!(xof.parse_value("10.5").is_err(), "XOF has no minor unit");
        assert!(usd.parse_value("90071992547409.91").is_ok());
        assert!(usd.parse_value("90071992547409.92").is_err(), "above 2^53-1 minor units");
    }

    #[test]
    fn formats_for_people() {
        let usd = Unit::currency("USD").unwrap();
        assert_eq!(usd.format(1_250_050u64), "USD 12,500.50");
        assert_eq!(usd.format(5u64), "USD 0.05");
        assert_eq!(Unit::currency("XOF").unwrap().format(75_000_000u64), "XOF 75,000,000");
        assert_eq!(Unit::count("laptops").unwrap().format(1200u64), "1,200 laptops");
        // A total beyond 64 bits: 2,100 pledges of 2^53 − 1.
        assert_eq!(
            Unit::currency("XOF").unwrap().format(2100 * Total::from(MAX_VALUE)),
            "XOF 18,915,118,434,956,081,100"
        );
    }

    #[test]
    fn refuses_unknown_currencies_and_odd_units() {
        assert!(Unit::currency("ZZZ").is_err());
        assert!(Unit::currency("usd").is_err());
        assert!(Unit::count("").is_err());
        assert!(Unit::count(" laptops").is_err());
        assert!(Unit::count("a\nb").is_err());
    }

    #[test]
    fn wire_form_round_trips_and_is_strict() {
        let m: Measure = serde_json::from_str(r#"{"minor":150000,"currency":"USD"}"#).unwrap();
        assert_eq!(m.value, 150_000);
        assert_eq!(serde_json::to_string(&m).unwrap(), r#"{"minor":150000,"currency":"USD"}"#);
        let q: Measure = serde_json::from_str(r#"{"count":40,"unit":"laptops"}"#).unwrap();
        assert_eq!(serde_json::to_string(&q).unwrap(), r#"{"count":40,"unit":"laptops"}"#);
        for bad in [
            r#"{"minor":0,"currency":"USD"}"#,
            r#"{"minor":-1,"currency":"USD"}"#,
            r#"{"minor":1.5,"currency":"USD"}"#,
            r#"{"minor":9007199254740992,"currency":"USD"}"#,
            r#"{"minor":1,"currency":"USD","unit":"x"}"#,
            r#"{"minor":1}"#,
            r#"{"count":1,"unit":"x","extra":1}"#,
        ] {
            assert!(serde_json::from_str::<Measure>(bad).is_err(), "{bad} accepted");
        }
    }
}
