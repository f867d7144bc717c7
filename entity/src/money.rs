use rust_decimal::Decimal;
use sea_orm::DeriveValueType;
use serde::{Deserialize, Serialize};

/// An amount of money in ten-thousandths of the currency unit.
///
/// SQLite has no decimal type (sqlx would round-trip `Decimal` through `f64`), so money is
/// stored as a `BIGINT` of fixed-point units on both databases: exact, and summed exactly
/// by either database. Four decimal places cover every ISO 4217 currency (the most precise
/// use four) and leave room for tax-computed amounts; ±922 trillion units is the range.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    DeriveValueType,
    Serialize,
    Deserialize,
)]
pub struct Money(pub i64);

/// Why a decimal could not become [`Money`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoneyError {
    /// More than four decimal places.
    TooPrecise,
    /// Outside the range a `BIGINT` of ten-thousandths can hold.
    OutOfRange,
}

impl Money {
    /// Decimal places kept.
    pub const SCALE: u32 = 4;
    pub const ZERO: Money = Money(0);

    /// Converts an exact decimal, refusing anything that would need rounding.
    pub fn from_decimal(value: Decimal) -> Result<Self, MoneyError> {
        if value.normalize().scale() > Self::SCALE {
            return Err(MoneyError::TooPrecise);
        }
        let units = value
            .checked_mul(Decimal::from(10_000))
            .ok_or(MoneyError::OutOfRange)?;
        i64::try_from(units)
            .map(Money)
            .map_err(|_| MoneyError::OutOfRange)
    }

    /// The amount as a decimal with at least two decimal places ("29.30", "30.00", "1.2345").
    pub fn to_decimal(self) -> Decimal {
        let mut value = Decimal::new(self.0, Self::SCALE).normalize();
        if value.scale() < 2 {
            value.rescale(2);
        }
        value
    }

    /// Rounds a model's prediction (a float) to money; `None` for NaN, infinities and
    /// values outside the range, so that no such value ever reaches the API.
    pub fn from_f64_rounded(value: f64) -> Option<Self> {
        let units = (value * 10_000.0).round();
        (units.is_finite() && units.abs() < 9.0e18).then_some(Money(units as i64))
    }

    /// The amount as a float, for statistical models only (never for storage or display).
    pub fn to_f64(self) -> f64 {
        self.0 as f64 / 10_000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn money_round_trips_through_decimal_with_two_places_at_least() {
        for (input, shown) in [
            ("29.33", "29.33"),
            ("29.3", "29.30"),
            ("30", "30.00"),
            ("1.2345", "1.2345"),
            ("0", "0.00"),
        ] {
            let money = Money::from_decimal(dec(input)).unwrap();
            assert_eq!(money.to_decimal().to_string(), shown);
        }
    }

    #[test]
    fn money_refuses_rounding_and_overflow() {
        assert_eq!(
            Money::from_decimal(dec("0.00001")),
            Err(MoneyError::TooPrecise)
        );
        assert_eq!(Money::from_decimal(dec("1.10000")), Ok(Money(11_000)));
        assert_eq!(
            Money::from_decimal(dec("9999999999999999999")),
            Err(MoneyError::OutOfRange)
        );
    }
}
