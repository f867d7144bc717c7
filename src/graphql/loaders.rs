//! DataLoaders: every relation a list can ask for is fetched for the whole page in one
//! query, so a page of 100 customers costs a handful of queries, not hundreds.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;

use anyhow::Context as _;
use async_graphql::{Error, dataloader::Loader};
use entity::{
    campaign, customer, customer_lifecycle, customer_value, email, job_run, segment, segment_event,
    value_model,
};
use jobs::JobName;
use jobs::mail::outbox::{self, EmailOwner};
use sea_orm::DatabaseConnection;

use crate::graphql::errors::{IntoApi, OrInternal};
use crate::graphql::pagination::{IdCursor, Page};
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

/// What each customer's referrals brought (zeros for a customer who referred nobody).
pub struct ReferralsLoader(pub DatabaseConnection);

impl Loader<i64> for ReferralsLoader {
    type Value = jobs::referrals::ReferralFigures;
    type Error = Error;

    async fn load(&self, ids: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        jobs::referrals::figures_of(&self.0, ids)
            .await
            .context("failed to load referral figures")
            .or_internal()
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
        by_shape(
            keys,
            |key| ((key.limit, key.after), key.customer_id),
            |(limit, after), customer_ids| async move {
                children::pages::<E>(&self.db, &customer_ids, limit, after)
                    .await
                    .context("failed to load a page of customers' rows")
                    .or_internal()
            },
        )
        .await
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

/// One page of one customer's timeline.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TimelineKey {
    pub customer_id: i64,
    pub page: jobs::timeline::PageQuery,
}

/// Pages of timelines for many customers at once (`Customer.timeline`): one statement
/// per source for each page shape (`jobs::timeline::pages`).
pub struct TimelineLoader(pub DatabaseConnection);

impl Loader<TimelineKey> for TimelineLoader {
    type Value = Vec<jobs::timeline::Item>;
    type Error = Error;

    async fn load(
        &self,
        keys: &[TimelineKey],
    ) -> Result<HashMap<TimelineKey, Self::Value>, Self::Error> {
        by_shape(
            keys,
            |key| (key.page.clone(), key.customer_id),
            |page, customer_ids| async move {
                jobs::timeline::pages(&self.0, &customer_ids, &page)
                    .await
                    .into_api()
            },
        )
        .await
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

/// One page of one parent's rows keyed by id: the first `limit` rows past the id `after`
/// (in the page's order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IdPageKey {
    pub parent_id: i64,
    pub limit: u64,
    pub after: Option<i64>,
}

impl IdPageKey {
    /// The key of `page` of the parent `parent_id`'s rows.
    pub fn of(parent_id: i64, page: &Page<IdCursor>) -> Self {
        Self {
            parent_id,
            limit: page.fetch_limit(),
            after: page.cursor.map(|IdCursor(id)| id),
        }
    }
}

/// One page of one customer's or campaign's emails, newest first (`Customer.emails`,
/// `Campaign.emails`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EmailPageKey {
    pub owner: EmailOwner,
    pub page: IdPageKey,
}

/// Pages of emails for many customers or campaigns at once, like [`ChildPageLoader`]
/// but keyed by id alone, as the outbox's cursors are.
pub struct EmailPageLoader(pub DatabaseConnection);

impl Loader<EmailPageKey> for EmailPageLoader {
    type Value = Vec<email::Model>;
    type Error = Error;

    async fn load(
        &self,
        keys: &[EmailPageKey],
    ) -> Result<HashMap<EmailPageKey, Self::Value>, Self::Error> {
        by_shape(
            keys,
            |key| {
                (
                    (key.owner, key.page.limit, key.page.after),
                    key.page.parent_id,
                )
            },
            |(owner, limit, before), owner_ids| async move {
                outbox::pages_of(&self.0, owner, &owner_ids, before, limit)
                    .await
                    .into_api()
            },
        )
        .await
    }
}

/// Pages of members (customer ids) of many segments at once (`Segment.members`).
pub struct SegmentMembersLoader(pub DatabaseConnection);

impl Loader<IdPageKey> for SegmentMembersLoader {
    type Value = Vec<i64>;
    type Error = Error;

    async fn load(
        &self,
        keys: &[IdPageKey],
    ) -> Result<HashMap<IdPageKey, Self::Value>, Self::Error> {
        id_pages(keys, |segment_ids, limit, after| async move {
            jobs::segments::members_pages(&self.0, &segment_ids, after, limit)
                .await
                .into_api()
        })
        .await
    }
}

/// How many members each segment has (`Segment.members.totalCount`), in one grouped
/// statement.
pub struct SegmentMemberCountLoader(pub DatabaseConnection);

impl Loader<i64> for SegmentMemberCountLoader {
    type Value = u64;
    type Error = Error;

    async fn load(&self, ids: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        jobs::segments::member_counts(&self.0, ids).await.into_api()
    }
}

/// Pages of entries and exits of many segments at once, newest first
/// (`Segment.changes`).
pub struct SegmentChangesLoader(pub DatabaseConnection);

impl Loader<IdPageKey> for SegmentChangesLoader {
    type Value = Vec<segment_event::Model>;
    type Error = Error;

    async fn load(
        &self,
        keys: &[IdPageKey],
    ) -> Result<HashMap<IdPageKey, Self::Value>, Self::Error> {
        id_pages(keys, |segment_ids, limit, before| async move {
            jobs::segments::changes_pages(&self.0, &segment_ids, before, limit)
                .await
                .into_api()
        })
        .await
    }
}

/// The latest run of each job (`Job.lastRun`).
pub struct LatestRunLoader(pub DatabaseConnection);

impl Loader<JobName> for LatestRunLoader {
    type Value = job_run::Model;
    type Error = Error;

    async fn load(&self, jobs: &[JobName]) -> Result<HashMap<JobName, Self::Value>, Self::Error> {
        jobs::runs::latest_of(&self.0, jobs).await.into_api()
    }
}

/// [`by_shape`] for pages keyed by id: `load` takes the parents, the page size and the
/// cursor.
async fn id_pages<V, F>(
    keys: &[IdPageKey],
    load: impl Fn(Vec<i64>, u64, Option<i64>) -> F,
) -> Result<HashMap<IdPageKey, V>, Error>
where
    F: Future<Output = Result<HashMap<i64, V>, Error>>,
{
    by_shape(
        keys,
        |key| ((key.limit, key.after), key.parent_id),
        |(limit, after), parent_ids| load(parent_ids, limit, after),
    )
    .await
}

/// Answers page keys with one call of `load` per shape — what a key asks besides its
/// parent (page size, cursor, …), given with the parent by `shape` — so the usual case,
/// the same nested page for every parent in a list, is one call. `load` answers by
/// parent id.
async fn by_shape<K, S, V, F>(
    keys: &[K],
    shape: impl Fn(&K) -> (S, i64),
    load: impl Fn(S, Vec<i64>) -> F,
) -> Result<HashMap<K, V>, Error>
where
    K: Clone + Eq + Hash,
    S: Eq + Hash,
    F: Future<Output = Result<HashMap<i64, V>, Error>>,
{
    let mut groups: HashMap<S, Vec<(i64, K)>> = HashMap::new();
    for key in keys {
        let (shape, parent_id) = shape(key);
        groups
            .entry(shape)
            .or_default()
            .push((parent_id, key.clone()));
    }
    let mut answers = HashMap::new();
    for (shape, parents) in groups {
        let mut loaded = load(shape, parents.iter().map(|(id, _)| *id).collect()).await?;
        for (parent_id, key) in parents {
            if let Some(value) = loaded.remove(&parent_id) {
                answers.insert(key, value);
            }
        }
    }
    Ok(answers)
}
