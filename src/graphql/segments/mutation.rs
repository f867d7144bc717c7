//! Segment writes: inputs mapped to the domain's typed inputs, one `jobs::segments` call
//! each.

use async_graphql::{Context, ID, InputObject, Object, Result};
use chrono::Utc;
use jobs::segments::{self, ChangeKind, MemberRefs, NewSegment, SegmentChanges};
use sea_orm::DatabaseConnection;

use super::rule::{SegmentRuleInput, authorized_rule};
use super::types::SegmentRefresh;
use super::{Segment, SegmentKind, segment_id};
use crate::api_keys::Scope;
use crate::graphql::{customer::customer_id_of, errors::IntoApi, guards::RequireScope};

#[derive(InputObject)]
pub struct CreateSegmentInput {
    pub name: String,
    pub description: Option<String>,
    /// Required for dynamic segments, refused for static ones.
    pub rule: Option<SegmentRuleInput>,
    #[graphql(default_with = "SegmentKind::Dynamic")]
    pub kind: SegmentKind,
    pub goal: Option<String>,
    pub strategy: Option<String>,
    pub owner: Option<String>,
}

/// Fields to change; absent ones stay.
#[derive(InputObject)]
pub struct UpdateSegmentInput {
    pub name: Option<String>,
    pub description: Option<String>,
    /// A new rule (dynamic segments only); members change at the next refresh.
    pub rule: Option<SegmentRuleInput>,
    pub goal: Option<String>,
    pub strategy: Option<String>,
    pub owner: Option<String>,
}

/// Customers to add to or remove from a static segment, by id or external id.
#[derive(InputObject)]
pub struct SegmentMembersInput {
    pub customer_ids: Option<Vec<ID>>,
    pub customer_external_ids: Option<Vec<String>>,
}

impl From<SegmentMembersInput> for MemberRefs {
    fn from(input: SegmentMembersInput) -> Self {
        MemberRefs {
            customer_ids: input
                .customer_ids
                .unwrap_or_default()
                .iter()
                .map(customer_id_of)
                .collect(),
            external_ids: input.customer_external_ids.unwrap_or_default(),
        }
    }
}

/// Adds or removes the customers of `input`: the two mutations differ only in the change.
async fn edit_members(
    ctx: &Context<'_>,
    id: ID,
    input: SegmentMembersInput,
    change: ChangeKind,
) -> Result<Segment> {
    let db = ctx.data::<DatabaseConnection>()?;
    let id = segment_id("id", &id)?;
    let refs = MemberRefs::from(input);
    let segment = segments::change_members(db, id, &refs, change, Utc::now())
        .await
        .into_api()?;
    Ok(Segment(segment))
}

#[derive(Default)]
pub struct SegmentMutation;

#[Object]
impl SegmentMutation {
    /// Creates a segment. A dynamic segment's members are computed at once.
    #[graphql(guard = "RequireScope(Scope::SegmentsWrite)")]
    async fn create_segment(
        &self,
        ctx: &Context<'_>,
        input: CreateSegmentInput,
    ) -> Result<Segment> {
        let db = ctx.data::<DatabaseConnection>()?;
        let new = NewSegment {
            name: input.name,
            description: input.description,
            kind: input.kind.into(),
            rule: input.rule.map(|r| authorized_rule(ctx, r)).transpose()?,
            goal: input.goal,
            strategy: input.strategy,
            owner: input.owner,
        };
        let created = segments::create(db, new, Utc::now()).await.into_api()?;
        Ok(Segment(created))
    }

    /// Changes a segment; a new rule is applied at once.
    #[graphql(guard = "RequireScope(Scope::SegmentsWrite)")]
    async fn update_segment(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateSegmentInput,
    ) -> Result<Segment> {
        let db = ctx.data::<DatabaseConnection>()?;
        let id = segment_id("id", &id)?;
        let changes = SegmentChanges {
            name: input.name,
            description: input.description,
            rule: input.rule.map(|r| authorized_rule(ctx, r)).transpose()?,
            goal: input.goal,
            strategy: input.strategy,
            owner: input.owner,
        };
        let updated = segments::update(db, id, changes, Utc::now())
            .await
            .into_api()?;
        Ok(Segment(updated))
    }

    /// Deletes a segment with its members and events. Refused while another segment's
    /// rule refers to it.
    #[graphql(guard = "RequireScope(Scope::SegmentsWrite)")]
    async fn delete_segment(&self, ctx: &Context<'_>, id: ID) -> Result<ID> {
        let db = ctx.data::<DatabaseConnection>()?;
        segments::delete(db, segment_id("id", &id)?)
            .await
            .into_api()?;
        Ok(id)
    }

    /// Adds customers to a static segment (already-members are left alone). Every
    /// reference must resolve, or nothing changes.
    #[graphql(guard = "RequireScope(Scope::SegmentsWrite)")]
    async fn add_segment_members(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: SegmentMembersInput,
    ) -> Result<Segment> {
        edit_members(ctx, id, input, ChangeKind::Entered).await
    }

    /// Removes customers from a static segment.
    #[graphql(guard = "RequireScope(Scope::SegmentsWrite)")]
    async fn remove_segment_members(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: SegmentMembersInput,
    ) -> Result<Segment> {
        edit_members(ctx, id, input, ChangeKind::Exited).await
    }

    /// Installs the built-in suggestions (high value at risk, new this month, promoters,
    /// detractors, silent big spenders, birthdays this month, loyal champions), each with
    /// a goal and a strategy; suggestions whose name already exists are left alone.
    /// Returns the segments installed now.
    #[graphql(guard = "RequireScope(Scope::Admin)")]
    async fn install_suggested_segments(&self, ctx: &Context<'_>) -> Result<Vec<Segment>> {
        let db = ctx.data::<DatabaseConnection>()?;
        let installed = segments::install_suggested(db, Utc::now())
            .await
            .into_api()?;
        Ok(installed.into_iter().map(Segment).collect())
    }

    /// Recomputes a dynamic segment's members now.
    #[graphql(guard = "RequireScope(Scope::SegmentsWrite)")]
    async fn refresh_segment(&self, ctx: &Context<'_>, id: ID) -> Result<SegmentRefresh> {
        let db = ctx.data::<DatabaseConnection>()?;
        let id = segment_id("id", &id)?;
        let (segment, change) = segments::refresh(db, id, Utc::now()).await.into_api()?;
        Ok(SegmentRefresh {
            segment: Segment(segment),
            entered: change.entered,
            exited: change.exited,
        })
    }
}
