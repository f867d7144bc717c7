use std::time::Instant;

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};

use super::AppState;
use crate::api_keys;
use crate::graphql::errors::{ensure_codes, unauthenticated};
use crate::graphql::limits;

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
        Some(secret) => match api_keys::authenticate(&state.db, &state.keys, secret).await {
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
    let (operation, mut response) = run_within_limits(&state, gql_request, principal).await;
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

/// Measures the document before async-graphql sees it (nesting, fragment expansion,
/// cost, directives), then runs it on the heavy pool when it selects heavy fields and,
/// for queries, within the time budget. Every response reports `extensions.cost`:
/// `requested`, the cost computed before running, and `actual`, the objects the data
/// holds. Returns the operation's metrics label and the response.
async fn run_within_limits(
    state: &AppState,
    mut request: async_graphql::Request,
    principal: api_keys::Principal,
) -> (String, async_graphql::Response) {
    let limits = state.limits.clone();
    if let Err(refusal) = limits::check_nesting(&request.query) {
        return ("anonymous".into(), refused(refusal));
    }
    let measured = match async_graphql::parser::parse_query(&request.query) {
        // Syntax errors are async-graphql's to report, with their positions.
        Err(_) => None,
        Ok(document) => {
            let chosen = request.operation_name.as_deref();
            let label = state
                .metrics
                .operation_label(operation_name(chosen, &document).as_deref());
            match limits.model.measure(&document, chosen, &request.variables) {
                Ok(measure) => {
                    request.set_parsed_query(document);
                    Some((label, measure))
                }
                Err(refusal) => return (label, refused(refusal)),
            }
        }
    };
    let (label, measure) = measured.unwrap_or_else(|| ("anonymous".into(), Default::default()));
    let request = request.data(principal);
    let run = async {
        let _permit = if measure.heavy {
            // The semaphore is never closed; a closed one would only mean no pool.
            limits.heavy.acquire().await.ok()
        } else {
            None
        };
        // A heavy query runs on a connection of its own, so that a client that leaves
        // (or a query out of time) cancels its statements: dropping this future drops
        // the connection's guard. Resolvers find it first: request data shadows the
        // schema's pool. Mutations run to the end, like every write.
        let dedicated = match &state.dedicated {
            Some(source) if measure.heavy && !measure.mutation => match source.open().await {
                Ok(dedicated) => Some(dedicated),
                Err(error) => {
                    tracing::warn!(
                        error = format!("{error:#}"),
                        "no dedicated connection; using the pool"
                    );
                    None
                }
            },
            _ => None,
        };
        let request = match &dedicated {
            Some(dedicated) => request.data(dedicated.db.clone()),
            None => request,
        };
        let response = state.schema.execute(request).await;
        if let Some(dedicated) = dedicated {
            dedicated.finish().await;
        }
        response
    };
    let mut response = if measure.mutation {
        run.await
    } else {
        match tokio::time::timeout(limits.timeout, run).await {
            Ok(response) => response,
            Err(_) => {
                let error = async_graphql::ServerError {
                    extensions: Some(extensions(&[(
                        "code",
                        crate::graphql::errors::TIMEOUT.into(),
                    )])),
                    ..async_graphql::ServerError::new(
                        format!(
                            "the query ran longer than its budget of {} s and was stopped; ask \
                             for smaller pages or fewer fields",
                            limits.timeout.as_secs_f64()
                        ),
                        None,
                    )
                };
                async_graphql::Response::from_errors(vec![error])
            }
        }
    };
    let actual = limits::returned_nodes(&response.data);
    response
        .extensions
        .insert("cost".into(), cost_extension(measure.cost, actual));
    (label, response)
}

/// A document refused before it ran: `BAD_USER_INPUT`, with the cost and its limit
/// when the cost is what was refused.
fn refused(refusal: limits::Refusal) -> async_graphql::Response {
    let mut entries = vec![("code", crate::graphql::errors::BAD_USER_INPUT.into())];
    if let Some((cost, limit)) = refusal.cost {
        entries.push(("cost", cost.into()));
        entries.push(("limit", limit.into()));
    }
    let error = async_graphql::ServerError {
        extensions: Some(extensions(&entries)),
        ..async_graphql::ServerError::new(refusal.message, None)
    };
    let mut response = async_graphql::Response::from_errors(vec![error]);
    let requested = refusal.cost.map_or(0, |(cost, _)| cost);
    response
        .extensions
        .insert("cost".into(), cost_extension(requested, 0));
    response
}

fn extensions(entries: &[(&str, async_graphql::Value)]) -> async_graphql::ErrorExtensionValues {
    let mut extensions = async_graphql::ErrorExtensionValues::default();
    for (name, value) in entries {
        extensions.set(*name, value.clone());
    }
    extensions
}

fn cost_extension(requested: u64, actual: u64) -> async_graphql::Value {
    let mut cost = async_graphql::indexmap::IndexMap::new();
    cost.insert(async_graphql::Name::new("requested"), requested.into());
    cost.insert(async_graphql::Name::new("actual"), actual.into());
    async_graphql::Value::Object(cost)
}

/// The operation's name: the one the client chose to run, else the name written in the
/// document when it holds exactly one operation.
fn operation_name(
    chosen: Option<&str>,
    document: &async_graphql::parser::types::ExecutableDocument,
) -> Option<String> {
    if let Some(name) = chosen {
        return Some(name.to_owned());
    }
    match &document.operations {
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
