//! Feedback: NPS and CSAT answers with their channel and topics (the rules are
//! `jobs::feedback`).

use async_graphql::{Context, ID, InputObject, Object, Result, dataloader::DataLoader};
use chrono::{DateTime, Utc};
use entity::{TopicSource, feedback};
use sea_orm::DatabaseConnection;

use crate::api_keys::Scope;
use crate::graphql::{
    enums::{FeedbackKind, InteractionChannel},
    errors::IntoApi,
    guards::RequireScope,
    loaders::FeedbackTopicsLoader,
};

/// One survey answer.
pub struct Feedback(pub feedback::Model);

impl Feedback {
    /// This answer's topics from one source.
    async fn topics_from(&self, ctx: &Context<'_>, source: TopicSource) -> Result<Vec<String>> {
        let loader = ctx.data::<DataLoader<FeedbackTopicsLoader>>()?;
        let topics = loader
            .load_one((self.0.customer_id, self.0.id))
            .await?
            .unwrap_or_default();
        Ok(topics
            .into_iter()
            .filter(|t| t.source == source)
            .map(|t| t.topic)
            .collect())
    }
}

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
    /// Where the answer came from; null when it was not recorded.
    async fn channel(&self) -> Option<InteractionChannel> {
        self.0.channel.map(Into::into)
    }
    /// The tags the answer was sent with, normalised (lower case), in alphabetical order.
    async fn topics(&self, ctx: &Context<'_>) -> Result<Vec<String>> {
        self.topics_from(ctx, TopicSource::Tag).await
    }
    /// Terms extracted from the comment when the answer came without tags (Chinese and
    /// English, stop words dropped; at most five), in alphabetical order. Derived from
    /// the comment, so personal like it: needs `pii:read`, and erasure removes them.
    #[graphql(guard = "RequireScope(Scope::PiiRead)")]
    async fn extracted_terms(&self, ctx: &Context<'_>) -> Result<Vec<String>> {
        self.topics_from(ctx, TopicSource::Extracted).await
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
    /// Up to 10,000 characters. Without `topics`, its terms become the answer's topics.
    pub comment: Option<String>,
    /// What the answer is about, e.g. `delivery`, `price`, `quality`, `service`: up to
    /// 20 tags of up to 64 letters, digits, spaces, `-` or `_`, stored trimmed and lower
    /// case, duplicates dropped. A bad tag is refused naming it: `input.topics[1]`.
    pub topics: Option<Vec<String>>,
    /// Where the answer came from.
    pub channel: Option<InteractionChannel>,
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
            topics: input.topics,
            channel: input.channel.map(Into::into),
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
