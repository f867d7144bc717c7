//! Running a job by name and recording the run: every run, however started, leaves a
//! `job_runs` row with its status, what it reported and, when it failed, why.

use std::collections::HashMap;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use entity::job_run::{self, JobStatus};
use entity::sql::nth_placeholder as p;
use sea_orm::{
    ActiveEnum, ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Statement,
    sea_query::{Expr, ExprTrait, Func, Query},
};

use crate::{DomainResult, JobContext, JobParams, JobStats, leases::Lease};

use entity::JobName;

/// The day a run observes: the given one, else the day of `at`, else today (UTC).
pub fn resolve_as_of(params: &JobParams) -> NaiveDate {
    params
        .as_of
        .or(params.at.map(|at| at.date_naive()))
        .unwrap_or_else(|| Utc::now().date_naive())
}

/// The moment a time-of-day job acts at: `at`; else asOf at the current time of day (so
/// `run-job campaigns --as-of 2027-02-28` greets that day's birthdays); else now.
pub fn resolve_now(params: &JobParams) -> DateTime<Utc> {
    // Whole milliseconds, which both databases keep exactly: a time stored from `now`
    // then compares equal to `now` (PostgreSQL would drop nanoseconds, SQLite keep them).
    let now = chrono::DurationRound::duration_trunc(Utc::now(), chrono::TimeDelta::milliseconds(1))
        .unwrap_or_else(|_| Utc::now());
    match (params.at, params.as_of) {
        (Some(at), _) => at,
        (None, Some(day)) => day.and_time(now.time()).and_utc(),
        (None, None) => now,
    }
}

/// Records the start of a run, with a heartbeat of the default length.
pub async fn begin(
    context: &JobContext,
    job: JobName,
    params: &JobParams,
) -> anyhow::Result<job_run::Model> {
    begin_with(context, job, params, Heartbeat::default()).await
}

/// Records the start of a run whose heartbeat lasts `heartbeat.lasting`.
async fn begin_with(
    context: &JobContext,
    job: JobName,
    params: &JobParams,
    heartbeat: Heartbeat,
) -> anyhow::Result<job_run::Model> {
    let run = job_run::ActiveModel {
        name: Set(job),
        status: Set(JobStatus::Running),
        started_at: Set(Utc::now()),
        as_of: Set(resolve_as_of(params)),
        ..Default::default()
    }
    .insert(&context.db)
    .await
    .context("failed to record the start of a job run")?;
    beat(&context.db, run.id, Utc::now(), heartbeat.lasting).await?;
    tracing::info!(job = %job.as_str(), run_id = run.id, as_of = %run.as_of, "job started");
    Ok(run)
}

/// Runs the job of a begun run to its end and records the outcome. A job that fails —
/// or panics — is recorded as `FAILED` with its cause chain; the error is not returned,
/// since the run record is where failures are reported.
pub async fn complete(
    context: &JobContext,
    run: job_run::Model,
    job: JobName,
    params: JobParams,
) -> anyhow::Result<job_run::Model> {
    complete_with(context, run, job, params, Heartbeat::default(), None).await
}

/// [`complete`], renewing the heartbeat as `heartbeat` says and, for a scheduled run,
/// the tick's `lease` with it.
async fn complete_with(
    context: &JobContext,
    run: job_run::Model,
    job: JobName,
    params: JobParams,
    heartbeat: Heartbeat,
    lease: Option<Lease>,
) -> anyhow::Result<job_run::Model> {
    let task_context = context.clone();
    let run_id = run.id;
    // The heartbeat says this process is still at it; should the process die, the run is
    // closed as ABANDONED once its heartbeat expires ([`close_abandoned`]). The tick's
    // lease is renewed by the same beat: it lives as long as the run, and lapses as soon
    // as the heartbeat does when the process dies.
    let beat_db = context.db.clone();
    let beating = tokio::spawn(async move {
        let mut lease = lease;
        loop {
            tokio::time::sleep(heartbeat.every).await;
            let now = Utc::now();
            if let Err(error) = beat(&beat_db, run_id, now, heartbeat.lasting).await {
                tracing::warn!(run_id, error.cause_chain = ?error, "cannot renew a run's heartbeat");
            }
            let Some(held) = &lease else { continue };
            match held.renew(&beat_db, now, heartbeat.lasting).await {
                Ok(true) => {}
                // Renewals failed for longer than the lease lasts and another process took
                // a later tick: the two runs may now overlap. Nothing here can stop the
                // other one; say so, once.
                Ok(false) => {
                    tracing::error!(
                        job = job.as_str(),
                        run_id,
                        tick = %held.tick,
                        "the run's tick lease lapsed and was taken: a later tick may run alongside it"
                    );
                    lease = None;
                }
                Err(error) => {
                    tracing::warn!(run_id, error.cause_chain = ?error, "cannot renew a run's tick lease")
                }
            }
        }
    });
    let outcome =
        tokio::spawn(async move { execute(&task_context, job, run_id, params).await }).await;
    beating.abort();
    let (status, stats, error) = match outcome {
        Ok(Ok(stats)) => (JobStatus::Succeeded, Some(stats), None),
        Ok(Err(error)) => {
            tracing::error!(job = job.as_str(), run_id, error.cause_chain = ?error, "job failed");
            (JobStatus::Failed, None, Some(format!("{error:#}")))
        }
        Err(join_error) => {
            tracing::error!(job = job.as_str(), run_id, %join_error, "job panicked");
            (
                JobStatus::Failed,
                None,
                Some(format!("the job stopped unexpectedly: {join_error}")),
            )
        }
    };
    let finished_at = Utc::now();
    let duration_ms = (finished_at - run.started_at).num_milliseconds();
    let stats = stats.map(|s| serde_json::Value::Object(s.0).to_string());
    let mut record = run.into_active_model();
    record.status = Set(status);
    record.finished_at = Set(Some(finished_at));
    record.stats = Set(stats.clone());
    record.error = Set(error);
    let record = record
        .update(&context.db)
        .await
        .context("failed to record the end of a job run")?;
    forget_heartbeat(&context.db, run_id).await?;
    // Every run, however started, says how it went in one line (the failure's cause was
    // logged above).
    tracing::info!(
        job = %job.as_str(),
        run_id,
        status = %status.to_value(),
        duration_ms,
        stats = %stats.as_deref().unwrap_or("{}"),
        "job finished"
    );
    Ok(record)
}

/// How often a running job renews its heartbeat, by default.
pub const HEARTBEAT_EVERY: std::time::Duration = std::time::Duration::from_secs(30);
/// How long a heartbeat lasts by default: a run whose process has not renewed it for this
/// long is closed as `ABANDONED`, and its tick lease has lapsed.
pub const HEARTBEAT_LEASE: chrono::Duration = chrono::Duration::minutes(2);

/// How a run says that its process is still at it: renewed every `every`, each renewal
/// lasting `lasting` (several `every`s, so that a late or failed renewal is not a death).
/// The scheduler's come from its settings; `runJob` and `run-job` use the defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heartbeat {
    pub every: std::time::Duration,
    pub lasting: chrono::Duration,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Self {
            every: HEARTBEAT_EVERY,
            lasting: HEARTBEAT_LEASE,
        }
    }
}

/// Heartbeats are kept as lease rows named `run:<id>` (no schema change needed).
const HEARTBEAT_PREFIX: &str = "run:";

/// Renews the heartbeat of run `run_id` until `now + lasting`.
async fn beat(
    db: &impl ConnectionTrait,
    run_id: i64,
    now: DateTime<Utc>,
    lasting: chrono::Duration,
) -> anyhow::Result<()> {
    let backend = db.get_database_backend();
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        format!(
            "INSERT INTO job_leases (name, holder, tick_at, expires_at) VALUES ({}, {}, {}, {}) \
             ON CONFLICT (name) DO UPDATE SET expires_at = excluded.expires_at",
            p(backend, 1),
            p(backend, 2),
            p(backend, 3),
            p(backend, 4)
        ),
        [
            format!("{HEARTBEAT_PREFIX}{run_id}").into(),
            crate::leases::holder_name().into(),
            now.into(),
            (now + lasting).into(),
        ],
    ))
    .await
    .context("failed to record a run's heartbeat")?;
    Ok(())
}

async fn forget_heartbeat(db: &impl ConnectionTrait, run_id: i64) -> anyhow::Result<()> {
    let backend = db.get_database_backend();
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        format!("DELETE FROM job_leases WHERE name = {}", p(backend, 1)),
        [format!("{HEARTBEAT_PREFIX}{run_id}").into()],
    ))
    .await
    .context("failed to remove a run's heartbeat")?;
    Ok(())
}

/// Closes as `ABANDONED` the runs whose heartbeat expired by `now`: their process died
/// (SIGKILL, a crash, a lost machine) without recording an end, and would otherwise stay
/// `RUNNING` forever. Any scheduler sharing the database does this; the number closed.
pub async fn close_abandoned(db: &impl ConnectionTrait, now: DateTime<Utc>) -> anyhow::Result<u64> {
    use sea_orm::sea_query::Expr;
    let backend = db.get_database_backend();
    let expired = db
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "SELECT name FROM job_leases WHERE name LIKE '{HEARTBEAT_PREFIX}%' AND expires_at <= {}",
                p(backend, 1)
            ),
            [now.into()],
        ))
        .await
        .context("failed to look for expired run heartbeats")?;
    let mut closed = 0;
    for row in expired {
        let name: String = row.try_get("", "name")?;
        let Some(run_id) = name
            .strip_prefix(HEARTBEAT_PREFIX)
            .and_then(|id| id.parse::<i64>().ok())
        else {
            continue;
        };
        let result = job_run::Entity::update_many()
            .filter(job_run::Column::Id.eq(run_id))
            .filter(job_run::Column::Status.eq(JobStatus::Running))
            .col_expr(job_run::Column::Status, Expr::value(JobStatus::Abandoned))
            .col_expr(job_run::Column::FinishedAt, Expr::value(now))
            .col_expr(
                job_run::Column::Error,
                Expr::value("the process running it stopped without recording an end (its heartbeat expired)"),
            )
            .exec(db)
            .await
            .context("failed to close an abandoned run")?;
        if result.rows_affected > 0 {
            tracing::warn!(run_id, "job run abandoned: its process stopped");
        }
        closed += result.rows_affected;
        // Only the heartbeat seen expired: one renewed meanwhile stays.
        db.execute_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "DELETE FROM job_leases WHERE name = {} AND expires_at <= {}",
                p(backend, 1),
                p(backend, 2)
            ),
            [name.into(), now.into()],
        ))
        .await
        .context("failed to remove an expired run heartbeat")?;
    }
    Ok(closed)
}

/// Runs a job now for someone waiting on it (the `runJob` mutation): with `wait`, the
/// finished run; without, the run as begun (`RUNNING`), finishing in the background,
/// where a failure to record its end is logged.
pub async fn start(
    context: &JobContext,
    job: JobName,
    params: JobParams,
    wait: bool,
) -> anyhow::Result<job_run::Model> {
    let run = begin(context, job, &params).await?;
    if wait {
        return complete(context, run, job, params).await;
    }
    let running = run.clone();
    let context = context.clone();
    tokio::spawn(async move {
        if let Err(error) = complete(&context, run, job, params).await {
            tracing::error!(error.cause_chain = ?error, "could not record the end of a job run");
        }
    });
    Ok(running)
}

/// The most recent run of each of `jobs` that has run, however it was started, in one
/// statement.
pub async fn latest_of(
    db: &impl ConnectionTrait,
    jobs: &[JobName],
) -> DomainResult<HashMap<JobName, job_run::Model>> {
    let latest_ids = Query::select()
        .expr(Func::max(Expr::col(job_run::Column::Id)))
        .from(job_run::Entity)
        .and_where(Expr::col(job_run::Column::Name).is_in(jobs.iter().copied()))
        .group_by_col(job_run::Column::Name)
        .to_owned();
    let runs = job_run::Entity::find()
        .filter(job_run::Column::Id.in_subquery(latest_ids))
        .all(db)
        .await
        .context("failed to load the latest runs")?;
    Ok(runs.into_iter().map(|run| (run.name, run)).collect())
}

/// Runs of the job named `name` (every job's without it); None when no job has that
/// name, so it has no runs.
fn runs_named(name: Option<&str>) -> Option<sea_orm::Select<job_run::Entity>> {
    let query = job_run::Entity::find();
    match name {
        Some(name) => JobName::named(name).map(|job| query.filter(job_run::Column::Name.eq(job))),
        None => Some(query),
    }
}

/// Up to `limit` runs (of the job named `name`, or of all), newest first, before the id
/// `before`.
pub async fn page(
    db: &impl ConnectionTrait,
    name: Option<&str>,
    before: Option<i64>,
    limit: u64,
) -> DomainResult<Vec<job_run::Model>> {
    let Some(mut query) = runs_named(name) else {
        return Ok(Vec::new());
    };
    if let Some(before) = before {
        query = query.filter(job_run::Column::Id.lt(before));
    }
    Ok(query
        .order_by_desc(job_run::Column::Id)
        .limit(limit)
        .all(db)
        .await
        .context("failed to load a page of job runs")?)
}

/// How many runs there are (of the job named `name`, or of all).
pub async fn count(db: &impl ConnectionTrait, name: Option<&str>) -> DomainResult<u64> {
    let Some(query) = runs_named(name) else {
        return Ok(0);
    };
    Ok(query.count(db).await.context("failed to count job runs")?)
}

/// Begins and completes a run: what `clientele run-job` does.
pub async fn run(
    context: &JobContext,
    job: JobName,
    params: JobParams,
) -> anyhow::Result<job_run::Model> {
    run_with(context, job, params, Heartbeat::default()).await
}

/// [`run`] with the heartbeat `heartbeat` (the scheduler's unleased `email-dispatch`).
pub async fn run_with(
    context: &JobContext,
    job: JobName,
    params: JobParams,
    heartbeat: Heartbeat,
) -> anyhow::Result<job_run::Model> {
    let run = begin_with(context, job, &params, heartbeat).await?;
    complete_with(context, run, job, params, heartbeat, None).await
}

/// A scheduled run of the tick `lease` is for: the lease is renewed with the run's
/// heartbeat until the run ends (the caller releases it then).
pub async fn run_leased(
    context: &JobContext,
    job: JobName,
    params: JobParams,
    heartbeat: Heartbeat,
    lease: &Lease,
) -> anyhow::Result<job_run::Model> {
    let run = begin_with(context, job, &params, heartbeat).await?;
    complete_with(context, run, job, params, heartbeat, Some(lease.clone())).await
}

async fn execute(
    context: &JobContext,
    job: JobName,
    run_id: i64,
    params: JobParams,
) -> anyhow::Result<JobStats> {
    let as_of = resolve_as_of(&params);
    match job {
        JobName::ValueScores => crate::value_scores::run(context, run_id, as_of).await,
        JobName::Lifecycle => crate::lifecycle::run(context, run_id, as_of).await,
        // Membership is always as of now: rules measure days to today.
        JobName::Segments => crate::segments::run(context, run_id).await,
        JobName::Campaigns => crate::campaigns::run(context, resolve_now(&params)).await,
        JobName::EmailDispatch => {
            let report =
                crate::mail::dispatch::dispatch(&context.db, &context.mail, resolve_now(&params))
                    .await?;
            let mut stats = JobStats::default();
            if let serde_json::Value::Object(map) = serde_json::to_value(report)? {
                stats.0 = map;
            }
            Ok(stats)
        }
        JobName::MarketerDigest => {
            crate::campaigns::digest::run(context, as_of, resolve_now(&params)).await
        }
        JobName::Loyalty => crate::loyalty::run(context, as_of).await,
    }
}
