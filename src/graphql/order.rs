//! Orders: the `Order` type and `recordOrders`.

use std::collections::HashSet;

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Duration, Utc};
use entity::{Money, customer, order};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, Set,
    sea_query::{Alias, Expr, ExprTrait, Func, OnConflict, Query},
};

use crate::api_keys::Scope;
use crate::domain::{CurrencyCode, Label};
use crate::graphql::{
    customer_mutation::MAX_BATCH,
    customer_ref::{self, CustomerRef},
    errors::{IntoApi, OrInternal, Problems, bad_input},
    guards::RequireScope,
    scalars::Decimal,
    write_locks,
};

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

#[derive(SimpleObject)]
pub struct RecordOrdersPayload {
    /// Every order of the input, in input order, as stored.
    pub orders: Vec<Order>,
    /// Orders stored by this call.
    pub created: u32,
    /// Orders whose externalId was already known (left as they were).
    pub unchanged: u32,
}

/// The largest amount one order may have: 1,000,000,000 in its currency (10¹³ units).
/// Totals over any number of orders are exact whatever the amounts
/// ([`entity::sql::money_sum`]); this bound keeps the amounts themselves plausible and
/// gives a customer room for almost a million such orders before their own total reaches
/// the range of one amount ([`MAX_CUSTOMER_TOTAL`]).
pub const MAX_ORDER_AMOUNT: Money = Money(1_000_000_000 * 10_000);

/// The most one customer's orders may add up to: the range of one amount, which the
/// kept `totalSpent` (and the first day's total) must fit in.
pub const MAX_CUSTOMER_TOTAL: Money = Money(i64::MAX);

/// Clock skew tolerated on `orderedAt`.
const FUTURE_TOLERANCE: Duration = Duration::minutes(5);

fn parse_amount(amount: &Decimal, currency: Option<&CurrencyCode>) -> Result<Money, String> {
    let amount = amount.value();
    if amount.is_sign_negative() && !amount.is_zero() {
        return Err(format!("amount {amount} is negative"));
    }
    if let Some(currency) = currency
        && amount.normalize().scale() > currency.minor_units()
    {
        return Err(format!(
            "amount {amount} has more decimal places than {} has ({})",
            currency.as_str(),
            currency.minor_units()
        ));
    }
    let too_large = || {
        format!(
            "amount {amount} is more than the largest order amount, {}",
            MAX_ORDER_AMOUNT.to_decimal()
        )
    };
    let money = Money::from_decimal(amount).map_err(|error| match error {
        entity::money::MoneyError::TooPrecise => {
            format!("amount {amount} has more than four decimal places")
        }
        entity::money::MoneyError::OutOfRange => too_large(),
    })?;
    if money > MAX_ORDER_AMOUNT {
        return Err(too_large());
    }
    Ok(money)
}

/// The customers among `customer_ids` whose orders add up to more than
/// [`MAX_CUSTOMER_TOTAL`] (summed without overflow, so the question can be asked).
async fn customers_over_total<C: ConnectionTrait>(
    db: &C,
    customer_ids: &[i64],
) -> Result<Vec<i64>, sea_orm::DbErr> {
    #[derive(sea_orm::FromQueryResult)]
    struct Row {
        customer_id: i64,
        total: entity::MoneyTotal,
    }
    if customer_ids.is_empty() {
        return Ok(Vec::new());
    }
    let backend = db.get_database_backend();
    let placeholders: Vec<String> = (1..=customer_ids.len())
        .map(|n| entity::sql::nth_placeholder(backend, n))
        .collect();
    let sql = format!(
        "SELECT customer_id, {} FROM orders WHERE customer_id IN ({}) GROUP BY customer_id",
        entity::sql::money_sum("amount", "total"),
        placeholders.join(", ")
    );
    let rows = <Row as sea_orm::FromQueryResult>::find_by_statement(
        sea_orm::Statement::from_sql_and_values(
            backend,
            sql,
            customer_ids.iter().map(|id| sea_orm::Value::from(*id)),
        ),
    )
    .all(db)
    .await?;
    Ok(rows
        .into_iter()
        .filter(|row| row.total.0 > i128::from(MAX_CUSTOMER_TOTAL.0))
        .map(|row| row.customer_id)
        .collect())
}

/// Recomputes the order aggregates of these customers from their orders, in SQL.
pub async fn refresh_order_aggregates<C: ConnectionTrait>(
    db: &C,
    customer_ids: &[i64],
) -> Result<(), sea_orm::DbErr> {
    if customer_ids.is_empty() {
        return Ok(());
    }
    let backend = db.get_database_backend();
    let day = entity::sql::day_key_sql(backend, "orders.ordered_at");
    let first_key = entity::sql::day_key_sql(backend, "o.ordered_at");
    let orders = Alias::new("orders");
    let of_this_customer = || {
        Expr::col((orders.clone(), order::Column::CustomerId))
            .equals((customer::Entity, customer::Column::Id))
    };
    let aggregate = |expr: Expr| -> Expr {
        Expr::SubQuery(
            None,
            Box::new(
                Query::select()
                    .expr(expr)
                    .from(order::Entity)
                    .and_where(of_this_customer())
                    .to_owned()
                    .into(),
            ),
        )
    };
    let statement = Query::update()
        .table(customer::Entity)
        .value(
            customer::Column::OrderCount,
            aggregate(Func::count(Expr::col(order::Column::Id)).into()),
        )
        .value(
            customer::Column::TotalSpent,
            aggregate(
                Func::coalesce([
                    Func::sum(Expr::col(order::Column::Amount)).into(),
                    Expr::val(0_i64),
                ])
                .into(),
            ),
        )
        .value(
            customer::Column::FirstOrderAt,
            aggregate(Func::min(Expr::col(order::Column::OrderedAt)).into()),
        )
        .value(
            customer::Column::LastOrderAt,
            aggregate(Func::max(Expr::col(order::Column::OrderedAt)).into()),
        )
        // What the value-scores job needs beyond the above, so that a run for today reads
        // one row per customer instead of grouping every order.
        .value(
            customer::Column::PurchaseDays,
            Expr::cust(format!(
                "(SELECT COUNT(DISTINCT {day}) FROM orders WHERE orders.customer_id = customers.id)"
            )),
        )
        .value(
            customer::Column::FirstDayTotal,
            // The first day's group, found by sorting the days: a comparison with a
            // correlated MIN would be evaluated again for every order (quadratic on
            // SQLite, minutes for a customer with many thousand orders).
            Expr::cust(format!(
                "COALESCE((SELECT SUM(o.amount) FROM orders o WHERE o.customer_id = customers.id \
                 GROUP BY {first_key} ORDER BY {first_key} LIMIT 1), 0)"
            )),
        )
        // The customer's rhythm, for the lifecycle rules.
        .value(
            customer::Column::MedianGapDays,
            Expr::cust(entity::sql::median_gap_sql(backend, "customers.id")),
        )
        .and_where(Expr::col(customer::Column::Id).is_in(customer_ids.iter().copied()))
        .to_owned();
    db.execute(&statement).await.map(|_| ())
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
        if input.len() > MAX_BATCH {
            return Err(bad_input(
                "input",
                format!("at most {MAX_BATCH} orders per call, got {}", input.len()),
            ));
        }
        let mut problems = Problems::new();
        let refs: Vec<CustomerRef> = input
            .iter()
            .enumerate()
            .map(|(index, row)| CustomerRef {
                index: Some(index),
                prefix: format!("input[{index}]"),
                customer_id: row.customer_id.as_ref(),
                customer_external_id: row.customer_external_id.as_deref(),
            })
            .collect();
        let customers = customer_ref::resolve(db, &refs, &mut problems).await?;
        let latest_allowed = Utc::now() + FUTURE_TOLERANCE;
        let now = Utc::now();
        let mut seen = HashSet::new();
        let mut rows = Vec::with_capacity(input.len());
        for (index, (row, customer_id)) in input.iter().zip(customers).enumerate() {
            let field = |name: &str| format!("input[{index}].{name}");
            let external_id = problems.check(
                Some(index),
                &field("externalId"),
                Label::parse(&row.external_id, 128),
            );
            if let Some(external_id) = &external_id
                && !seen.insert(external_id.clone())
            {
                problems.push(
                    Some(index),
                    field("externalId"),
                    "appears twice in the input",
                );
            }
            let currency = problems.check(
                Some(index),
                &field("currency"),
                CurrencyCode::parse(&row.currency),
            );
            let amount = problems.check(
                Some(index),
                &field("amount"),
                parse_amount(&row.amount, currency.as_ref()),
            );
            if row.ordered_at > latest_allowed {
                problems.push(
                    Some(index),
                    field("orderedAt"),
                    format!("{} is in the future", row.ordered_at.to_rfc3339()),
                );
            }
            let channel = match &row.channel {
                Some(channel) => problems
                    .check(Some(index), &field("channel"), Label::parse(channel, 64))
                    .map(Label::into_inner),
                None => None,
            };
            let item_count = row.item_count.unwrap_or(1);
            if !(1..=100_000).contains(&item_count) {
                problems.push(
                    Some(index),
                    field("itemCount"),
                    format!("must be between 1 and 100000, got {item_count}"),
                );
            }
            if let (Some(external_id), Some(customer_id), Some(amount), Some(currency)) =
                (external_id, customer_id, amount, currency)
            {
                rows.push(order::ActiveModel {
                    external_id: Set(external_id.into_inner()),
                    customer_id: Set(customer_id),
                    amount: Set(amount),
                    currency: Set(currency.into_inner()),
                    ordered_at: Set(row.ordered_at),
                    channel: Set(channel),
                    item_count: Set(item_count),
                    created_at: Set(now),
                    ..Default::default()
                });
            }
        }
        problems.into_result().into_api()?;

        let external_ids: Vec<String> = input
            .iter()
            .map(|row| row.external_id.trim().to_owned())
            .collect();
        // The customers whose aggregates this call may change, locked before the insert:
        // the recomputation below then sees every order committed before it, and no
        // concurrent call for the same customer can write aggregates from an older view.
        let mut touched: Vec<i64> = rows
            .iter()
            .filter_map(|row| match &row.customer_id {
                sea_orm::ActiveValue::Set(id) | sea_orm::ActiveValue::Unchanged(id) => Some(*id),
                sea_orm::ActiveValue::NotSet => None,
            })
            .collect();
        touched.sort_unstable();
        touched.dedup();
        let txn = write_locks::begin_write(db).await.or_internal()?;
        write_locks::lock_customers(&txn, &touched)
            .await
            .or_internal()?;
        let created = if rows.is_empty() {
            0
        } else {
            order::Entity::insert_many(rows)
                .on_conflict(
                    OnConflict::column(order::Column::ExternalId)
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(&txn)
                .await
                .or_internal()?
        };
        let mut stored = order::Entity::find()
            .filter(order::Column::ExternalId.is_in(external_ids.clone()))
            .all(&txn)
            .await
            .or_internal()?;
        // Orders already known keep their customers' aggregates as they were; only the
        // customers of this input (locked above) can have new orders.
        if created > 0 {
            let over = customers_over_total(&txn, &touched).await.or_internal()?;
            if let Some(customer_id) = over.first() {
                // Dropping the transaction takes the orders back.
                return Err(bad_input(
                    "input",
                    format!(
                        "the orders of customer {customer_id} would add up to more than {}, \
                         the most one customer's orders may total",
                        MAX_CUSTOMER_TOTAL.to_decimal()
                    ),
                ));
            }
            refresh_order_aggregates(&txn, &touched)
                .await
                .or_internal()?;
        }
        txn.commit().await.or_internal()?;

        let position: std::collections::HashMap<&str, usize> = external_ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.as_str(), i))
            .collect();
        stored.sort_by_key(|o| {
            position
                .get(o.external_id.as_str())
                .copied()
                .unwrap_or(usize::MAX)
        });
        let created = created as u32;
        Ok(RecordOrdersPayload {
            unchanged: (stored.len() as u32).saturating_sub(created),
            created,
            orders: stored.into_iter().map(Order).collect(),
        })
    }
}
