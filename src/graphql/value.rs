//! Value scores through the API: `Customer.value`, `valueModel`, `rfmMatrix`,
//! `valueTiers` and `valueBacktest`.

use async_graphql::{Context, Enum, Object, Result, SimpleObject, dataloader::DataLoader};
use chrono::{DateTime, Utc};
use entity::{Money, customer_value, value_model};
use jobs::value_scores::reports;
use sea_orm::DatabaseConnection;

use crate::api_keys::Scope;
use crate::graphql::{
    errors::IntoApi,
    guards::RequireScope,
    loaders::ValueModelLoader,
    scalars::{Date, Decimal},
};

/// HIGH / MEDIUM / LOW by predicted CLV percentile (by total spent while the models
/// cannot be fitted).
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(remote = "entity::ValueTier")]
pub enum ValueTier {
    High,
    Medium,
    Low,
}

/// The named RFM groups (the common 11-segment map; the README has the table).
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(remote = "entity::RfmGroup")]
pub enum RfmGroup {
    Champions,
    Loyal,
    PotentialLoyalist,
    NewCustomers,
    Promising,
    NeedAttention,
    AboutToSleep,
    AtRisk,
    CantLoseThem,
    Hibernating,
    Lost,
}

/// Value, because value is more than money: each part 0–100.
#[derive(SimpleObject)]
pub struct CompositeValue {
    /// Percentile of predicted CLV (of total spent while no model is fitted).
    pub economic: f64,
    /// Tenure and repeat buying.
    pub loyalty: f64,
    /// Customers referred and what they spent.
    pub advocacy: f64,
    /// Latest NPS (score × 10) or CSAT ((score − 1) × 25); null without feedback.
    pub satisfaction: Option<f64>,
    /// Weighted mean of the parts present.
    pub total: f64,
}

/// A customer's value scores from the latest `value-scores` run.
pub struct CustomerValue(pub customer_value::Model);

fn money(value: Option<Money>) -> Option<Decimal> {
    value.map(Decimal::from)
}

#[Object]
impl CustomerValue {
    /// Days from the last order to `asOf`; null without orders.
    async fn recency_days(&self) -> Option<i64> {
        self.0.recency_days
    }
    /// Distinct purchase days.
    async fn frequency(&self) -> i64 {
        self.0.frequency
    }
    /// Average order value.
    async fn monetary(&self) -> Option<Decimal> {
        money(self.0.monetary)
    }
    async fn total_spent(&self) -> Decimal {
        self.0.total_spent.into()
    }
    /// Recency quintile 1–5 (5 = most recent) among customers with orders.
    async fn r(&self) -> Option<i16> {
        self.0.r_score
    }
    async fn f(&self) -> Option<i16> {
        self.0.f_score
    }
    async fn m(&self) -> Option<i16> {
        self.0.m_score
    }
    /// R, F and M as one code, e.g. "545".
    async fn rfm_code(&self) -> Option<&str> {
        self.0.rfm_code.as_deref()
    }
    /// The named RFM group.
    async fn rfm_group(&self) -> Option<RfmGroup> {
        self.0.rfm_group.map(RfmGroup::from)
    }
    /// Probability that the customer is still active (BG/NBD); null without a fitted model
    /// or without orders.
    async fn p_alive(&self) -> Option<f64> {
        self.0.p_alive
    }
    /// Expected purchase days in the next `days` days (BG/NBD).
    async fn expected_purchases(&self, ctx: &Context<'_>, days: i32) -> Result<Option<f64>> {
        let model = ctx
            .data::<DataLoader<ValueModelLoader>>()?
            .load_one(self.0.job_run_id)
            .await?;
        reports::expected_purchases(&self.0, model.as_ref(), days).into_api()
    }
    /// Expected value of a future order (Gamma-Gamma).
    async fn expected_order_value(&self) -> Option<Decimal> {
        money(self.0.expected_order_value)
    }
    /// Predicted customer lifetime value over the configured horizon, discounted.
    async fn predicted_clv(&self) -> Option<Decimal> {
        money(self.0.predicted_clv)
    }
    async fn value_tier(&self) -> Option<ValueTier> {
        self.0.value_tier.map(ValueTier::from)
    }
    /// 1 − pAlive.
    async fn churn_risk(&self) -> Option<f64> {
        self.0.churn_risk
    }
    async fn composite(&self) -> CompositeValue {
        CompositeValue {
            economic: self.0.economic_score,
            loyalty: self.0.loyalty_score,
            advocacy: self.0.advocacy_score,
            satisfaction: self.0.satisfaction_score,
            total: self.0.composite_score,
        }
    }
    /// The day the scores describe.
    async fn as_of(&self) -> Date {
        Date(self.0.as_of)
    }
    async fn computed_at(&self) -> DateTime<Utc> {
        self.0.computed_at
    }
}

#[derive(SimpleObject)]
pub struct BgNbdModel {
    pub r: f64,
    /// In `timeUnit`.
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
    pub log_likelihood: f64,
    pub iterations: i64,
    pub gradient_norm: f64,
}

#[derive(SimpleObject)]
pub struct GammaGammaModel {
    pub p: f64,
    pub q: f64,
    pub gamma: f64,
    pub log_likelihood: f64,
    pub iterations: i64,
    pub gradient_norm: f64,
}

/// How a time in the model is measured.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "entity::ModelTimeUnit")]
pub enum TimeUnit {
    Days,
    Weeks,
}

/// The models fitted by the latest `value-scores` run.
pub struct ValueModel(pub value_model::Model);

#[Object]
impl ValueModel {
    async fn as_of(&self) -> Date {
        Date(self.0.as_of)
    }
    async fn fitted_at(&self) -> DateTime<Utc> {
        self.0.fitted_at
    }
    /// Customers with at least one order by `asOf`.
    async fn customers_used(&self) -> i64 {
        self.0.customers_used
    }
    async fn repeat_customers(&self) -> i64 {
        self.0.repeat_customers
    }
    /// The unit of t_x, T and α.
    async fn time_unit(&self) -> TimeUnit {
        self.0.time_unit.into()
    }
    /// Both fits reached their gradient tolerance.
    async fn converged(&self) -> bool {
        self.0.converged
    }
    /// Why a model is missing or did not converge.
    async fn note(&self) -> Option<&str> {
        self.0.note.as_deref()
    }
    async fn bgnbd(&self) -> Option<BgNbdModel> {
        let m = &self.0;
        Some(BgNbdModel {
            r: m.bgnbd_r?,
            alpha: m.bgnbd_alpha?,
            a: m.bgnbd_a?,
            b: m.bgnbd_b?,
            log_likelihood: m.bgnbd_log_likelihood?,
            iterations: m.bgnbd_iterations?,
            gradient_norm: m.bgnbd_gradient_norm?,
        })
    }
    async fn gamma_gamma(&self) -> Option<GammaGammaModel> {
        let m = &self.0;
        Some(GammaGammaModel {
            p: m.gg_p?,
            q: m.gg_q?,
            gamma: m.gg_gamma?,
            log_likelihood: m.gg_log_likelihood?,
            iterations: m.gg_iterations?,
            gradient_norm: m.gg_gradient_norm?,
        })
    }
}

/// One cell of the R × F grid.
#[derive(SimpleObject)]
pub struct RfmCell {
    pub r: i16,
    pub f: i16,
    pub customers: i64,
    pub revenue: Decimal,
}

impl From<reports::RfmCell> for RfmCell {
    fn from(cell: reports::RfmCell) -> Self {
        Self {
            r: cell.r,
            f: cell.f,
            customers: cell.customers,
            revenue: cell.revenue.into(),
        }
    }
}

/// Customers and revenue of one value tier.
#[derive(SimpleObject)]
pub struct ValueTierSummary {
    pub tier: ValueTier,
    pub customers: i64,
    pub revenue: Decimal,
    /// Share of the revenue of all scored customers, 0–1.
    pub revenue_share: f64,
    pub average_predicted_clv: Option<Decimal>,
}

impl From<reports::TierSummary> for ValueTierSummary {
    fn from(t: reports::TierSummary) -> Self {
        Self {
            tier: t.tier.into(),
            customers: t.customers,
            revenue: t.revenue.into(),
            revenue_share: t.revenue_share,
            average_predicted_clv: t.average_predicted_clv.map(Decimal::from),
        }
    }
}

/// The model's honesty: fitted on a calibration period, its forecast of each customer's
/// repeat purchase days in the holdout period that followed, against what happened.
#[derive(SimpleObject)]
pub struct ValueBacktest {
    /// Customers with a purchase by the end of calibration.
    pub customers: u64,
    /// Expected repeat purchase days in the holdout, summed over customers.
    pub predicted_total: f64,
    /// Actual purchase days in the holdout, summed.
    pub actual_total: u64,
    /// Mean over customers of |predicted − actual| purchase days.
    pub mean_absolute_error: f64,
    /// The BG/NBD fit on the calibration period (time unit: weeks).
    pub bgnbd: BgNbdModel,
}

impl From<jobs::value_scores::Backtest> for ValueBacktest {
    fn from(backtest: jobs::value_scores::Backtest) -> Self {
        let fit = backtest.fit;
        Self {
            customers: backtest.customers,
            predicted_total: backtest.predicted_total,
            actual_total: backtest.actual_total,
            mean_absolute_error: backtest.mean_absolute_error,
            bgnbd: BgNbdModel {
                r: fit.params.r,
                alpha: fit.params.alpha,
                a: fit.params.a,
                b: fit.params.b,
                log_likelihood: fit.log_likelihood,
                iterations: i64::try_from(fit.iterations).unwrap_or(i64::MAX),
                gradient_norm: fit.gradient_norm,
            },
        }
    }
}

#[derive(Default)]
pub struct ValueQuery;

#[Object]
impl ValueQuery {
    /// The models fitted by the latest `value-scores` run; null before the first run.
    #[graphql(guard = "RequireScope(Scope::CustomersRead)")]
    async fn value_model(&self, ctx: &Context<'_>) -> Result<Option<ValueModel>> {
        let db = ctx.data::<DatabaseConnection>()?;
        let latest = reports::latest_model(db).await.into_api()?;
        Ok(latest.map(ValueModel))
    }

    /// The 5 × 5 grid of recency × frequency scores: customers and revenue per cell
    /// (every cell present, empty ones with zeros).
    #[graphql(guard = "RequireScope(Scope::CustomersRead)")]
    async fn rfm_matrix(&self, ctx: &Context<'_>) -> Result<Vec<RfmCell>> {
        let db = ctx.data::<DatabaseConnection>()?;
        let cells = reports::rfm_matrix(db).await.into_api()?;
        Ok(cells.into_iter().map(Into::into).collect())
    }

    /// Fits BG/NBD on orders up to `calibrationEnd` and compares its forecast for
    /// (`calibrationEnd`, `holdoutEnd`] with the orders of that period.
    #[graphql(guard = "RequireScope(Scope::CustomersRead)")]
    async fn value_backtest(
        &self,
        ctx: &Context<'_>,
        calibration_end: Date,
        holdout_end: Date,
    ) -> Result<ValueBacktest> {
        let db = ctx.data::<DatabaseConnection>()?;
        let backtest = jobs::value_scores::backtest(db, calibration_end.0, holdout_end.0)
            .await
            .into_api()?;
        Ok(backtest.into())
    }

    /// Per value tier: customers, revenue and its share, average predicted CLV.
    #[graphql(guard = "RequireScope(Scope::CustomersRead)")]
    async fn value_tiers(&self, ctx: &Context<'_>) -> Result<Vec<ValueTierSummary>> {
        let db = ctx.data::<DatabaseConnection>()?;
        let tiers = reports::value_tiers(db).await.into_api()?;
        Ok(tiers.into_iter().map(Into::into).collect())
    }
}
