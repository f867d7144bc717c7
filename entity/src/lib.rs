//! sea-orm entities of clientele: one module per table, plus the enums and value
//! types shared by the API and the jobs.

/// API keys: hashed secrets with scopes.
pub mod api_key;
/// The people the business sells to, with their per-customer order aggregates.
pub mod customer;
/// Interest tags of a customer, one row per tag (portable tag matching on both databases).
pub mod customer_interest;
/// Each customer's latest value scores.
pub mod customer_value;
/// Per-run copies of the value scores, for trends.
pub mod customer_value_history;
/// NPS and CSAT answers.
pub mod feedback;
/// Contacts between the business and a customer (calls, visits, messages).
pub mod interaction;
/// Every run of every job.
pub mod job_run;
/// Money as an exact fixed-point integer.
pub mod money;
/// Purchases.
pub mod order;
/// Enums stored as text and shared with the API.
pub mod sea_enums;
/// The value models fitted by each `value-scores` run.
pub mod value_model;

pub use money::Money;
pub use sea_enums::{Direction, FeedbackKind, Gender, InteractionChannel};
