//! Segments: the rule language ([`rule`]), materialized membership and the `segments`
//! job that refreshes every dynamic segment. A refresh is four set-based statements in
//! one transaction — record exits, delete them, record entries, insert them — so a
//! million-customer segment never crosses the wire.

/// In-memory evaluation over a customer snapshot (explanations, tests).
pub mod evaluate;
/// The rule language and its compilation to SQL.
pub mod rule;

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, Utc};
use entity::{segment, segment_member};
use sea_orm::sea_query::{Alias, Condition, Expr, ExprTrait, Query, SelectStatement};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, TransactionSession, TransactionTrait,
};

use crate::{JobContext, JobStats};
use rule::{CheckedRule, Clock, Rule};

pub const DYNAMIC: &str = "DYNAMIC";
pub const STATIC: &str = "STATIC";

/// The checked rule of a stored dynamic segment.
pub fn stored_rule(segment: &segment::Model) -> anyhow::Result<Option<CheckedRule>> {
    let Some(json) = &segment.rule else {
        return Ok(None);
    };
    let rule: Rule = serde_json::from_str(json)
        .with_context(|| format!("segment {} has an unreadable rule", segment.id))?;
    let checked = rule
        .check("rule")
        .map_err(|e| anyhow::anyhow!("segment {} has an invalid rule: {e}", segment.id))?;
    Ok(Some(checked))
}

/// `SELECT customers.id FROM customers WHERE <rule>`.
pub fn matching_ids(rule: &CheckedRule, clock: Clock) -> SelectStatement {
    Query::select()
        .column((Alias::new("customers"), Alias::new("id")))
        .from(Alias::new("customers"))
        .cond_where(rule::compile(rule, clock))
        .to_owned()
}

/// How many customers a rule matches now.
pub async fn count_matching(
    db: &impl ConnectionTrait,
    rule: &CheckedRule,
    clock: Clock,
) -> anyhow::Result<u64> {
    let count = Query::select()
        .expr_as(Expr::cust("COUNT(*)"), Alias::new("n"))
        .from_subquery(matching_ids(rule, clock), Alias::new("matched"))
        .to_owned();
    let row = db
        .query_one(&count)
        .await
        .context("failed to count the matching customers")?
        .context("COUNT returned no row")?;
    Ok(row.try_get::<i64>("", "n")? as u64)
}

/// What a refresh changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Refresh {
    pub entered: u64,
    pub exited: u64,
    pub size: u64,
}

/// Brings a dynamic segment's members up to date with its rule, recording each entry
/// and exit at `now`.
pub async fn refresh<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    segment: &segment::Model,
    now: DateTime<Utc>,
) -> anyhow::Result<Refresh> {
    let Some(rule) = stored_rule(segment)? else {
        // Static: nothing to recompute, the size is kept by the member mutations.
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
                .equals((Alias::new("segment_members"), Alias::new("customer_id"))),
        );
        select
    };
    let leaving = || {
        Condition::all()
            .add(Expr::col((Alias::new("segment_members"), Alias::new("segment_id"))).eq(id))
            .add(Expr::exists(still_matching()).not())
    };
    let exits = Query::insert()
        .into_table(Alias::new("segment_events"))
        .columns(["segment_id", "customer_id", "kind", "at"].map(Alias::new))
        .select_from(
            Query::select()
                .expr(Expr::val(id))
                .column((Alias::new("segment_members"), Alias::new("customer_id")))
                .expr(Expr::val("EXITED"))
                .expr(Expr::val(now))
                .from(Alias::new("segment_members"))
                .cond_where(leaving())
                .to_owned(),
        )
        .context("failed to build the exits")?
        .to_owned();
    let exited = txn
        .execute(&exits)
        .await
        .context("failed to record exits")?;
    let delete = Query::delete()
        .from_table(Alias::new("segment_members"))
        .cond_where(leaving())
        .to_owned();
    txn.execute(&delete)
        .await
        .context("failed to remove leavers")?;

    // Newcomers: matching customers who are not members yet. The rule runs once; their
    // entry events are then read back from the members this refresh stamped.
    let member = Query::select()
        .expr(Expr::val(1))
        .from_as(Alias::new("segment_members"), Alias::new("m"))
        .and_where(Expr::col((Alias::new("m"), Alias::new("segment_id"))).eq(id))
        .and_where(
            Expr::col((Alias::new("m"), Alias::new("customer_id")))
                .equals((Alias::new("customers"), Alias::new("id"))),
        )
        .to_owned();
    let mut joining = matching_ids(&rule, clock);
    joining.and_where(Expr::exists(member).not());
    let insert = Query::insert()
        .into_table(Alias::new("segment_members"))
        .columns(["segment_id", "customer_id", "entered_at"].map(Alias::new))
        .select_from(
            Query::select()
                .expr(Expr::val(id))
                .column(Alias::new("id"))
                .expr(Expr::val(now))
                .from_subquery(joining, Alias::new("joining"))
                .to_owned(),
        )
        .context("failed to build the new members")?
        .to_owned();
    let entered = txn
        .execute(&insert)
        .await
        .context("failed to add new members")?;
    let entries = Query::insert()
        .into_table(Alias::new("segment_events"))
        .columns(["segment_id", "customer_id", "kind", "at"].map(Alias::new))
        .select_from(
            Query::select()
                .expr(Expr::val(id))
                .column(Alias::new("customer_id"))
                .expr(Expr::val("ENTERED"))
                .expr(Expr::val(now))
                .from(Alias::new("segment_members"))
                .and_where(Expr::col(Alias::new("segment_id")).eq(id))
                .and_where(Expr::col(Alias::new("entered_at")).eq(now))
                .order_by(Alias::new("customer_id"), sea_orm::sea_query::Order::Asc)
                .to_owned(),
        )
        .context("failed to build the entries")?
        .to_owned();
    txn.execute(&entries)
        .await
        .context("failed to record entries")?;

    let size = segment_member::Entity::find()
        .filter(segment_member::Column::SegmentId.eq(id))
        .count(&txn)
        .await
        .context("failed to count members")?;
    segment::ActiveModel {
        id: Set(id),
        size: Set(size as i64),
        refreshed_at: Set(Some(now)),
        ..Default::default()
    }
    .update(&txn)
    .await
    .context("failed to store the segment size")?;
    txn.commit().await.context("failed to commit the refresh")?;
    if entered.rows_affected() + exited.rows_affected() >= crate::bulk::ANALYZE_AFTER_ROWS {
        crate::bulk::analyze(db, &["segment_members", "segment_events"])
            .await
            .context("failed to analyze the membership")?;
    }
    Ok(Refresh {
        entered: entered.rows_affected(),
        exited: exited.rows_affected(),
        size,
    })
}

/// Dynamic segments in an order where every segment comes after the segments its rule
/// refers to (`IN_SEGMENT`), so each refresh sees fresh membership.
pub fn refresh_order(segments: &[segment::Model]) -> anyhow::Result<Vec<&segment::Model>> {
    let by_id: HashMap<i64, &segment::Model> = segments.iter().map(|s| (s.id, s)).collect();
    let mut refs: HashMap<i64, Vec<i64>> = HashMap::new();
    for segment in segments {
        let deps = stored_rule(segment)?
            .map(|r| r.segment_refs())
            .unwrap_or_default();
        refs.insert(segment.id, deps);
    }
    let mut done: HashSet<i64> = HashSet::new();
    let mut order = Vec::new();
    while order.len() < segments.len() {
        let before = order.len();
        for segment in segments {
            if done.contains(&segment.id) {
                continue;
            }
            let ready = refs[&segment.id]
                .iter()
                .all(|dep| done.contains(dep) || !by_id.contains_key(dep));
            if ready {
                done.insert(segment.id);
                order.push(*by_id.get(&segment.id).context("segment vanished")?);
            }
        }
        if order.len() == before {
            anyhow::bail!("segment rules refer to each other in a cycle");
        }
    }
    Ok(order)
}

/// Whether making `segment_id`'s rule refer to `refs` would close a cycle.
pub fn would_cycle(segments: &[segment::Model], segment_id: i64, refs: &[i64]) -> bool {
    let mut edges: HashMap<i64, Vec<i64>> = HashMap::new();
    for segment in segments {
        if segment.id != segment_id
            && let Ok(Some(rule)) = stored_rule(segment)
        {
            edges.insert(segment.id, rule.segment_refs());
        }
    }
    edges.insert(segment_id, refs.to_vec());
    let mut stack = refs.to_vec();
    let mut seen = HashSet::new();
    while let Some(next) = stack.pop() {
        if next == segment_id {
            return true;
        }
        if seen.insert(next) {
            stack.extend(edges.get(&next).cloned().unwrap_or_default());
        }
    }
    false
}

/// The `segments` job: refreshes every dynamic segment.
pub async fn run(context: &JobContext, _run_id: i64) -> anyhow::Result<JobStats> {
    let started = Instant::now();
    let db = &context.db;
    let segments = segment::Entity::find()
        .filter(segment::Column::Kind.eq(DYNAMIC))
        .all(db)
        .await
        .context("failed to list segments")?;
    let now = Utc::now();
    let (mut entered, mut exited) = (0, 0);
    for segment in refresh_order(&segments)? {
        let result = refresh(db, segment, now)
            .await
            .with_context(|| format!("refreshing segment {} ({})", segment.id, segment.name))?;
        entered += result.entered;
        exited += result.exited;
    }
    let mut stats = JobStats::default();
    stats.set("segments", segments.len() as u64);
    stats.set("entered", entered);
    stats.set("exited", exited);
    stats.set("seconds", started.elapsed().as_secs_f64());
    Ok(stats)
}
