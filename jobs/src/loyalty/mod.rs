//! The membership programme: a points ledger per member (EARN from orders exactly once,
//! BONUS for birthdays and referrals, REDEEM, ADJUST by an admin with a reason, EXPIRE
//! oldest lots first), the kept balance that is never negative, tiers qualified on
//! rolling 12-month spend or points with a grace period before a downgrade, and the
//! daily `loyalty` job.
//!
//! Tables: `loyalty_accounts`, `loyalty_ledger`, `loyalty_tier_events` (migration 20);
//! the programme is a setting (`app_settings`, [`programme::PROGRAMME_KEY`]).

/// The daily job: catch-up earning, birthday bonuses, expiries, tiers.
pub mod job;
/// Ledger writes: earning, bonuses (the referral hook), redemptions, adjustments.
pub mod ledger;
/// The FIFO rule of consuming lots.
pub mod lots;
/// The programme's settings and their validation.
pub mod programme;
/// Reads for the API: accounts, standings, expiring points, the summary.
pub mod reports;
/// Tier qualification and the grace rule.
pub mod tiers;

use entity::{loyalty_entry, loyalty_tier_event};

pub use job::run;
pub use ledger::{
    Adjustment, Bonus, Debit, adjust, award_bonuses, earn_orders_of, redeem, referral_bonus,
};
pub use programme::{Basis, Programme, Tier, programme, update_programme};
pub use reports::{Summary, accounts_of, expiring_points_of, standings_of, summary};
pub use tiers::Standing;

/// A member's ledger, newest first, a page for many members at once.
impl crate::customers::children::CustomerChild for loyalty_entry::Entity {
    fn customer_id() -> Self::Column {
        loyalty_entry::Column::CustomerId
    }
    fn occurred_at() -> Self::Column {
        loyalty_entry::Column::OccurredAt
    }
    fn id() -> Self::Column {
        loyalty_entry::Column::Id
    }
}

/// A member's tier history, newest first.
impl crate::customers::children::CustomerChild for loyalty_tier_event::Entity {
    fn customer_id() -> Self::Column {
        loyalty_tier_event::Column::CustomerId
    }
    fn occurred_at() -> Self::Column {
        loyalty_tier_event::Column::OccurredAt
    }
    fn id() -> Self::Column {
        loyalty_tier_event::Column::Id
    }
}
