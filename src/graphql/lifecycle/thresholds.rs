//! The stage thresholds through the API: what is in force and what an admin changes.

use async_graphql::{InputObject, SimpleObject};
use jobs::lifecycle as rules;

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

impl From<LifecycleThresholdsInput> for rules::ThresholdChanges {
    fn from(input: LifecycleThresholdsInput) -> Self {
        Self {
            new_days: input.new_days,
            loyal_min_orders: input.loyal_min_orders,
            loyal_min_days: input.loyal_min_days,
            silent_days: input.silent_days,
            silent_factor: input.silent_factor,
            silent_p_alive: input.silent_p_alive,
            churned_days: input.churned_days,
            churned_p_alive: input.churned_p_alive,
            win_back_window_days: input.win_back_window_days,
        }
    }
}
