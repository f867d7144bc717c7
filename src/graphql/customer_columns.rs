//! Which `customers` columns a selection of `Customer` fields needs, so that a list page
//! reads only those (see `entity::customer::Model::from_sparse_row`). A field this table
//! does not know makes the page read whole rows: a new field is never shown empty, only
//! read less cheaply until it is added here. The test
//! `pagination::a_list_page_shows_every_customer_field_as_the_single_customer_does`
//! compares every field of a list page with the whole-row read.

use async_graphql::Context;
use entity::customer::Column;

/// The columns of the `Customer` fields selected under `nodes` and `edges { node }` of the
/// connection being resolved; `None` when a selected field needs the whole row.
pub fn shown(ctx: &Context<'_>) -> Option<Vec<Column>> {
    let connection = ctx.look_ahead();
    let nodes = connection
        .field("nodes")
        .selection_fields()
        .into_iter()
        .chain(connection.field("edges").field("node").selection_fields());
    let mut columns = Vec::new();
    for node in nodes {
        for field in node.selection_set() {
            columns.extend_from_slice(of_field(field.name())?);
        }
    }
    Some(columns)
}

/// The columns one `Customer` field reads; `None` for a field not listed here.
fn of_field(name: &str) -> Option<&'static [Column]> {
    Some(match name {
        "id" | "__typename" => &[],
        // Relations: loaded by id through their own loaders.
        "interests" | "value" | "lifecycle" | "segments" | "emails" | "orders" | "interactions"
        | "feedback" | "referrals" => &[],
        "externalId" => &[Column::ExternalId],
        "name" => &[Column::Name],
        "email" => &[Column::Email],
        "phone" => &[Column::Phone],
        "birthDate" => &[Column::BirthDate],
        "gender" => &[Column::Gender],
        "country" => &[Column::Country],
        "region" => &[Column::Region],
        "city" => &[Column::City],
        "incomeBand" => &[Column::IncomeBand],
        "occupation" => &[Column::Occupation],
        "lifestyle" => &[Column::Lifestyle],
        "needs" => &[Column::Needs],
        "acquisitionChannel" => &[Column::AcquisitionChannel],
        "referredBy" => &[Column::ReferredBy],
        "referralCode" => &[Column::ReferralCode],
        "locale" => &[Column::Locale],
        "timeZone" => &[Column::TimeZone],
        "marketingConsent" => &[Column::MarketingConsent],
        "consentUpdatedAt" => &[Column::ConsentUpdatedAt],
        "unsubscribedAt" => &[Column::UnsubscribedAt],
        "erasedAt" => &[Column::ErasedAt],
        "createdAt" => &[Column::CreatedAt],
        "updatedAt" => &[Column::UpdatedAt],
        "orderCount" => &[Column::OrderCount],
        "totalSpent" => &[Column::TotalSpent],
        "firstOrderAt" => &[Column::FirstOrderAt],
        "lastOrderAt" => &[Column::LastOrderAt],
        _ => return None,
    })
}
