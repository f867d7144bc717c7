use sea_orm::entity::prelude::*;

/// A change of a customer's lifecycle stage. Appended by the `lifecycle` job, never
/// updated except to attribute a reactivation to a win-back email.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "lifecycle_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub customer_id: i64,
    /// None for a customer's first classification.
    pub from_stage: Option<super::sea_enums::LifecycleStage>,
    pub to_stage: super::sea_enums::LifecycleStage,
    /// When the change took effect (at the latest, the asOf day of the run that saw it).
    pub at: DateTimeUtc,
    pub reason: String,
    /// A silent or churned customer ordering again.
    pub reactivation: bool,
    pub job_run_id: i64,
    /// The win-back email the reactivation is attributed to.
    pub win_back_email_id: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
