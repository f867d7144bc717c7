//! Scalars with the exact names and wire forms the API promises: `Decimal` is a string
//! (never a float), `Date` is `YYYY-MM-DD`. `DateTime` (RFC 3339) and `JSON` come from
//! async-graphql.

use std::str::FromStr;

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::NaiveDate;

/// An exact decimal number as a string, e.g. `"29.33"`. Numbers in JSON are refused:
/// a float cannot carry money exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decimal(pub rust_decimal::Decimal);

#[Scalar(name = "Decimal")]
impl ScalarType for Decimal {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => rust_decimal::Decimal::from_str(text.trim())
                .map(Decimal)
                .map_err(|_| InputValueError::custom(format!("`{text}` is not a decimal number"))),
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
        Decimal(money.to_decimal())
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
