//! Whole-base reports computed once and shared for a short while.
//!
//! `lifecycleSummary` aggregates every customer (stages, 90 days of orders, the latest
//! scores): about a second at a million customers on PostgreSQL, more on Citus. A CRM's
//! dashboard asks for it on every page view, often from many screens at once; computing it
//! per request would queue those requests behind each other until they time out. So each
//! process computes a report at most once per `REPORT_CACHE_SECONDS` per argument, and
//! requests arriving while it is being computed wait for that one computation instead of
//! starting their own. Each answer says when it was computed (`computedAt`), so a screen
//! can show how fresh it is. `REPORT_CACHE_SECONDS = 0` computes every request afresh.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use jobs::lifecycle::StageSummary;
use jobs::{DomainError, DomainResult};
use moka::future::Cache;
use sea_orm::ConnectionTrait;

/// A report and the time it was computed.
#[derive(Debug)]
pub struct Computed<T> {
    pub value: T,
    pub computed_at: DateTime<Utc>,
}

/// A stage summary and when it was computed, shared by the requests that read it.
pub type SharedStageSummary = Arc<Computed<Vec<StageSummary>>>;

/// The shared reports of one process.
pub struct SharedReports {
    /// `lifecycleSummary` by its `asOf` (None: now).
    stages: Option<Cache<Option<NaiveDate>, SharedStageSummary>>,
}

impl SharedReports {
    /// Reports kept for `ttl` after they were computed; a zero `ttl` keeps nothing.
    pub fn new(ttl: Duration) -> Self {
        let stages = (!ttl.is_zero()).then(|| {
            Cache::builder()
                // One entry per `asOf` day asked about; a bound so that asking for every
                // day of the history cannot grow the process without limit.
                .max_capacity(1_000)
                .time_to_live(ttl)
                .build()
        });
        Self { stages }
    }

    /// The stage summary as of `as_of`, computed on `db` unless a computation of the same
    /// `as_of` finished within the time to live or is running now. Errors are not kept:
    /// the next request computes again.
    pub async fn stage_summary(
        &self,
        db: &impl ConnectionTrait,
        as_of: Option<NaiveDate>,
    ) -> DomainResult<SharedStageSummary> {
        let compute = async {
            let value = jobs::lifecycle::stage_summary(db, as_of).await?;
            Ok(Arc::new(Computed {
                value,
                computed_at: Utc::now(),
            }))
        };
        match &self.stages {
            None => compute.await,
            Some(cache) => cache
                .try_get_with(as_of, compute)
                .await
                .map_err(|shared| unshare(&shared)),
        }
    }
}

/// The requests that waited for a computation share its error; each answers its own.
fn unshare(error: &DomainError) -> DomainError {
    match error {
        DomainError::Invalid(problems) => DomainError::Invalid(problems.clone()),
        DomainError::NotFound(what) => DomainError::NotFound(what.clone()),
        DomainError::Internal(cause) => DomainError::Internal(anyhow::anyhow!("{cause:#}")),
    }
}
