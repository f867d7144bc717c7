//! Referrals: what a customer's referrals brought, and the advocates ranked by it (the
//! rules are `jobs::referrals`).

use async_graphql::{Context, Object, Result, connection::Edge, dataloader::DataLoader};
use jobs::referrals::{self as rules, AdvocatePosition};
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};

use crate::api_keys::Scope;
use crate::graphql::{
    customer::Customer,
    errors::IntoApi,
    guards::RequireScope,
    loaders::CustomerLoader,
    pagination::{Page, PlainConnection, encode_cursor},
    scalars::Decimal,
};

/// What the customers someone referred have done since. Read live: an order counts the
/// moment it is recorded. Erased customers still count (the referral happened and their
/// orders are kept). The composite advocacy score of the value scores reads the same
/// customers and spend at its cutoff.
pub struct Referrals(pub rules::ReferralFigures);

#[Object]
impl Referrals {
    /// Customers who name this one as their referrer.
    async fn count(&self) -> i64 {
        self.0.count
    }
    /// Of those, the ones who have placed at least one order.
    async fn first_order_count(&self) -> i64 {
        self.0.first_order_count
    }
    /// What those customers have spent in all (their `totalSpent` summed).
    async fn revenue(&self) -> Decimal {
        self.0.revenue.into()
    }
}

/// A customer and what their referrals brought.
pub struct Advocate {
    row: rules::Advocate,
    customer: entity::customer::Model,
}

#[Object]
impl Advocate {
    async fn customer(&self) -> Customer {
        Customer(self.customer.clone())
    }
    async fn referrals(&self) -> Referrals {
        Referrals(self.row.figures)
    }
}

/// Cursor of the advocates ranking: referred revenue (units) and customer id.
#[derive(Clone, Copy, Serialize, Deserialize)]
struct AdvocateCursor(i64, i64);

#[derive(Default)]
pub struct ReferralQuery;

#[Object]
impl ReferralQuery {
    /// Customers who referred anyone, most referred revenue first (then by id).
    #[graphql(guard = "RequireScope(Scope::CustomersRead)")]
    async fn top_advocates(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<PlainConnection<Advocate>> {
        let db = ctx.data::<DatabaseConnection>()?;
        let page = Page::<AdvocateCursor>::forward(first, after)?;
        let position = page
            .cursor
            .map(|AdvocateCursor(revenue, customer_id)| AdvocatePosition {
                revenue,
                customer_id,
            });
        let rows = rules::top_advocates(db, position, page.fetch_limit())
            .await
            .into_api()?;
        let (rows, has_previous, has_next) = page.finish(rows);
        let loader = ctx.data::<DataLoader<CustomerLoader>>()?;
        let customers = loader
            .load_many(rows.iter().map(|row| row.customer_id))
            .await?;
        let mut connection = PlainConnection::new(has_previous, has_next);
        for row in rows {
            let Some(customer) = customers.get(&row.customer_id).cloned() else {
                continue;
            };
            let position = row.position();
            let cursor = encode_cursor(&AdvocateCursor(position.revenue, position.customer_id));
            connection
                .edges
                .push(Edge::new(cursor, Advocate { row, customer }));
        }
        Ok(connection)
    }
}
