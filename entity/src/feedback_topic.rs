use sea_orm::entity::prelude::*;

use crate::TopicSource;

/// One topic of one answer. An answer's topics are its tags when it was sent with some,
/// else the terms extracted from its comment (never both). `customer_id` leads the key so
/// the table distributes by customer.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "feedback_topics")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub customer_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub feedback_id: i64,
    /// Lower-case, at most 64 characters.
    #[sea_orm(primary_key, auto_increment = false)]
    pub topic: String,
    pub source: TopicSource,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
