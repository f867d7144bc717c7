//! sea-orm entities of clientele: one module per table, plus the enums and value
//! types shared by the API and the jobs.

/// API keys: hashed secrets with scopes.
pub mod api_key;
/// Settings changed at run time through the API.
pub mod app_setting;
/// Care campaigns (birthday, win-back, welcome, anniversary, holiday, segment entry, survey).
pub mod campaign;
/// Random codes people type (offer and referral codes).
pub mod codes;
/// The people the business sells to, with their per-customer order aggregates.
pub mod customer;
/// Interest tags of a customer, one row per tag (portable tag matching on both databases).
pub mod customer_interest;
/// Each customer's current lifecycle stage.
pub mod customer_lifecycle;
/// Value scores per run and customer (the latest run for queries, older ones for trends).
pub mod customer_value;
/// The outbox: every care email and digest, queued, sent or not.
pub mod email;
/// NPS and CSAT answers.
pub mod feedback;
/// The topics of an answer: its tags, or terms extracted from its comment.
pub mod feedback_topic;
/// Contacts between the business and a customer (calls, visits, messages).
pub mod interaction;
/// Every run of every job.
pub mod job_run;
/// Changes of lifecycle stage.
pub mod lifecycle_event;
/// Goal and strategy per lifecycle stage.
pub mod lifecycle_playbook;
/// Loyalty programme members: kept points balance and tier.
pub mod loyalty_account;
/// The loyalty points ledger (`loyalty_ledger`).
pub mod loyalty_entry;
/// Changes of loyalty tier and grace periods.
pub mod loyalty_tier_event;
/// Money as an exact fixed-point integer.
pub mod money;
/// Purchases.
pub mod order;
/// Enums stored as text and shared with the API.
pub mod sea_enums;
/// Customer segments (rules or hand-picked lists).
pub mod segment;
/// Entries into and exits from segments.
pub mod segment_event;
/// Segment membership, materialized.
pub mod segment_member;
/// SQL fragments that differ between SQLite and PostgreSQL (UTC days of timestamps,
/// placeholders), shared by the migrations, the API and the jobs.
pub mod sql;
/// Which answer each survey email's score links recorded.
pub mod survey_response;
/// Lookup tables keeping emails and externalIds unique across customers (distributable).
pub mod unique_key;
/// The value models fitted by each `value-scores` run.
pub mod value_model;

pub use money::{Money, MoneyTotal};
pub use sea_enums::{
    ChangeKind, Direction, EmailKind, EmailStatus, FeedbackKind, Gender, InteractionChannel,
    JobName, LedgerKind, LifecycleStage, ModelTimeUnit, RfmGroup, SegmentKind, SuppressionReason,
    TierChange, TopicSource, ValueTier,
};
pub use unique_key::{customer_email, customer_external_id, order_external_id, referral_code};
