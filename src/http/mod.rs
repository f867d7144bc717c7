//! The actix-web application: `/graphql` (and GraphiQL's files under `/graphiql/`), `/healthz`,
//! `/readyz`, `/metrics`, `/unsubscribe`, `/survey`.

/// GraphiQL (GET `/graphql`) and its files under `/graphiql/`, all served from the binary.
mod graphiql;
/// POST `/graphql`: authentication, limits, execution, metrics.
mod graphql;
/// Liveness and readiness.
mod health;
/// Prometheus metrics.
pub mod metrics;
/// The small HTML pages behind links in emails: their stylesheet, policy and escaping.
mod page;
/// Security headers: `nosniff` everywhere, CSP and frame denial on HTML pages.
pub mod security;
/// The survey links: a click records the score, the thank-you page takes a comment.
mod survey;
/// The unsubscribe page behind the links in care emails.
mod unsubscribe;

use actix_cors::Cors;
use actix_web::{HttpResponse, http::header, web};

use crate::graphql::AppSchema;

/// Largest request body accepted on `/graphql`.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// What every handler may need.
#[derive(Clone)]
pub struct AppState {
    /// The API pool: its statements have a time limit.
    pub db: sea_orm::DatabaseConnection,
    /// Verified keys (PostgreSQL; emptied on every revocation).
    pub keys: std::sync::Arc<crate::api_keys::KeyCache>,
    /// Connections of their own for heavy queries, cancelled when the client leaves.
    pub dedicated: Option<crate::database::DedicatedConnections>,
    /// Signs and checks the links in emails (unsubscribe, survey scores).
    pub mail: std::sync::Arc<jobs::mail::Mailer>,
    pub schema: AppSchema,
    pub metrics: metrics::Metrics,
    /// Nesting, cost, time and the heavy-request pool around each GraphQL request.
    pub limits: std::sync::Arc<crate::graphql::limits::RequestLimits>,
}

/// Registers every route on an actix `App`.
pub fn routes(config: &mut web::ServiceConfig) {
    config
        .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
        .service(
            web::resource("/graphql")
                .route(web::post().to(graphql::execute))
                .route(web::get().to(graphiql::page))
                .default_service(web::to(graphql_method_not_allowed)),
        )
        .route("/graphiql/{path:.*}", web::get().to(graphiql::asset))
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(metrics::render))
        .route("/unsubscribe/{token}", web::get().to(unsubscribe::confirm))
        .route(
            "/unsubscribe/{token}",
            web::post().to(unsubscribe::unsubscribe),
        )
        .service(
            web::resource("/survey/comment")
                .app_data(survey::comment_form_config())
                .route(web::post().to(survey::comment)),
        )
        .route("/survey/{token}", web::get().to(survey::answer));
}

/// Any other method on `/graphql` (RFC 9110: 405 names the allowed ones).
async fn graphql_method_not_allowed() -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, "GET, POST"))
        .finish()
}

/// CORS for the configured frontend origins; with none configured, browsers on other
/// origins are refused (server-to-server clients are unaffected by CORS).
pub fn cors(origins: &[String]) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods(["GET", "POST"])
        .allowed_headers([
            actix_web::http::header::AUTHORIZATION,
            actix_web::http::header::CONTENT_TYPE,
        ])
        .max_age(3600);
    for origin in origins {
        cors = cors.allowed_origin(origin.trim());
    }
    cors
}
