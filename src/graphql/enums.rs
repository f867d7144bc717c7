//! GraphQL mirrors of the stored enums (`remote` keeps the two in lock-step: a variant
//! added to one and not the other does not compile).

use async_graphql::Enum;

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "entity::Gender")]
pub enum Gender {
    Female,
    Male,
    Other,
    Unknown,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "entity::InteractionChannel")]
pub enum InteractionChannel {
    Phone,
    Email,
    Sms,
    Wechat,
    Social,
    Visit,
    Web,
    Other,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "entity::Direction")]
pub enum Direction {
    Inbound,
    Outbound,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "entity::FeedbackKind")]
pub enum FeedbackKind {
    /// Net Promoter Score, 0–10.
    Nps,
    /// Customer satisfaction, 1–5.
    Csat,
}

/// Where a feedback topic comes from.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "entity::TopicSource")]
pub enum TopicSource {
    /// Sent with the answer (`topics`).
    Tag,
    /// Extracted from the answer's comment, which came without tags. Derived from
    /// personal text: only with `pii:read`.
    Extracted,
}

/// Sort direction.
#[derive(Enum, Clone, Copy, Default, PartialEq, Eq)]
pub enum OrderDirection {
    #[default]
    Asc,
    Desc,
}

/// What an email is: a campaign kind, or the marketer digest.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "entity::EmailKind")]
pub enum EmailKind {
    Birthday,
    WinBack,
    Welcome,
    PurchaseAnniversary,
    Holiday,
    SegmentEntry,
    /// A satisfaction survey some days after an order, with eleven one-click score links
    /// (0–10) that record an NPS answer.
    Survey,
    /// Congratulations on moving up from one membership tier to a higher one, with the
    /// new tier's benefits and discount.
    TierUpgrade,
    /// A reminder, some days before, of the points that are about to expire.
    PointsExpiring,
    Digest,
}

/// Where an email is on its way out.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "entity::EmailStatus")]
pub enum EmailStatus {
    /// Waiting for its time (deferred emails wait here too).
    Queued,
    /// Claimed by a dispatcher.
    Sending,
    /// A transient failure; tried again at `scheduledFor`.
    Retrying,
    Sent,
    /// A permanent failure, or transient ones up to the attempt limit (`lastError`).
    Failed,
    /// Not sent on purpose (`suppressionReason`).
    Suppressed,
}
