//! The `value-scores` job. The database does the heavy aggregation (one row per
//! customer: purchase days, first and last day, totals), Rust does the model math
//! ([`crate::value`]), and the scores go back in bulk ([`crate::bulk`]) as new rows of
//! this run — never rewriting the previous run's — inside one transaction with the
//! model, so a failed run leaves the previous scores current.

/// Reports over the stored scores: the latest models, the R × F grid, the value tiers.
pub mod reports;

use std::collections::HashMap;
use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, Days, NaiveDate, Utc};
use entity::{FeedbackKind, Money, customer_value, value_model};
use futures::TryStreamExt;
use sea_orm::StreamTrait;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Statement, TransactionTrait,
};
use serde::{Deserialize, Serialize};

use crate::value::scoring::{self, CustomerInput, ScoringOutcome};
use crate::{DomainError, DomainResult, JobContext, JobStats};
use crate::{bulk, day_start};
use entity::sql::{day_key_sql, day_number_of_key, day_number_sql, placeholder};

/// Tunables of the value models, from the `[value]` section of the configuration file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ValueSettings {
    /// CLV horizon in months.
    pub horizon_months: u32,
    /// Monthly discount rate for CLV (0.01 = 1 % a month).
    pub monthly_discount_rate: f64,
    /// Share of customers (by predicted CLV) in the HIGH tier.
    pub high_tier_share: f64,
    /// Share in the MEDIUM tier, after the HIGH one.
    pub medium_tier_share: f64,
    /// Fewer repeat customers than this and the models are not fitted.
    pub min_repeat_customers: u32,
    /// Weights of the composite value; normalised, so only their ratios matter.
    pub weights: CompositeWeights,
    /// Runs whose scores are kept (the latest is the current one, the rest history);
    /// older runs' scores are deleted by the run that makes them surplus.
    pub keep_runs: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct CompositeWeights {
    pub economic: f64,
    pub loyalty: f64,
    pub advocacy: f64,
    pub satisfaction: f64,
}

impl Default for CompositeWeights {
    fn default() -> Self {
        Self {
            economic: 0.4,
            loyalty: 0.2,
            advocacy: 0.2,
            satisfaction: 0.2,
        }
    }
}

impl Default for ValueSettings {
    fn default() -> Self {
        Self {
            horizon_months: 12,
            monthly_discount_rate: 0.01,
            high_tier_share: 0.2,
            medium_tier_share: 0.3,
            min_repeat_customers: 20,
            weights: CompositeWeights::default(),
            keep_runs: 7,
        }
    }
}

impl ValueSettings {
    /// Refuses settings that would make scores meaningless, naming the setting.
    pub fn validate(&self) -> Result<(), String> {
        let shares_ok = (0.0..=1.0).contains(&self.high_tier_share)
            && (0.0..=1.0).contains(&self.medium_tier_share)
            && self.high_tier_share + self.medium_tier_share <= 1.0;
        if !(1..=120).contains(&self.horizon_months) {
            return Err(format!(
                "value.horizon_months must be 1–120, got {}",
                self.horizon_months
            ));
        }
        if !(1..=366).contains(&self.keep_runs) {
            return Err(format!(
                "value.keep_runs must be 1–366, got {}",
                self.keep_runs
            ));
        }
        if !(0.0..1.0).contains(&self.monthly_discount_rate) {
            return Err(format!(
                "value.monthly_discount_rate must be in [0, 1), got {}",
                self.monthly_discount_rate
            ));
        }
        if !shares_ok {
            return Err("value.high_tier_share and value.medium_tier_share must be in [0, 1] and add up to at most 1".into());
        }
        let w = &self.weights;
        let weights = [w.economic, w.loyalty, w.advocacy, w.satisfaction];
        if weights.iter().any(|w| !w.is_finite() || *w < 0.0) || weights.iter().sum::<f64>() <= 0.0
        {
            return Err("value.weights must be non-negative and not all zero".into());
        }
        Ok(())
    }
}

/// Runs the job for the day `as_of`: orders after it are ignored.
pub async fn run(context: &JobContext, run_id: i64, as_of: NaiveDate) -> anyhow::Result<JobStats> {
    context.value.validate().map_err(anyhow::Error::msg)?;
    let started = Instant::now();
    let db = &context.db;
    let cutoff = day_start(
        as_of
            .checked_add_days(Days::new(1))
            .context("asOf is out of range")?,
    );

    let inputs = load_inputs(db, cutoff, InputSource::Auto).await?;
    let loaded = started.elapsed();
    // Fitting takes seconds on a large base: off the async threads, which serve API
    // requests and the scheduler in the same process.
    let settings = context.value.clone();
    let outcome = tokio::task::spawn_blocking(move || scoring::score(&inputs, as_of, &settings))
        .await
        .context("the scoring task failed")?;
    let computed = started.elapsed();

    let txn = db.begin().await.context("failed to begin writing scores")?;
    write_model(&txn, run_id, as_of, &outcome).await?;
    write_scores(&txn, run_id, as_of, &outcome).await?;
    let pruned = prune_runs(&txn, context.value.keep_runs).await?;
    txn.commit().await.context("failed to commit the scores")?;
    if outcome.scores.len() as u64 >= bulk::ANALYZE_AFTER_ROWS {
        bulk::analyze(db, &["customer_values", "value_models"])
            .await
            .context("failed to analyze the scores")?;
    }

    let mut stats = JobStats::default();
    stats.set("customers", outcome.scores.len() as u64);
    stats.set("customersWithOrders", outcome.report.customers_used);
    stats.set("repeatCustomers", outcome.report.repeat_customers);
    stats.set("modelFitted", outcome.report.bgnbd.is_some());
    if let Some(fit) = &outcome.report.bgnbd {
        stats.set("bgnbdIterations", fit.iterations as u64);
        stats.set("bgnbdGradientNorm", finite_or_null(fit.gradient_norm));
        stats.set("bgnbdConverged", fit.converged);
    }
    if let Some(fit) = &outcome.report.gamma_gamma {
        stats.set("gammaGammaIterations", fit.iterations as u64);
        stats.set("gammaGammaGradientNorm", finite_or_null(fit.gradient_norm));
        stats.set("gammaGammaConverged", fit.converged);
    }
    if let Some(note) = &outcome.report.note {
        stats.set("note", note.clone());
    }
    stats.set("prunedScoreRows", pruned);
    stats.set("loadSeconds", loaded.as_secs_f64());
    stats.set("computeSeconds", (computed - loaded).as_secs_f64());
    stats.set("writeSeconds", (started.elapsed() - computed).as_secs_f64());
    Ok(stats)
}

/// Deletes the scores of all but the newest `keep` runs; returns the rows deleted.
async fn prune_runs(txn: &DatabaseTransaction, keep: u32) -> anyhow::Result<u64> {
    let surplus: Vec<i64> = value_model::Entity::find()
        .select_only()
        .column(value_model::Column::JobRunId)
        .order_by_desc(value_model::Column::JobRunId)
        .into_tuple()
        .all(txn)
        .await
        .context("failed to list old score runs")?;
    // One row per run: skipping in Rust is cheap, and SQLite has no OFFSET without LIMIT.
    let surplus: Vec<i64> = surplus.into_iter().skip(keep as usize).collect();
    if surplus.is_empty() {
        return Ok(0);
    }
    let deleted = customer_value::Entity::delete_many()
        .filter(customer_value::Column::JobRunId.is_in(surplus))
        .exec(txn)
        .await
        .context("failed to delete old scores")?;
    Ok(deleted.rows_affected)
}

fn finite_or_null(value: f64) -> serde_json::Value {
    serde_json::Number::from_f64(value).map_or(serde_json::Value::Null, serde_json::Value::Number)
}

/// Where [`load_inputs`] takes the per-customer purchase summaries from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputSource {
    /// The aggregates kept on each customer when no order lies after the cutoff (a run
    /// for today), else a scan of the orders.
    Auto,
    /// Group every order up to the cutoff.
    Scan,
    /// The aggregates kept on each customer (right only when no order lies after the
    /// cutoff).
    Aggregates,
}

/// Everything the scoring needs, one entry per customer who existed or bought by the
/// cutoff. Purchase summaries: several orders on one day are one transaction (the
/// BG/NBD convention), and the first day's total is kept apart so that the spend model
/// sees repeat transactions only. Rows are streamed, never all held at once: at a million
/// customers that is the difference between ~0.5 GB and ~1.7 GB.
pub async fn load_inputs<C: ConnectionTrait + StreamTrait>(
    db: &C,
    cutoff: DateTime<Utc>,
    source: InputSource,
) -> anyhow::Result<Vec<CustomerInput>> {
    let backend = ConnectionTrait::get_database_backend(db);
    let p = placeholder(backend);
    let use_aggregates = match source {
        InputSource::Aggregates => true,
        InputSource::Scan => false,
        InputSource::Auto => !has_orders_from(db, cutoff).await?,
    };
    let mut inputs: HashMap<i64, CustomerInput> = HashMap::new();
    if !use_aggregates {
        let day = day_key_sql(backend, "ordered_at");
        let first_day = day_number_of_key(backend, "MIN(day)");
        let last_day = day_number_of_key(backend, "MAX(day)");
        let purchases = format!(
            "SELECT customer_id, COUNT(*) AS purchase_days, {first_day} AS first_day, {last_day} AS last_day, \
                    SUM(day_total) AS total_spent, SUM(day_orders) AS order_count, MAX(first_day_total) AS first_day_total \
             FROM (SELECT customer_id, day, day_total, day_orders, \
                          FIRST_VALUE(day_total) OVER (PARTITION BY customer_id ORDER BY day) AS first_day_total \
                   FROM (SELECT customer_id, {day} AS day, SUM(amount) AS day_total, COUNT(*) AS day_orders \
                         FROM orders WHERE ordered_at < {p} GROUP BY customer_id, {day}) per_day) ranked \
             GROUP BY customer_id"
        );
        let mut rows = std::pin::pin!(
            db.stream_raw(Statement::from_sql_and_values(
                backend,
                purchases,
                [cutoff.into()]
            ))
            .await
            .context("failed to summarise purchases per customer")?
        );
        while let Some(row) = rows
            .try_next()
            .await
            .context("failed to read a purchase summary")?
        {
            let input = purchase_summary(&row, "customer_id")?;
            inputs.insert(input.customer_id, input);
        }
    }

    // Every customer with their referrer (and, from the aggregates, their purchases);
    // those created by the cutoff are scored even without orders (prospects).
    let (first_day, last_day) = (
        day_number_sql(backend, "first_order_at"),
        day_number_sql(backend, "last_order_at"),
    );
    let customers = format!(
        "SELECT id, referred_by, CASE WHEN created_at < {p} THEN 1 ELSE 0 END AS existed, \
                purchase_days, {first_day} AS first_day, {last_day} AS last_day, total_spent, order_count, first_day_total \
         FROM customers"
    );
    let mut referrers: Vec<(i64, i64)> = Vec::new();
    let mut rows = std::pin::pin!(
        db.stream_raw(Statement::from_sql_and_values(
            backend,
            customers,
            [cutoff.into()]
        ))
        .await
        .context("failed to read customers")?
    );
    while let Some(row) = rows.try_next().await.context("failed to read a customer")? {
        let id: i64 = row.try_get("", "id")?;
        if use_aggregates && row.try_get::<i64>("", "order_count")? > 0 {
            inputs.insert(id, purchase_summary(&row, "id")?);
        }
        if row.try_get::<i32>("", "existed")? == 1 {
            inputs.entry(id).or_insert_with(|| CustomerInput::new(id));
        }
        if let Some(referrer) = row.try_get::<Option<i64>>("", "referred_by")?
            && inputs.contains_key(&id)
        {
            referrers.push((id, referrer));
        }
    }
    for (referred, referrer) in referrers {
        let spent = inputs.get(&referred).map_or(Money::ZERO, |c| c.total_spent);
        if let Some(input) = inputs.get_mut(&referrer) {
            input.referred_customers += 1;
            // Saturating: many referred customers near the per-customer bound could pass the
            // range of one amount, and a feature for a model needs no more precision there.
            input.referred_revenue = Money(input.referred_revenue.0.saturating_add(spent.0));
        }
    }

    // The latest NPS or CSAT answer by the cutoff.
    let feedback = format!(
        "SELECT customer_id, kind, score FROM feedback WHERE occurred_at < {p} ORDER BY customer_id, occurred_at, id"
    );
    let mut rows = std::pin::pin!(
        db.stream_raw(Statement::from_sql_and_values(
            backend,
            feedback,
            [cutoff.into()]
        ))
        .await
        .context("failed to read feedback")?
    );
    while let Some(row) = rows.try_next().await.context("failed to read feedback")? {
        let customer_id: i64 = row.try_get("", "customer_id")?;
        let kind: FeedbackKind = row.try_get("", "kind")?;
        let score: i32 = row.try_get("", "score")?;
        if let Some(input) = inputs.get_mut(&customer_id) {
            input.latest_feedback = Some((kind == FeedbackKind::Nps, score));
        }
    }

    let mut inputs: Vec<CustomerInput> = inputs.into_values().collect();
    inputs.sort_by_key(|c| c.customer_id);
    Ok(inputs)
}

/// Whether any order lies at or after `cutoff` (an index lookup).
async fn has_orders_from(db: &impl ConnectionTrait, cutoff: DateTime<Utc>) -> anyhow::Result<bool> {
    let backend = db.get_database_backend();
    let sql = format!(
        "SELECT 1 AS found FROM orders WHERE ordered_at >= {} LIMIT 1",
        placeholder(backend)
    );
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [cutoff.into()],
        ))
        .await
        .context("failed to look for orders after asOf")?;
    Ok(row.is_some())
}

/// A purchase summary row (from the scan or from the customer aggregates).
fn purchase_summary(row: &sea_orm::QueryResult, id_column: &str) -> anyhow::Result<CustomerInput> {
    let mut input = CustomerInput::new(row.try_get("", id_column)?);
    input.purchase_days = row.try_get::<i64>("", "purchase_days")?;
    input.first_day = Some(row.try_get::<i64>("", "first_day")?);
    input.last_day = Some(row.try_get::<i64>("", "last_day")?);
    input.total_spent = Money(decimal_sum(row, "total_spent")?);
    input.order_count = decimal_sum(row, "order_count")?;
    input.first_day_total = Money(decimal_sum(row, "first_day_total")?);
    Ok(input)
}

/// `SUM` of a BIGINT is NUMERIC on PostgreSQL and INTEGER on SQLite.
fn decimal_sum(row: &sea_orm::QueryResult, column: &str) -> anyhow::Result<i64> {
    if let Ok(value) = row.try_get::<i64>("", column) {
        return Ok(value);
    }
    let value: rust_decimal::Decimal = row.try_get("", column)?;
    i64::try_from(value).with_context(|| format!("{column} out of range"))
}

async fn write_model(
    txn: &DatabaseTransaction,
    run_id: i64,
    as_of: NaiveDate,
    outcome: &ScoringOutcome,
) -> anyhow::Result<()> {
    let report = &outcome.report;
    let bgnbd = report.bgnbd.as_ref();
    let gg = report.gamma_gamma.as_ref();
    let model = value_model::ActiveModel {
        job_run_id: sea_orm::Set(run_id),
        as_of: sea_orm::Set(as_of),
        fitted_at: sea_orm::Set(Utc::now()),
        customers_used: sea_orm::Set(report.customers_used as i64),
        repeat_customers: sea_orm::Set(report.repeat_customers as i64),
        time_unit: sea_orm::Set(entity::ModelTimeUnit::Weeks),
        converged: sea_orm::Set(
            bgnbd.is_some_and(|f| f.converged) && gg.is_none_or(|f| f.converged),
        ),
        bgnbd_r: sea_orm::Set(bgnbd.map(|f| f.params.r)),
        bgnbd_alpha: sea_orm::Set(bgnbd.map(|f| f.params.alpha)),
        bgnbd_a: sea_orm::Set(bgnbd.map(|f| f.params.a)),
        bgnbd_b: sea_orm::Set(bgnbd.map(|f| f.params.b)),
        bgnbd_log_likelihood: sea_orm::Set(bgnbd.map(|f| f.log_likelihood)),
        bgnbd_iterations: sea_orm::Set(bgnbd.map(|f| f.iterations as i64)),
        bgnbd_gradient_norm: sea_orm::Set(bgnbd.map(|f| f.gradient_norm)),
        gg_p: sea_orm::Set(gg.map(|f| f.params.p)),
        gg_q: sea_orm::Set(gg.map(|f| f.params.q)),
        gg_gamma: sea_orm::Set(gg.map(|f| f.params.gamma)),
        gg_log_likelihood: sea_orm::Set(gg.map(|f| f.log_likelihood)),
        gg_iterations: sea_orm::Set(gg.map(|f| f.iterations as i64)),
        gg_gradient_norm: sea_orm::Set(gg.map(|f| f.gradient_norm)),
        note: sea_orm::Set(report.note.clone()),
        ..Default::default()
    };
    value_model::Entity::insert(model)
        .exec_without_returning(txn)
        .await
        .context("failed to store the value model")?;
    Ok(())
}

async fn write_scores(
    txn: &DatabaseTransaction,
    run_id: i64,
    as_of: NaiveDate,
    outcome: &ScoringOutcome,
) -> anyhow::Result<()> {
    use bulk::{Column, Kind::*};
    const SCORES: [Column; 26] = [
        Column::new("customer_id", BigInt),
        Column::new("job_run_id", BigInt),
        Column::new("as_of", Date),
        Column::new("recency_days", BigInt),
        Column::new("frequency", BigInt),
        Column::new("monetary", BigInt),
        Column::new("total_spent", BigInt),
        Column::new("r_score", SmallInt),
        Column::new("f_score", SmallInt),
        Column::new("m_score", SmallInt),
        Column::new("rfm_code", Text),
        Column::new("rfm_group", Text),
        Column::new("repeat_purchases", BigInt),
        Column::new("t_x_weeks", Double),
        Column::new("t_weeks", Double),
        Column::new("p_alive", Double),
        Column::new("expected_order_value", BigInt),
        Column::new("predicted_clv", BigInt),
        Column::new("value_tier", Text),
        Column::new("churn_risk", Double),
        Column::new("economic_score", Double),
        Column::new("loyalty_score", Double),
        Column::new("advocacy_score", Double),
        Column::new("satisfaction_score", Double),
        Column::new("composite_score", Double),
        Column::new("computed_at", TimestampTz),
    ];
    // Runs only append (one row per run and customer), so no old row is touched.
    let now = Utc::now();
    // Rows are built a chunk at a time: a million rows of boxed values at once would
    // double the job's memory.
    for chunk in outcome.scores.chunks(50_000) {
        write_score_chunk(txn, run_id, as_of, now, chunk, &SCORES).await?;
    }
    Ok(())
}

async fn write_score_chunk(
    txn: &DatabaseTransaction,
    run_id: i64,
    as_of: NaiveDate,
    now: DateTime<Utc>,
    chunk: &[scoring::CustomerScore],
    score_columns: &[bulk::Column],
) -> anyhow::Result<()> {
    let mut scores = Vec::with_capacity(chunk.len());
    for s in chunk {
        let rfm = s.rfm.as_ref();
        let code = rfm.map(|r| r.code());
        let clv = s
            .predicted_clv
            .and_then(Money::from_f64_rounded)
            .map(|m| m.0);
        scores.push(vec![
            s.customer_id.into(),
            run_id.into(),
            as_of.into(),
            s.recency_days.into(),
            s.frequency.into(),
            s.monetary.map(|m| m.0).into(),
            s.total_spent.0.into(),
            rfm.map(|r| i16::from(r.recency())).into(),
            rfm.map(|r| i16::from(r.frequency())).into(),
            rfm.map(|r| i16::from(r.monetary())).into(),
            code.into(),
            rfm.map(|r| r.group().as_str()).into(),
            s.repeat_purchases.into(),
            s.t_x_weeks.into(),
            s.t_weeks.into(),
            s.p_alive.into(),
            s.expected_order_value
                .and_then(Money::from_f64_rounded)
                .map(|m| m.0)
                .into(),
            clv.into(),
            s.value_tier.map(|t| t.as_str()).into(),
            s.p_alive.map(|p| 1.0 - p).into(),
            s.composite.economic.into(),
            s.composite.loyalty.into(),
            s.composite.advocacy.into(),
            s.composite.satisfaction.into(),
            s.composite.total.into(),
            now.into(),
        ]);
    }
    bulk::insert(txn, "customer_values", score_columns, scores)
        .await
        .context("failed to store customer scores")?;
    Ok(())
}

/// How well BG/NBD fitted on a calibration period forecast the repeat purchases of a
/// holdout period that followed it.
#[derive(Clone, Debug, PartialEq)]
pub struct Backtest {
    /// Customers with a purchase by the end of calibration.
    pub customers: u64,
    /// Sum over those customers of expected repeat purchase days in the holdout.
    pub predicted_total: f64,
    /// Sum of their actual purchase days in the holdout.
    pub actual_total: u64,
    /// Mean over customers of |predicted − actual|.
    pub mean_absolute_error: f64,
    pub fit: crate::value::bgnbd::BgNbdFit,
}

/// Fits BG/NBD on orders up to `calibration_end` and compares each customer's expected
/// purchase days in (`calibration_end`, `holdout_end`] with what they did. A holdout
/// that does not follow the calibration, or a calibration period the model cannot be
/// fitted on, is refused (`holdoutEnd`).
pub async fn backtest<C: ConnectionTrait + StreamTrait>(
    db: &C,
    calibration_end: NaiveDate,
    holdout_end: NaiveDate,
) -> DomainResult<Backtest> {
    use crate::value::{bgnbd, scoring};
    if holdout_end <= calibration_end {
        return Err(DomainError::invalid(
            "holdoutEnd",
            "holdoutEnd must come after calibrationEnd",
        ));
    }
    let calibration_cutoff = day_start(
        calibration_end
            .checked_add_days(Days::new(1))
            .context("date out of range")?,
    );
    let holdout_cutoff = day_start(
        holdout_end
            .checked_add_days(Days::new(1))
            .context("date out of range")?,
    );
    let inputs = load_inputs(db, calibration_cutoff, InputSource::Auto).await?;
    let as_of_day = scoring::day_number(calibration_end);
    let buyers: Vec<(i64, bgnbd::PurchaseHistory)> = inputs
        .iter()
        .filter_map(|c| scoring::purchase_history(c, as_of_day).map(|h| (c.customer_id, h)))
        .collect();
    let histories: Vec<bgnbd::PurchaseHistory> = buyers.iter().map(|(_, h)| *h).collect();
    // CPU for up to seconds: off the async thread, which serves other requests.
    let fit = match tokio::task::spawn_blocking(move || bgnbd::fit(&histories))
        .await
        .context("the fitting task failed")?
    {
        Ok(fit) => fit,
        Err(error) => {
            return Err(DomainError::invalid(
                "holdoutEnd",
                format!("the calibration period cannot be fitted: {error}"),
            ));
        }
    };

    let backend = ConnectionTrait::get_database_backend(db);
    let day = day_key_sql(backend, "ordered_at");
    let (from, to) = match backend {
        DatabaseBackend::Postgres => ("$1", "$2"),
        _ => ("?", "?"),
    };
    let sql = format!(
        "SELECT customer_id, COUNT(DISTINCT {day}) AS purchase_days FROM orders \
         WHERE ordered_at >= {from} AND ordered_at < {to} GROUP BY customer_id"
    );
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [calibration_cutoff.into(), holdout_cutoff.into()],
        ))
        .await
        .context("failed to count holdout purchases")?;
    let mut actual: HashMap<i64, i64> = HashMap::with_capacity(rows.len());
    for row in rows {
        actual.insert(
            row.try_get("", "customer_id")?,
            row.try_get("", "purchase_days")?,
        );
    }
    let horizon_weeks =
        (holdout_end - calibration_end).num_days() as f64 / crate::value::clv::DAYS_PER_WEEK;
    let mut predicted_total = 0.0;
    let mut actual_total = 0_u64;
    let mut absolute_error = 0.0;
    for (customer_id, history) in &buyers {
        let predicted = bgnbd::expected_purchases(&fit.params, history, horizon_weeks);
        let predicted = if predicted.is_finite() {
            predicted
        } else {
            0.0
        };
        let observed = actual.get(customer_id).copied().unwrap_or(0).max(0) as u64;
        predicted_total += predicted;
        actual_total += observed;
        absolute_error += (predicted - observed as f64).abs();
    }
    let customers = buyers.len() as u64;
    Ok(Backtest {
        customers,
        predicted_total,
        actual_total,
        mean_absolute_error: if customers > 0 {
            absolute_error / customers as f64
        } else {
            0.0
        },
        fit,
    })
}
