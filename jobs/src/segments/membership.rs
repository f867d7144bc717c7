//! Who is in a segment and the record of who entered and left: the one place that
//! writes `segment_members` and `segment_events`. A dynamic segment's members follow its
//! rule ([`refresh_members`]); a static segment's are added and removed by hand
//! ([`change_members`]); either way every change is recorded as an event, which
//! campaigns act on.

use std::collections::{BTreeSet, HashMap};

use anyhow::Context;
use chrono::{DateTime, Utc};
use entity::{customer, segment, segment_event, segment_member};
use sea_orm::sea_query::{Alias, Condition, Expr, ExprTrait, OnConflict, Order, Query};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    EntityName, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect, TransactionSession,
    TransactionTrait,
};

use super::{edit, matching_ids, rule::Clock, stored_rule};
use crate::{DomainError, DomainResult, Problems};

/// At most this many customers per membership edit.
pub const MAX_MEMBERS_PER_EDIT: usize = 1000;

/// Which way a customer crossed a segment's edge: stored as `segment_events.kind`,
/// defined in `entity`.
pub use entity::ChangeKind;

/// What a refresh changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Refresh {
    pub entered: u64,
    pub exited: u64,
    pub size: u64,
}

/// `INSERT INTO segment_events (segment_id, customer_id, kind, at) <rows>`: every event
/// is written through here.
fn record_events(
    rows: sea_orm::sea_query::SelectStatement,
) -> anyhow::Result<sea_orm::sea_query::InsertStatement> {
    use segment_event::Column as E;
    Ok(Query::insert()
        .into_table(segment_event::Entity)
        .columns([E::SegmentId, E::CustomerId, E::Kind, E::At])
        .select_from(rows)
        .context("failed to build the segment events")?
        .to_owned())
}

/// Brings a dynamic segment's members up to date with its rule, recording each entry
/// and exit at `now`: four set-based statements in one transaction — record exits,
/// delete them, record entries, insert them — so a million-customer segment never
/// crosses the wire. A static segment is left as it is.
pub async fn refresh_members<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    segment: &segment::Model,
    now: DateTime<Utc>,
) -> anyhow::Result<Refresh> {
    use segment_member::Column as M;
    let Some(rule) = stored_rule(segment)? else {
        // Static: nothing to recompute, the size is kept by the member edits.
        return Ok(Refresh {
            size: u64::try_from(segment.size).unwrap_or(0),
            ..Refresh::default()
        });
    };
    let clock = Clock { now };
    let id = segment.id;
    let txn = db
        .begin()
        .await
        .context("failed to begin a segment refresh")?;
    // Anti-joins with NOT EXISTS, never NOT IN: see `rule::id_in`.
    let still_matching = || {
        let mut select = matching_ids(&rule, clock);
        select.and_where(
            Expr::col((Alias::new("customers"), Alias::new("id")))
                .equals((segment_member::Entity, M::CustomerId)),
        );
        select
    };
    let leaving = || {
        Condition::all()
            .add(Expr::col((segment_member::Entity, M::SegmentId)).eq(id))
            .add(Expr::exists(still_matching()).not())
    };
    let exits = record_events(
        Query::select()
            .expr(Expr::val(id))
            .column((segment_member::Entity, M::CustomerId))
            .expr(Expr::val(ChangeKind::Exited.as_str()))
            .expr(Expr::val(now))
            .from(segment_member::Entity)
            .cond_where(leaving())
            .to_owned(),
    )?;
    let exited = txn
        .execute(&exits)
        .await
        .context("failed to record exits")?;
    let delete = Query::delete()
        .from_table(segment_member::Entity)
        .cond_where(leaving())
        .to_owned();
    txn.execute(&delete)
        .await
        .context("failed to remove leavers")?;

    // Newcomers: matching customers who are not members yet, skipped by the primary key
    // (ON CONFLICT DO NOTHING) rather than by an anti-join on `segment_members`: on a
    // first refresh the table has no statistics, PostgreSQL then planned the anti-join as
    // a sequential scan of the table per candidate, and each scan also read the rows this
    // very statement had inserted so far (invisible to it, but on its pages) — a quadratic
    // 285 s for 250k members where the key lookup takes seconds. The rule runs once; the
    // entry events are then read back from the members this refresh stamped.
    let insert = Query::insert()
        .into_table(segment_member::Entity)
        .columns([M::SegmentId, M::CustomerId, M::EnteredAt])
        .select_from(
            Query::select()
                .expr(Expr::val(id))
                .column(Alias::new("id"))
                .expr(Expr::val(now))
                .from_subquery(matching_ids(&rule, clock), Alias::new("joining"))
                // SQLite reads `… FROM sub AS joining ON CONFLICT` as a join's ON
                // without a WHERE in between (its documentation asks for one).
                .and_where(Expr::cust("1 = 1"))
                .to_owned(),
        )
        .context("failed to build the new members")?
        .on_conflict(
            OnConflict::columns([M::SegmentId, M::CustomerId])
                .do_nothing()
                .to_owned(),
        )
        .to_owned();
    txn.execute(&insert)
        .await
        .context("failed to add new members")?;
    let entries = record_events(
        Query::select()
            .expr(Expr::val(id))
            .column(M::CustomerId)
            .expr(Expr::val(ChangeKind::Entered.as_str()))
            .expr(Expr::val(now))
            .from(segment_member::Entity)
            .and_where(Expr::col(M::SegmentId).eq(id))
            .and_where(Expr::col(M::EnteredAt).eq(now))
            .order_by(M::CustomerId, Order::Asc)
            .to_owned(),
    )?;
    // The entries counted from the events: the rows an INSERT … ON CONFLICT reports are
    // not the same on every backend (Citus counts the skipped ones when it routes the
    // rows through the coordinator).
    let entered = txn
        .execute(&entries)
        .await
        .context("failed to record entries")?;
    let size = store_size(&txn, id, now, None).await?;
    txn.commit().await.context("failed to commit the refresh")?;
    if entered.rows_affected() + exited.rows_affected() >= crate::bulk::ANALYZE_AFTER_ROWS {
        let tables = [
            segment_member::Entity.table_name(),
            segment_event::Entity.table_name(),
        ];
        crate::bulk::analyze(db, &tables)
            .await
            .context("failed to analyze the membership")?;
    }
    Ok(Refresh {
        entered: entered.rows_affected(),
        exited: exited.rows_affected(),
        size,
    })
}

/// Counts the members and stores the count as the segment's size, refreshed at `now`
/// (and edited at `updated_at`, for edits by hand).
async fn store_size(
    txn: &impl ConnectionTrait,
    segment_id: i64,
    now: DateTime<Utc>,
    updated_at: Option<DateTime<Utc>>,
) -> anyhow::Result<u64> {
    let size = segment_member::Entity::find()
        .filter(segment_member::Column::SegmentId.eq(segment_id))
        .count(txn)
        .await
        .context("failed to count members")?;
    let mut row = segment::ActiveModel {
        id: Set(segment_id),
        size: Set(size as i64),
        refreshed_at: Set(Some(now)),
        ..Default::default()
    };
    if let Some(updated_at) = updated_at {
        row.updated_at = Set(updated_at);
    }
    row.update(txn)
        .await
        .context("failed to store the segment size")?;
    Ok(size)
}

/// The customers a membership edit names: ids (each parsed, or why not) and external
/// ids. Every one must name a customer who is not erased, or nothing changes.
#[derive(Clone, Debug, Default)]
pub struct MemberRefs {
    /// `input.customerIds`, in the order given.
    pub customer_ids: Vec<Result<i64, String>>,
    /// `input.customerExternalIds`, in the order given.
    pub external_ids: Vec<String>,
}

/// Adds (`Entered`) or removes (`Exited`) customers of a static segment at `now`,
/// recording each change; already-members are not added again nor non-members removed.
/// Returns the segment as stored.
pub async fn change_members(
    db: &DatabaseConnection,
    segment_id: i64,
    refs: &MemberRefs,
    change: ChangeKind,
    now: DateTime<Utc>,
) -> DomainResult<segment::Model> {
    let existing = edit::get(db, segment_id).await?;
    if existing.kind != edit::SegmentKind::Static {
        return Err(DomainError::invalid(
            "id",
            "members of a dynamic segment follow its rule",
        ));
    }
    let ids = resolve_customers(db, refs).await?;
    let adding = change == ChangeKind::Entered;
    let txn = db
        .begin()
        .await
        .context("failed to begin a membership edit")?;
    let current: Vec<i64> = segment_member::Entity::find()
        .select_only()
        .column(segment_member::Column::CustomerId)
        .filter(segment_member::Column::SegmentId.eq(segment_id))
        .filter(segment_member::Column::CustomerId.is_in(ids.clone()))
        .into_tuple()
        .all(&txn)
        .await
        .context("failed to read the current members")?;
    let changing: Vec<i64> = ids
        .into_iter()
        .filter(|id| current.contains(id) != adding)
        .collect();
    if !changing.is_empty() {
        if adding {
            segment_member::Entity::insert_many(changing.iter().map(|c| {
                segment_member::ActiveModel {
                    segment_id: Set(segment_id),
                    customer_id: Set(*c),
                    entered_at: Set(now),
                }
            }))
            .exec_without_returning(&txn)
            .await
            .context("failed to add members")?;
        } else {
            segment_member::Entity::delete_many()
                .filter(segment_member::Column::SegmentId.eq(segment_id))
                .filter(segment_member::Column::CustomerId.is_in(changing.clone()))
                .exec(&txn)
                .await
                .context("failed to remove members")?;
        }
        segment_event::Entity::insert_many(changing.iter().map(|c| segment_event::ActiveModel {
            segment_id: Set(segment_id),
            customer_id: Set(*c),
            kind: Set(change),
            at: Set(now),
            ..Default::default()
        }))
        .exec_without_returning(&txn)
        .await
        .context("failed to record the membership changes")?;
    }
    store_size(&txn, segment_id, now, Some(now)).await?;
    txn.commit()
        .await
        .context("failed to commit the membership edit")?;
    edit::get(db, segment_id).await
}

/// Resolves ids and external ids to customers, every one or every problem: sorted,
/// without duplicates, at least one and at most [`MAX_MEMBERS_PER_EDIT`].
async fn resolve_customers(db: &impl ConnectionTrait, refs: &MemberRefs) -> DomainResult<Vec<i64>> {
    let mut problems = Problems::new();
    let mut parsed: Vec<(usize, i64)> = Vec::new();
    for (i, id) in refs.customer_ids.iter().enumerate() {
        match id {
            Ok(id) => parsed.push((i, *id)),
            Err(message) => problems.push(Some(i), format!("input.customerIds[{i}]"), message),
        }
    }
    // Erased customers are never members.
    let found: Vec<i64> = customer::Entity::find()
        .select_only()
        .column(customer::Column::Id)
        .filter(customer::Column::Id.is_in(parsed.iter().map(|(_, id)| *id)))
        .filter(customer::Column::ErasedAt.is_null())
        .into_tuple()
        .all(db)
        .await
        .context("failed to look up the customers by id")?;
    for (i, id) in &parsed {
        if !found.contains(id) {
            problems.push(
                Some(*i),
                format!("input.customerIds[{i}]"),
                format!("no customer {id}"),
            );
        }
    }
    let mut ids: Vec<i64> = parsed.into_iter().map(|(_, id)| id).collect();
    let by_external =
        crate::customers::keys::by_external_ids(db, refs.external_ids.iter().cloned())
            .await
            .context("failed to look up the customers by external id")?;
    for (i, key) in refs.external_ids.iter().enumerate() {
        match by_external.get(key).filter(|c| c.erased_at.is_none()) {
            Some(customer) => ids.push(customer.id),
            None => problems.push(
                Some(i),
                format!("input.customerExternalIds[{i}]"),
                format!("no customer with externalId `{key}`"),
            ),
        }
    }
    problems.into_result()?;
    if ids.is_empty() {
        return Err(DomainError::invalid("input", "name at least one customer"));
    }
    if ids.len() > MAX_MEMBERS_PER_EDIT {
        return Err(DomainError::invalid(
            "input",
            format!("at most {MAX_MEMBERS_PER_EDIT} customers per call"),
        ));
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// Forgets a segment's members and events (the segment is being deleted, in `txn`).
pub(super) async fn forget(txn: &impl ConnectionTrait, segment_id: i64) -> anyhow::Result<()> {
    segment_member::Entity::delete_many()
        .filter(segment_member::Column::SegmentId.eq(segment_id))
        .exec(txn)
        .await
        .context("failed to delete the segment's members")?;
    segment_event::Entity::delete_many()
        .filter(segment_event::Column::SegmentId.eq(segment_id))
        .exec(txn)
        .await
        .context("failed to delete the segment's events")?;
    Ok(())
}

/// The same page of members (customer ids in order, up to `limit` after `after`) of
/// each segment in `segment_ids`, in one statement ([`crate::pages`]). Every segment
/// asked about has an entry.
pub async fn members_pages(
    db: &impl ConnectionTrait,
    segment_ids: &[i64],
    after: Option<i64>,
    limit: u64,
) -> DomainResult<HashMap<i64, Vec<i64>>> {
    let mut condition = Condition::all();
    if let Some(after) = after {
        condition = condition.add(segment_member::Column::CustomerId.gt(after));
    }
    let pages = crate::pages::first_rows_of_each::<segment_member::Entity>(
        db,
        segment_member::Column::SegmentId,
        segment_ids,
        condition,
        &[(segment_member::Column::CustomerId, Order::Asc)],
        limit,
    )
    .await
    .context("failed to load pages of segment members")?;
    Ok(pages
        .into_iter()
        .map(|(segment_id, members)| {
            (
                segment_id,
                members.into_iter().map(|m| m.customer_id).collect(),
            )
        })
        .collect())
}

/// How many members each segment in `segment_ids` has now, in one grouped statement
/// (zero for one without).
pub async fn member_counts(
    db: &impl ConnectionTrait,
    segment_ids: &[i64],
) -> DomainResult<HashMap<i64, u64>> {
    let counted: Vec<(i64, i64)> = segment_member::Entity::find()
        .select_only()
        .column(segment_member::Column::SegmentId)
        .column_as(segment_member::Column::CustomerId.count(), "members")
        .filter(segment_member::Column::SegmentId.is_in(segment_ids.iter().copied()))
        .group_by(segment_member::Column::SegmentId)
        .into_tuple()
        .all(db)
        .await
        .context("failed to count segment members")?;
    let mut counts: HashMap<i64, u64> = segment_ids.iter().map(|id| (*id, 0)).collect();
    for (segment_id, members) in counted {
        counts.insert(segment_id, u64::try_from(members).unwrap_or(0));
    }
    Ok(counts)
}

/// Whether a customer is a member (as of the last refresh or edit).
pub async fn is_member(
    db: &impl ConnectionTrait,
    segment_id: i64,
    customer_id: i64,
) -> anyhow::Result<bool> {
    Ok(
        segment_member::Entity::find_by_id((segment_id, customer_id))
            .one(db)
            .await
            .context("failed to look up the membership")?
            .is_some(),
    )
}

/// The same page of entries and exits (newest first, up to `limit` before the event id
/// `before`) of each segment in `segment_ids`, in one statement ([`crate::pages`]).
/// Every segment asked about has an entry.
pub async fn changes_pages(
    db: &impl ConnectionTrait,
    segment_ids: &[i64],
    before: Option<i64>,
    limit: u64,
) -> DomainResult<HashMap<i64, Vec<segment_event::Model>>> {
    let mut condition = Condition::all();
    if let Some(before) = before {
        condition = condition.add(segment_event::Column::Id.lt(before));
    }
    Ok(crate::pages::first_rows_of_each::<segment_event::Entity>(
        db,
        segment_event::Column::SegmentId,
        segment_ids,
        condition,
        &[(segment_event::Column::Id, Order::Desc)],
        limit,
    )
    .await
    .context("failed to load pages of segment changes")?)
}

/// The segments each customer belongs to, by segment id, for a whole page of customers
/// in two statements: the memberships, then their segments. Every customer asked for has
/// an entry (empty when in none).
pub async fn segments_of_customers(
    db: &impl ConnectionTrait,
    customer_ids: &[i64],
) -> DomainResult<HashMap<i64, Vec<segment::Model>>> {
    let memberships = segment_member::Entity::find()
        .filter(segment_member::Column::CustomerId.is_in(customer_ids.iter().copied()))
        .all(db)
        .await
        .context("failed to load the customers' memberships")?;
    let segment_ids: BTreeSet<i64> = memberships.iter().map(|m| m.segment_id).collect();
    let segments = edit::by_ids(db, &segment_ids.into_iter().collect::<Vec<_>>()).await?;
    let mut of: HashMap<i64, Vec<segment::Model>> =
        customer_ids.iter().map(|id| (*id, Vec::new())).collect();
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
