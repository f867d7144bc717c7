//! Segments: groups of customers and what clientele does with them. Dynamic segments
//! follow a rule ([`rule`], compiled to SQL) and are refreshed by the `segments` job;
//! static ones are edited by hand. This module owns `segments`, `segment_members` and
//! `segment_events`; the API and the command line call the functions re-exported here.

/// The suggested segments an administrator installs in one step.
pub mod catalogue;
/// Reading, creating, changing and deleting segments, and the rules a definition keeps.
pub mod edit;
/// In-memory evaluation over a customer snapshot (explanations, tests).
pub mod evaluate;
/// Preview of a rule and the explanation of one customer's membership.
pub mod inspect;
/// Members and their entries and exits: the one writer of `segment_members` and
/// `segment_events`.
pub mod membership;
/// A segment's persona over its members.
pub mod profile;
/// The rule language and its compilation to SQL.
pub mod rule;

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use anyhow::Context;
use chrono::Utc;
use entity::segment;
use sea_orm::sea_query::{Alias, Expr, Query, SelectStatement};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::{JobContext, JobStats};
use rule::{CheckedRule, Clock, Rule};

pub use catalogue::{Suggestion, install_suggested, suggestions};
pub use edit::{
    NewSegment, SegmentChanges, SegmentKind, by_ids, create, delete, find, get, page, refresh,
    update,
};
pub use inspect::{ConditionOutcome, Explanation, Preview, explain, preview};
pub use membership::{
    ChangeKind, MemberRefs, Refresh, change_members, changes_pages, member_counts, members_pages,
    refresh_members, segments_of_customers,
};
pub use profile::{Profile, Share, profile};

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
        .filter(segment::Column::Kind.eq(SegmentKind::Dynamic))
        .all(db)
        .await
        .context("failed to list segments")?;
    let now = Utc::now();
    let (mut entered, mut exited) = (0, 0);
    for segment in refresh_order(&segments)? {
        let result = refresh_members(db, segment, now)
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
