use std::path::PathBuf;

use figment::{
    Figment,
    providers::{Format, Serialized, Toml},
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable, coloured when the output is a terminal.
    #[default]
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Every setting clientele reads. Layered: built-in defaults, then the configuration
/// file (`clientele.toml` when present), then environment variables and command-line flags.
#[derive(Clone, Debug, Deserialize)]
pub struct Settings {
    pub database_url: SecretString,
    pub bind_addr: String,
    /// Base of links in emails; `http://` + `bind_addr` when unset.
    pub public_url: Option<String>,
    pub log_format: LogFormat,
    /// Browser origins allowed to call the API (CORS); none by default.
    #[serde(default)]
    pub cors_origins: Vec<String>,
    /// HTTP worker threads; one per CPU core when unset.
    pub http_workers: Option<usize>,
    /// IANA time zone the job schedules are read in.
    pub scheduler_time_zone: String,
    /// Six-field cron expression (seconds first) of the `value-scores` job.
    pub value_scores_schedule: String,
    /// Six-field cron expression of the `lifecycle` job.
    pub lifecycle_schedule: String,
    /// Six-field cron expression of the `segments` job.
    pub segments_schedule: String,
    /// The value models' tunables (`[value]` in the configuration file).
    #[serde(default)]
    pub value: jobs::ValueSettings,
    /// The lifecycle stage thresholds (`[lifecycle]`; the API can override them).
    #[serde(default)]
    pub lifecycle: jobs::lifecycle::Thresholds,
    /// Six-field cron expression of the `campaigns` job (the producers).
    pub campaigns_schedule: String,
    /// Six-field cron expression of the `email-dispatch` job.
    pub email_dispatch_schedule: String,
    /// Six-field cron expression of the `marketer-digest` job.
    pub marketer_digest_schedule: String,
    /// How often a scheduled run renews its heartbeat and its tick lease, in seconds.
    pub scheduler_heartbeat_seconds: u64,
    /// How long a tick lease and a run's heartbeat last unrenewed, in seconds: how long a
    /// process that died mid-run keeps its job from the other processes.
    pub scheduler_lease_seconds: u64,
    /// Email: SMTP, sender, templates, retries, frequency cap, quiet hours (`[email]`;
    /// the environment variables of the README fill the same keys).
    #[serde(default)]
    pub email: jobs::mail::MailSettings,
    /// What keys without `pii:read` may infer (`[privacy]`).
    #[serde(default)]
    pub privacy: PrivacySettings,
    /// Wall-clock budget of one GraphQL query, in seconds; a query still running then is
    /// stopped and answered with `TIMEOUT`.
    #[serde(default = "default_request_timeout_seconds")]
    pub request_timeout_seconds: f64,
    /// Time limit of each database statement an API request runs, in seconds; the
    /// database stops a statement still running then (jobs have no such limit).
    #[serde(default = "default_statement_timeout_seconds")]
    pub statement_timeout_seconds: f64,
    /// Distinct operation names `/metrics` labels; later names count as `other`.
    #[serde(default = "default_metrics_operation_labels")]
    pub metrics_operation_labels: usize,
    /// How long a whole-base report (`lifecycleSummary`) computed for one request serves
    /// the next ones, in seconds; 0 computes each afresh.
    #[serde(default = "default_report_cache_seconds")]
    pub report_cache_seconds: f64,
    /// When set, `/metrics` answers only `Authorization: Bearer <this token>`.
    #[serde(default)]
    pub metrics_token: Option<SecretString>,
}

fn default_request_timeout_seconds() -> f64 {
    10.0
}

fn default_statement_timeout_seconds() -> f64 {
    10.0
}

fn default_report_cache_seconds() -> f64 {
    30.0
}

fn default_metrics_operation_labels() -> usize {
    100
}

/// Limits on what aggregates reveal about few people.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct PrivacySettings {
    /// A segment profile of fewer members than this shows its personal breakdowns
    /// (ages, genders, cities) only to keys with `pii:read`: a segment of one would
    /// otherwise tell a key without it that customer's age band.
    pub min_profile_size: u64,
}

impl Default for PrivacySettings {
    fn default() -> Self {
        Self {
            min_profile_size: 10,
        }
    }
}

impl Settings {
    pub const DEFAULT_DATABASE_URL: &'static str = "sqlite://clientele.db?mode=rwc";
    pub const DEFAULT_BIND_ADDR: &'static str = "127.0.0.1:8080";

    /// The public base URL without a trailing slash.
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.bind_addr),
        }
    }

    pub fn database_url(&self) -> &str {
        self.database_url.expose_secret()
    }

    /// The job schedules.
    pub fn scheduler(&self) -> jobs::SchedulerSettings {
        jobs::SchedulerSettings {
            time_zone: self.scheduler_time_zone.clone(),
            value_scores: self.value_scores_schedule.clone(),
            lifecycle: self.lifecycle_schedule.clone(),
            segments: self.segments_schedule.clone(),
            campaigns: self.campaigns_schedule.clone(),
            email_dispatch: self.email_dispatch_schedule.clone(),
            marketer_digest: self.marketer_digest_schedule.clone(),
            heartbeat_seconds: self.scheduler_heartbeat_seconds,
            lease_seconds: self.scheduler_lease_seconds,
            ..Default::default()
        }
    }

    /// The email settings, with links pointing at this server's public URL.
    pub fn mail(&self) -> jobs::mail::MailSettings {
        jobs::mail::MailSettings {
            public_url: self.public_url(),
            ..self.email.clone()
        }
    }

    /// Everything a job may use; fails when the mail transport or the templates
    /// directory cannot be used.
    pub fn job_context(&self, db: sea_orm::DatabaseConnection) -> anyhow::Result<jobs::JobContext> {
        Ok(jobs::JobContext {
            db,
            value: self.value.clone(),
            lifecycle: self.lifecycle.clone(),
            mail: std::sync::Arc::new(jobs::mail::Mailer::new(self.mail())?),
        })
    }

    /// The wall-clock budget of one GraphQL query.
    pub fn request_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.request_timeout_seconds)
    }

    /// The time limit of each statement an API request runs.
    pub fn statement_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.statement_timeout_seconds)
    }

    /// How long a computed whole-base report is shared.
    pub fn report_cache(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.report_cache_seconds)
    }

    /// Refuses settings that cannot work, before anything starts.
    pub fn validate(&self) -> anyhow::Result<()> {
        crate::database::parse(self.database_url())?;
        if !(self.request_timeout_seconds > 0.0 && self.request_timeout_seconds <= 86_400.0) {
            anyhow::bail!(
                "request_timeout_seconds must be more than 0 and at most 86400, got {}",
                self.request_timeout_seconds
            );
        }
        // PostgreSQL counts whole milliseconds, and 0 would mean no limit.
        if !(self.statement_timeout_seconds >= 0.001 && self.statement_timeout_seconds <= 86_400.0)
        {
            anyhow::bail!(
                "statement_timeout_seconds must be from 0.001 to 86400, got {}",
                self.statement_timeout_seconds
            );
        }
        if !(self.report_cache_seconds >= 0.0 && self.report_cache_seconds <= 86_400.0) {
            anyhow::bail!(
                "report_cache_seconds must be from 0 to 86400, got {}",
                self.report_cache_seconds
            );
        }
        self.scheduler().validate()?;
        self.value.validate().map_err(anyhow::Error::msg)?;
        self.email.validate()?;
        self.lifecycle.validate().map_err(anyhow::Error::msg)
    }
}

/// The configuration file, the database and the log format: all that the commands which
/// only touch the database (`migrate`, `api-key`, `demo`) take. `None` means "not given".
#[derive(Clone, Debug, Default, Serialize, clap::Args)]
#[command(next_help_heading = "Configuration and database")]
pub struct DatabaseArgs {
    /// Configuration file (TOML, keys as in the table in the README)
    #[arg(
        long,
        env = "CLIENTELE_CONFIG",
        global = true,
        default_value = "clientele.toml"
    )]
    #[serde(skip)]
    pub config: PathBuf,
    /// Database: `sqlite://FILE` (created when missing) or
    /// `postgres://USER:PASSWORD@HOST[:PORT]/DB` [default: sqlite://clientele.db?mode=rwc]
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// Log format [default: pretty]
    #[arg(long, env = "LOG_FORMAT", global = true, value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
}

/// Every setting, given on the command line or in the environment: what the commands
/// that run jobs or serve take (`serve`, `worker`, `run-job`). `None` means "not given".
#[derive(Clone, Debug, Default, Serialize, clap::Args)]
#[command(next_help_heading = "Server and jobs")]
pub struct SettingsArgs {
    #[command(flatten)]
    #[serde(flatten)]
    pub database: DatabaseArgs,
    /// Address the API listens on [default: 127.0.0.1:8080]
    #[arg(long, env = "BIND_ADDR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind_addr: Option<String>,
    /// Public base URL, used for links in emails [default: http:// + BIND_ADDR]
    #[arg(long, env = "PUBLIC_URL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// Comma-separated browser origins allowed by CORS, e.g. `https://crm.example.com`
    /// [default: none]
    #[arg(long, env = "CORS_ORIGINS", value_delimiter = ',')]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cors_origins: Option<Vec<String>>,
    /// HTTP worker threads [default: one per CPU core]
    #[arg(long, env = "HTTP_WORKERS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_workers: Option<usize>,
    /// IANA time zone the job schedules are read in [default: UTC]
    #[arg(long, env = "SCHEDULER_TIME_ZONE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduler_time_zone: Option<String>,
    /// When `value-scores` runs: six-field cron, seconds first [default: "0 0 2 * * *"]
    #[arg(long, env = "VALUE_SCORES_SCHEDULE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_scores_schedule: Option<String>,
    /// When `lifecycle` runs [default: "0 0 3 * * *"]
    #[arg(long, env = "LIFECYCLE_SCHEDULE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lifecycle_schedule: Option<String>,
    /// When `segments` refreshes dynamic segments [default: "0 15 * * * *", hourly]
    #[arg(long, env = "SEGMENTS_SCHEDULE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segments_schedule: Option<String>,
    /// When campaign producers run [default: "0 5 * * * *", hourly, since each customer's
    /// send hour comes in their own time zone]
    #[arg(long, env = "CAMPAIGNS_SCHEDULE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub campaigns_schedule: Option<String>,
    /// When the outbox is drained [default: "0 * * * * *", every minute]
    #[arg(long, env = "EMAIL_DISPATCH_SCHEDULE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_dispatch_schedule: Option<String>,
    /// When the marketer digest is queued [default: "0 0 8 * * Mon"]
    #[arg(long, env = "MARKETER_DIGEST_SCHEDULE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marketer_digest_schedule: Option<String>,
    /// How often a scheduled run renews its heartbeat and tick lease, in seconds [default: 30]
    #[arg(long, env = "SCHEDULER_HEARTBEAT_SECONDS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduler_heartbeat_seconds: Option<u64>,
    /// How long a tick lease and a run's heartbeat last unrenewed, in seconds: a process
    /// that dies mid-run holds its job this long at most [default: 120]
    #[arg(long, env = "SCHEDULER_LEASE_SECONDS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduler_lease_seconds: Option<u64>,
    /// Wall-clock budget of one GraphQL query, in seconds [default: 10]
    #[arg(long, env = "REQUEST_TIMEOUT_SECONDS", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_timeout_seconds: Option<f64>,
    /// Time limit of each database statement of an API request, in seconds [default: 10]
    #[arg(long, env = "STATEMENT_TIMEOUT_SECONDS", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement_timeout_seconds: Option<f64>,
    /// Seconds a whole-base report (lifecycleSummary) computed for one request serves the
    /// next ones; 0: computed per request [default: 30]
    #[arg(long, env = "REPORT_CACHE_SECONDS", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report_cache_seconds: Option<f64>,
    /// Distinct operation names labelled in /metrics; later ones count as `other`
    /// [default: 100]
    #[arg(long, env = "METRICS_OPERATION_LABELS", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_operation_labels: Option<usize>,
    /// Bearer token /metrics requires [default: none, /metrics is open]
    #[arg(long, env = "METRICS_TOKEN", global = true, hide_env_values = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_token: Option<String>,
    #[command(flatten)]
    pub email: EmailArgs,
}

/// Email settings given on the command line or in the environment (the `[email]` table
/// of the configuration file takes the same keys).
#[derive(Clone, Debug, Default, Serialize, clap::Args)]
#[command(next_help_heading = "Email")]
pub struct EmailArgs {
    /// `smtp://host:port`, `smtp://host:port?tls=required` (STARTTLS) or
    /// `smtps://host:port`, credentials optional in the URL [default: none, write `.eml`
    /// files into OUTBOX_DIR]
    #[arg(long, env = "SMTP_URL", hide_env_values = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_url: Option<String>,
    /// SMTP password, when not in SMTP_URL
    #[arg(long, env = "SMTP_PASSWORD", hide_env_values = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_password: Option<String>,
    /// Sender of care emails and digests [default: "Clientele <care@localhost>"]
    #[arg(long, env = "EMAIL_FROM")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_from: Option<String>,
    /// Where `.eml` files go without SMTP_URL [default: ./outbox]
    #[arg(long, env = "OUTBOX_DIR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outbox_dir: Option<PathBuf>,
    /// `store_name` in email templates [default: Clientele]
    #[arg(long, env = "STORE_NAME")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_name: Option<String>,
    /// Directory of templates replacing the built-in ones: `<locale>/<kind>.{subject,html,txt}`
    #[arg(long, env = "TEMPLATES_DIR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub templates_dir: Option<PathBuf>,
    /// Comma-separated recipients of the weekly marketer digest (the API can replace them)
    #[arg(long, env = "DIGEST_RECIPIENTS", value_delimiter = ',')]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest_recipients: Option<Vec<String>>,
}

#[derive(Serialize)]
struct Defaults {
    database_url: &'static str,
    bind_addr: &'static str,
    log_format: LogFormat,
    scheduler_time_zone: String,
    value_scores_schedule: String,
    lifecycle_schedule: String,
    segments_schedule: String,
    campaigns_schedule: String,
    email_dispatch_schedule: String,
    marketer_digest_schedule: String,
    scheduler_heartbeat_seconds: u64,
    scheduler_lease_seconds: u64,
}

impl SettingsArgs {
    /// Resolves the layers into settings. A missing configuration file is fine (it is
    /// optional); a malformed one is an error naming the file.
    pub fn load(&self) -> anyhow::Result<Settings> {
        load(&self.database.config, self)
    }
}

impl DatabaseArgs {
    /// Resolves the layers into settings (the file may hold any of them; the command
    /// line and environment give only these).
    pub fn load(&self) -> anyhow::Result<Settings> {
        load(&self.config, self)
    }
}

fn load(config: &std::path::Path, given: &impl Serialize) -> anyhow::Result<Settings> {
    let schedules = jobs::SchedulerSettings::default();
    let defaults = Defaults {
        database_url: Settings::DEFAULT_DATABASE_URL,
        bind_addr: Settings::DEFAULT_BIND_ADDR,
        log_format: LogFormat::Pretty,
        scheduler_time_zone: schedules.time_zone,
        value_scores_schedule: schedules.value_scores,
        lifecycle_schedule: schedules.lifecycle,
        segments_schedule: schedules.segments,
        campaigns_schedule: schedules.campaigns,
        email_dispatch_schedule: schedules.email_dispatch,
        marketer_digest_schedule: schedules.marketer_digest,
        scheduler_heartbeat_seconds: schedules.heartbeat_seconds,
        scheduler_lease_seconds: schedules.lease_seconds,
    };
    let settings: Settings = Figment::new()
        .merge(Serialized::defaults(defaults))
        .merge(Toml::file(config))
        .merge(Serialized::defaults(given))
        .extract()
        .map_err(|error| {
            anyhow::anyhow!("invalid configuration (file {}): {error}", config.display())
        })?;
    settings.validate()?;
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nowhere() -> DatabaseArgs {
        DatabaseArgs {
            config: "does-not-exist.toml".into(),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_apply_when_nothing_is_given() {
        let args = SettingsArgs {
            database: nowhere(),
            ..Default::default()
        };
        let settings = args.load().unwrap();
        assert_eq!(settings.database_url(), Settings::DEFAULT_DATABASE_URL);
        assert_eq!(settings.bind_addr, "127.0.0.1:8080");
        assert_eq!(settings.public_url(), "http://127.0.0.1:8080");
        assert!(settings.cors_origins.is_empty());
    }

    #[test]
    fn flags_override_the_file_and_the_file_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("clientele.toml");
        std::fs::write(
            &file,
            "bind_addr = \"0.0.0.0:9000\"\npublic_url = \"https://crm.example.com/\"\n",
        )
        .unwrap();
        let args = SettingsArgs {
            database: DatabaseArgs {
                config: file,
                log_format: Some(LogFormat::Json),
                ..Default::default()
            },
            ..Default::default()
        };
        let settings = args.load().unwrap();
        assert_eq!(settings.bind_addr, "0.0.0.0:9000");
        assert_eq!(settings.public_url(), "https://crm.example.com");
        assert_eq!(settings.log_format, LogFormat::Json);
    }

    #[test]
    fn the_database_password_never_shows_in_debug_output() {
        let args = SettingsArgs {
            database: DatabaseArgs {
                database_url: Some("postgres://app:hunter2@db/clientele".into()),
                ..nowhere()
            },
            ..Default::default()
        };
        let settings = args.load().unwrap();
        assert!(!format!("{settings:?}").contains("hunter2"));
        let args = SettingsArgs {
            database: nowhere(),
            email: EmailArgs {
                smtp_url: Some("smtp://mailer:s3cret@smtp.example.com:587".into()),
                smtp_password: Some("hunter3".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let settings = args.load().unwrap();
        let debug = format!("{settings:?}");
        assert!(
            !debug.contains("s3cret") && !debug.contains("hunter3"),
            "{debug}"
        );
    }

    #[test]
    fn the_database_commands_read_the_database_from_the_file_too() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("clientele.toml");
        std::fs::write(&file, "database_url = \"sqlite://from-file.db\"\n").unwrap();
        let args = DatabaseArgs {
            config: file,
            ..Default::default()
        };
        assert_eq!(args.load().unwrap().database_url(), "sqlite://from-file.db");
    }

    #[test]
    fn a_database_url_that_cannot_work_is_refused_when_loading() {
        let args = DatabaseArgs {
            database_url: Some("redis://u:hunter2@h/x".into()),
            ..nowhere()
        };
        let error = format!("{:#}", args.load().unwrap_err());
        assert!(
            error.contains("redis://u:***@h/x") && !error.contains("hunter2"),
            "{error}"
        );
    }
}
