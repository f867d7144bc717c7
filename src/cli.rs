use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::api_keys;
use crate::configuration::SettingsArgs;
use crate::{database, demo, graphql, startup, telemetry};

/// clientele: customer value scores, lifecycle stages, segments and scheduled care
/// emails behind a GraphQL API.
///
/// Every setting can come from the configuration file, the environment or a flag (in
/// rising priority).
#[derive(Parser, Debug)]
#[command(name = "clientele", version, about, long_about)]
pub struct Cli {
    #[command(flatten)]
    pub settings: SettingsArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the API and run the scheduler (the default command).
    Serve {
        /// API only: leave scheduled jobs to `clientele worker` processes.
        #[arg(long)]
        no_scheduler: bool,
    },
    /// Run the scheduler without the API.
    Worker,
    /// Apply database migrations and exit.
    Migrate,
    /// Create, list and revoke API keys.
    #[command(subcommand)]
    ApiKey(ApiKeyCommand),
    /// Print the GraphQL schema (SDL); `schema.graphql` is this output.
    ExportSchema,
    /// Run a job now and print its run record (JSON); exits non-zero when it fails.
    RunJob {
        /// value-scores
        name: String,
        /// The last day observed (YYYY-MM-DD); orders after it are ignored [default: today]
        #[arg(long)]
        as_of: Option<chrono::NaiveDate>,
    },
    /// Fill the database with a realistic synthetic customer base.
    Demo {
        /// How many customers to create.
        #[arg(long)]
        customers: u64,
        /// Seed; the same seed gives the same data.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Last simulated day (YYYY-MM-DD) [default: today]. With it, a seed gives
        /// identical data on any day.
        #[arg(long)]
        end_date: Option<chrono::NaiveDate>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ApiKeyCommand {
    /// Create a key; the key is printed once, alone on the last line of stdout.
    Create {
        #[arg(long)]
        name: String,
        /// Comma-separated: customers:read, customers:write, pii:read, segments:read,
        /// segments:write, campaigns:read, campaigns:write, jobs:run, admin.
        #[arg(long)]
        scopes: String,
    },
    /// List keys (never the keys themselves).
    List,
    /// Revoke a key by name.
    Revoke { name: String },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let command = cli.command.unwrap_or(Command::Serve {
        no_scheduler: false,
    });
    if let Command::ExportSchema = command {
        print!("{}", graphql::sdl());
        return Ok(());
    }
    let settings = cli.settings.load()?;
    telemetry::init(settings.log_format);

    match command {
        Command::Serve { no_scheduler } => {
            let mut app = startup::Application::build(&settings, !no_scheduler).await?;
            // The real port (BIND_ADDR may say 0), and a host a browser can open.
            let host = settings
                .bind_addr
                .rsplit_once(':')
                .map_or("127.0.0.1", |(host, _)| host);
            let host = if host == "0.0.0.0" || host == "[::]" {
                "127.0.0.1"
            } else {
                host
            };
            let address = format!("http://{host}:{}", app.port());
            if let Some(key) = app.take_bootstrap_key() {
                println!(
                    "First start: created the admin API key `{}`. It is shown only this once:",
                    key.name
                );
                println!();
                println!("    {}", key.secret);
                println!();
            }
            println!(
                "GraphiQL: {address}/graphql  (paste the key after `Bearer ` in its Headers panel)"
            );
            tracing::info!(port = app.port(), database = %database::redact(settings.database_url()), "clientele is serving");
            app.run_until_stopped().await
        }
        Command::Worker => startup::run_worker(&settings).await,
        Command::Migrate => {
            let db = database::connect(settings.database_url()).await?;
            database::migrate(&db).await?;
            eprintln!(
                "migrations applied to {}",
                database::redact(settings.database_url())
            );
            Ok(())
        }
        Command::ApiKey(command) => {
            let db = database::connect(settings.database_url()).await?;
            database::migrate(&db).await?;
            match command {
                ApiKeyCommand::Create { name, scopes } => {
                    let scopes = api_keys::parse_scopes(&scopes)?;
                    let key = api_keys::create(&db, &name, &scopes).await?;
                    let scopes: Vec<_> = key.scopes.iter().map(|s| s.as_str()).collect();
                    println!(
                        "created API key `{}` with scopes {}; it is shown only once:",
                        key.name,
                        scopes.join(",")
                    );
                    println!("{}", key.secret);
                }
                ApiKeyCommand::List => {
                    println!(
                        "{:<24} {:<60} {:<25} {:<25} revoked",
                        "name", "scopes", "created", "last used"
                    );
                    for key in api_keys::list(&db).await? {
                        let when = |t: Option<chrono::DateTime<chrono::Utc>>| {
                            t.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                                .unwrap_or_else(|| "-".into())
                        };
                        println!(
                            "{:<24} {:<60} {:<25} {:<25} {}",
                            key.name,
                            key.scopes,
                            when(Some(key.created_at)),
                            when(key.last_used_at),
                            when(key.revoked_at)
                        );
                    }
                }
                ApiKeyCommand::Revoke { name } => {
                    api_keys::revoke(&db, &name).await?;
                    println!("revoked API key `{name}`");
                }
            }
            Ok(())
        }
        Command::RunJob { name, as_of } => {
            let job = jobs::JobName::parse(&name).map_err(anyhow::Error::msg)?;
            let db = database::connect(settings.database_url()).await?;
            database::migrate(&db).await?;
            jobs::campaigns::install_built_ins(&db).await?;
            let params = jobs::JobParams {
                as_of,
                ..Default::default()
            };
            let run = jobs::runs::run(&settings.job_context(db)?, job, params).await?;
            let stats: serde_json::Value = run
                .stats
                .as_deref()
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or_default();
            println!(
                "{}",
                serde_json::json!({
                    "id": run.id, "name": run.name, "status": format!("{:?}", run.status).to_uppercase(),
                    "asOf": run.as_of, "startedAt": run.started_at, "finishedAt": run.finished_at,
                    "stats": stats, "error": run.error,
                })
            );
            anyhow::ensure!(
                run.status == entity::job_run::JobStatus::Succeeded,
                "the job failed: {}",
                run.error.unwrap_or_default()
            );
            Ok(())
        }
        Command::Demo {
            customers,
            seed,
            end_date,
        } => {
            let db = database::connect(settings.database_url()).await?;
            database::migrate(&db).await?;
            let report = demo::generate(
                &db,
                demo::DemoOptions {
                    customers,
                    seed,
                    end_date,
                    progress: true,
                },
            )
            .await
            .context("demo data generation failed")?;
            println!("{report}");
            Ok(())
        }
        Command::ExportSchema => Ok(()),
    }
}
