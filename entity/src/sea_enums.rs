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
    /// The inclusive range of valid scores.
    pub fn score_range(self) -> std::ops::RangeInclusive<i32> {
        match self {
            FeedbackKind::Nps => 0..=10,
            FeedbackKind::Csat => 1..=5,
        }
    }
}
