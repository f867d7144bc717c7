//! Keeping campaigns: creating, changing and deleting them with every rule checked
//! before anything is written, reading them, which of them act on a stage or a segment,
//! and how their emails fared.

use std::collections::HashMap;

use anyhow::Context;
use chrono::Utc;
use entity::{EmailKind, EmailStatus, campaign, email};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;

use super::{CampaignDocuments, CampaignSettings, Holiday, Target, validate};
use crate::lifecycle::Stage;
use crate::mail::templates::{CampaignTemplates, TemplateSet};
use crate::{DomainError, DomainResult, Problems};

/// Settings to change; None keeps the current (or default) value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SettingsChanges {
    pub offer_prefix: Option<String>,
    pub offer_expiry_days: Option<i64>,
    pub cooldown_days: Option<i64>,
    pub lookback_days: Option<i64>,
    /// Replaces the list.
    pub holidays: Option<Vec<Holiday>>,
    pub days_after_order: Option<i64>,
    pub days_before_expiry: Option<i64>,
}

impl SettingsChanges {
    /// `settings` with these changes made.
    pub fn apply(self, mut settings: CampaignSettings) -> CampaignSettings {
        if let Some(prefix) = self.offer_prefix {
            settings.offer_prefix = prefix;
        }
        if let Some(days) = self.offer_expiry_days {
            settings.offer_expiry_days = days;
        }
        if let Some(days) = self.cooldown_days {
            settings.cooldown_days = days;
        }
        if let Some(days) = self.lookback_days {
            settings.lookback_days = days;
        }
        if let Some(holidays) = self.holidays {
            settings.holidays = holidays;
        }
        if let Some(days) = self.days_after_order {
            settings.days_after_order = days;
        }
        if let Some(days) = self.days_before_expiry {
            settings.days_before_expiry = days;
        }
        settings
    }
}

/// A campaign's own templates as given: (locale, templates), in input order.
pub type TemplatesInput = Vec<(String, TemplateSet)>;

/// A campaign to create.
#[derive(Clone, Debug, PartialEq)]
pub struct NewCampaign {
    pub name: String,
    pub kind: EmailKind,
    pub enabled: bool,
    pub target: Target,
    pub send_hour: i32,
    /// Changes to the default settings.
    pub settings: SettingsChanges,
    pub templates: TemplatesInput,
}

/// Changes to a campaign; None keeps what it has.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CampaignChanges {
    pub name: Option<String>,
    pub enabled: Option<bool>,
    pub target: Option<Target>,
    pub send_hour: Option<i32>,
    pub settings: Option<SettingsChanges>,
    /// Replaces the campaign's own templates (empty: the defaults again).
    pub templates: Option<TemplatesInput>,
}

/// The templates by locale; a locale given twice is refused (one would silently win).
fn templates_by_locale(input: TemplatesInput) -> Result<CampaignTemplates, Problems> {
    let mut templates = CampaignTemplates::new();
    for (i, (locale, set)) in input.into_iter().enumerate() {
        if templates.insert(locale.clone(), set).is_some() {
            return Err(Problems::one(
                format!("input.templates[{i}].locale"),
                format!("`{locale}` is given twice"),
            ));
        }
    }
    Ok(templates)
}

/// A campaign as it would be saved, before it is.
struct Draft<'a> {
    /// None for a new campaign.
    id: Option<i64>,
    name: &'a str,
    kind: EmailKind,
    enabled: bool,
    send_hour: i32,
    target: &'a Target,
    settings: &'a CampaignSettings,
    templates: &'a CampaignTemplates,
}

/// Every problem of a draft, with `input.…` paths: the campaign rules ([`validate`]),
/// the targeted segment's existence and a name no other campaign has.
async fn check(db: &impl ConnectionTrait, draft: &Draft<'_>) -> DomainResult<()> {
    let mut problems = Problems::new();
    for invalid in validate(
        draft.name,
        draft.kind,
        draft.enabled,
        draft.send_hour,
        draft.target,
        draft.settings,
        draft.templates,
    ) {
        problems.push(None, format!("input.{}", invalid.field), invalid.message);
    }
    // A lookup by key in the segments' table: the campaign only needs to know it exists.
    if let Some(segment_id) = draft.target.segment_id
        && entity::segment::Entity::find_by_id(segment_id)
            .one(db)
            .await
            .context("failed to look up the targeted segment")?
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
    if let Some(id) = draft.id {
        same_name = same_name.filter(campaign::Column::Id.ne(id));
    }
    let taken = same_name
        .count(db)
        .await
        .context("failed to look for a campaign of the same name")?;
    if taken > 0 {
        problems.push(None, "input.name", "another campaign has this name");
    }
    Ok(problems.into_result()?)
}

fn json<T: Serialize>(value: &T, what: &str) -> anyhow::Result<String> {
    serde_json::to_string(value).with_context(|| format!("failed to write the campaign's {what}"))
}

/// Creates a campaign (name trimmed, settings from the defaults) once every rule holds.
pub async fn create(db: &impl ConnectionTrait, new: NewCampaign) -> DomainResult<campaign::Model> {
    let templates = templates_by_locale(new.templates)?;
    let settings = new.settings.apply(CampaignSettings::default());
    let name = new.name.trim().to_owned();
    check(
        db,
        &Draft {
            id: None,
            name: &name,
            kind: new.kind,
            enabled: new.enabled,
            send_hour: new.send_hour,
            target: &new.target,
            settings: &settings,
            templates: &templates,
        },
    )
    .await?;
    let now = Utc::now();
    Ok(campaign::ActiveModel {
        name: Set(name),
        kind: Set(new.kind),
        enabled: Set(new.enabled),
        target: Set(json(&new.target, "target")?),
        send_hour: Set(new.send_hour),
        templates: Set(json(&templates, "templates")?),
        settings: Set(json(&settings, "settings")?),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
    .context("failed to save the campaign")?)
}

/// Changes a campaign (enable it, retarget it, new templates or timing) once the
/// result obeys every rule.
pub async fn update(
    db: &impl ConnectionTrait,
    id: i64,
    changes: CampaignChanges,
) -> DomainResult<campaign::Model> {
    let current = find(db, id)
        .await?
        .ok_or_else(|| DomainError::not_found(format!("campaign {id}")))?;
    let target = match changes.target {
        Some(target) => target,
        None => current.target()?,
    };
    let settings = match changes.settings {
        Some(changes) => changes.apply(current.settings()?),
        None => current.settings()?,
    };
    let templates = match changes.templates {
        Some(templates) => templates_by_locale(templates)?,
        None => current.templates_of().unwrap_or_default(),
    };
    let name = changes
        .name
        .map_or_else(|| current.name.clone(), |name| name.trim().to_owned());
    let enabled = changes.enabled.unwrap_or(current.enabled);
    let send_hour = changes.send_hour.unwrap_or(current.send_hour);
    check(
        db,
        &Draft {
            id: Some(id),
            name: &name,
            kind: current.kind,
            enabled,
            send_hour,
            target: &target,
            settings: &settings,
            templates: &templates,
        },
    )
    .await?;
    let mut record = current.into_active_model();
    record.name = Set(name);
    record.enabled = Set(enabled);
    record.send_hour = Set(send_hour);
    record.target = Set(json(&target, "target")?);
    record.settings = Set(json(&settings, "settings")?);
    record.templates = Set(json(&templates, "templates")?);
    record.updated_at = Set(Utc::now());
    Ok(record
        .update(db)
        .await
        .context("failed to save the campaign")?)
}

/// Deletes a campaign. Its emails stay (history); queued ones are not sent.
pub async fn delete(db: &impl ConnectionTrait, id: i64) -> DomainResult<()> {
    let deleted = campaign::Entity::delete_by_id(id)
        .exec(db)
        .await
        .context("failed to delete the campaign")?;
    if deleted.rows_affected == 0 {
        return Err(DomainError::not_found(format!("campaign {id}")));
    }
    Ok(())
}

/// The campaign with this id, if any.
pub async fn find(db: &impl ConnectionTrait, id: i64) -> DomainResult<Option<campaign::Model>> {
    Ok(campaign::Entity::find_by_id(id)
        .one(db)
        .await
        .context("failed to load the campaign")?)
}

/// Up to `limit` campaigns by id, after the id `after`.
pub async fn page(
    db: &impl ConnectionTrait,
    after: Option<i64>,
    limit: u64,
) -> DomainResult<Vec<campaign::Model>> {
    let mut query = campaign::Entity::find()
        .order_by_asc(campaign::Column::Id)
        .limit(limit);
    if let Some(after) = after {
        query = query.filter(campaign::Column::Id.gt(after));
    }
    Ok(query
        .all(db)
        .await
        .context("failed to load a page of campaigns")?)
}

/// Every campaign, by id: a short list, read whole by those who pick from it.
pub async fn all(db: &impl ConnectionTrait) -> DomainResult<Vec<campaign::Model>> {
    Ok(campaign::Entity::find()
        .order_by_asc(campaign::Column::Id)
        .all(db)
        .await
        .context("failed to load the campaigns")?)
}

/// Whether a campaign acts on a lifecycle stage: it targets the stage, or the stage's
/// entry triggers it (win-back for SILENT and CHURNED, welcome for NEW).
pub fn acts_on_stage(campaign: &campaign::Model, stage: Stage) -> bool {
    let triggered = match campaign.kind {
        EmailKind::WinBack => stage.is_lapsed(),
        EmailKind::Welcome => stage == Stage::New,
        _ => false,
    };
    triggered || campaign.target().is_ok_and(|t| t.stages.contains(&stage))
}

/// Whether a campaign targets a segment (the segment's strategy in action).
pub fn targets_segment(campaign: &campaign::Model, segment_id: i64) -> bool {
    campaign
        .target()
        .is_ok_and(|t| t.segment_id == Some(segment_id))
}

/// How a campaign's emails fared, all time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CampaignStats {
    /// Still to go: queued, being sent or waiting for a retry.
    pub queued: u64,
    pub sent: u64,
    pub failed: u64,
    pub suppressed: u64,
    pub unsubscribed: u64,
    pub converted: u64,
}

/// The stats of each campaign asked about (zeros for one without emails), in one
/// grouped statement.
pub async fn email_stats(
    db: &impl ConnectionTrait,
    campaign_ids: &[i64],
) -> DomainResult<HashMap<i64, CampaignStats>> {
    let rows: Vec<(i64, EmailStatus, i64, i64, i64)> = email::Entity::find()
        .select_only()
        .column(email::Column::CampaignId)
        .column(email::Column::Status)
        .column_as(email::Column::Id.count(), "n")
        .column_as(email::Column::UnsubscribedAt.count(), "unsubscribed")
        .column_as(email::Column::ConvertedAt.count(), "converted")
        .filter(email::Column::CampaignId.is_in(campaign_ids.iter().copied()))
        .group_by(email::Column::CampaignId)
        .group_by(email::Column::Status)
        .into_tuple()
        .all(db)
        .await
        .context("failed to count the campaigns' emails")?;
    let mut stats: HashMap<i64, CampaignStats> = campaign_ids
        .iter()
        .map(|id| (*id, CampaignStats::default()))
        .collect();
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    for (campaign_id, status, n, unsubscribed, converted) in rows {
        let of = stats.entry(campaign_id).or_default();
        match status {
            EmailStatus::Queued | EmailStatus::Sending | EmailStatus::Retrying => {
                of.queued += count(n)
            }
            EmailStatus::Sent => of.sent += count(n),
            EmailStatus::Failed => of.failed += count(n),
            EmailStatus::Suppressed => of.suppressed += count(n),
        }
        of.unsubscribed += count(unsubscribed);
        of.converted += count(converted);
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn campaign(kind: EmailKind, target: &Target) -> campaign::Model {
        let now = Utc::now();
        campaign::Model {
            id: 1,
            name: "Test".into(),
            kind,
            enabled: true,
            target: serde_json::to_string(target).unwrap(),
            send_hour: 9,
            templates: "{}".into(),
            settings: "{}".into(),
            last_run_at: None,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn a_stage_is_acted_on_by_its_triggered_kinds_and_by_campaigns_targeting_it() {
        let everyone = Target::default();
        let win_back = campaign(EmailKind::WinBack, &everyone);
        assert!(acts_on_stage(&win_back, Stage::Silent));
        assert!(acts_on_stage(&win_back, Stage::Churned));
        assert!(!acts_on_stage(&win_back, Stage::Active));
        assert!(acts_on_stage(
            &campaign(EmailKind::Welcome, &everyone),
            Stage::New
        ));
        let loyal = Target {
            stages: vec![Stage::Loyal],
            segment_id: Some(4),
            ..Target::default()
        };
        let birthday = campaign(EmailKind::Birthday, &loyal);
        assert!(acts_on_stage(&birthday, Stage::Loyal));
        assert!(!acts_on_stage(&birthday, Stage::New));
        assert!(targets_segment(&birthday, 4));
        assert!(!targets_segment(&birthday, 5));
    }

    /// `campaigns.target` rows written while stages and tiers were strings: the typed
    /// target reads them, and writes the same bytes back.
    #[test]
    fn targets_stored_with_string_names_read_back_and_are_written_unchanged() {
        use entity::ValueTier;
        use sea_orm::Iterable;

        /// The target as it was: names as strings, the same serde attributes.
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct StoredTarget {
            segment_id: Option<i64>,
            stages: Vec<String>,
            tiers: Vec<String>,
        }

        let rows = [
            r#"{"segmentId":null,"stages":[],"tiers":[]}"#.to_owned(),
            r#"{"segmentId":4,"stages":["LOYAL","SILENT"],"tiers":["HIGH"]}"#.to_owned(),
            serde_json::to_string(&StoredTarget {
                segment_id: Some(7),
                stages: Stage::ALL.iter().map(|s| s.as_str().to_owned()).collect(),
                tiers: vec!["HIGH".into(), "MEDIUM".into(), "LOW".into()],
            })
            .unwrap(),
        ];
        for row in &rows {
            let target: Target = serde_json::from_str(row).unwrap();
            assert_eq!(&serde_json::to_string(&target).unwrap(), row);
        }
        let loyal: Target = serde_json::from_str(&rows[1]).unwrap();
        assert_eq!(
            loyal,
            Target {
                segment_id: Some(4),
                stages: vec![Stage::Loyal, Stage::Silent],
                tiers: vec![ValueTier::High],
            }
        );
        let every: Target = serde_json::from_str(&rows[2]).unwrap();
        assert_eq!(every.stages, Stage::iter().collect::<Vec<_>>());
        assert_eq!(every.tiers, ValueTier::iter().collect::<Vec<_>>());
        // Older rows may lack parts; an unknown name is an unreadable target, not a
        // silently narrower one.
        assert_eq!(
            serde_json::from_str::<Target>("{}").unwrap(),
            Target::default()
        );
        assert!(serde_json::from_str::<Target>(r#"{"stages":["Loyal"]}"#).is_err());
    }

    #[test]
    fn a_locale_given_twice_is_refused_at_its_second_place() {
        let set = TemplateSet::default();
        let problems = templates_by_locale(vec![
            ("en".into(), set.clone()),
            ("zh-CN".into(), set.clone()),
            ("en".into(), set),
        ])
        .unwrap_err();
        assert_eq!(problems.as_slice()[0].field, "input.templates[2].locale");
    }

    #[test]
    fn settings_changes_keep_what_they_do_not_name() {
        let changed = SettingsChanges {
            cooldown_days: Some(30),
            ..SettingsChanges::default()
        }
        .apply(CampaignSettings::default());
        assert_eq!(changed.cooldown_days, 30);
        assert_eq!(
            changed.offer_prefix,
            CampaignSettings::default().offer_prefix
        );
    }
}
