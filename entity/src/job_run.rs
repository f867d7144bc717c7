use sea_orm::entity::prelude::*;

use crate::JobName;

/// One run of one job, however it was started (schedule, command line, GraphQL).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "job_runs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: JobName,
    pub status: JobStatus,
    pub started_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
    /// The last day the run observed.
    pub as_of: Date,
    /// What the run reports (counts, timings, model diagnostics) as a JSON object.
    pub stats: Option<String>,
    /// Why the run failed, with its cause chain.
    pub error: Option<String>,
}

/// Where a run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum JobStatus {
    #[sea_orm(string_value = "RUNNING")]
    Running,
    #[sea_orm(string_value = "SUCCEEDED")]
    Succeeded,
    #[sea_orm(string_value = "FAILED")]
    Failed,
    /// The process running it stopped without recording an end (killed, crashed): its
    /// heartbeat expired.
    #[sea_orm(string_value = "ABANDONED")]
    Abandoned,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
