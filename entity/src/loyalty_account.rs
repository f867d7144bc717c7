use sea_orm::entity::prelude::*;

/// A member of the loyalty programme: the kept points balance (the sum of the ledger,
/// never negative) and the tier the `loyalty` job gave them.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "loyalty_accounts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub customer_id: i64,
    pub balance: i64,
    /// The tier's name in the programme; None until the first evaluation (or when the
    /// customer qualifies for no tier).
    pub tier: Option<String>,
    pub tier_since: Option<DateTimeUtc>,
    /// Set while the customer qualifies only for a lower tier: the downgrade happens on
    /// this day unless they qualify again before it.
    pub grace_until: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
