//! The `lifecycle` job: every customer's stage at asOf, the current stage kept per
//! customer and one event per change. The database streams one row per customer (the
//! order aggregates kept on each customer, their current stage and value scores), the
//! rules in [`rules`] decide, and only the changes are written back, in bulk, in one
//! transaction — so a second run at the same asOf writes nothing.

/// Stage playbooks: the goal and strategy of each stage.
pub mod playbooks;
/// Stage reports: summary per stage, transitions, the silent list.
pub mod reports;
pub mod rules;

use std::collections::HashMap;
use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, Days, NaiveDate, Utc};
use entity::job_run::{self, JobStatus};
use entity::sql::{LATEST_VALUE_RUN, day_key_sql, day_number_of_key, day_number_sql, placeholder};
use futures::TryStreamExt;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Statement, StreamTrait, TransactionTrait,
};

use crate::value::scoring::day_number;
use crate::{DomainResult, JobContext, JobStats, Problems};
use crate::{bulk, day_start};
pub use playbooks::{PlaybookChanges, playbooks, update_playbook};
pub use reports::{
    SilentCustomer, SilentFilter, SilentPosition, StageSummary, Transition, silent_customers,
    stage_summary, transitions,
};
pub use rules::{AliveCurve, Facts, Stage, Thresholds};

/// Where thresholds changed through the API are kept.
pub const THRESHOLDS_KEY: &str = "lifecycle.thresholds";

/// The thresholds in force: those saved through the API, else the configured ones.
pub async fn effective_thresholds(
    db: &impl ConnectionTrait,
    configured: &Thresholds,
) -> anyhow::Result<Thresholds> {
    Ok(crate::app_settings::load(db, THRESHOLDS_KEY)
        .await?
        .unwrap_or_else(|| configured.clone()))
}

/// Saves thresholds that override the configured ones (the caller validated them).
pub async fn save_thresholds(
    db: &impl ConnectionTrait,
    thresholds: &Thresholds,
) -> anyhow::Result<()> {
    crate::app_settings::save(db, THRESHOLDS_KEY, thresholds).await
}

/// Thresholds to change; None keeps the value in force.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ThresholdChanges {
    pub new_days: Option<i64>,
    pub loyal_min_orders: Option<i64>,
    pub loyal_min_days: Option<i64>,
    pub silent_days: Option<i64>,
    pub silent_factor: Option<f64>,
    pub silent_p_alive: Option<f64>,
    pub churned_days: Option<i64>,
    pub churned_p_alive: Option<f64>,
    pub win_back_window_days: Option<i64>,
}

impl ThresholdChanges {
    /// `current` with these changes made.
    pub fn apply(self, mut t: Thresholds) -> Thresholds {
        t.new_days = self.new_days.unwrap_or(t.new_days);
        t.loyal_min_orders = self.loyal_min_orders.unwrap_or(t.loyal_min_orders);
        t.loyal_min_days = self.loyal_min_days.unwrap_or(t.loyal_min_days);
        t.silent_days = self.silent_days.unwrap_or(t.silent_days);
        t.silent_factor = self.silent_factor.unwrap_or(t.silent_factor);
        t.silent_p_alive = self.silent_p_alive.unwrap_or(t.silent_p_alive);
        t.churned_days = self.churned_days.unwrap_or(t.churned_days);
        t.churned_p_alive = self.churned_p_alive.unwrap_or(t.churned_p_alive);
        t.win_back_window_days = self.win_back_window_days.unwrap_or(t.win_back_window_days);
        t
    }
}

/// Changes the thresholds in force; they override the configured ones from the next
/// run on. An invalid combination is refused with every problem (`input.<field>`).
pub async fn update_thresholds(
    db: &impl ConnectionTrait,
    configured: &Thresholds,
    changes: ThresholdChanges,
) -> DomainResult<Thresholds> {
    let current = effective_thresholds(db, configured).await?;
    let updated = changes.apply(current);
    let mut problems = Problems::new();
    for (field, message) in updated.problems() {
        problems.push(None, format!("input.{field}"), message);
    }
    problems.into_result()?;
    save_thresholds(db, &updated).await?;
    Ok(updated)
}

/// A customer as the job sees them: the facts at asOf and the stage they are in now.
#[derive(Clone, Debug, PartialEq)]
pub struct Subject {
    pub customer_id: i64,
    pub facts: Facts,
    /// Day number of the customer's creation.
    pub created_day: i64,
    /// The stored stage and the day number it began, if any.
    pub current: Option<(Stage, i64)>,
}

/// A customer's latest value scores as read, before deciding whether they apply.
struct Scores {
    as_of_day: Option<i64>,
    p_alive: Option<f64>,
    /// x and t_x (weeks) as the model saw them.
    repeat_purchases: Option<i64>,
    recency_weeks: Option<f64>,
    high_value: bool,
}

/// Where [`load_subjects`] takes purchase facts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FactSource {
    /// The aggregates kept on each customer, except for customers with orders after
    /// asOf, whose orders up to asOf are read (a replay).
    Auto,
    /// Orders up to asOf for every customer.
    Scan,
}

/// One row per customer who is not erased and existed by the end of `as_of`: created
/// by then, or (imported later with their history) ordering by then.
pub async fn load_subjects<C: ConnectionTrait + StreamTrait>(
    db: &C,
    as_of: NaiveDate,
    source: FactSource,
) -> anyhow::Result<Vec<Subject>> {
    let backend = ConnectionTrait::get_database_backend(db);
    let p = placeholder(backend);
    let cutoff = day_start(
        as_of
            .checked_add_days(Days::new(1))
            .context("asOf is out of range")?,
    );
    let as_of_day = day_number(as_of);
    let sql = format!(
        "SELECT c.id, {created} AS created_day, c.order_count, {first} AS first_day, {last} AS last_day, \
                c.median_gap_days, l.stage, {since} AS since_day, v.p_alive, v.value_tier, v.as_of AS scored_as_of, \
                v.repeat_purchases, v.t_x_weeks \
         FROM customers c \
         LEFT JOIN customer_lifecycle l ON l.customer_id = c.id \
         LEFT JOIN customer_values v ON v.customer_id = c.id \
              AND v.job_run_id = {LATEST_VALUE_RUN} \
         WHERE c.erased_at IS NULL AND (c.created_at < {p} OR c.first_order_at < {p})",
        created = day_number_sql(backend, "c.created_at"),
        first = day_number_sql(backend, "c.first_order_at"),
        last = day_number_sql(backend, "c.last_order_at"),
        since = day_number_sql(backend, "l.since"),
    );
    let mut subjects = Vec::new();
    let mut scores: Vec<Scores> = Vec::new();
    let mut replay: Vec<usize> = Vec::new();
    let mut rows = std::pin::pin!(
        db.stream_raw(Statement::from_sql_and_values(
            backend,
            sql,
            cutoff_values(backend, 2, cutoff)
        ))
        .await
        .context("failed to read customers")?
    );
    while let Some(row) = rows.try_next().await.context("failed to read a customer")? {
        let stage: Option<Stage> = row.try_get("", "stage")?;
        let current = match stage {
            Some(stage) => Some((stage, row.try_get::<i64>("", "since_day")?)),
            None => None,
        };
        let last_day: Option<i64> = row.try_get("", "last_day")?;
        let scored_as_of: Option<NaiveDate> = row.try_get("", "scored_as_of")?;
        let value_tier: Option<entity::ValueTier> = row.try_get("", "value_tier")?;
        scores.push(Scores {
            as_of_day: scored_as_of.map(day_number),
            p_alive: row.try_get("", "p_alive")?,
            repeat_purchases: row.try_get("", "repeat_purchases")?,
            recency_weeks: row.try_get("", "t_x_weeks")?,
            high_value: value_tier == Some(entity::ValueTier::High),
        });
        let facts = Facts {
            first_order_day: row.try_get("", "first_day")?,
            last_order_day: last_day,
            order_count: row.try_get("", "order_count")?,
            median_gap_days: row.try_get("", "median_gap_days")?,
            p_alive: None,
            alive_curve: None,
            high_value: false,
        };
        if source == FactSource::Scan || last_day.is_some_and(|last| last > as_of_day) {
            replay.push(subjects.len());
        }
        // Known since creation, or since the first order of a customer imported later.
        let created_day: i64 = row.try_get("", "created_day")?;
        let known_day = facts
            .first_order_day
            .map_or(created_day, |f| f.min(created_day));
        subjects.push(Subject {
            customer_id: row.try_get("", "id")?,
            facts,
            created_day: known_day,
            current,
        });
    }
    if !replay.is_empty() {
        let scope = match source {
            FactSource::Scan => String::new(),
            FactSource::Auto => {
                format!("AND customer_id IN (SELECT id FROM customers WHERE last_order_at >= {p})")
            }
        };
        let mut days = purchase_days(db, cutoff, &scope).await?;
        for index in replay {
            let subject = &mut subjects[index];
            let (day_list, orders) = days.remove(&subject.customer_id).unwrap_or_default();
            subject.facts.first_order_day = day_list.first().copied();
            subject.facts.last_order_day = day_list.last().copied();
            subject.facts.order_count = orders;
            subject.facts.median_gap_days = rules::median_gap(&day_list);
        }
    }
    // Scores count when they saw everything up to the last order by asOf and nothing
    // after asOf: scores from before a comeback would call the comeback silent.
    let params = latest_bgnbd_params(db).await?;
    for (subject, scores) in subjects.iter_mut().zip(scores) {
        let applies = scores.as_of_day.is_some_and(|scored| {
            scored <= as_of_day
                && subject
                    .facts
                    .last_order_day
                    .is_none_or(|last| last <= scored)
        });
        if applies {
            subject.facts.p_alive = scores.p_alive;
            subject.facts.high_value = scores.high_value;
            subject.facts.alive_curve =
                match (params, scores.repeat_purchases, scores.recency_weeks) {
                    (Some(params), Some(repeat), Some(recency)) => Some(AliveCurve {
                        params,
                        repeat_purchases: u32::try_from(repeat).unwrap_or(u32::MAX),
                        recency_weeks: recency,
                    }),
                    _ => None,
                };
        }
    }
    Ok(subjects)
}

/// The BG/NBD parameters of the run whose scores are current; None when it could not
/// fit the model (or nothing was scored yet).
async fn latest_bgnbd_params(
    db: &impl ConnectionTrait,
) -> anyhow::Result<Option<crate::value::bgnbd::BgNbdParams>> {
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_string(
            backend,
            format!(
                "SELECT bgnbd_r, bgnbd_alpha, bgnbd_a, bgnbd_b FROM value_models \
                 WHERE job_run_id = {LATEST_VALUE_RUN}"
            ),
        ))
        .await
        .context("failed to read the value model")?;
    let Some(row) = row else {
        return Ok(None);
    };
    let param = |name| row.try_get::<Option<f64>>("", name);
    Ok(
        match (
            param("bgnbd_r")?,
            param("bgnbd_alpha")?,
            param("bgnbd_a")?,
            param("bgnbd_b")?,
        ) {
            (Some(r), Some(alpha), Some(a), Some(b)) => {
                Some(crate::value::bgnbd::BgNbdParams { r, alpha, a, b })
            }
            _ => None,
        },
    )
}

/// Each customer's distinct purchase days (ascending day numbers) and order count, from
/// orders before `cutoff`; `scope` narrows the customers (an SQL condition using the
/// cutoff placeholder, or empty).
async fn purchase_days<C: ConnectionTrait + StreamTrait>(
    db: &C,
    cutoff: DateTime<Utc>,
    scope: &str,
) -> anyhow::Result<HashMap<i64, (Vec<i64>, i64)>> {
    let backend = ConnectionTrait::get_database_backend(db);
    let p = placeholder(backend);
    let key = day_key_sql(backend, "ordered_at");
    let day = day_number_of_key(backend, "day");
    let sql = format!(
        "SELECT customer_id, {day} AS day_number, orders FROM \
           (SELECT customer_id, {key} AS day, COUNT(*) AS orders FROM orders \
            WHERE ordered_at < {p} {scope} GROUP BY customer_id, {key}) per_day \
         ORDER BY customer_id, day"
    );
    let uses = if scope.is_empty() { 1 } else { 2 };
    let values = cutoff_values(backend, uses, cutoff);
    let mut result: HashMap<i64, (Vec<i64>, i64)> = HashMap::new();
    let mut rows = std::pin::pin!(
        db.stream_raw(Statement::from_sql_and_values(backend, sql, values))
            .await
            .context("failed to read purchase days")?
    );
    while let Some(row) = rows
        .try_next()
        .await
        .context("failed to read a purchase day")?
    {
        let entry = result.entry(row.try_get("", "customer_id")?).or_default();
        entry.0.push(row.try_get("", "day_number")?);
        entry.1 += row.try_get::<i64>("", "orders")?;
    }
    Ok(result)
}

/// The values for a statement whose placeholders are all the cutoff, `uses` times:
/// PostgreSQL's numbered `$1` is bound once, SQLite's `?` once per use.
fn cutoff_values(
    backend: DatabaseBackend,
    uses: usize,
    cutoff: DateTime<Utc>,
) -> Vec<sea_orm::Value> {
    let count = if backend == DatabaseBackend::Postgres {
        1
    } else {
        uses
    };
    vec![cutoff.into(); count]
}

/// A stage change the job writes.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub customer_id: i64,
    pub from: Option<Stage>,
    pub to: Stage,
    /// Day number the change took effect.
    pub day: i64,
    pub reason: String,
    pub reactivation: bool,
}

/// The changes the rules make at `as_of_day`, in customer order.
pub fn changes(subjects: &[Subject], as_of_day: i64, thresholds: &Thresholds) -> Vec<Change> {
    subjects
        .iter()
        .filter_map(|subject| {
            let verdict = rules::classify(&subject.facts, as_of_day, thresholds);
            let (from, floor) = match subject.current {
                Some((stage, _)) if stage == verdict.stage => return None,
                Some((stage, since)) => (Some(stage), since),
                None => (None, subject.created_day),
            };
            // The rules' estimate of when the stage began, never before the previous
            // stage began nor after the day observed.
            let day = verdict.since_day.max(floor).min(as_of_day);
            let reactivation = from.is_some_and(Stage::is_lapsed)
                && !verdict.stage.is_lapsed()
                && verdict.stage != Stage::Prospect;
            Some(Change {
                customer_id: subject.customer_id,
                from,
                to: verdict.stage,
                day,
                reason: verdict.reason,
                reactivation,
            })
        })
        .collect()
}

/// Runs the job for the day `as_of`: orders after it are ignored.
pub async fn run(context: &JobContext, run_id: i64, as_of: NaiveDate) -> anyhow::Result<JobStats> {
    let started = Instant::now();
    let db = &context.db;
    let thresholds = effective_thresholds(db, &context.lifecycle).await?;
    thresholds.validate().map_err(anyhow::Error::msg)?;
    refuse_going_back(db, run_id, as_of).await?;

    let subjects = load_subjects(db, as_of, FactSource::Auto).await?;
    let loaded = started.elapsed();
    let changes = changes(&subjects, day_number(as_of), &thresholds);
    let computed = started.elapsed();

    let txn = db.begin().await.context("failed to begin writing stages")?;
    write_changes(&txn, run_id, &changes).await?;
    txn.commit().await.context("failed to commit the stages")?;
    if changes.len() as u64 >= bulk::ANALYZE_AFTER_ROWS {
        bulk::analyze(db, &["customer_lifecycle", "lifecycle_events"])
            .await
            .context("failed to analyze the stages")?;
    }

    let mut stats = JobStats::default();
    stats.set("customers", subjects.len() as u64);
    stats.set("changes", changes.len() as u64);
    stats.set(
        "reactivations",
        changes.iter().filter(|c| c.reactivation).count() as u64,
    );
    let mut per_stage: HashMap<Stage, u64> = HashMap::new();
    for change in &changes {
        *per_stage.entry(change.to).or_default() += 1;
    }
    for stage in Stage::ALL {
        stats.set(
            &format!("entered{}", title_case(stage.as_str())),
            per_stage.get(&stage).copied().unwrap_or(0),
        );
    }
    stats.set(
        "usedValueScores",
        subjects
            .iter()
            .filter(|s| s.facts.p_alive.is_some())
            .count() as u64,
    );
    stats.set("loadSeconds", loaded.as_secs_f64());
    stats.set("computeSeconds", (computed - loaded).as_secs_f64());
    stats.set("writeSeconds", (started.elapsed() - computed).as_secs_f64());
    Ok(stats)
}

fn title_case(upper: &str) -> String {
    let lower = upper.to_lowercase();
    let mut chars = lower.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Stages only move forward in time: a run for a day before the latest successful run
/// would write events out of order, so it is refused.
async fn refuse_going_back(
    db: &impl ConnectionTrait,
    run_id: i64,
    as_of: NaiveDate,
) -> anyhow::Result<()> {
    let latest = job_run::Entity::find()
        .filter(job_run::Column::Name.eq(crate::JobName::Lifecycle))
        .filter(job_run::Column::Status.eq(JobStatus::Succeeded))
        .filter(job_run::Column::Id.ne(run_id))
        .order_by_desc(job_run::Column::AsOf)
        .limit(1)
        .one(db)
        .await
        .context("failed to read earlier lifecycle runs")?;
    match latest {
        Some(run) if run.as_of > as_of => anyhow::bail!(
            "lifecycle already ran for {} (run {}); a run for the earlier day {as_of} would rewrite history",
            run.as_of,
            run.id
        ),
        _ => Ok(()),
    }
}

async fn write_changes(
    txn: &impl ConnectionTrait,
    run_id: i64,
    changes: &[Change],
) -> anyhow::Result<()> {
    use bulk::{Column, Kind::*};
    const CURRENT: [Column; 5] = [
        Column::new("customer_id", BigInt),
        Column::new("stage", Text),
        Column::new("since", TimestampTz),
        Column::new("reason", Text),
        Column::new("job_run_id", BigInt),
    ];
    const EVENTS: [Column; 7] = [
        Column::new("customer_id", BigInt),
        Column::new("from_stage", Text),
        Column::new("to_stage", Text),
        Column::new("at", TimestampTz),
        Column::new("reason", Text),
        Column::new("reactivation", Bool),
        Column::new("job_run_id", BigInt),
    ];
    // Replaced rows go first; the rest are customers classified for the first time.
    let replaced: Vec<i64> = changes
        .iter()
        .filter(|c| c.from.is_some())
        .map(|c| c.customer_id)
        .collect();
    bulk::delete_by_ids(txn, "customer_lifecycle", "customer_id", &replaced)
        .await
        .context("failed to clear replaced stages")?;
    for chunk in changes.chunks(50_000) {
        let mut current = Vec::with_capacity(chunk.len());
        let mut events = Vec::with_capacity(chunk.len());
        for change in chunk {
            let at = day_start(day_from_number(change.day));
            current.push(vec![
                change.customer_id.into(),
                change.to.as_str().into(),
                at.into(),
                change.reason.clone().into(),
                run_id.into(),
            ]);
            events.push(vec![
                change.customer_id.into(),
                change.from.map(|s| s.as_str().to_owned()).into(),
                change.to.as_str().into(),
                at.into(),
                change.reason.clone().into(),
                change.reactivation.into(),
                run_id.into(),
            ]);
        }
        bulk::insert(txn, "customer_lifecycle", &CURRENT, current)
            .await
            .context("failed to store stages")?;
        bulk::insert(txn, "lifecycle_events", &EVENTS, events)
            .await
            .context("failed to store stage changes")?;
    }
    Ok(())
}

/// The date of a day number (days since 1970).
pub fn day_from_number(day: i64) -> NaiveDate {
    NaiveDate::default()
        .checked_add_signed(chrono::Duration::days(day))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(facts: Facts, current: Option<(Stage, i64)>) -> Subject {
        Subject {
            customer_id: 1,
            facts,
            created_day: 100,
            current,
        }
    }

    #[test]
    fn only_changes_are_reported_and_a_return_is_a_reactivation() {
        let t = Thresholds::default();
        let facts = Facts {
            first_order_day: Some(200),
            last_order_day: Some(900),
            order_count: 2,
            ..Facts::default()
        };
        let active = subject(facts.clone(), Some((Stage::Active, 300)));
        assert!(changes(&[active], 910, &t).is_empty());
        let back = subject(facts, Some((Stage::Silent, 400)));
        let change = &changes(&[back], 910, &t)[0];
        assert_eq!(
            (change.from, change.to, change.reactivation, change.day),
            (Some(Stage::Silent), Stage::Active, true, 900)
        );
    }

    #[test]
    fn the_day_of_a_change_is_estimated_and_clamped() {
        let t = Thresholds::default();
        // Silent since the day after the 90-day limit passed.
        let quiet = Facts {
            first_order_day: Some(200),
            last_order_day: Some(500),
            order_count: 1,
            ..Facts::default()
        };
        let change = &changes(
            &[subject(quiet.clone(), Some((Stage::Active, 230)))],
            700,
            &t,
        )[0];
        assert_eq!((change.to, change.day), (Stage::Silent, 591));
        // Never before the previous stage began.
        let change = &changes(&[subject(quiet, Some((Stage::Active, 650)))], 700, &t)[0];
        assert_eq!(change.day, 650);
        // A prospect is one since creation.
        let change = &changes(&[subject(Facts::default(), None)], 700, &t)[0];
        assert_eq!(
            (change.to, change.day, change.from),
            (Stage::Prospect, 100, None)
        );
    }

    #[test]
    fn day_numbers_round_trip() {
        let day = NaiveDate::from_ymd_opt(2026, 2, 28).unwrap();
        assert_eq!(day_from_number(day_number(day)), day);
    }
}
