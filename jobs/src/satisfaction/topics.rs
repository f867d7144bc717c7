//! What the answers are about: per topic, how often promoters, passives and detractors
//! mention it, the NPS of the answers that mention it, and its lift — how much more often
//! detractors mention it than promoters.

use anyhow::Context as _;
use entity::TopicSource;
use sea_orm::{ConnectionTrait, FromQueryResult};

use super::{Filter, NPS, Params, conditions, nps, sources_sql};
use crate::errors::{DomainError, DomainResult};

/// Most topics one call returns.
pub const MAX_TOPICS: u64 = 500;

/// One topic from one source among the NPS answers a filter keeps (the API describes
/// each field for its users).
#[derive(Clone, Debug, PartialEq)]
pub struct TopicFigures {
    pub topic: String,
    pub source: TopicSource,
    /// NPS answers that mention it, by category.
    pub mentions: i64,
    pub promoters: i64,
    pub passives: i64,
    pub detractors: i64,
    pub nps: Option<f64>,
    /// Mentions among detractors / all detractors kept; none without detractors.
    pub detractor_rate: Option<f64>,
    /// Mentions among promoters / all promoters kept; none without promoters.
    pub promoter_rate: Option<f64>,
    /// `detractor_rate / promoter_rate`; none without a finite value (a rate is none,
    /// or no promoter mentions the topic).
    pub lift: Option<f64>,
}

/// The topics of the NPS answers `filter` keeps (time bounds included), most mentioned
/// first (then by topic), at most `limit`, from the readable `sources` only.
pub async fn feedback_topics(
    db: &impl ConnectionTrait,
    filter: &Filter,
    sources: &[TopicSource],
    limit: u64,
) -> DomainResult<Vec<TopicFigures>> {
    if limit > MAX_TOPICS {
        return Err(DomainError::invalid(
            "first",
            format!("at most {MAX_TOPICS} topics per call, got {limit}"),
        ));
    }
    let backend = db.get_database_backend();
    let mut params = Params::new(backend);
    let mut conditions = conditions(db, filter, sources, &mut params).await?;
    conditions.push(format!("f.kind = '{NPS}'"));
    if let Some(from) = filter.from {
        conditions.push(format!("f.occurred_at >= {}", params.bind(from)));
    }
    if let Some(to) = filter.to {
        conditions.push(format!("f.occurred_at < {}", params.bind(to)));
    }
    // The answers in scope once, read twice: for the whole set's promoters and
    // detractors (the rates' denominators) and joined to their topics.
    let sql = format!(
        "WITH scoped AS (SELECT f.customer_id, f.id, f.score FROM feedback f WHERE {where_}), \
              totals AS (SELECT COUNT(CASE WHEN score >= 9 THEN 1 END) AS all_promoters, \
                                COUNT(CASE WHEN score <= 6 THEN 1 END) AS all_detractors \
                         FROM scoped) \
         SELECT t.topic, t.source, COUNT(*) AS mentions, \
                COUNT(CASE WHEN s.score >= 9 THEN 1 END) AS promoters, \
                COUNT(CASE WHEN s.score <= 6 THEN 1 END) AS detractors, \
                MAX(totals.all_promoters) AS all_promoters, \
                MAX(totals.all_detractors) AS all_detractors \
         FROM feedback_topics t \
         JOIN scoped s ON s.customer_id = t.customer_id AND s.id = t.feedback_id \
         CROSS JOIN totals \
         WHERE t.source IN ({sources}) \
         GROUP BY t.topic, t.source \
         ORDER BY COUNT(*) DESC, t.topic, t.source \
         LIMIT {limit}",
        where_ = conditions.join(" AND "),
        sources = sources_sql(sources),
    );
    #[derive(FromQueryResult)]
    struct Row {
        topic: String,
        source: TopicSource,
        mentions: i64,
        promoters: i64,
        detractors: i64,
        all_promoters: i64,
        all_detractors: i64,
    }
    let rows = Row::find_by_statement(params.statement(sql))
        .all(db)
        .await
        .context("failed to add up feedback topics")?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let rate = |part: i64, whole: i64| (whole > 0).then(|| part as f64 / whole as f64);
            let detractor_rate = rate(row.detractors, row.all_detractors);
            let promoter_rate = rate(row.promoters, row.all_promoters);
            let lift = match (detractor_rate, promoter_rate) {
                (Some(d), Some(p)) if p > 0.0 => Some(d / p),
                _ => None,
            };
            TopicFigures {
                nps: nps(row.promoters, row.detractors, row.mentions),
                passives: row.mentions - row.promoters - row.detractors,
                topic: row.topic,
                source: row.source,
                mentions: row.mentions,
                promoters: row.promoters,
                detractors: row.detractors,
                detractor_rate,
                promoter_rate,
                lift,
            }
        })
        .collect())
}
