//! Interactions: contacts between the business and a customer (calls, visits,
//! messages). Their subject and note are free text, so personal: erasure wipes them.

use anyhow::Context;
use chrono::{DateTime, Utc};
use entity::{Direction, InteractionChannel, interaction};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set,
    sea_query::Expr,
};

use crate::customers;
use crate::domain::{Label, parse_free_text};
use crate::errors::{DomainResult, Problems};

/// Most characters of a subject.
const SUBJECT_CHARS: usize = 200;
/// Most characters of a note.
const NOTE_CHARS: usize = 10_000;

/// One interaction as sent (the argument `input` of `recordInteraction`).
#[derive(Clone, Debug)]
pub struct NewInteraction {
    pub customer_id: Option<String>,
    pub customer_external_id: Option<String>,
    pub channel: InteractionChannel,
    pub direction: Direction,
    pub subject: Option<String>,
    pub note: Option<String>,
    /// Default: now.
    pub occurred_at: Option<DateTime<Utc>>,
}

/// Records one interaction; every problem of the input at once otherwise.
pub async fn record(
    db: &impl ConnectionTrait,
    input: NewInteraction,
) -> DomainResult<interaction::Model> {
    let mut problems = Problems::new();
    let customer_id = customers::resolve_ref(
        db,
        input.customer_id.as_deref(),
        input.customer_external_id.as_deref(),
        &mut problems,
    )
    .await
    .context("failed to resolve the interaction's customer")?;
    let subject = input
        .subject
        .as_deref()
        .and_then(|s| problems.check(None, "input.subject", Label::parse(s, SUBJECT_CHARS)));
    let note = input
        .note
        .as_deref()
        .and_then(|note| problems.check(None, "input.note", parse_free_text(note, NOTE_CHARS)))
        .flatten();
    problems.into_result()?;
    let now = Utc::now();
    let model = interaction::ActiveModel {
        customer_id: Set(customer_id.unwrap_or_default()),
        channel: Set(input.channel),
        direction: Set(input.direction),
        subject: Set(subject.map(Label::into_inner)),
        note: Set(note),
        occurred_at: Set(input.occurred_at.unwrap_or(now)),
        created_at: Set(now),
        ..Default::default()
    };
    Ok(model
        .insert(db)
        .await
        .context("failed to insert an interaction")?)
}

/// Erasure: wipes the subjects and notes of a customer's interactions (the rest —
/// channel, direction, time — is not personal and stays for reports).
pub async fn erase_texts(db: &impl ConnectionTrait, customer_id: i64) -> Result<(), DbErr> {
    interaction::Entity::update_many()
        .col_expr(
            interaction::Column::Subject,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            interaction::Column::Note,
            Expr::value(Option::<String>::None),
        )
        .filter(interaction::Column::CustomerId.eq(customer_id))
        .exec(db)
        .await
        .map(|_| ())
}
