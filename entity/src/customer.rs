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
    /// The code this customer hands to friends (unique through `referral_codes`; set when
    /// the customer is created, migration 21 gave existing customers theirs).
    pub referral_code: Option<String>,
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

    /// A customer with no data: no id, empty texts, no orders. The start of a new
    /// customer before its fields are set, and of a sparse read.
    pub fn empty() -> Self {
        Model {
            id: 0,
            external_id: None,
            name: None,
            email: None,
            phone: None,
            gender: Gender::Unknown,
            birth_date: None,
            country: None,
            region: None,
            city: None,
            income_band: None,
            occupation: None,
            lifestyle: None,
            needs: None,
            acquisition_channel: None,
            referred_by: None,
            referral_code: None,
            locale: String::new(),
            time_zone: String::new(),
            marketing_consent: false,
            consent_updated_at: None,
            unsubscribed_at: None,
            erased_at: None,
            created_at: DateTimeUtc::UNIX_EPOCH,
            updated_at: DateTimeUtc::UNIX_EPOCH,
            order_count: 0,
            total_spent: Money::ZERO,
            first_order_at: None,
            last_order_at: None,
            purchase_days: 0,
            first_day_total: Money::ZERO,
            median_gap_days: None,
            search_text: None,
        }
    }

    /// A customer read for display with only some columns: list pages read the columns
    /// their selection shows (ten of 31 for a typical CRM list) instead of every one,
    /// which makes decoding a page about three times cheaper. `row`'s select list is
    /// exactly `columns`, in that order (read by position, which also spares a name
    /// lookup per column); every other field holds an empty value and must not be shown.
    pub fn from_sparse_row(row: &sea_orm::QueryResult, columns: &[Column]) -> Result<Self, DbErr> {
        let mut model = Model::empty();
        for (i, column) in columns.iter().enumerate() {
            let m = &mut model;
            match column {
                Column::Id => m.id = row.try_get_by_index(i)?,
                Column::ExternalId => m.external_id = row.try_get_by_index(i)?,
                Column::Name => m.name = row.try_get_by_index(i)?,
                Column::Email => m.email = row.try_get_by_index(i)?,
                Column::Phone => m.phone = row.try_get_by_index(i)?,
                Column::Gender => m.gender = row.try_get_by_index(i)?,
                Column::BirthDate => m.birth_date = row.try_get_by_index(i)?,
                Column::Country => m.country = row.try_get_by_index(i)?,
                Column::Region => m.region = row.try_get_by_index(i)?,
                Column::City => m.city = row.try_get_by_index(i)?,
                Column::IncomeBand => m.income_band = row.try_get_by_index(i)?,
                Column::Occupation => m.occupation = row.try_get_by_index(i)?,
                Column::Lifestyle => m.lifestyle = row.try_get_by_index(i)?,
                Column::Needs => m.needs = row.try_get_by_index(i)?,
                Column::AcquisitionChannel => m.acquisition_channel = row.try_get_by_index(i)?,
                Column::ReferredBy => m.referred_by = row.try_get_by_index(i)?,
                Column::ReferralCode => m.referral_code = row.try_get_by_index(i)?,
                Column::Locale => m.locale = row.try_get_by_index(i)?,
                Column::TimeZone => m.time_zone = row.try_get_by_index(i)?,
                Column::MarketingConsent => m.marketing_consent = row.try_get_by_index(i)?,
                Column::ConsentUpdatedAt => m.consent_updated_at = row.try_get_by_index(i)?,
                Column::UnsubscribedAt => m.unsubscribed_at = row.try_get_by_index(i)?,
                Column::ErasedAt => m.erased_at = row.try_get_by_index(i)?,
                Column::CreatedAt => m.created_at = row.try_get_by_index(i)?,
                Column::UpdatedAt => m.updated_at = row.try_get_by_index(i)?,
                Column::OrderCount => m.order_count = row.try_get_by_index(i)?,
                Column::TotalSpent => m.total_spent = row.try_get_by_index(i)?,
                Column::FirstOrderAt => m.first_order_at = row.try_get_by_index(i)?,
                Column::LastOrderAt => m.last_order_at = row.try_get_by_index(i)?,
                Column::PurchaseDays => m.purchase_days = row.try_get_by_index(i)?,
                Column::FirstDayTotal => m.first_day_total = row.try_get_by_index(i)?,
                Column::MedianGapDays => m.median_gap_days = row.try_get_by_index(i)?,
                Column::SearchText => m.search_text = row.try_get_by_index(i)?,
            }
        }
        Ok(model)
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
/// On Citus, which cannot run those triggers, there are no counter rows, and the count
/// is one COUNT per shard, summed (the second subquery runs only when the first is NULL
/// on SQLite and PostgreSQL).
pub async fn count_all(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT CAST(COALESCE((SELECT SUM(customers) FROM customer_counts), \
                                  (SELECT COUNT(*) FROM customers)) AS BIGINT) AS n",
        ))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("customer_counts".into()))?;
    let n: i64 = row.try_get("", "n")?;
    Ok(u64::try_from(n).unwrap_or(0))
}
