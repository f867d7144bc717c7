//! DataLoaders: every relation a list can ask for is fetched for the whole page in one
//! query, so a page of 100 customers costs a handful of queries, not hundreds.

use std::collections::HashMap;

use anyhow::Context as _;
use async_graphql::{Error, dataloader::Loader};
use entity::{campaign, customer, customer_lifecycle, customer_value, email, segment, value_model};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Alias, Asterisk, Expr, ExprTrait, Func, Order, Query, WindowStatement},
};

use crate::graphql::errors::{IntoApi, OrInternal};
use jobs::customers::children::{self, ChildCursor, CustomerChild};

/// Customers by id (for `referredBy` and anything else that points at a customer).
pub struct CustomerLoader(pub DatabaseConnection);

impl Loader<i64> for CustomerLoader {
    type Value = customer::Model;
    type Error = Error;

    async fn load(&self, ids: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let rows = jobs::customers::by_ids(&self.0, ids)
            .await
            .context("failed to load customers")
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
        jobs::customers::interests_of(&self.0, ids)
            .await
            .context("failed to load interests")
            .or_internal()
    }
}

/// One page of one customer's rows: the first `limit` rows past `after`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ChildPageKey {
    pub customer_id: i64,
    pub limit: u64,
    pub after: Option<ChildCursor>,
}

/// Loads a page of children for many customers at once
/// (`jobs::customers::children::pages`).
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
        let mut pages = HashMap::new();
        for ((limit, after), customer_ids) in groups {
            let by_customer = children::pages::<E>(&self.db, &customer_ids, limit, after)
                .await
                .context("failed to load a page of customers' rows")
                .or_internal()?;
            pages.extend(by_customer.into_iter().map(|(customer_id, rows)| {
                let key = ChildPageKey {
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

/// Segments by id (`Campaign.segment`).
pub struct SegmentLoader(pub DatabaseConnection);

impl Loader<i64> for SegmentLoader {
    type Value = segment::Model;
    type Error = Error;

    async fn load(&self, ids: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        jobs::segments::by_ids(&self.0, ids).await.into_api()
    }
}

/// The segments each customer belongs to, by id (`Customer.segments`): two statements
/// for a whole page, the memberships and then their segments.
pub struct SegmentsOfCustomerLoader(pub DatabaseConnection);

impl Loader<i64> for SegmentsOfCustomerLoader {
    type Value = Vec<segment::Model>;
    type Error = Error;

    async fn load(&self, ids: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        jobs::segments::segments_of_customers(&self.0, ids)
            .await
            .into_api()
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
        let all = campaign::Entity::find()
            .order_by_asc(campaign::Column::Id)
            .all(&self.0)
            .await
            .or_internal()?;
        Ok(HashMap::from([((), all)]))
    }
}

/// How each campaign's emails fared (`Campaign.stats`), in one grouped statement.
pub struct CampaignStatsLoader(pub DatabaseConnection);

impl Loader<i64> for CampaignStatsLoader {
    type Value = crate::graphql::campaigns::CampaignStats;
    type Error = Error;

    async fn load(&self, ids: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let rows: Vec<(i64, entity::EmailStatus, i64, i64, i64)> = email::Entity::find()
            .select_only()
            .column(email::Column::CampaignId)
            .column(email::Column::Status)
            .column_as(email::Column::Id.count(), "n")
            .column_as(email::Column::UnsubscribedAt.count(), "unsubscribed")
            .column_as(email::Column::ConvertedAt.count(), "converted")
            .filter(email::Column::CampaignId.is_in(ids.iter().copied()))
            .group_by(email::Column::CampaignId)
            .group_by(email::Column::Status)
            .into_tuple()
            .all(&self.0)
            .await
            .or_internal()?;
        let mut stats: HashMap<i64, Self::Value> =
            ids.iter().map(|id| (*id, Self::Value::default())).collect();
        for (campaign_id, status, n, unsubscribed, converted) in rows {
            let of = stats.entry(campaign_id).or_default();
            let n = n as u64;
            match status {
                entity::EmailStatus::Queued
                | entity::EmailStatus::Sending
                | entity::EmailStatus::Retrying => of.queued += n,
                entity::EmailStatus::Sent => of.sent += n,
                entity::EmailStatus::Failed => of.failed += n,
                entity::EmailStatus::Suppressed => of.suppressed += n,
            }
            of.unsubscribed += unsubscribed as u64;
            of.converted += converted as u64;
        }
        Ok(stats)
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
/// id alone, as the outbox's cursors are.
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
        let backend = self.0.get_database_backend();
        let mut pages = HashMap::new();
        for ((limit, after), customer_ids) in groups {
            let row_number = Alias::new("row_number_in_customer");
            let mut inner = Query::select();
            inner
                .column(Asterisk)
                .expr_window_as(
                    Func::cust("ROW_NUMBER"),
                    WindowStatement::partition_by(email::Column::CustomerId)
                        .order_by(email::Column::Id, Order::Desc)
                        .to_owned(),
                    row_number.clone(),
                )
                .from(email::Entity)
                .and_where(email::Column::CustomerId.is_in(customer_ids.iter().copied()));
            if let Some(after) = after {
                inner.and_where(email::Column::Id.lt(after));
            }
            let outer = Query::select()
                .column(Asterisk)
                .from_subquery(inner, Alias::new("numbered"))
                .and_where(Expr::col(row_number).lte(limit as i64))
                .order_by(email::Column::Id, Order::Desc)
                .to_owned();
            let rows = email::Entity::find()
                .from_raw_sql(backend.build(&outer))
                .all(&self.0)
                .await
                .or_internal()?;
            let mut by_customer: HashMap<i64, Vec<email::Model>> = HashMap::new();
            for row in rows {
                if let Some(customer_id) = row.customer_id {
                    by_customer.entry(customer_id).or_default().push(row);
                }
            }
            for customer_id in customer_ids {
                let rows = by_customer.remove(&customer_id).unwrap_or_default();
                pages.insert(
                    EmailPageKey {
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
