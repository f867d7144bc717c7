//! What a rule does, without changing anything: how many customers it matches now
//! ([`preview`]), and why one customer is or is not in a segment ([`explain`]). Matches
//! are decided by the same SQL a refresh runs; the in-memory evaluation only supplies
//! each condition's actual value.

use anyhow::Context;
use chrono::{DateTime, Utc};
use entity::segment;
use futures::future::BoxFuture;
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Order};
use serde_json::Value as Json;

use super::evaluate::{self, Snapshot};
use super::membership;
use super::rule::{CheckedRule, Clock, Field, Op, Rule};
use super::{count_matching, edit, matching_ids};
use crate::{DomainError, DomainResult};

/// A preview lists at most this many customers.
pub const PREVIEW_CUSTOMERS: u64 = 20;

/// A rule's size and first customers, nothing saved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preview {
    pub size: u64,
    /// Up to [`PREVIEW_CUSTOMERS`] matching customer ids, ascending.
    pub customer_ids: Vec<i64>,
}

/// How many customers a rule (given at `rule`) matches at `now`, and the first of them.
pub async fn preview(
    db: &impl ConnectionTrait,
    rule: &Rule,
    now: DateTime<Utc>,
) -> DomainResult<Preview> {
    let checked = edit::check_rule(db, rule, "rule", None).await?;
    let clock = Clock { now };
    let size = count_matching(db, &checked, clock).await?;
    let mut first = matching_ids(&checked, clock);
    first
        .order_by((Alias::new("customers"), Alias::new("id")), Order::Asc)
        .limit(PREVIEW_CUSTOMERS);
    let customer_ids = db
        .query_all(&first)
        .await
        .context("failed to list the matching customers")?
        .into_iter()
        .map(|row| row.try_get::<i64>("", "id"))
        .collect::<Result<_, _>>()
        .context("failed to read a matching customer id")?;
    Ok(Preview { size, customer_ids })
}

/// One condition of a rule for one customer.
#[derive(Clone, Debug, PartialEq)]
pub struct ConditionOutcome {
    /// Where the condition sits, e.g. `rule.all[1].condition`.
    pub path: String,
    pub field: Field,
    pub op: Op,
    /// The operand as the rule gives it.
    pub value: Option<Json>,
    pub values: Option<Vec<Json>>,
    /// Whether this customer meets it.
    pub met: bool,
    /// The customer's value of the field (null when missing).
    pub actual: Json,
}

/// Why a customer is or is not in a segment.
#[derive(Clone, Debug, PartialEq)]
pub struct Explanation {
    /// Whether the rule matches the customer now (a static segment: whether a member).
    pub matches: bool,
    /// Whether the customer is a member (as of the last refresh or edit).
    pub member: bool,
    /// Every condition, depth first; none for a static segment.
    pub conditions: Vec<ConditionOutcome>,
    /// Whether the rule looks at personal data, so that only callers allowed to read it
    /// see the explanation (it shows the customer's values).
    pub reads_personal_data: bool,
}

/// Every condition of a segment's rule with whether the customer meets it at `now` and
/// their actual value.
pub async fn explain(
    db: &impl ConnectionTrait,
    segment: &segment::Model,
    customer_id: i64,
    now: DateTime<Utc>,
) -> DomainResult<Explanation> {
    let member = membership::is_member(db, segment.id, customer_id).await?;
    let snapshot = evaluate::load_snapshots(db, Some(&[customer_id]))
        .await?
        .remove(&customer_id)
        .ok_or_else(|| DomainError::not_found(format!("customer {customer_id}")))?;
    let Some(json) = &segment.rule else {
        return Ok(Explanation {
            matches: member,
            member,
            conditions: Vec::new(),
            reads_personal_data: false,
        });
    };
    let stored: Rule = serde_json::from_str(json)
        .with_context(|| format!("segment {} has an unreadable rule", segment.id))?;
    let checked = stored
        .check("rule")
        .map_err(|e| anyhow::anyhow!("segment {} has an invalid rule: {e}", segment.id))?;
    let clock = Clock { now };
    let mut conditions = Vec::new();
    explain_into(
        db,
        Node {
            stored: &stored,
            checked: &checked,
            path: "rule",
        },
        customer_id,
        &snapshot,
        clock,
        &mut conditions,
    )
    .await?;
    Ok(Explanation {
        matches: matches_in_sql(db, &checked, customer_id, clock).await?,
        member,
        conditions,
        reads_personal_data: stored.reads_personal_data(),
    })
}

/// A place in a rule: as stored (the operands as given) and as checked, at `path`.
#[derive(Clone, Copy)]
struct Node<'a> {
    stored: &'a Rule,
    checked: &'a CheckedRule,
    path: &'a str,
}

fn explain_into<'a>(
    db: &'a impl ConnectionTrait,
    node: Node<'a>,
    customer_id: i64,
    snapshot: &'a Snapshot,
    clock: Clock,
    out: &'a mut Vec<ConditionOutcome>,
) -> BoxFuture<'a, anyhow::Result<()>> {
    Box::pin(async move {
        let children: Vec<(&Rule, &CheckedRule, String)> = match (node.stored, node.checked) {
            (Rule::All(rules), CheckedRule::All(checked)) => children(rules, checked, node, "all"),
            (Rule::Any(rules), CheckedRule::Any(checked)) => children(rules, checked, node, "any"),
            (Rule::Not(stored), CheckedRule::Not(checked)) => {
                vec![(stored, checked, format!("{}.not", node.path))]
            }
            (Rule::Condition(condition), CheckedRule::Condition(c)) => {
                let single = CheckedRule::Condition(c.clone());
                out.push(ConditionOutcome {
                    path: format!("{}.condition", node.path),
                    field: c.field,
                    op: c.op,
                    value: condition.value.clone(),
                    values: condition.values.clone(),
                    met: matches_in_sql(db, &single, customer_id, clock).await?,
                    actual: evaluate::actual(c.field, snapshot, clock),
                });
                Vec::new()
            }
            // A checked rule has the shape of the rule it was checked from.
            _ => Vec::new(),
        };
        for (stored, checked, path) in children {
            let child = Node {
                stored,
                checked,
                path: &path,
            };
            explain_into(db, child, customer_id, snapshot, clock, out).await?;
        }
        Ok(())
    })
}

/// The sub-rules of an `all` or `any` node, with their paths.
fn children<'a>(
    rules: &'a [Rule],
    checked: &'a [CheckedRule],
    node: Node<'_>,
    name: &str,
) -> Vec<(&'a Rule, &'a CheckedRule, String)> {
    rules
        .iter()
        .zip(checked)
        .enumerate()
        .map(|(i, (stored, checked))| (stored, checked, format!("{}.{name}[{i}]", node.path)))
        .collect()
}

/// Whether the rule matches one customer, by the same SQL a refresh runs.
async fn matches_in_sql(
    db: &impl ConnectionTrait,
    rule: &CheckedRule,
    customer_id: i64,
    clock: Clock,
) -> anyhow::Result<bool> {
    let mut select = matching_ids(rule, clock);
    select.and_where(Expr::col((Alias::new("customers"), Alias::new("id"))).eq(customer_id));
    Ok(db
        .query_one(&select)
        .await
        .context("failed to match the rule against the customer")?
        .is_some())
}
