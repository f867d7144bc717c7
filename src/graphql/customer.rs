//! The `Customer` type and the customer queries (the rules and SQL are
//! `jobs::customers`). Longer than most: `Customer` has some forty fields and the list
//! filter as many inputs, each mapped once to the domain's filter; every resolver is
//! still one domain call or one loader.

use anyhow::Context as _;
use async_graphql::connection::Edge;
use async_graphql::{Context, ID, InputObject, Object, Result, dataloader::DataLoader};
use chrono::{DateTime, Utc};
use entity::{customer, feedback, interaction, order};
use futures::FutureExt;
use jobs::customers::{children::CustomerChild, list};
use sea_orm::DatabaseConnection;

use crate::api_keys::Scope;
use crate::graphql::{
    customer_columns,
    enums::{Gender, OrderDirection},
    errors::{IntoApi, OrInternal, bad_input},
    feedback::Feedback,
    guards::{RequireScope, require},
    interaction::Interaction,
    lifecycle::{Lifecycle, LifecycleStage},
    loaders::{
        ChildPageKey, ChildPageLoader, CustomerLifecycleLoader, CustomerLoader,
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
    /// The code this customer hands to friends: sent as `referralCode` when a friend is
    /// created, it makes this customer their referrer. Random (60 bits), so it reveals
    /// nothing about the customer; none for an erased customer.
    async fn referral_code(&self) -> Option<&str> {
        self.0.referral_code.as_deref()
    }
    /// What the customers this one referred have done since.
    async fn referrals(&self, ctx: &Context<'_>) -> Result<crate::graphql::referrals::Referrals> {
        let loader = ctx.data::<DataLoader<crate::graphql::loaders::ReferralsLoader>>()?;
        Ok(crate::graphql::referrals::Referrals(
            loader.load_one(self.0.id).await?.unwrap_or_default(),
        ))
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
    /// The customer's membership of the loyalty programme: tier, points, ledger, tier
    /// history. Null until their first points. Needs `loyalty:read`.
    #[graphql(guard = "RequireScope(Scope::LoyaltyRead)")]
    async fn loyalty(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Option<crate::graphql::loyalty::CustomerLoyalty>> {
        crate::graphql::loyalty::customer_loyalty(ctx, self.0.id).await
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
    /// Everything that happened with the customer, newest first, in one feed: orders,
    /// interactions, feedback, emails (queued, sent, failed, unsubscribed through,
    /// converted; `campaigns:read`), lifecycle stage changes, segment entries and exits
    /// (`segments:read`). Each item has a kind, a time, a one-line summary without
    /// personal text and its subject (whose texts need `pii:read` as everywhere). Ordered
    /// by (time, kind, id), newest first; cursors stay valid while new items arrive.
    /// `kinds`: only these (default: every kind this key may read; asking for one it
    /// may not is FORBIDDEN).
    async fn timeline(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        kinds: Option<Vec<crate::graphql::timeline::TimelineKind>>,
    ) -> Result<PlainConnection<crate::graphql::timeline::TimelineItem>> {
        crate::graphql::timeline::timeline(ctx, self.0.id, first, after, kinds).await
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
#[derive(async_graphql::Enum, Clone, Copy, Default, PartialEq, Eq, Debug)]
#[graphql(remote = "jobs::customers::list::SortField")]
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

impl From<CustomerOrder> for list::Sort {
    fn from(order: CustomerOrder) -> Self {
        list::Sort {
            field: order.field.into(),
            direction: match order.direction {
                OrderDirection::Asc => list::SortDirection::Asc,
                OrderDirection::Desc => list::SortDirection::Desc,
            },
        }
    }
}

/// The numeric id behind a customer `ID`.
pub fn customer_id_of(id: &ID) -> Result<i64, String> {
    jobs::customers::parse_id(id.as_str())
}

fn parse_id(field: &str, id: &ID) -> Result<i64> {
    customer_id_of(id).map_err(|message| bad_input(field, message))
}

fn strings<T>(values: Option<Vec<T>>, map: impl Fn(T) -> String) -> Option<Vec<String>> {
    values.map(|values| values.into_iter().map(map).collect())
}

impl From<CustomerFilter> for list::Filter {
    fn from(filter: CustomerFilter) -> Self {
        list::Filter {
            search: filter.search,
            ids: strings(filter.ids, |id| id.0),
            external_ids: filter.external_ids,
            email: filter.email,
            phone: filter.phone,
            gender: filter
                .gender
                .map(|genders| genders.into_iter().map(Into::into).collect()),
            country: filter.country,
            region: filter.region,
            city: filter.city,
            income_band: filter.income_band,
            occupation: filter.occupation,
            lifestyle: filter.lifestyle,
            needs: filter.needs,
            acquisition_channel: filter.acquisition_channel,
            locale: filter.locale,
            time_zone: filter.time_zone,
            interests_any: filter.interests_any,
            interests_all: filter.interests_all,
            marketing_consent: filter.marketing_consent,
            referred_by: filter.referred_by.map(|id| id.0),
            erased: filter.erased,
            birth_date_from: filter.birth_date_from.map(|d| d.0),
            birth_date_to: filter.birth_date_to.map(|d| d.0),
            created_from: filter.created_from,
            created_to: filter.created_to,
            first_order_from: filter.first_order_from,
            first_order_to: filter.first_order_to,
            last_order_from: filter.last_order_from,
            last_order_to: filter.last_order_to,
            has_orders: filter.has_orders,
            min_order_count: filter.min_order_count,
            max_order_count: filter.max_order_count,
            min_total_spent: filter.min_total_spent.map(|d| d.value()),
            max_total_spent: filter.max_total_spent.map(|d| d.value()),
            value_tier: filter
                .value_tier
                .map(|tiers| tiers.into_iter().map(Into::into).collect()),
            rfm_group: filter
                .rfm_group
                .map(|groups| groups.into_iter().map(Into::into).collect()),
            min_predicted_clv: filter.min_predicted_clv.map(|d| d.value()),
            max_churn_risk: filter.max_churn_risk,
            stage: filter
                .stage
                .map(|stages| stages.into_iter().map(Into::into).collect()),
            stage_since_from: filter.stage_since_from,
            stage_since_to: filter.stage_since_to,
        }
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
        let found = jobs::customers::by_external_id(db, &external_id)
            .await
            .context("failed to look a customer up by externalId")
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
        let sort: list::Sort = order_by.unwrap_or_default().into();
        if sort.field.is_personal() {
            require(ctx, Scope::PiiRead)?;
        }
        let page = Page::<list::Cursor>::new(first, after, last, before)?;
        let filter: list::Filter = filter.unwrap_or_default().into();
        if filter.uses_personal_data() {
            require(ctx, Scope::PiiRead)?;
        }
        let query = jobs::customers::ListQuery {
            filter,
            sort,
            window: list::Window {
                fetch: page.fetch_limit(),
                backward: page.direction == PageDirection::Backward,
                cursor: page.cursor.clone(),
            },
            columns: customer_columns::shown(ctx),
        };
        let listed = jobs::customers::list(&db, &query).await.into_api()?;
        let total = listed.total;
        let total = TotalCount::new(move || {
            let db = db.clone();
            let total = total.clone();
            async move { total.count(&db).await.into_api() }.boxed()
        });
        let (rows, has_previous, has_next) = page.finish(listed.rows);
        let mut connection =
            CountedConnection::with_additional_fields(has_previous, has_next, total);
        connection.edges.extend(
            rows.into_iter()
                .map(|row| Edge::new(encode_cursor(&row.cursor), Customer(row.customer))),
        );
        Ok(connection)
    }
}
