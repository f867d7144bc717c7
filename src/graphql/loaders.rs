//! DataLoaders: every relation a list can ask for is fetched for the whole page in one
//! query, so a page of 100 customers costs a handful of queries, not hundreds.

use std::collections::HashMap;

use async_graphql::{Error, dataloader::Loader};
use chrono::{DateTime, Utc};
use entity::{
    campaign, customer, customer_interest, customer_lifecycle, customer_value, email, feedback,
    interaction, lifecycle_event, order, segment, segment_member, value_model,
};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    sea_query::{Alias, Asterisk, Expr, ExprTrait, Func, Order, Query, WindowStatement},
};

use crate::graphql::errors::{IntoApi, OrInternal};

/// Customers by id (for `referredBy` and anything else that points at a customer).
pub struct CustomerLoader(pub DatabaseConnection);

impl Loader<i64> for CustomerLoader {
    type Value = customer::Model;
    type Error = Error;

    async fn load(&self, ids: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let rows = customer::Entity::find()
            .filter(customer::Column::Id.is_in(ids.iter().copied()))
            .all(&self.0)
            .await
            .or_internal()?;
        Ok(rows.into_iter().map(|c| (c.id, c)).collect())
    }
}

/// The latest value scores per customer.
pub struct CustomerValueLoader(pub DatabaseConnection);

impl Loader<i64> for CustomerValueLoader {
    type Value = customer_value::Model;
    type Error = Error;

    async fn load(&self, ids: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let rows = customer_value::Entity::find()
            .filter(customer_value::Column::CustomerId.is_in(ids.iter().copied()))
            .filter(customer_value::latest_run())
            .all(&self.0)
            .await
            .or_internal()?;
        Ok(rows.into_iter().map(|v| (v.customer_id, v)).collect())
    }
}

/// The current lifecycle stage per customer.
pub struct CustomerLifecycleLoader(pub DatabaseConnection);

impl Loader<i64> for CustomerLifecycleLoader {
    type Value = customer_lifecycle::Model;
    type Error = Error;

    async fn load(&self, ids: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let rows = customer_lifecycle::Entity::find()
            .filter(customer_lifecycle::Column::CustomerId.is_in(ids.iter().copied()))
            .all(&self.0)
            .await
            .or_internal()?;
        Ok(rows.into_iter().map(|l| (l.customer_id, l)).collect())
    }
}

/// Fitted models by the job run that fitted them.
pub struct ValueModelLoader(pub DatabaseConnection);

impl Loader<i64> for ValueModelLoader {
    type Value = value_model::Model;
    type Error = Error;

    async fn load(&self, run_ids: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let rows = value_model::Entity::find()
            .filter(value_model::Column::JobRunId.is_in(run_ids.iter().copied()))
            .all(&self.0)
            .await
            .or_internal()?;
        Ok(rows.into_iter().map(|m| (m.job_run_id, m)).collect())
    }
}

/// Interest tags per customer, sorted.
pub struct InterestsLoader(pub DatabaseConnection);

impl Loader<i64> for InterestsLoader {
    type Value = Vec<String>;
    type Error = Error;

    async fn load(&self, ids: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let rows = customer_interest::Entity::find()
            .filter(customer_interest::Column::CustomerId.is_in(ids.iter().copied()))
            .order_by_asc(customer_interest::Column::Tag)
            .all(&self.0)
            .await
            .or_internal()?;
        let mut tags: HashMap<i64, Vec<String>> = ids.iter().map(|id| (*id, Vec::new())).collect();
        for row in rows {
            tags.entry(row.customer_id).or_default().push(row.tag);
        }
        Ok(tags)
    }
}

/// A customer's own rows (orders, interactions, feedback: newest first; lifecycle
/// events: oldest first).
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

/// One page of one customer's rows: the first `limit` rows past `after`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ChildPageKey {
    pub customer_id: i64,
    pub limit: u64,
    pub after: Option<ChildCursor>,
}

/// Loads a page of children for many customers at once with
/// `ROW_NUMBER() OVER (PARTITION BY customer_id …)`, which SQLite and PostgreSQL share.
pub struct ChildPageLoader<E> {
    db: DatabaseConnection,
    _entity: std::marker::PhantomData<E>,
}

impl<E> ChildPageLoader<E> {
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            _entity: std::marker::PhantomData,
        }
    }
}

impl<E> Loader<ChildPageKey> for ChildPageLoader<E>
where
    E: CustomerChild + Send + Sync + 'static,
    E::Model: Send + Sync + Clone,
{
    type Value = Vec<E::Model>;
    type Error = Error;

    async fn load(
        &self,
        keys: &[ChildPageKey],
    ) -> Result<HashMap<ChildPageKey, Self::Value>, Self::Error> {
        // Keys that share page size and cursor (the usual case: the same nested page for
        // every customer in a list) share one query.
        let mut groups: HashMap<(u64, Option<ChildCursor>), Vec<i64>> = HashMap::new();
        for key in keys {
            groups
                .entry((key.limit, key.after))
                .or_default()
                .push(key.customer_id);
        }
        let backend = self.db.get_database_backend();
        let mut pages = HashMap::new();
        let order = if E::OLDEST_FIRST {
            Order::Asc
        } else {
            Order::Desc
        };
        for ((limit, after), customer_ids) in groups {
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
                .order_by(E::id(), order.clone())
                .to_owned();
            let rows = E::find()
                .from_raw_sql(backend.build(&outer))
                .all(&self.db)
                .await
                .or_internal()?;
            let mut by_customer: HashMap<i64, Vec<E::Model>> = HashMap::new();
            for row in rows {
                let customer_id = customer_id_of::<E>(&row);
                by_customer.entry(customer_id).or_default().push(row);
            }
            for customer_id in customer_ids {
                let rows = by_customer.remove(&customer_id).unwrap_or_default();
                pages.insert(
                    ChildPageKey {
                        customer_id,
                        limit,
                        after,
                    },
                    rows,
                );
            }
        }
        Ok(pages)
    }
}

fn customer_id_of<E: CustomerChild>(model: &E::Model) -> i64 {
    use sea_orm::ModelTrait;
    match model.get(E::customer_id()) {
        sea_orm::Value::BigInt(Some(id)) => id,
        _ => 0,
    }
}

/// Segments by id (`Campaign.segment`).
pub struct SegmentLoader(pub DatabaseConnection);

impl Loader<i64> for SegmentLoader {
    type Value = segment::Model;
    type Error = Error;

    async fn load(&self, ids: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let rows = segment::Entity::find()
            .filter(segment::Column::Id.is_in(ids.iter().copied()))
            .all(&self.0)
            .await
            .or_internal()?;
        Ok(rows.into_iter().map(|s| (s.id, s)).collect())
    }
}

/// The segments each customer belongs to, by id (`Customer.segments`): two statements
/// for a whole page, the memberships and then their segments.
pub struct SegmentsOfCustomerLoader(pub DatabaseConnection);

impl Loader<i64> for SegmentsOfCustomerLoader {
    type Value = Vec<segment::Model>;
    type Error = Error;

    async fn load(&self, ids: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let memberships = segment_member::Entity::find()
            .filter(segment_member::Column::CustomerId.is_in(ids.iter().copied()))
            .all(&self.0)
            .await
            .or_internal()?;
        let segment_ids: std::collections::BTreeSet<i64> =
            memberships.iter().map(|m| m.segment_id).collect();
        let segments: HashMap<i64, segment::Model> = segment::Entity::find()
            .filter(segment::Column::Id.is_in(segment_ids))
            .all(&self.0)
            .await
            .or_internal()?
            .into_iter()
            .map(|s| (s.id, s))
            .collect();
        let mut of: HashMap<i64, Vec<segment::Model>> =
            ids.iter().map(|id| (*id, Vec::new())).collect();
        for membership in memberships {
            if let Some(segment) = segments.get(&membership.segment_id) {
                of.entry(membership.customer_id)
                    .or_default()
                    .push(segment.clone());
            }
        }
        for list in of.values_mut() {
            list.sort_by_key(|s| s.id);
        }
        Ok(of)
    }
}

/// Every campaign, by id, read once per batch (`Segment.campaigns`,
/// `LifecyclePlaybook.campaigns`): campaigns are a short shared list, and which of them
/// belong to a segment or a stage is read from their targets.
pub struct CampaignsLoader(pub DatabaseConnection);

impl Loader<()> for CampaignsLoader {
    type Value = Vec<campaign::Model>;
    type Error = Error;

    async fn load(&self, _: &[()]) -> Result<HashMap<(), Self::Value>, Self::Error> {
        let all = jobs::campaigns::all(&self.0).await.into_api()?;
        Ok(HashMap::from([((), all)]))
    }
}

/// How each campaign's emails fared (`Campaign.stats`), in one grouped statement.
pub struct CampaignStatsLoader(pub DatabaseConnection);

impl Loader<i64> for CampaignStatsLoader {
    type Value = jobs::campaigns::CampaignStats;
    type Error = Error;

    async fn load(&self, ids: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        jobs::campaigns::email_stats(&self.0, ids).await.into_api()
    }
}

/// One page of one customer's emails, newest first: the first `limit` past the id
/// `after` (`Customer.emails`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EmailPageKey {
    pub customer_id: i64,
    pub limit: u64,
    pub after: Option<i64>,
}

/// Pages of emails for many customers at once, like [`ChildPageLoader`] but keyed by
/// id alone, as the outbox's cursors are: one statement per page size and cursor.
pub struct EmailPageLoader(pub DatabaseConnection);

impl Loader<EmailPageKey> for EmailPageLoader {
    type Value = Vec<email::Model>;
    type Error = Error;

    async fn load(
        &self,
        keys: &[EmailPageKey],
    ) -> Result<HashMap<EmailPageKey, Self::Value>, Self::Error> {
        let mut groups: HashMap<(u64, Option<i64>), Vec<i64>> = HashMap::new();
        for key in keys {
            groups
                .entry((key.limit, key.after))
                .or_default()
                .push(key.customer_id);
        }
        let mut pages = HashMap::new();
        for ((limit, after), customer_ids) in groups {
            let of_customers =
                jobs::mail::outbox::pages_of_customers(&self.0, &customer_ids, after, limit)
                    .await
                    .into_api()?;
            pages.extend(of_customers.into_iter().map(|(customer_id, rows)| {
                let key = EmailPageKey {
                    customer_id,
                    limit,
                    after,
                };
                (key, rows)
            }));
        }
        Ok(pages)
    }
}
