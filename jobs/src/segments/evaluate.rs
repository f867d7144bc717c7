//! Rules evaluated in memory over a snapshot of one customer: what `Segment.explain`
//! shows as each condition's actual value, and the independent model the randomized
//! test holds the SQL compilation against. Written from the semantics in [`super::rule`],
//! not from the SQL.

use std::collections::HashMap;

use anyhow::Context;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use entity::{
    customer, customer_interest, customer_lifecycle, customer_value, feedback, feedback_topic,
    interaction, loyalty_account, order, segment_member,
};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value as Json, json};

use super::rule::{Checked, CheckedRule, Clock, Field, Op, Operand, nps_category_of};

/// Everything a rule can look at, for one customer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    pub customer: Option<customer::Model>,
    pub interests: Vec<String>,
    pub order_channels: Vec<String>,
    pub interactions: Vec<DateTime<Utc>>,
    pub value: Option<customer_value::Model>,
    pub lifecycle: Option<customer_lifecycle::Model>,
    pub latest_nps: Option<i64>,
    pub latest_csat: Option<i64>,
    /// Topics of the customer's answers, by source.
    pub feedback_tags: Vec<String>,
    pub feedback_terms: Vec<String>,
    /// What the customers this one referred brought (`jobs::referrals`).
    pub referrals: crate::referrals::ReferralFigures,
    /// The loyalty account (members only).
    pub loyalty: Option<loyalty_account::Model>,
    pub segments: Vec<i64>,
}

/// Snapshots of the given customers (all of them when `ids` is None: tests only).
pub async fn load_snapshots(
    db: &impl ConnectionTrait,
    ids: Option<&[i64]>,
) -> anyhow::Result<HashMap<i64, Snapshot>> {
    let mut snapshots: HashMap<i64, Snapshot> = HashMap::new();
    let mut customers = customer::Entity::find();
    if let Some(ids) = ids {
        customers = customers.filter(customer::Column::Id.is_in(ids.iter().copied()));
    }
    for c in customers
        .all(db)
        .await
        .context("failed to read customers")?
    {
        let id = c.id;
        snapshots.entry(id).or_default().customer = Some(c);
    }
    macro_rules! children {
        ($entity:ident, $column:path) => {{
            let mut query = $entity::Entity::find();
            if let Some(ids) = ids {
                query = query.filter($column.is_in(ids.iter().copied()));
            }
            query
        }};
    }
    for row in children!(customer_interest, customer_interest::Column::CustomerId)
        .all(db)
        .await?
    {
        if let Some(s) = snapshots.get_mut(&row.customer_id) {
            s.interests.push(row.tag);
        }
    }
    for row in children!(order, order::Column::CustomerId).all(db).await? {
        if let (Some(s), Some(channel)) = (snapshots.get_mut(&row.customer_id), row.channel) {
            s.order_channels.push(channel);
        }
    }
    for row in children!(interaction, interaction::Column::CustomerId)
        .all(db)
        .await?
    {
        if let Some(s) = snapshots.get_mut(&row.customer_id) {
            s.interactions.push(row.occurred_at);
        }
    }
    for row in children!(customer_value, customer_value::Column::CustomerId)
        .filter(customer_value::latest_run())
        .all(db)
        .await?
    {
        if let Some(s) = snapshots.get_mut(&row.customer_id) {
            s.value = Some(row);
        }
    }
    for row in children!(customer_lifecycle, customer_lifecycle::Column::CustomerId)
        .all(db)
        .await?
    {
        if let Some(s) = snapshots.get_mut(&row.customer_id) {
            s.lifecycle = Some(row);
        }
    }
    // Oldest first, so the last one seen per kind is the latest.
    for row in children!(feedback, feedback::Column::CustomerId)
        .order_by_asc(feedback::Column::OccurredAt)
        .order_by_asc(feedback::Column::Id)
        .all(db)
        .await?
    {
        if let Some(s) = snapshots.get_mut(&row.customer_id) {
            match row.kind {
                entity::FeedbackKind::Nps => s.latest_nps = Some(i64::from(row.score)),
                entity::FeedbackKind::Csat => s.latest_csat = Some(i64::from(row.score)),
            }
        }
    }
    for row in children!(feedback_topic, feedback_topic::Column::CustomerId)
        .all(db)
        .await?
    {
        if let Some(s) = snapshots.get_mut(&row.customer_id) {
            let topics = match row.source {
                entity::TopicSource::Tag => &mut s.feedback_tags,
                entity::TopicSource::Extracted => &mut s.feedback_terms,
            };
            if !topics.contains(&row.topic) {
                topics.push(row.topic);
            }
        }
    }
    for row in children!(loyalty_account, loyalty_account::Column::CustomerId)
        .all(db)
        .await?
    {
        if let Some(s) = snapshots.get_mut(&row.customer_id) {
            s.loyalty = Some(row);
        }
    }
    for row in children!(segment_member, segment_member::Column::CustomerId)
        .all(db)
        .await?
    {
        if let Some(s) = snapshots.get_mut(&row.customer_id) {
            s.segments.push(row.segment_id);
        }
    }
    let ids: Vec<i64> = snapshots.keys().copied().collect();
    for (id, figures) in crate::referrals::figures_of(db, &ids)
        .await
        .context("failed to read referral figures")?
    {
        if let Some(s) = snapshots.get_mut(&id) {
            s.referrals = figures;
        }
    }
    Ok(snapshots)
}

/// A field's value for a customer, for display (null when missing).
pub fn actual(field: Field, s: &Snapshot, clock: Clock) -> Json {
    match read(field, s, clock) {
        Value::Missing => Json::Null,
        Value::Text(t) => json!(t),
        Value::Int(n) => json!(n),
        Value::Units(u) => json!(entity::Money(u).to_figure().to_string()),
        Value::Float(f) => json!(f),
        Value::Bool(b) => json!(b),
        Value::Set(items) => json!(items),
        Value::Ids(ids) => json!(ids.iter().map(|id| id.to_string()).collect::<Vec<_>>()),
    }
}

/// Whether the customer is in the rule's set (erased customers never are).
pub fn evaluate(rule: &CheckedRule, s: &Snapshot, clock: Clock) -> bool {
    if s.customer.as_ref().is_none_or(|c| c.erased_at.is_some()) {
        return false;
    }
    holds(rule, s, clock)
}

fn holds(rule: &CheckedRule, s: &Snapshot, clock: Clock) -> bool {
    match rule {
        CheckedRule::All(rules) => rules.iter().all(|r| holds(r, s, clock)),
        CheckedRule::Any(rules) => rules.iter().any(|r| holds(r, s, clock)),
        CheckedRule::Not(rule) => !holds(rule, s, clock),
        CheckedRule::Condition(c) => meets(c, s, clock),
    }
}

/// Whether one condition holds for the customer.
pub fn meets(c: &Checked, s: &Snapshot, clock: Clock) -> bool {
    if let Some(result) = average_order_value_meets(c, s) {
        return result;
    }
    value_meets(c, &read(c.field, s, clock))
}

/// Whether a figure of zero (a count or an amount) meets the condition: for fields
/// where a customer without the thing counts zero rather than missing.
pub(super) fn meets_zero(c: &Checked) -> bool {
    let zero = match c.field.kind() {
        super::rule::Kind::Money => Value::Units(0),
        _ => Value::Int(0),
    };
    value_meets(c, &zero)
}

fn value_meets(c: &Checked, value: &Value) -> bool {
    match c.op {
        Op::IsNull => return value.is_missing(),
        Op::IsNotNull => return !value.is_missing(),
        _ if value.is_missing() => return false,
        _ => {}
    }
    let positive = match (value, &c.operand) {
        (Value::Text(v), Operand::Text(t)) if c.op == Op::StartsWith => v.starts_with(t.as_str()),
        (Value::Text(v), Operand::Text(t)) => v == t,
        (Value::Text(v), Operand::Texts(ts)) => ts.contains(v),
        (Value::Bool(v), Operand::Bool(b)) => v == b,
        (Value::Int(v), operand) => int_matches(c.op, *v, operand),
        (Value::Units(v), Operand::Units(u)) => order_matches(c.op, v.cmp(u)),
        (Value::Units(v), Operand::UnitsList(us)) => us.contains(v),
        (Value::Units(v), Operand::UnitsRange(a, b)) => a <= v && v <= b,
        (Value::Float(v), Operand::Float(f)) => {
            v.partial_cmp(f).is_some_and(|o| order_matches(c.op, o))
        }
        (Value::Float(v), Operand::Floats(fs)) => fs.contains(v),
        (Value::Float(v), Operand::FloatRange(a, b)) => a <= v && v <= b,
        (Value::Set(items), Operand::Texts(ts)) => match c.op {
            Op::ContainsAll => ts.iter().all(|t| items.contains(t)),
            _ => ts.iter().any(|t| items.contains(t)),
        },
        (Value::Ids(ids), Operand::Ids(wanted)) => wanted.iter().any(|w| ids.contains(w)),
        _ => false,
    };
    match c.op {
        Op::Ne | Op::NotIn => !positive,
        _ => positive,
    }
}

fn order_matches(op: Op, o: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::*;
    match op {
        Op::Eq | Op::Ne => o == Equal,
        Op::Lt => o == Less,
        Op::Lte => o != Greater,
        Op::Gt => o == Greater,
        Op::Gte => o != Less,
        _ => false,
    }
}

fn int_matches(op: Op, v: i64, operand: &Operand) -> bool {
    match operand {
        Operand::Int(n) => order_matches(op, v.cmp(n)),
        Operand::Ints(ns) => ns.contains(&v),
        Operand::IntRange(a, b) => *a <= v && v <= *b,
        _ => false,
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Value {
    Missing,
    Text(String),
    Int(i64),
    Units(i64),
    Float(f64),
    Bool(bool),
    Set(Vec<String>),
    Ids(Vec<i64>),
}

impl Value {
    fn is_missing(&self) -> bool {
        matches!(self, Value::Missing)
    }
}

fn text(value: Option<&String>) -> Value {
    value.map_or(Value::Missing, |t| Value::Text(t.clone()))
}

/// A value from a closed list, by its stored name (the names rules compare with).
fn choice(name: Option<&'static str>) -> Value {
    name.map_or(Value::Missing, |n| Value::Text(n.to_owned()))
}

fn whole_days(from: NaiveDate, to: NaiveDate) -> i64 {
    (to - from).num_days()
}

/// Whole years from `born` to `today`: the birthday is reached on its date (29 February
/// birthdays on 1 March in other years).
pub fn age_on(born: NaiveDate, today: NaiveDate) -> i64 {
    let mut years = i64::from(today.year() - born.year());
    if (today.month(), today.day()) < (born.month(), born.day()) {
        years -= 1;
    }
    years
}

fn read(field: Field, s: &Snapshot, clock: Clock) -> Value {
    use Field::*;
    let Some(c) = &s.customer else {
        return Value::Missing;
    };
    let v = s.value.as_ref();
    let today = clock.today();
    match field {
        Country => text(c.country.as_ref()),
        Region => text(c.region.as_ref()),
        City => text(c.city.as_ref()),
        Gender => Value::Text(gender_name(c.gender).to_owned()),
        Age => c
            .birth_date
            .map_or(Value::Missing, |b| Value::Int(age_on(b, today))),
        BirthdayThisMonth => c
            .birth_date
            .map_or(Value::Missing, |b| Value::Bool(b.month() == today.month())),
        IncomeBand => text(c.income_band.as_ref()),
        Occupation => text(c.occupation.as_ref()),
        Interests => set(&s.interests),
        Lifestyle => text(c.lifestyle.as_ref()),
        Needs => text(c.needs.as_ref()),
        AcquisitionChannel => text(c.acquisition_channel.as_ref()),
        MarketingConsent => Value::Bool(c.marketing_consent),
        Email => text(c.email.as_ref()),
        Phone => text(c.phone.as_ref()),
        OrderCount => Value::Int(c.order_count),
        TotalSpent => Value::Units(c.total_spent.0),
        AverageOrderValue => {
            if c.order_count > 0 {
                // For display, rounded down; conditions compare exactly
                // ([`average_order_value_meets`]).
                Value::Units(c.total_spent.0.div_euclid(c.order_count))
            } else {
                Value::Missing
            }
        }
        DaysSinceLastOrder => c.last_order_at.map_or(Value::Missing, |t| {
            Value::Int(whole_days(t.date_naive(), today))
        }),
        DaysSinceFirstOrder => c.first_order_at.map_or(Value::Missing, |t| {
            Value::Int(whole_days(t.date_naive(), today))
        }),
        OrderedInChannel => set(&s.order_channels),
        InteractionsLast90Days => {
            let since = clock.now - chrono::Duration::days(90);
            Value::Int(
                s.interactions
                    .iter()
                    .filter(|at| **at >= since && **at <= clock.now)
                    .count() as i64,
            )
        }
        RScore => int(v.and_then(|v| v.r_score).map(i64::from)),
        FScore => int(v.and_then(|v| v.f_score).map(i64::from)),
        MScore => int(v.and_then(|v| v.m_score).map(i64::from)),
        RfmGroup => choice(v.and_then(|v| v.rfm_group).map(entity::RfmGroup::as_str)),
        ValueTier => choice(v.and_then(|v| v.value_tier).map(entity::ValueTier::as_str)),
        PredictedClv => v
            .and_then(|v| v.predicted_clv)
            .map_or(Value::Missing, |m| Value::Units(m.0)),
        PAlive => float(v.and_then(|v| v.p_alive)),
        ChurnRisk => float(v.and_then(|v| v.churn_risk)),
        CompositeValue => float(v.map(|v| v.composite_score)),
        LifecycleStage => s
            .lifecycle
            .as_ref()
            .map_or(Value::Missing, |l| Value::Text(l.stage.as_str().to_owned())),
        DaysInStage => s.lifecycle.as_ref().map_or(Value::Missing, |l| {
            Value::Int(whole_days(l.since.date_naive(), today))
        }),
        LatestNps => int(s.latest_nps),
        NpsCategory => s.latest_nps.map_or(Value::Missing, |n| {
            Value::Text(nps_category_of(n).to_owned())
        }),
        LatestCsat => int(s.latest_csat),
        FeedbackTopic => set(&s.feedback_tags),
        FeedbackTerm => set(&s.feedback_terms),
        Referrals => Value::Int(s.referrals.count),
        ReferredRevenue => Value::Units(s.referrals.revenue_units()),
        LoyaltyTier => s
            .loyalty
            .as_ref()
            .and_then(|l| l.tier.clone())
            .map_or(Value::Missing, Value::Text),
        PointsBalance => int(s.loyalty.as_ref().map(|l| l.balance)),
        InSegment => Value::Ids(s.segments.clone()),
    }
}

fn set(items: &[String]) -> Value {
    if items.is_empty() {
        Value::Missing
    } else {
        Value::Set(items.to_vec())
    }
}

fn int(value: Option<i64>) -> Value {
    value.map_or(Value::Missing, Value::Int)
}

fn float(value: Option<f64>) -> Value {
    value.map_or(Value::Missing, Value::Float)
}

fn gender_name(g: entity::Gender) -> &'static str {
    match g {
        entity::Gender::Female => "FEMALE",
        entity::Gender::Male => "MALE",
        entity::Gender::Other => "OTHER",
        entity::Gender::Unknown => "UNKNOWN",
    }
}

/// Average order value conditions compare exactly: total spent against value × orders.
/// None for other fields.
pub fn average_order_value_meets(c: &Checked, s: &Snapshot) -> Option<bool> {
    if c.field != Field::AverageOrderValue {
        return None;
    }
    let customer = s.customer.as_ref()?;
    let (total, count) = (customer.total_spent.0 as i128, customer.order_count as i128);
    let present = count > 0;
    let cmp = |units: i64| total.cmp(&(units as i128 * count));
    let positive = match (&c.operand, c.op) {
        (_, Op::IsNull) => return Some(!present),
        (_, Op::IsNotNull) => return Some(present),
        _ if !present => return Some(false),
        (Operand::Units(u), op) => order_matches(op, cmp(*u)),
        (Operand::UnitsList(us), _) => us.iter().any(|u| cmp(*u).is_eq()),
        (Operand::UnitsRange(a, b), _) => cmp(*a).is_ge() && cmp(*b).is_le(),
        _ => false,
    };
    Some(match c.op {
        Op::Ne | Op::NotIn => !positive,
        _ => positive,
    })
}
