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
use serde::Serialize;

pub const BAD_USER_INPUT: &str = "BAD_USER_INPUT";
pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
pub const FORBIDDEN: &str = "FORBIDDEN";
pub const NOT_FOUND: &str = "NOT_FOUND";
pub const INTERNAL: &str = "INTERNAL";
pub const TIMEOUT: &str = "TIMEOUT";

/// One thing wrong with one input value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Row of a bulk input, when the input is a list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// Path of the field inside the input, e.g. `input[3].email`.
    pub field: String,
    pub message: String,
}

/// Collects every problem of an input before anything is written, so that a client
/// fixes a whole batch in one round trip.
#[derive(Debug, Default)]
pub struct Problems {
    problems: Vec<Problem>,
}

impl Problems {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(
        &mut self,
        index: Option<usize>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.problems.push(Problem {
            index,
            field: field.into(),
            message: message.into(),
        });
    }

    /// Keeps the value when it parsed, records the problem otherwise.
    pub fn check<T>(
        &mut self,
        index: Option<usize>,
        field: &str,
        result: Result<T, String>,
    ) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(message) => {
                self.push(index, field, message);
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }

    /// `Ok(())` when nothing was wrong; otherwise one `BAD_USER_INPUT` error listing all.
    pub fn into_result(self) -> Result<(), Error> {
        let Some(first) = self.problems.first() else {
            return Ok(());
        };
        let message = if self.problems.len() == 1 {
            format!("{}: {}", first.field, first.message)
        } else {
            format!(
                "{} problems in the input, the first: {}: {}",
                self.problems.len(),
                first.field,
                first.message
            )
        };
        let field = first.field.clone();
        let problems = serde_json::to_value(&self.problems).unwrap_or_default();
        Err(Error::new(message).extend_with(|_, e| {
            e.set("code", BAD_USER_INPUT);
            e.set("field", field);
            if let Ok(value) = async_graphql::Value::from_json(problems) {
                e.set("problems", value);
            }
        }))
    }
}

/// A single bad input value.
pub fn bad_input(field: &str, message: impl Into<String>) -> Error {
    let mut problems = Problems::new();
    problems.push(None, field, message);
    match problems.into_result() {
        Err(error) => error,
        Ok(()) => Error::new("invalid input"),
    }
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
