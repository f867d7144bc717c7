//! The service team's queue: detractors nobody has reached out to since they said so.
//!
//! A customer is in the queue while their latest NPS answer is a detractor's (0–6) and
//! no OUTBOUND interaction is recorded at or after that answer's time; recording one
//! (`recordInteraction`, direction OUTBOUND) takes them out, and a newer answer decides
//! again. Erased customers are never in it. Most value first: predicted CLV from the
//! latest value scores, customers without scores last, then by customer id.

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use entity::{Direction, FeedbackKind, InteractionChannel, Money, feedback};
use sea_orm::{ConnectionTrait, FromQueryResult};

use super::{NPS, Params};
use crate::errors::DomainResult;
use crate::sql::LATEST_VALUE_RUN;
use crate::value::clv::ValueTier;

/// Where a page of the queue starts: the last row's predicted CLV (units; none sorts
/// last) and customer id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FollowUpPosition {
    pub predicted_clv: Option<i64>,
    pub customer_id: i64,
}

/// A detractor waiting for a call.
#[derive(Clone, Debug, PartialEq)]
pub struct FollowUp {
    /// Their latest NPS answer (its time is how long they have been waiting).
    pub feedback: feedback::Model,
    pub predicted_clv: Option<Money>,
    pub value_tier: Option<ValueTier>,
}

impl FollowUp {
    pub fn customer_id(&self) -> i64 {
        self.feedback.customer_id
    }

    /// Where the page after this row starts.
    pub fn position(&self) -> FollowUpPosition {
        FollowUpPosition {
            predicted_clv: self.predicted_clv.map(|clv| clv.0),
            customer_id: self.feedback.customer_id,
        }
    }

    pub fn tier(&self) -> Option<ValueTier> {
        self.value_tier
    }
}

/// Up to `limit` detractors of the queue after `after`, most value first.
pub async fn detractor_follow_ups(
    db: &impl ConnectionTrait,
    after: Option<FollowUpPosition>,
    limit: u64,
) -> DomainResult<Vec<FollowUp>> {
    let mut params = Params::new(db.get_database_backend());
    let keyset = match after {
        None => String::new(),
        Some(FollowUpPosition {
            predicted_clv: Some(clv),
            customer_id,
        }) => {
            let (clv, id) = (params.bind(clv), params.bind(customer_id));
            format!(
                " AND (v.predicted_clv IS NULL OR v.predicted_clv < {clv} \
                       OR (v.predicted_clv = {clv} AND l.customer_id > {id}))"
            )
        }
        Some(FollowUpPosition {
            predicted_clv: None,
            customer_id,
        }) => format!(
            " AND v.predicted_clv IS NULL AND l.customer_id > {}",
            params.bind(customer_id)
        ),
    };
    let outbound = {
        use sea_orm::ActiveEnum;
        Direction::Outbound.to_value()
    };
    let sql = format!(
        "WITH latest AS ( \
           SELECT f.id, f.customer_id, f.kind, f.score, f.comment, f.channel, f.occurred_at, \
                  f.created_at, \
                  ROW_NUMBER() OVER (PARTITION BY f.customer_id \
                                     ORDER BY f.occurred_at DESC, f.id DESC) AS rn \
           FROM feedback f WHERE f.kind = '{NPS}') \
         SELECT l.id, l.customer_id, l.kind, l.score, l.comment, l.channel, l.occurred_at, \
                l.created_at, v.predicted_clv, v.value_tier \
         FROM latest l \
         JOIN customers c ON c.id = l.customer_id AND c.erased_at IS NULL \
         LEFT JOIN customer_values v ON v.customer_id = l.customer_id \
              AND v.job_run_id = {LATEST_VALUE_RUN} \
         WHERE l.rn = 1 AND l.score <= 6 \
           AND NOT EXISTS (SELECT 1 FROM interactions i \
                           WHERE i.customer_id = l.customer_id AND i.direction = '{outbound}' \
                             AND i.occurred_at >= l.occurred_at){keyset} \
         ORDER BY CASE WHEN v.predicted_clv IS NULL THEN 1 ELSE 0 END, v.predicted_clv DESC, \
                  l.customer_id \
         LIMIT {limit}"
    );
    #[derive(FromQueryResult)]
    struct Row {
        id: i64,
        customer_id: i64,
        kind: FeedbackKind,
        score: i32,
        comment: Option<String>,
        channel: Option<InteractionChannel>,
        occurred_at: DateTime<Utc>,
        created_at: DateTime<Utc>,
        predicted_clv: Option<Money>,
        value_tier: Option<ValueTier>,
    }
    let rows = Row::find_by_statement(params.statement(sql))
        .all(db)
        .await
        .context("failed to list detractors to follow up")?;
    Ok(rows
        .into_iter()
        .map(|row| FollowUp {
            feedback: feedback::Model {
                id: row.id,
                customer_id: row.customer_id,
                kind: row.kind,
                score: row.score,
                comment: row.comment,
                channel: row.channel,
                occurred_at: row.occurred_at,
                created_at: row.created_at,
            },
            predicted_clv: row.predicted_clv,
            value_tier: row.value_tier,
        })
        .collect())
}
