use std::time::Instant;

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};

use super::{AppState, metrics::operation_label};
use crate::api_keys;
use crate::graphql::errors::{ensure_codes, unauthenticated};

/// Executes one GraphQL request. The body limit is enforced by `PayloadConfig` (413);
/// the key is checked before anything runs (401 without a live key).
pub async fn execute(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let started = Instant::now();
    let principal = match bearer(&request) {
        None => {
            return refuse(
                StatusCode::UNAUTHORIZED,
                "send `Authorization: Bearer <API key>`",
                true,
            );
        }
        Some(secret) => match api_keys::authenticate(&state.db, secret).await {
            Ok(Some(principal)) => principal,
            Ok(None) => {
                return refuse(StatusCode::UNAUTHORIZED, "unknown or revoked API key", true);
            }
            Err(error) => {
                tracing::error!(error.cause_chain = ?error, "API key lookup failed");
                return refuse(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "could not check the API key; retry shortly",
                    false,
                );
            }
        },
    };

    let gql_request: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => {
            let message = format!("the body is not a GraphQL request: {error}");
            return error_response(
                StatusCode::BAD_REQUEST,
                message,
                crate::graphql::errors::BAD_USER_INPUT,
            );
        }
    };
    let operation = operation_label(operation_name(&gql_request).as_deref());
    let mut response = state.schema.execute(gql_request.data(principal)).await;
    ensure_codes(&mut response);

    for error in &response.errors {
        let code = error
            .extensions
            .as_ref()
            .and_then(|e| e.get("code"))
            .map(|code| code.to_string().trim_matches('"').to_owned())
            .unwrap_or_default();
        metrics::counter!("graphql_errors_total", "code" => code).increment(1);
    }
    metrics::counter!("graphql_requests_total", "operation" => operation.clone()).increment(1);
    metrics::histogram!("graphql_request_duration_seconds", "operation" => operation)
        .record(started.elapsed().as_secs_f64());

    match serde_json::to_vec(&response) {
        Ok(json) => HttpResponse::Ok()
            .content_type("application/json")
            .body(json),
        Err(error) => {
            tracing::error!(%error, "could not serialise a GraphQL response");
            error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error".into(),
                crate::graphql::errors::INTERNAL,
            )
        }
    }
}

/// The operation's name: the one the client chose to run, else the name written in the
/// document when it holds exactly one operation.
fn operation_name(request: &async_graphql::Request) -> Option<String> {
    if let Some(name) = &request.operation_name {
        return Some(name.clone());
    }
    let document = async_graphql::parser::parse_query(&request.query).ok()?;
    match document.operations {
        async_graphql::parser::types::DocumentOperations::Single(_) => None,
        async_graphql::parser::types::DocumentOperations::Multiple(operations)
            if operations.len() == 1 =>
        {
            operations.keys().next().map(|name| name.to_string())
        }
        async_graphql::parser::types::DocumentOperations::Multiple(_) => None,
    }
}

fn bearer(request: &HttpRequest) -> Option<&str> {
    let header = request
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = header.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn refuse(status: StatusCode, message: &str, challenge: bool) -> HttpResponse {
    metrics::counter!("graphql_errors_total", "code" => "UNAUTHENTICATED").increment(1);
    let error = unauthenticated(message).into_server_error(Default::default());
    let body = serde_json::json!({ "errors": [error] });
    let mut response = HttpResponse::build(status);
    if challenge {
        response.insert_header(("WWW-Authenticate", "Bearer"));
    }
    response.json(body)
}

fn error_response(status: StatusCode, message: String, code: &str) -> HttpResponse {
    metrics::counter!("graphql_errors_total", "code" => code.to_owned()).increment(1);
    HttpResponse::build(status).json(serde_json::json!({
        "errors": [{ "message": message, "extensions": { "code": code } }]
    }))
}
