use sea_orm::entity::prelude::*;

/// A group of customers: dynamic (a rule, membership refreshed by the `segments` job) or
/// static (members added and removed by hand).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "segments")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub kind: super::sea_enums::SegmentKind,
    /// The rule as JSON (`jobs::segments::rule::Rule`); null for static segments.
    pub rule: Option<String>,
    pub goal: Option<String>,
    pub strategy: Option<String>,
    pub owner: Option<String>,
    /// Members at the last refresh or change.
    pub size: i64,
    pub refreshed_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
