//! Prometheus metrics: GraphQL requests and latency by operation, errors by code, and the
//! database pool. One recorder per process (tests build many apps in one process).

use std::sync::OnceLock;

use actix_web::{HttpResponse, web};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use super::AppState;

#[derive(Clone)]
pub struct Metrics {
    handle: Option<PrometheusHandle>,
}

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

impl Metrics {
    /// Installs the process-wide recorder on first use.
    pub fn install() -> Self {
        let handle = HANDLE.get_or_init(|| match PrometheusBuilder::new().install_recorder() {
            Ok(handle) => Some(handle),
            Err(error) => {
                tracing::warn!(%error, "metrics recorder not installed; /metrics will be empty");
                None
            }
        });
        Metrics {
            handle: handle.clone(),
        }
    }
}

/// Operation names come from clients, so they are bounded before becoming labels.
pub fn operation_label(name: Option<&str>) -> String {
    match name {
        Some(name) if !name.is_empty() => name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(64)
            .collect(),
        _ => "anonymous".into(),
    }
}

pub async fn render(state: web::Data<AppState>) -> HttpResponse {
    record_pool(&state.db);
    let body = state
        .metrics
        .handle
        .as_ref()
        .map(PrometheusHandle::render)
        .unwrap_or_default();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(body)
}

fn record_pool(db: &sea_orm::DatabaseConnection) {
    let (size, idle) = match crate::database::backend(db) {
        sea_orm::DbBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            (pool.size(), pool.num_idle())
        }
        sea_orm::DbBackend::Sqlite => {
            let pool = db.get_sqlite_connection_pool();
            (pool.size(), pool.num_idle())
        }
        _ => return,
    };
    metrics::gauge!("db_pool_connections", "state" => "idle").set(idle as f64);
    metrics::gauge!("db_pool_connections", "state" => "in_use")
        .set(size.saturating_sub(idle as u32) as f64);
}
