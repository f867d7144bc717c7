use sea_orm::entity::prelude::*;

use crate::{FeedbackKind, InteractionChannel};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "feedback")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub customer_id: i64,
    pub kind: FeedbackKind,
    /// NPS 0–10 or CSAT 1–5, checked on the way in.
    pub score: i32,
    pub comment: Option<String>,
    /// Where the answer came from; null when not recorded (and before migration 15).
    pub channel: Option<InteractionChannel>,
    pub occurred_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::customer::Entity",
        from = "Column::CustomerId",
        to = "super::customer::Column::Id"
    )]
    Customer,
}

impl ActiveModelBehavior for ActiveModel {}
