//! `Customer.timeline`: one newest-first feed of everything that happened with a
//! customer (the merge, the order and the summaries are `jobs::timeline`).

use async_graphql::connection::Edge;
use async_graphql::{Context, Enum, Object, Result, Union, dataloader::DataLoader};
use chrono::{DateTime, Utc};
use jobs::timeline::{self, Position, Subject};
use serde::{Deserialize, Serialize};

use crate::api_keys::Scope;
use crate::graphql::{
    campaigns::Email,
    errors::forbidden,
    feedback::Feedback,
    guards::principal,
    interaction::Interaction,
    lifecycle::LifecycleEvent,
    loaders::{TimelineKey, TimelineLoader},
    loyalty::{LedgerEntry, TierEvent},
    order::Order,
    pagination::{Page, PlainConnection, encode_cursor},
    segments::SegmentChange,
};

/// What a timeline item is.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(remote = "jobs::timeline::Kind")]
pub enum TimelineKind {
    /// An order, at its `orderedAt`.
    Order,
    /// An interaction, at its `occurredAt`.
    Interaction,
    /// An NPS or CSAT answer, at its `occurredAt`.
    Feedback,
    /// An email queued for the customer, at its `createdAt`. Needs `campaigns:read`.
    EmailQueued,
    /// An email sent, at its `sentAt`. Needs `campaigns:read`.
    EmailSent,
    /// An email that failed for good, at its last change. Needs `campaigns:read`.
    EmailFailed,
    /// The customer unsubscribed through an email, at its `unsubscribedAt`. Needs
    /// `campaigns:read`.
    EmailUnsubscribed,
    /// An offer email converted (an order within the offer window), at its
    /// `convertedAt`. Needs `campaigns:read`.
    EmailConverted,
    /// A lifecycle stage change, at the day it took effect.
    StageChanged,
    /// The customer entered a segment. Needs `segments:read`.
    SegmentEntered,
    /// The customer left a segment. Needs `segments:read`.
    SegmentExited,
    /// A points ledger entry (earned, bonus, redeemed, adjusted, expired), at its
    /// `occurredAt`. Needs `loyalty:read`.
    PointsChanged,
    /// A loyalty tier change or grace period, at the day of the run that decided it.
    /// Needs `loyalty:read`.
    TierChanged,
}

/// The scope a kind needs besides `customers:read`: emails and segments are read with
/// their own scopes everywhere else (`Customer.emails`, `Customer.segments`).
fn scope_of(kind: timeline::Kind) -> Option<Scope> {
    use timeline::Kind::*;
    match kind {
        EmailQueued | EmailSent | EmailFailed | EmailUnsubscribed | EmailConverted => {
            Some(Scope::CampaignsRead)
        }
        SegmentEntered | SegmentExited => Some(Scope::SegmentsRead),
        PointsChanged | TierChanged => Some(Scope::LoyaltyRead),
        Order | Interaction | Feedback | StageChanged => None,
    }
}

/// The row a timeline item comes from.
#[derive(Union)]
pub enum TimelineSubject {
    Order(Order),
    Interaction(Interaction),
    Feedback(Feedback),
    Email(Email),
    LifecycleEvent(LifecycleEvent),
    SegmentChange(SegmentChange),
    LedgerEntry(LedgerEntry),
    TierEvent(TierEvent),
}

/// One thing that happened with a customer.
pub struct TimelineItem(timeline::Item);

#[Object]
impl TimelineItem {
    async fn kind(&self) -> TimelineKind {
        self.0.kind.into()
    }
    /// When it happened; items are ordered by it, newest first (ties: by kind, then id).
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
    /// One line in English, e.g. `Order o-1: 29.90 USD (web)`, `NPS 4 (detractor) via
    /// wechat`, `Win-back email sent`, `ACTIVE → SILENT: …`. Never personal text: texts
    /// are read on the subject, with `pii:read` like everywhere else.
    async fn summary(&self) -> &str {
        &self.0.summary
    }
    /// The order, interaction, feedback, email (as it is now), stage change, segment
    /// change, points ledger entry or tier event.
    async fn subject(&self) -> TimelineSubject {
        match self.0.subject.clone() {
            Subject::Order(order) => TimelineSubject::Order(Order(order)),
            Subject::Interaction(interaction) => {
                TimelineSubject::Interaction(Interaction(interaction))
            }
            Subject::Feedback(answer) => TimelineSubject::Feedback(Feedback(answer)),
            Subject::Email(email) => TimelineSubject::Email(Email(email)),
            Subject::StageChange(event) => TimelineSubject::LifecycleEvent(LifecycleEvent(event)),
            Subject::LedgerEntry(entry) => TimelineSubject::LedgerEntry(LedgerEntry(entry)),
            Subject::TierChange(event) => TimelineSubject::TierEvent(TierEvent(event)),
            Subject::SegmentChange { event, .. } => {
                TimelineSubject::SegmentChange(SegmentChange(event))
            }
        }
    }
}

/// Cursor of the timeline: the item's time, kind and row id.
#[derive(Clone, Copy, Serialize, Deserialize)]
struct TimelineCursor(DateTime<Utc>, timeline::Kind, i64);

/// A page of one customer's timeline through the batching loader: one statement per
/// source for every customer of a list that asks the same page.
pub(crate) async fn timeline(
    ctx: &Context<'_>,
    customer_id: i64,
    first: Option<i32>,
    after: Option<String>,
    kinds: Option<Vec<TimelineKind>>,
) -> Result<PlainConnection<TimelineItem>> {
    let page = Page::<TimelineCursor>::forward(first, after)?;
    let caller = principal(ctx)?;
    let readable = |kind: &timeline::Kind| scope_of(*kind).is_none_or(|scope| caller.has(scope));
    let mut kinds: Vec<timeline::Kind> = match kinds {
        None => timeline::Kind::ALL.into_iter().filter(readable).collect(),
        Some(asked) => {
            let asked: Vec<timeline::Kind> = asked.into_iter().map(Into::into).collect();
            if let Some(scope) = asked
                .iter()
                .copied()
                .find(|k| !readable(k))
                .and_then(scope_of)
            {
                return Err(forbidden(format!(
                    "this API key lacks the `{scope}` scope that some of `kinds` need"
                )));
            }
            asked
        }
    };
    kinds.sort();
    kinds.dedup();
    let key = TimelineKey {
        customer_id,
        page: timeline::PageQuery {
            limit: page.fetch_limit(),
            after: page
                .cursor
                .map(|TimelineCursor(at, kind, id)| Position { at, kind, id }),
            kinds,
        },
    };
    let loader = ctx.data::<DataLoader<TimelineLoader>>()?;
    let items = loader.load_one(key).await?.unwrap_or_default();
    let (items, has_previous, has_next) = page.finish(items);
    let mut connection = PlainConnection::new(has_previous, has_next);
    connection.edges.extend(items.into_iter().map(|item| {
        let position = item.position();
        let cursor = encode_cursor(&TimelineCursor(position.at, position.kind, position.id));
        Edge::new(cursor, TimelineItem(item))
    }));
    Ok(connection)
}
