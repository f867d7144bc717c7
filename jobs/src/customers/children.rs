//! A customer's own rows — orders, interactions, feedback (newest first), lifecycle
//! events (oldest first) — a page at a time for many customers in one statement, so a
//! list of customers with a nested list costs one query, not one per customer.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{feedback, interaction, lifecycle_event, order};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    sea_query::{Cond, ExprTrait, Order},
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

/// The first `limit` rows past `after` of each of these customers, in one statement
/// ([`crate::pages`]). Every customer asked for has an entry (empty when they have no
/// rows).
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
    let mut past = Cond::all();
    if let Some((at, id)) = after {
        past = past.add(if E::OLDEST_FIRST {
            E::occurred_at()
                .gt(at)
                .or(E::occurred_at().eq(at).and(E::id().gt(id)))
        } else {
            E::occurred_at()
                .lt(at)
                .or(E::occurred_at().eq(at).and(E::id().lt(id)))
        });
    }
    crate::pages::first_rows_of_each::<E>(
        db,
        E::customer_id(),
        customer_ids,
        past,
        &[(E::occurred_at(), order.clone()), (E::id(), order)],
        limit,
    )
    .await
}
