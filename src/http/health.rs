use actix_web::{HttpResponse, web};
use sea_orm::ConnectionTrait;

use super::AppState;

/// The process is up.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// The database answers; load balancers send traffic only to ready replicas.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.db.execute_unprepared("SELECT 1").await {
        Ok(_) => HttpResponse::Ok().content_type("text/plain").body("ready"),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed: database unreachable");
            HttpResponse::ServiceUnavailable()
                .content_type("text/plain")
                .body("database unreachable")
        }
    }
}
