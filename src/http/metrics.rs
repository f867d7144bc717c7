//! Prometheus metrics: GraphQL requests and latency by operation, errors by code, and the
//! database pool. One recorder per process (tests build many apps in one process).

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use actix_web::{HttpRequest, HttpResponse, web};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::AppState;

/// The label of operations past the label budget.
pub const OTHER_OPERATION: &str = "other";

#[derive(Clone)]
pub struct Metrics {
    handle: Option<PrometheusHandle>,
    /// Operation names labelled so far: each becomes a series that lives as long as the
    /// process, so clients choosing names must not choose how many there are.
    operations: Arc<Mutex<HashSet<String>>>,
    operation_limit: usize,
    /// `/metrics` reveals traffic; with a token it answers only to its holder.
    token: Option<SecretString>,
}

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

impl Metrics {
    /// Installs the process-wide recorder on first use. At most `operation_limit`
    /// distinct operation names become labels.
    pub fn install(operation_limit: usize, token: Option<SecretString>) -> Self {
        let handle = HANDLE.get_or_init(|| match PrometheusBuilder::new().install_recorder() {
            Ok(handle) => Some(handle),
            Err(error) => {
                tracing::warn!(%error, "metrics recorder not installed; /metrics will be empty");
                None
            }
        });
        Metrics {
            handle: handle.clone(),
            operations: Arc::default(),
            operation_limit,
            token,
        }
    }

    /// Operation names come from clients, so they are bounded before becoming labels:
    /// the first `operation_limit` distinct names are kept, later ones are `other`.
    pub fn operation_label(&self, name: Option<&str>) -> String {
        let label: String = match name {
            Some(name) if !name.is_empty() => name
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .take(64)
                .collect(),
            _ => return "anonymous".into(),
        };
        let mut operations = self
            .operations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if operations.contains(&label) {
            return label;
        }
        if operations.len() < self.operation_limit {
            operations.insert(label.clone());
            return label;
        }
        OTHER_OPERATION.into()
    }

    /// Whether the request may read `/metrics`. Digests are compared, so the time the
    /// comparison takes says nothing about the token.
    fn admits(&self, request: &HttpRequest) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        let presented = request
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        presented.is_some_and(|presented| {
            Sha256::digest(presented.as_bytes()) == Sha256::digest(token.expose_secret().as_bytes())
        })
    }
}

pub async fn render(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if !state.metrics.admits(&request) {
        return HttpResponse::Unauthorized()
            .insert_header(("WWW-Authenticate", "Bearer"))
            .body("send `Authorization: Bearer <metrics token>`");
    }
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
