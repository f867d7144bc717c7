//! Survey emails: the `SURVEY` campaign kind sends eleven signed score links some days
//! after an order (the producer is `crate::campaigns`', the links [`links`]); a click
//! records an NPS answer through the email channel, and the thank-you page that follows
//! may add a comment to it.
//!
//! One email, one answer: `survey_responses` keys the answer by `(customer_id,
//! email_id)`, so clicking another link of the same email changes the score of that
//! answer, and a comment lands on it too. Concurrent clicks of one email are kept to one
//! answer by that key (see [`write`]). The answer is an ordinary `feedback` row (written
//! through `crate::feedback`), so satisfaction reports, topics, the follow-up queue and
//! segments read a changed score at once.

/// The signed score links.
pub mod links;

use anyhow::Context;
use chrono::{DateTime, Utc};
use entity::{
    EmailKind, FeedbackKind, InteractionChannel, TopicSource, customer, email, feedback,
    survey_response,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, TransactionSession,
    TransactionTrait,
    sea_query::{Expr, OnConflict},
};

use crate::{DomainResult, Problems, domain::parse_free_text, feedback as answers};
pub use links::ScoreLink;

/// Most characters of a comment sent from the thank-you page.
pub const COMMENT_CHARS: usize = 2_000;

/// Tries of one click: a click that loses the race for its email's first answer tries
/// again, and then finds that answer.
const ATTEMPTS: usize = 3;

/// What a genuine link led to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The email's answer, as it now stands.
    Answered(Answered),
    /// No survey email with this id to this customer.
    Unknown,
    /// The customer was erased: the link records nothing any more.
    Closed,
}

/// The answer of one survey email.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answered {
    pub feedback_id: i64,
    pub score: i32,
    pub comment: Option<String>,
    /// The customer's locale (BCP 47), for the page that says thank you.
    pub locale: String,
    /// False when this click recorded the email's answer, true when it changed it.
    pub changed: bool,
}

/// What a click writes.
enum Write {
    /// The link's score.
    Score,
    /// A comment and the terms extracted from it.
    Comment {
        text: String,
        topics: Vec<(String, TopicSource)>,
    },
}

/// A click: records the link's score as the email's answer, or changes the score of the
/// answer the email already has.
pub async fn answer<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    link: ScoreLink,
    now: DateTime<Utc>,
) -> anyhow::Result<Outcome> {
    let person = match recipient(db, link).await? {
        Ok(person) => person,
        Err(outcome) => return Ok(outcome),
    };
    let (saved, changed) = write(db, link, Write::Score, now).await?;
    Ok(answered(saved, person, changed))
}

/// A comment from the thank-you page: stored on the email's answer (recorded with the
/// link's score when there is none yet), its terms extracted as for any comment without
/// tags. Refused, naming `comment`, when empty or longer than [`COMMENT_CHARS`].
pub async fn comment<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    link: ScoreLink,
    text: &str,
    now: DateTime<Utc>,
) -> DomainResult<Outcome> {
    let text = match parse_free_text(text, COMMENT_CHARS) {
        Ok(Some(text)) => text,
        Ok(None) => return Err(Problems::one("comment", "is empty").into()),
        Err(message) => return Err(Problems::one("comment", message).into()),
    };
    let person = match recipient(db, link).await? {
        Ok(person) => person,
        Err(outcome) => return Ok(outcome),
    };
    let topics = answers::terms_of_comment(&text).await?;
    let (saved, changed) = write(db, link, Write::Comment { text, topics }, now).await?;
    Ok(answered(saved, person, changed))
}

/// The language of the customer a link may answer for (None when it may answer for no
/// one), for pages about a refused comment.
pub async fn locale_of(
    db: &impl ConnectionTrait,
    link: ScoreLink,
) -> anyhow::Result<Option<String>> {
    Ok(recipient(db, link).await?.ok().map(|person| person.locale))
}

fn answered(saved: feedback::Model, person: customer::Model, changed: bool) -> Outcome {
    Outcome::Answered(Answered {
        feedback_id: saved.id,
        score: saved.score,
        comment: saved.comment,
        locale: person.locale,
        changed,
    })
}

/// The customer a link may answer for: a survey email with this id went to them, and
/// they were not erased since.
async fn recipient(
    db: &impl ConnectionTrait,
    link: ScoreLink,
) -> anyhow::Result<Result<customer::Model, Outcome>> {
    let survey = email::Entity::find_by_id(link.email_id)
        .filter(email::Column::CustomerId.eq(link.customer_id))
        .filter(email::Column::Kind.eq(EmailKind::Survey))
        .one(db)
        .await
        .context("failed to read the email of a survey link")?;
    if survey.is_none() {
        return Ok(Err(Outcome::Unknown));
    }
    let person = customer::Entity::find_by_id(link.customer_id)
        .one(db)
        .await
        .context("failed to read the customer of a survey link")?;
    Ok(match person {
        None => Err(Outcome::Unknown),
        Some(person) if person.erased_at.is_some() => Err(Outcome::Closed),
        Some(person) => Ok(person),
    })
}

/// Writes a click on the email's answer; the answer and whether it existed before.
///
/// Each try is one transaction that starts by touching the email's `survey_responses`
/// row: a write, so SQLite takes its write lock before reading anything (a transaction
/// that read first could not write once another click had committed), and PostgreSQL
/// locks the row, so clicks of one email change its answer one at a time. Without a row,
/// the try inserts the answer and then the row; a concurrent first click of the same
/// email that committed meanwhile makes that insert a conflict (PostgreSQL waits for
/// it on the key), and the try rolls back its own answer and tries again — then it finds
/// the row. So an email never has two answers.
async fn write<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    link: ScoreLink,
    write: Write,
    now: DateTime<Utc>,
) -> anyhow::Result<(feedback::Model, bool)> {
    let customer_id = link.customer_id;
    for _ in 0..ATTEMPTS {
        let txn = db
            .begin()
            .await
            .context("failed to begin recording a survey answer")?;
        let linked = survey_response::Entity::update_many()
            .col_expr(survey_response::Column::UpdatedAt, Expr::value(now))
            .filter(survey_response::Column::CustomerId.eq(customer_id))
            .filter(survey_response::Column::EmailId.eq(link.email_id))
            .exec_with_returning(&txn)
            .await
            .context("failed to look up the answer of a survey email")?;
        if let Some(response) = linked.into_iter().next() {
            let saved = match &write {
                Write::Score => {
                    answers::change_score(&txn, customer_id, response.feedback_id, link.score)
                        .await?
                }
                Write::Comment { text, topics } => {
                    answers::replace_comment(
                        &txn,
                        customer_id,
                        response.feedback_id,
                        text.clone(),
                        topics.clone(),
                    )
                    .await?
                }
            };
            txn.commit()
                .await
                .context("failed to commit a survey answer")?;
            return Ok((saved, true));
        }
        let (comment, topics) = match &write {
            Write::Score => (None, Vec::new()),
            Write::Comment { text, topics } => (Some(text.clone()), topics.clone()),
        };
        let saved = answers::insert_answer(
            &txn,
            answers::Answer {
                customer_id,
                kind: FeedbackKind::Nps,
                score: link.score,
                comment,
                channel: Some(InteractionChannel::Email),
                occurred_at: now,
                topics,
            },
            now,
        )
        .await?;
        let inserted = survey_response::Entity::insert(survey_response::ActiveModel {
            customer_id: Set(customer_id),
            email_id: Set(link.email_id),
            feedback_id: Set(saved.id),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .on_conflict(
            OnConflict::columns([
                survey_response::Column::CustomerId,
                survey_response::Column::EmailId,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(&txn)
        .await
        .context("failed to link a survey email to its answer")?;
        if inserted == 1 {
            txn.commit()
                .await
                .context("failed to commit a survey answer")?;
            return Ok((saved, false));
        }
        // Another click of this email recorded its answer first: this one is dropped.
        tracing::debug!(
            email_id = link.email_id,
            "a concurrent click answered this survey email first"
        );
        txn.rollback()
            .await
            .context("failed to roll back a survey answer that lost the race")?;
    }
    anyhow::bail!(
        "the answer of survey email {} kept changing under {ATTEMPTS} tries",
        link.email_id
    )
}
