use sea_orm::entity::prelude::*;

use crate::Money;

/// A compact copy of each run's scores per customer, for trends.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "customer_value_history")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub job_run_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub customer_id: i64,
    pub as_of: Date,
    pub rfm_code: Option<String>,
    pub p_alive: Option<f64>,
    pub predicted_clv: Option<Money>,
    pub value_tier: Option<String>,
    pub composite_score: f64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
