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

/// A figure with thousands grouped: `"12,345.67"`.
fn grouped_figure(figure: Decimal) -> String {
    let text = figure.abs().to_string();
    let (whole, cents) = text.split_once('.').unwrap_or((&text, "00"));
    let mut grouped = String::with_capacity(whole.len() + whole.len() / 3);
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    let sign = if figure.is_sign_negative() && !figure.is_zero() {
        "-"
    } else {
        ""
    };
    format!("{sign}{grouped}.{cents}")
}

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
    /// Decimal places of every figure derived from amounts (sums, averages, medians,
    /// model predictions): shown as cents whatever the currency, rounded half away from
    /// zero.
    pub const FIGURE_PLACES: u32 = 2;
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

    /// The exact amount, unrounded, with as many places as it needs.
    pub fn to_decimal(self) -> Decimal {
        Decimal::new(self.0, Self::SCALE).normalize()
    }

    /// A recorded amount in its currency's minor units (`"29.90"` for USD, `"1200"`
    /// for JPY, `"1.250"` for BHD). Never rounded: an amount stored with more places
    /// than its currency has (accepted before that was checked) keeps them.
    pub fn to_amount(self, minor_units: u32) -> Decimal {
        let mut value = self.to_decimal();
        if value.scale() < minor_units {
            value.rescale(minor_units);
        }
        value
    }

    /// A derived figure (a sum, an average, a prediction) with exactly
    /// [`Money::FIGURE_PLACES`] places: `"15023.06"`, `"3804261.00"`.
    pub fn to_figure(self) -> Decimal {
        let mut value = Decimal::new(self.0, Self::SCALE).round_dp_with_strategy(
            Self::FIGURE_PLACES,
            rust_decimal::RoundingStrategy::MidpointAwayFromZero,
        );
        value.rescale(Self::FIGURE_PLACES);
        value
    }

    /// A figure for people: thousands grouped, `"12,345.67"` (emails, digests).
    pub fn to_grouped_figure(self) -> String {
        grouped_figure(self.to_figure())
    }

    /// The mean of `count` amounts summing to `total`, rounded half away from zero to
    /// the places a figure shows (rounding once: first to a unit and then to cents
    /// could move a cent); `None` for no amounts. Exact integer arithmetic: no float
    /// ever touches the sum.
    pub fn mean(total: i128, count: u64) -> Option<Self> {
        if count == 0 {
            return None;
        }
        // Units per shown place: 100 ten-thousandths in a cent.
        let step = 10_i128.pow(Self::SCALE - Self::FIGURE_PLACES);
        let divisor = i128::from(count) * step;
        let twice = total * 2;
        let steps = (twice + twice.signum() * divisor) / (2 * divisor);
        i64::try_from(steps * step).ok().map(Money)
    }

    /// The middle of two amounts (the median of an even count), rounded like `mean`.
    pub fn midpoint(a: Money, b: Money) -> Self {
        Money::mean(i128::from(a.0) + i128::from(b.0), 2).unwrap_or(a)
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

/// The exact sum of many amounts, in units: wider than [`Money`], so that a total over the
/// whole base never overflows (see [`crate::sql::money_sum`], whose two columns it reads
/// back: a field `revenue: MoneyTotal` of a `FromQueryResult` row reads `revenue_high`
/// and `revenue_low`). The sum of no rows (both halves NULL) is zero.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MoneyTotal(pub i128);

impl MoneyTotal {
    /// Reassembles the two halves of [`crate::sql::money_sum`].
    pub fn from_halves(high: Option<i64>, low: Option<i64>) -> Self {
        MoneyTotal(
            i128::from(high.unwrap_or(0)) * i128::from(crate::sql::MONEY_SUM_SPLIT)
                + i128::from(low.unwrap_or(0)),
        )
    }

    /// The total as [`Money`], when it fits one amount's range.
    pub fn to_money(self) -> Option<Money> {
        i64::try_from(self.0).ok().map(Money)
    }

    /// The total as [`Money`], saturating: a sum past one amount's range, which no real
    /// base reaches, counts as the largest (or smallest) amount. For comparisons with
    /// thresholds and rankings, never for a figure shown.
    pub fn saturating_money(self) -> Money {
        Money(i64::try_from(self.0).unwrap_or(if self.0 > 0 { i64::MAX } else { i64::MIN }))
    }

    /// A derived figure with [`Money::FIGURE_PLACES`] places, like [`Money::to_figure`];
    /// exact for any sum of up to a billion `BIGINT`s (|sum| < 10²⁸ units, within a
    /// `Decimal`'s 96 bits); saturates beyond, which no summed column can reach.
    pub fn to_figure(self) -> Decimal {
        let units = self.0.clamp(-MAX_DECIMAL_UNITS, MAX_DECIMAL_UNITS);
        let mut value = Decimal::try_from_i128_with_scale(units, Money::SCALE)
            .unwrap_or(Decimal::MAX)
            .round_dp_with_strategy(
                Money::FIGURE_PLACES,
                rust_decimal::RoundingStrategy::MidpointAwayFromZero,
            );
        value.rescale(Money::FIGURE_PLACES);
        value
    }

    /// A figure for people: thousands grouped, `"12,345.67"` (emails, digests).
    pub fn to_grouped_figure(self) -> String {
        grouped_figure(self.to_figure())
    }

    /// The total as a float, for shares and ratios only.
    pub fn to_f64(self) -> f64 {
        self.0 as f64
    }
}

/// Units a `Decimal` of scale 4 holds, with room left for rounding to two places.
const MAX_DECIMAL_UNITS: i128 = 10_i128.pow(28) - 1;

impl sea_orm::TryGetable for MoneyTotal {
    fn try_get_by<I: sea_orm::ColIdx>(
        _res: &sea_orm::QueryResult,
        index: I,
    ) -> Result<Self, sea_orm::TryGetError> {
        Err(sea_orm::TryGetError::DbErr(sea_orm::DbErr::Type(format!(
            "a MoneyTotal is read by name (its `_high` and `_low` columns), not by {index:?}"
        ))))
    }

    fn try_get(
        res: &sea_orm::QueryResult,
        pre: &str,
        col: &str,
    ) -> Result<Self, sea_orm::TryGetError> {
        let high: Option<i64> = sea_orm::TryGetable::try_get(res, pre, &format!("{col}_high"))?;
        let low: Option<i64> = sea_orm::TryGetable::try_get(res, pre, &format!("{col}_low"))?;
        Ok(MoneyTotal::from_halves(high, low))
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
    fn amounts_show_their_currencys_minor_units_and_figures_two_places() {
        for (input, minor_units, amount, figure) in [
            ("29.33", 2, "29.33", "29.33"),
            ("29.3", 2, "29.30", "29.30"),
            ("30", 2, "30.00", "30.00"),
            ("1200", 0, "1200", "1200.00"),
            ("1.25", 3, "1.250", "1.25"),
            // Stored before places were checked against the currency: never rounded.
            ("1.2345", 2, "1.2345", "1.23"),
            ("15023.061", 2, "15023.061", "15023.06"),
            ("0.005", 2, "0.005", "0.01"),
            ("-0.005", 2, "-0.005", "-0.01"),
            ("0", 2, "0.00", "0.00"),
        ] {
            let money = Money::from_decimal(dec(input)).unwrap();
            assert_eq!(money.to_amount(minor_units).to_string(), amount, "{input}");
            assert_eq!(money.to_figure().to_string(), figure, "{input}");
        }
    }

    #[test]
    fn grouped_figures_for_people() {
        for (units, shown) in [
            (0, "0.00"),
            (10_000_000_000, "1,000,000.00"),
            (1_234_567_890, "123,456.79"),
            (-12_345_000, "-1,234.50"),
            (-40, "0.00"),
        ] {
            assert_eq!(Money(units).to_grouped_figure(), shown, "{units}");
        }
    }

    #[test]
    fn means_are_exact_and_round_half_away_from_zero() {
        assert_eq!(Money::mean(0, 0), None);
        // 1.00 + 2.00 + 2.00 + 0.00 = 5.00 over 4: 1.25.
        assert_eq!(Money::mean(50_000, 4), Some(Money(12_500)));
        // 0.005 → 0.01, -0.005 → -0.01, 0.0049 → 0.00.
        assert_eq!(Money::mean(200, 4), Some(Money(100)));
        assert_eq!(Money::mean(-200, 4), Some(Money(-100)));
        assert_eq!(Money::mean(49, 1), Some(Money(0)));
        // Rounded once: 1.23495 is 1.23, not 1.2350 and then 1.24.
        assert_eq!(Money::mean(123_495, 10), Some(Money(12_300)));
        // Sums past i64 still average exactly.
        let big = i128::from(1_000_000_000_000_000_000_i64) * 3;
        assert_eq!(Money::mean(big, 3), Some(Money(1_000_000_000_000_000_000)));
        assert_eq!(Money::midpoint(Money(10_000), Money(20_100)), Money(15_100));
    }

    #[test]
    fn totals_past_the_range_of_one_amount_stay_exact() {
        let max = i128::from(i64::MAX);
        let total = MoneyTotal::from_halves(
            Some(3 * (i64::MAX / 1_000_000_000)),
            Some(3 * (i64::MAX % 1_000_000_000)),
        );
        assert_eq!(total.0, 3 * max);
        assert_eq!(total.to_money(), None);
        assert_eq!(total.to_figure().to_string(), "2767011611056432.74");
        assert_eq!(
            MoneyTotal::from_halves(Some(-1), Some(-5)).0,
            -1_000_000_005
        );
        assert_eq!(MoneyTotal::from_halves(None, None), MoneyTotal(0));
        assert_eq!(MoneyTotal(12_345).to_figure().to_string(), "1.23");
        assert_eq!(
            MoneyTotal(i128::MAX).to_figure(),
            MoneyTotal(10_i128.pow(28) - 1).to_figure()
        );
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
