//! Interactions: contacts between the business and a customer.

use async_graphql::{Context, ID, InputObject, Object, Result};
use chrono::{DateTime, Utc};
use entity::interaction;
use sea_orm::{ActiveModelTrait, DatabaseConnection, Set};

use crate::api_keys::Scope;
use crate::domain::Label;
use crate::graphql::{
    customer_ref::{self, CustomerRef},
    enums::{Direction, InteractionChannel},
    errors::{IntoApi, OrInternal, Problems},
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
        let subject = input
            .subject
            .as_deref()
            .and_then(|s| problems.check(None, "input.subject", Label::parse(s, 200)));
        let note = match input.note.as_deref().map(str::trim) {
            Some(note) if note.chars().count() > 10_000 => {
                problems.push(None, "input.note", "is longer than 10000 characters");
                None
            }
            Some(note) if !note.is_empty() => Some(note.to_owned()),
            _ => None,
        };
        problems.into_result().into_api()?;
        let now = Utc::now();
        let model = interaction::ActiveModel {
            customer_id: Set(customer_id.unwrap_or_default()),
            channel: Set(input.channel.into()),
            direction: Set(input.direction.into()),
            subject: Set(subject.map(Label::into_inner)),
            note: Set(note),
            occurred_at: Set(input.occurred_at.unwrap_or(now)),
            created_at: Set(now),
            ..Default::default()
        };
        Ok(Interaction(model.insert(db).await.or_internal()?))
    }
}
