//! Once per tick across processes: before a scheduled run, a process takes the job's
//! lease for that tick in the database. The update succeeds for one process only — the
//! first to see the tick while no earlier lease is live — so several `serve` / `worker`
//! processes sharing a database run each tick once.
//!
//! A lease is short (the run's heartbeat lease, 2 minutes by default) and its holder
//! renews it with the run's heartbeat for as long as the run lasts
//! ([`crate::runs::run_leased`]): a long run is not overlapped by the next tick, and a
//! holder that died (killed, crashed, its machine lost) stops renewing, so another
//! process runs the job at the first tick after the lease lapses — minutes later, not
//! after a fixed half hour. The tick the dead holder was running is not run again
//! (once per tick); its run is closed as `ABANDONED` ([`crate::runs::close_abandoned`]).
//!
//! Expiry is compared with each process's own clock, so the processes sharing a database
//! are assumed to keep their clocks within a few seconds of each other (NTP).

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use sea_orm::{ConnectionTrait, Statement};

use entity::{JobName, sql::nth_placeholder as p};

/// A name for this process in lease rows: host, pid and a random suffix.
pub fn holder_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into());
    format!("{host}:{}:{:08x}", std::process::id(), rand_suffix())
}

fn rand_suffix() -> u32 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now()) as u32
}

/// A tick lease a process took: which job, which tick, and who holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub job: JobName,
    pub holder: String,
    pub tick: DateTime<Utc>,
}

impl Lease {
    /// Takes the lease of `job` for the tick `tick` until `now + lasting`; the lease when
    /// this process should run the tick, None when another process has it (or had it).
    pub async fn acquire(
        db: &impl ConnectionTrait,
        job: JobName,
        holder: &str,
        tick: DateTime<Utc>,
        now: DateTime<Utc>,
        lasting: Duration,
    ) -> anyhow::Result<Option<Lease>> {
        let backend = db.get_database_backend();
        let epoch = DateTime::<Utc>::UNIX_EPOCH;
        // The row exists from the first tick on; a conflict means another process made it.
        db.execute_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "INSERT INTO job_leases (name, holder, tick_at, expires_at) VALUES ({}, '', {}, {}) \
                 ON CONFLICT (name) DO NOTHING",
                p(backend, 1),
                p(backend, 2),
                p(backend, 3)
            ),
            [job.as_str().into(), epoch.into(), epoch.into()],
        ))
        .await
        .context("failed to create a job lease")?;
        let taken = db
            .execute_raw(Statement::from_sql_and_values(
                backend,
                format!(
                    "UPDATE job_leases SET holder = {}, tick_at = {}, expires_at = {} \
                     WHERE name = {} AND tick_at < {} AND expires_at <= {}",
                    p(backend, 1),
                    p(backend, 2),
                    p(backend, 3),
                    p(backend, 4),
                    p(backend, 5),
                    p(backend, 6)
                ),
                [
                    holder.into(),
                    tick.into(),
                    (now + lasting).into(),
                    job.as_str().into(),
                    tick.into(),
                    now.into(),
                ],
            ))
            .await
            .context("failed to take a job lease")?;
        Ok((taken.rows_affected() == 1).then(|| Lease {
            job,
            holder: holder.to_owned(),
            tick,
        }))
    }

    /// Extends the lease to `now + lasting` while its run goes on; false when it is no
    /// longer this holder's (it lapsed — renewals failed for longer than it lasted — and
    /// another process took a later tick).
    pub async fn renew(
        &self,
        db: &impl ConnectionTrait,
        now: DateTime<Utc>,
        lasting: Duration,
    ) -> anyhow::Result<bool> {
        self.set_expiry(db, now + lasting)
            .await
            .context("failed to renew a job lease")
    }

    /// Gives the lease back after the run, so the next tick need not wait for it to lapse.
    pub async fn release(
        &self,
        db: &impl ConnectionTrait,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        self.set_expiry(db, now)
            .await
            .context("failed to release a job lease")?;
        Ok(())
    }

    /// Sets the expiry of this holder's lease of this tick; false when there is none.
    async fn set_expiry(
        &self,
        db: &impl ConnectionTrait,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, sea_orm::DbErr> {
        let backend = db.get_database_backend();
        let updated = db
            .execute_raw(Statement::from_sql_and_values(
                backend,
                format!(
                    "UPDATE job_leases SET expires_at = {} \
                     WHERE name = {} AND holder = {} AND tick_at = {}",
                    p(backend, 1),
                    p(backend, 2),
                    p(backend, 3),
                    p(backend, 4)
                ),
                [
                    expires_at.into(),
                    self.job.as_str().into(),
                    self.holder.as_str().into(),
                    self.tick.into(),
                ],
            ))
            .await?;
        Ok(updated.rows_affected() == 1)
    }
}
