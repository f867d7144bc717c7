use sea_orm::entity::prelude::*;

use crate::{Gender, Money};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "customers")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The partner's key for this customer; unique when present.
    #[sea_orm(unique)]
    pub external_id: Option<String>,
    pub name: Option<String>,
    /// Lower-cased; unique when present.
    #[sea_orm(unique)]
    pub email: Option<String>,
    /// E.164, e.g. `+8613800138000`.
    pub phone: Option<String>,
    pub gender: Gender,
    pub birth_date: Option<Date>,
    /// ISO 3166-1 alpha-2, upper case.
    pub country: Option<String>,
    pub region: Option<String>,
    pub city: Option<String>,
    pub income_band: Option<String>,
    pub occupation: Option<String>,
    pub lifestyle: Option<String>,
    /// A free label for what the customer is after (first home, upgrade, investment, …).
    pub needs: Option<String>,
    pub acquisition_channel: Option<String>,
    pub referred_by: Option<i64>,
    /// BCP 47 language tag, e.g. `zh-CN`.
    pub locale: String,
    /// IANA time zone, e.g. `Asia/Shanghai`.
    pub time_zone: String,
    pub marketing_consent: bool,
    pub consent_updated_at: Option<DateTimeUtc>,
    pub unsubscribed_at: Option<DateTimeUtc>,
    pub erased_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Order aggregates, kept up to date as orders are recorded so that lists can sort and
    /// filter by them and the scoring jobs never rescan every order for them.
    pub order_count: i64,
    pub total_spent: Money,
    pub first_order_at: Option<DateTimeUtc>,
    pub last_order_at: Option<DateTimeUtc>,
    /// Distinct UTC days with an order (the BG/NBD transaction count is this minus one).
    pub purchase_days: i64,
    /// What was spent on the first purchase day (the rest are repeat transactions).
    pub first_day_total: Money,
    /// Median days between consecutive purchase days (the customer's rhythm); null with
    /// fewer than two purchase days.
    pub median_gap_days: Option<f64>,
    /// Name, email and phone, lower-cased by Rust (Unicode-aware, unlike SQLite's
    /// `lower()`), for the same case-insensitive search on both databases. Kept up to
    /// date by [`Model::refresh_search_text`] on every write of those fields.
    pub search_text: Option<String>,
}

impl Model {
    /// Separates the fields in `search_text` so that a search never matches across two.
    pub const SEARCH_SEPARATOR: char = '\u{1f}';

    /// Recomputes `search_text` from the personal fields.
    pub fn refresh_search_text(&mut self) {
        let parts: Vec<String> = [&self.name, &self.email, &self.phone]
            .into_iter()
            .flatten()
            .map(|part| part.to_lowercase())
            .collect();
        self.search_text =
            (!parts.is_empty()).then(|| parts.join(&Self::SEARCH_SEPARATOR.to_string()));
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::order::Entity")]
    Order,
    #[sea_orm(has_one = "super::customer_value::Entity")]
    CustomerValue,
}

impl Related<super::order::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Order.def()
    }
}

impl Related<super::customer_value::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CustomerValue.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

/// How many customers exist, erased ones included: the sum of the counters kept by the
/// `customer_counts` triggers (migration 13), 16 rows to read instead of every customer.
pub async fn count_all(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT CAST(COALESCE(SUM(customers), 0) AS BIGINT) AS n FROM customer_counts",
        ))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("customer_counts".into()))?;
    let n: i64 = row.try_get("", "n")?;
    Ok(u64::try_from(n).unwrap_or(0))
}
