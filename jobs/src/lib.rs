//! clientele's domain core (the crate keeps its first name, `jobs`): one module per
//! concept — customers, orders, segments, lifecycle, value, campaigns, mail, scheduling —
//! each owning its tables and its rules behind a small API of plain async functions over
//! a `&impl ConnectionTrait` and typed inputs, answering [`DomainResult`]. The GraphQL
//! layer maps input, calls one of these per resolver, and maps the answer.
//!
//! Scheduled work is the same: each job is a plain async function over a [`JobContext`],
//! so the scheduler, `clientele run-job` and the GraphQL `runJob` mutation all run the
//! same code, and every run is recorded ([`runs`]).

/// Settings changed at run time through the API (JSON in `app_settings`).
pub mod app_settings;
/// Bulk inserts: multi-row VALUES on SQLite, column arrays and UNNEST on PostgreSQL.
pub mod bulk;
/// Care campaigns and their producers, the marketer digest.
pub mod campaigns;
/// Customers: profiles, erasure, consent, lists, and the lookups other concepts use.
pub mod customers;
/// Parsed input values (phone, country, currency, labels, …): checked once at the boundary.
pub mod domain;
/// The domain's error vocabulary: input problems, not found, internal.
pub mod errors;
/// Feedback (NPS, CSAT): recording answers with channel and topics (tags, or terms
/// extracted from the comment), erasing comments.
pub mod feedback;
/// Interactions with customers: recording them, erasing their texts.
pub mod interactions;
/// Database leases: each scheduled tick runs once across processes.
pub mod leases;
/// The `lifecycle` job: stages, transitions, silent-customer detection.
pub mod lifecycle;
/// The membership programme: points ledger, balances, tiers with grace, the `loyalty` job.
pub mod loyalty;
/// Email: templates, transports, the outbox dispatcher, unsubscribe links.
pub mod mail;
/// Orders: recording them and the aggregates kept on customers.
pub mod orders;
/// The same page of rows for many parents in one statement.
pub(crate) mod pages;
/// Referrals: codes, who referred whom (no cycles), and what each referrer's referrals
/// brought.
pub mod referrals;
/// Running jobs by name and recording each run.
pub mod runs;
/// Satisfaction: NPS and CSAT per week or month, feedback topics and their lift, the
/// detractor follow-up queue.
pub mod satisfaction;
/// tokio-cron-scheduler wiring: schedules, time zone, start and stop.
pub mod scheduler;
/// Segments: definitions, the rule language, membership and its history, personas, the
/// suggested catalogue, the `segments` job.
pub mod segments;
/// Survey emails: the answers their signed score links record, and comments on them.
pub mod surveys;
/// One timeline per customer: orders, interactions, feedback, emails, stage changes and
/// segment changes merged newest first, keyset-paged across all of them.
pub mod timeline;
/// Customer value models (RFM, BG/NBD, Gamma-Gamma, CLV) and scoring: pure, synchronous math.
pub mod value;
/// The `value-scores` job: read per-customer purchase summaries, fit, score, write back.
pub mod value_scores;

use chrono::NaiveDate;
use sea_orm::DatabaseConnection;

pub use entity::{JobName, sql};
pub use errors::{DomainError, DomainResult, Problem, Problems};
pub use scheduler::{Scheduler, SchedulerSettings};
pub use value_scores::ValueSettings;

/// What every job may use.
#[derive(Clone)]
pub struct JobContext {
    pub db: DatabaseConnection,
    pub value: ValueSettings,
    /// The configured lifecycle thresholds (thresholds saved through the API win).
    pub lifecycle: lifecycle::Thresholds,
    /// Templates, transport and settings of email.
    pub mail: std::sync::Arc<mail::Mailer>,
}

/// Midnight UTC at the start of `day`: the cutoff of a run for the day before, and the
/// time of a day-level event.
pub fn day_start(day: NaiveDate) -> chrono::DateTime<chrono::Utc> {
    day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

/// How a job is asked to run.
#[derive(Clone, Debug, Default)]
pub struct JobParams {
    /// The last day observed; today (UTC) when absent.
    pub as_of: Option<NaiveDate>,
    /// The moment a time-of-day job (campaigns, dispatch, digest) acts at; now when absent.
    pub at: Option<chrono::DateTime<chrono::Utc>>,
}

/// What a finished run reports (counts, timings, model diagnostics), as a JSON object.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct JobStats(pub serde_json::Map<String, serde_json::Value>);

impl JobStats {
    pub fn set(&mut self, key: &str, value: impl Into<serde_json::Value>) {
        self.0.insert(key.to_owned(), value.into());
    }
}
