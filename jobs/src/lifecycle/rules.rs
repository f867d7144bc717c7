//! The stage rules: pure functions from what is known about a customer at asOf to the
//! stage they are in and why. No I/O, so every rule is tested without a database.

use serde::{Deserialize, Serialize};

/// Where a customer is in their life with the business.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Stage {
    Prospect,
    New,
    Active,
    Loyal,
    Silent,
    Churned,
}

impl Stage {
    pub const ALL: [Stage; 6] = [
        Stage::Prospect,
        Stage::New,
        Stage::Active,
        Stage::Loyal,
        Stage::Silent,
        Stage::Churned,
    ];

    /// The stored (and GraphQL) name.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Prospect => "PROSPECT",
            Stage::New => "NEW",
            Stage::Active => "ACTIVE",
            Stage::Loyal => "LOYAL",
            Stage::Silent => "SILENT",
            Stage::Churned => "CHURNED",
        }
    }

    pub fn parse(name: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Silent and churned customers are the ones a new order brings back.
    pub fn is_lapsed(self) -> bool {
        matches!(self, Stage::Silent | Stage::Churned)
    }
}

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
    pub high_value: bool,
}

/// A stage, the reason the rules give for it, and their estimate of the day (number) it
/// began: the day a limit passed or an order was placed when that is what decided, else
/// the day observed. The caller keeps it within the previous stage and asOf.
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
    if quiet >= t.churned_days {
        return verdict(
            Stage::Churned,
            format!(
                "no order for {quiet} days (churned after {})",
                t.churned_days
            ),
            last + t.churned_days,
        );
    }
    if let Some(p) = facts.p_alive.filter(|p| *p < t.churned_p_alive) {
        return verdict(
            Stage::Churned,
            format!("P(alive) {p:.2} below {}", t.churned_p_alive),
            as_of,
        );
    }
    let rhythm = facts.median_gap_days.map(|gap| t.silent_factor * gap);
    let limit = rhythm.map_or(t.silent_days as f64, |r| r.max(t.silent_days as f64));
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
            last + limit.floor() as i64 + 1,
        );
    }
    if let Some(p) = facts.p_alive.filter(|p| *p < t.silent_p_alive) {
        return verdict(
            Stage::Silent,
            format!("P(alive) {p:.2} below {}", t.silent_p_alive),
            as_of,
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
