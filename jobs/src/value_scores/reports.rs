//! What the stored value scores say: the latest models, the R × F grid, the value tiers,
//! and a customer's expected purchases over a horizon. The API and the marketer digest
//! read the same figures from here. Money sums go through [`entity::sql::money_sum`]
//! halves and [`MoneyTotal`], so a total over the whole base never overflows.

use anyhow::Context;
use entity::sql::{money_sum_high, money_sum_low};
use entity::{Money, MoneyTotal, customer_value, value_model};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    QuerySelect,
    sea_query::{Expr, Func},
};

use crate::value::bgnbd::{self, BgNbdParams, PurchaseHistory};
use crate::value::clv::{DAYS_PER_WEEK, ValueTier};
use crate::{DomainError, DomainResult};

/// The models fitted by the latest `value-scores` run; None before the first run.
pub async fn latest_model(db: &impl ConnectionTrait) -> DomainResult<Option<value_model::Model>> {
    Ok(value_model::Entity::find()
        .order_by_desc(value_model::Column::Id)
        .one(db)
        .await
        .context("failed to load the latest value model")?)
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

/// The longest horizon `expected_purchases` forecasts, in days.
pub const MAX_HORIZON_DAYS: i32 = 3650;

/// A customer's expected purchase days in the next `days` days (BG/NBD), from their
/// scores and the model of the run that made them (`model`: None when it is gone). None
/// without orders, without a fitted model, or when the forecast is not a number. The
/// horizon must be 0–[`MAX_HORIZON_DAYS`] (`days`).
pub fn expected_purchases(
    scores: &customer_value::Model,
    model: Option<&value_model::Model>,
    days: i32,
) -> DomainResult<Option<f64>> {
    if !(0..=MAX_HORIZON_DAYS).contains(&days) {
        return Err(DomainError::invalid(
            "days",
            format!("days must be between 0 and {MAX_HORIZON_DAYS}, got {days}"),
        ));
    }
    if scores.frequency == 0 {
        return Ok(None);
    }
    let Some(params) = model.and_then(bgnbd_params) else {
        return Ok(None);
    };
    let history = PurchaseHistory::new(
        u32::try_from(scores.repeat_purchases.max(0)).unwrap_or(u32::MAX),
        scores.t_x_weeks,
        scores.t_weeks,
    )
    .map_err(anyhow::Error::new)
    .with_context(|| {
        format!(
            "customer {} has scores that are no purchase history",
            scores.customer_id
        )
    })?;
    let expected = bgnbd::expected_purchases(&params, &history, f64::from(days) / DAYS_PER_WEEK);
    Ok(expected.is_finite().then_some(expected))
}

/// One cell of the recency × frequency grid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RfmCell {
    pub r: i16,
    pub f: i16,
    pub customers: i64,
    /// Total spent by these customers.
    pub revenue: MoneyTotal,
}

/// The 5 × 5 grid of recency × frequency scores of the current scores: every cell, R
/// from 5 down, F from 1 up, empty ones with zeros.
pub async fn rfm_matrix(db: &impl ConnectionTrait) -> DomainResult<Vec<RfmCell>> {
    use customer_value::Column as C;
    #[derive(FromQueryResult)]
    struct Row {
        r_score: i16,
        f_score: i16,
        customers: i64,
        revenue: MoneyTotal,
    }
    let rows: Vec<Row> = customer_value::Entity::find()
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
        .context("failed to count customers by R and F")?;
    let mut cells = Vec::with_capacity(25);
    for r in (1..=5).rev() {
        for f in 1..=5 {
            let row = rows.iter().find(|row| row.r_score == r && row.f_score == f);
            cells.push(RfmCell {
                r,
                f,
                customers: row.map_or(0, |row| row.customers),
                revenue: row.map(|row| row.revenue).unwrap_or_default(),
            });
        }
    }
    Ok(cells)
}

/// Customers and revenue of one value tier.
#[derive(Clone, Debug, PartialEq)]
pub struct TierSummary {
    pub tier: ValueTier,
    pub customers: i64,
    /// Total spent by these customers.
    pub revenue: MoneyTotal,
    /// Share of the revenue of all scored customers, 0–1.
    pub revenue_share: f64,
    pub average_predicted_clv: Option<Money>,
}

/// Per value tier (best first, every tier present): customers, revenue and its share,
/// average predicted CLV, from the current scores.
pub async fn value_tiers(db: &impl ConnectionTrait) -> DomainResult<Vec<TierSummary>> {
    use customer_value::Column as C;
    #[derive(FromQueryResult)]
    struct Row {
        value_tier: ValueTier,
        customers: i64,
        revenue: MoneyTotal,
        clv_total: MoneyTotal,
        clv_count: i64,
    }
    let rows: Vec<Row> = customer_value::Entity::find()
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
        .context("failed to summarize the value tiers")?;
    let total: i128 = rows.iter().map(|row| row.revenue.0).sum();
    Ok(ValueTier::ALL
        .into_iter()
        .map(|tier| {
            let row = rows.iter().find(|row| row.value_tier == tier);
            let revenue = row.map(|row| row.revenue).unwrap_or_default();
            TierSummary {
                tier,
                customers: row.map_or(0, |row| row.customers),
                revenue,
                revenue_share: if total == 0 {
                    0.0
                } else {
                    revenue.to_f64() / total as f64
                },
                average_predicted_clv: row.and_then(|row| {
                    Money::mean(row.clv_total.0, u64::try_from(row.clv_count).unwrap_or(0))
                }),
            }
        })
        .collect())
}

/// The latest scores of each of `ids` that has some, by customer.
pub async fn latest_scores_of(
    db: &impl ConnectionTrait,
    ids: &[i64],
) -> DomainResult<Vec<customer_value::Model>> {
    Ok(customer_value::Entity::find()
        .filter(customer_value::Column::CustomerId.is_in(ids.iter().copied()))
        .filter(customer_value::latest_run())
        .all(db)
        .await
        .context("failed to load the latest value scores of customers")?)
}

/// The models fitted by the job runs `run_ids`.
pub async fn models_of_runs(
    db: &impl ConnectionTrait,
    run_ids: &[i64],
) -> DomainResult<Vec<value_model::Model>> {
    Ok(value_model::Entity::find()
        .filter(value_model::Column::JobRunId.is_in(run_ids.iter().copied()))
        .all(db)
        .await
        .context("failed to load value models")?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn scores(frequency: i64) -> customer_value::Model {
        let day = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        customer_value::Model {
            job_run_id: 1,
            customer_id: 7,
            as_of: day,
            recency_days: Some(10),
            frequency,
            monetary: None,
            total_spent: Money(0),
            r_score: None,
            f_score: None,
            m_score: None,
            rfm_code: None,
            rfm_group: None,
            repeat_purchases: frequency.saturating_sub(1),
            t_x_weeks: 10.0,
            t_weeks: 20.0,
            p_alive: None,
            expected_order_value: None,
            predicted_clv: None,
            value_tier: None,
            churn_risk: None,
            economic_score: 0.0,
            loyalty_score: 0.0,
            advocacy_score: 0.0,
            satisfaction_score: None,
            composite_score: 0.0,
            computed_at: crate::day_start(day),
        }
    }

    fn fitted() -> value_model::Model {
        value_model::Model {
            id: 1,
            job_run_id: 1,
            as_of: NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
            fitted_at: crate::day_start(NaiveDate::from_ymd_opt(2026, 11, 30).unwrap()),
            customers_used: 100,
            repeat_customers: 40,
            time_unit: entity::ModelTimeUnit::Weeks,
            converged: true,
            bgnbd_r: Some(0.243),
            bgnbd_alpha: Some(4.414),
            bgnbd_a: Some(0.793),
            bgnbd_b: Some(2.426),
            bgnbd_log_likelihood: None,
            bgnbd_iterations: None,
            bgnbd_gradient_norm: None,
            gg_p: None,
            gg_q: None,
            gg_gamma: None,
            gg_log_likelihood: None,
            gg_iterations: None,
            gg_gradient_norm: None,
            note: None,
        }
    }

    #[test]
    fn expected_purchases_need_a_horizon_in_range_orders_and_a_fitted_model() {
        let model = fitted();
        let refused = expected_purchases(&scores(3), Some(&model), MAX_HORIZON_DAYS + 1);
        assert!(
            matches!(&refused, Err(DomainError::Invalid(p)) if p.as_slice()[0].field == "days"),
            "{refused:?}"
        );
        assert_eq!(
            expected_purchases(&scores(0), Some(&model), 90).unwrap(),
            None
        );
        assert_eq!(expected_purchases(&scores(3), None, 90).unwrap(), None);
        let unfitted = value_model::Model {
            bgnbd_r: None,
            ..fitted()
        };
        assert_eq!(
            expected_purchases(&scores(3), Some(&unfitted), 90).unwrap(),
            None
        );
        let year = expected_purchases(&scores(3), Some(&model), 365)
            .unwrap()
            .unwrap();
        let quarter = expected_purchases(&scores(3), Some(&model), 90)
            .unwrap()
            .unwrap();
        assert!(year > quarter && quarter > 0.0, "{quarter} then {year}");
        assert_eq!(
            expected_purchases(&scores(3), Some(&model), 0).unwrap(),
            Some(0.0)
        );
    }
}
