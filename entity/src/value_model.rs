use sea_orm::entity::prelude::*;

/// The value models fitted by one `value-scores` run. Model parameters are statistics,
/// not money, so they are floats. Null parameters mean the model could not be fitted
/// (too little data); `note` says why.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "value_models")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub job_run_id: i64,
    pub as_of: Date,
    pub fitted_at: DateTimeUtc,
    /// Customers with at least one order up to `as_of`.
    pub customers_used: i64,
    /// Customers with at least one repeat purchase day.
    pub repeat_customers: i64,
    /// The unit of t_x, T and α (the job fits in weeks).
    pub time_unit: super::sea_enums::ModelTimeUnit,
    pub converged: bool,
    pub bgnbd_r: Option<f64>,
    pub bgnbd_alpha: Option<f64>,
    pub bgnbd_a: Option<f64>,
    pub bgnbd_b: Option<f64>,
    pub bgnbd_log_likelihood: Option<f64>,
    pub bgnbd_iterations: Option<i64>,
    pub bgnbd_gradient_norm: Option<f64>,
    pub gg_p: Option<f64>,
    pub gg_q: Option<f64>,
    pub gg_gamma: Option<f64>,
    pub gg_log_likelihood: Option<f64>,
    pub gg_iterations: Option<i64>,
    pub gg_gradient_norm: Option<f64>,
    /// Why a model is missing or did not converge.
    pub note: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
