//! Segments through the API: rules as typed input (never SQL), dynamic and static
//! segments, preview, materialized members, explanations and personas. The rules and
//! SQL live in `jobs::segments`; each resolver here maps its input and makes one call.

/// Segment writes.
mod mutation;
/// The rule as GraphQL input.
mod rule;
/// Changes, explanations, previews, personas, refresh results.
mod types;

use async_graphql::connection::Edge;
use async_graphql::{Context, Enum, ID, Json, Object, Result, dataloader::DataLoader};
use chrono::{DateTime, Utc};
use entity::segment;
use jobs::segments;
use sea_orm::DatabaseConnection;

use crate::api_keys::Scope;
use crate::graphql::{
    customer::{Customer, customer_id_of},
    errors::{IntoApi, OrInternal, bad_input},
    guards::{RequireScope, require},
    loaders::{
        CustomerLoader, IdPageKey, SegmentChangesLoader, SegmentMemberCountLoader,
        SegmentMembersLoader,
    },
    pagination::{
        CountedConnection, IdCursor, Page, PlainConnection, TotalCount, by_id, encode_cursor,
    },
};
pub use mutation::SegmentMutation;
use rule::SegmentRuleInput;
pub use types::SegmentChange;
use types::{SegmentExplanation, SegmentPreview, SegmentProfile};

#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(remote = "jobs::segments::SegmentKind")]
pub enum SegmentKind {
    /// Members are the customers the rule matches, refreshed by the `segments` job.
    Dynamic,
    /// Members are added and removed by hand.
    Static,
}

/// A segment id argument: a positive integer.
fn segment_id(field: &str, id: &ID) -> Result<i64> {
    match id.parse::<i64>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(bad_input(field, "not a segment id")),
    }
}

/// A group of customers.
pub struct Segment(pub segment::Model);

#[Object]
impl Segment {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    async fn kind(&self) -> SegmentKind {
        self.0.kind.into()
    }
    /// The rule as JSON, in the shape of `SegmentRuleInput`; null for static segments.
    async fn rule(&self) -> Result<Option<Json<serde_json::Value>>> {
        use anyhow::Context as _;
        self.0
            .rule
            .as_deref()
            .map(|json| serde_json::from_str(json).map(Json))
            .transpose()
            .context("a stored segment rule is not JSON")
            .or_internal()
    }
    async fn goal(&self) -> Option<&str> {
        self.0.goal.as_deref()
    }
    async fn strategy(&self) -> Option<&str> {
        self.0.strategy.as_deref()
    }
    /// Campaigns that target this segment (its strategy in action). Needs `campaigns:read`.
    async fn campaigns(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Vec<crate::graphql::campaigns::Campaign>> {
        require(ctx, Scope::CampaignsRead)?;
        crate::graphql::campaigns::campaigns_for_segment(ctx, self.0.id).await
    }
    async fn owner(&self) -> Option<&str> {
        self.0.owner.as_deref()
    }
    /// Members at the last refresh or change.
    async fn size(&self) -> i64 {
        self.0.size
    }
    async fn refreshed_at(&self) -> Option<DateTime<Utc>> {
        self.0.refreshed_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    /// Members, by customer id.
    async fn members(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<CountedConnection<Customer>> {
        let page = Page::<IdCursor>::forward(first, after)?;
        let key = IdPageKey::of(self.0.id, &page);
        let members = ctx.data::<DataLoader<SegmentMembersLoader>>()?;
        let ids = members.load_one(key).await?.unwrap_or_default();
        let (ids, has_previous, has_next) = page.finish(ids);
        let total = TotalCount::loaded::<SegmentMemberCountLoader>(self.0.id);
        let loader = ctx.data::<DataLoader<CustomerLoader>>()?;
        let customers = loader.load_many(ids.iter().copied()).await?;
        let mut connection =
            CountedConnection::with_additional_fields(has_previous, has_next, total);
        for id in ids {
            if let Some(customer) = customers.get(&id).cloned() {
                connection
                    .edges
                    .push(Edge::new(encode_cursor(&IdCursor(id)), Customer(customer)));
            }
        }
        Ok(connection)
    }

    /// Customers entering and leaving, newest first: what campaigns act on.
    async fn changes(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<PlainConnection<SegmentChange>> {
        let page = Page::<IdCursor>::forward(first, after)?;
        let key = IdPageKey::of(self.0.id, &page);
        let changes = ctx.data::<DataLoader<SegmentChangesLoader>>()?;
        let rows = changes.load_one(key).await?.unwrap_or_default();
        Ok(by_id(&page, rows, |c| c.id, SegmentChange))
    }

    /// Every condition with whether this customer meets it and their actual value.
    async fn explain(&self, ctx: &Context<'_>, customer_id: ID) -> Result<SegmentExplanation> {
        let db = ctx.data::<DatabaseConnection>()?;
        let id = customer_id_of(&customer_id).map_err(|m| bad_input("customerId", m))?;
        let explanation = segments::explain(db, &self.0, id, Utc::now())
            .await
            .into_api()?;
        // It shows the customer's values of the rule's fields.
        if explanation.reads_personal_data {
            require(ctx, Scope::PiiRead)?;
        }
        Ok(explanation.into())
    }

    /// The segment's persona, over its current members.
    async fn profile(&self, ctx: &Context<'_>) -> Result<SegmentProfile> {
        let db = ctx.data::<DatabaseConnection>()?;
        let today = Utc::now().date_naive();
        let profile = segments::profile(db, self.0.id, today).await.into_api()?;
        Ok(profile.into())
    }
}

#[derive(Default)]
pub struct SegmentQuery;

#[Object]
impl SegmentQuery {
    /// Segments, by id.
    #[graphql(guard = "RequireScope(Scope::SegmentsRead)")]
    async fn segments(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<PlainConnection<Segment>> {
        let db = ctx.data::<DatabaseConnection>()?;
        let page = Page::<IdCursor>::forward(first, after)?;
        let after = page.cursor.map(|IdCursor(id)| id);
        let rows = segments::page(db, after, page.fetch_limit())
            .await
            .into_api()?;
        Ok(by_id(&page, rows, |s| s.id, Segment))
    }

    #[graphql(guard = "RequireScope(Scope::SegmentsRead)")]
    async fn segment(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Segment>> {
        let db = ctx.data::<DatabaseConnection>()?;
        let id = segment_id("id", &id)?;
        let found = segments::find(db, id).await.into_api()?;
        Ok(found.map(Segment))
    }

    /// How many customers a rule matches now, and the first of them; nothing is saved.
    #[graphql(guard = "RequireScope(Scope::SegmentsRead)")]
    async fn preview_segment(
        &self,
        ctx: &Context<'_>,
        rule: SegmentRuleInput,
    ) -> Result<SegmentPreview> {
        let db = ctx.data::<DatabaseConnection>()?;
        let rule = rule::authorized_rule(ctx, rule)?;
        let preview = segments::preview(db, &rule, Utc::now()).await.into_api()?;
        let loader = ctx.data::<DataLoader<CustomerLoader>>()?;
        let customers = loader
            .load_many(preview.customer_ids.iter().copied())
            .await?;
        Ok(SegmentPreview {
            size: preview.size,
            customers: preview
                .customer_ids
                .iter()
                .filter_map(|id| customers.get(id).cloned().map(Customer))
                .collect(),
        })
    }
}
