use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A customer's gender as they gave it.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum Gender {
    #[sea_orm(string_value = "FEMALE")]
    Female,
    #[sea_orm(string_value = "MALE")]
    Male,
    #[sea_orm(string_value = "OTHER")]
    Other,
    #[sea_orm(string_value = "UNKNOWN")]
    Unknown,
}

/// Where an interaction happened.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum InteractionChannel {
    #[sea_orm(string_value = "PHONE")]
    Phone,
    #[sea_orm(string_value = "EMAIL")]
    Email,
    #[sea_orm(string_value = "SMS")]
    Sms,
    #[sea_orm(string_value = "WECHAT")]
    Wechat,
    #[sea_orm(string_value = "SOCIAL")]
    Social,
    #[sea_orm(string_value = "VISIT")]
    Visit,
    #[sea_orm(string_value = "WEB")]
    Web,
    #[sea_orm(string_value = "OTHER")]
    Other,
}

/// Who started an interaction.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum Direction {
    #[sea_orm(string_value = "INBOUND")]
    Inbound,
    #[sea_orm(string_value = "OUTBOUND")]
    Outbound,
}

/// The survey a feedback score answers.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum FeedbackKind {
    /// Net Promoter Score, 0–10.
    #[sea_orm(string_value = "NPS")]
    Nps,
    /// Customer satisfaction, 1–5.
    #[sea_orm(string_value = "CSAT")]
    Csat,
}

impl FeedbackKind {
    /// The stored name, for SQL written by hand and messages.
    pub const fn as_str(self) -> &'static str {
        match self {
            FeedbackKind::Nps => "NPS",
            FeedbackKind::Csat => "CSAT",
        }
    }

    /// The inclusive range of valid scores.
    pub fn score_range(self) -> std::ops::RangeInclusive<i32> {
        match self {
            FeedbackKind::Nps => 0..=10,
            FeedbackKind::Csat => 1..=5,
        }
    }
}

/// Where a feedback topic comes from (`feedback_topics.source`).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum TopicSource {
    /// Sent with the answer (`topics`), normalised.
    #[sea_orm(string_value = "TAG")]
    Tag,
    /// Extracted from the answer's comment, which had no tags.
    #[sea_orm(string_value = "EXTRACTED")]
    Extracted,
}

impl TopicSource {
    /// The stored name, for SQL written by hand.
    pub const fn as_str(self) -> &'static str {
        match self {
            TopicSource::Tag => "TAG",
            TopicSource::Extracted => "EXTRACTED",
        }
    }
}

/// What a care campaign sends, and so which producer finds its recipients.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
pub enum EmailKind {
    #[sea_orm(string_value = "BIRTHDAY")]
    Birthday,
    #[sea_orm(string_value = "WIN_BACK")]
    WinBack,
    #[sea_orm(string_value = "WELCOME")]
    Welcome,
    #[sea_orm(string_value = "PURCHASE_ANNIVERSARY")]
    PurchaseAnniversary,
    #[sea_orm(string_value = "HOLIDAY")]
    Holiday,
    #[sea_orm(string_value = "SEGMENT_ENTRY")]
    SegmentEntry,
    /// A satisfaction survey some days after an order: eleven signed score links.
    #[sea_orm(string_value = "SURVEY")]
    Survey,
    /// Congratulations on moving up a membership tier, with the new tier's benefits.
    #[sea_orm(string_value = "TIER_UPGRADE")]
    TierUpgrade,
    /// A reminder some days before a member's points expire.
    #[sea_orm(string_value = "POINTS_EXPIRING")]
    PointsExpiring,
    /// The weekly report to marketers (no campaign, no customer).
    #[sea_orm(string_value = "DIGEST")]
    Digest,
}

impl EmailKind {
    /// The kinds a campaign can have (the digest is not a campaign).
    pub const CAMPAIGN_KINDS: [EmailKind; 9] = [
        EmailKind::Birthday,
        EmailKind::WinBack,
        EmailKind::Welcome,
        EmailKind::PurchaseAnniversary,
        EmailKind::Holiday,
        EmailKind::SegmentEntry,
        EmailKind::Survey,
        EmailKind::TierUpgrade,
        EmailKind::PointsExpiring,
    ];

    /// The stored name, e.g. `WIN_BACK`.
    pub fn as_str(self) -> &'static str {
        match self {
            EmailKind::Birthday => "BIRTHDAY",
            EmailKind::WinBack => "WIN_BACK",
            EmailKind::Welcome => "WELCOME",
            EmailKind::PurchaseAnniversary => "PURCHASE_ANNIVERSARY",
            EmailKind::Holiday => "HOLIDAY",
            EmailKind::SegmentEntry => "SEGMENT_ENTRY",
            EmailKind::Survey => "SURVEY",
            EmailKind::TierUpgrade => "TIER_UPGRADE",
            EmailKind::PointsExpiring => "POINTS_EXPIRING",
            EmailKind::Digest => "DIGEST",
        }
    }

    /// The template file stem, e.g. `win_back`.
    pub fn template_name(self) -> &'static str {
        match self {
            EmailKind::Birthday => "birthday",
            EmailKind::WinBack => "win_back",
            EmailKind::Welcome => "welcome",
            EmailKind::PurchaseAnniversary => "purchase_anniversary",
            EmailKind::Holiday => "holiday",
            EmailKind::SegmentEntry => "segment_entry",
            EmailKind::Survey => "survey",
            EmailKind::TierUpgrade => "tier_upgrade",
            EmailKind::PointsExpiring => "points_expiring",
            EmailKind::Digest => "digest",
        }
    }
}

/// Where an email is on its way out.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum EmailStatus {
    /// Waiting for its scheduled time.
    #[sea_orm(string_value = "QUEUED")]
    Queued,
    /// Claimed by a dispatcher (until `claimed_until`).
    #[sea_orm(string_value = "SENDING")]
    Sending,
    /// A transient failure; tried again at `scheduled_for`.
    #[sea_orm(string_value = "RETRYING")]
    Retrying,
    #[sea_orm(string_value = "SENT")]
    Sent,
    /// A permanent failure, or transient ones up to the attempt limit.
    #[sea_orm(string_value = "FAILED")]
    Failed,
    /// Not sent on purpose: see `suppression_reason`.
    #[sea_orm(string_value = "SUPPRESSED")]
    Suppressed,
}

impl EmailStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EmailStatus::Queued => "QUEUED",
            EmailStatus::Sending => "SENDING",
            EmailStatus::Retrying => "RETRYING",
            EmailStatus::Sent => "SENT",
            EmailStatus::Failed => "FAILED",
            EmailStatus::Suppressed => "SUPPRESSED",
        }
    }
}

/// Why an email was not sent on purpose (`emails.suppression_reason`, set with
/// [`EmailStatus::Suppressed`]). The API shows it as the stored text.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
pub enum SuppressionReason {
    /// The customer was erased (or is gone).
    #[sea_orm(string_value = "ERASED")]
    Erased,
    /// No marketing consent, withdrawn through an unsubscribe link.
    #[sea_orm(string_value = "UNSUBSCRIBED")]
    Unsubscribed,
    /// No marketing consent, never given or withdrawn otherwise.
    #[sea_orm(string_value = "NO_CONSENT")]
    NoConsent,
    #[sea_orm(string_value = "NO_ADDRESS")]
    NoAddress,
    /// An address that does not parse.
    #[sea_orm(string_value = "INVALID_ADDRESS")]
    InvalidAddress,
    /// Its campaign was disabled or deleted before it went out.
    #[sea_orm(string_value = "CAMPAIGN_DISABLED")]
    CampaignDisabled,
}

impl SuppressionReason {
    /// The stored (and GraphQL) name.
    pub const fn as_str(self) -> &'static str {
        match self {
            SuppressionReason::Erased => "ERASED",
            SuppressionReason::Unsubscribed => "UNSUBSCRIBED",
            SuppressionReason::NoConsent => "NO_CONSENT",
            SuppressionReason::NoAddress => "NO_ADDRESS",
            SuppressionReason::InvalidAddress => "INVALID_ADDRESS",
            SuppressionReason::CampaignDisabled => "CAMPAIGN_DISABLED",
        }
    }
}

/// How a segment's members are decided (`segments.kind`).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum SegmentKind {
    /// Members are the customers the rule matches, refreshed by the `segments` job.
    #[sea_orm(string_value = "DYNAMIC")]
    Dynamic,
    /// Members are added and removed by hand.
    #[sea_orm(string_value = "STATIC")]
    Static,
}

impl SegmentKind {
    /// The stored name, for SQL written by hand.
    pub const fn as_str(self) -> &'static str {
        match self {
            SegmentKind::Dynamic => "DYNAMIC",
            SegmentKind::Static => "STATIC",
        }
    }
}

/// Which way a customer crossed a segment's edge (`segment_events.kind`).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(8))")]
pub enum ChangeKind {
    #[sea_orm(string_value = "ENTERED")]
    Entered,
    #[sea_orm(string_value = "EXITED")]
    Exited,
}

impl ChangeKind {
    /// The stored name, for SQL written by hand.
    pub const fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Entered => "ENTERED",
            ChangeKind::Exited => "EXITED",
        }
    }
}

/// What a loyalty ledger entry is (`loyalty_ledger.kind`).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum LedgerKind {
    /// Points for an order, once per order.
    #[sea_orm(string_value = "EARN")]
    Earn,
    /// Points given for a birthday or a referral.
    #[sea_orm(string_value = "BONUS")]
    Bonus,
    /// Points spent by the member.
    #[sea_orm(string_value = "REDEEM")]
    Redeem,
    /// Points given or taken by an admin, with a reason.
    #[sea_orm(string_value = "ADJUST")]
    Adjust,
    /// Points that were not used in time.
    #[sea_orm(string_value = "EXPIRE")]
    Expire,
}

impl LedgerKind {
    /// The stored name, for SQL written by hand.
    pub const fn as_str(self) -> &'static str {
        match self {
            LedgerKind::Earn => "EARN",
            LedgerKind::Bonus => "BONUS",
            LedgerKind::Redeem => "REDEEM",
            LedgerKind::Adjust => "ADJUST",
            LedgerKind::Expire => "EXPIRE",
        }
    }
}

/// What a loyalty tier event records (`loyalty_tier_events.reason`).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum TierChange {
    /// Qualified for a higher tier (or for a first one): moved up at once.
    #[sea_orm(string_value = "UPGRADE")]
    Upgrade,
    /// Qualified only for a lower tier: the grace period before a downgrade began.
    #[sea_orm(string_value = "GRACE_STARTED")]
    GraceStarted,
    /// Qualified again for the tier during the grace period: no downgrade.
    #[sea_orm(string_value = "REQUALIFIED")]
    Requalified,
    /// The grace period passed without qualifying again: moved down.
    #[sea_orm(string_value = "DOWNGRADE")]
    Downgrade,
}

impl TierChange {
    /// The stored name, for SQL written by hand.
    pub const fn as_str(self) -> &'static str {
        match self {
            TierChange::Upgrade => "UPGRADE",
            TierChange::GraceStarted => "GRACE_STARTED",
            TierChange::Requalified => "REQUALIFIED",
            TierChange::Downgrade => "DOWNGRADE",
        }
    }
}

/// Where a customer is in their life with the business (`customer_lifecycle.stage`,
/// `lifecycle_events.from_stage`/`to_stage`, `lifecycle_playbooks.stage`). In JSON
/// (campaign targets) as stored: `"ACTIVE"`.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "UPPERCASE")]
pub enum LifecycleStage {
    #[sea_orm(string_value = "PROSPECT")]
    Prospect,
    #[sea_orm(string_value = "NEW")]
    New,
    #[sea_orm(string_value = "ACTIVE")]
    Active,
    #[sea_orm(string_value = "LOYAL")]
    Loyal,
    #[sea_orm(string_value = "SILENT")]
    Silent,
    #[sea_orm(string_value = "CHURNED")]
    Churned,
}

impl LifecycleStage {
    pub const ALL: [LifecycleStage; 6] = [
        LifecycleStage::Prospect,
        LifecycleStage::New,
        LifecycleStage::Active,
        LifecycleStage::Loyal,
        LifecycleStage::Silent,
        LifecycleStage::Churned,
    ];

    /// The stored (and GraphQL) name, for SQL written by hand.
    pub const fn as_str(self) -> &'static str {
        match self {
            LifecycleStage::Prospect => "PROSPECT",
            LifecycleStage::New => "NEW",
            LifecycleStage::Active => "ACTIVE",
            LifecycleStage::Loyal => "LOYAL",
            LifecycleStage::Silent => "SILENT",
            LifecycleStage::Churned => "CHURNED",
        }
    }

    /// Silent and churned customers are the ones a new order brings back.
    pub fn is_lapsed(self) -> bool {
        matches!(self, LifecycleStage::Silent | LifecycleStage::Churned)
    }
}

/// A customer's value tier by predicted CLV percentile (`customer_values.value_tier`).
/// In JSON (campaign targets) as stored: `"HIGH"`.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(8))")]
#[serde(rename_all = "UPPERCASE")]
pub enum ValueTier {
    #[sea_orm(string_value = "HIGH")]
    High,
    #[sea_orm(string_value = "MEDIUM")]
    Medium,
    #[sea_orm(string_value = "LOW")]
    Low,
}

impl ValueTier {
    /// Best first.
    pub const ALL: [ValueTier; 3] = [ValueTier::High, ValueTier::Medium, ValueTier::Low];

    /// The stored (and GraphQL) name, for SQL written by hand and the segment rules.
    pub const fn as_str(self) -> &'static str {
        match self {
            ValueTier::High => "HIGH",
            ValueTier::Medium => "MEDIUM",
            ValueTier::Low => "LOW",
        }
    }

    /// This tier and every better one ("at least MEDIUM": HIGH and MEDIUM).
    pub fn and_better(self) -> &'static [ValueTier] {
        match self {
            ValueTier::High => &Self::ALL[..1],
            ValueTier::Medium => &Self::ALL[..2],
            ValueTier::Low => &Self::ALL,
        }
    }
}

/// The named RFM groups of the common 11-segment map (`customer_values.rfm_group`; the
/// rules are `jobs::value::rfm`'s). Stored, and in JSON, by the name people read:
/// `"Potential loyalist"`.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
pub enum RfmGroup {
    #[sea_orm(string_value = "Champions")]
    Champions,
    #[sea_orm(string_value = "Loyal")]
    Loyal,
    #[sea_orm(string_value = "Potential loyalist")]
    #[serde(rename = "Potential loyalist")]
    PotentialLoyalist,
    #[sea_orm(string_value = "New customers")]
    #[serde(rename = "New customers")]
    NewCustomers,
    #[sea_orm(string_value = "Promising")]
    Promising,
    #[sea_orm(string_value = "Need attention")]
    #[serde(rename = "Need attention")]
    NeedAttention,
    #[sea_orm(string_value = "About to sleep")]
    #[serde(rename = "About to sleep")]
    AboutToSleep,
    #[sea_orm(string_value = "At risk")]
    #[serde(rename = "At risk")]
    AtRisk,
    #[sea_orm(string_value = "Can't lose them")]
    #[serde(rename = "Can't lose them")]
    CantLoseThem,
    #[sea_orm(string_value = "Hibernating")]
    Hibernating,
    #[sea_orm(string_value = "Lost")]
    Lost,
}

impl RfmGroup {
    /// Every group, best first.
    pub const ALL: [RfmGroup; 11] = [
        RfmGroup::Champions,
        RfmGroup::Loyal,
        RfmGroup::PotentialLoyalist,
        RfmGroup::NewCustomers,
        RfmGroup::Promising,
        RfmGroup::NeedAttention,
        RfmGroup::AboutToSleep,
        RfmGroup::AtRisk,
        RfmGroup::CantLoseThem,
        RfmGroup::Hibernating,
        RfmGroup::Lost,
    ];

    /// The stored name, also the one shown to people, for SQL written by hand and the
    /// segment rules.
    pub const fn as_str(self) -> &'static str {
        match self {
            RfmGroup::Champions => "Champions",
            RfmGroup::Loyal => "Loyal",
            RfmGroup::PotentialLoyalist => "Potential loyalist",
            RfmGroup::NewCustomers => "New customers",
            RfmGroup::Promising => "Promising",
            RfmGroup::NeedAttention => "Need attention",
            RfmGroup::AboutToSleep => "About to sleep",
            RfmGroup::AtRisk => "At risk",
            RfmGroup::CantLoseThem => "Can't lose them",
            RfmGroup::Hibernating => "Hibernating",
            RfmGroup::Lost => "Lost",
        }
    }
}

/// The unit of a fitted value model's times (`value_models.time_unit`).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum ModelTimeUnit {
    #[sea_orm(string_value = "DAYS")]
    Days,
    #[sea_orm(string_value = "WEEKS")]
    Weeks,
}

/// The jobs clientele runs (`job_runs.name`), by the names `run-job`, `runJob`, the
/// `jobs` query and the saved schedules use. (`job_leases.name` holds these too, beside
/// the runs' heartbeats, `run:<id>`: that column stays text.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(64))")]
pub enum JobName {
    /// RFM, BG/NBD + Gamma-Gamma lifetime value, churn risk, tiers, composite value.
    #[sea_orm(string_value = "value-scores")]
    ValueScores,
    /// Lifecycle stages and their changes.
    #[sea_orm(string_value = "lifecycle")]
    Lifecycle,
    /// Refreshes the membership of every dynamic segment.
    #[sea_orm(string_value = "segments")]
    Segments,
    /// Every enabled campaign's producer (queues care emails), then win-back conversions.
    #[sea_orm(string_value = "campaigns")]
    Campaigns,
    /// Sends the due emails of the outbox.
    #[sea_orm(string_value = "email-dispatch")]
    EmailDispatch,
    /// Queues the weekly marketer digest.
    #[sea_orm(string_value = "marketer-digest")]
    MarketerDigest,
    /// The loyalty programme's day: points earned, birthday bonuses, expiries, tiers.
    #[sea_orm(string_value = "loyalty")]
    Loyalty,
}

impl JobName {
    pub const ALL: [JobName; 7] = [
        JobName::ValueScores,
        JobName::Lifecycle,
        JobName::Segments,
        JobName::Campaigns,
        JobName::EmailDispatch,
        JobName::MarketerDigest,
        JobName::Loyalty,
    ];

    /// The stored name, also the one people type (`run-job value-scores`).
    pub const fn as_str(self) -> &'static str {
        match self {
            JobName::ValueScores => "value-scores",
            JobName::Lifecycle => "lifecycle",
            JobName::Segments => "segments",
            JobName::Campaigns => "campaigns",
            JobName::EmailDispatch => "email-dispatch",
            JobName::MarketerDigest => "marketer-digest",
            JobName::Loyalty => "loyalty",
        }
    }

    /// What the job does, in one line (`run-job --help`, the `jobs` query's readers).
    pub fn description(self) -> &'static str {
        match self {
            JobName::ValueScores => {
                "RFM, BG/NBD + Gamma-Gamma lifetime value, churn risk, value tiers, composite value"
            }
            JobName::Lifecycle => {
                "Lifecycle stages (new, active, loyal, silent, churned) and their changes"
            }
            JobName::Segments => "Refreshes the membership of every dynamic segment",
            JobName::Campaigns => {
                "Runs every enabled campaign's producer (queues care emails), then win-back conversions"
            }
            JobName::EmailDispatch => "Sends the due emails of the outbox",
            JobName::MarketerDigest => "Queues the weekly marketer digest",
            JobName::Loyalty => {
                "Loyalty points earned from orders, birthday bonuses, expiries, tiers with grace"
            }
        }
    }

    /// The job with this name (surrounding spaces ignored), or an error listing the
    /// known ones.
    pub fn parse(name: &str) -> Result<Self, String> {
        Self::named(name.trim()).ok_or_else(|| {
            let known: Vec<&str> = Self::ALL.iter().map(|job| job.as_str()).collect();
            format!("unknown job `{name}` (known: {})", known.join(", "))
        })
    }

    /// The job with exactly this name.
    pub fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|job| job.as_str() == name)
    }
}

/// Existing databases hold these exact strings (written before the columns were typed,
/// and by the migrations' seeds), so they must read back unchanged: these tests pin
/// them and check they fit the column width the migrations created.
#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::Iterable;
    use sea_orm::sea_query::{ColumnType, StringLen};

    /// The enum stores exactly `stored`, in variant order, reads each back, and each
    /// fits its column.
    fn pins<E>(stored: &[&str])
    where
        E: ActiveEnum<Value = String> + Iterable + std::fmt::Debug + PartialEq,
    {
        let values: Vec<String> = E::iter().map(|v| v.to_value()).collect();
        assert_eq!(values, stored, "{}", std::any::type_name::<E>());
        for value in &values {
            assert_eq!(
                E::try_from_value(value).map(|v| v.to_value()).ok().as_ref(),
                Some(value)
            );
        }
        match E::db_type().get_column_type() {
            ColumnType::String(StringLen::N(width)) => {
                assert!(values.iter().all(|v| v.len() <= *width as usize))
            }
            ColumnType::String(StringLen::None) | ColumnType::Text => {}
            other => panic!("unexpected column type {other:?}"),
        }
    }

    /// `as_str` (what SQL written by hand binds, and what the API shows) says exactly
    /// what the column stores.
    fn as_str_is_stored<E>(as_str: fn(E) -> &'static str)
    where
        E: ActiveEnum<Value = String> + Iterable + Copy,
    {
        for variant in E::iter() {
            assert_eq!(as_str(variant), variant.to_value());
        }
    }

    /// What the dispatcher and the erasure have always written.
    #[test]
    fn suppression_reasons_read_existing_rows() {
        pins::<SuppressionReason>(&[
            "ERASED",
            "UNSUBSCRIBED",
            "NO_CONSENT",
            "NO_ADDRESS",
            "INVALID_ADDRESS",
            "CAMPAIGN_DISABLED",
        ]);
        as_str_is_stored(SuppressionReason::as_str);
    }

    /// What the producers and the digest have always written, and the kinds added since.
    #[test]
    fn email_kinds_read_existing_rows() {
        pins::<EmailKind>(&[
            "BIRTHDAY",
            "WIN_BACK",
            "WELCOME",
            "PURCHASE_ANNIVERSARY",
            "HOLIDAY",
            "SEGMENT_ENTRY",
            "SURVEY",
            "TIER_UPGRADE",
            "POINTS_EXPIRING",
            "DIGEST",
        ]);
        as_str_is_stored(EmailKind::as_str);
        assert!(!EmailKind::CAMPAIGN_KINDS.contains(&EmailKind::Digest));
    }

    #[test]
    fn segment_enums_read_existing_rows() {
        pins::<SegmentKind>(&["DYNAMIC", "STATIC"]);
        pins::<ChangeKind>(&["ENTERED", "EXITED"]);
        as_str_is_stored(SegmentKind::as_str);
        as_str_is_stored(ChangeKind::as_str);
    }

    /// What every run has been recorded under, and what `run-job` and `runJob` take.
    #[test]
    fn job_names_read_existing_rows() {
        pins::<JobName>(&[
            "value-scores",
            "lifecycle",
            "segments",
            "campaigns",
            "email-dispatch",
            "marketer-digest",
            "loyalty",
        ]);
        assert!(JobName::ALL.into_iter().eq(JobName::iter()));
        as_str_is_stored(JobName::as_str);
        for job in JobName::iter() {
            assert_eq!(JobName::named(job.as_str()), Some(job));
            assert_eq!(JobName::parse(&format!(" {} ", job.as_str())), Ok(job));
        }
        assert_eq!(JobName::named(" lifecycle"), None);
        assert_eq!(
            JobName::parse("rfm"),
            Err(
                "unknown job `rfm` (known: value-scores, lifecycle, segments, campaigns, \
                 email-dispatch, marketer-digest, loyalty)"
                    .to_owned()
            )
        );
    }

    /// What the loyalty ledger and its tier events store (migration 20).
    #[test]
    fn loyalty_enums_fit_their_columns() {
        pins::<LedgerKind>(&["EARN", "BONUS", "REDEEM", "ADJUST", "EXPIRE"]);
        pins::<TierChange>(&["UPGRADE", "GRACE_STARTED", "REQUALIFIED", "DOWNGRADE"]);
        as_str_is_stored(LedgerKind::as_str);
        as_str_is_stored(TierChange::as_str);
    }

    #[test]
    fn feedback_kinds_read_existing_rows() {
        pins::<FeedbackKind>(&["NPS", "CSAT"]);
        for kind in FeedbackKind::iter() {
            assert_eq!(kind.as_str(), kind.to_value());
        }
    }

    #[test]
    fn topic_sources_fit_their_column() {
        pins::<TopicSource>(&["TAG", "EXTRACTED"]);
        for source in TopicSource::iter() {
            assert_eq!(source.as_str(), source.to_value());
        }
    }

    #[test]
    fn model_time_units_read_existing_rows() {
        pins::<ModelTimeUnit>(&["DAYS", "WEEKS"]);
    }

    /// Also the stages the lifecycle migration seeds its playbooks with.
    #[test]
    fn lifecycle_stages_read_existing_rows() {
        pins::<LifecycleStage>(&["PROSPECT", "NEW", "ACTIVE", "LOYAL", "SILENT", "CHURNED"]);
        assert!(LifecycleStage::ALL.into_iter().eq(LifecycleStage::iter()));
        as_str_is_stored(LifecycleStage::as_str);
        in_json_as_stored::<LifecycleStage>();
    }

    /// Campaign targets keep stages and tiers as JSON text, written with the stored
    /// names before they were typed: serde must say exactly what the column holds.
    fn in_json_as_stored<E>()
    where
        E: ActiveEnum<Value = String>
            + Iterable
            + std::fmt::Debug
            + PartialEq
            + Serialize
            + serde::de::DeserializeOwned,
    {
        for variant in E::iter() {
            let json = serde_json::to_string(&variant).unwrap();
            assert_eq!(json, format!("\"{}\"", variant.to_value()));
            assert_eq!(serde_json::from_str::<E>(&json).unwrap(), variant);
        }
    }

    /// What the `value-scores` job has always written.
    #[test]
    fn value_tiers_read_existing_rows() {
        pins::<ValueTier>(&["HIGH", "MEDIUM", "LOW"]);
        assert!(ValueTier::ALL.into_iter().eq(ValueTier::iter()));
        as_str_is_stored(ValueTier::as_str);
        in_json_as_stored::<ValueTier>();
        assert_eq!(ValueTier::High.and_better(), &[ValueTier::High]);
        assert_eq!(
            ValueTier::Medium.and_better(),
            &[ValueTier::High, ValueTier::Medium]
        );
        assert_eq!(ValueTier::Low.and_better(), &ValueTier::ALL);
    }

    /// What the `value-scores` job has always written: the names people read.
    #[test]
    fn rfm_groups_read_existing_rows() {
        pins::<RfmGroup>(&[
            "Champions",
            "Loyal",
            "Potential loyalist",
            "New customers",
            "Promising",
            "Need attention",
            "About to sleep",
            "At risk",
            "Can't lose them",
            "Hibernating",
            "Lost",
        ]);
        assert!(RfmGroup::ALL.into_iter().eq(RfmGroup::iter()));
        as_str_is_stored(RfmGroup::as_str);
        in_json_as_stored::<RfmGroup>();
    }
}
