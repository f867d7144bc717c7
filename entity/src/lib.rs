//! sea-orm entities of clientele: one module per table, plus the enums and value
//! types shared by the API and the jobs.

/// API keys: hashed secrets with scopes.
pub mod api_key;
/// The people the business sells to, with their per-customer order aggregates.
pub mod customer;
/// Interest tags of a customer, one row per tag (portable tag matching on both databases).
pub mod customer_interest;
/// NPS and CSAT answers.
pub mod feedback;
/// Contacts between the business and a customer (calls, visits, messages).
pub mod interaction;
/// Money as an exact fixed-point integer.
pub mod money;
/// Purchases.
pub mod order;
/// Enums stored as text and shared with the API.
pub mod sea_enums;

pub use money::Money;
pub use sea_enums::{Direction, FeedbackKind, Gender, InteractionChannel};
