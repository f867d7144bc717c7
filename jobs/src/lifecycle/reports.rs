//! What the stages say about the base: customers, revenue and value per stage, the moves
//! between stages in a period, and the early-warning list of silent customers. The API
//! and the marketer digest read the same figures from here, so a stage count in the
//! digest is the one `lifecycleSummary` shows.

use anyhow::Context;
use chrono::{DateTime, Days, NaiveDate, Utc};
use entity::sql::{LATEST_VALUE_RUN, money_sum, nth_placeholder as placeholder};
use entity::{Money, MoneyTotal};
use sea_orm::{ConnectionTrait, FromQueryResult, Statement};

use super::Stage;
use crate::value::clv::ValueTier;
use crate::{DomainError, DomainResult, day_start};

/// How far back `revenue_last_90_days` looks.
const REVENUE_WINDOW_DAYS: i64 = 90;

/// One stage of the base.
#[derive(Clone, Debug, PartialEq)]
pub struct StageSummary {
    pub stage: Stage,
    pub customers: u64,
    /// Share of all classified customers, 0–1.
    pub share: f64,
    /// Revenue from these customers' orders in the 90 days up to the day asked about.
    pub revenue_last_90_days: MoneyTotal,
    /// Mean predicted CLV of these customers (latest value scores); None without scores.
    pub average_predicted_clv: Option<Money>,
}

/// Per stage, in stage order (every stage present): customers who are not erased,
/// their share, revenue of the last 90 days and average predicted CLV. Without `as_of`
/// the current stages and the 90 days up to now; with it, each customer's stage at the
/// end of that day, rebuilt from the stage history.
pub async fn stage_summary(
    db: &impl ConnectionTrait,
    as_of: Option<NaiveDate>,
) -> DomainResult<Vec<StageSummary>> {
    let backend = db.get_database_backend();
    let p = |n: usize| placeholder(backend, n);
    let (stages, window_end, mut values): (String, DateTime<Utc>, Vec<sea_orm::Value>) = match as_of
    {
        None => (
            "SELECT customer_id, stage FROM customer_lifecycle".into(),
            Utc::now(),
            Vec::new(),
        ),
        Some(day) => {
            let next = day
                .checked_add_days(Days::new(1))
                .ok_or_else(|| DomainError::invalid("asOf", "out of range"))?;
            let end = day_start(next);
            (
                format!(
                    "SELECT customer_id, to_stage AS stage FROM \
                           (SELECT customer_id, to_stage, ROW_NUMBER() OVER \
                              (PARTITION BY customer_id ORDER BY at DESC, id DESC) AS rn \
                            FROM lifecycle_events WHERE at < {}) latest WHERE rn = 1",
                    p(1)
                ),
                end,
                vec![end.into()],
            )
        }
    };
    let first = values.len() + 1;
    let sql = format!(
        "WITH stages AS ({stages}), \
              revenue AS (SELECT customer_id, CAST(SUM(amount) AS BIGINT) AS amount FROM orders \
                          WHERE ordered_at >= {from} AND ordered_at < {to} GROUP BY customer_id) \
         SELECT s.stage, COUNT(*) AS customers, {revenue}, \
                {clv_total}, COUNT(v.predicted_clv) AS clv_count \
         FROM stages s \
         JOIN customers c ON c.id = s.customer_id AND c.erased_at IS NULL \
         LEFT JOIN revenue r ON r.customer_id = s.customer_id \
         LEFT JOIN customer_values v ON v.customer_id = s.customer_id \
              AND v.job_run_id = {LATEST_VALUE_RUN} \
         GROUP BY s.stage",
        from = p(first),
        to = p(first + 1),
        revenue = money_sum("r.amount", "revenue"),
        clv_total = money_sum("v.predicted_clv", "clv_total"),
    );
    values.push((window_end - chrono::Duration::days(REVENUE_WINDOW_DAYS)).into());
    values.push(window_end.into());
    #[derive(FromQueryResult)]
    struct Row {
        stage: Stage,
        customers: i64,
        revenue: MoneyTotal,
        clv_total: MoneyTotal,
        clv_count: i64,
    }
    let rows = Row::find_by_statement(Statement::from_sql_and_values(backend, sql, values))
        .all(db)
        .await
        .context("failed to summarize the stages")?;
    let total: i64 = rows.iter().map(|r| r.customers).sum();
    Ok(Stage::ALL
        .into_iter()
        .map(|stage| {
            let row = rows.iter().find(|r| r.stage == stage);
            let customers = row.map_or(0, |r| r.customers);
            StageSummary {
                stage,
                customers: u64::try_from(customers).unwrap_or(0),
                share: if total == 0 {
                    0.0
                } else {
                    customers as f64 / total as f64
                },
                revenue_last_90_days: row.map(|r| r.revenue).unwrap_or_default(),
                average_predicted_clv: row.and_then(|r| {
                    Money::mean(r.clv_total.0, u64::try_from(r.clv_count).unwrap_or(0))
                }),
            }
        })
        .collect())
}

/// Customers who moved from one stage to another in a period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    /// None for customers classified for the first time.
    pub from: Option<Stage>,
    pub to: Stage,
    /// Distinct customers who made this move in the period.
    pub customers: u64,
}

/// How many customers moved from each stage to each stage with `from ≤ at < to`, first
/// classifications first, then by stage order.
pub async fn transitions(
    db: &impl ConnectionTrait,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> DomainResult<Vec<Transition>> {
    if to <= from {
        return Err(DomainError::invalid("to", "must be after `from`"));
    }
    let backend = db.get_database_backend();
    let sql = format!(
        "SELECT from_stage, to_stage, COUNT(DISTINCT customer_id) AS customers \
         FROM lifecycle_events WHERE at >= {} AND at < {} \
         GROUP BY from_stage, to_stage",
        placeholder(backend, 1),
        placeholder(backend, 2)
    );
    #[derive(FromQueryResult)]
    struct Row {
        from_stage: Option<Stage>,
        to_stage: Stage,
        customers: i64,
    }
    let rows = Row::find_by_statement(Statement::from_sql_and_values(
        backend,
        sql,
        [from.into(), to.into()],
    ))
    .all(db)
    .await
    .context("failed to count stage transitions")?;
    let mut transitions = rows
        .into_iter()
        .map(|row| {
            Ok(Transition {
                from: row.from_stage,
                to: row.to_stage,
                customers: u64::try_from(row.customers).unwrap_or(0),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    // `None < Some(_)`: first classifications lead, then stage order.
    transitions.sort_by_key(|t| (t.from, t.to));
    Ok(transitions)
}

/// Narrows the silent list; every part given must hold.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SilentFilter {
    /// Only customers who went silent at or after this.
    pub since: Option<DateTime<Utc>>,
    /// Only this value tier or better.
    pub min_value_tier: Option<ValueTier>,
}

/// Where a page of the silent list starts: the last row's predicted CLV (units; None
/// sorts last) and customer id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SilentPosition {
    pub predicted_clv: Option<i64>,
    pub customer_id: i64,
}

/// A customer who went silent, with the value at risk.
#[derive(Clone, Debug, PartialEq, FromQueryResult)]
pub struct SilentCustomer {
    pub customer_id: i64,
    /// When they went silent.
    pub since: DateTime<Utc>,
    /// From the latest value scores.
    pub predicted_clv: Option<Money>,
    pub p_alive: Option<f64>,
    pub value_tier: Option<ValueTier>,
}

impl SilentCustomer {
    /// Where the page after this row starts.
    pub fn position(&self) -> SilentPosition {
        SilentPosition {
            predicted_clv: self.predicted_clv.map(|clv| clv.0),
            customer_id: self.customer_id,
        }
    }
}

/// Customers in the SILENT stage (gone quiet, not yet churned) and not erased, most value
/// at risk first (predicted CLV, customers without scores last, then by id): up to
/// `limit` rows after `after`.
pub async fn silent_customers(
    db: &impl ConnectionTrait,
    filter: &SilentFilter,
    after: Option<SilentPosition>,
    limit: u64,
) -> DomainResult<Vec<SilentCustomer>> {
    let backend = db.get_database_backend();
    let mut values: Vec<sea_orm::Value> = Vec::new();
    // Placeholders are taken in the order they appear (SQLite binds by position).
    let next = |value: sea_orm::Value, values: &mut Vec<sea_orm::Value>| {
        values.push(value);
        placeholder(backend, values.len())
    };
    let mut conditions = vec![
        format!("l.stage = {}", next(Stage::Silent.into(), &mut values)),
        "c.erased_at IS NULL".to_owned(),
    ];
    if let Some(since) = filter.since {
        conditions.push(format!("l.since >= {}", next(since.into(), &mut values)));
    }
    if let Some(tier) = filter.min_value_tier {
        let marks: Vec<String> = tier
            .and_better()
            .iter()
            .map(|t| next((*t).into(), &mut values))
            .collect();
        conditions.push(format!("v.value_tier IN ({})", marks.join(", ")));
    }
    if let Some(SilentPosition {
        predicted_clv,
        customer_id,
    }) = after
    {
        conditions.push(match predicted_clv {
            Some(clv) => {
                let below = next(clv.into(), &mut values);
                let equal = next(clv.into(), &mut values);
                let after_id = next(customer_id.into(), &mut values);
                format!(
                    "(v.predicted_clv IS NULL OR v.predicted_clv < {below} \
                      OR (v.predicted_clv = {equal} AND c.id > {after_id}))"
                )
            }
            None => format!(
                "(v.predicted_clv IS NULL AND c.id > {})",
                next(customer_id.into(), &mut values)
            ),
        });
    }
    let sql = format!(
        "SELECT c.id AS customer_id, l.since, v.predicted_clv, v.p_alive, v.value_tier \
         FROM customer_lifecycle l \
         JOIN customers c ON c.id = l.customer_id \
         LEFT JOIN customer_values v ON v.customer_id = c.id \
              AND v.job_run_id = {LATEST_VALUE_RUN} \
         WHERE {} \
         ORDER BY CASE WHEN v.predicted_clv IS NULL THEN 1 ELSE 0 END, v.predicted_clv DESC, c.id \
         LIMIT {limit}",
        conditions.join(" AND "),
    );
    Ok(
        SilentCustomer::find_by_statement(Statement::from_sql_and_values(backend, sql, values))
            .all(db)
            .await
            .context("failed to list silent customers")?,
    )
}

/// The current stage of each of `ids` that has one.
pub async fn stages_of(
    db: &impl ConnectionTrait,
    ids: &[i64],
) -> DomainResult<Vec<entity::customer_lifecycle::Model>> {
    use entity::customer_lifecycle;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    Ok(customer_lifecycle::Entity::find()
        .filter(customer_lifecycle::Column::CustomerId.is_in(ids.iter().copied()))
        .all(db)
        .await
        .context("failed to load customers' lifecycle stages")?)
}
