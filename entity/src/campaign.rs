use sea_orm::entity::prelude::*;

use crate::EmailKind;

/// A care campaign. `target`, `templates` and `settings` are JSON documents whose shapes
/// live with the campaigns code (`jobs::campaigns`), which validates them when saved.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "campaigns")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: String,
    pub kind: EmailKind,
    pub enabled: bool,
    pub target: String,
    /// Local hour (0–23, customer's time zone) at which its emails go out.
    pub send_hour: i32,
    pub templates: String,
    pub settings: String,
    /// When its producer last ran (win-back and segment entry act on events since then).
    pub last_run_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
