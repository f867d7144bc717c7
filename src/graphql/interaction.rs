//! Interactions: contacts between the business and a customer (the rules are
//! `jobs::interactions`).

use async_graphql::{Context, ID, InputObject, Object, Result};
use chrono::{DateTime, Utc};
use entity::interaction;
use sea_orm::DatabaseConnection;

use crate::api_keys::Scope;
use crate::graphql::{
    enums::{Direction, InteractionChannel},
    errors::IntoApi,
    guards::RequireScope,
};

/// A call, visit, message or other contact.
pub struct Interaction(pub interaction::Model);

#[Object]
impl Interaction {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn customer_id(&self) -> ID {
        ID(self.0.customer_id.to_string())
    }
    async fn channel(&self) -> InteractionChannel {
        self.0.channel.into()
    }
    async fn direction(&self) -> Direction {
        self.0.direction.into()
    }
    /// Free text: personal. Needs `pii:read`.
    #[graphql(guard = "RequireScope(Scope::PiiRead)")]
    async fn subject(&self) -> Option<&str> {
        self.0.subject.as_deref()
    }
    /// Free text: personal. Needs `pii:read`.
    #[graphql(guard = "RequireScope(Scope::PiiRead)")]
    async fn note(&self) -> Option<&str> {
        self.0.note.as_deref()
    }
    async fn occurred_at(&self) -> DateTime<Utc> {
        self.0.occurred_at
    }
}

#[derive(InputObject)]
pub struct InteractionInput {
    pub customer_id: Option<ID>,
    pub customer_external_id: Option<String>,
    pub channel: InteractionChannel,
    pub direction: Direction,
    /// Up to 200 characters.
    pub subject: Option<String>,
    /// Up to 10,000 characters.
    pub note: Option<String>,
    /// Default: now.
    pub occurred_at: Option<DateTime<Utc>>,
}

impl From<InteractionInput> for jobs::interactions::NewInteraction {
    fn from(input: InteractionInput) -> Self {
        jobs::interactions::NewInteraction {
            customer_id: input.customer_id.map(|id| id.0),
            customer_external_id: input.customer_external_id,
            channel: input.channel.into(),
            direction: input.direction.into(),
            subject: input.subject,
            note: input.note,
            occurred_at: input.occurred_at,
        }
    }
}

#[derive(Default)]
pub struct InteractionMutation;

#[Object]
impl InteractionMutation {
    #[graphql(guard = "RequireScope(Scope::CustomersWrite)")]
    async fn record_interaction(
        &self,
        ctx: &Context<'_>,
        input: InteractionInput,
    ) -> Result<Interaction> {
        let db = ctx.data::<DatabaseConnection>()?;
        let recorded = jobs::interactions::record(db, input.into())
            .await
            .into_api()?;
        Ok(Interaction(recorded))
    }
}
