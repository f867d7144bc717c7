//! Everything clientele computes or sends on a schedule. Each job is a plain
//! `async fn(&JobContext, JobParams) -> anyhow::Result<JobStats>` so that the scheduler,
//! `clientele run-job` and the GraphQL `runJob` mutation all run the same code.
//!
//! For now this crate holds the scheduler skeleton; the value, lifecycle, segment and
//! campaign jobs arrive with their issues.

/// tokio-cron-scheduler wiring: start and stop.
pub mod scheduler;

use chrono::NaiveDate;
use sea_orm::DatabaseConnection;

/// What every job may use.
#[derive(Clone)]
pub struct JobContext {
    pub db: DatabaseConnection,
}

/// How a job is asked to run.
#[derive(Clone, Debug, Default)]
pub struct JobParams {
    /// The last day observed; today when absent.
    pub as_of: Option<NaiveDate>,
}

/// What a finished run reports (counts, timings, model diagnostics), as JSON.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct JobStats(pub serde_json::Map<String, serde_json::Value>);

pub use scheduler::Scheduler;
