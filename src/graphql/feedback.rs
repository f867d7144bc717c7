//! Feedback: NPS and CSAT answers (the rules are `jobs::feedback`).

use async_graphql::{Context, ID, InputObject, Object, Result};
use chrono::{DateTime, Utc};
use entity::feedback;
use sea_orm::DatabaseConnection;

use crate::api_keys::Scope;
use crate::graphql::{enums::FeedbackKind, errors::IntoApi, guards::RequireScope};

/// One survey answer.
pub struct Feedback(pub feedback::Model);

#[Object]
impl Feedback {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn customer_id(&self) -> ID {
        ID(self.0.customer_id.to_string())
    }
    async fn kind(&self) -> FeedbackKind {
        self.0.kind.into()
    }
    /// NPS 0–10, CSAT 1–5.
    async fn score(&self) -> i32 {
        self.0.score
    }
    /// Free text: personal. Needs `pii:read`.
    #[graphql(guard = "RequireScope(Scope::PiiRead)")]
    async fn comment(&self) -> Option<&str> {
        self.0.comment.as_deref()
    }
    async fn occurred_at(&self) -> DateTime<Utc> {
        self.0.occurred_at
    }
}

#[derive(InputObject)]
pub struct FeedbackInput {
    pub customer_id: Option<ID>,
    pub customer_external_id: Option<String>,
    pub kind: FeedbackKind,
    /// NPS 0–10, CSAT 1–5.
    pub score: i32,
    /// Up to 10,000 characters.
    pub comment: Option<String>,
    /// Default: now.
    pub occurred_at: Option<DateTime<Utc>>,
}

impl From<FeedbackInput> for jobs::feedback::NewFeedback {
    fn from(input: FeedbackInput) -> Self {
        jobs::feedback::NewFeedback {
            customer_id: input.customer_id.map(|id| id.0),
            customer_external_id: input.customer_external_id,
            kind: input.kind.into(),
            score: input.score,
            comment: input.comment,
            occurred_at: input.occurred_at,
        }
    }
}

#[derive(Default)]
pub struct FeedbackMutation;

#[Object]
impl FeedbackMutation {
    #[graphql(guard = "RequireScope(Scope::CustomersWrite)")]
    async fn record_feedback(&self, ctx: &Context<'_>, input: FeedbackInput) -> Result<Feedback> {
        let db = ctx.data::<DatabaseConnection>()?;
        let recorded = jobs::feedback::record(db, input.into()).await.into_api()?;
        Ok(Feedback(recorded))
    }
}
