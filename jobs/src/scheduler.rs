use std::{collections::BTreeMap, str::FromStr};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tokio_cron_scheduler::{Job, JobScheduler};

use crate::{
    DomainError, DomainResult, JobContext, JobName, JobParams,
    leases::{self, Lease},
    runs,
};

/// When scheduled jobs run. Cron expressions have six fields, seconds first
/// (`0 0 2 * * *` is 02:00 every day), read in `time_zone`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct SchedulerSettings {
    /// IANA time zone the cron expressions are read in.
    pub time_zone: String,
    pub value_scores: String,
    pub lifecycle: String,
    pub segments: String,
    pub campaigns: String,
    pub email_dispatch: String,
    pub marketer_digest: String,
    /// The `loyalty` job (no configuration key of its own: the default, or a schedule
    /// saved through the API).
    pub loyalty: String,
    /// How often a scheduled run renews its heartbeat and its tick lease, in seconds; also
    /// how often a scheduler looks for runs whose process died.
    pub heartbeat_seconds: u64,
    /// How long a tick lease and a run's heartbeat last without renewal, in seconds: a
    /// process that died mid-run holds its job this long at most, and its run is then
    /// closed as `ABANDONED`.
    pub lease_seconds: u64,
    /// Schedules changed through the API (`updateJobSchedule`), by job name; they win
    /// over the configured ones and are read from the database by [`Self::effective`].
    #[serde(skip)]
    pub overrides: BTreeMap<JobName, JobSchedule>,
    /// How often a running scheduler looks for changed schedules.
    #[serde(skip)]
    pub reload_every: std::time::Duration,
}

/// A job's schedule as changed through the API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobSchedule {
    pub schedule: String,
    /// None: the scheduler's time zone.
    pub time_zone: Option<String>,
}

/// Where a schedule changed through the API is kept: `scheduler.schedule.<job>`.
fn schedule_key(job: JobName) -> String {
    format!("scheduler.schedule.{}", job.as_str())
}

/// Why a schedule is refused: the field (`schedule`, `timeZone`) and the reason.
pub fn check_schedule(
    schedule: &str,
    time_zone: Option<&str>,
) -> Result<(), (&'static str, String)> {
    if let Some(zone) = time_zone
        && chrono_tz::Tz::from_str(zone).is_err()
    {
        return Err(("timeZone", format!("`{zone}` is not an IANA time zone")));
    }
    croner_check(schedule).map_err(|_| {
        (
            "schedule",
            format!("`{schedule}` is not a six-field cron expression (seconds first, e.g. `0 0 9 * * *`)"),
        )
    })
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        Self {
            time_zone: "UTC".into(),
            value_scores: "0 0 2 * * *".into(),
            // After value-scores, whose P(alive) the stage rules use.
            lifecycle: "0 0 3 * * *".into(),
            // Hourly, at a quarter past (after the daily jobs on their hour).
            segments: "0 15 * * * *".into(),
            // Hourly: a customer's 09:00 comes in every hour somewhere.
            campaigns: "0 5 * * * *".into(),
            email_dispatch: "0 * * * * *".into(),
            marketer_digest: "0 0 8 * * Mon".into(),
            // After lifecycle; its day is the UTC day (birthdays, expiries, tiers).
            loyalty: "0 30 3 * * *".into(),
            heartbeat_seconds: runs::HEARTBEAT_EVERY.as_secs(),
            lease_seconds: runs::HEARTBEAT_LEASE.num_seconds().unsigned_abs(),
            overrides: BTreeMap::new(),
            reload_every: std::time::Duration::from_secs(30),
        }
    }
}

impl SchedulerSettings {
    /// Each job's cron expression (changed through the API, else configured).
    pub fn schedule(&self, job: JobName) -> &str {
        if let Some(changed) = self.overrides.get(&job) {
            return &changed.schedule;
        }
        match job {
            JobName::ValueScores => &self.value_scores,
            JobName::Lifecycle => &self.lifecycle,
            JobName::Segments => &self.segments,
            JobName::Campaigns => &self.campaigns,
            JobName::EmailDispatch => &self.email_dispatch,
            JobName::MarketerDigest => &self.marketer_digest,
            JobName::Loyalty => &self.loyalty,
        }
    }

    /// The time zone a job's schedule is read in.
    pub fn time_zone_of(&self, job: JobName) -> &str {
        self.overrides
            .get(&job)
            .and_then(|changed| changed.time_zone.as_deref())
            .unwrap_or(&self.time_zone)
    }

    /// These settings with the schedules saved through the API.
    pub async fn effective(&self, db: &impl sea_orm::ConnectionTrait) -> anyhow::Result<Self> {
        let keys = JobName::ALL.map(schedule_key);
        let mut saved = crate::app_settings::load_many(db, &keys).await?;
        let mut overrides = BTreeMap::new();
        for (job, key) in JobName::ALL.into_iter().zip(&keys) {
            if let Some(schedule) = saved.remove(key) {
                overrides.insert(job, schedule);
            }
        }
        Ok(Self {
            overrides,
            ..self.clone()
        })
    }

    /// Saves a job's schedule (the caller checked it with [`check_schedule`]); running
    /// schedulers pick it up within `reload_every`. One key per job, so two admins
    /// changing two jobs at once do not overwrite each other.
    pub async fn save_override(
        db: &impl sea_orm::ConnectionTrait,
        job: JobName,
        schedule: JobSchedule,
    ) -> anyhow::Result<()> {
        crate::app_settings::save(db, &schedule_key(job), &schedule).await
    }

    /// Changes when a job runs: a six-field cron expression (seconds first) and, when
    /// given, the IANA time zone it is read in (both trimmed; a bad one is refused as
    /// `schedule` or `timeZone`). The settings in force afterwards.
    pub async fn update_schedule(
        &self,
        db: &impl sea_orm::ConnectionTrait,
        job: JobName,
        schedule: &str,
        time_zone: Option<&str>,
    ) -> DomainResult<Self> {
        let schedule = schedule.trim().to_owned();
        let time_zone = time_zone.map(|zone| zone.trim().to_owned());
        check_schedule(&schedule, time_zone.as_deref())
            .map_err(|(field, message)| DomainError::invalid(field, message))?;
        Self::save_override(
            db,
            job,
            JobSchedule {
                schedule,
                time_zone,
            },
        )
        .await
        .context("failed to save the schedule")?;
        Ok(self
            .effective(db)
            .await
            .context("failed to load the schedules")?)
    }

    /// How scheduled runs beat: every `heartbeat_seconds`, lasting `lease_seconds`.
    pub fn heartbeat(&self) -> runs::Heartbeat {
        runs::Heartbeat {
            every: std::time::Duration::from_secs(self.heartbeat_seconds),
            lasting: chrono::Duration::seconds(
                i64::try_from(self.lease_seconds).unwrap_or(i64::MAX),
            ),
        }
    }

    /// Refuses an unknown time zone, an expression that does not parse, or a lease that
    /// a single late heartbeat would lose, naming it.
    pub fn validate(&self) -> anyhow::Result<chrono_tz::Tz> {
        anyhow::ensure!(
            self.heartbeat_seconds >= 1,
            "scheduler_heartbeat_seconds must be at least 1"
        );
        // Two beats per lease at least: one renewal arriving late must not let another
        // process take a job whose run is alive.
        anyhow::ensure!(
            self.lease_seconds >= self.heartbeat_seconds.saturating_mul(2)
                && self.lease_seconds <= 86_400,
            "scheduler_lease_seconds must be at least twice scheduler_heartbeat_seconds ({}) and at most 86400, got {}",
            self.heartbeat_seconds,
            self.lease_seconds
        );
        let zone = chrono_tz::Tz::from_str(&self.time_zone).map_err(|_| {
            anyhow::anyhow!(
                "scheduler time zone `{}` is not an IANA time zone",
                self.time_zone
            )
        })?;
        for job in JobName::ALL {
            let job_zone = self.time_zone_of(job);
            chrono_tz::Tz::from_str(job_zone).map_err(|_| {
                anyhow::anyhow!(
                    "the time zone of `{}` (`{job_zone}`) is not an IANA time zone",
                    job.as_str()
                )
            })?;
            let expression = self.schedule(job);
            croner_check(expression).with_context(|| {
                format!(
                    "the schedule of `{}` (`{expression}`) is not a six-field cron expression",
                    job.as_str()
                )
            })?;
        }
        Ok(zone)
    }
}

impl SchedulerSettings {
    /// When `job` runs next after `after`, by its schedule in the configured zone; None
    /// when the schedule or zone does not parse (start-up refuses those).
    pub fn next_run(
        &self,
        job: JobName,
        after: chrono::DateTime<chrono::Utc>,
    ) -> Option<chrono::DateTime<chrono::Utc>> {
        let (cron, zone) = self.cron(job)?;
        // Whole seconds: croner keeps the sub-second part of `after` in its answer.
        let after =
            chrono::DurationRound::duration_trunc(after, chrono::TimeDelta::seconds(1)).ok()?;
        cron.find_next_occurrence(&after.with_timezone(&zone), false)
            .ok()
            .map(|at| at.with_timezone(&chrono::Utc))
    }

    /// The scheduled time of the tick being run at `now` (the latest at or before it):
    /// the same for every process that sees the tick, so it keys the lease.
    pub fn current_tick(
        &self,
        job: JobName,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<chrono::DateTime<chrono::Utc>> {
        let (cron, zone) = self.cron(job)?;
        // Whole seconds: croner returns `now` itself when it matches the pattern, with
        // its sub-second part, which would differ between processes.
        let now = chrono::DurationRound::duration_trunc(now, chrono::TimeDelta::seconds(1)).ok()?;
        cron.find_previous_occurrence(&now.with_timezone(&zone), true)
            .ok()
            .map(|at| at.with_timezone(&chrono::Utc))
    }

    fn cron(&self, job: JobName) -> Option<(croner::Cron, chrono_tz::Tz)> {
        let zone = chrono_tz::Tz::from_str(self.time_zone_of(job)).ok()?;
        let cron = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Required)
            .build()
            .parse(self.schedule(job))
            .ok()?;
        Some((cron, zone))
    }
}

/// Parses an expression the way the scheduler will, without scheduling anything.
fn croner_check(expression: &str) -> anyhow::Result<()> {
    Job::new_async(expression, |_, _| Box::pin(async {}))
        .map(|_| ())
        .map_err(|error| anyhow::anyhow!("{error:?}"))
}

/// Held while this process runs an email dispatch from the scheduler.
static DISPATCHING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// One scheduled tick in this process: run the job if this process takes the tick's
/// lease (another process sharing the database may have taken it).
async fn run_tick(
    context: &JobContext,
    settings: &SchedulerSettings,
    job: JobName,
    holder: &str,
) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    if job == JobName::EmailDispatch {
        // One run at a time in this process: a tick that comes while the last run is
        // still draining the outbox is skipped (that run takes what falls due meanwhile,
        // batch after batch), so a process does not race itself for its own rows.
        let Ok(_running) = DISPATCHING.try_lock() else {
            tracing::debug!("email dispatch still running; tick skipped");
            return Ok(());
        };
        // No lease: any number of dispatchers drain the outbox together, each claiming
        // its own rows. An idle outbox leaves no run record (one a minute would bury
        // the runs that did something).
        if !crate::mail::dispatch::has_due(&context.db, now).await? {
            return Ok(());
        }
        return runs::run_with(context, job, JobParams::default(), settings.heartbeat())
            .await
            .map(|_| ());
    }
    let tick = settings
        .current_tick(job, now)
        .context("the schedule has no tick at or before now")?;
    let heartbeat = settings.heartbeat();
    let Some(lease) =
        Lease::acquire(&context.db, job, holder, tick, now, heartbeat.lasting).await?
    else {
        tracing::debug!(job = job.as_str(), %tick, "tick taken by another process");
        return Ok(());
    };
    let outcome = runs::run_leased(context, job, JobParams::default(), heartbeat, &lease).await;
    lease.release(&context.db, chrono::Utc::now()).await?;
    outcome.map(|_| ())
}

/// The cron scheduler of one process.
pub struct Scheduler {
    inner: JobScheduler,
    reload: tokio::task::JoinHandle<()>,
    closing: tokio::task::JoinHandle<()>,
}

/// What a scheduled job was created with, to tell when its schedule changed.
type Installed = BTreeMap<JobName, (uuid::Uuid, String, String)>;

/// Creates the cron job that runs `job` at its ticks.
fn cron_job(
    context: &JobContext,
    settings: &SchedulerSettings,
    job: JobName,
    holder: &str,
) -> anyhow::Result<Job> {
    let zone = chrono_tz::Tz::from_str(settings.time_zone_of(job))
        .map_err(|_| anyhow::anyhow!("bad time zone for `{}`", job.as_str()))?;
    let (context, settings, holder) = (context.clone(), settings.clone(), holder.to_owned());
    let expression = settings.schedule(job).to_owned();
    Job::new_async_tz(expression.as_str(), zone, move |_, _| {
        let (context, settings, holder) = (context.clone(), settings.clone(), holder.clone());
        Box::pin(async move {
            if let Err(error) = run_tick(&context, &settings, job, &holder).await {
                tracing::error!(job = job.as_str(), error.cause_chain = ?error, "scheduled run failed to start or finish");
            }
        })
    })
    .map_err(|error| anyhow::anyhow!("cannot schedule `{}`: {error:?}", job.as_str()))
}

/// Adds the jobs whose schedule or zone differs from what is installed (all of them at
/// start), removing the old ones.
async fn install(
    inner: &JobScheduler,
    installed: &mut Installed,
    context: &JobContext,
    settings: &SchedulerSettings,
    holder: &str,
) -> anyhow::Result<()> {
    for job in JobName::ALL {
        let wanted = (
            settings.schedule(job).to_owned(),
            settings.time_zone_of(job).to_owned(),
        );
        if let Some((id, schedule, zone)) = installed.get(&job) {
            if (schedule, zone) == (&wanted.0, &wanted.1) {
                continue;
            }
            inner.remove(id).await.map_err(|error| {
                anyhow::anyhow!("cannot unschedule `{}`: {error:?}", job.as_str())
            })?;
            tracing::info!(job = job.as_str(), schedule = %wanted.0, time_zone = %wanted.1, "schedule changed");
        }
        let id = inner
            .add(cron_job(context, settings, job, holder)?)
            .await
            .map_err(|error| anyhow::anyhow!("cannot schedule `{}`: {error:?}", job.as_str()))?;
        installed.insert(job, (id, wanted.0, wanted.1));
    }
    Ok(())
}

impl Scheduler {
    /// Starts the scheduler with every job on its schedule (saved through the API, else
    /// configured), and looks for changed schedules every `reload_every`.
    pub async fn start(context: JobContext, settings: &SchedulerSettings) -> anyhow::Result<Self> {
        settings.validate()?;
        let effective = settings.effective(&context.db).await?;
        effective.validate()?;
        let inner = JobScheduler::new()
            .await
            .context("failed to create the job scheduler")?;
        let holder = leases::holder_name();
        let mut installed = Installed::new();
        install(&inner, &mut installed, &context, &effective, &holder).await?;
        inner
            .start()
            .await
            .context("failed to start the job scheduler")?;
        tracing::info!(time_zone = %effective.time_zone, "scheduler started");
        // Runs of a process that died stay RUNNING until someone closes them: looked for
        // at the heartbeat's pace, so a dead run is closed within a lease and a beat.
        let (closing_db, every) = (context.db.clone(), settings.heartbeat().every);
        let closing = tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if let Err(error) = runs::close_abandoned(&closing_db, chrono::Utc::now()).await {
                    tracing::warn!(error.cause_chain = ?error, "cannot close abandoned runs");
                }
            }
        });
        let (scheduler, configured) = (inner.clone(), settings.clone());
        let reload = tokio::spawn(async move {
            loop {
                tokio::time::sleep(configured.reload_every).await;
                let changed = match configured.effective(&context.db).await {
                    Ok(changed) if changed.validate().is_ok() => changed,
                    Ok(_) => {
                        tracing::error!("a saved schedule is invalid; keeping the current ones");
                        continue;
                    }
                    Err(error) => {
                        tracing::warn!(error.cause_chain = ?error, "cannot read the schedules");
                        continue;
                    }
                };
                if let Err(error) =
                    install(&scheduler, &mut installed, &context, &changed, &holder).await
                {
                    tracing::error!(error.cause_chain = ?error, "cannot apply changed schedules");
                }
            }
        });
        Ok(Self {
            inner,
            reload,
            closing,
        })
    }

    /// Stops scheduling new ticks; running jobs finish on their own.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        self.reload.abort();
        self.closing.abort();
        self.inner
            .shutdown()
            .await
            .context("failed to stop the job scheduler")?;
        tracing::info!("scheduler stopped");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_schedules_are_valid() {
        assert!(SchedulerSettings::default().validate().is_ok());
    }

    #[test]
    fn the_default_lease_outlasts_four_heartbeats_and_a_shorter_than_two_is_refused() {
        let defaults = SchedulerSettings::default();
        assert_eq!(
            defaults.heartbeat(),
            runs::Heartbeat {
                every: std::time::Duration::from_secs(30),
                lasting: chrono::Duration::minutes(2),
            }
        );
        let short = SchedulerSettings {
            heartbeat_seconds: 10,
            lease_seconds: 15,
            ..Default::default()
        };
        let error = short.validate().unwrap_err().to_string();
        assert!(error.contains("scheduler_lease_seconds"), "{error}");
        let never = SchedulerSettings {
            heartbeat_seconds: 0,
            ..Default::default()
        };
        assert!(never.validate().is_err());
        let tight = SchedulerSettings {
            heartbeat_seconds: 1,
            lease_seconds: 2,
            ..Default::default()
        };
        assert!(tight.validate().is_ok());
    }

    #[test]
    fn next_runs_follow_the_schedule_in_its_time_zone() {
        use chrono::TimeZone;
        let settings = SchedulerSettings {
            time_zone: "Asia/Shanghai".into(),
            ..Default::default()
        };
        // 2026-11-22 20:00 UTC is 04:00 on the 23rd in Shanghai: value-scores (02:00) next
        // runs at 02:00 on the 24th Shanghai time, 18:00 UTC on the 23rd.
        let now = chrono::Utc
            .with_ymd_and_hms(2026, 11, 22, 20, 0, 0)
            .unwrap();
        assert_eq!(
            settings.next_run(JobName::ValueScores, now),
            Some(
                chrono::Utc
                    .with_ymd_and_hms(2026, 11, 23, 18, 0, 0)
                    .unwrap()
            )
        );
        assert_eq!(
            settings.next_run(JobName::Segments, now),
            Some(
                chrono::Utc
                    .with_ymd_and_hms(2026, 11, 22, 20, 15, 0)
                    .unwrap()
            )
        );
        // The tick being run: the same whole second for every process that sees it.
        let tick = chrono::Utc
            .with_ymd_and_hms(2026, 11, 22, 20, 15, 0)
            .unwrap();
        for late in [137, 20 * 60 * 1000] {
            assert_eq!(
                settings.current_tick(
                    JobName::Segments,
                    tick + chrono::Duration::milliseconds(late)
                ),
                Some(
                    chrono::Utc
                        .with_ymd_and_hms(2026, 11, 22, 20, 15, 0)
                        .unwrap()
                ),
                "{late} ms late"
            );
        }
    }

    #[test]
    fn bad_time_zones_and_five_field_expressions_are_refused() {
        let zone = SchedulerSettings {
            time_zone: "Mars/Base".into(),
            ..Default::default()
        };
        assert!(
            zone.validate()
                .unwrap_err()
                .to_string()
                .contains("Mars/Base")
        );
        let five = SchedulerSettings {
            value_scores: "0 2 * * *".into(),
            ..Default::default()
        };
        assert!(
            five.validate()
                .unwrap_err()
                .to_string()
                .contains("value-scores")
        );
    }
}
