use std::str::FromStr;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tokio_cron_scheduler::{Job, JobScheduler};

use crate::{JobContext, JobName, JobParams, runs};

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
        }
    }
}

impl SchedulerSettings {
    /// Each job's cron expression.
    pub fn schedule(&self, job: JobName) -> &str {
        match job {
            JobName::ValueScores => &self.value_scores,
            JobName::Lifecycle => &self.lifecycle,
            JobName::Segments => &self.segments,
        }
    }

    /// Refuses an unknown time zone or an expression that does not parse, naming it.
    pub fn validate(&self) -> anyhow::Result<chrono_tz::Tz> {
        let zone = chrono_tz::Tz::from_str(&self.time_zone).map_err(|_| {
            anyhow::anyhow!(
                "scheduler time zone `{}` is not an IANA time zone",
                self.time_zone
            )
        })?;
        for job in JobName::ALL {
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

/// Parses an expression the way the scheduler will, without scheduling anything.
fn croner_check(expression: &str) -> anyhow::Result<()> {
    Job::new_async(expression, |_, _| Box::pin(async {}))
        .map(|_| ())
        .map_err(|error| anyhow::anyhow!("{error:?}"))
}

/// The cron scheduler of one process.
pub struct Scheduler {
    inner: JobScheduler,
}

impl Scheduler {
    /// Starts the scheduler with every job on its configured schedule.
    pub async fn start(context: JobContext, settings: &SchedulerSettings) -> anyhow::Result<Self> {
        let zone = settings.validate()?;
        let inner = JobScheduler::new()
            .await
            .context("failed to create the job scheduler")?;
        for job in JobName::ALL {
            let context = context.clone();
            let scheduled = Job::new_async_tz(settings.schedule(job), zone, move |_, _| {
                let context = context.clone();
                Box::pin(async move {
                    if let Err(error) = runs::run(&context, job, JobParams::default()).await {
                        tracing::error!(job = job.as_str(), error.cause_chain = ?error, "could not record a scheduled run");
                    }
                })
            })
            .map_err(|error| anyhow::anyhow!("cannot schedule `{}`: {error:?}", job.as_str()))?;
            inner.add(scheduled).await.map_err(|error| {
                anyhow::anyhow!("cannot schedule `{}`: {error:?}", job.as_str())
            })?;
        }
        inner
            .start()
            .await
            .context("failed to start the job scheduler")?;
        tracing::info!(time_zone = %zone, "scheduler started");
        Ok(Self { inner })
    }

    /// Stops scheduling new ticks; running jobs finish on their own.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
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
