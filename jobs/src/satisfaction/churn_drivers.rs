//! Why customers leave: what set the customers who lapsed apart from those who stayed.
//!
//! The two groups, at `as_of` (a UTC day):
//! - **lapsed**: customers who entered one of the asked stages (SILENT, CHURNED) in the
//!   window — the `window_days` days up to and including `as_of` — by their stage history
//!   (`lifecycle_events`). A customer's lapse is their first such entry in the window,
//!   whatever happened after it (a customer who came back still lapsed).
//! - **retained**: customers in ACTIVE or LOYAL at the end of `as_of` who did not lapse
//!   in the window.
//!
//! Erased customers are in neither. Each customer is described as they were at their
//! reference day — the day of the lapse for the lapsed, the day after `as_of` for the
//! retained — by factors that each hold one value per customer (the NPS category of their
//! latest NPS answer before that day, inbound contacts in the 90 days before it, the
//! acquisition channel, the average order value band and tenure over the orders before
//! it, whether they redeemed an offer before it, the country) and by the topics of their
//! answers before it (a customer counts once per topic). Per factor value: the share of
//! each group that has it, the lift (lapsed share ÷ retained share) and a low-count flag
//! when either group has fewer than [`MIN_COUNT`] customers with it.
//!
//! The figures describe the two groups; they do not say that a factor causes lapses
//! (customers who complain may be the ones with more reasons to leave, or simply the ones
//! who talk to the business).
//!
//! Two statements on both databases, one per group, run at once on two connections (the
//! database works on both groups in parallel), each grouped in SQL: the group, a row of
//! facts per customer (joined on `customer_id` to grouped reads of feedback,
//! interactions, orders on or after the reference day and redeemed offers), and a
//! `GROUP BY` per factor. Order facts are the customer's kept aggregates (count, total,
//! first order) less the orders on or after the reference day: for the retained, the
//! orders from the day after `as_of` on (a range of the orders' time index, empty for
//! today); for the lapsed, their orders in the window from their lapse on, read only
//! for those whose kept last order says they have any.

use std::collections::HashMap;

use anyhow::Context as _;
use chrono::{DateTime, Days, NaiveDate, Utc};
use entity::sql::{Params, day_number_sql};
use entity::{Direction, Money, TopicSource};
use sea_orm::{ActiveEnum, ConnectionTrait, DatabaseBackend, FromQueryResult, Statement};

use super::{NPS, sources_sql};
use crate::day_start;
use crate::errors::{DomainResult, Problems};
use crate::lifecycle::Stage;
use crate::value::scoring::day_number;

/// A factor value is flagged when either group has fewer customers with it than this:
/// below it, one or two customers more or less move the lift a lot.
pub const MIN_COUNT: i64 = 30;

/// The window when none is asked for.
pub const DEFAULT_WINDOW_DAYS: u32 = 180;

/// The longest window.
pub const MAX_WINDOW_DAYS: u32 = 3_660;

/// Inbound contacts count when they were recorded this many days before the reference day.
pub const CONTACT_DAYS: i64 = 90;

/// Most topic rows in one answer: the ones most lapsed customers mentioned.
pub const MAX_TOPICS: usize = 50;

/// The average order value bands when none are asked for (lower bounds after the first
/// band, in currency units).
pub const DEFAULT_ORDER_VALUE_BOUNDS: [i64; 4] = [50, 100, 200, 500];

/// Money's units (ten-thousandths) in one currency unit.
const UNITS_PER_CURRENCY_UNIT: i64 = 10_i64.pow(Money::SCALE);

/// Tenure bands: days from the first order to the reference day, lower bounds.
const TENURE_BANDS: [(i64, &str); 4] = [
    (0, "UNDER_90_DAYS"),
    (90, "90_DAYS_TO_1_YEAR"),
    (365, "1_TO_2_YEARS"),
    (730, "2_YEARS_OR_MORE"),
];

/// What a factor row describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Factor {
    /// The category of the latest NPS answer before the reference day: `PROMOTER` (9–10),
    /// `PASSIVE` (7–8), `DETRACTOR` (0–6), `NO_ANSWER`.
    NpsCategory,
    /// A topic of an answer (NPS or CSAT) before the reference day, from a readable source.
    FeedbackTopic,
    /// Inbound interactions in the [`CONTACT_DAYS`] days before the reference day: `NONE`,
    /// `ONE`, `TWO_OR_MORE`. Interactions have no type, and their subjects and notes are
    /// personal text that this report does not read: a customer reaching out is the
    /// recorded sign of a complaint.
    Complaints,
    /// The acquisition channel; `UNKNOWN` when not recorded.
    Channel,
    /// The mean of the orders before the reference day, in bands of currency units
    /// (`under 50.00`, `50.00 to 100.00`, …, `500.00 or more`); `NO_ORDERS`.
    AverageOrderValue,
    /// `YES` when an offer code sent to the customer was redeemed (the offer email's
    /// conversion) before the reference day, else `NO`. Orders do not record the code
    /// they used; the conversion of an offer email is what clientele knows of it.
    DiscountUse,
    /// Days from the first order to the reference day: `UNDER_90_DAYS`,
    /// `90_DAYS_TO_1_YEAR`, `1_TO_2_YEARS`, `2_YEARS_OR_MORE`; `NO_ORDERS`.
    Tenure,
    /// ISO 3166-1 alpha-2; `UNKNOWN` when not recorded.
    Country,
}

impl Factor {
    /// The name the statement tags its rows with.
    fn key(self) -> &'static str {
        match self {
            Factor::NpsCategory => "NPS_CATEGORY",
            Factor::FeedbackTopic => "FEEDBACK_TOPIC",
            Factor::Complaints => "COMPLAINTS",
            Factor::Channel => "CHANNEL",
            Factor::AverageOrderValue => "AVERAGE_ORDER_VALUE",
            Factor::DiscountUse => "DISCOUNT_USE",
            Factor::Tenure => "TENURE",
            Factor::Country => "COUNTRY",
        }
    }

    const ALL: [Factor; 8] = [
        Factor::NpsCategory,
        Factor::FeedbackTopic,
        Factor::Complaints,
        Factor::Channel,
        Factor::AverageOrderValue,
        Factor::DiscountUse,
        Factor::Tenure,
        Factor::Country,
    ];

    fn from_key(key: &str) -> Option<Factor> {
        Factor::ALL.into_iter().find(|f| f.key() == key)
    }

    /// The per-customer column of the facts the factor is grouped by (topics excepted).
    fn column(self) -> Option<&'static str> {
        match self {
            Factor::NpsCategory => Some("nps_category"),
            Factor::FeedbackTopic => None,
            Factor::Complaints => Some("complaints"),
            Factor::Channel => Some("channel"),
            Factor::AverageOrderValue => Some("order_value"),
            Factor::DiscountUse => Some("discount_use"),
            Factor::Tenure => Some("tenure"),
            Factor::Country => Some("country"),
        }
    }
}

/// What to compare.
#[derive(Clone, Debug)]
pub struct Query {
    /// The last day of the window (UTC).
    pub as_of: NaiveDate,
    /// The stages that count as a lapse (SILENT, CHURNED).
    pub stages: Vec<Stage>,
    /// The window's length in days, `as_of` included.
    pub window_days: u32,
    /// Lower bounds of the average order value bands after the first, increasing.
    pub order_value_bounds: Vec<Money>,
    /// The topic sources the caller may read (extracted terms need `pii:read`).
    pub sources: Vec<TopicSource>,
}

impl Query {
    /// The defaults at `as_of`: SILENT and CHURNED over 180 days, the default bands.
    pub fn at(as_of: NaiveDate, sources: Vec<TopicSource>) -> Self {
        Self {
            as_of,
            stages: vec![Stage::Silent, Stage::Churned],
            window_days: DEFAULT_WINDOW_DAYS,
            order_value_bounds: DEFAULT_ORDER_VALUE_BOUNDS
                .iter()
                .map(|units| Money(units * UNITS_PER_CURRENCY_UNIT))
                .collect(),
            sources,
        }
    }
}

/// One value of one factor in both groups.
#[derive(Clone, Debug, PartialEq)]
pub struct FactorRow {
    pub factor: Factor,
    pub value: String,
    /// For topics: where the topic came from.
    pub source: Option<TopicSource>,
    /// Lapsed customers with the value.
    pub lapsed: i64,
    /// Retained customers with the value.
    pub retained: i64,
    /// `lapsed` / all lapsed customers; none without lapsed customers.
    pub lapsed_share: Option<f64>,
    /// `retained` / all retained customers; none without retained customers.
    pub retained_share: Option<f64>,
    /// `lapsed_share / retained_share`; none when either is none or no retained customer
    /// has the value.
    pub lift: Option<f64>,
    /// Either group has fewer than [`MIN_COUNT`] customers with the value.
    pub low_count: bool,
}

/// The comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct ChurnDrivers {
    /// The window: lapses at or after `from` and before `to` (the day after `as_of`).
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub lapsed: i64,
    pub retained: i64,
    /// By factor (in [`Factor`] order), then by band for banded factors, else most lapsed
    /// customers first.
    pub factors: Vec<FactorRow>,
}

/// Every problem of `query` at once.
fn check(query: &Query) -> DomainResult<()> {
    let mut problems = Problems::new();
    if query.stages.is_empty() {
        problems.push(None, "stages", "name at least one of SILENT, CHURNED");
    }
    for (i, stage) in query.stages.iter().enumerate() {
        if !stage.is_lapsed() {
            problems.push(
                None,
                format!("stages[{i}]"),
                format!("{} is not a lapse (SILENT or CHURNED)", stage.as_str()),
            );
        }
    }
    if !(1..=MAX_WINDOW_DAYS).contains(&query.window_days) {
        problems.push(
            None,
            "windowDays",
            format!("must be 1–{MAX_WINDOW_DAYS}, got {}", query.window_days),
        );
    }
    if query.order_value_bounds.len() > 10 {
        problems.push(None, "orderValueBands", "at most 10 bounds");
    }
    for (i, pair) in query.order_value_bounds.windows(2).enumerate() {
        if pair[1] <= pair[0] {
            problems.push(
                None,
                format!("orderValueBands[{}]", i + 1),
                "bounds must increase",
            );
        }
    }
    if let Some(first) = query.order_value_bounds.first()
        && first.0 <= 0
    {
        problems.push(None, "orderValueBands[0]", "bounds must be above 0");
    }
    Ok(problems.into_result()?)
}

/// The labels of the average order value bands, lowest first.
fn order_value_labels(bounds: &[Money]) -> Vec<String> {
    let figure = |m: &Money| m.to_figure().to_string();
    let mut labels = Vec::with_capacity(bounds.len() + 1);
    match bounds.first() {
        None => labels.push("any".to_owned()),
        Some(first) => labels.push(format!("under {}", figure(first))),
    }
    for pair in bounds.windows(2) {
        labels.push(format!("{} to {}", figure(&pair[0]), figure(&pair[1])));
    }
    if let Some(last) = bounds.last() {
        labels.push(format!("{} or more", figure(last)));
    }
    labels
}

/// Where a value sorts within a banded factor; none for unbanded ones.
fn band_rank(factor: Factor, value: &str, order_value_labels: &[String]) -> Option<usize> {
    const NPS_ORDER: [&str; 4] = ["PROMOTER", "PASSIVE", "DETRACTOR", "NO_ANSWER"];
    const CONTACTS: [&str; 3] = ["NONE", "ONE", "TWO_OR_MORE"];
    const YES_NO: [&str; 2] = ["YES", "NO"];
    let position = |names: &[&str]| names.iter().position(|n| *n == value);
    match factor {
        Factor::NpsCategory => position(&NPS_ORDER),
        Factor::Complaints => position(&CONTACTS),
        Factor::DiscountUse => position(&YES_NO),
        Factor::Tenure => TENURE_BANDS
            .iter()
            .position(|(_, name)| *name == value)
            .or(Some(TENURE_BANDS.len())),
        Factor::AverageOrderValue => order_value_labels
            .iter()
            .position(|l| l == value)
            .or(Some(order_value_labels.len())),
        Factor::FeedbackTopic | Factor::Channel | Factor::Country => None,
    }
}

/// Which group a statement describes.
#[derive(Clone, Copy)]
enum Group {
    Lapsed,
    Retained,
}

/// The statement for one group: its cohort, the facts of each of its customers and the
/// counts per factor value (rows tagged `lapsed` 1 or 0).
fn statement(
    backend: DatabaseBackend,
    query: &Query,
    (from, to, next): (DateTime<Utc>, DateTime<Utc>, NaiveDate),
    labels: &[String],
    group: Group,
) -> Statement {
    let mut params = Params::new(backend);
    let (from_p, to_p) = (params.bind(from), params.bind(to));
    let to_day = params.bind(day_number(next));
    let stages = query
        .stages
        .iter()
        .map(|s| params.bind(s.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    // A stage history entry that is a lapse in the window.
    let lapse_in_window =
        |e: &str| format!("{e}.to_stage IN ({stages}) AND {e}.at >= {from_p} AND {e}.at < {to_p}");
    let inbound = params.bind(Direction::Inbound.to_value());
    // Contacts count in the 90 days before a reference day, and none is before the window.
    let contacts_from = params.bind(
        from.checked_sub_signed(chrono::Duration::days(CONTACT_DAYS))
            .unwrap_or(from),
    );

    let day = |column: &str| day_number_sql(backend, column);
    // Bands compare the exact total against bound × count, in integers.
    let mut order_value =
        String::from("CASE WHEN p.order_count - COALESCE(lo.orders, 0) <= 0 THEN 'NO_ORDERS'");
    for (bound, label) in query.order_value_bounds.iter().zip(labels) {
        order_value.push_str(&format!(
            " WHEN p.total_spent - COALESCE(lo.amount, 0) < {} * (p.order_count - COALESCE(lo.orders, 0)) THEN {}",
            params.bind(bound.0),
            params.bind(label.clone()),
        ));
    }
    order_value.push_str(&format!(
        " ELSE {} END",
        params.bind(labels.last().cloned().unwrap_or_default())
    ));
    let mut tenure =
        String::from("CASE WHEN p.first_day IS NULL OR p.first_day >= p.ref_day THEN 'NO_ORDERS'");
    for window in TENURE_BANDS.windows(2) {
        let ((_, name), (upper, _)) = (window[0], window[1]);
        tenure.push_str(&format!(
            " WHEN p.ref_day - p.first_day < {upper} THEN '{name}'"
        ));
    }
    tenure.push_str(&format!(
        " ELSE '{}' END",
        TENURE_BANDS[TENURE_BANDS.len() - 1].1
    ));
    let grouped: String = Factor::ALL
        .iter()
        .filter_map(|f| f.column().map(|column| (f.key(), column)))
        .map(|(key, column)| {
            format!(
                " UNION ALL SELECT '{key}' AS factor, {column} AS value, NULL AS source, lapsed, \
                 COUNT(*) AS customers FROM facts GROUP BY {column}, lapsed"
            )
        })
        .collect();
    // Orders on or after the reference day, whose amounts the order facts leave out.
    // The retained share one reference day, so theirs are the orders from it on: a range
    // of the orders' time index, empty when asOf is today. The lapsed each have their own,
    // within the window.
    let order_day = day("o.ordered_at");
    let later_orders = match group {
        // Only those whose kept last order is on or after their lapse have any: a few,
        // each read through the customer's index, where joining the window's orders to
        // every lapsed customer read millions of rows for none.
        Group::Lapsed => format!(
            "SELECT o.customer_id, COUNT(*) AS orders, SUM(o.amount) AS amount FROM people p \
             JOIN orders o ON o.customer_id = p.customer_id \
             WHERE p.last_day >= p.ref_day AND o.ordered_at >= {from_p} \
               AND {order_day} >= p.ref_day \
             GROUP BY o.customer_id"
        ),
        Group::Retained => format!(
            "SELECT o.customer_id, COUNT(*) AS orders, SUM(o.amount) AS amount FROM orders o \
             WHERE o.ordered_at >= {to_p} GROUP BY o.customer_id"
        ),
    };
    let cohort = match group {
        // A lapse is the first entry into a lapsed stage in the window.
        Group::Lapsed => format!(
            "cohort AS ( \
               SELECT e.customer_id, CAST(1 AS INTEGER) AS lapsed, MIN({event_day}) AS ref_day \
               FROM lifecycle_events e WHERE {lapse} GROUP BY e.customer_id),",
            event_day = day("e.at"),
            lapse = lapse_in_window("e"),
        ),
        // Who did not lapse in the window: an anti-join on the stage history itself,
        // with no need to find each lapse's day.
        Group::Retained => {
            let (active, loyal) = (
                params.bind(Stage::Active.as_str()),
                params.bind(Stage::Loyal.as_str()),
            );
            format!(
                "stage_then AS ( \
                   SELECT l.customer_id, l.stage FROM customer_lifecycle l WHERE l.since < {to_p} \
                   UNION ALL \
                   SELECT h.customer_id, h.to_stage FROM ( \
                     SELECT e.customer_id, e.to_stage, ROW_NUMBER() OVER \
                            (PARTITION BY e.customer_id ORDER BY e.at DESC, e.id DESC) AS rn \
                     FROM lifecycle_events e \
                     JOIN customer_lifecycle l ON l.customer_id = e.customer_id AND l.since >= {to_p} \
                     WHERE e.at < {to_p}) h WHERE h.rn = 1), \
                 cohort AS ( \
                   SELECT s.customer_id, CAST(0 AS INTEGER) AS lapsed, {to_day} AS ref_day \
                   FROM stage_then s WHERE s.stage IN ({active}, {loyal}) \
                     AND NOT EXISTS (SELECT 1 FROM lifecycle_events x \
                                     WHERE x.customer_id = s.customer_id AND {lapse})),",
                lapse = lapse_in_window("x"),
            )
        }
    };
    let sql = format!(
        "WITH {cohort} \
         people AS ( \
           SELECT k.customer_id, k.lapsed, k.ref_day, c.acquisition_channel, c.country, \
             COALESCE(c.order_count, 0) AS order_count, c.total_spent, \
             {first_order_day} AS first_day, {last_order_day} AS last_day \
           FROM cohort k JOIN customers c ON c.id = k.customer_id AND c.erased_at IS NULL), \
         later_orders AS ({later_orders}), \
         nps AS ( \
           SELECT customer_id, score FROM ( \
             SELECT f.customer_id, f.score, ROW_NUMBER() OVER \
                    (PARTITION BY f.customer_id ORDER BY f.occurred_at DESC, f.id DESC) AS rn \
             FROM feedback f JOIN people p ON p.customer_id = f.customer_id \
             WHERE f.kind = '{NPS}' AND {feedback_day} < p.ref_day) n WHERE n.rn = 1), \
         contacts AS ( \
           SELECT i.customer_id, COUNT(*) AS contacts FROM interactions i \
           JOIN people p ON p.customer_id = i.customer_id \
           WHERE i.direction = {inbound} AND i.occurred_at >= {contacts_from} \
             AND {contact_day} < p.ref_day \
             AND {contact_day} >= p.ref_day - {CONTACT_DAYS} \
           GROUP BY i.customer_id), \
         offers AS ( \
           SELECT e.customer_id, MIN({converted_day}) AS first_day FROM emails e \
           WHERE e.offer_code IS NOT NULL AND e.converted_at IS NOT NULL \
           GROUP BY e.customer_id), \
         facts AS ( \
           SELECT p.customer_id, p.lapsed, \
             CASE WHEN n.score IS NULL THEN 'NO_ANSWER' WHEN n.score >= 9 THEN 'PROMOTER' \
                  WHEN n.score >= 7 THEN 'PASSIVE' ELSE 'DETRACTOR' END AS nps_category, \
             CASE WHEN k.contacts IS NULL THEN 'NONE' WHEN k.contacts = 1 THEN 'ONE' \
                  ELSE 'TWO_OR_MORE' END AS complaints, \
             COALESCE(p.acquisition_channel, 'UNKNOWN') AS channel, \
             {order_value} AS order_value, \
             CASE WHEN d.first_day < p.ref_day THEN 'YES' ELSE 'NO' END AS discount_use, \
             {tenure} AS tenure, \
             COALESCE(p.country, 'UNKNOWN') AS country \
           FROM people p \
           LEFT JOIN later_orders lo ON lo.customer_id = p.customer_id \
           LEFT JOIN nps n ON n.customer_id = p.customer_id \
           LEFT JOIN contacts k ON k.customer_id = p.customer_id \
           LEFT JOIN offers d ON d.customer_id = p.customer_id) \
         SELECT 'TOTAL' AS factor, '' AS value, NULL AS source, lapsed, COUNT(*) AS customers \
         FROM people GROUP BY lapsed{grouped} \
         UNION ALL \
         SELECT 'FEEDBACK_TOPIC', t.topic, t.source, p.lapsed, COUNT(DISTINCT p.customer_id) \
         FROM feedback_topics t \
         JOIN feedback f ON f.customer_id = t.customer_id AND f.id = t.feedback_id \
         JOIN people p ON p.customer_id = t.customer_id \
         WHERE t.source IN ({sources}) AND {feedback_day} < p.ref_day \
         GROUP BY t.topic, t.source, p.lapsed",
        feedback_day = day("f.occurred_at"),
        contact_day = day("i.occurred_at"),
        first_order_day = day("c.first_order_at"),
        last_order_day = day("c.last_order_at"),
        converted_day = day("e.converted_at"),
        sources = sources_sql(&query.sources),
    );
    params.statement(sql)
}

#[derive(FromQueryResult)]
struct Row {
    factor: String,
    value: String,
    source: Option<TopicSource>,
    lapsed: i32,
    customers: i64,
}

/// Lapsed customers against retained customers at `query.as_of`, factor by factor.
pub async fn churn_drivers(db: &impl ConnectionTrait, query: &Query) -> DomainResult<ChurnDrivers> {
    check(query)?;
    let backend = db.get_database_backend();
    let next = query
        .as_of
        .checked_add_days(Days::new(1))
        .ok_or_else(|| crate::DomainError::invalid("asOf", "out of range"))?;
    let first = query
        .as_of
        .checked_sub_days(Days::new(u64::from(query.window_days) - 1))
        .ok_or_else(|| crate::DomainError::invalid("windowDays", "reaches before year 1"))?;
    let (from, to) = (day_start(first), day_start(next));
    let labels = order_value_labels(&query.order_value_bounds);
    // The groups are independent but for the lapsed customers excluded from the retained:
    // one statement each, at once on two connections (two cores of the database), where
    // one statement for both ran on one core.
    let read = |group| {
        Row::find_by_statement(statement(backend, query, (from, to, next), &labels, group)).all(db)
    };
    let (lapsed_rows, retained_rows) =
        futures::try_join!(read(Group::Lapsed), read(Group::Retained))
            .context("failed to compare lapsed and retained customers")?;
    let rows = lapsed_rows.into_iter().chain(retained_rows);

    let (mut lapsed_total, mut retained_total) = (0, 0);
    let mut counts: HashMap<(Factor, String, Option<TopicSource>), (i64, i64)> = HashMap::new();
    for row in rows {
        if row.factor == "TOTAL" {
            if row.lapsed == 1 {
                lapsed_total = row.customers;
            } else {
                retained_total = row.customers;
            }
            continue;
        }
        let Some(factor) = Factor::from_key(&row.factor) else {
            continue;
        };
        let entry = counts.entry((factor, row.value, row.source)).or_default();
        if row.lapsed == 1 {
            entry.0 += row.customers;
        } else {
            entry.1 += row.customers;
        }
    }
    let share = |part: i64, whole: i64| (whole > 0).then(|| part as f64 / whole as f64);
    let mut factors: Vec<FactorRow> = counts
        .into_iter()
        .map(|((factor, value, source), (lapsed, retained))| {
            let lapsed_share = share(lapsed, lapsed_total);
            let retained_share = share(retained, retained_total);
            let lift = match (lapsed_share, retained_share) {
                (Some(l), Some(r)) if r > 0.0 => Some(l / r),
                _ => None,
            };
            FactorRow {
                factor,
                value,
                source,
                lapsed,
                retained,
                lapsed_share,
                retained_share,
                lift,
                low_count: lapsed < MIN_COUNT || retained < MIN_COUNT,
            }
        })
        .collect();
    factors.sort_by(|a, b| {
        let rank = |row: &FactorRow| band_rank(row.factor, &row.value, &labels);
        (
            a.factor,
            rank(a),
            -a.lapsed,
            -a.retained,
            &a.value,
            a.source.map(|s| s.as_str()),
        )
            .cmp(&(
                b.factor,
                rank(b),
                -b.lapsed,
                -b.retained,
                &b.value,
                b.source.map(|s| s.as_str()),
            ))
    });
    // The topics most lapsed customers mentioned (they are sorted that way).
    let mut topics = 0;
    factors.retain(|row| {
        if row.factor != Factor::FeedbackTopic {
            return true;
        }
        topics += 1;
        topics <= MAX_TOPICS
    });
    Ok(ChurnDrivers {
        from,
        to,
        lapsed: lapsed_total,
        retained: retained_total,
        factors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_value_bands_are_labelled_by_their_bounds() {
        let bounds = [
            Money(50 * UNITS_PER_CURRENCY_UNIT),
            Money(100 * UNITS_PER_CURRENCY_UNIT),
        ];
        assert_eq!(
            order_value_labels(&bounds),
            ["under 50.00", "50.00 to 100.00", "100.00 or more"]
        );
        assert_eq!(order_value_labels(&[]), ["any"]);
    }

    #[test]
    fn a_query_with_no_stage_or_a_stage_that_is_no_lapse_is_refused_naming_both() {
        let mut query = Query::at(NaiveDate::MIN, vec![]);
        query.stages = vec![Stage::Active];
        let Err(crate::DomainError::Invalid(problems)) = check(&query) else {
            panic!("ACTIVE is not a lapse");
        };
        assert_eq!(problems.as_slice()[0].field, "stages[0]");
        query.stages.clear();
        query.order_value_bounds = vec![Money(5), Money(5)];
        let Err(crate::DomainError::Invalid(problems)) = check(&query) else {
            panic!("no stage");
        };
        let fields: Vec<&str> = problems
            .as_slice()
            .iter()
            .map(|p| p.field.as_str())
            .collect();
        assert_eq!(fields, ["stages", "orderValueBands[1]"]);
    }
}
