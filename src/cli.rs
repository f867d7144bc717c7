use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::api_keys;
use crate::configuration::{DatabaseArgs, SettingsArgs};
use crate::{database, demo, graphql, startup, telemetry};

/// clientele: customer value scores, lifecycle stages, segments and scheduled care
/// emails behind a GraphQL API.
///
/// Without a command, `clientele` serves (`clientele serve`). Settings come from the
/// configuration file, the environment or a flag (in rising priority); each command's
/// `--help` lists the ones it takes.
#[derive(Parser, Debug)]
// Our own `help` command: clap's refuses `help --help`.
#[command(
    name = "clientele",
    version,
    about,
    long_about,
    disable_help_subcommand = true
)]
pub struct Cli {
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
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Run the scheduler without the API.
    Worker {
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Apply database migrations and exit. On a Citus coordinator (a database with the
    /// `citus` extension) the tables are then distributed by customer: see "Scaling out"
    /// in the README.
    Migrate {
        #[command(flatten)]
        database: DatabaseArgs,
        /// Fail unless the database is a Citus coordinator (without the flag, a database
        /// without Citus is migrated as plain PostgreSQL).
        #[arg(long)]
        distributed: bool,
    },
    /// Create, list and revoke API keys.
    ApiKey {
        #[command(flatten)]
        database: DatabaseArgs,
        #[command(subcommand)]
        command: ApiKeyCommand,
    },
    /// Print the GraphQL schema (SDL); `schema.graphql` is this output.
    ExportSchema,
    /// Run a job now and print its run record (JSON); exits non-zero when it fails.
    RunJob {
        /// The job to run.
        #[arg(value_parser = job_names())]
        name: jobs::JobName,
        /// The last day observed (YYYY-MM-DD); orders after it are ignored [default: today]
        #[arg(long)]
        as_of: Option<chrono::NaiveDate>,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Fill the database with a realistic synthetic customer base.
    Demo {
        /// How many customers to create.
        #[arg(long)]
        customers: u64,
        /// Seed; the same seed gives the same data.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Last simulated day (YYYY-MM-DD, inclusive) [default: today]. With it, a seed
        /// gives identical data on any day. Nothing is dated after the moment demo runs.
        #[arg(long)]
        end_date: Option<chrono::NaiveDate>,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Print this help, or the help of the given command (`clientele help api-key create`).
    Help {
        /// The command (and subcommand) to explain.
        command: Vec<String>,
    },
}

/// The job names with their descriptions, from the job registry, so `run-job --help`
/// lists every job there is.
fn job_names() -> impl clap::builder::TypedValueParser<Value = jobs::JobName> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    PossibleValuesParser::new(
        jobs::JobName::ALL.map(|job| PossibleValue::new(job.as_str()).help(job.description())),
    )
    .try_map(|name| jobs::JobName::parse(&name))
}

#[derive(Subcommand, Debug)]
pub enum ApiKeyCommand {
    /// Create a key; the key is printed once, alone on the last line of stdout.
    Create {
        /// A unique name for the key, e.g. the partner or service that uses it.
        #[arg(long)]
        name: String,
        /// Comma-separated: customers:read, customers:write, pii:read, segments:read,
        /// segments:write, campaigns:read, campaigns:write, jobs:run, loyalty:read,
        /// loyalty:write, admin.
        #[arg(long)]
        scopes: String,
    },
    /// List keys (never the keys themselves).
    List,
    /// Revoke a key by name; requests with it are refused from then on.
    Revoke {
        /// The key's name, as `api-key list` shows it.
        name: String,
    },
}

impl Cli {
    /// The command to run: the one given, else `serve` with its settings read from the
    /// environment and the configuration file as `clientele serve` would.
    pub fn command_or_serve(self) -> Result<Command, clap::Error> {
        match self.command {
            Some(command) => Ok(command),
            None => Cli::try_parse_from(["clientele", "serve"])?
                .command
                .ok_or_else(|| clap::Error::new(clap::error::ErrorKind::MissingSubcommand)),
        }
    }
}

/// Prints the help of `clientele` or of the command named by `path`.
fn print_help(path: &[String]) -> anyhow::Result<()> {
    let mut command = <Cli as clap::CommandFactory>::command();
    // Builds the full names (`clientele api-key create`) into the subcommands' usage.
    command.build();
    let mut target = &mut command;
    for name in path {
        target = target
            .find_subcommand_mut(name)
            .ok_or_else(|| anyhow::anyhow!("no command `{name}`; see `clientele help`"))?;
    }
    target.print_long_help().context("cannot print the help")
}

pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::ExportSchema => {
            print!("{}", graphql::sdl());
            Ok(())
        }
        Command::Help { command } => print_help(&command),
        Command::Serve {
            no_scheduler,
            settings,
        } => {
            let settings = settings.load()?;
            telemetry::init(settings.log_format);
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
        Command::Worker { settings } => {
            let settings = settings.load()?;
            telemetry::init(settings.log_format);
            startup::run_worker(&settings).await
        }
        Command::Migrate {
            database,
            distributed,
        } => {
            let settings = database.load()?;
            telemetry::init(settings.log_format);
            let db = database::connect(settings.database_url()).await?;
            if distributed && !migration::distribute::is_citus(&db).await? {
                anyhow::bail!(
                    "--distributed: {} has no `citus` extension (CREATE EXTENSION citus on \
                     the coordinator first)",
                    database::redact(settings.database_url())
                );
            }
            database::migrate(&db).await?;
            eprintln!(
                "migrations applied to {}{}",
                database::redact(settings.database_url()),
                if migration::distribute::is_citus(&db).await? {
                    " (distributed by customer on Citus)"
                } else {
                    ""
                }
            );
            Ok(())
        }
        Command::ApiKey { database, command } => {
            let settings = database.load()?;
            telemetry::init(settings.log_format);
            let db = database::connect_migrated(settings.database_url()).await?;
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
        Command::RunJob {
            name: job,
            as_of,
            settings,
        } => {
            let settings = settings.load()?;
            telemetry::init(settings.log_format);
            let db = database::connect_migrated(settings.database_url()).await?;
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
                    "id": run.id, "name": run.name.as_str(), "status": format!("{:?}", run.status).to_uppercase(),
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
            database,
        } => {
            let settings = database.load()?;
            telemetry::init(settings.log_format);
            let db = database::connect_migrated(settings.database_url()).await?;
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
    }
}
