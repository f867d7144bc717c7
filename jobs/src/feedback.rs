//! Feedback: NPS and CSAT answers. A comment is free text, so personal: erasure wipes it.

use anyhow::Context;
use chrono::{DateTime, Utc};
use entity::{FeedbackKind, feedback};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set,
    sea_query::Expr,
};

use crate::customers;
use crate::domain::parse_free_text;
use crate::errors::{DomainResult, Problems};

/// Most characters of a comment.
const COMMENT_CHARS: usize = 10_000;

/// One answer as sent (the argument `input` of `recordFeedback`).
#[derive(Clone, Debug)]
pub struct NewFeedback {
    pub customer_id: Option<String>,
    pub customer_external_id: Option<String>,
    pub kind: FeedbackKind,
    /// NPS 0–10, CSAT 1–5.
    pub score: i32,
    pub comment: Option<String>,
    /// Default: now.
    pub occurred_at: Option<DateTime<Utc>>,
}

fn kind_name(kind: FeedbackKind) -> &'static str {
    match kind {
        FeedbackKind::Nps => "NPS",
        FeedbackKind::Csat => "CSAT",
    }
}

/// Records one answer; every problem of the input at once otherwise.
pub async fn record(
    db: &impl ConnectionTrait,
    input: NewFeedback,
) -> DomainResult<feedback::Model> {
    let mut problems = Problems::new();
    let customer_id = customers::resolve_ref(
        db,
        input.customer_id.as_deref(),
        input.customer_external_id.as_deref(),
        &mut problems,
    )
    .await
    .context("failed to resolve the feedback's customer")?;
    let range = input.kind.score_range();
    if !range.contains(&input.score) {
        problems.push(
            None,
            "input.score",
            format!(
                "a {} score is {} to {}, got {}",
                kind_name(input.kind),
                range.start(),
                range.end(),
                input.score
            ),
        );
    }
    let comment = input
        .comment
        .as_deref()
        .and_then(|comment| {
            problems.check(
                None,
                "input.comment",
                parse_free_text(comment, COMMENT_CHARS),
            )
        })
        .flatten();
    problems.into_result()?;
    let now = Utc::now();
    let model = feedback::ActiveModel {
        customer_id: Set(customer_id.unwrap_or_default()),
        kind: Set(input.kind),
        score: Set(input.score),
        comment: Set(comment),
        occurred_at: Set(input.occurred_at.unwrap_or(now)),
        created_at: Set(now),
        ..Default::default()
    };
    Ok(model
        .insert(db)
        .await
        .context("failed to insert feedback")?)
}

/// Erasure: wipes the comments of a customer's answers (kind, score and time stay).
pub async fn erase_comments(db: &impl ConnectionTrait, customer_id: i64) -> Result<(), DbErr> {
    feedback::Entity::update_many()
        .col_expr(
            feedback::Column::Comment,
            Expr::value(Option::<String>::None),
        )
        .filter(feedback::Column::CustomerId.eq(customer_id))
        .exec(db)
        .await
        .map(|_| ())
}
