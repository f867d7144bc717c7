//! The API's error vocabulary. Every error a client sees carries `extensions.code`:
//!
//! | code | meaning |
//! |---|---|
//! | `BAD_USER_INPUT` | the request is wrong; `extensions.field` names the input path, and bulk mutations list every bad row in `extensions.problems` |
//! | `UNAUTHENTICATED` | no, an unknown or a revoked API key |
//! | `FORBIDDEN` | the key lacks the scope the field needs |
//! | `NOT_FOUND` | the entity named by an argument does not exist |
//! | `INTERNAL` | our fault; the cause is logged, never echoed |
//! | `TIMEOUT` | the query ran past its wall-clock budget (`request_timeout_seconds`), or one of its statements past `statement_timeout_seconds`, and was stopped |

use async_graphql::{Error, ErrorExtensions};

pub const BAD_USER_INPUT: &str = "BAD_USER_INPUT";
pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
pub const FORBIDDEN: &str = "FORBIDDEN";
pub const NOT_FOUND: &str = "NOT_FOUND";
pub const INTERNAL: &str = "INTERNAL";
pub const TIMEOUT: &str = "TIMEOUT";

pub use jobs::{DomainError, DomainResult, Problem, Problems};

/// `BAD_USER_INPUT` naming the first problem's field and listing all in
/// `extensions.problems`.
pub fn invalid(problems: Problems) -> Error {
    let message = problems.message();
    let first = problems
        .as_slice()
        .first()
        .map(|p| p.field.clone())
        .unwrap_or_default();
    let listed = serde_json::to_value(problems.as_slice()).unwrap_or_default();
    Error::new(message).extend_with(|_, e| {
        e.set("code", BAD_USER_INPUT);
        e.set("field", first);
        if let Ok(value) = async_graphql::Value::from_json(listed) {
            e.set("problems", value);
        }
    })
}

/// `.into_api()?` on what the domain returns: each domain error becomes its code.
pub trait IntoApi<T> {
    fn into_api(self) -> Result<T, Error>;
}

impl<T> IntoApi<T> for Result<T, Problems> {
    fn into_api(self) -> Result<T, Error> {
        self.map_err(invalid)
    }
}

impl<T> IntoApi<T> for Result<T, DomainError> {
    fn into_api(self) -> Result<T, Error> {
        self.map_err(|error| match error {
            DomainError::Invalid(problems) => invalid(problems),
            DomainError::NotFound(what) => not_found(what),
            DomainError::Internal(error) => internal(error),
        })
    }
}

/// A single bad input value.
pub fn bad_input(field: &str, message: impl Into<String>) -> Error {
    invalid(Problems::one(field, message))
}

pub fn not_found(what: impl std::fmt::Display) -> Error {
    Error::new(format!("{what} not found")).extend_with(|_, e| e.set("code", NOT_FOUND))
}

pub fn forbidden(message: impl Into<String>) -> Error {
    Error::new(message.into()).extend_with(|_, e| e.set("code", FORBIDDEN))
}

pub fn unauthenticated(message: impl Into<String>) -> Error {
    Error::new(message.into()).extend_with(|_, e| e.set("code", UNAUTHENTICATED))
}

/// Logs the whole cause chain and returns an error that says nothing about it; a
/// statement stopped by the API's statement time limit is `TIMEOUT` instead.
pub fn internal(error: impl Into<anyhow::Error>) -> Error {
    let error = error.into();
    if crate::database::is_statement_timeout(&error) {
        tracing::warn!(error.cause_chain = ?error, "a request's statement ran out of time");
        return Error::new(
            "a database statement ran longer than the API allows (statement_timeout_seconds) \
             and was stopped; ask for fewer conditions, smaller pages or fewer fields",
        )
        .extend_with(|_, e| e.set("code", TIMEOUT));
    }
    tracing::error!(error.cause_chain = ?error, "internal error while serving a request");
    Error::new("internal error").extend_with(|_, e| e.set("code", INTERNAL))
}

/// `.internal()?` on any fallible step of a resolver.
pub trait OrInternal<T> {
    fn or_internal(self) -> Result<T, Error>;
}

impl<T, E: Into<anyhow::Error>> OrInternal<T> for Result<T, E> {
    fn or_internal(self) -> Result<T, Error> {
        self.map_err(internal)
    }
}

/// Gives every error in a finished response a code. Errors raised by our resolvers have
/// one already; async-graphql's own (syntax, validation, argument coercion) are the
/// client's mistakes; anything else that escaped with a raw message is masked as
/// `INTERNAL` so that database or library messages never reach clients.
pub fn ensure_codes(response: &mut async_graphql::Response) {
    for error in &mut response.errors {
        let has_code = error
            .extensions
            .as_ref()
            .is_some_and(|e| e.get("code").is_some());
        if has_code {
            continue;
        }
        let coercion = error.message.starts_with("Failed to parse")
            || error.message.starts_with("Invalid value")
            || error.message.starts_with("Oneof input objects");
        let code = if error.path.is_empty() || coercion {
            BAD_USER_INPUT
        } else {
            tracing::error!(message = %error.message, path = ?error.path, "uncoded resolver error");
            error.message = "internal error".into();
            INTERNAL
        };
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("code", code);
    }
}
