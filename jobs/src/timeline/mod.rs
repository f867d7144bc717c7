//! One timeline per customer: everything that happened with them, newest first — orders,
//! interactions, feedback, emails (queued, sent, failed, unsubscribed through, converted),
//! lifecycle stage changes, segment entries and exits, points ledger entries and loyalty
//! tier changes — each item with its kind, time,
//! a one-line summary and the row it comes from.
//!
//! **Order and paging.** Items are ordered by `(time, kind rank, id)`, newest first, a
//! total order across sources: the rank breaks ties between kinds at the same time and
//! the row id ties within a kind. A page starts after a [`Position`] — that triple — and
//! each source reads, in one statement for every customer asked (a window partitioned
//! by customer), its first `limit` items past the position; the sources' rows are merged
//! in Rust and cut to `limit`. Any item of the merged page is among its source's first
//! `limit`, so the merge is exact, and a page costs one statement per source whatever
//! the number of customers. Items recorded while a client pages come before the
//! position when they are newer, so they neither repeat nor shift the pages after it; an
//! item recorded with an older time (a back-dated order, a stage change dated to the
//! day it began) shows up in its place in a later page.
//!
//! **Adding a source** ([`sources`]): its kinds in [`Kind`] (with a rank no other kind
//! has), a [`Source`] naming them, a function that reads its rows through
//! [`sources::keyset_rows`] and turns them into [`Item`]s, and its arm in [`pages`].

/// The sources, one function each.
pub mod sources;

use std::cmp::Ordering;
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{
    email, feedback, interaction, lifecycle_event, loyalty_entry, loyalty_tier_event, order,
    segment_event,
};
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};

use crate::errors::DomainResult;

/// What an item is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Kind {
    /// An order, at its `orderedAt`.
    Order,
    /// An interaction, at its `occurredAt`.
    Interaction,
    /// An NPS or CSAT answer, at its `occurredAt`.
    Feedback,
    /// An email queued by a producer, when it was queued.
    EmailQueued,
    /// An email sent, when it was sent.
    EmailSent,
    /// An email that failed for good, when it last changed.
    EmailFailed,
    /// The customer unsubscribed through an email's link.
    EmailUnsubscribed,
    /// An offer email converted: the customer ordered within the offer window.
    EmailConverted,
    /// A lifecycle stage change, at the day it took effect.
    StageChanged,
    /// The customer entered a segment.
    SegmentEntered,
    /// The customer left a segment.
    SegmentExited,
    /// A points ledger entry (earned, bonus, redeemed, adjusted, expired), at its
    /// `occurredAt`.
    PointsChanged,
    /// A loyalty tier change or grace period, at the day of the run that decided it.
    TierChanged,
}

impl Kind {
    pub const ALL: [Kind; 13] = [
        Kind::Order,
        Kind::Interaction,
        Kind::Feedback,
        Kind::EmailQueued,
        Kind::EmailSent,
        Kind::EmailFailed,
        Kind::EmailUnsubscribed,
        Kind::EmailConverted,
        Kind::StageChanged,
        Kind::SegmentEntered,
        Kind::SegmentExited,
        Kind::PointsChanged,
        Kind::TierChanged,
    ];

    /// Where the kind sorts among items of the same time (higher first). Cursors carry
    /// the kind, so a rank never changes once given; a new kind takes a new number.
    pub fn rank(self) -> i32 {
        match self {
            Kind::Order => 11,
            Kind::Interaction => 10,
            Kind::Feedback => 9,
            Kind::EmailConverted => 8,
            Kind::EmailUnsubscribed => 7,
            Kind::EmailFailed => 6,
            Kind::EmailSent => 5,
            Kind::EmailQueued => 4,
            Kind::StageChanged => 3,
            Kind::SegmentExited => 2,
            Kind::SegmentEntered => 1,
            // Ranks of kinds added later: numbers no kind had before (cursors keep them).
            Kind::PointsChanged => 12,
            Kind::TierChanged => 13,
        }
    }

    /// The source that reads it.
    pub fn source(self) -> Source {
        match self {
            Kind::Order => Source::Orders,
            Kind::Interaction => Source::Interactions,
            Kind::Feedback => Source::Feedback,
            Kind::EmailQueued
            | Kind::EmailSent
            | Kind::EmailFailed
            | Kind::EmailUnsubscribed
            | Kind::EmailConverted => Source::Emails,
            Kind::StageChanged => Source::Lifecycle,
            Kind::SegmentEntered | Kind::SegmentExited => Source::Segments,
            Kind::PointsChanged => Source::Ledger,
            Kind::TierChanged => Source::Tiers,
        }
    }

    /// The name rows are tagged with in SQL (fixed names, never input).
    fn as_str(self) -> &'static str {
        match self {
            Kind::Order => "ORDER",
            Kind::Interaction => "INTERACTION",
            Kind::Feedback => "FEEDBACK",
            Kind::EmailQueued => "EMAIL_QUEUED",
            Kind::EmailSent => "EMAIL_SENT",
            Kind::EmailFailed => "EMAIL_FAILED",
            Kind::EmailUnsubscribed => "EMAIL_UNSUBSCRIBED",
            Kind::EmailConverted => "EMAIL_CONVERTED",
            Kind::StageChanged => "STAGE_CHANGED",
            Kind::SegmentEntered => "SEGMENT_ENTERED",
            Kind::SegmentExited => "SEGMENT_EXITED",
            Kind::PointsChanged => "POINTS_CHANGED",
            Kind::TierChanged => "TIER_CHANGED",
        }
    }

    fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// A table (or a set of tables) the timeline reads, one statement per page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    Orders,
    Interactions,
    Feedback,
    Emails,
    Lifecycle,
    Segments,
    Ledger,
    Tiers,
}

impl Source {
    pub const ALL: [Source; 8] = [
        Source::Orders,
        Source::Interactions,
        Source::Feedback,
        Source::Emails,
        Source::Lifecycle,
        Source::Segments,
        Source::Ledger,
        Source::Tiers,
    ];
}

/// Where an item sits in the timeline, and where a page after it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Position {
    pub at: DateTime<Utc>,
    pub kind: Kind,
    pub id: i64,
}

impl Ord for Position {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.kind.rank(), self.id).cmp(&(other.at, other.kind.rank(), other.id))
    }
}

impl PartialOrd for Position {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The row an item comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum Subject {
    Order(order::Model),
    Interaction(interaction::Model),
    Feedback(feedback::Model),
    /// Every email kind shows the email as it is now.
    Email(email::Model),
    StageChange(lifecycle_event::Model),
    SegmentChange {
        event: segment_event::Model,
        segment_name: String,
    },
    LedgerEntry(loyalty_entry::Model),
    TierChange(loyalty_tier_event::Model),
}

/// One thing that happened with a customer.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub customer_id: i64,
    pub kind: Kind,
    pub at: DateTime<Utc>,
    /// One line, without personal text (no names, addresses, subjects, notes or
    /// comments), so that it can be shown to every reader of the timeline.
    pub summary: String,
    pub subject: Subject,
    /// The subject's row id (the email's for every email kind).
    pub id: i64,
}

impl Item {
    pub fn position(&self) -> Position {
        Position {
            at: self.at,
            kind: self.kind,
            id: self.id,
        }
    }
}

/// A page of timelines: the same page (size, start, kinds) for every customer asked.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PageQuery {
    /// Items per customer.
    pub limit: u64,
    /// Items strictly after this position (older, or the same time with a lower rank or
    /// id).
    pub after: Option<Position>,
    /// The kinds to show; empty shows none.
    pub kinds: Vec<Kind>,
}

/// The first `query.limit` items of each customer's timeline past `query.after`, newest
/// first; one statement per source that holds an asked kind. Every customer asked has an
/// entry (empty when nothing happened).
pub async fn pages(
    db: &impl ConnectionTrait,
    customer_ids: &[i64],
    query: &PageQuery,
) -> DomainResult<HashMap<i64, Vec<Item>>> {
    let mut timelines: HashMap<i64, Vec<Item>> =
        customer_ids.iter().map(|id| (*id, Vec::new())).collect();
    if customer_ids.is_empty() || query.limit == 0 {
        return Ok(timelines);
    }
    for source in Source::ALL {
        let kinds: Vec<Kind> = query
            .kinds
            .iter()
            .copied()
            .filter(|k| k.source() == source)
            .collect();
        if kinds.is_empty() {
            continue;
        }
        let read = sources::Read {
            customer_ids,
            kinds: &kinds,
            after: query.after,
            limit: query.limit,
        };
        let items = match source {
            Source::Orders => sources::orders(db, &read).await?,
            Source::Interactions => sources::interactions(db, &read).await?,
            Source::Feedback => sources::feedback(db, &read).await?,
            Source::Emails => sources::emails(db, &read).await?,
            Source::Lifecycle => sources::stage_changes(db, &read).await?,
            Source::Segments => sources::segment_changes(db, &read).await?,
            Source::Ledger => sources::ledger_entries(db, &read).await?,
            Source::Tiers => sources::tier_changes(db, &read).await?,
        };
        for item in items {
            timelines.entry(item.customer_id).or_default().push(item);
        }
    }
    for items in timelines.values_mut() {
        items.sort_by_key(|item| std::cmp::Reverse(item.position()));
        items.truncate(usize::try_from(query.limit).unwrap_or(usize::MAX));
    }
    Ok(timelines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_rank_and_name() {
        let mut ranks: Vec<i32> = Kind::ALL.iter().map(|k| k.rank()).collect();
        ranks.sort();
        ranks.dedup();
        assert_eq!(ranks.len(), Kind::ALL.len());
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.as_str()), Some(kind));
            assert!(Source::ALL.contains(&kind.source()));
        }
    }

    #[test]
    fn positions_order_by_time_then_kind_rank_then_id() {
        let at = Utc::now();
        let p = |kind, id| Position { at, kind, id };
        assert!(p(Kind::Order, 1) > p(Kind::Feedback, 9));
        assert!(p(Kind::Order, 2) > p(Kind::Order, 1));
        let later = Position {
            at: at + chrono::Duration::seconds(1),
            kind: Kind::SegmentEntered,
            id: 1,
        };
        assert!(later > p(Kind::Order, 99));
    }
}
