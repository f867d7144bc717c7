//! Scalars with the exact names and wire forms the API promises: `Decimal` is a string
//! (never a float), `Date` is `YYYY-MM-DD`. `DateTime` (RFC 3339) and `JSON` come from
//! async-graphql.

use std::str::FromStr;

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::NaiveDate;

/// An exact decimal number as a string, e.g. `"29.33"`. Numbers in JSON are refused:
/// a float cannot carry money exactly.
///
/// This is the one place money becomes text. Outputs are made only from
/// [`entity::Money`]: recorded amounts ([`Decimal::amount`]) in their currency's minor
/// units, every derived figure (`From<Money>`: sums, averages, medians, predictions)
/// with exactly two places.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decimal(rust_decimal::Decimal);

impl Decimal {
    /// A recorded amount, in the minor units of `currency` (ISO 4217; four places for
    /// a code without minor units, such as gold).
    pub fn amount(money: entity::Money, currency: &str) -> Self {
        Decimal(money.to_amount(crate::domain::minor_units(currency)))
    }

    /// A number that is not money (a rate, a percentage, a count of points), as it is.
    pub fn number(value: rust_decimal::Decimal) -> Self {
        Decimal(value.normalize())
    }

    /// The number a client sent.
    pub fn value(&self) -> rust_decimal::Decimal {
        self.0
    }
}

/// Plain decimal notation only: an optional minus, digits, optionally a point and
/// digits. rust_decimal alone would also take `1_000`, `1e3` and surrounding spaces.
fn is_plain_decimal(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = match digits.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (digits, None),
    };
    let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    all_digits(whole) && fraction.is_none_or(all_digits)
}

/// An exact decimal number written as a JSON string in plain notation: digits, an
/// optional leading minus and an optional decimal point (`"1000.50"`; not `"1e3"`,
/// `"1_000"` or `" 5"`). Money the API returns: recorded order amounts in their
/// currency's minor units (`"29.90"` USD, `"1200"` JPY), every derived figure (totals,
/// averages, medians, predicted values) with exactly two decimal places.
#[Scalar(name = "Decimal")]
impl ScalarType for Decimal {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) if is_plain_decimal(text) => rust_decimal::Decimal::from_str(text)
                .map(Decimal)
                .map_err(|_| InputValueError::custom(format!("`{text}` is out of range"))),
            Value::String(text) => Err(InputValueError::custom(format!(
                "`{text}` is not a plain decimal number (digits, an optional minus and \
                 decimal point: \"1000.50\")"
            ))),
            _ => Err(InputValueError::custom(
                "a Decimal is written as a string, e.g. \"29.33\"",
            )),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_string())
    }
}

impl From<entity::Money> for Decimal {
    fn from(money: entity::Money) -> Self {
        Decimal(money.to_figure())
    }
}

impl From<entity::MoneyTotal> for Decimal {
    fn from(total: entity::MoneyTotal) -> Self {
        Decimal(total.to_figure())
    }
}

/// A calendar date, `YYYY-MM-DD`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date(pub NaiveDate);

#[Scalar(name = "Date")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(Date)
                .map_err(|_| {
                    InputValueError::custom(format!("`{text}` is not a date (YYYY-MM-DD)"))
                }),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}
