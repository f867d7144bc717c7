//! Care campaigns and the outbox through the API: campaigns (scopes `campaigns:read` /
//! `campaigns:write`), every email with its outcome, retrying a failed one, and the
//! marketer digest's recipients. Types and input mapping only: the rules and queries
//! are `jobs::campaigns` and `jobs::mail::outbox`.

use anyhow::Context as _;
use async_graphql::{
    Context, ID, InputObject, Object, Result, SimpleObject, dataloader::DataLoader,
};
use chrono::{DateTime, Utc};
use entity::campaign;
use jobs::campaigns::{self as domain, CampaignDocuments};
use jobs::mail::outbox::{self, EmailOwner};
use sea_orm::DatabaseConnection;

/// `Email`, the email list, `Customer.emails`.
mod emails;
/// Campaign inputs and their mapping to the domain's.
mod inputs;

pub use emails::{Email, EmailFilter};
pub(crate) use emails::{customer_emails, email_page, emails_of};
pub use inputs::{
    CampaignHolidayInput, CampaignSettingsInput, CampaignTargetInput, CreateCampaignInput,
    UpdateCampaignInput,
};

use crate::api_keys::Scope;
use crate::graphql::{
    enums::EmailKind,
    errors::{IntoApi, OrInternal, bad_input},
    guards::RequireScope,
    lifecycle::LifecycleStage,
    loaders::{CampaignStatsLoader, CampaignsLoader, SegmentLoader},
    pagination::{IdCursor, Page, PlainConnection, by_id},
    scalars::Date,
    segments::Segment,
    value::ValueTier,
};

/// A care campaign.
pub struct Campaign(pub campaign::Model);

/// Who a campaign is for: every part given must hold; none given means everyone.
#[derive(SimpleObject)]
pub struct CampaignTarget {
    pub everyone: bool,
    pub segment_id: Option<ID>,
    pub stages: Vec<LifecycleStage>,
    pub tiers: Vec<ValueTier>,
}

#[derive(SimpleObject)]
pub struct CampaignHoliday {
    pub date: Date,
    pub name: String,
    /// The name in Simplified Chinese (`zh-CN` emails).
    pub name_zh_cn: Option<String>,
    /// The name in Traditional Chinese (`zh-Hant` emails: Taiwan, Hong Kong, Macau);
    /// without it they use `nameZhCn`.
    pub name_zh_hant: Option<String>,
}

/// Kind-specific settings (offer and cooldown for win-back, dates for holidays, delay
/// and cooldown for surveys, notice and cooldown for points reminders).
#[derive(SimpleObject)]
pub struct CampaignSettingsView {
    pub offer_prefix: String,
    pub offer_expiry_days: i64,
    /// Win-back, survey and points expiring: at most one email of the campaign's kind per
    /// customer in this many days.
    pub cooldown_days: i64,
    pub lookback_days: i64,
    pub holidays: Vec<CampaignHoliday>,
    /// Survey: sent this many days after an order (customer's local days).
    pub days_after_order: i64,
    /// Points expiring: reminds of the points that expire within this many days.
    pub days_before_expiry: i64,
}

/// A campaign's own templates in one locale (missing parts use the defaults).
#[derive(SimpleObject, InputObject, Clone)]
#[graphql(input_name = "CampaignTemplateInput")]
pub struct CampaignTemplate {
    /// `en`, `zh-CN` or `zh-Hant` (the template locales; a customer's locale is mapped to
    /// one of them).
    pub locale: String,
    pub subject: Option<String>,
    pub html: Option<String>,
    pub text: Option<String>,
}

/// How a campaign's emails fared, all time.
#[derive(SimpleObject, Clone, Default)]
pub struct CampaignStats {
    pub queued: u64,
    pub sent: u64,
    pub failed: u64,
    pub suppressed: u64,
    pub unsubscribed: u64,
    pub converted: u64,
}

impl From<domain::CampaignStats> for CampaignStats {
    fn from(s: domain::CampaignStats) -> Self {
        Self {
            queued: s.queued,
            sent: s.sent,
            failed: s.failed,
            suppressed: s.suppressed,
            unsubscribed: s.unsubscribed,
            converted: s.converted,
        }
    }
}

#[Object]
impl Campaign {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn kind(&self) -> EmailKind {
        self.0.kind.into()
    }
    async fn enabled(&self) -> bool {
        self.0.enabled
    }
    async fn target(&self) -> Result<CampaignTarget> {
        let target = self.0.target().or_internal()?;
        Ok(CampaignTarget {
            everyone: target.rule().is_none(),
            segment_id: target.segment_id.map(|id| ID(id.to_string())),
            stages: target.stages.into_iter().map(Into::into).collect(),
            tiers: target.tiers.into_iter().map(Into::into).collect(),
        })
    }
    /// The segment targeted, when there is one.
    async fn segment(&self, ctx: &Context<'_>) -> Result<Option<Segment>> {
        let Some(id) = self.0.target().or_internal()?.segment_id else {
            return Ok(None);
        };
        let loader = ctx.data::<DataLoader<SegmentLoader>>()?;
        Ok(loader.load_one(id).await?.map(Segment))
    }
    /// Local hour (customer's time zone) at which its emails go out.
    async fn send_hour(&self) -> i32 {
        self.0.send_hour
    }
    async fn settings(&self) -> Result<CampaignSettingsView> {
        let s = self.0.settings().or_internal()?;
        Ok(CampaignSettingsView {
            offer_prefix: s.offer_prefix,
            offer_expiry_days: s.offer_expiry_days,
            cooldown_days: s.cooldown_days,
            lookback_days: s.lookback_days,
            holidays: s
                .holidays
                .into_iter()
                .map(|h| CampaignHoliday {
                    date: Date(h.date),
                    name: h.name,
                    name_zh_cn: h.name_zh_cn,
                    name_zh_hant: h.name_zh_hant,
                })
                .collect(),
            days_after_order: s.days_after_order,
            days_before_expiry: s.days_before_expiry,
        })
    }
    /// The campaign's own templates; locales not listed use the defaults.
    async fn templates(&self) -> Vec<CampaignTemplate> {
        self.0
            .templates_of()
            .unwrap_or_default()
            .into_iter()
            .map(|(locale, set)| CampaignTemplate {
                locale,
                subject: set.subject,
                html: set.html,
                text: set.text,
            })
            .collect()
    }
    /// When its producer last ran.
    async fn last_run_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_run_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    async fn stats(&self, ctx: &Context<'_>) -> Result<CampaignStats> {
        let loader = ctx.data::<DataLoader<CampaignStatsLoader>>()?;
        let stats = loader.load_one(self.0.id).await?.unwrap_or_default();
        Ok(stats.into())
    }
    /// Its emails, newest first.
    async fn emails(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<PlainConnection<Email>> {
        emails_of(ctx, EmailOwner::Campaign, self.0.id, first, after).await
    }
}

fn parse_id(field: &str, id: &ID, what: &str) -> Result<i64> {
    match id.parse::<i64>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(bad_input(field, format!("not a {what} id"))),
    }
}

/// The campaigns (by id) for which `keep` holds.
async fn campaigns_where(
    ctx: &Context<'_>,
    keep: impl Fn(&campaign::Model) -> bool,
) -> Result<Vec<Campaign>> {
    let loader = ctx.data::<DataLoader<CampaignsLoader>>()?;
    let all = loader.load_one(()).await?.unwrap_or_default();
    Ok(all
        .into_iter()
        .filter_map(|c| keep(&c).then_some(Campaign(c)))
        .collect())
}

/// Campaigns that act on a lifecycle stage (`LifecyclePlaybook.campaigns`).
pub(crate) async fn campaigns_for_stage(
    ctx: &Context<'_>,
    stage: LifecycleStage,
) -> Result<Vec<Campaign>> {
    campaigns_where(ctx, |c| domain::acts_on_stage(c, stage.into())).await
}

/// Campaigns that target a segment (its strategy in action).
pub(crate) async fn campaigns_for_segment(
    ctx: &Context<'_>,
    segment_id: i64,
) -> Result<Vec<Campaign>> {
    campaigns_where(ctx, |c| domain::targets_segment(c, segment_id)).await
}

#[derive(Default)]
pub struct CampaignQuery;

#[Object]
impl CampaignQuery {
    /// Campaigns, by id.
    #[graphql(guard = "RequireScope(Scope::CampaignsRead)")]
    async fn campaigns(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<PlainConnection<Campaign>> {
        let db = ctx.data::<DatabaseConnection>()?;
        let page = Page::<IdCursor>::forward(first, after)?;
        let after = page.cursor.map(|IdCursor(id)| id);
        let rows = domain::page(db, after, page.fetch_limit())
            .await
            .into_api()?;
        Ok(by_id(&page, rows, |c| c.id, Campaign))
    }

    #[graphql(guard = "RequireScope(Scope::CampaignsRead)")]
    async fn campaign(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Campaign>> {
        let db = ctx.data::<DatabaseConnection>()?;
        let id = parse_id("id", &id, "campaign")?;
        let found = domain::find(db, id).await.into_api()?;
        Ok(found.map(Campaign))
    }

    /// Every email in the outbox, newest first.
    #[graphql(guard = "RequireScope(Scope::CampaignsRead)")]
    async fn emails(
        &self,
        ctx: &Context<'_>,
        filter: Option<EmailFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<PlainConnection<Email>> {
        email_page(ctx, filter.unwrap_or_default(), first, after).await
    }

    /// Who receives the weekly marketer digest.
    #[graphql(guard = "RequireScope(Scope::CampaignsRead)")]
    async fn digest_recipients(&self, ctx: &Context<'_>) -> Result<Vec<String>> {
        let context = ctx.data::<jobs::JobContext>()?;
        domain::digest::recipients(&context.db, &context.mail.settings.digest_recipients)
            .await
            .context("failed to load the digest recipients")
            .or_internal()
    }
}

#[derive(Default)]
pub struct CampaignMutation;

#[Object]
impl CampaignMutation {
    #[graphql(guard = "RequireScope(Scope::CampaignsWrite)")]
    async fn create_campaign(
        &self,
        ctx: &Context<'_>,
        input: CreateCampaignInput,
    ) -> Result<Campaign> {
        let db = ctx.data::<DatabaseConnection>()?;
        let saved = domain::create(db, input.into_domain()?).await.into_api()?;
        Ok(Campaign(saved))
    }

    /// Changes a campaign (enable it, retarget it, new templates or timing).
    #[graphql(guard = "RequireScope(Scope::CampaignsWrite)")]
    async fn update_campaign(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateCampaignInput,
    ) -> Result<Campaign> {
        let db = ctx.data::<DatabaseConnection>()?;
        let id = parse_id("id", &id, "campaign")?;
        let saved = domain::update(db, id, input.into_domain()?)
            .await
            .into_api()?;
        Ok(Campaign(saved))
    }

    /// Deletes a campaign. Its emails stay (history); queued ones are not sent.
    #[graphql(guard = "RequireScope(Scope::CampaignsWrite)")]
    async fn delete_campaign(&self, ctx: &Context<'_>, id: ID) -> Result<ID> {
        let db = ctx.data::<DatabaseConnection>()?;
        let campaign_id = parse_id("id", &id, "campaign")?;
        domain::delete(db, campaign_id).await.into_api()?;
        Ok(id)
    }

    /// Sends a failed or suppressed email again at the next dispatch (attempts start
    /// over). Admin only: it overrides what the dispatcher decided.
    #[graphql(guard = "RequireScope(Scope::Admin)")]
    async fn retry_email(&self, ctx: &Context<'_>, id: ID) -> Result<Email> {
        let db = ctx.data::<DatabaseConnection>()?;
        let email_id = parse_id("id", &id, "email")?;
        let queued = outbox::retry(db, email_id).await.into_api()?;
        Ok(Email(queued))
    }

    /// Replaces the recipients of the weekly marketer digest (overrides
    /// `DIGEST_RECIPIENTS`). Admin only.
    #[graphql(guard = "RequireScope(Scope::Admin)")]
    async fn update_digest_recipients(
        &self,
        ctx: &Context<'_>,
        addresses: Vec<String>,
    ) -> Result<Vec<String>> {
        let db = ctx.data::<DatabaseConnection>()?;
        domain::digest::update_recipients(db, &addresses)
            .await
            .into_api()
    }
}
