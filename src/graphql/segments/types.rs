//! What segment queries answer besides the segment itself: changes, explanations,
//! previews, personas, refresh results — each mapped from what the domain returns.

use async_graphql::{
    ComplexObject, Context, Enum, ID, Json, Object, Result, SimpleObject, dataloader::DataLoader,
};
use chrono::{DateTime, Utc};
use entity::segment_event;

use super::Segment;
use super::rule::{SegmentField, SegmentOperator};
use crate::api_keys::Scope;
use crate::graphql::{
    customer::Customer,
    guards::require,
    loaders::{CustomerLoader, SegmentLoader},
};

/// One condition of a rule for one customer.
#[derive(SimpleObject)]
pub struct ConditionExplanation {
    /// Where the condition sits, e.g. `rule.all[1].condition`.
    pub path: String,
    pub field: SegmentField,
    pub op: SegmentOperator,
    pub value: Option<Json<serde_json::Value>>,
    pub values: Option<Vec<Json<serde_json::Value>>>,
    /// Whether this customer meets it.
    pub met: bool,
    /// The customer's value of the field (null when missing).
    pub actual: Json<serde_json::Value>,
}

impl From<jobs::segments::ConditionOutcome> for ConditionExplanation {
    fn from(outcome: jobs::segments::ConditionOutcome) -> Self {
        Self {
            path: outcome.path,
            field: outcome.field.into(),
            op: outcome.op.into(),
            value: outcome.value.map(Json),
            values: outcome.values.map(|vs| vs.into_iter().map(Json).collect()),
            met: outcome.met,
            actual: Json(outcome.actual),
        }
    }
}

/// A customer entering or leaving a segment.
pub struct SegmentChange(pub segment_event::Model);

#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(remote = "jobs::segments::ChangeKind")]
pub enum SegmentChangeKind {
    Entered,
    Exited,
}

#[Object]
impl SegmentChange {
    async fn kind(&self) -> SegmentChangeKind {
        self.0.kind.into()
    }
    async fn customer_id(&self) -> ID {
        ID(self.0.customer_id.to_string())
    }
    async fn customer(&self, ctx: &Context<'_>) -> Result<Option<Customer>> {
        let loader = ctx.data::<DataLoader<CustomerLoader>>()?;
        Ok(loader.load_one(self.0.customer_id).await?.map(Customer))
    }
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
    async fn segment_id(&self) -> ID {
        ID(self.0.segment_id.to_string())
    }
    /// Null when the segment was deleted since.
    async fn segment(&self, ctx: &Context<'_>) -> Result<Option<Segment>> {
        let loader = ctx.data::<DataLoader<SegmentLoader>>()?;
        Ok(loader.load_one(self.0.segment_id).await?.map(Segment))
    }
}

/// Why a customer is or is not in a segment.
#[derive(SimpleObject)]
pub struct SegmentExplanation {
    /// Whether the rule matches the customer now.
    pub matches: bool,
    /// Whether the customer is a member (as of the last refresh).
    pub member: bool,
    pub conditions: Vec<ConditionExplanation>,
}

impl From<jobs::segments::Explanation> for SegmentExplanation {
    fn from(explanation: jobs::segments::Explanation) -> Self {
        Self {
            matches: explanation.matches,
            member: explanation.member,
            conditions: explanation.conditions.into_iter().map(Into::into).collect(),
        }
    }
}

/// A value and how many members have it.
#[derive(SimpleObject)]
pub struct Share {
    pub value: String,
    pub customers: u64,
    pub share: f64,
}

impl From<jobs::segments::Share> for Share {
    fn from(share: jobs::segments::Share) -> Self {
        Self {
            value: share.value,
            customers: share.customers,
            share: share.share,
        }
    }
}

fn shares(list: Vec<jobs::segments::Share>) -> Vec<Share> {
    list.into_iter().map(Share::from).collect()
}

/// The segment's persona.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct SegmentProfile {
    pub size: u64,
    /// Of all non-erased customers.
    pub share_of_base: f64,
    /// Of the revenue of all customers.
    pub revenue_share: f64,
    pub average_predicted_clv: Option<crate::graphql::scalars::Decimal>,
    pub median_predicted_clv: Option<crate::graphql::scalars::Decimal>,
    pub lifecycle_stages: Vec<Share>,
    pub rfm_groups: Vec<Share>,
    #[graphql(skip)]
    pub top_cities: Vec<Share>,
    #[graphql(skip)]
    pub age_bands: Vec<Share>,
    #[graphql(skip)]
    pub genders: Vec<Share>,
    pub top_interests: Vec<Share>,
    /// Mean of the members' latest NPS answers.
    pub average_nps: Option<f64>,
}

impl From<jobs::segments::Profile> for SegmentProfile {
    fn from(profile: jobs::segments::Profile) -> Self {
        Self {
            size: profile.size,
            share_of_base: profile.share_of_base,
            revenue_share: profile.revenue_share,
            average_predicted_clv: profile.average_predicted_clv.map(Into::into),
            median_predicted_clv: profile.median_predicted_clv.map(Into::into),
            lifecycle_stages: shares(profile.lifecycle_stages),
            rfm_groups: shares(profile.rfm_groups),
            top_cities: shares(profile.top_cities),
            age_bands: shares(profile.age_bands),
            genders: shares(profile.genders),
            top_interests: shares(profile.top_interests),
            average_nps: profile.average_nps,
        }
    }
}

/// Breakdowns by personal data. Over few members they describe people, not a group
/// (a segment of one tells its member's age band), so below `[privacy]
/// min_profile_size` members they need `pii:read`.
#[ComplexObject]
impl SegmentProfile {
    /// Null with `FORBIDDEN` for a small segment and a key without `pii:read`.
    async fn top_cities(&self, ctx: &Context<'_>) -> Result<Option<&[Share]>> {
        self.personal(ctx, &self.top_cities)
    }
    /// Null with `FORBIDDEN` for a small segment and a key without `pii:read`.
    async fn age_bands(&self, ctx: &Context<'_>) -> Result<Option<&[Share]>> {
        self.personal(ctx, &self.age_bands)
    }
    /// Null with `FORBIDDEN` for a small segment and a key without `pii:read`.
    async fn genders(&self, ctx: &Context<'_>) -> Result<Option<&[Share]>> {
        self.personal(ctx, &self.genders)
    }
}

impl SegmentProfile {
    fn personal<'a>(&self, ctx: &Context<'_>, shares: &'a [Share]) -> Result<Option<&'a [Share]>> {
        let min_size = ctx
            .data::<crate::configuration::PrivacySettings>()?
            .min_profile_size;
        if self.size < min_size {
            require(ctx, Scope::PiiRead).map_err(|_| {
                crate::graphql::errors::forbidden(format!(
                    "a profile of fewer than {min_size} members shows personal breakdowns only \
                     to keys with the `pii:read` scope"
                ))
            })?;
        }
        Ok(Some(shares))
    }
}

/// A rule's size and first customers, nothing saved.
#[derive(SimpleObject)]
pub struct SegmentPreview {
    pub size: u64,
    /// Up to 20 matching customers, by id.
    pub customers: Vec<Customer>,
}

/// What a refresh did.
#[derive(SimpleObject)]
pub struct SegmentRefresh {
    pub segment: Segment,
    pub entered: u64,
    pub exited: u64,
}
