//! Care campaigns and the outbox through the API: campaigns (scopes `campaigns:read` /
//! `campaigns:write`), every email with its outcome, retrying a failed one, and the
//! marketer digest's recipients.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{campaign, email};
use jobs::campaigns::{self as producers, CampaignDocuments, CampaignSettings, Holiday, Target};
use jobs::mail::templates::{CampaignTemplates, TemplateSet};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait,
    IntoActiveModel, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;

use crate::api_keys::Scope;
use crate::graphql::{
    enums::{EmailKind, EmailStatus},
    errors::{IntoApi, OrInternal, Problems, bad_input, not_found},
    guards::{RequireScope, require},
    lifecycle::{LifecycleStage, stored_stage},
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

/// Kind-specific settings (offer and cooldown for win-back, dates for holidays).
#[derive(SimpleObject)]
pub struct CampaignSettingsView {
    pub offer_prefix: String,
    pub offer_expiry_days: i64,
    pub cooldown_days: i64,
    pub lookback_days: i64,
    pub holidays: Vec<CampaignHoliday>,
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
            stages: target
                .stages
                .iter()
                .map(|s| stored_stage(s))
                .collect::<Result<_>>()?,
            tiers: target
                .tiers
                .iter()
                .filter_map(|t| ValueTier::parse(t))
                .collect(),
        })
    }
    /// The segment targeted, when there is one.
    async fn segment(&self, ctx: &Context<'_>) -> Result<Option<Segment>> {
        let Some(id) = self.0.target().or_internal()?.segment_id else {
            return Ok(None);
        };
        let loader = ctx
            .data::<async_graphql::dataloader::DataLoader<crate::graphql::loaders::SegmentLoader>>(
            )?;
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
        let loader = ctx.data::<async_graphql::dataloader::DataLoader<crate::graphql::loaders::CampaignStatsLoader>>()?;
        Ok(loader.load_one(self.0.id).await?.unwrap_or_default())
    }
    /// Its emails, newest first.
    async fn emails(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<PlainConnection<Email>> {
        let filter = EmailFilter {
            campaign_id: Some(ID(self.0.id.to_string())),
            ..Default::default()
        };
        email_page(ctx, filter, first, after).await
    }
}

/// One email of the outbox.
pub struct Email(pub email::Model);

#[Object]
impl Email {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn kind(&self) -> EmailKind {
        self.0.kind.into()
    }
    async fn status(&self) -> EmailStatus {
        self.0.status.into()
    }
    /// The unique key its producer gave it (`birthday:2026:<customer>`).
    async fn dedupe_key(&self) -> &str {
        &self.0.dedupe_key
    }
    async fn campaign_id(&self) -> Option<ID> {
        self.0.campaign_id.map(|id| ID(id.to_string()))
    }
    async fn customer_id(&self) -> Option<ID> {
        self.0.customer_id.map(|id| ID(id.to_string()))
    }
    /// Set at each send attempt (null when it never rendered). Personal: greetings
    /// carry the customer's name. Needs `pii:read`.
    #[graphql(guard = "RequireScope(Scope::PiiRead)")]
    async fn subject(&self) -> Option<&str> {
        self.0.subject.as_deref()
    }
    /// The address it went to. Needs `pii:read`.
    #[graphql(guard = "RequireScope(Scope::PiiRead)")]
    async fn to_address(&self) -> Option<&str> {
        self.0.to_address.as_deref()
    }
    async fn offer_code(&self) -> Option<&str> {
        self.0.offer_code.as_deref()
    }
    async fn offer_expires_on(&self) -> Option<Date> {
        self.0.offer_expires_on.map(Date)
    }
    async fn attempts(&self) -> i32 {
        self.0.attempts
    }
    /// The last SMTP reply or rendering error. Personal: servers echo the recipient
    /// (`550 <ann@…>: no such user`). Needs `pii:read`.
    #[graphql(guard = "RequireScope(Scope::PiiRead)")]
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }
    /// Why it was not sent: `NO_CONSENT`, `UNSUBSCRIBED`, `ERASED`, `NO_ADDRESS`,
    /// `INVALID_ADDRESS`, `CAMPAIGN_DISABLED`.
    async fn suppression_reason(&self) -> Option<&str> {
        self.0.suppression_reason.as_deref()
    }
    /// When it is (or was) due: quiet hours, the frequency cap and retries move it.
    async fn scheduled_for(&self) -> DateTime<Utc> {
        self.0.scheduled_for
    }
    async fn sent_at(&self) -> Option<DateTime<Utc>> {
        self.0.sent_at
    }
    /// A win-back email whose customer ordered within the offer window.
    async fn converted(&self) -> bool {
        self.0.converted_at.is_some()
    }
    async fn converted_at(&self) -> Option<DateTime<Utc>> {
        self.0.converted_at
    }
    /// The customer unsubscribed through this email.
    async fn unsubscribed_at(&self) -> Option<DateTime<Utc>> {
        self.0.unsubscribed_at
    }
    async fn message_id(&self) -> Option<&str> {
        self.0.message_id.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// Narrows the email list; every part given must hold.
#[derive(InputObject, Default)]
pub struct EmailFilter {
    pub status: Option<EmailStatus>,
    pub kind: Option<EmailKind>,
    pub customer_id: Option<ID>,
    pub campaign_id: Option<ID>,
}

fn parse_id(field: &str, id: &ID, what: &str) -> Result<i64> {
    id.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| bad_input(field, format!("not a {what} id")))
}

/// A page of emails, newest first.
pub(crate) async fn email_page(
    ctx: &Context<'_>,
    filter: EmailFilter,
    first: Option<i32>,
    after: Option<String>,
) -> Result<PlainConnection<Email>> {
    let db = ctx.data::<DatabaseConnection>()?;
    let page = Page::<IdCursor>::forward(first, after)?;
    let mut query = email::Entity::find()
        .order_by_desc(email::Column::Id)
        .limit(page.fetch_limit());
    if let Some(status) = filter.status {
        query = query.filter(email::Column::Status.eq(entity::EmailStatus::from(status)));
    }
    if let Some(kind) = filter.kind {
        query = query.filter(email::Column::Kind.eq(entity::EmailKind::from(kind)));
    }
    if let Some(id) = &filter.customer_id {
        query = query.filter(email::Column::CustomerId.eq(parse_id(
            "filter.customerId",
            id,
            "customer",
        )?));
    }
    if let Some(id) = &filter.campaign_id {
        query = query.filter(email::Column::CampaignId.eq(parse_id(
            "filter.campaignId",
            id,
            "campaign",
        )?));
    }
    if let Some(IdCursor(before)) = page.cursor {
        query = query.filter(email::Column::Id.lt(before));
    }
    let rows = query.all(db).await.or_internal()?;
    Ok(by_id(&page, rows, |e| e.id, Email))
}

/// The campaigns (by id) for which `keep` holds.
async fn campaigns_where(
    ctx: &Context<'_>,
    keep: impl Fn(&campaign::Model) -> bool,
) -> Result<Vec<Campaign>> {
    let loader = ctx
        .data::<async_graphql::dataloader::DataLoader<crate::graphql::loaders::CampaignsLoader>>(
        )?;
    let all = loader.load_one(()).await?.unwrap_or_default();
    Ok(all.into_iter().filter(|c| keep(c)).map(Campaign).collect())
}

/// Campaigns linked to a lifecycle stage: those targeting it, and those its entry
/// triggers (win-back for silent and churned, welcome for new).
pub(crate) async fn campaigns_for_stage(ctx: &Context<'_>, stage: &str) -> Result<Vec<Campaign>> {
    campaigns_where(ctx, |c| {
        let triggered = match c.kind {
            entity::EmailKind::WinBack => stage == "SILENT" || stage == "CHURNED",
            entity::EmailKind::Welcome => stage == "NEW",
            _ => false,
        };
        triggered
            || c.target()
                .is_ok_and(|t| t.stages.iter().any(|s| s == stage))
    })
    .await
}

/// Campaigns that target a segment (its strategy in action).
pub(crate) async fn campaigns_for_segment(
    ctx: &Context<'_>,
    segment_id: i64,
) -> Result<Vec<Campaign>> {
    campaigns_where(ctx, |c| {
        c.target().is_ok_and(|t| t.segment_id == Some(segment_id))
    })
    .await
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
        let mut query = campaign::Entity::find()
            .order_by_asc(campaign::Column::Id)
            .limit(page.fetch_limit());
        if let Some(IdCursor(after)) = page.cursor {
            query = query.filter(campaign::Column::Id.gt(after));
        }
        let rows = query.all(db).await.or_internal()?;
        Ok(by_id(&page, rows, |c| c.id, Campaign))
    }

    #[graphql(guard = "RequireScope(Scope::CampaignsRead)")]
    async fn campaign(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Campaign>> {
        let db = ctx.data::<DatabaseConnection>()?;
        let id = parse_id("id", &id, "campaign")?;
        Ok(campaign::Entity::find_by_id(id)
            .one(db)
            .await
            .or_internal()?
            .map(Campaign))
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
        producers::digest::recipients(&context.db, &context.mail.settings.digest_recipients)
            .await
            .or_internal()
    }
}

/// Who a campaign is for. Every part given must hold; none means everyone.
#[derive(InputObject, Default)]
pub struct CampaignTargetInput {
    pub segment_id: Option<ID>,
    #[graphql(default)]
    pub stages: Vec<LifecycleStage>,
    #[graphql(default)]
    pub tiers: Vec<ValueTier>,
}

#[derive(InputObject)]
pub struct CampaignHolidayInput {
    pub date: Date,
    pub name: String,
    /// The name in Simplified Chinese (`zh-CN` emails).
    pub name_zh_cn: Option<String>,
    /// The name in Traditional Chinese (`zh-Hant` emails); without it they use `nameZhCn`.
    pub name_zh_hant: Option<String>,
}

/// Kind-specific settings; omitted fields keep their current (or default) values.
#[derive(InputObject, Default)]
pub struct CampaignSettingsInput {
    /// Win-back offer codes: `<prefix>-XXXXXXXX` (capital letters and digits).
    pub offer_prefix: Option<String>,
    /// Win-back: days the offer is valid.
    pub offer_expiry_days: Option<i64>,
    /// Win-back: at most one win-back email per customer in this many days.
    pub cooldown_days: Option<i64>,
    /// How far back producers look, in days: first orders (welcome), lapse days (win-back:
    /// only customers who lapsed this many days ago or less, 0–366), segment entries.
    pub lookback_days: Option<i64>,
    /// Holiday: the dates greeted (replaces the list).
    pub holidays: Option<Vec<CampaignHolidayInput>>,
}

#[derive(InputObject)]
pub struct CreateCampaignInput {
    pub name: String,
    pub kind: EmailKind,
    /// Off by default: nothing is queued until someone enables it.
    #[graphql(default)]
    pub enabled: bool,
    pub target: Option<CampaignTargetInput>,
    #[graphql(default = 9)]
    pub send_hour: i32,
    pub settings: Option<CampaignSettingsInput>,
    pub templates: Option<Vec<CampaignTemplate>>,
}

/// Changes to a campaign; omitted fields stay as they are.
#[derive(InputObject, Default)]
pub struct UpdateCampaignInput {
    pub name: Option<String>,
    pub enabled: Option<bool>,
    pub target: Option<CampaignTargetInput>,
    pub send_hour: Option<i32>,
    pub settings: Option<CampaignSettingsInput>,
    /// Replaces the campaign's own templates (an empty list: the defaults again).
    pub templates: Option<Vec<CampaignTemplate>>,
}

fn target_of(input: CampaignTargetInput) -> Result<Target> {
    Ok(Target {
        segment_id: input
            .segment_id
            .map(|id| parse_id("input.target.segmentId", &id, "segment"))
            .transpose()?,
        stages: input
            .stages
            .into_iter()
            .map(|s| jobs::lifecycle::Stage::from(s).as_str().to_owned())
            .collect(),
        tiers: input
            .tiers
            .into_iter()
            .map(|t| t.as_str().to_owned())
            .collect(),
    })
}

fn apply_settings(
    mut settings: CampaignSettings,
    input: CampaignSettingsInput,
) -> CampaignSettings {
    if let Some(prefix) = input.offer_prefix {
        settings.offer_prefix = prefix;
    }
    if let Some(days) = input.offer_expiry_days {
        settings.offer_expiry_days = days;
    }
    if let Some(days) = input.cooldown_days {
        settings.cooldown_days = days;
    }
    if let Some(days) = input.lookback_days {
        settings.lookback_days = days;
    }
    if let Some(holidays) = input.holidays {
        settings.holidays = holidays
            .into_iter()
            .map(|h| Holiday {
                date: h.date.0,
                name: h.name,
                name_zh_cn: h.name_zh_cn,
                name_zh_hant: h.name_zh_hant,
            })
            .collect();
    }
    settings
}

/// The templates by locale; a locale given twice is refused (one would silently win).
fn templates_of(input: Vec<CampaignTemplate>) -> Result<CampaignTemplates> {
    let mut templates = CampaignTemplates::new();
    for (i, t) in input.into_iter().enumerate() {
        let set = TemplateSet {
            subject: t.subject,
            html: t.html,
            text: t.text,
        };
        if templates.insert(t.locale.clone(), set).is_some() {
            return Err(bad_input(
                &format!("input.templates[{i}].locale"),
                format!("`{}` is given twice", t.locale),
            ));
        }
    }
    Ok(templates)
}

/// Validates a campaign as it would be saved; every problem, with `input.…` paths.
async fn check(
    db: &DatabaseConnection,
    id: Option<i64>,
    draft: &campaign::Model,
    target: &Target,
    settings: &CampaignSettings,
    templates: &CampaignTemplates,
) -> Result<()> {
    let mut problems = Problems::new();
    for invalid in producers::validate(
        &draft.name,
        draft.kind,
        draft.enabled,
        draft.send_hour,
        target,
        settings,
        templates,
    ) {
        problems.push(None, format!("input.{}", invalid.field), invalid.message);
    }
    if let Some(segment_id) = target.segment_id
        && entity::segment::Entity::find_by_id(segment_id)
            .one(db)
            .await
            .or_internal()?
            .is_none()
    {
        problems.push(
            None,
            "input.target.segmentId",
            format!("no segment {segment_id}"),
        );
    }
    let mut same_name =
        campaign::Entity::find().filter(campaign::Column::Name.eq(draft.name.trim()));
    if let Some(id) = id {
        same_name = same_name.filter(campaign::Column::Id.ne(id));
    }
    if same_name.count(db).await.or_internal()? > 0 {
        problems.push(None, "input.name", "another campaign has this name");
    }
    problems.into_result().into_api()
}

fn json<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).or_internal()
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
        let target = target_of(input.target.unwrap_or_default())?;
        let settings = apply_settings(
            CampaignSettings::default(),
            input.settings.unwrap_or_default(),
        );
        let templates = templates_of(input.templates.unwrap_or_default())?;
        let now = Utc::now();
        let draft = campaign::Model {
            id: 0,
            name: input.name.trim().to_owned(),
            kind: input.kind.into(),
            enabled: input.enabled,
            target: String::new(),
            send_hour: input.send_hour,
            templates: String::new(),
            settings: String::new(),
            last_run_at: None,
            created_at: now,
            updated_at: now,
        };
        check(db, None, &draft, &target, &settings, &templates).await?;
        let saved = campaign::ActiveModel {
            name: Set(draft.name),
            kind: Set(draft.kind),
            enabled: Set(draft.enabled),
            target: Set(json(&target)?),
            send_hour: Set(draft.send_hour),
            templates: Set(json(&templates)?),
            settings: Set(json(&settings)?),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(db)
        .await
        .or_internal()?;
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
        let current = campaign::Entity::find_by_id(id)
            .one(db)
            .await
            .or_internal()?
            .ok_or_else(|| not_found(format!("campaign {id}")))?;
        let target = match input.target {
            Some(target) => target_of(target)?,
            None => current.target().or_internal()?,
        };
        let settings = match input.settings {
            Some(s) => apply_settings(current.settings().or_internal()?, s),
            None => current.settings().or_internal()?,
        };
        let templates = match input.templates {
            Some(t) => templates_of(t)?,
            None => current.templates_of().unwrap_or_default(),
        };
        let mut draft = current.clone();
        if let Some(name) = input.name {
            draft.name = name.trim().to_owned();
        }
        if let Some(enabled) = input.enabled {
            draft.enabled = enabled;
        }
        if let Some(hour) = input.send_hour {
            draft.send_hour = hour;
        }
        check(db, Some(id), &draft, &target, &settings, &templates).await?;
        let mut record = current.into_active_model();
        record.name = Set(draft.name);
        record.enabled = Set(draft.enabled);
        record.send_hour = Set(draft.send_hour);
        record.target = Set(json(&target)?);
        record.settings = Set(json(&settings)?);
        record.templates = Set(json(&templates)?);
        record.updated_at = Set(Utc::now());
        Ok(Campaign(record.update(db).await.or_internal()?))
    }

    /// Deletes a campaign. Its emails stay (history); queued ones are not sent.
    #[graphql(guard = "RequireScope(Scope::CampaignsWrite)")]
    async fn delete_campaign(&self, ctx: &Context<'_>, id: ID) -> Result<ID> {
        let db = ctx.data::<DatabaseConnection>()?;
        let campaign_id = parse_id("id", &id, "campaign")?;
        let deleted = campaign::Entity::delete_by_id(campaign_id)
            .exec(db)
            .await
            .or_internal()?;
        if deleted.rows_affected == 0 {
            return Err(not_found(format!("campaign {campaign_id}")));
        }
        Ok(id)
    }

    /// Sends a failed or suppressed email again at the next dispatch (attempts start
    /// over). Admin only: it overrides what the dispatcher decided.
    #[graphql(guard = "RequireScope(Scope::Admin)")]
    async fn retry_email(&self, ctx: &Context<'_>, id: ID) -> Result<Email> {
        let db = ctx.data::<DatabaseConnection>()?;
        let email_id = parse_id("id", &id, "email")?;
        let current = email::Entity::find_by_id(email_id)
            .one(db)
            .await
            .or_internal()?
            .ok_or_else(|| not_found(format!("email {email_id}")))?;
        if !matches!(
            current.status,
            entity::EmailStatus::Failed | entity::EmailStatus::Suppressed
        ) {
            return Err(bad_input(
                "id",
                format!(
                    "only FAILED or SUPPRESSED emails can be retried; this one is {}",
                    current.status.as_str()
                ),
            ));
        }
        let now = Utc::now();
        let mut record = current.into_active_model();
        record.status = Set(entity::EmailStatus::Queued);
        record.attempts = Set(0);
        record.suppression_reason = Set(None);
        record.scheduled_for = Set(now);
        record.claimed_until = Set(None);
        record.updated_at = Set(now);
        Ok(Email(record.update(db).await.or_internal()?))
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
        let mut problems = Problems::new();
        let mut clean = Vec::new();
        for (i, address) in addresses.iter().enumerate() {
            match jobs::customers::EmailAddress::parse(address) {
                // The same rule as customers' addresses; the error names the field.
                Err(message) => problems.push(Some(i), format!("addresses[{i}]"), message),
                Ok(address) => {
                    let address = address.into_inner();
                    if !clean.contains(&address) {
                        clean.push(address);
                    }
                }
            }
        }
        problems.into_result().into_api()?;
        jobs::app_settings::save(db, producers::digest::RECIPIENTS_KEY, &clean)
            .await
            .or_internal()?;
        Ok(clean)
    }
}

/// `Customer.emails`: the care emails of one customer, newest first.
pub(crate) async fn customer_emails(
    ctx: &Context<'_>,
    customer_id: i64,
    first: Option<i32>,
    after: Option<String>,
) -> Result<PlainConnection<Email>> {
    require(ctx, Scope::CampaignsRead)?;
    let page = Page::<IdCursor>::forward(first, after)?;
    let loader = ctx
        .data::<async_graphql::dataloader::DataLoader<crate::graphql::loaders::EmailPageLoader>>(
        )?;
    let key = crate::graphql::loaders::EmailPageKey {
        customer_id,
        limit: page.fetch_limit(),
        after: page.cursor.map(|IdCursor(id)| id),
    };
    let rows = loader.load_one(key).await?.unwrap_or_default();
    Ok(by_id(&page, rows, |e| e.id, Email))
}
