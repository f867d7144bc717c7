//! Predicted customer lifetime value and value tiers.
//!
//! CLV over a horizon of H months with a monthly discount rate d:
//!
//! CLV = Σₖ₌₁ᴴ (E[Y(k months)] − E[Y(k − 1 months)]) · E[order value] / (1 + d)ᵏ,
//!
//! expected purchases from the BG/NBD (Fader, Hardie & Lee 2005, eq. 10) and the expected
//! order value from the Gamma-Gamma model (Fader & Hardie 2013, eq. 5) — the discrete,
//! month-by-month form of the discounted expected transactions of Fader, Hardie & Lee
//! 2005, "RFM and CLV: Using Iso-Value Curves for Customer Base Analysis", and the form
//! the `lifetimes` package computes. Each month's purchases are discounted at the month's
//! end.
//!
//! The BG/NBD parameters are tied to the time unit of the histories they were fitted on
//! (α is a time). The CLV counts in months of 30.4375 days (365.25 / 12), so every
//! function here takes the model's [`TimeUnit`] and converts explicitly.
//!
//! Value tiers split customers by CLV percentile: HIGH for the top 20 %, MEDIUM for the
//! next 30 %, LOW for the rest by default.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::bgnbd::{BgNbdParams, PurchaseHistory, expected_purchases};
use super::error::ValueModelError;

/// Days in a week.
pub const DAYS_PER_WEEK: f64 = 7.0;
/// Days in an average Gregorian month, 365.25 / 12.
pub const DAYS_PER_MONTH: f64 = 30.4375;

/// The unit a model's times are measured in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TimeUnit {
    Day,
    Week,
    /// 30.4375 days.
    Month,
}

impl TimeUnit {
    /// The length of one unit in days.
    pub const fn days(self) -> f64 {
        match self {
            TimeUnit::Day => 1.0,
            TimeUnit::Week => DAYS_PER_WEEK,
            TimeUnit::Month => DAYS_PER_MONTH,
        }
    }

    /// `amount` of this unit expressed in `target` units, e.g.
    /// `TimeUnit::Month.convert(1.0, TimeUnit::Week)` = 4.348….
    pub fn convert(self, amount: f64, target: TimeUnit) -> f64 {
        amount * self.days() / target.days()
    }
}

/// How far ahead and how steeply the CLV discounts.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClvHorizon {
    /// Months ahead, H.
    pub months: u32,
    /// Discount rate per month, d (0.01 ≈ 12.7 % a year).
    pub monthly_discount_rate: f64,
}

impl Default for ClvHorizon {
    /// One year at 1 % a month.
    fn default() -> Self {
        Self {
            months: 12,
            monthly_discount_rate: 0.01,
        }
    }
}

/// Expected purchases in each of the next `months` months: entry k − 1 is
/// E[Y(k months)] − E[Y(k − 1 months)] for month k. `params` and `history` are in
/// `model_time_unit`.
pub fn monthly_expected_purchases(
    params: &BgNbdParams,
    model_time_unit: TimeUnit,
    history: &PurchaseHistory,
    months: u32,
) -> Vec<f64> {
    let month = TimeUnit::Month.convert(1.0, model_time_unit);
    let mut previous = 0.0;
    (1..=months)
        .map(|k| {
            let cumulative = expected_purchases(params, history, f64::from(k) * month);
            // E[Y(t)] is non-decreasing; clamping keeps rounding from making a month negative.
            let in_month = (cumulative - previous).max(0.0);
            previous = cumulative.max(previous);
            in_month
        })
        .collect()
}

/// Predicted CLV of one customer: the discounted sum over the horizon's months of
/// expected purchases × `expected_order_value` (in the currency of the order values,
/// typically [`super::gamma_gamma::conditional_expected_average_value`]).
///
/// Errors when the order value is negative or not finite, or the discount rate is not
/// finite or at most −1.
pub fn predicted_clv(
    params: &BgNbdParams,
    model_time_unit: TimeUnit,
    history: &PurchaseHistory,
    expected_order_value: f64,
    horizon: &ClvHorizon,
) -> Result<f64, ValueModelError> {
    check_order_value(expected_order_value)?;
    check_horizon(horizon)?;
    Ok(
        discounted_expected_purchases(params, model_time_unit, history, horizon)
            * expected_order_value,
    )
}

/// [`predicted_clv`] of many customers, given as (history, expected order value) pairs,
/// in input order.
///
/// The discounted expected purchases depend on the history alone, so they are computed
/// once per distinct history: with histories in whole days a million customers share a
/// few hundred thousand, and the CLV job runs several times faster than calling
/// [`predicted_clv`] per customer.
pub fn predicted_clvs(
    params: &BgNbdParams,
    model_time_unit: TimeUnit,
    customers: &[(PurchaseHistory, f64)],
    horizon: &ClvHorizon,
) -> Result<Vec<f64>, ValueModelError> {
    check_horizon(horizon)?;
    let mut by_history: HashMap<(u32, u64, u64), f64> = HashMap::new();
    customers
        .iter()
        .map(|(history, expected_order_value)| {
            check_order_value(*expected_order_value)?;
            let key = (
                history.repeat_transactions(),
                history.recency().to_bits(),
                history.age().to_bits(),
            );
            let purchases = *by_history.entry(key).or_insert_with(|| {
                discounted_expected_purchases(params, model_time_unit, history, horizon)
            });
            Ok(purchases * expected_order_value)
        })
        .collect()
}

/// Σₖ (expected purchases in month k) / (1 + d)ᵏ.
fn discounted_expected_purchases(
    params: &BgNbdParams,
    model_time_unit: TimeUnit,
    history: &PurchaseHistory,
    horizon: &ClvHorizon,
) -> f64 {
    let purchases = monthly_expected_purchases(params, model_time_unit, history, horizon.months);
    let mut discount = 1.0;
    let mut total = 0.0;
    for in_month in purchases {
        discount /= 1.0 + horizon.monthly_discount_rate;
        total += in_month * discount;
    }
    total
}

fn check_order_value(expected_order_value: f64) -> Result<(), ValueModelError> {
    if expected_order_value.is_finite() && expected_order_value >= 0.0 {
        Ok(())
    } else {
        Err(ValueModelError::InvalidArgument {
            name: "expected order value",
            reason: "must be finite and non-negative",
        })
    }
}

fn check_horizon(horizon: &ClvHorizon) -> Result<(), ValueModelError> {
    let rate = horizon.monthly_discount_rate;
    if rate.is_finite() && rate > -1.0 {
        Ok(())
    } else {
        Err(ValueModelError::InvalidArgument {
            name: "monthly discount rate",
            reason: "must be finite and greater than −1",
        })
    }
}

/// A customer's value tier: one type, stored by `entity`.
pub use entity::ValueTier;

/// Which shares of customers, from the top CLV down, are HIGH and MEDIUM; the rest LOW.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TierCutoffs {
    pub high_share: f64,
    pub medium_share: f64,
}

impl Default for TierCutoffs {
    /// Top 20 % HIGH, next 30 % MEDIUM.
    fn default() -> Self {
        Self {
            high_share: 0.2,
            medium_share: 0.3,
        }
    }
}

/// The tier of each CLV in `clvs`, in the same order.
///
/// Each customer's position is the mid-rank percentile from the top,
/// (customers with a higher CLV + customers with this CLV, itself included, / 2) / n:
/// below `high_share` is HIGH, below `high_share + medium_share` MEDIUM, the rest LOW.
/// Without ties the k-th highest of n sits at (k − ½)/n, which puts 20 % of n, rounded
/// to a whole number of customers, in HIGH. Equal CLVs always share a tier — a block of ties goes where its
/// middle falls — so the result does not depend on the input order. All-equal CLVs
/// (e.g. everybody at 0), and so a single customer, are LOW.
///
/// Errors on a NaN or infinite CLV, or shares outside [0, 1] or summing above 1.
pub fn value_tiers(clvs: &[f64], cutoffs: &TierCutoffs) -> Result<Vec<ValueTier>, ValueModelError> {
    let TierCutoffs {
        high_share,
        medium_share,
    } = *cutoffs;
    let valid_share = |s: f64| (0.0..=1.0).contains(&s);
    if !(valid_share(high_share) && valid_share(medium_share) && high_share + medium_share <= 1.0) {
        return Err(ValueModelError::InvalidArgument {
            name: "tier cutoffs",
            reason: "shares must lie in [0, 1] and sum to at most 1",
        });
    }
    if clvs.iter().any(|v| !v.is_finite()) {
        return Err(ValueModelError::InvalidArgument {
            name: "CLV",
            reason: "every value must be finite",
        });
    }
    let n = clvs.len() as f64;
    let mut order: Vec<usize> = (0..clvs.len()).collect();
    order.sort_unstable_by(|&i, &j| clvs[j].total_cmp(&clvs[i]));
    let mut tiers = vec![ValueTier::Low; clvs.len()];
    let mut block_start = 0;
    while block_start < order.len() {
        let value = clvs[order[block_start]];
        let block_end = order[block_start..]
            .iter()
            .position(|&i| clvs[i] != value)
            .map_or(order.len(), |offset| block_start + offset);
        let above = block_start as f64;
        let equal = (block_end - block_start) as f64;
        let percentile = (above + equal / 2.0) / n;
        let tier = if percentile < high_share {
            ValueTier::High
        } else if percentile < high_share + medium_share {
            ValueTier::Medium
        } else {
            ValueTier::Low
        };
        for &i in &order[block_start..block_end] {
            tiers[i] = tier;
        }
        block_start = block_end;
    }
    Ok(tiers)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CDNOW_WEEKS: BgNbdParams = BgNbdParams {
        r: 0.243,
        alpha: 4.414,
        a: 0.793,
        b: 2.426,
    };

    fn history(x: u32, recency: f64, age: f64) -> PurchaseHistory {
        PurchaseHistory::new(x, recency, age).unwrap()
    }

    fn clv(history: &PurchaseHistory, months: u32, rate: f64) -> f64 {
        let horizon = ClvHorizon {
            months,
            monthly_discount_rate: rate,
        };
        predicted_clv(&CDNOW_WEEKS, TimeUnit::Week, history, 35.0, &horizon).unwrap()
    }

    #[test]
    fn time_units_convert_through_days() {
        assert_eq!(TimeUnit::Week.convert(2.0, TimeUnit::Day), 14.0);
        assert_eq!(TimeUnit::Month.convert(1.0, TimeUnit::Day), 30.4375);
        assert!((TimeUnit::Month.convert(12.0, TimeUnit::Week) - 365.25 / 7.0).abs() < 1e-12);
        assert_eq!(TimeUnit::Day.convert(30.4375, TimeUnit::Month), 1.0);
    }

    #[test]
    fn clv_is_non_negative_increasing_in_the_horizon_and_decreasing_in_the_discount_rate() {
        let customers = [
            history(0, 0.0, 0.0),
            history(0, 0.0, 38.0),
            history(1, 2.0, 30.0),
            history(6, 36.0, 38.0),
            history(20, 5.0, 38.0),
        ];
        for h in &customers {
            let mut previous = 0.0;
            for months in 1..=60 {
                let value = clv(h, months, 0.01);
                assert!(
                    value.is_finite() && value >= previous,
                    "{h:?} {months}: {value}"
                );
                previous = value;
            }
            let mut previous = f64::INFINITY;
            for rate in [-0.5, -0.01, 0.0, 0.005, 0.01, 0.05, 0.2, 1.0, 10.0] {
                let value = clv(h, 24, rate);
                assert!(
                    value >= 0.0 && value < previous,
                    "{h:?} rate {rate}: {value}"
                );
                previous = value;
            }
        }
        assert_eq!(clv(&customers[3], 0, 0.01), 0.0);
    }

    #[test]
    fn undiscounted_clv_is_expected_purchases_times_order_value() {
        let h = history(3, 20.0, 38.0);
        let months = 18;
        let weeks = TimeUnit::Month.convert(f64::from(months), TimeUnit::Week);
        let expected = expected_purchases(&CDNOW_WEEKS, &h, weeks) * 35.0;
        assert!((clv(&h, months, 0.0) - expected).abs() < 1e-12 * expected);
    }

    #[test]
    fn clv_does_not_depend_on_the_model_time_unit() {
        // The same model in days: α scales with time, r, a, b do not.
        let in_days = BgNbdParams {
            alpha: CDNOW_WEEKS.alpha * 7.0,
            ..CDNOW_WEEKS
        };
        let horizon = ClvHorizon::default();
        for (x, recency, age) in [(0, 0.0, 10.0), (2, 13.0, 30.0), (9, 37.5, 38.0)] {
            let weekly = predicted_clv(
                &CDNOW_WEEKS,
                TimeUnit::Week,
                &history(x, recency, age),
                40.0,
                &horizon,
            )
            .unwrap();
            let daily = predicted_clv(
                &in_days,
                TimeUnit::Day,
                &history(x, recency * 7.0, age * 7.0),
                40.0,
                &horizon,
            )
            .unwrap();
            assert!(
                (weekly - daily).abs() < 1e-10 * weekly,
                "{weekly} vs {daily}"
            );
        }
    }

    #[test]
    fn clv_rejects_impossible_arguments() {
        let h = history(1, 1.0, 2.0);
        let horizon = ClvHorizon::default();
        for value in [-1.0, f64::NAN, f64::INFINITY] {
            assert!(predicted_clv(&CDNOW_WEEKS, TimeUnit::Week, &h, value, &horizon).is_err());
        }
        for rate in [-1.0, -2.0, f64::NAN] {
            let horizon = ClvHorizon {
                months: 12,
                monthly_discount_rate: rate,
            };
            assert!(predicted_clv(&CDNOW_WEEKS, TimeUnit::Week, &h, 10.0, &horizon).is_err());
        }
        assert_eq!(
            predicted_clv(&CDNOW_WEEKS, TimeUnit::Week, &h, 0.0, &horizon),
            Ok(0.0)
        );
    }

    #[test]
    fn batch_clv_equals_one_customer_at_a_time() {
        let horizon = ClvHorizon::default();
        let customers = [
            (history(2, 13.0, 30.0), 40.0),
            (history(0, 0.0, 10.0), 25.0),
            (history(2, 13.0, 30.0), 10.0),
            (history(2, 13.0, 30.0), 40.0),
        ];
        let batch = predicted_clvs(&CDNOW_WEEKS, TimeUnit::Week, &customers, &horizon).unwrap();
        for ((h, value), clv) in customers.iter().zip(&batch) {
            assert_eq!(
                *clv,
                predicted_clv(&CDNOW_WEEKS, TimeUnit::Week, h, *value, &horizon).unwrap()
            );
        }
        let bad = [(history(1, 1.0, 2.0), f64::NAN)];
        assert!(predicted_clvs(&CDNOW_WEEKS, TimeUnit::Week, &bad, &horizon).is_err());
        assert_eq!(
            predicted_clvs(&CDNOW_WEEKS, TimeUnit::Week, &[], &horizon),
            Ok(vec![])
        );
    }

    #[test]
    fn value_tiers_put_the_top_fifth_high_and_the_next_three_tenths_medium() {
        let clvs: Vec<f64> = (1..=10).map(f64::from).collect();
        let tiers = value_tiers(&clvs, &TierCutoffs::default()).unwrap();
        let count = |tier| tiers.iter().filter(|&&t| t == tier).count();
        assert_eq!(
            (
                count(ValueTier::High),
                count(ValueTier::Medium),
                count(ValueTier::Low)
            ),
            (2, 3, 5)
        );
        assert_eq!(tiers[9], ValueTier::High);
        assert_eq!(tiers[8], ValueTier::High);
        assert_eq!(tiers[7], ValueTier::Medium);
        assert_eq!(tiers[4], ValueTier::Low);
    }

    #[test]
    fn value_tiers_give_ties_one_tier_whatever_the_order() {
        let clvs = [5.0, 9.0, 9.0, 9.0, 1.0, 0.0, 0.0, 0.0, 0.0, 3.0];
        let tiers = value_tiers(&clvs, &TierCutoffs::default()).unwrap();
        for (i, j) in [(1, 2), (2, 3), (5, 6), (6, 7), (7, 8)] {
            assert_eq!(tiers[i], tiers[j]);
        }
        // Three tied at the top: their middle, 1.5/10, is inside the top 20 %.
        assert_eq!(tiers[1], ValueTier::High);
        assert_eq!(tiers[5], ValueTier::Low);
        let mut reversed = clvs;
        reversed.reverse();
        let mut tiers_reversed = value_tiers(&reversed, &TierCutoffs::default()).unwrap();
        tiers_reversed.reverse();
        assert_eq!(tiers, tiers_reversed);
    }

    #[test]
    fn value_tiers_handle_degenerate_inputs() {
        assert_eq!(value_tiers(&[], &TierCutoffs::default()), Ok(vec![]));
        assert_eq!(
            value_tiers(&[0.0; 4], &TierCutoffs::default()),
            Ok(vec![ValueTier::Low; 4])
        );
        assert_eq!(
            value_tiers(&[12.0], &TierCutoffs::default()),
            Ok(vec![ValueTier::Low])
        );
        assert!(value_tiers(&[1.0, f64::NAN], &TierCutoffs::default()).is_err());
        let too_much = TierCutoffs {
            high_share: 0.7,
            medium_share: 0.4,
        };
        assert!(value_tiers(&[1.0], &too_much).is_err());
        let everyone_high = TierCutoffs {
            high_share: 1.0,
            medium_share: 0.0,
        };
        assert_eq!(
            value_tiers(&[3.0, 3.0], &everyone_high),
            Ok(vec![ValueTier::High; 2])
        );
    }
}
