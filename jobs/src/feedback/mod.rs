//! Feedback: NPS and CSAT answers, the channel they came through and their topics —
//! the write side of the customer's voice (`jobs::satisfaction` reads it).
//!
//! An answer's topics are its tags when it is sent with some (normalised: see
//! [`TopicTag`]); otherwise, when it has a comment, the terms extracted from the comment
//! ([`terms`]), stored with source `EXTRACTED` at write time so that reports group by
//! them in SQL. A comment is free text, so personal: erasure wipes it and the terms
//! taken from it; tags, kind, score, channel and time stay for reports.

use anyhow::Context;
use chrono::{DateTime, Utc};
use entity::{FeedbackKind, InteractionChannel, TopicSource, feedback, feedback_topic};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult,
    QueryFilter, Set, Statement, TransactionSession, TransactionTrait,
    sea_query::{Expr, OnConflict},
};

use crate::customers;
use crate::domain::{TopicTag, parse_free_text};
use crate::errors::{DomainResult, Problems};

/// Keyword extraction from comments (Chinese and English).
pub mod terms;

/// Most characters of a comment.
const COMMENT_CHARS: usize = 10_000;

/// Most topics one answer may be tagged with.
pub const MAX_TOPICS: usize = 20;

/// One answer as sent (the argument `input` of `recordFeedback`).
#[derive(Clone, Debug)]
pub struct NewFeedback {
    pub customer_id: Option<String>,
    pub customer_external_id: Option<String>,
    pub kind: FeedbackKind,
    /// NPS 0–10, CSAT 1–5.
    pub score: i32,
    pub comment: Option<String>,
    /// Tags as sent; normalised and checked by [`record`].
    pub topics: Option<Vec<String>>,
    pub channel: Option<InteractionChannel>,
    /// Default: now.
    pub occurred_at: Option<DateTime<Utc>>,
}

/// The tags of one answer, normalised, duplicates (after normalisation) dropped, first
/// spelling first. Problems name each bad tag by its position as sent:
/// `{path}.topics[1]`, where `path` names the answer (`input`, or `input[2]` in a list).
pub fn parse_topics(
    topics: &[String],
    path: &str,
    index: Option<usize>,
    problems: &mut Problems,
) -> Vec<TopicTag> {
    if topics.len() > MAX_TOPICS {
        problems.push(
            index,
            format!("{path}.topics"),
            format!(
                "at most {MAX_TOPICS} topics per answer, got {}",
                topics.len()
            ),
        );
        return Vec::new();
    }
    let mut parsed: Vec<TopicTag> = Vec::new();
    for (i, raw) in topics.iter().enumerate() {
        if let Some(topic) =
            problems.check(index, &format!("{path}.topics[{i}]"), TopicTag::parse(raw))
            && !parsed.contains(&topic)
        {
            parsed.push(topic);
        }
    }
    parsed
}

/// The topics to store for an answer: its tags, or else the terms of its comment.
/// Extraction is CPU work (and loads the dictionary on first use), so it runs on a
/// blocking thread.
async fn topics_of(
    tags: Vec<TopicTag>,
    comment: Option<&str>,
) -> anyhow::Result<Vec<(String, TopicSource)>> {
    if !tags.is_empty() {
        return Ok(tags
            .into_iter()
            .map(|tag| (tag.into_inner(), TopicSource::Tag))
            .collect());
    }
    let Some(comment) = comment.map(str::to_owned) else {
        return Ok(Vec::new());
    };
    let extracted =
        tokio::task::spawn_blocking(move || terms::extract_terms(&comment, TopicTag::MAX_CHARS))
            .await
            .context("the keyword extraction of a comment failed")?;
    Ok(extracted
        .into_iter()
        .map(|term| (term, TopicSource::Extracted))
        .collect())
}

fn topic_rows(
    customer_id: i64,
    feedback_id: i64,
    topics: Vec<(String, TopicSource)>,
) -> impl Iterator<Item = feedback_topic::ActiveModel> {
    topics
        .into_iter()
        .map(move |(topic, source)| feedback_topic::ActiveModel {
            customer_id: Set(customer_id),
            feedback_id: Set(feedback_id),
            topic: Set(topic),
            source: Set(source),
        })
}

/// Inserts topic rows; a row already there stays (extraction may run twice for one
/// answer when two processes catch up at once).
async fn insert_topics(
    db: &impl ConnectionTrait,
    rows: Vec<feedback_topic::ActiveModel>,
) -> Result<u64, DbErr> {
    if rows.is_empty() {
        return Ok(0);
    }
    feedback_topic::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::columns([
                feedback_topic::Column::CustomerId,
                feedback_topic::Column::FeedbackId,
                feedback_topic::Column::Topic,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(db)
        .await
}

/// Records one answer with its topics; every problem of the input at once otherwise.
pub async fn record<C: ConnectionTrait + TransactionTrait>(
    db: &C,
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
                input.kind.as_str(),
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
    let tags = parse_topics(
        input.topics.as_deref().unwrap_or_default(),
        "input",
        None,
        &mut problems,
    );
    problems.into_result()?;
    let topics = topics_of(tags, comment.as_deref()).await?;
    let now = Utc::now();
    let txn = db
        .begin()
        .await
        .context("failed to begin recording feedback")?;
    let saved = insert_answer(
        &txn,
        Answer {
            customer_id: customer_id.unwrap_or_default(),
            kind: input.kind,
            score: input.score,
            comment,
            channel: input.channel,
            occurred_at: input.occurred_at.unwrap_or(now),
            topics,
        },
        now,
    )
    .await?;
    txn.commit()
        .await
        .context("failed to commit recorded feedback")?;
    Ok(saved)
}

/// One answer to store, checked: [`record`]'s input, or a click in a survey email.
pub(crate) struct Answer {
    pub customer_id: i64,
    pub kind: FeedbackKind,
    pub score: i32,
    pub comment: Option<String>,
    pub channel: Option<InteractionChannel>,
    pub occurred_at: DateTime<Utc>,
    /// From [`topics_of`] (or [`terms_of_comment`]).
    pub topics: Vec<(String, TopicSource)>,
}

/// Inserts one answer and its topics, in the caller's transaction.
pub(crate) async fn insert_answer(
    txn: &impl ConnectionTrait,
    answer: Answer,
    now: DateTime<Utc>,
) -> anyhow::Result<feedback::Model> {
    let saved = feedback::ActiveModel {
        customer_id: Set(answer.customer_id),
        kind: Set(answer.kind),
        score: Set(answer.score),
        comment: Set(answer.comment),
        channel: Set(answer.channel),
        occurred_at: Set(answer.occurred_at),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(txn)
    .await
    .context("failed to insert feedback")?;
    insert_topics(
        txn,
        topic_rows(answer.customer_id, saved.id, answer.topics).collect(),
    )
    .await
    .context("failed to insert the feedback's topics")?;
    Ok(saved)
}

/// The topics of a comment sent without tags: its extracted terms.
pub(crate) async fn terms_of_comment(comment: &str) -> anyhow::Result<Vec<(String, TopicSource)>> {
    topics_of(Vec::new(), Some(comment)).await
}

/// Sets one column of one answer; the answer as it now is.
async fn set_on_answer(
    txn: &impl ConnectionTrait,
    customer_id: i64,
    feedback_id: i64,
    column: feedback::Column,
    value: sea_orm::Value,
) -> anyhow::Result<feedback::Model> {
    feedback::Entity::update_many()
        .col_expr(column, Expr::value(value))
        .filter(feedback::Column::CustomerId.eq(customer_id))
        .filter(feedback::Column::Id.eq(feedback_id))
        .exec_with_returning(txn)
        .await
        .with_context(|| format!("failed to change answer {feedback_id}"))?
        .into_iter()
        .next()
        .with_context(|| format!("answer {feedback_id} of customer {customer_id} is gone"))
}

/// Changes the score of an answer (a survey email's link clicked again). Reports read
/// answers as they are, so every figure shows the new score at once.
pub(crate) async fn change_score(
    txn: &impl ConnectionTrait,
    customer_id: i64,
    feedback_id: i64,
    score: i32,
) -> anyhow::Result<feedback::Model> {
    set_on_answer(
        txn,
        customer_id,
        feedback_id,
        feedback::Column::Score,
        score.into(),
    )
    .await
}

/// Replaces the comment of an answer and the terms extracted from the old one with
/// `topics` ([`terms_of_comment`] of the new one). An answer with tags keeps them and
/// gets no terms, as when it was recorded.
pub(crate) async fn replace_comment(
    txn: &impl ConnectionTrait,
    customer_id: i64,
    feedback_id: i64,
    comment: String,
    topics: Vec<(String, TopicSource)>,
) -> anyhow::Result<feedback::Model> {
    let saved = set_on_answer(
        txn,
        customer_id,
        feedback_id,
        feedback::Column::Comment,
        comment.into(),
    )
    .await?;
    let tagged = feedback_topic::Entity::find()
        .filter(feedback_topic::Column::CustomerId.eq(customer_id))
        .filter(feedback_topic::Column::FeedbackId.eq(feedback_id))
        .filter(feedback_topic::Column::Source.eq(TopicSource::Tag))
        .one(txn)
        .await
        .context("failed to read the tags of an answer")?
        .is_some();
    if tagged {
        return Ok(saved);
    }
    feedback_topic::Entity::delete_many()
        .filter(feedback_topic::Column::CustomerId.eq(customer_id))
        .filter(feedback_topic::Column::FeedbackId.eq(feedback_id))
        .filter(feedback_topic::Column::Source.eq(TopicSource::Extracted))
        .exec(txn)
        .await
        .context("failed to drop the terms of the old comment")?;
    insert_topics(txn, topic_rows(customer_id, feedback_id, topics).collect())
        .await
        .context("failed to store the terms of a comment")?;
    Ok(saved)
}

/// The topics of each of these answers (`(customer_id, feedback_id)`), tags and
/// extracted terms alike, in topic order.
pub async fn topics_of_answers(
    db: &impl ConnectionTrait,
    answers: &[(i64, i64)],
) -> DomainResult<Vec<feedback_topic::Model>> {
    use sea_orm::QueryOrder;
    use sea_orm::sea_query::ExprTrait;
    if answers.is_empty() {
        return Ok(Vec::new());
    }
    // By primary key: the customer ids come along (and route each lookup to the
    // customer's shard once the table is distributed).
    Ok(feedback_topic::Entity::find()
        .filter(
            Expr::tuple([
                Expr::col(feedback_topic::Column::CustomerId),
                Expr::col(feedback_topic::Column::FeedbackId),
            ])
            .in_tuples(answers.iter().copied()),
        )
        .order_by_asc(feedback_topic::Column::Topic)
        .all(db)
        .await
        .context("failed to load the topics of feedback")?)
}

/// How many answers are caught up per transaction by [`extract_pending_terms`].
const PENDING_BATCH: u64 = 500;

/// Extracts the terms of answers recorded before topics existed (queued by migration 15
/// in `feedback_terms_pending`), batch by batch: each batch's terms and the removal of
/// its queue rows commit together, so an interrupted run resumes where it stopped, and a
/// batch caught up twice (two processes starting at once) stores its terms once. With
/// the queue empty — every start after the first — this is one indexed probe. Answers
/// whose comment was erased meanwhile get no terms. Returns the answers caught up.
pub async fn extract_pending_terms<C: ConnectionTrait + TransactionTrait>(
    db: &C,
) -> anyhow::Result<u64> {
    #[derive(FromQueryResult)]
    struct Pending {
        customer_id: i64,
        feedback_id: i64,
        comment: Option<String>,
    }
    let backend = db.get_database_backend();
    let mut caught_up = 0;
    loop {
        let batch = Pending::find_by_statement(Statement::from_string(
            backend,
            format!(
                "SELECT p.customer_id, p.feedback_id, f.comment \
                 FROM feedback_terms_pending p \
                 LEFT JOIN feedback f ON f.customer_id = p.customer_id AND f.id = p.feedback_id \
                 ORDER BY p.customer_id, p.feedback_id LIMIT {PENDING_BATCH}"
            ),
        ))
        .all(db)
        .await
        .context("failed to read feedback waiting for term extraction")?;
        if batch.is_empty() {
            break;
        }
        let texts: Vec<Option<String>> = batch.iter().map(|p| p.comment.clone()).collect();
        let extracted = tokio::task::spawn_blocking(move || {
            texts
                .iter()
                .map(|comment| {
                    comment
                        .as_deref()
                        .map(|c| terms::extract_terms(c, TopicTag::MAX_CHARS))
                        .unwrap_or_default()
                })
                .collect::<Vec<_>>()
        })
        .await
        .context("the keyword extraction of old comments failed")?;
        let mut rows = Vec::new();
        for (pending, terms) in batch.iter().zip(extracted) {
            rows.extend(topic_rows(
                pending.customer_id,
                pending.feedback_id,
                terms
                    .into_iter()
                    .map(|term| (term, TopicSource::Extracted))
                    .collect(),
            ));
        }
        let txn = db
            .begin()
            .await
            .context("failed to begin storing extracted terms")?;
        insert_topics(&txn, rows)
            .await
            .context("failed to store the terms of old comments")?;
        let keys: Vec<String> = batch
            .iter()
            .map(|p| format!("({}, {})", p.customer_id, p.feedback_id))
            .collect();
        txn.execute_raw(Statement::from_string(
            backend,
            format!(
                "DELETE FROM feedback_terms_pending WHERE (customer_id, feedback_id) IN ({})",
                keys.join(", ")
            ),
        ))
        .await
        .context("failed to dequeue caught-up feedback")?;
        txn.commit()
            .await
            .context("failed to commit extracted terms")?;
        caught_up += batch.len() as u64;
    }
    if caught_up > 0 {
        tracing::info!(
            answers = caught_up,
            "extracted the terms of feedback recorded before topics"
        );
    }
    Ok(caught_up)
}

/// Erasure: wipes the comments of a customer's answers and the terms extracted from
/// them (kind, score, channel, tags and time stay).
pub async fn erase_comments(db: &impl ConnectionTrait, customer_id: i64) -> Result<(), DbErr> {
    feedback::Entity::update_many()
        .col_expr(
            feedback::Column::Comment,
            Expr::value(Option::<String>::None),
        )
        .filter(feedback::Column::CustomerId.eq(customer_id))
        .exec(db)
        .await?;
    feedback_topic::Entity::delete_many()
        .filter(feedback_topic::Column::CustomerId.eq(customer_id))
        .filter(feedback_topic::Column::Source.eq(TopicSource::Extracted))
        .exec(db)
        .await
        .map(|_| ())
}
