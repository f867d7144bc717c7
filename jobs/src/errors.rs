//! The domain's error vocabulary: what an operation answers besides success. The GraphQL
//! layer maps each variant to one error code (`src/graphql/errors.rs`), so a rule lives
//! here once and every caller — API, CLI, jobs — reports it the same way.
//!
//! [`Problems`] and [`DomainError`] deliberately do not implement `Display`: async-graphql
//! turns anything displayable into an error without a code on `?`, which would reach
//! clients as `INTERNAL`. The GraphQL layer converts them explicitly instead.

use serde::Serialize;

/// One thing wrong with one input value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Row of a bulk input, when the input is a list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// Path of the value from the argument's name, one spelling everywhere:
    /// `input[3].email`, `rule.all[2].condition.value`.
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Every problem of an input, collected before anything is written, so that a client
/// fixes a whole batch in one round trip. Never empty when returned as an error.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Problems {
    problems: Vec<Problem>,
}

impl Problems {
    pub fn new() -> Self {
        Self::default()
    }

    /// A single bad value.
    pub fn one(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut problems = Self::new();
        problems.push(None, field, message);
        problems
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

    pub fn as_slice(&self) -> &[Problem] {
        &self.problems
    }

    /// `Ok(())` when nothing was wrong.
    pub fn into_result(self) -> Result<(), Problems> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }

    /// One line for a client: the only problem, or how many and the first.
    pub fn message(&self) -> String {
        match self.problems.as_slice() {
            [] => "invalid input".to_owned(),
            [only] => only.to_string(),
            [first, ..] => format!(
                "{} problems in the input, the first: {first}",
                self.problems.len()
            ),
        }
    }
}

/// Why a domain operation did not do what it was asked.
#[derive(Debug)]
pub enum DomainError {
    /// The input is wrong; nothing was written.
    Invalid(Problems),
    /// The entity an input names does not exist (the text says which: "segment 12").
    NotFound(String),
    /// Anything else: the database, a bug. Logged by the caller, never shown to clients.
    Internal(anyhow::Error),
}

impl From<Problems> for DomainError {
    fn from(problems: Problems) -> Self {
        Self::Invalid(problems)
    }
}

impl From<anyhow::Error> for DomainError {
    fn from(error: anyhow::Error) -> Self {
        Self::Internal(error)
    }
}

/// For callers outside the API (the command line, jobs), where every failure is a message.
impl From<DomainError> for anyhow::Error {
    fn from(error: DomainError) -> Self {
        match error {
            DomainError::Invalid(problems) => anyhow::anyhow!(problems.message()),
            DomainError::NotFound(what) => anyhow::anyhow!("{what} not found"),
            DomainError::Internal(error) => error,
        }
    }
}

impl DomainError {
    /// A single bad value.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid(Problems::one(field, message))
    }

    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Self::NotFound(what.to_string())
    }
}

impl From<sea_orm::DbErr> for DomainError {
    fn from(error: sea_orm::DbErr) -> Self {
        Self::Internal(error.into())
    }
}

/// What a domain operation returns.
pub type DomainResult<T> = Result<T, DomainError>;
