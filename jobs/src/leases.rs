//! Once per tick across processes: before a scheduled run, a process takes the job's
//! lease for that tick in the database. The update succeeds for one process only — the
//! first to see the tick while no earlier lease is live — so several `serve` / `worker`
//! processes sharing a database run each tick once, and a run still going when the next
//! tick comes is not overlapped. A holder that crashed loses the lease when it expires.

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use sea_orm::{ConnectionTrait, Statement};

use entity::sql::nth_placeholder as p;

/// How long a lease lasts when its holder never releases it (a crash).
pub const LEASE: Duration = Duration::minutes(30);

/// A name for this process in lease rows: host, pid and a random suffix.
pub fn holder_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into());
    format!("{host}:{}:{:08x}", std::process::id(), rand_suffix())
}

fn rand_suffix() -> u32 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now()) as u32
}

/// Takes the lease of `job` for the tick `tick`; true when this process should run it.
pub async fn acquire(
    db: &impl ConnectionTrait,
    job: &str,
    holder: &str,
    tick: DateTime<Utc>,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
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
        [job.into(), epoch.into(), epoch.into()],
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
                (now + LEASE).into(),
                job.into(),
                tick.into(),
                now.into(),
            ],
        ))
        .await
        .context("failed to take a job lease")?;
    Ok(taken.rows_affected() == 1)
}

/// Gives the lease back after the run, so the next tick need not wait for it to expire.
pub async fn release(
    db: &impl ConnectionTrait,
    job: &str,
    holder: &str,
    tick: DateTime<Utc>,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let backend = db.get_database_backend();
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        format!(
            "UPDATE job_leases SET expires_at = {} WHERE name = {} AND holder = {} AND tick_at = {}",
            p(backend, 1),
            p(backend, 2),
            p(backend, 3),
            p(backend, 4)
        ),
        [now.into(), job.into(), holder.into(), tick.into()],
    ))
    .await
    .context("failed to release a job lease")?;
    Ok(())
}
