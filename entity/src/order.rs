use sea_orm::entity::prelude::*;

use crate::Money;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "orders")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The partner's key; recording an order with a known key again changes nothing.
    #[sea_orm(unique)]
    pub external_id: String,
    pub customer_id: i64,
    pub amount: Money,
    /// ISO 4217, upper case.
    pub currency: String,
    pub ordered_at: DateTimeUtc,
    pub channel: Option<String>,
    pub item_count: i32,
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

impl Related<super::customer::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Customer.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
