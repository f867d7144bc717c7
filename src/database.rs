use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};
use std::time::Duration;

use anyhow::Context;
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbBackend};

/// How often, and how patiently, start-up tries to reach the database.
const CONNECT_ATTEMPTS: u32 = 5;
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(250);

/// Connects to the database named by `url`, retrying briefly (a database that starts
/// alongside the service may need a few seconds) and then failing with a message that
/// shows the URL without its password.
pub async fn connect(url: &str) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .sqlx_logging(false)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(30));
    if url.starts_with("sqlite:") {
        // One writer at a time is SQLite's nature; WAL lets readers go on meanwhile and
        // the busy timeout makes writers queue instead of failing with SQLITE_BUSY.
        options.max_connections(8).map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(30))
                .foreign_keys(true)
        });
    } else {
        options.max_connections(20);
    }

    // A pool keeps retrying a refused connection until its acquire timeout (30 s), so
    // reachability is probed with single connections first: quick retries, a quick and
    // clear failure.
    let mut delay = FIRST_RETRY_DELAY;
    let mut attempt = 1;
    loop {
        match probe(url).await {
            Ok(()) => break,
            Err(error) if attempt < CONNECT_ATTEMPTS => {
                tracing::warn!(url = %redact(url), attempt, %error, "database not reachable yet, retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
            }
            Err(error) => {
                return Err(error).with_context(|| {
                    format!(
                        "could not connect to the database at {} after {attempt} attempts",
                        redact(url)
                    )
                });
            }
        }
    }
    Database::connect(options)
        .await
        .with_context(|| format!("could not open a connection pool to {}", redact(url)))
}

/// Opens and closes one connection (PostgreSQL); SQLite files need no probe.
async fn probe(url: &str) -> anyhow::Result<()> {
    use sea_orm::sqlx::Connection;
    if !url.starts_with("postgres") {
        return Ok(());
    }
    let connection = tokio::time::timeout(PROBE_TIMEOUT, sea_orm::sqlx::PgConnection::connect(url))
        .await
        .map_err(|_| anyhow::anyhow!("no answer within {} s", PROBE_TIMEOUT.as_secs()))??;
    connection.close().await?;
    Ok(())
}

/// Counts every statement run through `db` (for the `db_queries_total` metric and for
/// tests that hold the API to "a handful of queries per page") and records its latency.
pub fn instrument(db: &mut DatabaseConnection) -> Arc<AtomicU64> {
    let count = Arc::new(AtomicU64::new(0));
    let counter = count.clone();
    db.set_metric_callback(move |info| {
        counter.fetch_add(1, Ordering::Relaxed);
        let outcome = if info.failed { "error" } else { "ok" };
        metrics::counter!("db_queries_total", "outcome" => outcome).increment(1);
        metrics::histogram!("db_query_duration_seconds").record(info.elapsed.as_secs_f64());
    });
    count
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    use migration::MigratorTrait;
    migration::Migrator::up(db, None)
        .await
        .context("failed to apply database migrations")
}

/// The URL with any password replaced by `***`, fit for logs and error messages.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = match rest.find('/') {
        Some(index) => rest.split_at(index),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}{path}")
        }
        None => url.to_owned(),
    }
}

/// Which SQL dialect the connection speaks.
pub fn backend(db: &DatabaseConnection) -> DbBackend {
    sea_orm::ConnectionTrait::get_database_backend(db)
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redact_hides_the_password_and_keeps_the_rest() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/crm"),
            "postgres://app:***@db:5432/crm"
        );
        assert_eq!(redact("postgres://db/crm"), "postgres://db/crm");
        assert_eq!(
            redact("sqlite://clientele.db?mode=rwc"),
            "sqlite://clientele.db?mode=rwc"
        );
    }
}
