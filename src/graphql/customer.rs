//! The `Customer` type and the customer queries.

use async_graphql::connection::Edge;
use async_graphql::{Context, ID, InputObject, Object, Result, dataloader::DataLoader};
use chrono::{DateTime, NaiveDate, Utc};
use entity::{
    customer, customer_interest, customer_lifecycle, customer_value, feedback, interaction, order,
};
use futures::FutureExt;
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, JoinType, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, RelationTrait,
    sea_query::{Expr, ExprTrait, LikeExpr, NullOrdering, Order, Query},
};
use serde::{Deserialize, Serialize};

use crate::api_keys::Scope;
use crate::graphql::{
    enums::{Gender, OrderDirection},
    errors::{IntoApi, OrInternal, Problems, bad_input},
    feedback::Feedback,
    guards::{RequireScope, require},
    interaction::Interaction,
    lifecycle::{Lifecycle, LifecycleStage},
    loaders::{
        ChildPageKey, ChildPageLoader, CustomerChild, CustomerLifecycleLoader, CustomerLoader,
        CustomerValueLoader, InterestsLoader,
    },
    order::Order as OrderNode,
    pagination::{
        CountedConnection, Page, PageDirection, PlainConnection, TotalCount, encode_cursor,
    },
    scalars::{Date, Decimal},
    value::{CustomerValue, RfmGroup, ValueTier},
};

/// A customer: who they are, how to reach them, and a summary of what they bought.
/// Personal fields (name, email, phone, birthDate) need the `pii:read` scope; without it
/// they are null with a `FORBIDDEN` error at their path, and the rest is served.
pub struct Customer(pub customer::Model);

impl From<customer::Model> for Customer {
    fn from(model: customer::Model) -> Self {
        Customer(model)
    }
}

#[Object]
impl Customer {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The partner's key for this customer.
    async fn external_id(&self) -> Option<&str> {
        self.0.external_id.as_deref()
    }
    #[graphql(guard = "RequireScope(Scope::PiiRead)")]
    async fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }
    #[graphql(guard = "RequireScope(Scope::PiiRead)")]
    async fn email(&self) -> Option<&str> {
        self.0.email.as_deref()
    }
    /// E.164.
    #[graphql(guard = "RequireScope(Scope::PiiRead)")]
    async fn phone(&self) -> Option<&str> {
        self.0.phone.as_deref()
    }
    #[graphql(guard = "RequireScope(Scope::PiiRead)")]
    async fn birth_date(&self) -> Option<Date> {
        self.0.birth_date.map(Date)
    }
    async fn gender(&self) -> Gender {
        self.0.gender.into()
    }
    /// ISO 3166-1 alpha-2.
    async fn country(&self) -> Option<&str> {
        self.0.country.as_deref()
    }
    async fn region(&self) -> Option<&str> {
        self.0.region.as_deref()
    }
    async fn city(&self) -> Option<&str> {
        self.0.city.as_deref()
    }
    async fn income_band(&self) -> Option<&str> {
        self.0.income_band.as_deref()
    }
    async fn occupation(&self) -> Option<&str> {
        self.0.occupation.as_deref()
    }
    /// Interest tags, lower case, sorted.
    async fn interests(&self, ctx: &Context<'_>) -> Result<Vec<String>> {
        let loader = ctx.data::<DataLoader<InterestsLoader>>()?;
        Ok(loader.load_one(self.0.id).await?.unwrap_or_default())
    }
    async fn lifestyle(&self) -> Option<&str> {
        self.0.lifestyle.as_deref()
    }
    /// What the customer is after (first home, upgrade, investment, …).
    async fn needs(&self) -> Option<&str> {
        self.0.needs.as_deref()
    }
    async fn acquisition_channel(&self) -> Option<&str> {
        self.0.acquisition_channel.as_deref()
    }
    /// The customer who referred this one.
    async fn referred_by(&self, ctx: &Context<'_>) -> Result<Option<Customer>> {
        let Some(id) = self.0.referred_by else {
            return Ok(None);
        };
        let loader = ctx.data::<DataLoader<CustomerLoader>>()?;
        Ok(loader.load_one(id).await?.map(Customer))
    }
    /// BCP 47, e.g. `zh-CN`; chooses the language of emails (`zh-TW`, `zh-HK`, `zh-MO`,
    /// `zh-Hant-*`: Traditional Chinese; other `zh*`: Simplified; else English).
    async fn locale(&self) -> &str {
        &self.0.locale
    }
    /// IANA time zone; emails go out at local times.
    async fn time_zone(&self) -> &str {
        &self.0.time_zone
    }
    async fn marketing_consent(&self) -> bool {
        self.0.marketing_consent
    }
    async fn consent_updated_at(&self) -> Option<DateTime<Utc>> {
        self.0.consent_updated_at
    }
    async fn unsubscribed_at(&self) -> Option<DateTime<Utc>> {
        self.0.unsubscribed_at
    }
    /// Set when the customer's personal data was erased; such a customer is never emailed.
    async fn erased_at(&self) -> Option<DateTime<Utc>> {
        self.0.erased_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    async fn order_count(&self) -> i64 {
        self.0.order_count
    }
    async fn total_spent(&self) -> Decimal {
        self.0.total_spent.into()
    }
    async fn first_order_at(&self) -> Option<DateTime<Utc>> {
        self.0.first_order_at
    }
    async fn last_order_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_order_at
    }
    /// Value scores from the latest `value-scores` run; null until the first run.
    async fn value(&self, ctx: &Context<'_>) -> Result<Option<CustomerValue>> {
        let loader = ctx.data::<DataLoader<CustomerValueLoader>>()?;
        Ok(loader.load_one(self.0.id).await?.map(CustomerValue))
    }
    /// Lifecycle stage from the latest `lifecycle` run; null until the customer's first.
    async fn lifecycle(&self, ctx: &Context<'_>) -> Result<Option<Lifecycle>> {
        let loader = ctx.data::<DataLoader<CustomerLifecycleLoader>>()?;
        Ok(loader.load_one(self.0.id).await?.map(Lifecycle))
    }
    /// The segments the customer is in (as of their last refresh). Needs `segments:read`.
    async fn segments(&self, ctx: &Context<'_>) -> Result<Vec<crate::graphql::segments::Segment>> {
        require(ctx, Scope::SegmentsRead)?;
        let loader = ctx.data::<DataLoader<crate::graphql::loaders::SegmentsOfCustomerLoader>>()?;
        Ok(loader
            .load_one(self.0.id)
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(crate::graphql::segments::Segment)
            .collect())
    }
    /// Care emails to the customer, newest first. Needs `campaigns:read`.
    async fn emails(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<PlainConnection<crate::graphql::campaigns::Email>> {
        crate::graphql::campaigns::customer_emails(ctx, self.0.id, first, after).await
    }
    /// Orders, newest first.
    async fn orders(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<PlainConnection<OrderNode>> {
        child_page::<order::Entity, _>(
            ctx,
            self.0.id,
            first,
            after,
            |o| (o.ordered_at, o.id),
            OrderNode,
        )
        .await
    }
    /// Interactions, newest first.
    async fn interactions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<PlainConnection<Interaction>> {
        child_page::<interaction::Entity, _>(
            ctx,
            self.0.id,
            first,
            after,
            |i| (i.occurred_at, i.id),
            Interaction,
        )
        .await
    }
    /// NPS and CSAT answers, newest first.
    async fn feedback(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<PlainConnection<Feedback>> {
        child_page::<feedback::Entity, _>(
            ctx,
            self.0.id,
            first,
            after,
            |f| (f.occurred_at, f.id),
            Feedback,
        )
        .await
    }
}

/// One page of a customer's children through the batching loader.
pub(crate) async fn child_page<E, N>(
    ctx: &Context<'_>,
    customer_id: i64,
    first: Option<i32>,
    after: Option<String>,
    key_of: impl Fn(&E::Model) -> (DateTime<Utc>, i64),
    node: impl Fn(E::Model) -> N,
) -> Result<PlainConnection<N>>
where
    E: CustomerChild + Send + Sync + 'static,
    E::Model: Send + Sync + Clone,
    N: async_graphql::OutputType,
{
    let page = Page::<(DateTime<Utc>, i64)>::forward(first, after)?;
    let loader = ctx.data::<DataLoader<ChildPageLoader<E>>>()?;
    let key = ChildPageKey {
        customer_id,
        limit: page.fetch_limit(),
        after: page.cursor,
    };
    let rows = loader.load_one(key).await?.unwrap_or_default();
    let (rows, has_previous, has_next) = page.finish(rows);
    let mut connection = PlainConnection::new(has_previous, has_next);
    connection.edges.extend(
        rows.into_iter()
            .map(|row| Edge::new(encode_cursor(&key_of(&row)), node(row))),
    );
    Ok(connection)
}

/// Narrows a customer list. List fields match any of their values; `…From` bounds are
/// inclusive and `…To` bounds exclusive for times, inclusive for dates. Filters on
/// personal fields (`search`, `email`, `phone`, birth dates) need `pii:read`.
#[derive(InputObject, Default)]
pub struct CustomerFilter {
    /// Case-insensitive substring of name, email or phone.
    pub search: Option<String>,
    pub ids: Option<Vec<ID>>,
    pub external_ids: Option<Vec<String>>,
    /// Exact address (case-insensitive).
    pub email: Option<String>,
    /// Exact E.164 number.
    pub phone: Option<String>,
    pub gender: Option<Vec<Gender>>,
    pub country: Option<Vec<String>>,
    pub region: Option<Vec<String>>,
    pub city: Option<Vec<String>>,
    pub income_band: Option<Vec<String>>,
    pub occupation: Option<Vec<String>>,
    pub lifestyle: Option<Vec<String>>,
    pub needs: Option<Vec<String>>,
    pub acquisition_channel: Option<Vec<String>>,
    pub locale: Option<Vec<String>>,
    pub time_zone: Option<Vec<String>>,
    /// Has at least one of these interest tags.
    pub interests_any: Option<Vec<String>>,
    /// Has every one of these interest tags.
    pub interests_all: Option<Vec<String>>,
    pub marketing_consent: Option<bool>,
    /// Referred by this customer.
    pub referred_by: Option<ID>,
    /// `false` hides erased customers, `true` shows only them.
    pub erased: Option<bool>,
    pub birth_date_from: Option<Date>,
    pub birth_date_to: Option<Date>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_to: Option<DateTime<Utc>>,
    pub first_order_from: Option<DateTime<Utc>>,
    pub first_order_to: Option<DateTime<Utc>>,
    pub last_order_from: Option<DateTime<Utc>>,
    pub last_order_to: Option<DateTime<Utc>>,
    pub has_orders: Option<bool>,
    pub min_order_count: Option<i64>,
    pub max_order_count: Option<i64>,
    pub min_total_spent: Option<Decimal>,
    pub max_total_spent: Option<Decimal>,
    /// In any of these value tiers (latest `value-scores` run).
    pub value_tier: Option<Vec<ValueTier>>,
    /// In any of these RFM groups.
    pub rfm_group: Option<Vec<RfmGroup>>,
    /// Predicted CLV at least this.
    pub min_predicted_clv: Option<Decimal>,
    /// Churn risk at most this (0–1).
    pub max_churn_risk: Option<f64>,
    /// In any of these lifecycle stages (latest `lifecycle` run).
    pub stage: Option<Vec<LifecycleStage>>,
    /// Entered their current stage at or after this.
    pub stage_since_from: Option<DateTime<Utc>>,
    /// Entered their current stage before this.
    pub stage_since_to: Option<DateTime<Utc>>,
}

/// What a customer list is sorted by; ties are broken by id.
#[derive(
    async_graphql::Enum, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, Debug,
)]
pub enum CustomerOrderField {
    #[default]
    CreatedAt,
    /// Needs `pii:read`. Customers without a name come last.
    Name,
    /// Customers without orders come last.
    LastOrderAt,
    TotalSpent,
    /// From the latest `value-scores` run; customers without a prediction come last.
    PredictedClv,
    /// From the latest `value-scores` run; customers without a prediction come last.
    ChurnRisk,
}

#[derive(InputObject, Clone, Copy, Default)]
pub struct CustomerOrder {
    pub field: CustomerOrderField,
    #[graphql(default)]
    pub direction: OrderDirection,
}

/// Where a customer list page starts: the sort field (a cursor from another order is
/// refused), the sort key of the row, and its id.
#[derive(Serialize, Deserialize, Clone, Debug)]
struct CustomerCursor {
    field: CustomerOrderField,
    key: serde_json::Value,
    id: i64,
}

impl CustomerOrderField {
    /// The sort key, qualified by its table (value fields come from the joined scores).
    fn column(self) -> Expr {
        let of_customer = |column: customer::Column| Expr::col((customer::Entity, column));
        match self {
            CustomerOrderField::CreatedAt => of_customer(customer::Column::CreatedAt),
            CustomerOrderField::Name => of_customer(customer::Column::Name),
            CustomerOrderField::LastOrderAt => of_customer(customer::Column::LastOrderAt),
            CustomerOrderField::TotalSpent => of_customer(customer::Column::TotalSpent),
            CustomerOrderField::PredictedClv => {
                Expr::col((customer_value::Entity, customer_value::Column::PredictedClv))
            }
            CustomerOrderField::ChurnRisk => {
                Expr::col((customer_value::Entity, customer_value::Column::ChurnRisk))
            }
        }
    }

    fn nullable(self) -> bool {
        !matches!(
            self,
            CustomerOrderField::CreatedAt | CustomerOrderField::TotalSpent
        )
    }

    /// Whether the key comes from the latest value scores rather than the customer row.
    fn keyed_by_scores(self) -> bool {
        matches!(
            self,
            CustomerOrderField::PredictedClv | CustomerOrderField::ChurnRisk
        )
    }

    fn key_of(
        self,
        model: &customer::Model,
        value: Option<&customer_value::Model>,
    ) -> serde_json::Value {
        match self {
            CustomerOrderField::CreatedAt => serde_json::json!(model.created_at),
            CustomerOrderField::Name => serde_json::json!(model.name),
            CustomerOrderField::LastOrderAt => serde_json::json!(model.last_order_at),
            CustomerOrderField::TotalSpent => serde_json::json!(model.total_spent.0),
            CustomerOrderField::PredictedClv => {
                serde_json::json!(value.and_then(|v| v.predicted_clv).map(|m| m.0))
            }
            CustomerOrderField::ChurnRisk => serde_json::json!(value.and_then(|v| v.churn_risk)),
        }
    }

    /// The cursor's key as a database value; `None` for a null key.
    fn key_value(self, key: &serde_json::Value) -> Result<Option<sea_orm::Value>, String> {
        if key.is_null() {
            return if self.nullable() {
                Ok(None)
            } else {
                Err("cursor has no sort key".into())
            };
        }
        let value = match self {
            CustomerOrderField::CreatedAt | CustomerOrderField::LastOrderAt => {
                serde_json::from_value::<DateTime<Utc>>(key.clone())
                    .map(sea_orm::Value::from)
                    .ok()
            }
            CustomerOrderField::Name => key.as_str().map(|s| sea_orm::Value::from(s.to_owned())),
            CustomerOrderField::TotalSpent | CustomerOrderField::PredictedClv => {
                key.as_i64().map(sea_orm::Value::from)
            }
            CustomerOrderField::ChurnRisk => key.as_f64().map(sea_orm::Value::from),
        };
        value
            .map(Some)
            .ok_or_else(|| "cursor does not match the list's order".into())
    }
}

/// Adds the keyset condition and ordering for one page. NULL keys sort last in display
/// order on both databases; backward pages run the same order reversed.
fn keyset<S: QueryFilter + QueryOrder>(
    mut select: S,
    field: CustomerOrderField,
    direction: OrderDirection,
    page: &Page<CustomerCursor>,
) -> Result<S> {
    let column = field.column();
    let ascending =
        (direction == OrderDirection::Asc) == (page.direction == PageDirection::Forward);
    let order = if ascending { Order::Asc } else { Order::Desc };
    let nulls_last = page.direction == PageDirection::Forward;
    let beyond = |value: sea_orm::Value| {
        if ascending {
            column.clone().gt(value)
        } else {
            column.clone().lt(value)
        }
    };
    let id_beyond = |id: i64| {
        if ascending {
            customer::Column::Id.gt(id)
        } else {
            customer::Column::Id.lt(id)
        }
    };

    if let Some(cursor) = &page.cursor {
        if cursor.field != field {
            return Err(bad_input(
                page.cursor_argument(),
                "the cursor comes from a list in another order",
            ));
        }
        let key = field
            .key_value(&cursor.key)
            .map_err(|message| bad_input(page.cursor_argument(), message))?;
        let column = || column.clone();
        let condition = match (key, field.nullable(), nulls_last) {
            (Some(key), false, _) => Condition::any()
                .add(beyond(key.clone()))
                .add(column().eq(key).and(id_beyond(cursor.id))),
            (Some(key), true, true) => Condition::any()
                .add(beyond(key.clone()))
                .add(column().eq(key).and(id_beyond(cursor.id)))
                .add(column().is_null()),
            (Some(key), true, false) => Condition::all().add(column().is_not_null()).add(
                Condition::any()
                    .add(beyond(key.clone()))
                    .add(column().eq(key).and(id_beyond(cursor.id))),
            ),
            (None, _, true) => Condition::all()
                .add(column().is_null())
                .add(id_beyond(cursor.id)),
            (None, _, false) => Condition::any()
                .add(column().is_not_null())
                .add(column().is_null().and(id_beyond(cursor.id))),
        };
        select = select.filter(condition);
    }
    select = if field.nullable() {
        let nulls = if nulls_last {
            NullOrdering::Last
        } else {
            NullOrdering::First
        };
        select.order_by_with_nulls(column, order.clone(), nulls)
    } else {
        select.order_by(column, order.clone())
    };
    Ok(select.order_by(customer::Column::Id, order))
}

/// The numeric id behind a customer `ID`.
pub fn customer_id_of(id: &ID) -> Result<i64, String> {
    jobs::customers::parse_id(id.as_str())
}

fn parse_id(field: &str, id: &ID) -> Result<i64> {
    customer_id_of(id).map_err(|message| bad_input(field, message))
}

/// `%text%` for LIKE, with the user's own wildcards escaped.
fn contains_pattern(text: &str) -> LikeExpr {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    LikeExpr::new(format!("%{escaped}%")).escape('\\')
}

impl CustomerFilter {
    /// Compiles the filter into one SQL condition (the same on both databases).
    fn condition(&self, ctx: &Context<'_>) -> Result<Condition> {
        use customer::Column as C;
        let uses_pii = self.search.is_some()
            || self.email.is_some()
            || self.phone.is_some()
            || self.birth_date_from.is_some()
            || self.birth_date_to.is_some();
        if uses_pii {
            require(ctx, Scope::PiiRead)?;
        }
        let mut problems = Problems::new();
        let mut condition = Condition::all();
        if let Some(search) = self
            .search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            // Matched against `search_text`, lower-cased in Rust on the way in, so that
            // "émilie" finds "Émilie" on SQLite too. A phone typed with spaces or dashes
            // matches the compact E.164 form.
            let needle = search.to_lowercase();
            let compact: String = needle.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
            let mut any = Condition::any().add(C::SearchText.like(contains_pattern(&needle)));
            if compact != needle && !compact.is_empty() {
                any = any.add(C::Phone.like(contains_pattern(&compact)));
            }
            condition = condition.add(any);
        }
        if let Some(ids) = &self.ids {
            let ids: Vec<i64> = ids
                .iter()
                .filter_map(|id| problems.check(None, "filter.ids", customer_id_of(id)))
                .collect();
            condition = condition.add(C::Id.is_in(ids));
        }
        if let Some(external_ids) = &self.external_ids {
            condition = condition.add(C::ExternalId.is_in(external_ids.clone()));
        }
        if let Some(email) = &self.email {
            condition = condition.add(C::Email.eq(email.trim().to_lowercase()));
        }
        if let Some(phone) = &self.phone {
            condition = condition.add(C::Phone.eq(phone.replace([' ', '-'], "")));
        }
        if let Some(genders) = &self.gender {
            condition =
                condition.add(C::Gender.is_in(genders.iter().map(|g| entity::Gender::from(*g))));
        }
        for (values, column) in [
            (&self.region, C::Region),
            (&self.city, C::City),
            (&self.income_band, C::IncomeBand),
            (&self.occupation, C::Occupation),
            (&self.lifestyle, C::Lifestyle),
            (&self.needs, C::Needs),
            (&self.acquisition_channel, C::AcquisitionChannel),
            (&self.locale, C::Locale),
            (&self.time_zone, C::TimeZone),
        ] {
            if let Some(values) = values {
                condition = condition.add(column.is_in(values.iter().map(|v| v.trim().to_owned())));
            }
        }
        if let Some(countries) = &self.country {
            condition =
                condition.add(C::Country.is_in(countries.iter().map(|c| c.trim().to_uppercase())));
        }
        if let Some(tags) = &self.interests_any {
            let tags: Vec<String> = tags.iter().map(|t| t.trim().to_lowercase()).collect();
            condition = condition.add(
                C::Id.in_subquery(
                    Query::select()
                        .column(customer_interest::Column::CustomerId)
                        .from(customer_interest::Entity)
                        .and_where(customer_interest::Column::Tag.is_in(tags))
                        .to_owned(),
                ),
            );
        }
        if let Some(tags) = &self.interests_all {
            let mut tags: Vec<String> = tags.iter().map(|t| t.trim().to_lowercase()).collect();
            tags.sort();
            tags.dedup();
            let wanted = tags.len() as i64;
            condition = condition.add(
                C::Id.in_subquery(
                    Query::select()
                        .column(customer_interest::Column::CustomerId)
                        .from(customer_interest::Entity)
                        .and_where(customer_interest::Column::Tag.is_in(tags))
                        .group_by_col(customer_interest::Column::CustomerId)
                        .and_having(Expr::col(customer_interest::Column::Tag).count().eq(wanted))
                        .to_owned(),
                ),
            );
        }
        if let Some(consent) = self.marketing_consent {
            condition = condition.add(C::MarketingConsent.eq(consent));
        }
        if let Some(referrer) = &self.referred_by
            && let Some(id) = problems.check(None, "filter.referredBy", customer_id_of(referrer))
        {
            condition = condition.add(C::ReferredBy.eq(id));
        }
        if let Some(erased) = self.erased {
            condition = condition.add(if erased {
                C::ErasedAt.is_not_null()
            } else {
                C::ErasedAt.is_null()
            });
        }
        let dates: [(Option<NaiveDate>, Option<NaiveDate>, C); 1] = [(
            self.birth_date_from.map(|d| d.0),
            self.birth_date_to.map(|d| d.0),
            C::BirthDate,
        )];
        for (from, to, column) in dates {
            if let Some(from) = from {
                condition = condition.add(column.gte(from));
            }
            if let Some(to) = to {
                condition = condition.add(column.lte(to));
            }
        }
        for (from, to, column) in [
            (self.created_from, self.created_to, C::CreatedAt),
            (self.first_order_from, self.first_order_to, C::FirstOrderAt),
            (self.last_order_from, self.last_order_to, C::LastOrderAt),
        ] {
            if let Some(from) = from {
                condition = condition.add(column.gte(from));
            }
            if let Some(to) = to {
                condition = condition.add(column.lt(to));
            }
        }
        if let Some(has_orders) = self.has_orders {
            condition = condition.add(if has_orders {
                C::OrderCount.gt(0)
            } else {
                C::OrderCount.eq(0)
            });
        }
        if let Some(min) = self.min_order_count {
            condition = condition.add(C::OrderCount.gte(min));
        }
        if let Some(max) = self.max_order_count {
            condition = condition.add(C::OrderCount.lte(max));
        }
        for (bound, field, lower) in [
            (self.min_total_spent, "filter.minTotalSpent", true),
            (self.max_total_spent, "filter.maxTotalSpent", false),
        ] {
            let Some(value) = bound.map(|bound| bound.value()) else {
                continue;
            };
            let money = entity::Money::from_decimal(value)
                .map_err(|_| format!("{value} is not an amount of money"));
            if let Some(money) = problems.check(None, field, money) {
                condition = condition.add(if lower {
                    C::TotalSpent.gte(money.0)
                } else {
                    C::TotalSpent.lte(money.0)
                });
            }
        }
        condition = self.value_condition(condition, &mut problems);
        condition = self.stage_condition(condition);
        problems.into_result().into_api()?;
        Ok(condition)
    }

    /// Conditions on the current lifecycle stage, as `id IN (SELECT customer_id FROM
    /// customer_lifecycle WHERE …)`: customers never classified never match.
    fn stage_condition(&self, condition: Condition) -> Condition {
        use customer_lifecycle::Column as L;
        let mut stage = Condition::all();
        if let Some(stages) = &self.stage {
            stage = stage.add(
                L::Stage.is_in(
                    stages
                        .iter()
                        .map(|s| jobs::lifecycle::Stage::from(*s).as_str()),
                ),
            );
        }
        if let Some(from) = self.stage_since_from {
            stage = stage.add(L::Since.gte(from));
        }
        if let Some(to) = self.stage_since_to {
            stage = stage.add(L::Since.lt(to));
        }
        if stage.is_empty() {
            return condition;
        }
        condition.add(
            customer::Column::Id.in_subquery(
                Query::select()
                    .column(L::CustomerId)
                    .from(customer_lifecycle::Entity)
                    .cond_where(stage)
                    .to_owned(),
            ),
        )
    }

    /// Conditions on the latest scores, as `id IN (SELECT customer_id FROM
    /// customer_values WHERE …)`: customers without scores never match.
    fn value_condition(&self, condition: Condition, problems: &mut Problems) -> Condition {
        use customer_value::Column as V;
        let mut scores = Condition::all();
        let mut any = false;
        if let Some(tiers) = &self.value_tier {
            scores = scores.add(V::ValueTier.is_in(tiers.iter().map(|t| t.as_str())));
            any = true;
        }
        if let Some(groups) = &self.rfm_group {
            let labels = groups
                .iter()
                .map(|g| jobs::value::rfm::RfmGroup::from(*g).label());
            scores = scores.add(V::RfmGroup.is_in(labels));
            any = true;
        }
        if let Some(min) = self.min_predicted_clv.map(|min| min.value()) {
            let money = entity::Money::from_decimal(min)
                .map_err(|_| format!("{min} is not an amount of money"));
            if let Some(money) = problems.check(None, "filter.minPredictedClv", money) {
                scores = scores.add(V::PredictedClv.gte(money.0));
            }
            any = true;
        }
        if let Some(max) = self.max_churn_risk {
            if !(0.0..=1.0).contains(&max) {
                problems.push(
                    None,
                    "filter.maxChurnRisk",
                    format!("a churn risk is between 0 and 1, got {max}"),
                );
            }
            scores = scores.add(V::ChurnRisk.lte(max));
            any = true;
        }
        if !any {
            return condition;
        }
        condition.add(
            customer::Column::Id.in_subquery(
                Query::select()
                    .column(V::CustomerId)
                    .from(customer_value::Entity)
                    .cond_where(scores.add(customer_value::latest_run()))
                    .to_owned(),
            ),
        )
    }
}

#[derive(Default)]
pub struct CustomerQuery;

#[Object]
impl CustomerQuery {
    /// A customer by id; null when there is none.
    #[graphql(guard = "RequireScope(Scope::CustomersRead)")]
    async fn customer(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Customer>> {
        let id = parse_id("id", &id)?;
        let loader = ctx.data::<DataLoader<CustomerLoader>>()?;
        Ok(loader.load_one(id).await?.map(Customer))
    }

    /// A customer by the partner's key; null when there is none.
    #[graphql(guard = "RequireScope(Scope::CustomersRead)")]
    async fn customer_by_external_id(
        &self,
        ctx: &Context<'_>,
        external_id: String,
    ) -> Result<Option<Customer>> {
        let db = ctx.data::<DatabaseConnection>()?;
        let found = customer::Entity::find()
            .filter(customer::Column::ExternalId.eq(external_id))
            .one(db)
            .await
            .or_internal()?;
        Ok(found.map(Customer))
    }

    /// Customers, a page at a time (keyset pagination: pages stay stable while customers
    /// are added). Default order: oldest first.
    #[graphql(guard = "RequireScope(Scope::CustomersRead)")]
    async fn customers(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<CustomerFilter>,
        order_by: Option<CustomerOrder>,
    ) -> Result<CountedConnection<Customer>> {
        let db = ctx.data::<DatabaseConnection>()?.clone();
        let order_by = order_by.unwrap_or_default();
        if order_by.field == CustomerOrderField::Name {
            require(ctx, Scope::PiiRead)?;
        }
        let page = Page::<CustomerCursor>::new(first, after, last, before)?;
        let condition = filter.unwrap_or_default().condition(ctx)?;
        let filtered = customer::Entity::find().filter(condition.clone());

        let count_db = db.clone();
        let count_query = filtered.clone();
        // Unfiltered, the count is kept by triggers (exact, 16 rows to read); filtered,
        // the matching rows are counted.
        let unfiltered = condition.is_empty();
        let total = TotalCount::new(move || {
            let db = count_db.clone();
            let query = count_query.clone();
            async move {
                if unfiltered {
                    customer::count_all(&db).await.or_internal()
                } else {
                    query.count(&db).await.or_internal()
                }
            }
            .boxed()
        });

        // Sorted by a value field, the current scores come along in the same query (a
        // LEFT JOIN on the customer and the latest run) to sort the page and key its
        // cursors. Otherwise the page reads customers alone: the join costs the database
        // about as much as the page itself, and `Customer.value` has its own loader.
        let rows: Vec<(customer::Model, Option<customer_value::Model>)> =
            if order_by.field.keyed_by_scores() {
                let with_scores = filtered.select_also(customer_value::Entity).join(
                    JoinType::LeftJoin,
                    customer::Relation::CustomerValue
                        .def()
                        .on_condition(|_, _| Condition::all().add(customer_value::latest_run())),
                );
                keyset(with_scores, order_by.field, order_by.direction, &page)?
                    .limit(page.fetch_limit())
                    .all(&db)
                    .await
                    .or_internal()?
            } else {
                keyset(filtered, order_by.field, order_by.direction, &page)?
                    .limit(page.fetch_limit())
                    .all(&db)
                    .await
                    .or_internal()?
                    .into_iter()
                    .map(|row| (row, None))
                    .collect()
            };
        let (rows, has_previous, has_next) = page.finish(rows);
        let mut connection =
            CountedConnection::with_additional_fields(has_previous, has_next, total);
        connection
            .edges
            .extend(rows.into_iter().map(|(row, value)| {
                let cursor = CustomerCursor {
                    field: order_by.field,
                    key: order_by.field.key_of(&row, value.as_ref()),
                    id: row.id,
                };
                Edge::new(encode_cursor(&cursor), Customer(row))
            }));
        Ok(connection)
    }
}
