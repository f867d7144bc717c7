//! Schema migrations of clientele. The same migrations run on SQLite, PostgreSQL and a
//! Citus coordinator; each one implements `down`. On Citus, [`distribute`] then places
//! the tables on the cluster.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_create_customers;
mod m20261122_000002_create_orders;
mod m20261122_000003_create_interactions;
mod m20261122_000004_create_feedback;
mod m20261122_000005_create_api_keys;
mod m20261122_000006_create_job_runs;
mod m20261122_000007_create_value_scores;
mod m20261122_000008_create_lifecycle;
mod m20261122_000009_value_scores_per_run;
mod m20261122_000010_create_segments;
mod m20261122_000011_create_job_leases;
mod m20261123_000012_create_campaigns;
mod m20261130_000013_customer_counts;
mod m20261130_000014_distributable_keys;
mod m20261130_000015_feedback_voice;
mod m20261130_000016_survey_responses;
mod m20261201_000019_segment_events_by_customer;
mod m20261201_000020_loyalty;
mod m20261201_000021_referral_codes;
mod m20261202_000022_orders_by_id;

pub mod distribute;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_create_customers::Migration),
            Box::new(m20261122_000002_create_orders::Migration),
            Box::new(m20261122_000003_create_interactions::Migration),
            Box::new(m20261122_000004_create_feedback::Migration),
            Box::new(m20261122_000005_create_api_keys::Migration),
            Box::new(m20261122_000006_create_job_runs::Migration),
            Box::new(m20261122_000007_create_value_scores::Migration),
            Box::new(m20261122_000008_create_lifecycle::Migration),
            Box::new(m20261122_000009_value_scores_per_run::Migration),
            Box::new(m20261122_000010_create_segments::Migration),
            Box::new(m20261122_000011_create_job_leases::Migration),
            Box::new(m20261123_000012_create_campaigns::Migration),
            Box::new(m20261130_000013_customer_counts::Migration),
            Box::new(m20261130_000014_distributable_keys::Migration),
            Box::new(m20261130_000015_feedback_voice::Migration),
            Box::new(m20261130_000016_survey_responses::Migration),
            Box::new(m20261201_000019_segment_events_by_customer::Migration),
            Box::new(m20261201_000020_loyalty::Migration),
            Box::new(m20261201_000021_referral_codes::Migration),
            Box::new(m20261202_000022_orders_by_id::Migration),
        ]
    }
}

/// A 64-bit auto-increment primary key. SQLite allows AUTOINCREMENT only on
/// `INTEGER PRIMARY KEY` (which is 64-bit there), and sea-query writes it that way.
pub(crate) fn id_column<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name)
        .big_integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .to_owned()
}

/// A UTC timestamp: `TIMESTAMPTZ` on PostgreSQL, RFC 3339 text on SQLite.
pub(crate) fn timestamp<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name).timestamp_with_time_zone().to_owned()
}
