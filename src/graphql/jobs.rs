//! Jobs through the API: `runJob` and the run history.

use anyhow::Context as _;
use async_graphql::{
    Context, Enum, Json, Object, Result, connection::Edge, dataloader::DataLoader,
};
use chrono::{DateTime, Utc};
use entity::job_run;
use futures::FutureExt;
use jobs::{JobContext, JobName, JobParams, runs};

use crate::api_keys::Scope;
use crate::graphql::{
    errors::{IntoApi, OrInternal, bad_input},
    guards::RequireScope,
    loaders::LatestRunLoader,
    pagination::{CountedConnection, Page, TotalCount, encode_cursor},
    scalars::Date,
};

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "entity::job_run::JobStatus")]
pub enum JobStatus {
    Running,
    Succeeded,
    Failed,
    /// The process running it stopped (killed, crashed) before recording an end.
    Abandoned,
}

/// One run of a job.
pub struct JobRun(pub job_run::Model);

#[Object]
impl JobRun {
    async fn id(&self) -> async_graphql::ID {
        async_graphql::ID(self.0.id.to_string())
    }
    async fn name(&self) -> &str {
        self.0.name.as_str()
    }
    async fn status(&self) -> JobStatus {
        self.0.status.into()
    }
    async fn started_at(&self) -> DateTime<Utc> {
        self.0.started_at
    }
    async fn finished_at(&self) -> Option<DateTime<Utc>> {
        self.0.finished_at
    }
    /// The last day the run observed.
    async fn as_of(&self) -> Date {
        Date(self.0.as_of)
    }
    /// What the run reported: counts, timings, model convergence.
    async fn stats(&self) -> Option<Json<serde_json::Value>> {
        self.0
            .stats
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
            .map(Json)
    }
    /// Why the run failed.
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }
}

/// A job clientele runs on a schedule.
pub struct Job {
    name: JobName,
    schedules: jobs::SchedulerSettings,
}

#[Object]
impl Job {
    async fn name(&self) -> &str {
        self.name.as_str()
    }
    /// Six-field cron expression, seconds first.
    async fn schedule(&self) -> &str {
        self.schedules.schedule(self.name)
    }
    /// The IANA time zone the schedule is read in.
    async fn time_zone(&self) -> &str {
        self.schedules.time_zone_of(self.name)
    }
    /// The next scheduled run (by the schedule; a process started with
    /// `--no-scheduler` runs none itself).
    async fn next_run_at(&self) -> Option<DateTime<Utc>> {
        self.schedules.next_run(self.name, Utc::now())
    }
    /// The most recent run, however it was started.
    async fn last_run(&self, ctx: &Context<'_>) -> Result<Option<JobRun>> {
        let loader = ctx.data::<DataLoader<LatestRunLoader>>()?;
        Ok(loader.load_one(self.name).await?.map(JobRun))
    }
}

#[derive(Default)]
pub struct JobQuery;

#[Object]
impl JobQuery {
    /// Every job with its schedule, next run and last run.
    #[graphql(guard = "RequireScope(Scope::JobsRun)")]
    async fn jobs(&self, ctx: &Context<'_>) -> Result<Vec<Job>> {
        let context = ctx.data::<JobContext>()?;
        let schedules = ctx
            .data::<jobs::SchedulerSettings>()?
            .effective(&context.db)
            .await
            .context("failed to load the schedules")
            .or_internal()?;
        Ok(JobName::ALL
            .into_iter()
            .map(|name| Job {
                name,
                schedules: schedules.clone(),
            })
            .collect())
    }

    /// Runs of every job (or of one), newest first.
    #[graphql(guard = "RequireScope(Scope::JobsRun)")]
    async fn job_runs(
        &self,
        ctx: &Context<'_>,
        name: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<CountedConnection<JobRun>> {
        let context = ctx.data::<JobContext>()?;
        let page = Page::<i64>::forward(first, after)?;
        let db = context.db.clone();
        let counted_name = name.clone();
        let total = TotalCount::new(move || {
            let (db, name) = (db.clone(), counted_name.clone());
            async move { runs::count(&db, name.as_deref()).await.into_api() }.boxed()
        });
        let rows = runs::page(
            &context.db,
            name.as_deref(),
            page.cursor,
            page.fetch_limit(),
        )
        .await
        .into_api()?;
        let (rows, has_previous, has_next) = page.finish(rows);
        let mut connection =
            CountedConnection::with_additional_fields(has_previous, has_next, total);
        connection.edges.extend(
            rows.into_iter()
                .map(|run| Edge::new(encode_cursor(&run.id), JobRun(run))),
        );
        Ok(connection)
    }
}

#[derive(Default)]
pub struct JobMutation;

#[Object]
impl JobMutation {
    /// Changes when a job runs: a six-field cron expression (seconds first) and, when
    /// given, the IANA time zone it is read in (else the scheduler's). Every running
    /// scheduler picks the change up within 30 seconds. Admin only.
    #[graphql(guard = "RequireScope(Scope::Admin)")]
    async fn update_job_schedule(
        &self,
        ctx: &Context<'_>,
        name: String,
        schedule: String,
        time_zone: Option<String>,
    ) -> Result<Job> {
        let context = ctx.data::<JobContext>()?;
        let job = JobName::parse(&name).map_err(|message| bad_input("name", message))?;
        let schedules = ctx
            .data::<jobs::SchedulerSettings>()?
            .update_schedule(&context.db, job, &schedule, time_zone.as_deref())
            .await
            .into_api()?;
        Ok(Job {
            name: job,
            schedules,
        })
    }

    /// Runs a job now. `asOf` is the last day observed (orders after it are ignored;
    /// default today). With `wait` (the default) the finished run comes back; without,
    /// the run comes back `RUNNING` and `jobRuns` shows how it ends.
    #[graphql(guard = "RequireScope(Scope::JobsRun)")]
    async fn run_job(
        &self,
        ctx: &Context<'_>,
        name: String,
        as_of: Option<Date>,
        #[graphql(
            desc = "The moment time-of-day jobs (campaigns, email-dispatch, marketer-digest) act at; now when absent."
        )]
        at: Option<chrono::DateTime<chrono::Utc>>,
        #[graphql(default = true)] wait: bool,
    ) -> Result<JobRun> {
        let context = ctx.data::<JobContext>()?;
        let job = JobName::parse(&name).map_err(|message| bad_input("name", message))?;
        let params = JobParams {
            as_of: as_of.map(|d| d.0),
            at,
        };
        let run = runs::start(context, job, params, wait)
            .await
            .context("failed to run the job")
            .or_internal()?;
        Ok(JobRun(run))
    }
}
