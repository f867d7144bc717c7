//! Tiers: which tier a member qualifies for, and the grace rule. Moving up happens at
//! once; when a member qualifies only for a lower tier a grace period starts, and the
//! downgrade happens when it has passed unless they qualified again in the meantime.
//! Pure: the job reads the standings and applies the changes.

use chrono::{DateTime, Days, NaiveDate, Utc};
use entity::{Money, TierChange};
use rust_decimal::Decimal;

use super::programme::{Basis, Programme, Tier};

/// What a member's tier is measured on: the 12 months up to the day.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Standing {
    pub spend_12m: Money,
    /// EARN and BONUS points in the 12 months.
    pub points_12m: i64,
}

impl Standing {
    fn value(&self, basis: Basis) -> i64 {
        match basis {
            Basis::Spend12m => self.spend_12m.0,
            Basis::Points12m => self.points_12m,
        }
    }

    /// What is missing to reach `tier`, in its basis (money or points); 0 when reached.
    pub fn to_reach(&self, tier: &Tier) -> Decimal {
        let missing = (tier.threshold - self.value(tier.basis)).max(0);
        match tier.basis {
            Basis::Spend12m => Money(missing).to_decimal(),
            Basis::Points12m => Decimal::from(missing),
        }
    }
}

/// The highest-ranked tier the standing reaches.
pub fn qualified<'p>(programme: &'p Programme, standing: &Standing) -> Option<&'p Tier> {
    programme
        .ranked()
        .into_iter()
        .rev()
        .find(|tier| standing.value(tier.basis) >= tier.threshold)
}

/// A member's tier as kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Current {
    pub tier: Option<String>,
    pub grace_until: Option<DateTime<Utc>>,
}

/// What the day changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub reason: TierChange,
    pub from: Option<String>,
    /// The tier after the change; for `GRACE_STARTED`, the one the member would drop to.
    pub to: Option<String>,
    /// The kept tier after the change.
    pub tier: Option<String>,
    /// Whether `tier_since` becomes the day.
    pub new_since: bool,
    pub grace_until: Option<DateTime<Utc>>,
}

/// The change of `day` for a member, if any. A tier no longer in the programme ranks
/// below every tier (the member moves to what they qualify for).
pub fn decide(
    programme: &Programme,
    current: &Current,
    standing: &Standing,
    day: NaiveDate,
) -> Option<Change> {
    let target = qualified(programme, standing);
    let rank_of = |name: Option<&str>| -> Option<i64> {
        name.map(|name| programme.tier(name).map_or(i64::MIN, |t| i64::from(t.rank)))
    };
    let current_rank = rank_of(current.tier.as_deref());
    let target_rank = target.map(|tier| i64::from(tier.rank));
    let target_name = target.map(|tier| tier.name.clone());
    let day_start = crate::day_start(day);
    if target_rank > current_rank {
        return Some(Change {
            reason: TierChange::Upgrade,
            from: current.tier.clone(),
            to: target_name.clone(),
            tier: target_name,
            new_since: true,
            grace_until: None,
        });
    }
    if target_rank == current_rank {
        return current.grace_until.map(|_| Change {
            reason: TierChange::Requalified,
            from: current.tier.clone(),
            to: current.tier.clone(),
            tier: current.tier.clone(),
            new_since: false,
            grace_until: None,
        });
    }
    match current.grace_until {
        Some(until) if day_start < until => None,
        None if programme.grace_days > 0 => {
            let until = day
                .checked_add_days(Days::new(u64::from(programme.grace_days)))
                .map(crate::day_start);
            Some(Change {
                reason: TierChange::GraceStarted,
                from: current.tier.clone(),
                to: target_name,
                tier: current.tier.clone(),
                new_since: false,
                grace_until: until,
            })
        }
        _ => Some(Change {
            reason: TierChange::Downgrade,
            from: current.tier.clone(),
            to: target_name.clone(),
            tier: target_name,
            new_since: true,
            grace_until: None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spent(units: i64) -> Standing {
        Standing {
            spend_12m: Money(units * 10_000),
            points_12m: 0,
        }
    }

    fn at(tier: &str, grace_until: Option<NaiveDate>) -> Current {
        Current {
            tier: Some(tier.to_owned()),
            grace_until: grace_until.map(crate::day_start),
        }
    }

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, d).unwrap()
    }

    #[test]
    fn the_highest_reached_tier_qualifies() {
        let programme = Programme::default();
        assert_eq!(qualified(&programme, &spent(0)).unwrap().name, "Bronze");
        assert_eq!(qualified(&programme, &spent(499)).unwrap().name, "Bronze");
        assert_eq!(qualified(&programme, &spent(500)).unwrap().name, "Silver");
        assert_eq!(
            qualified(&programme, &spent(9_999)).unwrap().name,
            "Platinum"
        );
        assert_eq!(
            spent(1_200).to_reach(programme.tier("Gold").unwrap()),
            Decimal::from(800)
        );
    }

    #[test]
    fn upgrades_are_immediate_and_downgrades_wait_for_grace() {
        let programme = Programme::default(); // 30 days of grace
        let up = decide(&programme, &at("Bronze", None), &spent(2_500), day(1)).unwrap();
        assert_eq!(
            (up.reason, up.tier.as_deref(), up.new_since),
            (TierChange::Upgrade, Some("Gold"), true)
        );
        assert_eq!(
            decide(&programme, &at("Gold", None), &spent(2_500), day(1)),
            None
        );

        let grace = decide(&programme, &at("Gold", None), &spent(600), day(1)).unwrap();
        assert_eq!(grace.reason, TierChange::GraceStarted);
        assert_eq!(
            (grace.tier.as_deref(), grace.to.as_deref()),
            (Some("Gold"), Some("Silver"))
        );
        assert_eq!(grace.grace_until, Some(crate::day_start(day(31))));
        // Still in grace the day before it ends.
        assert_eq!(
            decide(&programme, &at("Gold", Some(day(31))), &spent(600), day(30)),
            None
        );
        let down = decide(&programme, &at("Gold", Some(day(31))), &spent(600), day(31)).unwrap();
        assert_eq!(
            (down.reason, down.tier.as_deref(), down.grace_until),
            (TierChange::Downgrade, Some("Silver"), None)
        );
        // Qualifying again during grace ends it.
        let back = decide(
            &programme,
            &at("Gold", Some(day(31))),
            &spent(2_000),
            day(20),
        )
        .unwrap();
        assert_eq!(
            (back.reason, back.tier.as_deref(), back.grace_until),
            (TierChange::Requalified, Some("Gold"), None)
        );
    }

    #[test]
    fn without_grace_a_downgrade_is_immediate() {
        let programme = Programme {
            grace_days: 0,
            ..Programme::default()
        };
        let down = decide(&programme, &at("Gold", None), &spent(10), day(1)).unwrap();
        assert_eq!(
            (down.reason, down.tier.as_deref()),
            (TierChange::Downgrade, Some("Bronze"))
        );
    }

    #[test]
    fn a_first_evaluation_and_a_removed_tier_move_to_the_qualified_tier() {
        let programme = Programme::default();
        let first = decide(
            &programme,
            &Current {
                tier: None,
                grace_until: None,
            },
            &spent(0),
            day(1),
        )
        .unwrap();
        assert_eq!(
            (first.reason, first.tier.as_deref()),
            (TierChange::Upgrade, Some("Bronze"))
        );
        let gone = decide(&programme, &at("Diamond", None), &spent(600), day(1)).unwrap();
        assert_eq!(
            (gone.reason, gone.tier.as_deref()),
            (TierChange::Upgrade, Some("Silver"))
        );
    }
}
