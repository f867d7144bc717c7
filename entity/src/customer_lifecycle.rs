use sea_orm::entity::prelude::*;

/// A customer's current lifecycle stage, written by the `lifecycle` job when it changes.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "customer_lifecycle")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub customer_id: i64,
    pub stage: super::sea_enums::LifecycleStage,
    /// When the customer entered the stage.
    pub since: DateTimeUtc,
    /// Why the rules put the customer there.
    pub reason: String,
    /// The run that set the stage.
    pub job_run_id: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::customer::Entity",
        from = "Column::CustomerId",
        to = "super::customer::Column::Id",
        on_delete = "Cascade"
    )]
    Customer,
}

impl Related<super::customer::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Customer.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
