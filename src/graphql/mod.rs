//! The GraphQL API: one module per concept, merged into one schema.

/// Care campaigns, the outbox, digest recipients.
pub mod campaigns;
/// Customer and its queries.
pub mod customer;
/// Which customer columns a list selection needs.
pub mod customer_columns;
/// Customer writes: create, update, bulk upsert, erase.
pub mod customer_mutation;
/// GraphQL enums mirroring the stored ones.
pub mod enums;
/// Error codes and input problem lists.
pub mod errors;
/// Feedback (NPS, CSAT).
pub mod feedback;
/// Scope guards.
pub mod guards;
/// Interactions.
pub mod interaction;
/// `runJob` and the job-run history.
pub mod jobs;
/// Lifecycle stages, transitions, the silent-customer list, playbooks, thresholds.
pub mod lifecycle;
/// What one document may ask for: nesting, fragment expansion, cost.
pub mod limits;
/// Batched loaders for relations.
pub mod loaders;
/// The membership programme: points, tiers, the programme's settings and summary.
pub mod loyalty;
/// Orders.
pub mod order;
/// Relay connections and keyset cursors.
pub mod pagination;
/// Referrals: a customer's referral figures, the advocates ranking.
pub mod referrals;
/// Satisfaction: NPS and CSAT per week or month, feedback topics, detractor follow-ups.
pub mod satisfaction;
/// `Decimal` and `Date`.
pub mod scalars;
/// Segments: rules, membership, explanations, personas.
pub mod segments;
/// Whole-base reports computed once and shared for `REPORT_CACHE_SECONDS`.
pub mod shared_reports;
/// `Customer.timeline`: everything that happened with a customer, newest first.
pub mod timeline;
/// Value scores, models, RFM matrix, tiers.
pub mod value;

pub use shared_reports::SharedReports;

use async_graphql::{EmptySubscription, MergedObject, Schema, dataloader::DataLoader};
use sea_orm::DatabaseConnection;

/// Query depth and complexity limits: deep enough for a CRM screen (customer → orders →
/// edges → node …), low enough that one request cannot ask for millions of rows.
pub const MAX_DEPTH: usize = 12;
pub const MAX_COMPLEXITY: usize = 20_000;

#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(
    customer::CustomerQuery,
    value::ValueQuery,
    lifecycle::LifecycleQuery,
    satisfaction::SatisfactionQuery,
    referrals::ReferralQuery,
    loyalty::LoyaltyQuery,
    segments::SegmentQuery,
    campaigns::CampaignQuery,
    jobs::JobQuery,
);

#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(
    customer_mutation::CustomerMutation,
    order::OrderMutation,
    interaction::InteractionMutation,
    feedback::FeedbackMutation,
    lifecycle::LifecycleMutation,
    loyalty::LoyaltyMutation,
    segments::SegmentMutation,
    campaigns::CampaignMutation,
    jobs::JobMutation,
);

pub type AppSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

/// The schema without data, for printing the SDL.
pub fn schema_builder() -> async_graphql::SchemaBuilder<QueryRoot, MutationRoot, EmptySubscription>
{
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        EmptySubscription,
    )
    .limit_depth(MAX_DEPTH)
    .limit_complexity(MAX_COMPLEXITY)
}

/// The schema the server runs, with its database and loaders.
pub fn build_schema(
    db: DatabaseConnection,
    job_context: ::jobs::JobContext,
    schedules: ::jobs::SchedulerSettings,
    privacy: crate::configuration::PrivacySettings,
    reports: SharedReports,
) -> AppSchema {
    schema_builder()
        .data(privacy)
        .data(reports)
        .data(job_context)
        .data(schedules)
        .data(DataLoader::new(
            loaders::CustomerValueLoader(db.clone()),
            tokio::spawn,
        ))
        .data(DataLoader::new(
            loaders::ValueModelLoader(db.clone()),
            tokio::spawn,
        ))
        .data(DataLoader::new(
            loaders::CustomerLoader(db.clone()),
            tokio::spawn,
        ))
        .data(DataLoader::new(
            loaders::InterestsLoader(db.clone()),
            tokio::spawn,
        ))
        .data(DataLoader::new(
            loaders::ChildPageLoader::<entity::order::Entity>::new(db.clone()),
            tokio::spawn,
        ))
        .data(DataLoader::new(
            loaders::ChildPageLoader::<entity::interaction::Entity>::new(db.clone()),
            tokio::spawn,
        ))
        .data(DataLoader::new(
            loaders::ChildPageLoader::<entity::feedback::Entity>::new(db.clone()),
            tokio::spawn,
        ))
        .data(DataLoader::new(
            loaders::FeedbackTopicsLoader(db.clone()),
            tokio::spawn,
        ))
        .data(DataLoader::new(
            loaders::ChildPageLoader::<entity::lifecycle_event::Entity>::new(db.clone()),
            tokio::spawn,
        ))
        .data(DataLoader::new(
            loaders::CustomerLifecycleLoader(db.clone()),
            tokio::spawn,
        ))
        .data(DataLoader::new(
            loaders::SegmentLoader(db.clone()),
            tokio::spawn,
        ))
        .data(DataLoader::new(
            loaders::SegmentsOfCustomerLoader(db.clone()),
            tokio::spawn,
        ))
        .data(DataLoader::new(
            loaders::CampaignsLoader(db.clone()),
            tokio::spawn,
        ))
        .data(DataLoader::new(
            loaders::CampaignStatsLoader(db.clone()),
            tokio::spawn,
        ))
        .data(DataLoader::new(
            loaders::EmailPageLoader(db.clone()),
            tokio::spawn,
        ))
        .data(DataLoader::new(
            loaders::SegmentMembersLoader(db.clone()),
            tokio::spawn,
        ))
        .data(DataLoader::new(
            loaders::SegmentMemberCountLoader(db.clone()),
            tokio::spawn,
        ))
        .data(DataLoader::new(
            loaders::SegmentChangesLoader(db.clone()),
            tokio::spawn,
        ))
        .data(DataLoader::new(
            loaders::LatestRunLoader(db.clone()),
            tokio::spawn,
        ))
        .data(DataLoader::new(
            loaders::TimelineLoader(db.clone()),
            tokio::spawn,
        ))
        .data(DataLoader::new(
            loaders::ReferralsLoader(db.clone()),
            tokio::spawn,
        ))
        .data(DataLoader::new(
            loyalty::ProgrammeLoader(db.clone()),
            tokio::spawn,
        ))
        .data(DataLoader::new(
            loyalty::AccountLoader(db.clone()),
            tokio::spawn,
        ))
        .data(DataLoader::new(
            loyalty::StandingLoader(db.clone()),
            tokio::spawn,
        ))
        .data(DataLoader::new(
            loyalty::ExpiringPointsLoader(db.clone()),
            tokio::spawn,
        ))
        .data(DataLoader::new(
            loaders::ChildPageLoader::<entity::loyalty_entry::Entity>::new(db.clone()),
            tokio::spawn,
        ))
        .data(DataLoader::new(
            loaders::ChildPageLoader::<entity::loyalty_tier_event::Entity>::new(db.clone()),
            tokio::spawn,
        ))
        .data(db)
        .finish()
}

/// The SDL that `clientele export-schema` prints and `schema.graphql` holds.
pub fn sdl() -> String {
    schema_builder().finish().sdl()
}
