//! Orders: the `Order` type and `recordOrders` (the rules are `jobs::orders`).

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::order;
use sea_orm::DatabaseConnection;

use crate::api_keys::Scope;
use crate::graphql::{errors::IntoApi, guards::RequireScope, scalars::Decimal};

/// A purchase.
pub struct Order(pub order::Model);

#[Object]
impl Order {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn external_id(&self) -> &str {
        &self.0.external_id
    }
    async fn customer_id(&self) -> ID {
        ID(self.0.customer_id.to_string())
    }
    /// In the currency's minor units (`"29.90"` USD, `"1200"` JPY).
    async fn amount(&self) -> Decimal {
        Decimal::amount(self.0.amount, &self.0.currency)
    }
    /// ISO 4217.
    async fn currency(&self) -> &str {
        &self.0.currency
    }
    async fn ordered_at(&self) -> DateTime<Utc> {
        self.0.ordered_at
    }
    async fn channel(&self) -> Option<&str> {
        self.0.channel.as_deref()
    }
    async fn item_count(&self) -> i32 {
        self.0.item_count
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// One order. Orders are immutable once recorded: sending an order whose externalId is
/// known again changes nothing, so a partner can safely retry a whole batch.
#[derive(InputObject)]
pub struct OrderInput {
    pub external_id: String,
    pub customer_id: Option<ID>,
    pub customer_external_id: Option<String>,
    /// Not negative, at most 1000000000 (one billion), with at most as many decimal
    /// places as the currency's minor unit (two for USD, none for JPY, three for BHD).
    pub amount: Decimal,
    /// ISO 4217.
    pub currency: String,
    /// Not more than five minutes in the future.
    pub ordered_at: DateTime<Utc>,
    pub channel: Option<String>,
    /// Default 1.
    pub item_count: Option<i32>,
}

impl From<OrderInput> for jobs::orders::NewOrder {
    fn from(input: OrderInput) -> Self {
        jobs::orders::NewOrder {
            external_id: input.external_id,
            customer_id: input.customer_id.map(|id| id.0),
            customer_external_id: input.customer_external_id,
            amount: input.amount.value(),
            currency: input.currency,
            ordered_at: input.ordered_at,
            channel: input.channel,
            item_count: input.item_count,
        }
    }
}

#[derive(SimpleObject)]
pub struct RecordOrdersPayload {
    /// Every order of the input, in input order, as stored.
    pub orders: Vec<Order>,
    /// Orders stored by this call.
    pub created: u32,
    /// Orders whose externalId was already known (left as they were).
    pub unchanged: u32,
}

#[derive(Default)]
pub struct OrderMutation;

#[Object]
impl OrderMutation {
    /// Records up to 1000 orders. Idempotent by externalId. If any order is invalid
    /// nothing is written and the error lists every bad row.
    #[graphql(guard = "RequireScope(Scope::CustomersWrite)")]
    async fn record_orders(
        &self,
        ctx: &Context<'_>,
        input: Vec<OrderInput>,
    ) -> Result<RecordOrdersPayload> {
        let db = ctx.data::<DatabaseConnection>()?;
        let input: Vec<jobs::orders::NewOrder> = input.into_iter().map(Into::into).collect();
        let recorded = jobs::orders::record(db, &input).await.into_api()?;
        Ok(RecordOrdersPayload {
            orders: recorded.orders.into_iter().map(Order).collect(),
            created: recorded.created,
            unchanged: recorded.unchanged,
        })
    }
}
