use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::configuration::LogFormat;

/// Installs the global subscriber. `RUST_LOG` overrides the default filter. Logs go to
/// stderr so that stdout stays clean for command output (keys, SDL).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn"));
    let registry = tracing_subscriber::registry().with(filter);
    // `try_init` because tests may build several applications in one process.
    let _ = match format {
        LogFormat::Pretty => registry
            .with(fmt::layer().with_writer(std::io::stderr))
            .try_init(),
        LogFormat::Json => registry
            .with(fmt::layer().json().with_writer(std::io::stderr))
            .try_init(),
    };
}
