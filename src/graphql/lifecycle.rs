//! Lifecycle through the API: `Customer.lifecycle`, `lifecycleSummary`,
//! `lifecycleTransitions`, `silentCustomers`, stage playbooks and the stage thresholds.

use async_graphql::connection::Edge;
use async_graphql::{
    Context, Enum, InputObject, Object, Result, SimpleObject, dataloader::DataLoader,
};
use chrono::{DateTime, Days, NaiveDate, Utc};
use entity::sql::{LATEST_VALUE_RUN, nth_placeholder as placeholder};
use entity::{customer, customer_lifecycle, lifecycle_event, lifecycle_playbook};
use jobs::day_start;
use jobs::lifecycle::{self as rules, Stage};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, DatabaseConnection, EntityTrait, FromQueryResult, Statement,
};
use serde::{Deserialize, Serialize};

use crate::api_keys::Scope;
use crate::graphql::{
    customer::{Customer, child_page},
    errors::{IntoApi, OrInternal, Problems, bad_input, not_found},
    guards::RequireScope,
    loaders::CustomerLoader,
    pagination::{Page, PlainConnection, encode_cursor},
    scalars::{Date, Decimal},
    value::ValueTier,
};

/// Where a customer is in their life with the business (the README has the rules).
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(remote = "jobs::lifecycle::Stage")]
pub enum LifecycleStage {
    Prospect,
    New,
    Active,
    Loyal,
    Silent,
    Churned,
}

pub(crate) fn stored_stage(name: &str) -> Result<LifecycleStage> {
    Stage::parse(name)
        .map(LifecycleStage::from)
        .ok_or_else(|| crate::graphql::errors::internal(anyhow::anyhow!("unknown stage `{name}`")))
}

fn optional_stage(name: Option<&str>) -> Result<Option<LifecycleStage>> {
    name.map(stored_stage).transpose()
}

/// A customer's current stage, set by the `lifecycle` job.
pub struct Lifecycle(pub customer_lifecycle::Model);

#[Object]
impl Lifecycle {
    async fn stage(&self) -> Result<LifecycleStage> {
        stored_stage(&self.0.stage)
    }
    /// When the customer entered the stage: the day the deciding order was placed or
    /// limit passed, at the latest the day of the run that saw it (midnight UTC).
    async fn since(&self) -> DateTime<Utc> {
        self.0.since
    }
    /// Whole days from `since` to today (UTC).
    async fn days_in_stage(&self) -> i64 {
        (Utc::now() - self.0.since).num_days()
    }
    /// Why the rules put the customer in this stage.
    async fn reason(&self) -> &str {
        &self.0.reason
    }
    /// Every change of stage, oldest first.
    async fn history(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<PlainConnection<LifecycleEvent>> {
        child_page::<lifecycle_event::Entity, _>(
            ctx,
            self.0.customer_id,
            first,
            after,
            |event| (event.at, event.id),
            LifecycleEvent,
        )
        .await
    }
}

/// One change of stage.
pub struct LifecycleEvent(pub lifecycle_event::Model);

#[Object]
impl LifecycleEvent {
    /// Null for the customer's first classification.
    #[graphql(name = "fromStage")]
    async fn previous_stage(&self) -> Result<Option<LifecycleStage>> {
        optional_stage(self.0.from_stage.as_deref())
    }
    async fn to_stage(&self) -> Result<LifecycleStage> {
        stored_stage(&self.0.to_stage)
    }
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
    async fn reason(&self) -> &str {
        &self.0.reason
    }
    /// A silent or churned customer ordering again.
    async fn reactivation(&self) -> bool {
        self.0.reactivation
    }
    /// The win-back email a reactivation is attributed to: the latest one sent to the
    /// customer within `winBackWindowDays` before it (set by the `campaigns` job).
    async fn win_back_email_id(&self) -> Option<async_graphql::ID> {
        self.0
            .win_back_email_id
            .map(|id| async_graphql::ID(id.to_string()))
    }
}

/// One stage of the base.
#[derive(SimpleObject)]
pub struct LifecycleStageSummary {
    pub stage: LifecycleStage,
    pub customers: u64,
    /// Share of all classified customers, 0–1.
    pub share: f64,
    /// Revenue from these customers' orders in the 90 days up to the day asked about.
    pub revenue_last_90_days: Decimal,
    /// Mean predicted CLV of these customers (latest value scores); null without scores.
    pub average_predicted_clv: Option<Decimal>,
}

/// Customers who moved from one stage to another in a period.
#[derive(SimpleObject)]
pub struct LifecycleTransition {
    /// Null for customers classified for the first time.
    pub from_stage: Option<LifecycleStage>,
    pub to_stage: LifecycleStage,
    pub customers: u64,
}

/// A customer who went silent: the early-warning list.
pub struct SilentCustomer {
    row: SilentRow,
    customer: customer::Model,
}

#[derive(Debug, FromQueryResult)]
struct SilentRow {
    id: i64,
    since: DateTime<Utc>,
    predicted_clv: Option<i64>,
    p_alive: Option<f64>,
    value_tier: Option<String>,
}

#[Object]
impl SilentCustomer {
    async fn customer(&self) -> Customer {
        Customer(self.customer.clone())
    }
    /// When they went silent.
    async fn silent_since(&self) -> DateTime<Utc> {
        self.row.since
    }
    async fn last_order_at(&self) -> Option<DateTime<Utc>> {
        self.customer.last_order_at
    }
    /// Their usual rhythm: median days between purchase days.
    async fn usual_gap_days(&self) -> Option<f64> {
        self.customer.median_gap_days
    }
    /// The value at risk: predicted CLV from the latest value scores.
    async fn predicted_clv(&self) -> Option<Decimal> {
        self.row
            .predicted_clv
            .map(|units| entity::Money(units).into())
    }
    async fn p_alive(&self) -> Option<f64> {
        self.row.p_alive
    }
    async fn value_tier(&self) -> Option<ValueTier> {
        self.row.value_tier.as_deref().and_then(ValueTier::parse)
    }
}

/// The goal and strategy for customers in one stage.
pub struct LifecyclePlaybook(lifecycle_playbook::Model);

#[Object]
impl LifecyclePlaybook {
    async fn stage(&self) -> Result<LifecycleStage> {
        stored_stage(&self.0.stage)
    }
    async fn goal(&self) -> &str {
        &self.0.goal
    }
    async fn strategy(&self) -> &str {
        &self.0.strategy
    }
    /// Campaigns that act on this stage: those targeting it and those its entry triggers
    /// (win-back for SILENT and CHURNED, welcome for NEW). Needs `campaigns:read`.
    async fn campaigns(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Vec<crate::graphql::campaigns::Campaign>> {
        crate::graphql::guards::require(ctx, crate::api_keys::Scope::CampaignsRead)?;
        crate::graphql::campaigns::campaigns_for_stage(ctx, &self.0.stage).await
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// The stage rules' thresholds in force (README: "Lifecycle stages").
#[derive(SimpleObject)]
pub struct LifecycleThresholds {
    pub new_days: i64,
    pub loyal_min_orders: i64,
    pub loyal_min_days: i64,
    pub silent_days: i64,
    pub silent_factor: f64,
    pub silent_p_alive: f64,
    pub churned_days: i64,
    pub churned_p_alive: f64,
    pub win_back_window_days: i64,
}

impl From<rules::Thresholds> for LifecycleThresholds {
    fn from(t: rules::Thresholds) -> Self {
        Self {
            new_days: t.new_days,
            loyal_min_orders: t.loyal_min_orders,
            loyal_min_days: t.loyal_min_days,
            silent_days: t.silent_days,
            silent_factor: t.silent_factor,
            silent_p_alive: t.silent_p_alive,
            churned_days: t.churned_days,
            churned_p_alive: t.churned_p_alive,
            win_back_window_days: t.win_back_window_days,
        }
    }
}

/// Thresholds to change; omitted ones keep their value.
#[derive(InputObject, Default)]
pub struct LifecycleThresholdsInput {
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

impl LifecycleThresholdsInput {
    fn apply(self, mut t: rules::Thresholds) -> rules::Thresholds {
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

/// Cursor of the silent list: predicted CLV (null last) and customer id.
#[derive(Serialize, Deserialize)]
struct SilentCursor(Option<i64>, i64);

const PLAYBOOK_TEXT_LIMIT: usize = 4000;

#[derive(Default)]
pub struct LifecycleQuery;

#[Object]
impl LifecycleQuery {
    /// Per stage: customers, share, revenue of the last 90 days and average predicted
    /// CLV. Without `asOf`, the current stages and the 90 days up to now; with it, each
    /// customer's stage at the end of that day, rebuilt from the stage history.
    #[graphql(guard = "RequireScope(Scope::CustomersRead)")]
    async fn lifecycle_summary(
        &self,
        ctx: &Context<'_>,
        as_of: Option<Date>,
    ) -> Result<Vec<LifecycleStageSummary>> {
        let db = ctx.data::<DatabaseConnection>()?;
        let backend = db.get_database_backend();
        let p = |n: usize| placeholder(backend, n);
        let (stages, window_end, mut values): (String, DateTime<Utc>, Vec<sea_orm::Value>) =
            match as_of {
                None => (
                    "SELECT customer_id, stage FROM customer_lifecycle".into(),
                    Utc::now(),
                    Vec::new(),
                ),
                Some(Date(day)) => {
                    let end = day_start(next_day(day)?);
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
            revenue = entity::sql::money_sum("r.amount", "revenue"),
            clv_total = entity::sql::money_sum("v.predicted_clv", "clv_total"),
        );
        values.push((window_end - chrono::Duration::days(90)).into());
        values.push(window_end.into());
        #[derive(FromQueryResult)]
        struct Row {
            stage: String,
            customers: i64,
            revenue: entity::MoneyTotal,
            clv_total: entity::MoneyTotal,
            clv_count: i64,
        }
        let rows = Row::find_by_statement(Statement::from_sql_and_values(backend, sql, values))
            .all(db)
            .await
            .or_internal()?;
        let total: i64 = rows.iter().map(|r| r.customers).sum();
        Stage::ALL
            .into_iter()
            .map(|stage| {
                let row = rows.iter().find(|r| r.stage == stage.as_str());
                let customers = row.map_or(0, |r| r.customers);
                Ok(LifecycleStageSummary {
                    stage: stage.into(),
                    customers: customers as u64,
                    share: if total == 0 {
                        0.0
                    } else {
                        customers as f64 / total as f64
                    },
                    revenue_last_90_days: row.map(|r| r.revenue).unwrap_or_default().into(),
                    average_predicted_clv: row
                        .and_then(|r| entity::Money::mean(r.clv_total.0, r.clv_count as u64))
                        .map(Decimal::from),
                })
            })
            .collect()
    }

    /// How many customers moved from each stage to each stage with `from ≤ at < to`.
    #[graphql(guard = "RequireScope(Scope::CustomersRead)")]
    async fn lifecycle_transitions(
        &self,
        ctx: &Context<'_>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<LifecycleTransition>> {
        if to <= from {
            return Err(bad_input("to", "must be after `from`"));
        }
        let db = ctx.data::<DatabaseConnection>()?;
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
            from_stage: Option<String>,
            to_stage: String,
            customers: i64,
        }
        let mut rows = Row::find_by_statement(Statement::from_sql_and_values(
            backend,
            sql,
            [from.into(), to.into()],
        ))
        .all(db)
        .await
        .or_internal()?
        .into_iter()
        .map(|row| {
            Ok(LifecycleTransition {
                from_stage: optional_stage(row.from_stage.as_deref())?,
                to_stage: stored_stage(&row.to_stage)?,
                customers: row.customers as u64,
            })
        })
        .collect::<Result<Vec<_>>>()?;
        rows.sort_by_key(|t| {
            (
                t.from_stage.map(|s| Stage::from(s) as u8 + 1).unwrap_or(0),
                Stage::from(t.to_stage) as u8,
            )
        });
        Ok(rows)
    }

    /// Customers in the SILENT stage (gone quiet, not yet churned), most value at risk
    /// first (predicted CLV, customers without scores last). `since`: only those who
    /// went silent at or after it; `minValueTier`: only that tier or better.
    #[graphql(guard = "RequireScope(Scope::CustomersRead)")]
    async fn silent_customers(
        &self,
        ctx: &Context<'_>,
        since: Option<DateTime<Utc>>,
        min_value_tier: Option<ValueTier>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<PlainConnection<SilentCustomer>> {
        let db = ctx.data::<DatabaseConnection>()?;
        let backend = db.get_database_backend();
        let page = Page::<SilentCursor>::forward(first, after)?;
        let mut values: Vec<sea_orm::Value> = Vec::new();
        let next = |value: sea_orm::Value, values: &mut Vec<sea_orm::Value>| {
            values.push(value);
            placeholder(backend, values.len())
        };
        let mut conditions = vec![
            "l.stage = 'SILENT'".to_owned(),
            "c.erased_at IS NULL".to_owned(),
        ];
        if let Some(since) = since {
            conditions.push(format!("l.since >= {}", next(since.into(), &mut values)));
        }
        if let Some(tier) = min_value_tier {
            let tiers: &[&str] = match tier {
                ValueTier::High => &["HIGH"],
                ValueTier::Medium => &["HIGH", "MEDIUM"],
                ValueTier::Low => &["HIGH", "MEDIUM", "LOW"],
            };
            let marks: Vec<String> = tiers
                .iter()
                .map(|t| next((*t).into(), &mut values))
                .collect();
            conditions.push(format!("v.value_tier IN ({})", marks.join(", ")));
        }
        // Placeholders are taken in the order they appear (SQLite binds by position).
        if let Some(SilentCursor(clv, id)) = page.cursor {
            conditions.push(match clv {
                Some(clv) => {
                    let below = next(clv.into(), &mut values);
                    let equal = next(clv.into(), &mut values);
                    let after_id = next(id.into(), &mut values);
                    format!(
                        "(v.predicted_clv IS NULL OR v.predicted_clv < {below} \
                          OR (v.predicted_clv = {equal} AND c.id > {after_id}))"
                    )
                }
                None => format!(
                    "(v.predicted_clv IS NULL AND c.id > {})",
                    next(id.into(), &mut values)
                ),
            });
        }
        let sql = format!(
            "SELECT c.id, l.since, v.predicted_clv, v.p_alive, v.value_tier \
             FROM customer_lifecycle l \
             JOIN customers c ON c.id = l.customer_id \
             LEFT JOIN customer_values v ON v.customer_id = c.id \
                  AND v.job_run_id = {LATEST_VALUE_RUN} \
             WHERE {} \
             ORDER BY CASE WHEN v.predicted_clv IS NULL THEN 1 ELSE 0 END, v.predicted_clv DESC, c.id \
             LIMIT {}",
            conditions.join(" AND "),
            page.fetch_limit()
        );
        let rows =
            SilentRow::find_by_statement(Statement::from_sql_and_values(backend, sql, values))
                .all(db)
                .await
                .or_internal()?;
        let (rows, has_previous, has_next) = page.finish(rows);
        let loader = ctx.data::<DataLoader<CustomerLoader>>()?;
        let customers = loader.load_many(rows.iter().map(|r| r.id)).await?;
        let mut connection = PlainConnection::new(has_previous, has_next);
        for row in rows {
            let Some(customer) = customers.get(&row.id).cloned() else {
                continue;
            };
            let cursor = encode_cursor(&SilentCursor(row.predicted_clv, row.id));
            connection
                .edges
                .push(Edge::new(cursor, SilentCustomer { row, customer }));
        }
        Ok(connection)
    }

    /// The playbook of every stage, in stage order.
    #[graphql(guard = "RequireScope(Scope::CustomersRead)")]
    async fn lifecycle_playbooks(&self, ctx: &Context<'_>) -> Result<Vec<LifecyclePlaybook>> {
        let db = ctx.data::<DatabaseConnection>()?;
        let mut rows = lifecycle_playbook::Entity::find()
            .all(db)
            .await
            .or_internal()?;
        rows.sort_by_key(|row| Stage::parse(&row.stage));
        Ok(rows.into_iter().map(LifecyclePlaybook).collect())
    }

    /// The stage thresholds in force (saved through the API, else configured).
    #[graphql(guard = "RequireScope(Scope::CustomersRead)")]
    async fn lifecycle_thresholds(&self, ctx: &Context<'_>) -> Result<LifecycleThresholds> {
        let db = ctx.data::<DatabaseConnection>()?;
        let context = ctx.data::<jobs::JobContext>()?;
        let thresholds = rules::effective_thresholds(db, &context.lifecycle)
            .await
            .or_internal()?;
        Ok(thresholds.into())
    }
}

#[derive(Default)]
pub struct LifecycleMutation;

#[Object]
impl LifecycleMutation {
    /// Changes the goal and strategy of a stage's playbook.
    #[graphql(guard = "RequireScope(Scope::Admin)")]
    async fn update_lifecycle_playbook(
        &self,
        ctx: &Context<'_>,
        stage: LifecycleStage,
        goal: Option<String>,
        strategy: Option<String>,
    ) -> Result<LifecyclePlaybook> {
        let mut problems = Problems::new();
        for (field, text) in [("goal", &goal), ("strategy", &strategy)] {
            if let Some(text) = text {
                if text.trim().is_empty() {
                    problems.push(None, field, "must not be blank");
                } else if text.chars().count() > PLAYBOOK_TEXT_LIMIT {
                    problems.push(
                        None,
                        field,
                        format!("at most {PLAYBOOK_TEXT_LIMIT} characters"),
                    );
                }
            }
        }
        problems.into_result().into_api()?;
        let db = ctx.data::<DatabaseConnection>()?;
        let name = Stage::from(stage).as_str();
        let existing = lifecycle_playbook::Entity::find_by_id(name)
            .one(db)
            .await
            .or_internal()?
            .ok_or_else(|| not_found(format!("playbook {name}")))?;
        let mut row: lifecycle_playbook::ActiveModel = existing.into();
        if let Some(goal) = goal {
            row.goal = Set(goal.trim().to_owned());
        }
        if let Some(strategy) = strategy {
            row.strategy = Set(strategy.trim().to_owned());
        }
        row.updated_at = Set(Utc::now());
        let saved = row.update(db).await.or_internal()?;
        Ok(LifecyclePlaybook(saved))
    }

    /// Changes stage thresholds; they override the configuration file from the next
    /// `lifecycle` run on. Invalid combinations are refused, naming each field.
    #[graphql(guard = "RequireScope(Scope::Admin)")]
    async fn update_lifecycle_thresholds(
        &self,
        ctx: &Context<'_>,
        input: LifecycleThresholdsInput,
    ) -> Result<LifecycleThresholds> {
        let db = ctx.data::<DatabaseConnection>()?;
        let context = ctx.data::<jobs::JobContext>()?;
        let current = rules::effective_thresholds(db, &context.lifecycle)
            .await
            .or_internal()?;
        let updated = input.apply(current);
        let mut problems = Problems::new();
        for (field, message) in updated.problems() {
            problems.push(None, format!("input.{field}"), message);
        }
        problems.into_result().into_api()?;
        rules::save_thresholds(db, &updated).await.or_internal()?;
        Ok(updated.into())
    }
}

fn next_day(day: NaiveDate) -> Result<NaiveDate> {
    day.checked_add_days(Days::new(1))
        .ok_or_else(|| bad_input("asOf", "out of range"))
}
