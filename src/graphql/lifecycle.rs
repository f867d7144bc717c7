//! Lifecycle through the API: `Customer.lifecycle`, `lifecycleSummary`,
//! `lifecycleTransitions`, `silentCustomers`, stage playbooks and the stage thresholds.

use anyhow::Context as _;
use async_graphql::connection::Edge;
use async_graphql::{Context, Enum, Object, Result, SimpleObject, dataloader::DataLoader};
use chrono::{DateTime, Utc};
use entity::{customer, customer_lifecycle, lifecycle_event, lifecycle_playbook};
use jobs::lifecycle::{self as rules};
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};

use crate::api_keys::Scope;
use crate::graphql::{
    customer::{Customer, child_page},
    errors::{IntoApi, OrInternal},
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

/// The stage thresholds: in force, and the changes an admin makes.
mod thresholds;

pub use thresholds::{LifecycleThresholds, LifecycleThresholdsInput};

/// A customer's current stage, set by the `lifecycle` job.
pub struct Lifecycle(pub customer_lifecycle::Model);

#[Object]
impl Lifecycle {
    async fn stage(&self) -> LifecycleStage {
        self.0.stage.into()
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
    async fn previous_stage(&self) -> Option<LifecycleStage> {
        self.0.from_stage.map(LifecycleStage::from)
    }
    async fn to_stage(&self) -> LifecycleStage {
        self.0.to_stage.into()
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
    /// When these figures were computed: a summary serves the requests of the next
    /// `REPORT_CACHE_SECONDS` (30 by default) after it.
    pub computed_at: DateTime<Utc>,
}

impl LifecycleStageSummary {
    fn of(s: &rules::StageSummary, computed_at: DateTime<Utc>) -> Self {
        Self {
            stage: s.stage.into(),
            customers: s.customers,
            share: s.share,
            revenue_last_90_days: s.revenue_last_90_days.into(),
            average_predicted_clv: s.average_predicted_clv.map(Decimal::from),
            computed_at,
        }
    }
}

/// Customers who moved from one stage to another in a period.
#[derive(SimpleObject)]
pub struct LifecycleTransition {
    /// Null for customers classified for the first time.
    pub from_stage: Option<LifecycleStage>,
    pub to_stage: LifecycleStage,
    pub customers: u64,
}

impl From<rules::Transition> for LifecycleTransition {
    fn from(t: rules::Transition) -> Self {
        Self {
            from_stage: t.from.map(LifecycleStage::from),
            to_stage: t.to.into(),
            customers: t.customers,
        }
    }
}

/// A customer who went silent: the early-warning list.
pub struct SilentCustomer {
    row: rules::SilentCustomer,
    customer: customer::Model,
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
        self.row.predicted_clv.map(Decimal::from)
    }
    async fn p_alive(&self) -> Option<f64> {
        self.row.p_alive
    }
    async fn value_tier(&self) -> Option<ValueTier> {
        self.row.value_tier.map(ValueTier::from)
    }
}

/// The goal and strategy for customers in one stage.
pub struct LifecyclePlaybook(lifecycle_playbook::Model);

#[Object]
impl LifecyclePlaybook {
    async fn stage(&self) -> LifecycleStage {
        self.0.stage.into()
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
        crate::graphql::campaigns::campaigns_for_stage(ctx, self.0.stage.into()).await
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// Cursor of the silent list: predicted CLV (null last) and customer id.
#[derive(Clone, Copy, Serialize, Deserialize)]
struct SilentCursor(Option<i64>, i64);

impl From<SilentCursor> for rules::SilentPosition {
    fn from(SilentCursor(predicted_clv, customer_id): SilentCursor) -> Self {
        Self {
            predicted_clv,
            customer_id,
        }
    }
}

impl From<rules::SilentPosition> for SilentCursor {
    fn from(p: rules::SilentPosition) -> Self {
        SilentCursor(p.predicted_clv, p.customer_id)
    }
}

#[derive(Default)]
pub struct LifecycleQuery;

#[Object]
impl LifecycleQuery {
    /// Per stage: customers, share, revenue of the last 90 days and average predicted
    /// CLV. Without `asOf`, the current stages and the 90 days up to now; with it, each
    /// customer's stage at the end of that day, rebuilt from the stage history. It reads
    /// the whole base, so a summary computed for one request answers the requests of the
    /// next `REPORT_CACHE_SECONDS` (30 by default; `computedAt` says when it was made).
    #[graphql(guard = "RequireScope(Scope::CustomersRead)")]
    async fn lifecycle_summary(
        &self,
        ctx: &Context<'_>,
        as_of: Option<Date>,
    ) -> Result<Vec<LifecycleStageSummary>> {
        let db = ctx.data::<DatabaseConnection>()?;
        let reports = ctx.data::<crate::graphql::SharedReports>()?;
        let summary = reports
            .stage_summary(db, as_of.map(|d| d.0))
            .await
            .into_api()?;
        Ok(summary
            .value
            .iter()
            .map(|s| LifecycleStageSummary::of(s, summary.computed_at))
            .collect())
    }

    /// How many customers moved from each stage to each stage with `from ≤ at < to`.
    #[graphql(guard = "RequireScope(Scope::CustomersRead)")]
    async fn lifecycle_transitions(
        &self,
        ctx: &Context<'_>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<LifecycleTransition>> {
        let db = ctx.data::<DatabaseConnection>()?;
        let transitions = rules::transitions(db, from, to).await.into_api()?;
        Ok(transitions.into_iter().map(Into::into).collect())
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
        let page = Page::<SilentCursor>::forward(first, after)?;
        let filter = rules::SilentFilter {
            since,
            min_value_tier: min_value_tier.map(Into::into),
        };
        let position = page.cursor.map(rules::SilentPosition::from);
        let rows = rules::silent_customers(db, &filter, position, page.fetch_limit())
            .await
            .into_api()?;
        let (rows, has_previous, has_next) = page.finish(rows);
        let loader = ctx.data::<DataLoader<CustomerLoader>>()?;
        let customers = loader.load_many(rows.iter().map(|r| r.customer_id)).await?;
        let mut connection = PlainConnection::new(has_previous, has_next);
        for row in rows {
            let Some(customer) = customers.get(&row.customer_id).cloned() else {
                continue;
            };
            let cursor = encode_cursor(&SilentCursor::from(row.position()));
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
        let playbooks = rules::playbooks(db).await.into_api()?;
        Ok(playbooks.into_iter().map(LifecyclePlaybook).collect())
    }

    /// The stage thresholds in force (saved through the API, else configured).
    #[graphql(guard = "RequireScope(Scope::CustomersRead)")]
    async fn lifecycle_thresholds(&self, ctx: &Context<'_>) -> Result<LifecycleThresholds> {
        let db = ctx.data::<DatabaseConnection>()?;
        let context = ctx.data::<jobs::JobContext>()?;
        let thresholds = rules::effective_thresholds(db, &context.lifecycle)
            .await
            .context("failed to load the lifecycle thresholds")
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
        let db = ctx.data::<DatabaseConnection>()?;
        let changes = rules::PlaybookChanges { goal, strategy };
        let saved = rules::update_playbook(db, stage.into(), changes)
            .await
            .into_api()?;
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
        let updated = rules::update_thresholds(db, &context.lifecycle, input.into())
            .await
            .into_api()?;
        Ok(updated.into())
    }
}
