//! Segments themselves (the `segments` table): reading, creating, changing and deleting
//! them, with the rules a definition must keep — a unique name, bounded texts, a rule
//! for dynamic segments only, `IN_SEGMENT` naming existing segments without a cycle.

use std::collections::HashMap;

use anyhow::Context;
use chrono::{DateTime, Utc};
use entity::{campaign, segment};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};

use super::membership::{self, Refresh};
use super::rule::{CheckedRule, Rule};
use super::{stored_rule, would_cycle};
use crate::campaigns::CampaignDocuments;
use crate::{DomainError, DomainResult, Problems};

/// A name is 1 to this many characters …
pub const NAME_LIMIT: usize = 200;
/// … and description, goal, strategy and owner at most this many.
pub const TEXT_LIMIT: usize = 4000;

/// How a segment's members are decided: stored as `segments.kind`, defined in `entity`.
pub use entity::SegmentKind;

/// A segment to create.
#[derive(Clone, Debug)]
pub struct NewSegment {
    pub name: String,
    pub description: Option<String>,
    pub kind: SegmentKind,
    /// Required for dynamic segments, refused for static ones.
    pub rule: Option<Rule>,
    pub goal: Option<String>,
    pub strategy: Option<String>,
    pub owner: Option<String>,
}

/// Changes to a segment; absent fields stay.
#[derive(Clone, Debug, Default)]
pub struct SegmentChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    /// A new rule (dynamic segments only), applied at once.
    pub rule: Option<Rule>,
    pub goal: Option<String>,
    pub strategy: Option<String>,
    pub owner: Option<String>,
}

/// A segment by id, or `NotFound`.
pub async fn get(db: &impl ConnectionTrait, id: i64) -> DomainResult<segment::Model> {
    find(db, id)
        .await?
        .ok_or_else(|| DomainError::not_found(format!("segment {id}")))
}

/// A segment by id, if there is one.
pub async fn find(db: &impl ConnectionTrait, id: i64) -> DomainResult<Option<segment::Model>> {
    Ok(segment::Entity::find_by_id(id)
        .one(db)
        .await
        .with_context(|| format!("failed to load segment {id}"))?)
}

/// Segments by id, the ones that exist.
pub async fn by_ids(
    db: &impl ConnectionTrait,
    ids: &[i64],
) -> DomainResult<HashMap<i64, segment::Model>> {
    let rows = segment::Entity::find()
        .filter(segment::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await
        .context("failed to load segments by id")?;
    Ok(rows.into_iter().map(|s| (s.id, s)).collect())
}

/// A page of segments by id, after the id `after`.
pub async fn page(
    db: &impl ConnectionTrait,
    after: Option<i64>,
    limit: u64,
) -> DomainResult<Vec<segment::Model>> {
    let mut query = segment::Entity::find()
        .order_by_asc(segment::Column::Id)
        .limit(limit);
    if let Some(after) = after {
        query = query.filter(segment::Column::Id.gt(after));
    }
    Ok(query.all(db).await.context("failed to list segments")?)
}

/// Checks a rule given at `path` (`rule`, `input.rule`): the rule language's own checks,
/// then `IN_SEGMENT` must name existing segments and, for the rule of `segment_id`, must
/// not close a cycle.
pub async fn check_rule(
    db: &impl ConnectionTrait,
    rule: &Rule,
    path: &str,
    segment_id: Option<i64>,
) -> DomainResult<CheckedRule> {
    let checked = rule
        .check(path)
        .map_err(|problem| DomainError::invalid(problem.field, problem.message))?;
    let refs = checked.segment_refs();
    if refs.is_empty() {
        return Ok(checked);
    }
    let all = segment::Entity::find()
        .all(db)
        .await
        .context("failed to load the segments a rule refers to")?;
    if let Some(missing) = refs.iter().find(|id| !all.iter().any(|s| s.id == **id)) {
        return Err(DomainError::invalid(
            path,
            format!("IN_SEGMENT: no segment {missing}"),
        ));
    }
    if let Some(id) = segment_id
        && would_cycle(&all, id, &refs)
    {
        return Err(DomainError::invalid(
            path,
            "IN_SEGMENT: the segments would refer to each other in a cycle",
        ));
    }
    Ok(checked)
}

/// Problems with a name (when given) and the free texts, at `input.<field>`.
fn check_texts(problems: &mut Problems, name: Option<&str>, texts: [(&str, Option<&String>); 4]) {
    if let Some(name) = name
        && (name.trim().is_empty() || name.chars().count() > NAME_LIMIT)
    {
        problems.push(
            None,
            "input.name",
            format!("must be 1–{NAME_LIMIT} characters"),
        );
    }
    for (field, text) in texts {
        if let Some(text) = text
            && text.chars().count() > TEXT_LIMIT
        {
            problems.push(
                None,
                format!("input.{field}"),
                format!("at most {TEXT_LIMIT} characters"),
            );
        }
    }
}

/// Whether another segment (not `except`) has this name, compared trimmed.
pub(super) async fn name_taken(
    db: &impl ConnectionTrait,
    name: &str,
    except: Option<i64>,
) -> anyhow::Result<bool> {
    let mut query = segment::Entity::find().filter(segment::Column::Name.eq(name.trim()));
    if let Some(id) = except {
        query = query.filter(segment::Column::Id.ne(id));
    }
    Ok(query
        .count(db)
        .await
        .context("failed to look up the segment name")?
        > 0)
}

fn taken() -> DomainError {
    DomainError::invalid("input.name", "a segment with this name exists")
}

fn rule_json(rule: &Rule) -> anyhow::Result<String> {
    serde_json::to_string(rule).context("failed to store the rule as JSON")
}

/// Creates a segment at `now`; a dynamic segment's members are computed at once.
/// Returns it as stored.
pub async fn create(
    db: &DatabaseConnection,
    input: NewSegment,
    now: DateTime<Utc>,
) -> DomainResult<segment::Model> {
    let mut problems = Problems::new();
    check_texts(
        &mut problems,
        Some(&input.name),
        [
            ("description", input.description.as_ref()),
            ("goal", input.goal.as_ref()),
            ("strategy", input.strategy.as_ref()),
            ("owner", input.owner.as_ref()),
        ],
    );
    match (input.kind, input.rule.is_some()) {
        (SegmentKind::Dynamic, false) => {
            problems.push(None, "input.rule", "a dynamic segment needs a rule")
        }
        (SegmentKind::Static, true) => {
            problems.push(None, "input.rule", "a static segment has no rule")
        }
        _ => {}
    }
    problems.into_result()?;
    if name_taken(db, &input.name, None).await? {
        return Err(taken());
    }
    if let Some(rule) = &input.rule {
        check_rule(db, rule, "input.rule", None).await?;
    }
    insert(
        db,
        segment::ActiveModel {
            name: Set(input.name.trim().to_owned()),
            description: Set(input.description),
            kind: Set(input.kind),
            rule: Set(input.rule.as_ref().map(rule_json).transpose()?),
            goal: Set(input.goal),
            strategy: Set(input.strategy),
            owner: Set(input.owner),
            ..Default::default()
        },
        now,
    )
    .await
}

/// Stores a new segment — a dynamic one with its members computed at once — and
/// returns it as stored.
pub(super) async fn insert(
    db: &DatabaseConnection,
    mut row: segment::ActiveModel,
    now: DateTime<Utc>,
) -> DomainResult<segment::Model> {
    row.size = Set(0);
    row.refreshed_at = Set(None);
    row.created_at = Set(now);
    row.updated_at = Set(now);
    let saved = row
        .insert(db)
        .await
        .context("failed to store the segment")?;
    membership::refresh_members(db, &saved, now).await?;
    get(db, saved.id).await
}

/// Changes a segment at `now`; a new rule is applied at once. Returns it as stored.
pub async fn update(
    db: &DatabaseConnection,
    id: i64,
    changes: SegmentChanges,
    now: DateTime<Utc>,
) -> DomainResult<segment::Model> {
    let existing = get(db, id).await?;
    let mut problems = Problems::new();
    check_texts(
        &mut problems,
        changes.name.as_deref(),
        [
            ("description", changes.description.as_ref()),
            ("goal", changes.goal.as_ref()),
            ("strategy", changes.strategy.as_ref()),
            ("owner", changes.owner.as_ref()),
        ],
    );
    if changes.rule.is_some() && existing.kind == SegmentKind::Static {
        problems.push(None, "input.rule", "a static segment has no rule");
    }
    problems.into_result()?;
    if let Some(name) = &changes.name
        && name_taken(db, name, Some(id)).await?
    {
        return Err(taken());
    }
    if let Some(rule) = &changes.rule {
        check_rule(db, rule, "input.rule", Some(id)).await?;
    }
    let mut row: segment::ActiveModel = existing.into();
    if let Some(name) = changes.name {
        row.name = Set(name.trim().to_owned());
    }
    if let Some(rule) = &changes.rule {
        row.rule = Set(Some(rule_json(rule)?));
    }
    if changes.description.is_some() {
        row.description = Set(changes.description);
    }
    if changes.goal.is_some() {
        row.goal = Set(changes.goal);
    }
    if changes.strategy.is_some() {
        row.strategy = Set(changes.strategy);
    }
    if changes.owner.is_some() {
        row.owner = Set(changes.owner);
    }
    row.updated_at = Set(now);
    let saved = row
        .update(db)
        .await
        .context("failed to store the segment's changes")?;
    if changes.rule.is_some() {
        membership::refresh_members(db, &saved, now).await?;
    }
    get(db, id).await
}

/// Deletes a segment with its members and events. Refused while another segment's rule
/// refers to it or a campaign targets it.
pub async fn delete(db: &DatabaseConnection, id: i64) -> DomainResult<()> {
    get(db, id).await?;
    let all = segment::Entity::find()
        .all(db)
        .await
        .context("failed to load the segments")?;
    for other in &all {
        if let Ok(Some(rule)) = stored_rule(other)
            && rule.segment_refs().contains(&id)
        {
            return Err(DomainError::invalid(
                "id",
                format!("segment {} (\"{}\") refers to it", other.id, other.name),
            ));
        }
    }
    if let Some(campaign) = first_campaign_targeting(db, id).await? {
        return Err(DomainError::invalid(
            "id",
            format!(
                "campaign {} (\"{}\") targets it",
                campaign.id, campaign.name
            ),
        ));
    }
    let txn = db
        .begin()
        .await
        .context("failed to begin deleting the segment")?;
    membership::forget(&txn, id).await?;
    segment::Entity::delete_by_id(id)
        .exec(&txn)
        .await
        .context("failed to delete the segment")?;
    txn.commit()
        .await
        .context("failed to commit deleting the segment")?;
    Ok(())
}

/// The campaign with the lowest id whose target names the segment. Campaigns are a
/// short list, and what they target is only known from their target document
/// (an unreadable one targets nothing).
async fn first_campaign_targeting(
    db: &impl ConnectionTrait,
    segment_id: i64,
) -> anyhow::Result<Option<campaign::Model>> {
    let campaigns = campaign::Entity::find()
        .order_by_asc(campaign::Column::Id)
        .all(db)
        .await
        .context("failed to load the campaigns")?;
    Ok(campaigns
        .into_iter()
        .find(|c| c.target().is_ok_and(|t| t.segment_id == Some(segment_id))))
}

/// Recomputes a dynamic segment's members at `now` (a static one stays as it is), and
/// returns it as stored with what changed.
pub async fn refresh(
    db: &DatabaseConnection,
    id: i64,
    now: DateTime<Utc>,
) -> DomainResult<(segment::Model, Refresh)> {
    let existing = get(db, id).await?;
    let change = membership::refresh_members(db, &existing, now).await?;
    Ok((get(db, id).await?, change))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blank_or_long_name_and_long_texts_are_each_a_problem_at_their_input_field() {
        let long = "x".repeat(TEXT_LIMIT + 1);
        let fine = "fine".to_owned();
        let mut problems = Problems::new();
        check_texts(
            &mut problems,
            Some("  "),
            [
                ("description", Some(&long)),
                ("goal", Some(&fine)),
                ("strategy", None),
                ("owner", Some(&long)),
            ],
        );
        let fields: Vec<&str> = problems
            .as_slice()
            .iter()
            .map(|p| p.field.as_str())
            .collect();
        assert_eq!(fields, ["input.name", "input.description", "input.owner"]);

        let mut problems = Problems::new();
        let name = "n".repeat(NAME_LIMIT);
        check_texts(&mut problems, Some(&name), [("description", None); 4]);
        assert!(problems.is_empty(), "{NAME_LIMIT} characters is a name");
    }
}
