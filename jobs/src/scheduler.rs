use anyhow::Context;
use tokio_cron_scheduler::JobScheduler;

use crate::JobContext;

/// The cron scheduler of one process. Jobs are registered here as their issues land;
/// replicas coordinate through lease rows in the database, not through the scheduler.
pub struct Scheduler {
    inner: JobScheduler,
}

impl Scheduler {
    /// Starts the scheduler with every configured job.
    pub async fn start(_context: JobContext) -> anyhow::Result<Self> {
        let inner = JobScheduler::new()
            .await
            .context("failed to create the job scheduler")?;
        inner
            .start()
            .await
            .context("failed to start the job scheduler")?;
        tracing::info!("scheduler started");
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
