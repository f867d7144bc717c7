use sea_orm::entity::prelude::*;

use sea_orm::sea_query::{BinOper, Expr, ExprTrait, Func, Query};

use crate::{Money, RfmGroup, ValueTier};

/// A customer's value scores from one `value-scores` run. Runs only append; the latest
/// run's rows are the current scores ([`latest_run`]), older runs (as many as the
/// retention keeps) are the history. Money is fixed-point; probabilities and 0–100
/// scores are floats.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "customer_values")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub job_run_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub customer_id: i64,
    pub as_of: Date,
    /// Days from the last order's day to `as_of`; null without orders.
    pub recency_days: Option<i64>,
    /// Distinct purchase days.
    pub frequency: i64,
    /// Average order value.
    pub monetary: Option<Money>,
    pub total_spent: Money,
    pub r_score: Option<i16>,
    pub f_score: Option<i16>,
    pub m_score: Option<i16>,
    pub rfm_code: Option<String>,
    pub rfm_group: Option<RfmGroup>,
    /// BG/NBD inputs: repeat purchase days, and t_x and T in weeks.
    pub repeat_purchases: i64,
    pub t_x_weeks: f64,
    pub t_weeks: f64,
    pub p_alive: Option<f64>,
    pub expected_order_value: Option<Money>,
    pub predicted_clv: Option<Money>,
    pub value_tier: Option<ValueTier>,
    pub churn_risk: Option<f64>,
    pub economic_score: f64,
    pub loyalty_score: f64,
    pub advocacy_score: f64,
    pub satisfaction_score: Option<f64>,
    pub composite_score: f64,
    pub computed_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::customer::Entity",
        from = "Column::CustomerId",
        to = "super::customer::Column::Id",
        on_delete = "Cascade"
    )]
    Customer,
}

impl Related<super::customer::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Customer.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

/// Keeps only the current scores: those of the latest run that stored a model (scores
/// and model are committed together). An uncorrelated subquery, evaluated once per
/// statement on both databases.
pub fn latest_run() -> Expr {
    Expr::col((Entity, Column::JobRunId)).binary(
        BinOper::Equal,
        Expr::SubQuery(
            None,
            Box::new(
                Query::select()
                    .expr(Func::max(Expr::col(super::value_model::Column::JobRunId)))
                    .from(super::value_model::Entity)
                    .to_owned()
                    .into(),
            ),
        ),
    )
}
