//! DataLoaders: every relation a list can ask for is fetched for the whole page in one
//! query, so a page of 100 customers costs a handful of queries, not hundreds.

use std::collections::HashMap;

use anyhow::Context as _;
use async_graphql::{Error, dataloader::Loader};
use entity::{campaign, customer, customer_lifecycle, customer_value, email, segment, value_model};
use sea_orm::DatabaseConnection;

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
        let rows = jobs::value_scores::reports::latest_scores_of(&self.0, ids)
            .await
            .into_api()?;
        Ok(rows.into_iter().map(|v| (v.customer_id, v)).collect())
    }
}

/// The current lifecycle stage per customer.
pub struct CustomerLifecycleLoader(pub DatabaseConnection);

impl Loader<i64> for CustomerLifecycleLoader {
    type Value = customer_lifecycle::Model;
    type Error = Error;

    async fn load(&self, ids: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let rows = jobs::lifecycle::reports::stages_of(&self.0, ids)
            .await
            .into_api()?;
        Ok(rows.into_iter().map(|l| (l.customer_id, l)).collect())
    }
}

/// Fitted models by the job run that fitted them.
pub struct ValueModelLoader(pub DatabaseConnection);

impl Loader<i64> for ValueModelLoader {
    type Value = value_model::Model;
    type Error = Error;

    async fn load(&self, run_ids: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let rows = jobs::value_scores::reports::models_of_runs(&self.0, run_ids)
            .await
            .into_api()?;
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

/// The topics of answers, keyed by `(customer_id, feedback_id)` (tags and extracted
/// terms alike; `Feedback` shows them apart).
pub struct FeedbackTopicsLoader(pub DatabaseConnection);

impl Loader<(i64, i64)> for FeedbackTopicsLoader {
    type Value = Vec<entity::feedback_topic::Model>;
    type Error = Error;

    async fn load(
        &self,
        answers: &[(i64, i64)],
    ) -> Result<HashMap<(i64, i64), Self::Value>, Self::Error> {
        let rows = jobs::feedback::topics_of_answers(&self.0, answers)
            .await
            .into_api()?;
        let mut topics: HashMap<(i64, i64), Self::Value> = HashMap::new();
        for row in rows {
            topics
                .entry((row.customer_id, row.feedback_id))
                .or_default()
                .push(row);
        }
        Ok(topics)
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
