//! Satisfaction: what the answers in `feedback` say about the base — NPS and CSAT per
//! week or month and overall with the change against the period before
//! ([`report`]), the topics that set detractors apart from promoters ([`topics`]), and
//! the queue of detractors nobody has called back yet ([`follow_ups`]). Every figure is
//! aggregated in SQL (the same statements on SQLite and PostgreSQL); Rust only adds up
//! a few grouped rows.
//!
//! Definitions, one place for all of them:
//! - NPS answers 9–10 are promoters, 7–8 passives, 0–6 detractors; the NPS of a set is
//!   100 × (promoters − detractors) / NPS answers, from −100 to 100, none without answers.
//! - CSAT answers are 1–5; the share of satisfied answers is those of 4 or 5.
//! - Days, weeks (Monday to Sunday) and months are UTC, whatever the customer's time zone.
//!
//! Personal data: the figures are counts over many answers and read with
//! `customers:read`. Extracted terms are the exception: they are words out of
//! comments, which are personal (and only shown with `pii:read`), and a term may still
//! be something a customer wrote about themselves. So callers pass the topic sources the
//! caller may read ([`TopicSource`]); the `topic` filter and the topic list see only
//! those — without `pii:read`, extracted terms do not exist for the caller, neither as
//! rows nor as a way to probe comments for a word through the counts.

/// Why customers leave: lapsed against retained customers, factor by factor.
pub mod churn_drivers;
/// The detractor follow-up queue.
pub mod follow_ups;
/// Per-topic mentions, NPS and lift.
pub mod topics;

use anyhow::Context as _;
use chrono::{DateTime, Datelike, Days, Months, NaiveDate, Utc};
use entity::sql::{Params, month_start_sql};
use entity::{FeedbackKind, InteractionChannel, TopicSource};
use sea_orm::{ConnectionTrait, DatabaseBackend, FromQueryResult};

use crate::domain::TopicTag;
use crate::errors::{DomainError, DomainResult, Problems};
use crate::lifecycle::Stage;
use crate::value::clv::ValueTier;
use crate::{day_start, sql::LATEST_VALUE_RUN};

pub use churn_drivers::{ChurnDrivers, churn_drivers};
pub use follow_ups::{FollowUp, FollowUpPosition, detractor_follow_ups};
pub use topics::{TopicFigures, feedback_topics};

/// Narrows the answers a report reads; every part given must hold.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Customers now in this segment (id as the API spells it).
    pub segment_id: Option<String>,
    /// Customers now in this lifecycle stage.
    pub stage: Option<Stage>,
    /// Customers in this value tier by the latest value scores.
    pub value_tier: Option<ValueTier>,
    /// Answers that came through this channel.
    pub channel: Option<InteractionChannel>,
    /// Answers with this topic (normalised like a tag), among the readable sources.
    pub topic: Option<String>,
    /// Answers at or after this.
    pub from: Option<DateTime<Utc>>,
    /// Answers before this.
    pub to: Option<DateTime<Utc>>,
}

/// `'TAG', 'EXTRACTED'`: the sources as SQL literals (fixed names, never input).
fn sources_sql(sources: &[TopicSource]) -> String {
    if sources.is_empty() {
        return "NULL".to_owned();
    }
    sources
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The stored kinds, for SQL written by hand.
const NPS: &str = FeedbackKind::Nps.as_str();
const CSAT: &str = FeedbackKind::Csat.as_str();

/// The conditions of `filter` on the answers aliased `f`, time bounds excepted (each
/// report bounds time its own way). Every problem of the filter at once; an unknown
/// segment is `NotFound`.
async fn conditions(
    db: &impl ConnectionTrait,
    filter: &Filter,
    sources: &[TopicSource],
    params: &mut Params,
) -> DomainResult<Vec<String>> {
    let mut problems = Problems::new();
    let segment_id = filter.segment_id.as_deref().and_then(|id| {
        problems.check(
            None,
            "filter.segmentId",
            id.trim()
                .parse::<i64>()
                .map_err(|_| format!("`{id}` is not a segment id")),
        )
    });
    let topic = filter
        .topic
        .as_deref()
        .and_then(|topic| problems.check(None, "filter.topic", TopicTag::parse(topic)));
    if let (Some(from), Some(to)) = (filter.from, filter.to)
        && to <= from
    {
        problems.push(None, "filter.to", "must be after `filter.from`");
    }
    problems.into_result()?;
    let mut conditions = Vec::new();
    if let Some(id) = segment_id {
        crate::segments::get(db, id).await?;
        conditions.push(format!(
            "EXISTS (SELECT 1 FROM segment_members m \
                     WHERE m.customer_id = f.customer_id AND m.segment_id = {})",
            params.bind(id)
        ));
    }
    if let Some(stage) = filter.stage {
        conditions.push(format!(
            "EXISTS (SELECT 1 FROM customer_lifecycle l \
                     WHERE l.customer_id = f.customer_id AND l.stage = {})",
            params.bind(stage.as_str())
        ));
    }
    if let Some(tier) = filter.value_tier {
        conditions.push(format!(
            "EXISTS (SELECT 1 FROM customer_values v \
                     WHERE v.customer_id = f.customer_id AND v.job_run_id = {LATEST_VALUE_RUN} \
                       AND v.value_tier = {})",
            params.bind(tier)
        ));
    }
    if let Some(channel) = filter.channel {
        use sea_orm::ActiveEnum;
        conditions.push(format!("f.channel = {}", params.bind(channel.to_value())));
    }
    if let Some(topic) = topic {
        conditions.push(format!(
            "EXISTS (SELECT 1 FROM feedback_topics t \
                     WHERE t.customer_id = f.customer_id AND t.feedback_id = f.id \
                       AND t.topic = {} AND t.source IN ({}))",
            params.bind(topic.into_inner()),
            sources_sql(sources)
        ));
    }
    Ok(conditions)
}

/// How a report splits its period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bucket {
    /// ISO weeks, Monday to Sunday (UTC).
    Week,
    /// Calendar months (UTC).
    Month,
}

/// Most buckets one report may have (ten years of months, two of weeks and more).
pub const MAX_BUCKETS: usize = 520;

/// Buckets shown when the filter has no `from`.
pub const DEFAULT_BUCKETS: u32 = 12;

impl Bucket {
    /// The first day of the bucket that holds `day`.
    pub fn start_of(self, day: NaiveDate) -> NaiveDate {
        match self {
            Bucket::Week => day - Days::new(u64::from(day.weekday().num_days_from_monday())),
            Bucket::Month => day.with_day(1).unwrap_or(day),
        }
    }

    /// The first day of the bucket `n` buckets after the one starting on `start`
    /// (before it for negative `n`).
    fn shift(self, start: NaiveDate, n: i32) -> NaiveDate {
        let step = |date: NaiveDate| -> Option<NaiveDate> {
            match (self, n >= 0) {
                (Bucket::Week, true) => date.checked_add_days(Days::new(7 * n as u64)),
                (Bucket::Week, false) => {
                    date.checked_sub_days(Days::new(7 * n.unsigned_abs() as u64))
                }
                (Bucket::Month, true) => date.checked_add_months(Months::new(n as u32)),
                (Bucket::Month, false) => date.checked_sub_months(Months::new(n.unsigned_abs())),
            }
        };
        step(start).unwrap_or(start)
    }

    /// The SQL of the bucket key of a timestamp: its bucket's first day as text.
    fn key_sql(self, backend: DatabaseBackend, column: &str) -> String {
        match self {
            Bucket::Week => entity::sql::week_start_sql(backend, column),
            Bucket::Month => month_start_sql(backend, column),
        }
    }
}

/// What a set of answers adds up to. Counts add, so periods are sums of groups.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromQueryResult)]
pub struct Counts {
    pub nps_responses: i64,
    pub promoters: i64,
    pub detractors: i64,
    pub csat_responses: i64,
    /// The sum of the CSAT scores.
    pub csat_total: i64,
    /// CSAT answers of 4 or 5.
    pub csat_satisfied: i64,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, other: Self) {
        self.nps_responses += other.nps_responses;
        self.promoters += other.promoters;
        self.detractors += other.detractors;
        self.csat_responses += other.csat_responses;
        self.csat_total += other.csat_total;
        self.csat_satisfied += other.csat_satisfied;
    }
}

/// 100 × (promoters − detractors) / answers; none without answers.
pub fn nps(promoters: i64, detractors: i64, responses: i64) -> Option<f64> {
    (responses > 0).then(|| 100.0 * (promoters - detractors) as f64 / responses as f64)
}

impl Counts {
    /// NPS and CSAT answers.
    pub fn responses(&self) -> i64 {
        self.nps_responses + self.csat_responses
    }

    /// NPS answers of 7 or 8.
    pub fn passives(&self) -> i64 {
        self.nps_responses - self.promoters - self.detractors
    }

    pub fn nps(&self) -> Option<f64> {
        nps(self.promoters, self.detractors, self.nps_responses)
    }

    /// The mean CSAT score, 1–5; none without CSAT answers.
    pub fn csat_average(&self) -> Option<f64> {
        (self.csat_responses > 0).then(|| self.csat_total as f64 / self.csat_responses as f64)
    }

    /// The share of CSAT answers of 4 or 5, 0–1; none without CSAT answers.
    pub fn csat_satisfied_share(&self) -> Option<f64> {
        (self.csat_responses > 0).then(|| self.csat_satisfied as f64 / self.csat_responses as f64)
    }
}

/// The answers of one stretch of time, `from ≤ occurred_at < to`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Figures {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub counts: Counts,
}

/// A period and the one it is compared with.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Period {
    pub current: Figures,
    pub previous: Figures,
}

/// How a period differs from the previous one (current − previous); a rate is none
/// when either side has no answers to rate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Change {
    pub responses: i64,
    /// In NPS points.
    pub nps: Option<f64>,
    pub csat_average: Option<f64>,
    pub csat_satisfied_share: Option<f64>,
}

impl Period {
    pub fn change(&self) -> Change {
        let (now, then) = (&self.current.counts, &self.previous.counts);
        let minus = |a: Option<f64>, b: Option<f64>| Some(a? - b?);
        Change {
            responses: now.responses() - then.responses(),
            nps: minus(now.nps(), then.nps()),
            csat_average: minus(now.csat_average(), then.csat_average()),
            csat_satisfied_share: minus(now.csat_satisfied_share(), then.csat_satisfied_share()),
        }
    }
}

/// The satisfaction report.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub bucket: Bucket,
    /// `filter.from ≤ occurred_at < filter.to`, against the period of the same length
    /// just before it.
    pub overall: Period,
    /// Each calendar bucket that overlaps the period, oldest first, empty ones included;
    /// the first and last are cut to the period. Each is compared with the whole
    /// calendar bucket before it.
    pub buckets: Vec<Period>,
}

/// The period a report covers: the filter's bounds, or `to` = now and `from` = the
/// start of the [`DEFAULT_BUCKETS`]th bucket back (the current one counted).
fn period(filter: &Filter, bucket: Bucket) -> DomainResult<(DateTime<Utc>, DateTime<Utc>)> {
    let to = filter.to.unwrap_or_else(Utc::now);
    let from = filter.from.unwrap_or_else(|| {
        let last = bucket.start_of(to.date_naive());
        day_start(bucket.shift(last, 1 - DEFAULT_BUCKETS as i32))
    });
    if to <= from {
        return Err(DomainError::invalid(
            "filter.to",
            "must be after `filter.from`",
        ));
    }
    Ok((from, to))
}

/// The first days of the buckets that overlap `from ≤ t < to`, and the first day after
/// the last one.
fn bucket_starts(
    bucket: Bucket,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> DomainResult<Vec<NaiveDate>> {
    let mut starts = vec![bucket.start_of(from.date_naive())];
    loop {
        let last = *starts.last().unwrap_or(&from.date_naive());
        if day_start(last) >= to {
            break;
        }
        if starts.len() > MAX_BUCKETS {
            return Err(DomainError::invalid(
                "bucket",
                format!(
                    "at most {MAX_BUCKETS} buckets per report: narrow `filter.from`/`filter.to` or use a longer bucket"
                ),
            ));
        }
        starts.push(bucket.shift(last, 1));
    }
    Ok(starts)
}

/// NPS and CSAT per bucket and overall, each against the period before it, for the
/// answers `filter` keeps. One scan of the answers from the earliest comparison period
/// on, grouped by bucket and by which of the compared periods an answer falls in.
pub async fn report(
    db: &impl ConnectionTrait,
    filter: &Filter,
    bucket: Bucket,
    sources: &[TopicSource],
) -> DomainResult<Report> {
    let backend = db.get_database_backend();
    let mut params = Params::new(backend);
    let conditions = conditions(db, filter, sources, &mut params).await?;
    let (from, to) = period(filter, bucket)?;
    let starts = bucket_starts(bucket, from, to)?;
    let previous_from = from - (to - from);
    // The calendar bucket before the first is the first one's comparison.
    let before_first = day_start(bucket.shift(starts[0], -1));
    let earliest = previous_from.min(before_first);
    let (from_p, to_p, previous_p, earliest_p) = (
        params.bind(from),
        params.bind(to),
        params.bind(previous_from),
        params.bind(earliest),
    );
    let filters: String = conditions.iter().map(|c| format!(" AND {c}")).collect();
    let sql = format!(
        "SELECT {key} AS bucket, \
                CAST(CASE WHEN f.occurred_at >= {from_p} THEN 1 ELSE 0 END AS INTEGER) AS in_period, \
                CAST(CASE WHEN f.occurred_at >= {previous_p} AND f.occurred_at < {from_p} \
                          THEN 1 ELSE 0 END AS INTEGER) AS in_previous, \
                COUNT(CASE WHEN f.kind = '{NPS}' THEN 1 END) AS nps_responses, \
                COUNT(CASE WHEN f.kind = '{NPS}' AND f.score >= 9 THEN 1 END) AS promoters, \
                COUNT(CASE WHEN f.kind = '{NPS}' AND f.score <= 6 THEN 1 END) AS detractors, \
                COUNT(CASE WHEN f.kind = '{CSAT}' THEN 1 END) AS csat_responses, \
                CAST(COALESCE(SUM(CASE WHEN f.kind = '{CSAT}' THEN f.score END), 0) AS BIGINT) \
                  AS csat_total, \
                COUNT(CASE WHEN f.kind = '{CSAT}' AND f.score >= 4 THEN 1 END) AS csat_satisfied \
         FROM feedback f \
         WHERE f.occurred_at >= {earliest_p} AND f.occurred_at < {to_p}{filters} \
         GROUP BY 1, 2, 3",
        key = bucket.key_sql(backend, "f.occurred_at"),
    );
    #[derive(FromQueryResult)]
    struct Group {
        bucket: String,
        in_period: i32,
        in_previous: i32,
        #[sea_orm(nested)]
        counts: Counts,
    }
    let groups = Group::find_by_statement(params.statement(sql))
        .all(db)
        .await
        .context("failed to add up satisfaction")?;
    let sum = |keep: &dyn Fn(&Group) -> bool| {
        let mut total = Counts::default();
        for group in groups.iter().filter(|g| keep(g)) {
            total += group.counts;
        }
        total
    };
    let key = |day: NaiveDate| day.format("%Y-%m-%d").to_string();
    let figures = |from, to, counts| Figures { from, to, counts };
    let overall = Period {
        current: figures(from, to, sum(&|g| g.in_period == 1)),
        previous: figures(previous_from, from, sum(&|g| g.in_previous == 1)),
    };
    let mut buckets = Vec::with_capacity(starts.len());
    let mut previous_start = bucket.shift(starts[0], -1);
    for pair in starts.windows(2) {
        let (start, end) = (pair[0], pair[1]);
        let (this, before) = (key(start), key(previous_start));
        buckets.push(Period {
            current: figures(
                day_start(start).max(from),
                day_start(end).min(to),
                sum(&|g| g.in_period == 1 && g.bucket == this),
            ),
            previous: figures(
                day_start(previous_start),
                day_start(start),
                sum(&|g| g.bucket == before),
            ),
        });
        previous_start = start;
    }
    Ok(Report {
        bucket,
        overall,
        buckets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn buckets_start_on_mondays_and_first_days() {
        assert_eq!(Bucket::Week.start_of(day("2026-11-30")), day("2026-11-30"));
        assert_eq!(Bucket::Week.start_of(day("2026-12-06")), day("2026-11-30"));
        assert_eq!(Bucket::Month.start_of(day("2026-02-28")), day("2026-02-01"));
        assert_eq!(
            Bucket::Month.shift(day("2026-01-01"), -1),
            day("2025-12-01")
        );
        assert_eq!(Bucket::Week.shift(day("2026-11-30"), 2), day("2026-12-14"));
    }

    #[test]
    fn a_period_is_split_into_the_buckets_it_overlaps() {
        let from = day_start(day("2026-01-15"));
        let to = day_start(day("2026-03-01"));
        // Two buckets, and where the one after the last starts.
        assert_eq!(
            bucket_starts(Bucket::Month, from, to).unwrap(),
            [day("2026-01-01"), day("2026-02-01"), day("2026-03-01")]
        );
        let too_long = day_start(day("1980-01-01"));
        assert!(bucket_starts(Bucket::Week, too_long, to).is_err());
    }

    #[test]
    fn nps_counts_promoters_against_detractors() {
        let counts = Counts {
            nps_responses: 10,
            promoters: 5,
            detractors: 2,
            csat_responses: 4,
            csat_total: 15,
            csat_satisfied: 3,
        };
        assert_eq!(counts.nps(), Some(30.0));
        assert_eq!(counts.passives(), 3);
        assert_eq!(counts.csat_average(), Some(3.75));
        assert_eq!(counts.csat_satisfied_share(), Some(0.75));
        assert_eq!(Counts::default().nps(), None);
        assert_eq!(nps(0, 4, 4), Some(-100.0));
    }
}
