use std::net::TcpListener;
use std::sync::{Arc, atomic::AtomicU64};

use actix_web::{App, HttpServer, dev::Server, middleware, web};
use anyhow::Context;
use sea_orm::DatabaseConnection;
use tracing_actix_web::TracingLogger;

use crate::api_keys::{self, NewKey};
use crate::configuration::Settings;
use crate::database;
use crate::graphql::{build_schema, limits::RequestLimits};
use crate::http::{AppState, cors, metrics::Metrics, routes, security};

/// Seconds in-flight requests get to finish after SIGTERM.
const SHUTDOWN_GRACE_SECONDS: u64 = 30;

/// Requests with heavy fields (backtests, previews, profiles, jobs) that run at once:
/// half the HTTP workers, so the other half always serves cheap requests.
fn heavy_permits(http_workers: Option<usize>) -> usize {
    let workers = http_workers
        .or_else(|| std::thread::available_parallelism().ok().map(usize::from))
        .unwrap_or(1);
    (workers / 2).max(1)
}

/// A built server, listening, not yet serving.
pub struct Application {
    port: u16,
    server: Server,
    scheduler: Option<jobs::Scheduler>,
    db: DatabaseConnection,
    bootstrap_key: Option<NewKey>,
    queries: Arc<AtomicU64>,
}

impl Application {
    /// Connects, migrates, creates the first admin key on an empty database, binds the
    /// listener (port 0 picks a free one) and, unless `with_scheduler` is false, starts
    /// the scheduler.
    pub async fn build(settings: &Settings, with_scheduler: bool) -> anyhow::Result<Self> {
        settings.validate()?;
        // Two pools: API requests' statements have a time limit, jobs' do not.
        let mut db = database::connect_migrated(settings.database_url()).await?;
        let queries = database::instrument(&mut db);
        let mut api_db =
            database::connect_api(settings.database_url(), settings.statement_timeout()).await?;
        database::instrument_with(&mut api_db, queries.clone());
        let bootstrap_key = api_keys::bootstrap_admin(&db).await?;

        let listener = TcpListener::bind(&settings.bind_addr)
            .with_context(|| format!("cannot listen on {}", settings.bind_addr))?;
        let port = listener
            .local_addr()
            .context("listener has no address")?
            .port();
        let job_context = settings.job_context(db.clone())?;
        jobs::campaigns::install_built_ins(&db).await?;
        let state = web::Data::new(AppState {
            db: api_db.clone(),
            keys: api_keys::KeyCache::start(settings.database_url()),
            dedicated: database::DedicatedConnections::new(
                settings.database_url(),
                settings.statement_timeout(),
                api_db.clone(),
                queries.clone(),
            ),
            mail: job_context.mail.clone(),
            schema: build_schema(
                api_db.clone(),
                job_context.clone(),
                settings.scheduler(),
                settings.privacy.clone(),
                crate::graphql::SharedReports::new(settings.report_cache()),
            ),
            metrics: Metrics::install(
                settings.metrics_operation_labels,
                settings.metrics_token.clone(),
            ),
            limits: Arc::new(RequestLimits::new(
                settings.request_timeout(),
                heavy_permits(settings.http_workers),
            )?),
        });
        let origins = settings.cors_origins.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(cors(&origins))
                .wrap(middleware::from_fn(security::html_page_headers))
                .wrap(security::nosniff())
                .wrap(TracingLogger::default())
                .app_data(state.clone())
                .configure(routes)
        })
        .shutdown_timeout(SHUTDOWN_GRACE_SECONDS);
        if let Some(workers) = settings.http_workers {
            server = server.workers(workers.max(1));
        }
        let server = server
            .listen(listener)
            .context("failed to start the HTTP server")?
            .run();

        let scheduler = if with_scheduler {
            Some(jobs::Scheduler::start(job_context, &settings.scheduler()).await?)
        } else {
            None
        };
        Ok(Self {
            port,
            server,
            scheduler,
            db,
            bootstrap_key,
            queries,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server from outside (tests; signals do this in production).
    pub fn server_handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Statements this application has run so far.
    pub fn query_counter(&self) -> Arc<AtomicU64> {
        self.queries.clone()
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// The admin key created on this start, when the database had none. Shown once.
    pub fn take_bootstrap_key(&mut self) -> Option<NewKey> {
        self.bootstrap_key.take()
    }

    /// Serves until SIGINT/SIGTERM (actix drains in-flight requests), then stops the
    /// scheduler and closes the database pool.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let served = self.server.await.context("the HTTP server failed");
        if let Some(scheduler) = self.scheduler {
            scheduler.shutdown().await?;
        }
        self.db
            .close()
            .await
            .context("failed to close the database pool")?;
        served
    }
}

/// Runs only the scheduler (`clientele worker`) until SIGINT/SIGTERM.
pub async fn run_worker(settings: &Settings) -> anyhow::Result<()> {
    let db = database::connect_migrated(settings.database_url()).await?;
    jobs::campaigns::install_built_ins(&db).await?;
    let scheduler =
        jobs::Scheduler::start(settings.job_context(db.clone())?, &settings.scheduler()).await?;
    shutdown_signal().await;
    scheduler.shutdown().await?;
    db.close()
        .await
        .context("failed to close the database pool")
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(error) => {
                    tracing::warn!(%error, "cannot listen for SIGTERM; stop with Ctrl-C");
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
