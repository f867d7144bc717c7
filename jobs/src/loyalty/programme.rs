//! The programme's rules, saved through the API as JSON under [`PROGRAMME_KEY`] in
//! `app_settings`: the tiers and how each is qualified for, how many points an order
//! earns, what a point is worth, when points expire, the bonuses and the grace period
//! before a downgrade. Checked as a whole ([`Programme::problems`]) before it is saved.

use entity::{Money, MoneyTotal};
use rust_decimal::Decimal;
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};

use crate::{DomainResult, Problems};

/// Where the programme is kept.
pub const PROGRAMME_KEY: &str = "loyalty_programme";

/// The most points an order can earn per currency unit, and the places it may have.
pub const MAX_POINTS_PER_UNIT: Decimal = Decimal::from_parts(1000, 0, 0, false, 0);
const POINTS_PER_UNIT_PLACES: u32 = 2;
/// The largest bonus or threshold in points (a bound that keeps sums far from overflow).
pub const MAX_POINTS: i64 = 1_000_000_000;

/// What a tier is qualified on, over the 12 months up to the job's day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Basis {
    /// Money spent (orders' amounts as recorded) in the rolling 12 months.
    #[serde(rename = "SPEND_12M")]
    Spend12m,
    /// Points earned (EARN and BONUS entries) in the rolling 12 months.
    #[serde(rename = "POINTS_12M")]
    Points12m,
}

/// One tier of the programme.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tier {
    pub name: String,
    /// Higher is better; unique.
    pub rank: i32,
    pub basis: Basis,
    /// Money units ([`Money`]) for `SPEND_12M`, points for `POINTS_12M`: the tier is
    /// reached at this value or more.
    pub threshold: i64,
    pub benefits: String,
    /// 0–100.
    pub discount_percent: Decimal,
}

impl Tier {
    /// The threshold as shown: money in the currency's units, or points.
    pub fn threshold_figure(&self) -> Decimal {
        match self.basis {
            Basis::Spend12m => Money(self.threshold).to_decimal(),
            Basis::Points12m => Decimal::from(self.threshold),
        }
    }
}

/// The membership programme.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Programme {
    /// Ordered by rank, lowest first (kept so when saved).
    pub tiers: Vec<Tier>,
    /// Points earned per currency unit of an order's amount (rounded down per order).
    pub points_per_unit: Decimal,
    /// What one point is worth, for the liability of the points outstanding.
    pub point_value: Money,
    /// Points expire this many months after they were earned; 0: never.
    pub expiry_months: u32,
    pub birthday_bonus_points: i64,
    /// Given to the referrer when a customer they referred orders for the first time.
    pub referral_bonus_points: i64,
    /// Days a member keeps a tier they no longer qualify for before moving down.
    pub grace_days: u32,
}

impl Default for Programme {
    /// Bronze (everyone), Silver from 500, Gold from 2,000, Platinum from 5,000 spent in
    /// 12 months; 1 point per unit, a point worth 0.01, expiry after 12 months, 100
    /// points on a birthday, 200 for a referral's first order, 30 days of grace.
    fn default() -> Self {
        let tier = |name: &str, rank, units: i64, benefits: &str, discount: i64| Tier {
            name: name.to_owned(),
            rank,
            basis: Basis::Spend12m,
            threshold: units * 10_000,
            benefits: benefits.to_owned(),
            discount_percent: Decimal::from(discount),
        };
        Self {
            tiers: vec![
                tier("Bronze", 1, 0, "Member prices and birthday points", 0),
                tier("Silver", 2, 500, "5% off and free standard shipping", 5),
                tier(
                    "Gold",
                    3,
                    2_000,
                    "10% off, free express shipping, early access",
                    10,
                ),
                tier(
                    "Platinum",
                    4,
                    5_000,
                    "15% off, free express shipping, a personal adviser",
                    15,
                ),
            ],
            points_per_unit: Decimal::ONE,
            point_value: Money(100),
            expiry_months: 12,
            birthday_bonus_points: 100,
            referral_bonus_points: 200,
            grace_days: 30,
        }
    }
}

impl Programme {
    /// Every problem, as (path below the input, message): `tiers[1].discountPercent`.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if self.tiers.is_empty() {
            problems.push(("tiers".to_owned(), "needs at least one tier".to_owned()));
        }
        if self.tiers.len() > 20 {
            problems.push((
                "tiers".to_owned(),
                format!("at most 20 tiers, got {}", self.tiers.len()),
            ));
        }
        for (i, tier) in self.tiers.iter().enumerate() {
            let field = |name: &str| format!("tiers[{i}].{name}");
            let name = tier.name.trim();
            if name.is_empty() || name.chars().count() > 64 {
                problems.push((field("name"), "must be 1–64 characters".to_owned()));
            } else if self.tiers[..i]
                .iter()
                .any(|other| other.name.trim().eq_ignore_ascii_case(name))
            {
                problems.push((field("name"), format!("`{name}` appears twice")));
            }
            if self.tiers[..i].iter().any(|other| other.rank == tier.rank) {
                problems.push((field("rank"), format!("rank {} appears twice", tier.rank)));
            }
            if tier.threshold < 0 {
                problems.push((field("threshold"), "must not be negative".to_owned()));
            }
            if tier.basis == Basis::Points12m && tier.threshold > MAX_POINTS {
                problems.push((
                    field("threshold"),
                    format!("must be at most {MAX_POINTS} points"),
                ));
            }
            if tier.discount_percent < Decimal::ZERO || tier.discount_percent > Decimal::ONE_HUNDRED
            {
                problems.push((
                    field("discountPercent"),
                    format!("must be 0–100, got {}", tier.discount_percent),
                ));
            }
            if tier.benefits.chars().count() > 2_000 {
                problems.push((field("benefits"), "at most 2000 characters".to_owned()));
            }
        }
        if self.points_per_unit < Decimal::ZERO
            || self.points_per_unit > MAX_POINTS_PER_UNIT
            || self.points_per_unit.normalize().scale() > POINTS_PER_UNIT_PLACES
        {
            problems.push((
                "pointsPerUnit".to_owned(),
                format!(
                    "must be 0–{MAX_POINTS_PER_UNIT} with at most {POINTS_PER_UNIT_PLACES} \
                     decimal places, got {}",
                    self.points_per_unit
                ),
            ));
        }
        if self.point_value < Money::ZERO {
            problems.push(("pointValue".to_owned(), "must not be negative".to_owned()));
        }
        if self.expiry_months > 120 {
            problems.push((
                "expiryMonths".to_owned(),
                format!("must be 0 (never) to 120, got {}", self.expiry_months),
            ));
        }
        for (field, points) in [
            ("birthdayBonusPoints", self.birthday_bonus_points),
            ("referralBonusPoints", self.referral_bonus_points),
        ] {
            if !(0..=MAX_POINTS).contains(&points) {
                problems.push((
                    field.to_owned(),
                    format!("must be 0–{MAX_POINTS}, got {points}"),
                ));
            }
        }
        if self.grace_days > 3_650 {
            problems.push((
                "graceDays".to_owned(),
                format!("must be 0–3650, got {}", self.grace_days),
            ));
        }
        problems
    }

    /// The points-per-unit rate in hundredths of a point: an order of `amount` units
    /// earns `amount × rate / 1_000_000` points (amounts are ten-thousandths), rounded
    /// down, which both databases compute exactly in `BIGINT` (at most 10¹³ × 10⁵).
    pub fn rate_hundredths(&self) -> i64 {
        (self.points_per_unit * Decimal::ONE_HUNDRED)
            .trunc()
            .try_into()
            .unwrap_or(0)
    }

    /// The SQL of the points an order earns, [`Programme::points_for`]: `amount` split
    /// at 10⁶ units so that no product passes `BIGINT` whatever the stored amount
    /// (amounts recorded before they were bounded reach 9.2 × 10¹⁸), exact for amounts
    /// that are not negative. `rate` is the bound [`Programme::rate_hundredths`].
    pub fn points_sql(amount: &str, rate: &str) -> String {
        format!("(({amount} / 1000000) * {rate} + (({amount} % 1000000) * {rate}) / 1000000)")
    }

    /// The points an order of `amount` earns (the formula of the earn statement).
    pub fn points_for(&self, amount: Money) -> i64 {
        let points = i128::from(amount.0) * i128::from(self.rate_hundredths()) / 1_000_000;
        i64::try_from(points).unwrap_or(i64::MAX)
    }

    /// Tiers by rank, lowest first.
    pub fn ranked(&self) -> Vec<&Tier> {
        let mut tiers: Vec<&Tier> = self.tiers.iter().collect();
        tiers.sort_by_key(|tier| tier.rank);
        tiers
    }

    /// What the tiers qualify on, each basis once.
    pub fn bases(&self) -> Vec<Basis> {
        let mut bases: Vec<Basis> = Vec::new();
        for tier in &self.tiers {
            if !bases.contains(&tier.basis) {
                bases.push(tier.basis);
            }
        }
        bases
    }

    pub fn tier(&self, name: &str) -> Option<&Tier> {
        self.tiers.iter().find(|tier| tier.name == name)
    }

    /// The tier ranked next above `current` (the lowest tier when there is none).
    pub fn next_tier(&self, current: Option<&str>) -> Option<&Tier> {
        let rank = current
            .and_then(|name| self.tier(name))
            .map(|tier| tier.rank);
        self.ranked()
            .into_iter()
            .find(|tier| rank.is_none_or(|rank| tier.rank > rank))
    }

    /// The liability of `points`: what they are worth, exactly.
    pub fn liability(&self, points: i64) -> MoneyTotal {
        MoneyTotal(i128::from(points) * i128::from(self.point_value.0))
    }
}

/// The programme in force: the saved one, else the defaults.
pub async fn programme(db: &impl ConnectionTrait) -> anyhow::Result<Programme> {
    Ok(crate::app_settings::load(db, PROGRAMME_KEY)
        .await?
        .unwrap_or_default())
}

/// Replaces the programme; refused with every problem (`input.<field>`) when invalid.
/// Tier names are trimmed and the tiers kept by rank.
pub async fn update_programme(
    db: &impl ConnectionTrait,
    mut programme: Programme,
) -> DomainResult<Programme> {
    let mut problems = Problems::new();
    for (field, message) in programme.problems() {
        problems.push(None, format!("input.{field}"), message);
    }
    problems.into_result()?;
    for tier in &mut programme.tiers {
        tier.name = tier.name.trim().to_owned();
    }
    programme.tiers.sort_by_key(|tier| tier.rank);
    crate::app_settings::save(db, PROGRAMME_KEY, &programme).await?;
    Ok(programme)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_ranked() {
        let programme = Programme::default();
        assert_eq!(programme.problems(), Vec::<(String, String)>::new());
        let names: Vec<&str> = programme.ranked().iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["Bronze", "Silver", "Gold", "Platinum"]);
        assert_eq!(programme.next_tier(None).unwrap().name, "Bronze");
        assert_eq!(programme.next_tier(Some("Gold")).unwrap().name, "Platinum");
        assert!(programme.next_tier(Some("Platinum")).is_none());
    }

    #[test]
    fn points_are_rounded_down_per_order() {
        let mut programme = Programme {
            points_per_unit: Decimal::new(15, 1),
            ..Programme::default()
        };
        // 29.90 × 1.5 = 44.85 → 44.
        assert_eq!(programme.points_for(Money(299_000)), 44);
        programme.points_per_unit = Decimal::new(1, 2);
        // 99.99 × 0.01 = 0.9999 → 0.
        assert_eq!(programme.points_for(Money(999_900)), 0);
        programme.points_per_unit = MAX_POINTS_PER_UNIT;
        assert_eq!(
            programme.points_for(Money(1_000_000_000 * 10_000)),
            1_000_000_000_000
        );
    }

    #[test]
    fn every_problem_names_its_field() {
        let mut programme = Programme::default();
        programme.tiers[1].discount_percent = Decimal::from(101);
        programme.tiers[2].name = "silver ".into();
        programme.tiers[3].rank = 1;
        programme.points_per_unit = Decimal::new(1234, 3);
        programme.birthday_bonus_points = -1;
        let fields: Vec<String> = programme.problems().into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            [
                "tiers[1].discountPercent",
                "tiers[2].name",
                "tiers[3].rank",
                "pointsPerUnit",
                "birthdayBonusPoints"
            ]
        );
    }
}
