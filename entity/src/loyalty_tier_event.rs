use sea_orm::entity::prelude::*;

use super::sea_enums::TierChange;

/// A change of a member's tier, or of their grace period (`loyalty_tier_events`).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "loyalty_tier_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub customer_id: i64,
    pub from_tier: Option<String>,
    /// The new tier; for `GRACE_STARTED`, the tier the customer would drop to.
    pub to_tier: Option<String>,
    pub reason: TierChange,
    /// For `GRACE_STARTED`: the day the downgrade happens unless they qualify again.
    pub grace_until: Option<DateTimeUtc>,
    pub occurred_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
