//! Value scores through the API: `Customer.value`, `valueModel`, `rfmMatrix`,
//! `valueTiers` and `valueBacktest`.

use async_graphql::{Context, Enum, Object, Result, SimpleObject, dataloader::DataLoader};
use chrono::{DateTime, Utc};
use entity::{
    Money, MoneyTotal, customer_value,
    sql::{money_sum_high, money_sum_low},
    value_model,
};
use jobs::value::bgnbd::{self, BgNbdParams, PurchaseHistory};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    QuerySelect,
    sea_query::{Expr, Func},
};

use crate::api_keys::Scope;
use crate::graphql::{
    errors::{OrInternal, bad_input},
    guards::RequireScope,
    loaders::ValueModelLoader,
    scalars::{Date, Decimal},
};

/// HIGH / MEDIUM / LOW by predicted CLV percentile (by total spent while the models
/// cannot be fitted).
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(remote = "jobs::value::clv::ValueTier")]
pub enum ValueTier {
    High,
    Medium,
    Low,
}

impl ValueTier {
    /// As stored: `HIGH`, `MEDIUM`, `LOW`.
    pub fn as_str(self) -> &'static str {
        jobs::value::clv::ValueTier::from(self).label()
    }

    pub(crate) fn parse(stored: &str) -> Option<Self> {
        [ValueTier::High, ValueTier::Medium, ValueTier::Low]
            .into_iter()
            .find(|t| t.as_str() == stored)
    }
}

/// The named RFM groups (the common 11-segment map; the README has the table).
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(remote = "jobs::value::rfm::RfmGroup")]
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
        let stored = self.0.rfm_group.as_deref()?;
        jobs::value::rfm::RfmGroup::ALL
            .into_iter()
            .find(|group| group.label() == stored)
            .map(Into::into)
    }
    /// Probability that the customer is still active (BG/NBD); null without a fitted model
    /// or without orders.
    async fn p_alive(&self) -> Option<f64> {
        self.0.p_alive
    }
    /// Expected purchase days in the next `days` days (BG/NBD).
    async fn expected_purchases(&self, ctx: &Context<'_>, days: i32) -> Result<Option<f64>> {
        if !(0..=3650).contains(&days) {
            return Err(bad_input(
                "days",
                format!("days must be between 0 and 3650, got {days}"),
            ));
        }
        if self.0.frequency == 0 {
            return Ok(None);
        }
        let Some(params) = ctx
            .data::<DataLoader<ValueModelLoader>>()?
            .load_one(self.0.job_run_id)
            .await?
            .and_then(|m| bgnbd_params(&m))
        else {
            return Ok(None);
        };
        let history = PurchaseHistory::new(
            self.0.repeat_purchases.max(0) as u32,
            self.0.t_x_weeks,
            self.0.t_weeks,
        )
        .or_internal()?;
        let expected = bgnbd::expected_purchases(&params, &history, f64::from(days) / 7.0);
        Ok(expected.is_finite().then_some(expected))
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
        self.0.value_tier.as_deref().and_then(ValueTier::parse)
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

/// The BG/NBD parameters of a model row, when it was fitted.
pub fn bgnbd_params(model: &value_model::Model) -> Option<BgNbdParams> {
    Some(BgNbdParams {
        r: model.bgnbd_r?,
        alpha: model.bgnbd_alpha?,
        a: model.bgnbd_a?,
        b: model.bgnbd_b?,
    })
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
        if self.0.time_unit == "DAYS" {
            TimeUnit::Days
        } else {
            TimeUnit::Weeks
        }
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

#[derive(FromQueryResult)]
struct CellRow {
    r_score: i16,
    f_score: i16,
    customers: i64,
    revenue: MoneyTotal,
}

#[derive(FromQueryResult)]
struct TierRow {
    value_tier: String,
    customers: i64,
    revenue: MoneyTotal,
    clv_total: MoneyTotal,
    clv_count: i64,
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

#[derive(Default)]
pub struct ValueQuery;

#[Object]
impl ValueQuery {
    /// The models fitted by the latest `value-scores` run; null before the first run.
    #[graphql(guard = "RequireScope(Scope::CustomersRead)")]
    async fn value_model(&self, ctx: &Context<'_>) -> Result<Option<ValueModel>> {
        let db = ctx.data::<DatabaseConnection>()?;
        let latest = value_model::Entity::find()
            .order_by_desc(value_model::Column::Id)
            .one(db)
            .await
            .or_internal()?;
        Ok(latest.map(ValueModel))
    }

    /// The 5 × 5 grid of recency × frequency scores: customers and revenue per cell
    /// (every cell present, empty ones with zeros).
    #[graphql(guard = "RequireScope(Scope::CustomersRead)")]
    async fn rfm_matrix(&self, ctx: &Context<'_>) -> Result<Vec<RfmCell>> {
        use customer_value::Column as C;
        let db = ctx.data::<DatabaseConnection>()?;
        let rows: Vec<CellRow> = customer_value::Entity::find()
            .select_only()
            .column(C::RScore)
            .column(C::FScore)
            .expr_as(Func::count(Expr::col(C::CustomerId)), "customers")
            .expr_as(Expr::cust(money_sum_high("total_spent")), "revenue_high")
            .expr_as(Expr::cust(money_sum_low("total_spent")), "revenue_low")
            .filter(C::RScore.is_not_null())
            .filter(customer_value::latest_run())
            .group_by(C::RScore)
            .group_by(C::FScore)
            .into_model()
            .all(db)
            .await
            .or_internal()?;
        let mut cells = Vec::with_capacity(25);
        for r in (1..=5).rev() {
            for f in 1..=5 {
                let row = rows.iter().find(|row| row.r_score == r && row.f_score == f);
                cells.push(RfmCell {
                    r,
                    f,
                    customers: row.map_or(0, |row| row.customers),
                    revenue: row.map(|row| row.revenue).unwrap_or_default().into(),
                });
            }
        }
        Ok(cells)
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
        let result = jobs::value_scores::backtest(db, calibration_end.0, holdout_end.0)
            .await
            .or_internal()?;
        let backtest = result.map_err(|message| bad_input("holdoutEnd", message))?;
        let fit = backtest.fit;
        Ok(ValueBacktest {
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
                iterations: fit.iterations as i64,
                gradient_norm: fit.gradient_norm,
            },
        })
    }

    /// Per value tier: customers, revenue and its share, average predicted CLV.
    #[graphql(guard = "RequireScope(Scope::CustomersRead)")]
    async fn value_tiers(&self, ctx: &Context<'_>) -> Result<Vec<ValueTierSummary>> {
        use customer_value::Column as C;
        let db = ctx.data::<DatabaseConnection>()?;
        let rows: Vec<TierRow> = customer_value::Entity::find()
            .select_only()
            .column(C::ValueTier)
            .expr_as(Func::count(Expr::col(C::CustomerId)), "customers")
            .expr_as(Expr::cust(money_sum_high("total_spent")), "revenue_high")
            .expr_as(Expr::cust(money_sum_low("total_spent")), "revenue_low")
            .expr_as(
                Expr::cust(money_sum_high("predicted_clv")),
                "clv_total_high",
            )
            .expr_as(Expr::cust(money_sum_low("predicted_clv")), "clv_total_low")
            .expr_as(Func::count(Expr::col(C::PredictedClv)), "clv_count")
            .filter(C::ValueTier.is_not_null())
            .filter(customer_value::latest_run())
            .group_by(C::ValueTier)
            .into_model()
            .all(db)
            .await
            .or_internal()?;
        let total: i128 = rows.iter().map(|row| row.revenue.0).sum();
        Ok([ValueTier::High, ValueTier::Medium, ValueTier::Low]
            .into_iter()
            .map(|tier| {
                let row = rows.iter().find(|row| row.value_tier == tier.as_str());
                let revenue = row.map(|row| row.revenue).unwrap_or_default();
                let share = if total == 0 {
                    0.0
                } else {
                    revenue.to_f64() / total as f64
                };
                ValueTierSummary {
                    tier,
                    customers: row.map_or(0, |row| row.customers),
                    revenue: revenue.into(),
                    revenue_share: share,
                    average_predicted_clv: row
                        .and_then(|row| Money::mean(row.clv_total.0, row.clv_count as u64))
                        .map(Decimal::from),
                }
            })
            .collect())
    }
}
