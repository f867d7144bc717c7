//! What a client sends to create or change a campaign, and its mapping to the
//! domain's typed input (`jobs::campaigns::{NewCampaign, CampaignChanges}`).

use async_graphql::{ID, InputObject, Result};
use jobs::campaigns::{self as domain, Holiday, Target};
use jobs::mail::templates::TemplateSet;

use super::{CampaignTemplate, parse_id};
use crate::graphql::{
    enums::EmailKind, lifecycle::LifecycleStage, scalars::Date, value::ValueTier,
};

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
    /// Win-back, survey and points expiring: at most one email of the campaign's kind per
    /// customer in this many days (0–3650; default 90, 30 for the built-in points
    /// reminder).
    pub cooldown_days: Option<i64>,
    /// How far back producers look, in days: first orders (welcome), lapse days (win-back:
    /// only customers who lapsed this many days ago or less, 0–366), segment entries,
    /// orders up to this many days before the survey's day (survey: a missed run).
    pub lookback_days: Option<i64>,
    /// Holiday: the dates greeted (replaces the list).
    pub holidays: Option<Vec<CampaignHolidayInput>>,
    /// Survey: sent this many days after an order, on the customer's local calendar
    /// (1–365; default 7).
    pub days_after_order: Option<i64>,
    /// Points expiring: the reminder names the points that expire by the end of the
    /// customer's local day this many days ahead (1–365; default 30).
    pub days_before_expiry: Option<i64>,
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
        stages: input.stages.into_iter().map(Into::into).collect(),
        tiers: input.tiers.into_iter().map(Into::into).collect(),
    })
}

impl From<CampaignSettingsInput> for domain::SettingsChanges {
    fn from(input: CampaignSettingsInput) -> Self {
        Self {
            offer_prefix: input.offer_prefix,
            offer_expiry_days: input.offer_expiry_days,
            cooldown_days: input.cooldown_days,
            lookback_days: input.lookback_days,
            holidays: input.holidays.map(|holidays| {
                holidays
                    .into_iter()
                    .map(|h| Holiday {
                        date: h.date.0,
                        name: h.name,
                        name_zh_cn: h.name_zh_cn,
                        name_zh_hant: h.name_zh_hant,
                    })
                    .collect()
            }),
            days_after_order: input.days_after_order,
            days_before_expiry: input.days_before_expiry,
        }
    }
}

fn templates_of(input: Vec<CampaignTemplate>) -> domain::TemplatesInput {
    input
        .into_iter()
        .map(|t| {
            let set = TemplateSet {
                subject: t.subject,
                html: t.html,
                text: t.text,
            };
            (t.locale, set)
        })
        .collect()
}

impl CreateCampaignInput {
    pub(super) fn into_domain(self) -> Result<domain::NewCampaign> {
        Ok(domain::NewCampaign {
            name: self.name,
            kind: self.kind.into(),
            enabled: self.enabled,
            target: target_of(self.target.unwrap_or_default())?,
            send_hour: self.send_hour,
            settings: self.settings.unwrap_or_default().into(),
            templates: templates_of(self.templates.unwrap_or_default()),
        })
    }
}

impl UpdateCampaignInput {
    pub(super) fn into_domain(self) -> Result<domain::CampaignChanges> {
        Ok(domain::CampaignChanges {
            name: self.name,
            enabled: self.enabled,
            target: self.target.map(target_of).transpose()?,
            send_hour: self.send_hour,
            settings: self.settings.map(Into::into),
            templates: self.templates.map(templates_of),
        })
    }
}
