use sea_orm::entity::prelude::*;

/// What the business wants for customers in a stage and how it means to get there.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "lifecycle_playbooks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub stage: super::sea_enums::LifecycleStage,
    pub goal: String,
    pub strategy: String,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
