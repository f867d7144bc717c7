//! A customer's own rows — orders, interactions, feedback (newest first), lifecycle
//! events (oldest first) — a page at a time for many customers in one statement, so a
//! list of customers with a nested list costs one query, not one per customer.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{feedback, interaction, lifecycle_event, order};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, ModelTrait,
    sea_query::{Alias, Asterisk, Expr, ExprTrait, Func, Order, Query, WindowStatement},
};

/// A table of rows that belong to one customer each, paged by time and id.
pub trait CustomerChild: EntityTrait {
    /// Pages run oldest first instead of newest first.
    const OLDEST_FIRST: bool = false;
    fn customer_id() -> Self::Column;
    fn occurred_at() -> Self::Column;
    fn id() -> Self::Column;
}

macro_rules! customer_child {
    ($entity:path, $time:ident $(, $oldest_first:literal)?) => {
        impl CustomerChild for $entity {
            $(const OLDEST_FIRST: bool = $oldest_first;)?
            fn customer_id() -> Self::Column {
                <$entity as EntityTrait>::Column::CustomerId
            }
            fn occurred_at() -> Self::Column {
                <$entity as EntityTrait>::Column::$time
            }
            fn id() -> Self::Column {
                <$entity as EntityTrait>::Column::Id
            }
        }
    };
}
customer_child!(order::Entity, OrderedAt);
customer_child!(interaction::Entity, OccurredAt);
customer_child!(feedback::Entity, OccurredAt);
customer_child!(lifecycle_event::Entity, At, true);

/// Where a page of children starts: the row's time and id.
pub type ChildCursor = (DateTime<Utc>, i64);

/// The first `limit` rows past `after` of each of these customers, with
/// `ROW_NUMBER() OVER (PARTITION BY customer_id …)`, which SQLite and PostgreSQL share.
/// Every customer asked for has an entry (empty when they have no rows).
pub async fn pages<E>(
    db: &impl ConnectionTrait,
    customer_ids: &[i64],
    limit: u64,
    after: Option<ChildCursor>,
) -> Result<HashMap<i64, Vec<E::Model>>, DbErr>
where
    E: CustomerChild,
{
    let order = if E::OLDEST_FIRST {
        Order::Asc
    } else {
        Order::Desc
    };
    let row_number = Alias::new("row_number_in_customer");
    let mut inner = Query::select();
    inner
        .column(Asterisk)
        .expr_window_as(
            Func::cust("ROW_NUMBER"),
            WindowStatement::partition_by(E::customer_id())
                .order_by(E::occurred_at(), order.clone())
                .order_by(E::id(), order.clone())
                .to_owned(),
            row_number.clone(),
        )
        .from(E::default())
        .and_where(E::customer_id().is_in(customer_ids.iter().copied()));
    if let Some((at, id)) = after {
        inner.and_where(if E::OLDEST_FIRST {
            E::occurred_at()
                .gt(at)
                .or(E::occurred_at().eq(at).and(E::id().gt(id)))
        } else {
            E::occurred_at()
                .lt(at)
                .or(E::occurred_at().eq(at).and(E::id().lt(id)))
        });
    }
    let outer = Query::select()
        .column(Asterisk)
        .from_subquery(inner, Alias::new("numbered"))
        .and_where(Expr::col(row_number).lte(limit as i64))
        .order_by(E::occurred_at(), order.clone())
        .order_by(E::id(), order)
        .to_owned();
    let rows = E::find()
        .from_raw_sql(db.get_database_backend().build(&outer))
        .all(db)
        .await?;
    let mut by_customer: HashMap<i64, Vec<E::Model>> =
        customer_ids.iter().map(|id| (*id, Vec::new())).collect();
    for row in rows {
        if let sea_orm::Value::BigInt(Some(customer_id)) = row.get(E::customer_id()) {
            by_customer.entry(customer_id).or_default().push(row);
        }
    }
    Ok(by_customer)
}
