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

/// The database URL forms clientele accepts, for error messages.
pub const ACCEPTED_FORMS: &str = "sqlite://FILE (created when missing), sqlite://FILE?mode=rw \
     (must exist), sqlite::memory:, or postgres://USER:PASSWORD@HOST[:PORT]/DB";

/// Which database a URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Sqlite {
        /// No `mode=` in the URL: the file is created when missing.
        create_if_missing: bool,
    },
    Postgres,
}

/// Checks `url` the way the driver will read it, without connecting: a URL that is not
/// one of [`ACCEPTED_FORMS`] is refused at once (retrying cannot fix a typo), with the
/// password hidden.
pub fn parse(url: &str) -> anyhow::Result<Kind> {
    use sea_orm::sqlx::{postgres::PgConnectOptions, sqlite::SqliteConnectOptions};
    use std::str::FromStr;
    let refuse = |why: String| {
        anyhow::anyhow!(
            "the database URL `{}` {why}; use {ACCEPTED_FORMS}",
            redact(url)
        )
    };
    let scheme = url
        .split_once(':')
        .map(|(scheme, _)| scheme)
        .filter(|scheme| {
            !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        })
        .ok_or_else(|| refuse("is not a URL (no `scheme://`)".into()))?;
    match scheme.to_ascii_lowercase().as_str() {
        "sqlite" => {
            // The driver's own reading (file name, `mode`, other parameters).
            SqliteConnectOptions::from_str(url)
                .map_err(|error| refuse(format!("is invalid: {error}")))?;
            let query = url.split_once('?').map_or("", |(_, query)| query);
            let has_mode = query.split('&').any(|pair| pair.starts_with("mode="));
            Ok(Kind::Sqlite {
                create_if_missing: !has_mode,
            })
        }
        "postgres" | "postgresql" => {
            if !url[scheme.len()..].starts_with("://") {
                return Err(refuse(format!("lacks `//` after `{scheme}:`")));
            }
            PgConnectOptions::from_str(url)
                .map_err(|error| refuse(format!("is invalid: {error}")))?;
            Ok(Kind::Postgres)
        }
        other => Err(refuse(format!(
            "names `{other}`, which clientele does not support"
        ))),
    }
}

/// Connects to the database named by `url`, retrying briefly (a database that starts
/// alongside the service may need a few seconds) and then failing with a message that
/// shows the URL without its password. A URL that cannot work is refused at once.
pub async fn connect(url: &str) -> anyhow::Result<DatabaseConnection> {
    let kind = parse(url)?;
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .sqlx_logging(false)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(30));
    match kind {
        Kind::Sqlite { create_if_missing } => {
            // One writer at a time is SQLite's nature; WAL lets readers go on meanwhile and
            // the busy timeout makes writers queue instead of failing with SQLITE_BUSY.
            options
                .max_connections(8)
                .map_sqlx_sqlite_opts(move |opts| {
                    // `sqlite://FILE` creates the file like `?mode=rwc`; an explicit mode wins.
                    let opts = if create_if_missing {
                        opts.create_if_missing(true)
                    } else {
                        opts
                    };
                    opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                        .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                        .busy_timeout(Duration::from_secs(30))
                        .foreign_keys(true)
                        // Deleted and overwritten content is zeroed, not left in free
                        // pages: an erased customer's data must be gone from the file.
                        .pragma("secure_delete", "ON")
                });
        }
        Kind::Postgres => {
            options.max_connections(20);
        }
    }

    // A pool keeps retrying a refused connection until its acquire timeout (30 s), so
    // reachability is probed with single connections first: quick retries, a quick and
    // clear failure.
    let mut delay = FIRST_RETRY_DELAY;
    let mut attempt = 1;
    loop {
        match probe(url, kind).await {
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
    // sea-orm's errors may quote the URL whole: keep only the redacted one.
    Database::connect(options).await.map_err(|error| {
        anyhow::anyhow!(
            "could not open a connection pool to {}: {}",
            redact(url),
            redact_in(&error.to_string(), url)
        )
    })
}

/// Opens and closes one connection (PostgreSQL); SQLite files need no probe.
async fn probe(url: &str, kind: Kind) -> anyhow::Result<()> {
    use sea_orm::sqlx::Connection;
    if kind != Kind::Postgres {
        return Ok(());
    }
    let connection = tokio::time::timeout(PROBE_TIMEOUT, sea_orm::sqlx::PgConnection::connect(url))
        .await
        .map_err(|_| anyhow::anyhow!("no answer within {} s", PROBE_TIMEOUT.as_secs()))?
        .map_err(|error| anyhow::anyhow!("{}", redact_in(&error.to_string(), url)))?;
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

/// The URL with any password replaced by `***`, fit for logs and error messages. Works
/// on malformed URLs too (`postgres//u:pw@h/db`): whatever stands between the user name
/// and the last `@` is hidden, and so is a `password=` parameter.
pub fn redact(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) if !base.contains('@') && query.contains('@') => (url, None),
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut redacted = match base.rfind('@') {
        Some(at) => {
            // The credentials start after `//`; without one, where they start is a
            // guess, so everything after the first `:` is hidden.
            let start = base[..at].find("//").map_or(0, |i| i + 2);
            let credentials = &base[start..at];
            match credentials.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &base[..start],
                    &credentials[..colon],
                    &base[at..]
                ),
                // A user without a password.
                None => base.to_owned(),
            }
        }
        None => base.to_owned(),
    };
    if let Some(query) = query {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        redacted.push('?');
        redacted.push_str(&pairs.join("&"));
    }
    redacted
}

/// `message` with every appearance of `url` (as given) replaced by its redacted form:
/// for driver errors that quote the URL.
fn redact_in(message: &str, url: &str) -> String {
    message.replace(url, &redact(url))
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

    #[test]
    fn redact_hides_the_password_of_malformed_and_unusual_urls() {
        for (url, shown) in [
            ("redis://u:hunter2@h/x", "redis://u:***@h/x"),
            ("postgres//u:hunter2@h/x", "postgres//u:***@h/x"),
            ("postgres:u:hunter2@h/x", "postgres:***@h/x"),
            ("postgres://u:hun@ter2@h/x", "postgres://u:***@h/x"),
            ("postgres://u:hun/ter2@h/x", "postgres://u:***@h/x"),
            ("postgres://u:hun?ter2@h/x", "postgres://u:***@h/x"),
            (
                "postgres://h/x?user=u&password=hunter2&sslmode=require",
                "postgres://h/x?user=u&password=***&sslmode=require",
            ),
        ] {
            assert_eq!(redact(url), shown, "{url}");
        }
    }

    #[test]
    fn only_sqlite_and_postgres_urls_are_accepted() {
        use super::{Kind, parse};
        assert_eq!(
            parse("sqlite://clientele.db").unwrap(),
            Kind::Sqlite {
                create_if_missing: true
            }
        );
        assert_eq!(
            parse("sqlite://clientele.db?mode=rw").unwrap(),
            Kind::Sqlite {
                create_if_missing: false
            }
        );
        assert_eq!(
            parse("postgresql://app:pw@db:5432/crm").unwrap(),
            Kind::Postgres
        );
        for url in [
            "redis://u:hunter2@h/x",
            "postgres//u:hunter2@h/x",
            "postgres:u:hunter2@h/x",
            "postgres://u:hunter2@h:port/x",
            "sqlite://x.db?mode=bogus",
            "clientele.db",
        ] {
            let error = format!("{:#}", parse(url).unwrap_err());
            assert!(!error.contains("hunter2"), "{error}");
            assert!(
                error.contains("sqlite://FILE") && error.contains("postgres://USER"),
                "{error}"
            );
        }
    }
}
