use sea_orm::entity::prelude::*;

/// A customer entering (`ENTERED`) or leaving (`EXITED`) a segment, so campaigns can act
/// on entry.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "segment_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub segment_id: i64,
    pub customer_id: i64,
    pub kind: super::sea_enums::ChangeKind,
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
