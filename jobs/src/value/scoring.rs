//! From per-customer purchase summaries to every value score: RFM, BG/NBD P(alive) and
//! expected purchases, Gamma-Gamma expected order value, CLV, value tier and composite
//! value. Pure: the `value-scores` job reads the inputs and writes the outcome.
//!
//! Composite value (each part 0–100; the total is the weighted mean of the parts a
//! customer has, so a missing satisfaction answer does not count as zero):
//! - economic: percentile of predicted CLV among customers with orders (of total spent
//!   while the models cannot be fitted); 0 for prospects;
//! - loyalty: half tenure (days since the first purchase, full at two years), half repeat
//!   buying (repeat purchase days, full at ten);
//! - advocacy: 100 · (1 − e^(−points/2)) with points = customers referred + their revenue
//!   in units of the average buying customer's revenue (diminishing returns; 0 without
//!   referrals);
//! - satisfaction: the latest answer, NPS × 10 or (CSAT − 1) × 25.

use std::collections::HashMap;

use chrono::{NaiveDate, NaiveTime};
use entity::Money;

use super::bgnbd::{self, BgNbdFit, PurchaseHistory};
use super::clv::{self, ClvHorizon, TierCutoffs, TimeUnit, ValueTier};
use super::gamma_gamma::{self, GammaGammaFit, SpendHistory};
use super::rfm::{self, RfmInput, RfmScore};
use crate::value_scores::ValueSettings;

/// What the database knows of one customer at the cutoff.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CustomerInput {
    pub customer_id: i64,
    /// Distinct UTC days with an order (several orders on one day are one transaction).
    pub purchase_days: i64,
    /// Days since 1970-01-01 of the first and last purchase day.
    pub first_day: Option<i64>,
    pub last_day: Option<i64>,
    pub total_spent: Money,
    pub order_count: i64,
    /// What the customer spent on the first purchase day (not a repeat transaction).
    pub first_day_total: Money,
    pub referred_customers: i64,
    pub referred_revenue: Money,
    /// The latest answer: (is NPS, score).
    pub latest_feedback: Option<(bool, i32)>,
}

impl CustomerInput {
    pub fn new(customer_id: i64) -> Self {
        Self {
            customer_id,
            ..Default::default()
        }
    }
}

/// The composite value parts, each 0–100.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Composite {
    pub economic: f64,
    pub loyalty: f64,
    pub advocacy: f64,
    pub satisfaction: Option<f64>,
    pub total: f64,
}

/// Every score of one customer. Floats here are finite or absent, never NaN.
#[derive(Clone, Debug, PartialEq)]
pub struct CustomerScore {
    pub customer_id: i64,
    pub recency_days: Option<i64>,
    pub frequency: i64,
    pub monetary: Option<Money>,
    pub total_spent: Money,
    pub rfm: Option<RfmScore>,
    pub repeat_purchases: i64,
    pub t_x_weeks: f64,
    pub t_weeks: f64,
    pub p_alive: Option<f64>,
    pub expected_order_value: Option<f64>,
    pub predicted_clv: Option<f64>,
    pub value_tier: Option<ValueTier>,
    pub composite: Composite,
}

/// What was fitted, on how much data, and why something was not.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelReport {
    pub customers_used: u64,
    pub repeat_customers: u64,
    pub bgnbd: Option<BgNbdFit>,
    pub gamma_gamma: Option<GammaGammaFit>,
    pub note: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScoringOutcome {
    pub scores: Vec<CustomerScore>,
    pub report: ModelReport,
}

/// Days since 1970-01-01 of a date (the unit the database summaries use).
pub fn day_number(date: NaiveDate) -> i64 {
    date.and_time(NaiveTime::MIN)
        .and_utc()
        .timestamp()
        .div_euclid(86_400)
}

/// The BG/NBD history of a buyer at `as_of_day`, in weeks; `None` for prospects and for
/// purchases after the cutoff (which the caller should have excluded).
pub fn purchase_history(input: &CustomerInput, as_of_day: i64) -> Option<PurchaseHistory> {
    let (first, last) = (input.first_day?, input.last_day?);
    let weeks = |days: i64| days as f64 / clv::DAYS_PER_WEEK;
    let repeat = u32::try_from((input.purchase_days - 1).max(0)).unwrap_or(u32::MAX);
    PurchaseHistory::new(repeat, weeks(last - first), weeks(as_of_day - first)).ok()
}

/// Scores every customer. Never fails: a model that cannot be fitted leaves its fields
/// empty and says why in the report, and the rest is computed from what is there.
pub fn score(
    inputs: &[CustomerInput],
    as_of: NaiveDate,
    settings: &ValueSettings,
) -> ScoringOutcome {
    let as_of_day = day_number(as_of);
    let mut report = ModelReport::default();
    let mut notes: Vec<String> = Vec::new();

    let histories: Vec<Option<PurchaseHistory>> = inputs
        .iter()
        .map(|c| purchase_history(c, as_of_day))
        .collect();
    let buyers: Vec<PurchaseHistory> = histories.iter().flatten().copied().collect();
    report.customers_used = buyers.len() as u64;
    report.repeat_customers = buyers
        .iter()
        .filter(|h| h.repeat_transactions() > 0)
        .count() as u64;

    // RFM over customers with orders.
    let buyer_indexes: Vec<usize> = (0..inputs.len())
        .filter(|&i| histories[i].is_some())
        .collect();
    let rfm_inputs: Vec<RfmInput> = buyer_indexes
        .iter()
        .map(|&i| {
            let c = &inputs[i];
            RfmInput {
                recency_days: u32::try_from(as_of_day - c.last_day.unwrap_or(as_of_day))
                    .unwrap_or(0),
                frequency: u32::try_from(c.purchase_days.max(1)).unwrap_or(u32::MAX),
                monetary: average_order_value(c).map_or(0.0, Money::to_f64),
            }
        })
        .collect();
    let mut rfm_by_index: HashMap<usize, RfmScore> = HashMap::with_capacity(buyer_indexes.len());
    match rfm::rfm_scores(&rfm_inputs) {
        Ok(scores) => rfm_by_index.extend(buyer_indexes.iter().copied().zip(scores)),
        Err(error) => notes.push(format!("RFM not scored: {error}")),
    }

    // BG/NBD, only with enough repeat buyers to identify it.
    if report.repeat_customers < u64::from(settings.min_repeat_customers) {
        notes.push(format!(
            "models not fitted: {} repeat customers, at least {} needed",
            report.repeat_customers, settings.min_repeat_customers
        ));
    } else {
        match bgnbd::fit(&buyers) {
            Ok(fit) => report.bgnbd = Some(fit),
            Err(error) => notes.push(format!("BG/NBD not fitted: {error}")),
        }
    }

    // Gamma-Gamma on repeat customers with a positive mean repeat value.
    let spend: Vec<Option<SpendHistory>> = inputs
        .iter()
        .map(|c| {
            let repeat = u32::try_from(c.purchase_days - 1).ok().filter(|x| *x > 0)?;
            let mean = (c.total_spent.to_f64() - c.first_day_total.to_f64()) / f64::from(repeat);
            SpendHistory::new(repeat, mean).ok()
        })
        .collect();
    if report.bgnbd.is_some() {
        let spenders: Vec<SpendHistory> = spend.iter().flatten().copied().collect();
        match gamma_gamma::fit(&spenders) {
            Ok(fit) => report.gamma_gamma = Some(fit),
            Err(error) => notes.push(format!("Gamma-Gamma not fitted: {error}")),
        }
    }
    for (name, converged) in [
        ("BG/NBD", report.bgnbd.map(|f| f.converged)),
        ("Gamma-Gamma", report.gamma_gamma.map(|f| f.converged)),
    ] {
        if converged == Some(false) {
            notes.push(format!("{name} stopped before its gradient tolerance"));
        }
    }

    // Per-customer model outputs. Histories repeat a lot (whole days), so P(alive) and the
    // CLV sum are computed once per distinct (x, t_x, T) and expected value.
    let horizon = ClvHorizon {
        months: settings.horizon_months,
        monthly_discount_rate: settings.monthly_discount_rate,
    };
    let population_mean = report
        .gamma_gamma
        .and_then(|fit| gamma_gamma::population_mean_value(&fit.params));
    let mut p_alive_cache: HashMap<[u64; 3], f64> = HashMap::new();
    let mut clv_per_value_cache: HashMap<[u64; 3], f64> = HashMap::new();
    let mut scores: Vec<CustomerScore> = Vec::with_capacity(inputs.len());
    for (index, input) in inputs.iter().enumerate() {
        let history = histories[index];
        let key = history.map(|h| {
            [
                u64::from(h.repeat_transactions()),
                h.recency().to_bits(),
                h.age().to_bits(),
            ]
        });
        let p_alive = match (report.bgnbd, history, key) {
            (Some(fit), Some(h), Some(k)) => Some(
                *p_alive_cache
                    .entry(k)
                    .or_insert_with(|| bgnbd::p_alive(&fit.params, &h)),
            )
            .filter(|p| p.is_finite()),
            _ => None,
        };
        let expected_order_value = match (report.gamma_gamma, history) {
            (Some(fit), Some(_)) => match spend[index] {
                Some(s) => gamma_gamma::conditional_expected_average_value(&fit.params, &s),
                None => population_mean,
            }
            .filter(|v| v.is_finite() && *v >= 0.0),
            _ => None,
        };
        let predicted_clv = match (report.bgnbd, history, key, expected_order_value) {
            (Some(fit), Some(h), Some(k), Some(value)) => {
                // CLV is linear in the order value: cache the value-free part.
                let per_unit = *clv_per_value_cache.entry(k).or_insert_with(|| {
                    clv::predicted_clv(&fit.params, TimeUnit::Week, &h, 1.0, &horizon)
                        .unwrap_or(f64::NAN)
                });
                Some(per_unit * value).filter(|v| v.is_finite())
            }
            _ => None,
        };
        scores.push(CustomerScore {
            customer_id: input.customer_id,
            recency_days: input.last_day.map(|last| as_of_day - last),
            frequency: input.purchase_days,
            monetary: average_order_value(input),
            total_spent: input.total_spent,
            rfm: rfm_by_index.get(&index).copied(),
            repeat_purchases: history.map_or(0, |h| i64::from(h.repeat_transactions())),
            t_x_weeks: history.map_or(0.0, |h| h.recency()),
            t_weeks: history.map_or(0.0, |h| h.age()),
            p_alive,
            expected_order_value,
            predicted_clv,
            value_tier: None,
            composite: Composite::default(),
        });
    }

    assign_tiers_and_composite(&mut scores, inputs, as_of_day, settings, &mut notes);
    report.note = (!notes.is_empty()).then(|| notes.join("; "));
    ScoringOutcome { scores, report }
}

fn average_order_value(input: &CustomerInput) -> Option<Money> {
    (input.order_count > 0).then(|| Money(input.total_spent.0 / input.order_count))
}

/// The value each buyer is ranked by: predicted CLV when the models were fitted for
/// everyone, total spent otherwise (never a mix of the two).
fn ranking_values(scores: &[CustomerScore]) -> Vec<(usize, f64)> {
    let buyers: Vec<usize> = (0..scores.len())
        .filter(|&i| scores[i].frequency > 0)
        .collect();
    let all_have_clv = buyers.iter().all(|&i| scores[i].predicted_clv.is_some());
    buyers
        .into_iter()
        .map(|i| {
            let value = if all_have_clv {
                scores[i].predicted_clv.unwrap_or(0.0)
            } else {
                scores[i].total_spent.to_f64()
            };
            (i, value)
        })
        .collect()
}

fn assign_tiers_and_composite(
    scores: &mut [CustomerScore],
    inputs: &[CustomerInput],
    as_of_day: i64,
    settings: &ValueSettings,
    notes: &mut Vec<String>,
) {
    let ranked = ranking_values(scores);
    let values: Vec<f64> = ranked.iter().map(|(_, v)| *v).collect();
    let cutoffs = TierCutoffs {
        high_share: settings.high_tier_share,
        medium_share: settings.medium_tier_share,
    };
    match clv::value_tiers(&values, &cutoffs) {
        Ok(tiers) => {
            for ((index, _), tier) in ranked.iter().zip(tiers) {
                scores[*index].value_tier = Some(tier);
            }
        }
        Err(error) => notes.push(format!("value tiers not assigned: {error}")),
    }
    let percentiles = percentile_ranks(&values);
    let mut economic: HashMap<usize, f64> = HashMap::with_capacity(ranked.len());
    for ((index, _), percentile) in ranked.iter().zip(percentiles) {
        economic.insert(*index, percentile * 100.0);
    }
    let buyers = ranked.len().max(1) as f64;
    let mean_revenue = inputs.iter().map(|c| c.total_spent.to_f64()).sum::<f64>() / buyers;

    let w = &settings.weights;
    for (index, (score, input)) in scores.iter_mut().zip(inputs).enumerate() {
        let tenure_days = input
            .first_day
            .map_or(0, |first| (as_of_day - first).max(0)) as f64;
        let loyalty = if input.purchase_days > 0 {
            50.0 * (tenure_days / 730.0).min(1.0)
                + 50.0 * ((input.purchase_days - 1) as f64 / 10.0).min(1.0)
        } else {
            0.0
        };
        let referred_value = if mean_revenue > 0.0 {
            input.referred_revenue.to_f64() / mean_revenue
        } else {
            0.0
        };
        let points = input.referred_customers as f64 + referred_value;
        let advocacy = 100.0 * (1.0 - (-points / 2.0).exp());
        let satisfaction = input.latest_feedback.map(|(nps, score)| {
            let value = if nps {
                f64::from(score) * 10.0
            } else {
                f64::from(score - 1) * 25.0
            };
            value.clamp(0.0, 100.0)
        });
        let economic = economic.get(&index).copied().unwrap_or(0.0);
        let mut weighted = w.economic * economic + w.loyalty * loyalty + w.advocacy * advocacy;
        let mut weight = w.economic + w.loyalty + w.advocacy;
        if let Some(satisfaction) = satisfaction {
            weighted += w.satisfaction * satisfaction;
            weight += w.satisfaction;
        }
        let total = if weight > 0.0 { weighted / weight } else { 0.0 };
        score.composite = Composite {
            economic,
            loyalty,
            advocacy,
            satisfaction,
            total,
        };
    }
}

/// Each value's percentile rank in [0, 1]: the share of values strictly below it plus
/// half the share of its ties (so equal values get equal ranks).
fn percentile_ranks(values: &[f64]) -> Vec<f64> {
    if values.is_empty() {
        return Vec::new();
    }
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|a, b| values[*a].total_cmp(&values[*b]));
    let n = values.len() as f64;
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start;
        while end + 1 < order.len() && values[order[end + 1]] == values[order[start]] {
            end += 1;
        }
        let rank = (start as f64 + (end - start + 1) as f64 / 2.0) / n;
        for &i in &order[start..=end] {
            ranks[i] = rank.clamp(0.0, 1.0);
        }
        start = end + 1;
    }
    ranks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buyer(
        id: i64,
        days: i64,
        first: i64,
        last: i64,
        spent: i64,
        first_day: i64,
    ) -> CustomerInput {
        CustomerInput {
            customer_id: id,
            purchase_days: days,
            first_day: Some(first),
            last_day: Some(last),
            total_spent: Money(spent * 10_000),
            order_count: days,
            first_day_total: Money(first_day * 10_000),
            ..Default::default()
        }
    }

    fn as_of() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 1, 31).unwrap()
    }

    #[test]
    fn day_number_counts_days_since_1970() {
        assert_eq!(day_number(NaiveDate::from_ymd_opt(1970, 1, 2).unwrap()), 1);
        assert_eq!(
            day_number(NaiveDate::from_ymd_opt(1997, 1, 1).unwrap()),
            9862
        );
    }

    #[test]
    fn too_few_repeat_customers_leave_the_models_empty_but_score_the_rest() {
        let today = day_number(as_of());
        let mut inputs = vec![buyer(1, 3, today - 100, today - 5, 90, 30)];
        inputs.extend((2..=5).map(|i| buyer(i, 1, today - 50, today - 50, 10 * i, 10 * i)));
        inputs.push(CustomerInput::new(6));
        let outcome = score(&inputs, as_of(), &ValueSettings::default());
        assert!(outcome.report.bgnbd.is_none());
        assert!(
            outcome
                .report
                .note
                .as_deref()
                .unwrap()
                .contains("1 repeat customers")
        );
        let first = &outcome.scores[0];
        assert!(first.rfm.is_some() && first.p_alive.is_none() && first.predicted_clv.is_none());
        assert_eq!(
            first.value_tier,
            Some(ValueTier::High),
            "ranked by total spent without a model"
        );
        assert_eq!(first.recency_days, Some(5));
        assert_eq!(first.monetary, Some(Money(30 * 10_000)));
        assert_eq!(outcome.scores[1].value_tier, Some(ValueTier::Low));
        let prospect = &outcome.scores[5];
        assert!(
            prospect.rfm.is_none()
                && prospect.value_tier.is_none()
                && prospect.recency_days.is_none()
        );
        assert_eq!(prospect.composite.total, 0.0);
    }

    #[test]
    fn empty_input_and_zero_amounts_give_defined_results() {
        let outcome = score(&[], as_of(), &ValueSettings::default());
        assert!(outcome.scores.is_empty());
        let today = day_number(as_of());
        let zeros: Vec<CustomerInput> = (0..40)
            .map(|i| buyer(i, 3, today - 200, today - 10 - i, 0, 0))
            .collect();
        let outcome = score(&zeros, as_of(), &ValueSettings::default());
        for s in &outcome.scores {
            for value in [s.p_alive, s.predicted_clv, s.expected_order_value]
                .into_iter()
                .flatten()
            {
                assert!(value.is_finite());
            }
            assert!(s.composite.total.is_finite());
        }
    }

    #[test]
    fn composite_parts_stay_in_range_and_feedback_counts() {
        let today = day_number(as_of());
        let mut promoter = buyer(1, 12, today - 900, today - 2, 500, 50);
        promoter.latest_feedback = Some((true, 10));
        promoter.referred_customers = 3;
        promoter.referred_revenue = Money(1_000 * 10_000);
        let mut detractor = buyer(2, 2, today - 40, today - 30, 40, 20);
        detractor.latest_feedback = Some((false, 1));
        let outcome = score(&[promoter, detractor], as_of(), &ValueSettings::default());
        let (p, d) = (&outcome.scores[0].composite, &outcome.scores[1].composite);
        assert_eq!(p.satisfaction, Some(100.0));
        assert_eq!(d.satisfaction, Some(0.0));
        assert!((p.loyalty - 100.0).abs() < 1e-9);
        assert!(p.advocacy > 90.0 && d.advocacy == 0.0);
        for part in [
            p.economic, p.loyalty, p.advocacy, p.total, d.economic, d.loyalty, d.advocacy, d.total,
        ] {
            assert!((0.0..=100.0).contains(&part), "{part}");
        }
        assert!(p.total > d.total);
    }

    #[test]
    fn percentile_ranks_share_ties() {
        let ranks = percentile_ranks(&[10.0, 20.0, 20.0, 30.0]);
        assert_eq!(ranks[1], ranks[2]);
        assert!(ranks[0] < ranks[1] && ranks[2] < ranks[3]);
    }
}
