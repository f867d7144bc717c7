//! Feedback: NPS and CSAT answers.

use async_graphql::{Context, ID, InputObject, Object, Result};
use chrono::{DateTime, Utc};
use entity::feedback;
use sea_orm::{ActiveModelTrait, DatabaseConnection, Set};

use crate::api_keys::Scope;
use crate::graphql::{
    customer_ref::{self, CustomerRef},
    enums::FeedbackKind,
    errors::{IntoApi, OrInternal, Problems},
    guards::RequireScope,
};

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

#[derive(Default)]
pub struct FeedbackMutation;

#[Object]
impl FeedbackMutation {
    #[graphql(guard = "RequireScope(Scope::CustomersWrite)")]
    async fn record_feedback(&self, ctx: &Context<'_>, input: FeedbackInput) -> Result<Feedback> {
        let db = ctx.data::<DatabaseConnection>()?;
        let mut problems = Problems::new();
        let reference = CustomerRef {
            index: None,
            prefix: "input".into(),
            customer_id: input.customer_id.as_ref(),
            customer_external_id: input.customer_external_id.as_deref(),
        };
        let customer_id = customer_ref::resolve(db, &[reference], &mut problems)
            .await?
            .pop()
            .flatten();
        let kind: entity::FeedbackKind = input.kind.into();
        let range = kind.score_range();
        if !range.contains(&input.score) {
            problems.push(
                None,
                "input.score",
                format!(
                    "a {} score is {} to {}, got {}",
                    kind_name(kind),
                    range.start(),
                    range.end(),
                    input.score
                ),
            );
        }
        let comment = match input.comment.as_deref().map(str::trim) {
            Some(comment) if comment.chars().count() > 10_000 => {
                problems.push(None, "input.comment", "is longer than 10000 characters");
                None
            }
            Some(comment) if !comment.is_empty() => Some(comment.to_owned()),
            _ => None,
        };
        problems.into_result().into_api()?;
        let now = Utc::now();
        let model = feedback::ActiveModel {
            customer_id: Set(customer_id.unwrap_or_default()),
            kind: Set(kind),
            score: Set(input.score),
            comment: Set(comment),
            occurred_at: Set(input.occurred_at.unwrap_or(now)),
            created_at: Set(now),
            ..Default::default()
        };
        Ok(Feedback(model.insert(db).await.or_internal()?))
    }
}

fn kind_name(kind: entity::FeedbackKind) -> &'static str {
    match kind {
        entity::FeedbackKind::Nps => "NPS",
        entity::FeedbackKind::Csat => "CSAT",
    }
}
