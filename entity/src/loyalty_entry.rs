use sea_orm::entity::prelude::*;

use super::sea_enums::LedgerKind;

/// One entry of the points ledger (`loyalty_ledger`), with its cause for audit.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "loyalty_ledger")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub customer_id: i64,
    pub kind: LedgerKind,
    /// Signed: positive for EARN, BONUS and positive ADJUST (a lot), negative otherwise.
    pub points: i64,
    /// Of a positive lot: the points not consumed yet. 0 for negative entries.
    pub remaining: i64,
    /// The earn time of a lot (an order's `orderedAt`), the time of any other entry.
    pub occurred_at: DateTimeUtc,
    /// The order an EARN is for.
    pub order_id: Option<i64>,
    /// The email a bonus or redemption came through, when there was one.
    pub email_id: Option<i64>,
    /// The API key that redeemed or adjusted.
    pub api_key_id: Option<i64>,
    /// Why (free text of an adjustment or redemption).
    pub reason: Option<String>,
    /// Unique per customer: what makes a cause count once (`order:<id>`, `birthday:<year>`,
    /// `referral:<customer id>`, `expire:<day>`, a client's idempotency key).
    pub cause_key: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
