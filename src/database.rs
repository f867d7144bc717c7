use std::sync::{
    Arc,
    atomic::{AtomicBool, AtomicU64, Ordering},
};
use std::time::{Duration, Instant};

use anyhow::Context;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend};

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
    open(url, Role::Jobs).await
}

/// The pool API requests run on: like [`connect`], but every statement stops after
/// `statement_timeout` (see [`Role::Api`]).
pub async fn connect_api(
    url: &str,
    statement_timeout: Duration,
) -> anyhow::Result<DatabaseConnection> {
    open(
        url,
        Role::Api {
            statement_timeout,
            cancel: None,
        },
    )
    .await
}

/// Whose statements a pool runs: job statements take as long as the work needs, API
/// statements have a time limit.
#[derive(Clone)]
enum Role {
    /// Jobs, migrations and the command line.
    Jobs,
    /// API requests. PostgreSQL enforces `statement_timeout` itself (and plans without
    /// JIT: compiling a plan costs up to seconds, which a request never earns back).
    /// SQLite has no statement timeout: a progress handler, armed whenever a connection
    /// is handed out, interrupts the statement (or transaction) running past the limit,
    /// or at once when `cancel` is raised.
    Api {
        statement_timeout: Duration,
        cancel: Option<Arc<Cancel>>,
    },
}

/// How a [`Dedicated`] pool's work is cancelled: SQLite connections watch the flag,
/// PostgreSQL connections record their backend's process id when they open.
#[derive(Default)]
struct Cancel {
    raised: AtomicBool,
    backends: std::sync::Mutex<Vec<i32>>,
}

/// SQLite virtual-machine instructions between two looks at the clock: a few
/// microseconds of work, so an interrupt lands within a millisecond.
const SQLITE_PROGRESS_OPS: i32 = 10_000;

/// Installs the progress handler that interrupts this connection's statements once
/// `limit` has passed from now, or as soon as `cancel` is raised.
async fn arm_sqlite(
    connection: &mut sea_orm::sqlx::SqliteConnection,
    limit: Duration,
    cancel: Option<Arc<Cancel>>,
) -> Result<(), sea_orm::sqlx::Error> {
    let deadline = Instant::now() + limit;
    connection
        .lock_handle()
        .await?
        .set_progress_handler(SQLITE_PROGRESS_OPS, move || {
            Instant::now() < deadline
                && !cancel
                    .as_ref()
                    .is_some_and(|cancel| cancel.raised.load(Ordering::Relaxed))
        });
    Ok(())
}

async fn open(url: &str, role: Role) -> anyhow::Result<DatabaseConnection> {
    let kind = parse(url)?;
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .sqlx_logging(false)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(30))
        // A ping on every acquire is a round trip per statement; a connection idle this
        // long is pinged first, and a broken one fails its statement and is replaced.
        .test_before_acquire_if_idle_for(Duration::from_secs(30));
    if let Role::Api {
        statement_timeout,
        cancel,
    } = role.clone()
    {
        match kind {
            Kind::Postgres => {
                options
                    .statement_timeout(statement_timeout)
                    .map_sqlx_postgres_opts(|opts| opts.options([("jit", "off")]));
                if let Some(cancel) = cancel {
                    options.map_sqlx_postgres_pool_opts(move |pool| {
                        let cancel = cancel.clone();
                        pool.after_connect(move |connection, _| {
                            let cancel = cancel.clone();
                            Box::pin(async move {
                                let pid: i32 =
                                    sea_orm::sqlx::query_scalar("SELECT pg_backend_pid()")
                                        .fetch_one(&mut *connection)
                                        .await?;
                                if let Ok(mut backends) = cancel.backends.lock() {
                                    backends.push(pid);
                                }
                                Ok(())
                            })
                        })
                    });
                }
            }
            Kind::Sqlite { .. } => {
                let on_acquire = cancel.clone();
                options
                    .map_sqlx_sqlite_pool_opts(move |pool| {
                        let cancel = cancel.clone();
                        pool.after_connect(move |connection, _| {
                            let cancel = cancel.clone();
                            Box::pin(arm_sqlite(connection, statement_timeout, cancel))
                        })
                    })
                    .map_sqlx_sqlite_before_acquire(move |connection, _| {
                        let cancel = on_acquire.clone();
                        Box::pin(async move {
                            arm_sqlite(connection, statement_timeout, cancel).await?;
                            Ok(true)
                        })
                    });
            }
        }
    }
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
    let dedicated = matches!(
        role,
        Role::Api {
            cancel: Some(_),
            ..
        }
    );
    if dedicated {
        // A dedicated pool (see [`Dedicated`]): one connection, more when the request's
        // resolvers run side by side or one reads a stream while another queries.
        options.max_connections(4).min_connections(1);
    }

    // A pool keeps retrying a refused connection until its acquire timeout (30 s), so
    // reachability is probed with single connections first: quick retries, a quick and
    // clear failure. A dedicated pool opens while the server runs: the database was
    // reachable at start, and a request should not pay a second connection for a probe.
    if !dedicated {
        wait_until_reachable(url, kind).await?;
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

/// Where requests that may run long get a connection of their own (see [`Dedicated`]).
#[derive(Clone)]
pub struct DedicatedConnections {
    url: String,
    statement_timeout: Duration,
    /// The API pool: it sends the cancellation.
    pool: DatabaseConnection,
    queries: Arc<AtomicU64>,
}

impl DedicatedConnections {
    /// `None` for an in-memory SQLite database, which a second connection cannot see.
    pub fn new(
        url: &str,
        statement_timeout: Duration,
        pool: DatabaseConnection,
        queries: Arc<AtomicU64>,
    ) -> Option<Self> {
        (!url.contains(":memory:") && !url.contains("mode=memory")).then(|| Self {
            url: url.to_owned(),
            statement_timeout,
            pool,
            queries,
        })
    }

    /// Opens a connection (a small pool) for one request.
    pub async fn open(&self) -> anyhow::Result<Dedicated> {
        let cancel = Arc::new(Cancel::default());
        let mut db = open(
            &self.url,
            Role::Api {
                statement_timeout: self.statement_timeout,
                cancel: Some(cancel.clone()),
            },
        )
        .await?;
        instrument_with(&mut db, self.queries.clone());
        Ok(Dedicated {
            db,
            cancel: Some((cancel, self.pool.clone())),
        })
    }
}

/// One request's own connections. Dropped before [`Dedicated::finish`] — the client
/// went away, or the request ran out of time — it cancels what still runs on them:
/// `pg_cancel_backend` on PostgreSQL (a dropped future alone leaves the statement
/// running on the server), the progress handler's flag on SQLite.
pub struct Dedicated {
    pub db: DatabaseConnection,
    /// What to cancel, and the API pool that sends PostgreSQL's cancellations.
    cancel: Option<(Arc<Cancel>, DatabaseConnection)>,
}

impl Dedicated {
    /// The request is done: close the connections without cancelling anything.
    pub async fn finish(mut self) {
        self.cancel = None;
        if let Err(error) = self.db.clone().close().await {
            tracing::warn!(%error, "failed to close a dedicated connection");
        }
    }
}

impl Drop for Dedicated {
    fn drop(&mut self) {
        let Some((cancel, via)) = self.cancel.take() else {
            return;
        };
        cancel.raised.store(true, Ordering::Relaxed);
        let backends = cancel
            .backends
            .lock()
            .map(|backends| backends.clone())
            .unwrap_or_default();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if backends.is_empty() {
            return;
        }
        runtime.spawn(async move {
            for pid in backends {
                let cancel = sea_orm::Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT pg_cancel_backend($1)",
                    [pid.into()],
                );
                if let Err(error) = via.execute_raw(cancel).await {
                    tracing::warn!(%error, pid, "failed to cancel an abandoned request's statement");
                }
            }
        });
    }
}

/// Whether `error` is a statement stopped by its time limit or cancelled (see
/// [`connect_api`]): PostgreSQL's `query_canceled` (57014), SQLite's `SQLITE_INTERRUPT`.
pub fn is_statement_timeout(error: &anyhow::Error) -> bool {
    use sea_orm::{DbErr, RuntimeErr};
    error.chain().any(|cause| {
        let sqlx = match cause.downcast_ref::<DbErr>() {
            Some(
                DbErr::Query(RuntimeErr::SqlxError(e)) | DbErr::Exec(RuntimeErr::SqlxError(e)),
            ) => Some(e.as_ref()),
            _ => cause.downcast_ref::<sea_orm::sqlx::Error>(),
        };
        sqlx.and_then(|e| e.as_database_error())
            .and_then(|e| e.code())
            .is_some_and(|code| code == "57014" || code == "9")
    })
}

/// Probes `url` with single connections, retrying briefly with a growing delay.
async fn wait_until_reachable(url: &str, kind: Kind) -> anyhow::Result<()> {
    let mut delay = FIRST_RETRY_DELAY;
    let mut attempt = 1;
    loop {
        match probe(url, kind).await {
            Ok(()) => return Ok(()),
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
    instrument_with(db, count.clone());
    count
}

/// [`instrument`] with a counter shared by several pools.
pub fn instrument_with(db: &mut DatabaseConnection, counter: Arc<AtomicU64>) {
    db.set_metric_callback(move |info| {
        counter.fetch_add(1, Ordering::Relaxed);
        let outcome = if info.failed { "error" } else { "ok" };
        metrics::counter!("db_queries_total", "outcome" => outcome).increment(1);
        metrics::histogram!("db_query_duration_seconds").record(info.elapsed.as_secs_f64());
    });
}

/// The jobs' pool of a database brought up to date first: migrations run on a pool of
/// their own, closed before this one opens. A SQLite connection keeps the schema it
/// read until it next notices a change, and not every statement prepared against an
/// older schema notices (an upsert whose `ON CONFLICT` names an index a migration just
/// created fails to prepare): so no connection that will serve requests or jobs may
/// have seen the schema before the migrations.
pub async fn connect_migrated(url: &str) -> anyhow::Result<DatabaseConnection> {
    let migrator = connect(url).await?;
    migrate(&migrator).await?;
    migrator
        .close()
        .await
        .context("failed to close the migration pool")?;
    connect(url).await
}

/// Applies every pending migration, then the data steps that need the domain's code:
/// the terms of feedback comments recorded before topics existed (migration 15 queues
/// them; nothing to do once caught up).
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    use migration::MigratorTrait;
    migration::Migrator::up(db, None)
        .await
        .context("failed to apply database migrations")?;
    if migration::distribute::is_citus(db)
        .await
        .context("failed to look for the citus extension")?
    {
        let report = migration::distribute::distribute(db)
            .await
            .context("failed to distribute the tables on Citus")?;
        if !report.placed.is_empty() {
            tracing::info!(tables = ?report.placed, "tables placed on the Citus cluster");
        }
    }
    jobs::feedback::extract_pending_terms(db)
        .await
        .context("failed to extract the terms of earlier feedback comments")?;
    Ok(())
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
