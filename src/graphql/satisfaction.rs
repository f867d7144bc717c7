//! Satisfaction through the API: `satisfaction`, `feedbackTopics`,
//! `detractorFollowUps`, `churnDrivers` (the rules and definitions are
//! `jobs::satisfaction`).

use async_graphql::connection::Edge;
use async_graphql::{
    Context, Enum, ID, InputObject, Object, Result, SimpleObject, dataloader::DataLoader,
};
use chrono::{DateTime, Utc};
use jobs::satisfaction as rules;
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};

use crate::api_keys::Scope;
use crate::graphql::{
    customer::Customer,
    enums::{InteractionChannel, TopicSource},
    errors::{IntoApi, bad_input, forbidden},
    feedback::Feedback,
    guards::{RequireScope, principal},
    lifecycle::LifecycleStage,
    loaders::CustomerLoader,
    pagination::{Page, PlainConnection, encode_cursor},
    scalars::{Date, Decimal},
    value::ValueTier,
};

/// How `satisfaction` splits its period. Weeks and months are UTC (not the customers'
/// time zones).
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(remote = "jobs::satisfaction::Bucket")]
pub enum SatisfactionBucket {
    /// ISO weeks, Monday 00:00 UTC to Monday.
    Week,
    /// Calendar months, from the 1st 00:00 UTC.
    Month,
}

/// Which answers a satisfaction figure counts; every field given must hold.
#[derive(InputObject, Default)]
pub struct SatisfactionFilter {
    /// Customers now in this segment.
    pub segment_id: Option<ID>,
    /// Customers now in this lifecycle stage.
    pub stage: Option<LifecycleStage>,
    /// Customers in this value tier by the latest value scores.
    pub value_tier: Option<ValueTier>,
    /// Answers that came through this channel.
    pub channel: Option<InteractionChannel>,
    /// Answers with this topic, normalised like a tag (`Delivery` finds `delivery`): a
    /// tag, or — with `pii:read` only — a term extracted from a comment.
    pub topic: Option<String>,
    /// Answers at or after this. `satisfaction` defaults to the start of the 12th
    /// bucket back (the current one counted).
    pub from: Option<DateTime<Utc>>,
    /// Answers before this. `satisfaction` defaults to now.
    pub to: Option<DateTime<Utc>>,
}

impl From<SatisfactionFilter> for rules::Filter {
    fn from(filter: SatisfactionFilter) -> Self {
        rules::Filter {
            segment_id: filter.segment_id.map(|id| id.0),
            stage: filter.stage.map(Into::into),
            value_tier: filter.value_tier.map(Into::into),
            channel: filter.channel.map(Into::into),
            topic: filter.topic,
            from: filter.from,
            to: filter.to,
        }
    }
}

/// The topic sources this caller may read: extracted terms come out of comments, which
/// are personal, so only a key with `pii:read` sees them (the reasons are in
/// `jobs::satisfaction`).
fn readable_sources(ctx: &Context<'_>) -> Result<Vec<entity::TopicSource>> {
    let mut sources = vec![entity::TopicSource::Tag];
    if principal(ctx)?.has(Scope::PiiRead) {
        sources.push(entity::TopicSource::Extracted);
    }
    Ok(sources)
}

/// NPS and CSAT of the answers from `from` (inclusive) to `to` (exclusive).
pub struct SatisfactionFigures(rules::Figures);

#[Object]
impl SatisfactionFigures {
    async fn from(&self) -> DateTime<Utc> {
        self.0.from
    }
    async fn to(&self) -> DateTime<Utc> {
        self.0.to
    }
    /// NPS and CSAT answers.
    async fn responses(&self) -> i64 {
        self.0.counts.responses()
    }
    async fn nps_responses(&self) -> i64 {
        self.0.counts.nps_responses
    }
    /// NPS answers of 9 or 10.
    async fn promoters(&self) -> i64 {
        self.0.counts.promoters
    }
    /// NPS answers of 7 or 8.
    async fn passives(&self) -> i64 {
        self.0.counts.passives()
    }
    /// NPS answers of 0 to 6.
    async fn detractors(&self) -> i64 {
        self.0.counts.detractors
    }
    /// 100 × (promoters − detractors) / NPS answers, −100 to 100; null without NPS
    /// answers.
    async fn nps(&self) -> Option<f64> {
        self.0.counts.nps()
    }
    async fn csat_responses(&self) -> i64 {
        self.0.counts.csat_responses
    }
    /// The mean CSAT score, 1–5; null without CSAT answers.
    async fn csat_average(&self) -> Option<f64> {
        self.0.counts.csat_average()
    }
    /// The share of CSAT answers of 4 or 5, 0–1; null without CSAT answers.
    async fn csat_satisfied_share(&self) -> Option<f64> {
        self.0.counts.csat_satisfied_share()
    }
}

/// `current − previous`; a rate's change is null when either side has no answers.
#[derive(SimpleObject)]
pub struct SatisfactionChange {
    pub responses: i64,
    /// In NPS points.
    pub nps: Option<f64>,
    pub csat_average: Option<f64>,
    pub csat_satisfied_share: Option<f64>,
}

/// A period's figures, the compared period's, and the change between them.
pub struct SatisfactionPeriod(rules::Period);

#[Object]
impl SatisfactionPeriod {
    async fn current(&self) -> SatisfactionFigures {
        SatisfactionFigures(self.0.current)
    }
    /// For `overall`, the period of the same length just before; for a bucket, the
    /// whole calendar bucket before it.
    async fn previous(&self) -> SatisfactionFigures {
        SatisfactionFigures(self.0.previous)
    }
    async fn change(&self) -> SatisfactionChange {
        let change = self.0.change();
        SatisfactionChange {
            responses: change.responses,
            nps: change.nps,
            csat_average: change.csat_average,
            csat_satisfied_share: change.csat_satisfied_share,
        }
    }
}

/// NPS and CSAT over a period and per bucket of it.
pub struct Satisfaction(rules::Report);

#[Object]
impl Satisfaction {
    async fn bucket(&self) -> SatisfactionBucket {
        self.0.bucket.into()
    }
    /// The whole period, `filter.from` to `filter.to`.
    async fn overall(&self) -> SatisfactionPeriod {
        SatisfactionPeriod(self.0.overall)
    }
    /// Every week or month (UTC) that overlaps the period, oldest first, empty ones
    /// included; the first and last are cut to the period.
    async fn buckets(&self) -> Vec<SatisfactionPeriod> {
        self.0
            .buckets
            .iter()
            .copied()
            .map(SatisfactionPeriod)
            .collect()
    }
}

/// One topic among the NPS answers a filter keeps.
pub struct FeedbackTopic(rules::TopicFigures);

#[Object]
impl FeedbackTopic {
    async fn topic(&self) -> &str {
        &self.0.topic
    }
    async fn source(&self) -> TopicSource {
        self.0.source.into()
    }
    /// NPS answers with this topic.
    async fn mentions(&self) -> i64 {
        self.0.mentions
    }
    /// Mentions among promoters (9–10).
    async fn promoters(&self) -> i64 {
        self.0.promoters
    }
    /// Mentions among passives (7–8).
    async fn passives(&self) -> i64 {
        self.0.passives
    }
    /// Mentions among detractors (0–6).
    async fn detractors(&self) -> i64 {
        self.0.detractors
    }
    /// The NPS of the answers with this topic.
    async fn nps(&self) -> Option<f64> {
        self.0.nps
    }
    /// Detractor mention rate: detractors with this topic / all detractors the filter
    /// keeps, 0–1; null without detractors.
    async fn detractor_rate(&self) -> Option<f64> {
        self.0.detractor_rate
    }
    /// Promoter mention rate: promoters with this topic / all promoters the filter
    /// keeps, 0–1; null without promoters.
    async fn promoter_rate(&self) -> Option<f64> {
        self.0.promoter_rate
    }
    /// `detractorRate / promoterRate`: 2 means detractors mention the topic twice as
    /// often as promoters, below 1 that promoters mention it more, 0 that no detractor
    /// does. Null when either rate is null or no promoter mentions the topic (no finite
    /// ratio: compare the rates).
    async fn lift(&self) -> Option<f64> {
        self.0.lift
    }
}

/// A detractor nobody has reached out to since their answer.
pub struct DetractorFollowUp {
    row: rules::FollowUp,
    customer: entity::customer::Model,
}

#[Object]
impl DetractorFollowUp {
    async fn customer(&self) -> Customer {
        Customer(self.customer.clone())
    }
    /// Their latest NPS answer (0–6); its `occurredAt` is how long they have waited.
    async fn feedback(&self) -> Feedback {
        Feedback(self.row.feedback.clone())
    }
    /// From the latest value scores.
    async fn predicted_clv(&self) -> Option<Decimal> {
        self.row.predicted_clv.map(Decimal::from)
    }
    async fn value_tier(&self) -> Option<ValueTier> {
        self.row.tier().map(ValueTier::from)
    }
}

/// What a churn-driver row describes (each value's meaning is in the description of
/// `churnDrivers`).
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(remote = "jobs::satisfaction::churn_drivers::Factor")]
pub enum ChurnFactor {
    /// The latest NPS answer before the reference day: PROMOTER (9–10), PASSIVE (7–8),
    /// DETRACTOR (0–6), NO_ANSWER.
    NpsCategory,
    /// A topic of an answer (NPS or CSAT) before the reference day; `source` says whether
    /// a tag or a term extracted from a comment (extracted terms need `pii:read`).
    FeedbackTopic,
    /// INBOUND interactions in the 90 days before the reference day: NONE, ONE,
    /// TWO_OR_MORE (interactions have no type; their texts are personal and not read).
    Complaints,
    /// The acquisition channel; UNKNOWN when not recorded.
    Channel,
    /// The mean of the orders before the reference day, in the bands of
    /// `orderValueBands` (`under 50.00`, `50.00 to 100.00`, …, `500.00 or more`);
    /// NO_ORDERS.
    AverageOrderValue,
    /// YES when an offer code emailed to the customer was redeemed (the offer email
    /// converted) before the reference day, else NO. Orders do not record a code.
    DiscountUse,
    /// Days from the first order to the reference day: UNDER_90_DAYS,
    /// 90_DAYS_TO_1_YEAR, 1_TO_2_YEARS, 2_YEARS_OR_MORE; NO_ORDERS.
    Tenure,
    /// ISO 3166-1 alpha-2; UNKNOWN when not recorded.
    Country,
}

/// One value of one factor among lapsed and retained customers.
pub struct ChurnFactorRow(rules::churn_drivers::FactorRow);

#[Object]
impl ChurnFactorRow {
    async fn factor(&self) -> ChurnFactor {
        self.0.factor.into()
    }
    async fn value(&self) -> &str {
        &self.0.value
    }
    /// For FEEDBACK_TOPIC: TAG or EXTRACTED.
    async fn source(&self) -> Option<TopicSource> {
        self.0.source.map(Into::into)
    }
    /// Lapsed customers with this value.
    async fn lapsed(&self) -> i64 {
        self.0.lapsed
    }
    /// Retained customers with this value.
    async fn retained(&self) -> i64 {
        self.0.retained
    }
    /// Customers with this value in both groups.
    async fn count(&self) -> i64 {
        self.0.lapsed + self.0.retained
    }
    /// `lapsed` / all lapsed customers, 0–1; null without lapsed customers.
    async fn lapsed_share(&self) -> Option<f64> {
        self.0.lapsed_share
    }
    /// `retained` / all retained customers, 0–1; null without retained customers.
    async fn retained_share(&self) -> Option<f64> {
        self.0.retained_share
    }
    /// `lapsedShare / retainedShare`: 4 means the value is four times as common among
    /// lapsed customers as among retained ones. Null when no retained customer has it.
    async fn lift(&self) -> Option<f64> {
        self.0.lift
    }
    /// Fewer than 30 customers with this value in either group: too few for the lift
    /// to mean much.
    async fn low_count(&self) -> bool {
        self.0.low_count
    }
}

/// Lapsed against retained customers.
pub struct ChurnDrivers(rules::ChurnDrivers);

#[Object]
impl ChurnDrivers {
    /// The window: lapses at or after `from` …
    async fn from(&self) -> DateTime<Utc> {
        self.0.from
    }
    /// … and before `to` (the day after `asOf`, 00:00 UTC).
    async fn to(&self) -> DateTime<Utc> {
        self.0.to
    }
    /// Customers who lapsed in the window.
    async fn lapsed(&self) -> i64 {
        self.0.lapsed
    }
    /// Customers in ACTIVE or LOYAL at the end of `asOf` who did not lapse in the window.
    async fn retained(&self) -> i64 {
        self.0.retained
    }
    /// By factor; banded factors in band order, the others most lapsed customers first;
    /// at most 50 topics (those most lapsed customers mentioned).
    async fn factors(&self) -> Vec<ChurnFactorRow> {
        self.0.factors.iter().cloned().map(ChurnFactorRow).collect()
    }
}

/// Cursor of the follow-up queue: predicted CLV (null last) and customer id.
#[derive(Clone, Copy, Serialize, Deserialize)]
struct FollowUpCursor(Option<i64>, i64);

#[derive(Default)]
pub struct SatisfactionQuery;

#[Object]
impl SatisfactionQuery {
    /// NPS (promoters 9–10, passives 7–8, detractors 0–6; −100 to 100) and CSAT (mean
    /// 1–5, share of 4–5) with answer counts, overall and per week or month, each
    /// against the period before it. Buckets are UTC days (weeks from Monday), not the
    /// customers' time zones. Without `filter.from`/`filter.to`: the 12 buckets up to now.
    #[graphql(guard = "RequireScope(Scope::CustomersRead)")]
    async fn satisfaction(
        &self,
        ctx: &Context<'_>,
        filter: Option<SatisfactionFilter>,
        #[graphql(default_with = "SatisfactionBucket::Month")] bucket: SatisfactionBucket,
    ) -> Result<Satisfaction> {
        let db = ctx.data::<DatabaseConnection>()?;
        let sources = readable_sources(ctx)?;
        let filter = filter.unwrap_or_default().into();
        let report = rules::report(db, &filter, bucket.into(), &sources)
            .await
            .into_api()?;
        Ok(Satisfaction(report))
    }

    /// What NPS answers are about, most mentioned first: per topic, mentions among
    /// promoters, passives and detractors, the topic's NPS, and its lift. Topics are the
    /// answers' tags, and for answers without tags the terms extracted from their
    /// comments (`source: EXTRACTED`, Chinese and English). Extracted terms come from
    /// personal text: `sources` defaults to TAG, plus EXTRACTED for keys with
    /// `pii:read`; asking for EXTRACTED without it is FORBIDDEN. `first`: 1–500.
    #[graphql(guard = "RequireScope(Scope::CustomersRead)")]
    async fn feedback_topics(
        &self,
        ctx: &Context<'_>,
        filter: Option<SatisfactionFilter>,
        sources: Option<Vec<TopicSource>>,
        #[graphql(default = 50)] first: i32,
    ) -> Result<Vec<FeedbackTopic>> {
        let db = ctx.data::<DatabaseConnection>()?;
        let readable = readable_sources(ctx)?;
        let sources: Vec<entity::TopicSource> = match sources {
            None => readable,
            Some(asked) => {
                let asked: Vec<entity::TopicSource> = asked.into_iter().map(Into::into).collect();
                if asked.iter().any(|s| !readable.contains(s)) {
                    return Err(forbidden(
                        "extracted terms come from comments, which are personal: this API key lacks the `pii:read` scope",
                    ));
                }
                asked
            }
        };
        let limit = u64::try_from(first)
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| bad_input("first", format!("must be at least 1, got {first}")))?;
        let filter = filter.unwrap_or_default().into();
        let topics = rules::feedback_topics(db, &filter, &sources, limit)
            .await
            .into_api()?;
        Ok(topics.into_iter().map(FeedbackTopic).collect())
    }

    /// Why customers leave — **descriptive, not causal**: what sets customers who lapsed
    /// apart from customers who stayed, not what made them leave. **Lapsed**: customers
    /// who entered one of `stages` (default SILENT and CHURNED) in the `windowDays` (default
    /// 180) days up to and
    /// including `asOf` (UTC; default today), by their stage history; their reference day
    /// is the day of that first entry. **Retained**: customers in ACTIVE or LOYAL at the
    /// end of `asOf` who did not lapse in the window; their reference day is the day after
    /// `asOf`. Erased customers are in neither. Each customer is described as of their
    /// reference day by one value per factor (see `ChurnFactor`) and by the topics of
    /// their answers before it. Per value: both groups' counts and shares and the lift;
    /// `lowCount` when either group has fewer than 30 customers with it. Topics: tags, plus
    /// terms extracted from comments for keys with `pii:read`. `orderValueBands`: the
    /// lower bounds of the average order value bands after the first, increasing
    /// (default 50, 100, 200, 500 currency units).
    #[graphql(guard = "RequireScope(Scope::CustomersRead)")]
    async fn churn_drivers(
        &self,
        ctx: &Context<'_>,
        as_of: Option<Date>,
        stages: Option<Vec<LifecycleStage>>,
        #[graphql(default = 180)] window_days: i32,
        order_value_bands: Option<Vec<Decimal>>,
    ) -> Result<ChurnDrivers> {
        let db = ctx.data::<DatabaseConnection>()?;
        let as_of = as_of.map_or_else(|| Utc::now().date_naive(), |d| d.0);
        let mut query = rules::churn_drivers::Query::at(as_of, readable_sources(ctx)?);
        if let Some(stages) = stages {
            query.stages = stages.into_iter().map(Into::into).collect();
        }
        query.window_days = u32::try_from(window_days).map_err(|_| {
            bad_input(
                "windowDays",
                format!("must be at least 1, got {window_days}"),
            )
        })?;
        if let Some(bands) = order_value_bands {
            query.order_value_bounds = bands
                .iter()
                .enumerate()
                .map(|(i, band)| {
                    entity::Money::from_decimal(band.value()).map_err(|_| {
                        bad_input(
                            &format!("orderValueBands[{i}]"),
                            "is not an amount of money",
                        )
                    })
                })
                .collect::<Result<_>>()?;
        }
        let drivers = rules::churn_drivers(db, &query).await.into_api()?;
        Ok(ChurnDrivers(drivers))
    }

    /// The service team's queue: customers whose latest NPS answer is a detractor's
    /// (0–6) with no OUTBOUND interaction recorded at or after it, highest predicted CLV
    /// first (customers without value scores last). `recordInteraction` with direction
    /// OUTBOUND takes a customer out; erased customers are never in it.
    #[graphql(guard = "RequireScope(Scope::CustomersRead)")]
    async fn detractor_follow_ups(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<PlainConnection<DetractorFollowUp>> {
        let db = ctx.data::<DatabaseConnection>()?;
        let page = Page::<FollowUpCursor>::forward(first, after)?;
        let position =
            page.cursor.map(
                |FollowUpCursor(predicted_clv, customer_id)| rules::FollowUpPosition {
                    predicted_clv,
                    customer_id,
                },
            );
        let rows = rules::detractor_follow_ups(db, position, page.fetch_limit())
            .await
            .into_api()?;
        let (rows, has_previous, has_next) = page.finish(rows);
        let loader = ctx.data::<DataLoader<CustomerLoader>>()?;
        let customers = loader
            .load_many(rows.iter().map(rules::FollowUp::customer_id))
            .await?;
        let mut connection = PlainConnection::new(has_previous, has_next);
        for row in rows {
            let Some(customer) = customers.get(&row.customer_id()).cloned() else {
                continue;
            };
            let position = row.position();
            let cursor = encode_cursor(&FollowUpCursor(
                position.predicted_clv,
                position.customer_id,
            ));
            connection
                .edges
                .push(Edge::new(cursor, DetractorFollowUp { row, customer }));
        }
        Ok(connection)
    }
}
