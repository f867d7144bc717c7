//! The stage rules: pure functions from what is known about a customer at asOf to the
//! stage they are in and why. No I/O, so every rule is tested without a database.

use serde::{Deserialize, Serialize};

use crate::value::bgnbd::{self, BgNbdParams, PurchaseHistory};
use crate::value::clv::DAYS_PER_WEEK;

/// Where a customer is in their life with the business: stored in the lifecycle
/// tables, defined in `entity`.
pub use entity::LifecycleStage as Stage;

/// The thresholds of the stage rules. Days are whole days; probabilities are P(alive)
/// from the value-scores job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "snake_case")]
pub struct Thresholds {
    /// A first order fewer than this many days before asOf makes a customer NEW.
    pub new_days: i64,
    /// LOYAL needs at least this many orders …
    pub loyal_min_orders: i64,
    /// … and a first order at least this many days before asOf (or value tier HIGH).
    pub loyal_min_days: i64,
    /// SILENT after more than max(silent_days, silent_factor × median gap) days without
    /// an order.
    pub silent_days: i64,
    pub silent_factor: f64,
    /// SILENT when P(alive) falls below this (needs value scores).
    pub silent_p_alive: f64,
    /// CHURNED after this many days without an order …
    pub churned_days: i64,
    /// … or when P(alive) falls below this.
    pub churned_p_alive: f64,
    /// A lapsed customer's return counts for a win-back email sent at most this many
    /// days before the order.
    pub win_back_window_days: i64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            new_days: 30,
            loyal_min_orders: 4,
            loyal_min_days: 180,
            silent_days: 90,
            silent_factor: 3.0,
            silent_p_alive: 0.5,
            churned_days: 365,
            churned_p_alive: 0.1,
            win_back_window_days: 30,
        }
    }
}

impl Thresholds {
    /// Every problem with these thresholds, as (field, message); empty when valid.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        for (field, days) in [
            ("newDays", self.new_days),
            ("loyalMinDays", self.loyal_min_days),
            ("silentDays", self.silent_days),
            ("churnedDays", self.churned_days),
            ("winBackWindowDays", self.win_back_window_days),
        ] {
            if !(0..=36_500).contains(&days) {
                problems.push((field, format!("must be 0–36500 days, got {days}")));
            }
        }
        if !(1..=1_000_000).contains(&self.loyal_min_orders) {
            problems.push((
                "loyalMinOrders",
                format!("must be at least 1, got {}", self.loyal_min_orders),
            ));
        }
        if !(self.silent_factor.is_finite() && self.silent_factor >= 0.0) {
            problems.push((
                "silentFactor",
                format!("must be a non-negative number, got {}", self.silent_factor),
            ));
        }
        for (field, p) in [
            ("silentPAlive", self.silent_p_alive),
            ("churnedPAlive", self.churned_p_alive),
        ] {
            if !(0.0..=1.0).contains(&p) {
                problems.push((field, format!("must be a probability in 0–1, got {p}")));
            }
        }
        if self.silent_days >= self.churned_days {
            problems.push((
                "silentDays",
                format!(
                    "must be below churnedDays ({}), got {}",
                    self.churned_days, self.silent_days
                ),
            ));
        }
        if self.churned_p_alive > self.silent_p_alive {
            problems.push((
                "churnedPAlive",
                format!(
                    "must not exceed silentPAlive ({}), got {}",
                    self.silent_p_alive, self.churned_p_alive
                ),
            ));
        }
        problems
    }

    /// The problems joined into one message, for configuration errors at start-up.
    pub fn validate(&self) -> Result<(), String> {
        let problems = self.problems();
        if problems.is_empty() {
            return Ok(());
        }
        let listed: Vec<String> = problems
            .into_iter()
            .map(|(field, message)| format!("lifecycle.{field}: {message}"))
            .collect();
        Err(listed.join("; "))
    }
}

/// What the rules look at, all measured at asOf (orders after it ignored). Days are
/// day numbers (days since 1970, UTC).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Facts {
    pub first_order_day: Option<i64>,
    pub last_order_day: Option<i64>,
    pub order_count: i64,
    /// Median days between distinct purchase days; None with fewer than two.
    pub median_gap_days: Option<f64>,
    /// From value scores computed at or before asOf and after the last order.
    pub p_alive: Option<f64>,
    /// The model behind `p_alive`, to tell the day it fell below a threshold.
    pub alive_curve: Option<AliveCurve>,
    pub high_value: bool,
}

/// What the BG/NBD model of the value scores knows of a customer: enough to follow their
/// P(alive) day by day after the last order (no new purchase, a growing age T), so a
/// lapse the model detected is dated when it happened, not when the job looked.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AliveCurve {
    pub params: BgNbdParams,
    /// x: repeat purchase days, as the scores counted them.
    pub repeat_purchases: u32,
    /// t_x: weeks from the first to the last purchase day.
    pub recency_weeks: f64,
}

impl AliveCurve {
    /// P(alive) at the end of day number `day` of a customer whose first purchase was on
    /// `first_day`; None for a day before the last purchase.
    pub fn p_alive_on(&self, first_day: i64, day: i64) -> Option<f64> {
        let age_weeks = (day - first_day) as f64 / DAYS_PER_WEEK;
        let history =
            PurchaseHistory::new(self.repeat_purchases, self.recency_weeks, age_weeks).ok()?;
        Some(bgnbd::p_alive(&self.params, &history)).filter(|p| p.is_finite())
    }

    /// The first day after `last_day`, up to `as_of`, on which P(alive) is below
    /// `threshold`; None when it is not below by `as_of`.
    ///
    /// Without new purchases P(alive) only falls as the age grows (the odds of having
    /// dropped out grow with (α+T)/(α+t_x)), so the days below form a suffix of the range
    /// and a bisection finds where it starts in a dozen evaluations or so.
    pub fn first_day_below(
        &self,
        first_day: i64,
        last_day: i64,
        threshold: f64,
        as_of: i64,
    ) -> Option<i64> {
        let below = |day| {
            self.p_alive_on(first_day, day)
                .is_some_and(|p| p < threshold)
        };
        let (mut above, mut under) = (last_day, as_of);
        if under <= above || !below(under) {
            return None;
        }
        // Invariant: `above` is not below the threshold (the purchase day counts as
        // alive), `under` is.
        while under - above > 1 {
            let mid = above + (under - above) / 2;
            if below(mid) {
                under = mid;
            } else {
                above = mid;
            }
        }
        Some(under)
    }
}

/// A stage, the reason the rules give for it, and their estimate of the day (number) it
/// began: the day a limit passed or an order was placed when that is what decided; for a
/// lapse, the earliest day one of its rules held (for P(alive), the first day the model
/// puts it below the threshold); else the day observed. The caller keeps it within the
/// previous stage and asOf.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub stage: Stage,
    pub reason: String,
    pub since_day: i64,
}

/// The customer's stage at day number `as_of`.
pub fn classify(facts: &Facts, as_of: i64, t: &Thresholds) -> Verdict {
    let verdict = |stage, reason: String, since_day| Verdict {
        stage,
        reason,
        since_day,
    };
    let (Some(first), Some(last)) = (facts.first_order_day, facts.last_order_day) else {
        // A prospect since they became known.
        return verdict(Stage::Prospect, "no order yet".into(), i64::MIN);
    };
    let quiet = as_of - last;
    let tenure = as_of - first;
    // The day P(alive) fell below `threshold`, when the scores say it has: read from the
    // model's curve, else (no curve) the day observed.
    let fell_below = |threshold: f64| {
        facts.p_alive.filter(|p| *p < threshold)?;
        Some(
            facts
                .alive_curve
                .and_then(|curve| curve.first_day_below(first, last, threshold, as_of))
                .unwrap_or(as_of),
        )
    };
    // A lapse began on the earliest day one of its rules held: the day-based one may
    // have passed first, or the model may have seen it coming first.
    let lapse_day =
        |by_days: i64, by_model: Option<i64>| by_model.map_or(by_days, |d| d.min(by_days));

    let churned_by_days = last + t.churned_days;
    let churned_by_model = fell_below(t.churned_p_alive);
    if quiet >= t.churned_days {
        return verdict(
            Stage::Churned,
            format!(
                "no order for {quiet} days (churned after {})",
                t.churned_days
            ),
            lapse_day(churned_by_days, churned_by_model),
        );
    }
    if let (Some(p), Some(day)) = (facts.p_alive, churned_by_model) {
        return verdict(
            Stage::Churned,
            format!("P(alive) {p:.2} below {}", t.churned_p_alive),
            lapse_day(churned_by_days, Some(day)),
        );
    }
    let rhythm = facts.median_gap_days.map(|gap| t.silent_factor * gap);
    let limit = rhythm.map_or(t.silent_days as f64, |r| r.max(t.silent_days as f64));
    let silent_by_days = last + limit.floor() as i64 + 1;
    let silent_by_model = fell_below(t.silent_p_alive);
    if quiet as f64 > limit {
        let because = match rhythm {
            Some(r) if r > t.silent_days as f64 => format!(
                "{} × usual gap of {:.0} days",
                t.silent_factor,
                facts.median_gap_days.unwrap_or_default()
            ),
            _ => format!("{} days", t.silent_days),
        };
        return verdict(
            Stage::Silent,
            format!("no order for {quiet} days (silent after {because})"),
            lapse_day(silent_by_days, silent_by_model),
        );
    }
    if let (Some(p), Some(day)) = (facts.p_alive, silent_by_model) {
        return verdict(
            Stage::Silent,
            format!("P(alive) {p:.2} below {}", t.silent_p_alive),
            lapse_day(silent_by_days, Some(day)),
        );
    }
    if tenure < t.new_days {
        return verdict(Stage::New, format!("first order {tenure} days ago"), first);
    }
    if facts.order_count >= t.loyal_min_orders && tenure >= t.loyal_min_days {
        return verdict(
            Stage::Loyal,
            format!(
                "{} orders over {tenure} days as a customer",
                facts.order_count
            ),
            (first + t.loyal_min_days).max(last),
        );
    }
    if facts.high_value {
        return verdict(Stage::Loyal, "active with value tier HIGH".into(), as_of);
    }
    verdict(
        Stage::Active,
        format!("last order {quiet} days ago, within their rhythm"),
        (first + t.new_days).max(last),
    )
}

/// The median of the gaps in days between consecutive distinct purchase days (sorted
/// ascending, no duplicates); None with fewer than two days.
pub fn median_gap(days: &[i64]) -> Option<f64> {
    let mut gaps: Vec<i64> = days.windows(2).map(|w| w[1] - w[0]).collect();
    if gaps.is_empty() {
        return None;
    }
    gaps.sort_unstable();
    let mid = gaps.len() / 2;
    Some(if gaps.len() % 2 == 1 {
        gaps[mid] as f64
    } else {
        (gaps[mid - 1] + gaps[mid]) as f64 / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const AS_OF: i64 = 20_000;

    fn buyer(first_ago: i64, last_ago: i64, orders: i64) -> Facts {
        Facts {
            first_order_day: Some(AS_OF - first_ago),
            last_order_day: Some(AS_OF - last_ago),
            order_count: orders,
            ..Facts::default()
        }
    }

    fn stage(facts: &Facts) -> Stage {
        classify(facts, AS_OF, &Thresholds::default()).stage
    }

    #[test]
    fn each_stage_with_default_thresholds() {
        assert_eq!(stage(&Facts::default()), Stage::Prospect);
        assert_eq!(stage(&buyer(10, 10, 1)), Stage::New);
        assert_eq!(stage(&buyer(29, 2, 2)), Stage::New);
        assert_eq!(stage(&buyer(30, 30, 1)), Stage::Active);
        assert_eq!(stage(&buyer(200, 5, 3)), Stage::Active);
        assert_eq!(stage(&buyer(180, 5, 4)), Stage::Loyal);
        assert_eq!(stage(&buyer(179, 5, 4)), Stage::Active);
        assert_eq!(stage(&buyer(100, 90, 1)), Stage::Active);
        assert_eq!(stage(&buyer(100, 91, 1)), Stage::Silent);
        assert_eq!(stage(&buyer(400, 364, 2)), Stage::Silent);
        assert_eq!(stage(&buyer(400, 365, 2)), Stage::Churned);
    }

    #[test]
    fn high_value_active_customers_are_loyal_but_lapsed_ones_are_not() {
        let mut facts = buyer(60, 5, 1);
        facts.high_value = true;
        assert_eq!(stage(&facts), Stage::Loyal);
        let mut gone = buyer(400, 200, 1);
        gone.high_value = true;
        assert_eq!(stage(&gone), Stage::Silent);
    }

    #[test]
    fn a_slow_rhythm_stretches_the_silent_limit() {
        // Buys every 60 days: 120 days quiet is within 3 × 60.
        let mut facts = buyer(600, 120, 8);
        facts.median_gap_days = Some(60.0);
        assert_eq!(stage(&facts), Stage::Loyal);
        facts.last_order_day = Some(AS_OF - 181);
        let verdict = classify(&facts, AS_OF, &Thresholds::default());
        assert_eq!(verdict.stage, Stage::Silent);
        assert!(
            verdict.reason.contains("usual gap of 60 days"),
            "{verdict:?}"
        );
    }

    #[test]
    fn p_alive_catches_a_weekly_buyer_who_stopped() {
        // A weekly buyer quiet for 30 days: the day rules say loyal …
        let mut facts = buyer(400, 30, 50);
        facts.median_gap_days = Some(7.0);
        assert_eq!(stage(&facts), Stage::Loyal);
        // … the model, which knows the rhythm, says she is probably gone.
        facts.p_alive = Some(0.3);
        assert_eq!(stage(&facts), Stage::Silent);
        facts.p_alive = Some(0.05);
        assert_eq!(stage(&facts), Stage::Churned);
    }

    /// The published BG/NBD fit of the CDNOW sample (weeks).
    const CDNOW: BgNbdParams = BgNbdParams {
        r: 0.243,
        alpha: 4.414,
        a: 0.793,
        b: 2.426,
    };

    /// A customer with `repeat` purchase days after a first one `first_ago` days before
    /// asOf, the last `last_ago` days before it, scored at asOf with the CDNOW model.
    fn modelled(first_ago: i64, last_ago: i64, repeat: u32) -> Facts {
        let curve = AliveCurve {
            params: CDNOW,
            repeat_purchases: repeat,
            recency_weeks: (first_ago - last_ago) as f64 / 7.0,
        };
        let mut facts = buyer(first_ago, last_ago, i64::from(repeat) + 1);
        facts.p_alive = curve.p_alive_on(AS_OF - first_ago, AS_OF);
        facts.alive_curve = Some(curve);
        facts
    }

    #[test]
    fn the_lapse_day_is_the_first_day_p_alive_is_below_the_threshold() {
        // Grids of histories and thresholds: wherever a day is found, P(alive) is below
        // the threshold on it and not below on the day before (or that day is the last
        // purchase); and none is found only when asOf itself is not below.
        for repeat in [1, 2, 4, 10, 50] {
            for (first_ago, last_ago) in [(900, 800), (400, 40), (300, 299), (60, 30)] {
                let facts = modelled(first_ago, last_ago, repeat);
                let curve = facts.alive_curve.unwrap();
                let (first, last) = (AS_OF - first_ago, AS_OF - last_ago);
                for threshold in [0.05, 0.1, 0.3, 0.5, 0.8, 0.99] {
                    let p = |day| curve.p_alive_on(first, day).unwrap();
                    match curve.first_day_below(first, last, threshold, AS_OF) {
                        Some(day) => {
                            assert!(day > last && day <= AS_OF, "{day} outside the quiet days");
                            assert!(p(day) < threshold, "P(alive) {} on the day", p(day));
                            assert!(
                                day == last + 1 || p(day - 1) >= threshold,
                                "already below the day before: {}",
                                p(day - 1)
                            );
                        }
                        None => assert!(p(AS_OF) >= threshold, "missed {}", p(AS_OF)),
                    }
                }
            }
        }
    }

    #[test]
    fn a_lapse_the_model_detected_is_dated_when_p_alive_fell_not_when_it_was_seen() {
        // A weekly buyer (50 repeat purchases over a year), quiet for 40 days: only the
        // model says silent, and it has said so for some days already.
        let mut facts = modelled(404, 40, 50);
        facts.median_gap_days = Some(7.0);
        let curve = facts.alive_curve.unwrap();
        let first = AS_OF - 404;
        let verdict = classify(&facts, AS_OF, &Thresholds::default());
        assert_eq!(verdict.stage, Stage::Silent, "{verdict:?}");
        assert!(verdict.reason.starts_with("P(alive)"), "{verdict:?}");
        assert!(verdict.since_day < AS_OF - 1, "{verdict:?}");
        assert!(curve.p_alive_on(first, verdict.since_day).unwrap() < 0.5);
        assert!(curve.p_alive_on(first, verdict.since_day - 1).unwrap() >= 0.5);

        // Silent by the day rule and by the model: whichever held first. Buying every
        // 52 days, the day rule waits 157 days; the model saw it about 140 days after.
        let mut facts = modelled(500, 290, 4);
        facts.median_gap_days = Some(52.5);
        let by_days = AS_OF - 290 + 158;
        let by_model = curve_day(&facts, 0.5);
        assert!(
            by_model < by_days,
            "the model first: {by_model} vs {by_days}"
        );
        let verdict = classify(&facts, AS_OF, &Thresholds::default());
        assert_eq!(verdict.stage, Stage::Silent, "{verdict:?}");
        assert!(verdict.reason.starts_with("no order"), "{verdict:?}");
        assert_eq!(verdict.since_day, by_model);
        // Without a rhythm the 90-day rule held first: never later than it says.
        facts.median_gap_days = None;
        let verdict = classify(&facts, AS_OF, &Thresholds::default());
        assert_eq!(verdict.stage, Stage::Silent, "{verdict:?}");
        assert_eq!(verdict.since_day, AS_OF - 290 + 91);
        assert!(verdict.since_day < by_model);
    }

    /// The first day the facts' curve is below `threshold` by asOf.
    fn curve_day(facts: &Facts, threshold: f64) -> i64 {
        facts
            .alive_curve
            .unwrap()
            .first_day_below(
                facts.first_order_day.unwrap(),
                facts.last_order_day.unwrap(),
                threshold,
                AS_OF,
            )
            .expect("below by asOf")
    }

    #[test]
    fn without_a_curve_a_model_lapse_is_dated_the_day_observed() {
        let mut facts = buyer(400, 30, 50);
        facts.median_gap_days = Some(7.0);
        facts.p_alive = Some(0.3);
        assert_eq!(
            classify(&facts, AS_OF, &Thresholds::default()).since_day,
            AS_OF
        );
    }

    #[test]
    fn thresholds_change_the_verdict() {
        let t = Thresholds {
            silent_days: 20,
            ..Thresholds::default()
        };
        assert_eq!(classify(&buyer(100, 25, 2), AS_OF, &t).stage, Stage::Silent);
    }

    #[test]
    fn invalid_thresholds_name_the_field() {
        let t = Thresholds {
            silent_days: 400,
            silent_p_alive: 1.5,
            new_days: -1,
            ..Thresholds::default()
        };
        let fields: Vec<&str> = t.problems().into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, vec!["newDays", "silentPAlive", "silentDays"]);
        assert!(Thresholds::default().validate().is_ok());
    }

    #[test]
    fn median_gap_of_purchase_days() {
        assert_eq!(median_gap(&[]), None);
        assert_eq!(median_gap(&[5]), None);
        assert_eq!(median_gap(&[0, 10]), Some(10.0));
        assert_eq!(median_gap(&[0, 1, 11, 12]), Some(1.0));
        assert_eq!(median_gap(&[0, 2, 12, 15]), Some(3.0));
        assert_eq!(median_gap(&[0, 4, 6, 16]), Some(4.0));
        assert_eq!(median_gap(&[0, 2, 10, 16, 36]), Some(7.0));
    }
}
