use std::io::IsTerminal;

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::configuration::LogFormat;

/// What is logged when `RUST_LOG` is unset: our INFO lines, the libraries' warnings
/// (tokio-cron-scheduler says "Job creator created" at INFO for every job it adds).
const DEFAULT_FILTER: &str =
    "info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn,tokio_cron_scheduler=warn";

/// Installs the global subscriber. `RUST_LOG` overrides the default filter. Logs go to
/// stderr so that stdout stays clean for command output (keys, SDL); they are coloured
/// only when stderr is a terminal, so files and collectors get no escape codes.
pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let registry = tracing_subscriber::registry().with(filter);
    // `try_init` because tests may build several applications in one process.
    let _ = match format {
        LogFormat::Pretty => registry
            .with(
                fmt::layer()
                    .with_ansi(std::io::stderr().is_terminal())
                    .with_writer(std::io::stderr),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(fmt::layer().json().with_writer(std::io::stderr))
            .try_init(),
    };
}
