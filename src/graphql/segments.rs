//! Segments through the API: rules as typed input (never SQL), dynamic and static
//! segments, preview, materialized members, explanations and personas.

use async_graphql::connection::Edge;
use async_graphql::{
    ComplexObject, Context, Enum, ID, InputObject, Json, Object, OneofObject, Result, SimpleObject,
    dataloader::DataLoader,
};
use chrono::{DateTime, Utc};
use entity::sql::{LATEST_VALUE_RUN, nth_placeholder as placeholder};
use entity::{customer, segment, segment_event, segment_member};
use futures::FutureExt;
use jobs::segments::{
    self, DYNAMIC, STATIC,
    evaluate::{self, Snapshot},
    rule::{self, CheckedRule, Clock, Rule},
};
use sea_orm::sea_query::{Alias, Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    EntityTrait, FromQueryResult, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
    TransactionTrait,
};

use crate::api_keys::Scope;
use crate::graphql::{
    customer::{Customer, customer_id_of},
    errors::{IntoApi, OrInternal, Problems, bad_input, not_found},
    guards::{RequireScope, require},
    loaders::CustomerLoader,
    pagination::{
        CountedConnection, IdCursor, Page, PlainConnection, TotalCount, by_id, encode_cursor,
    },
};

/// What a segment condition looks at (README: "Segments").
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(remote = "jobs::segments::rule::Field")]
pub enum SegmentField {
    Country,
    Region,
    City,
    Gender,
    Age,
    /// True for customers born in the current month (UTC); needs `pii:read`.
    BirthdayThisMonth,
    IncomeBand,
    Occupation,
    Interests,
    Lifestyle,
    Needs,
    AcquisitionChannel,
    MarketingConsent,
    Email,
    Phone,
    OrderCount,
    TotalSpent,
    AverageOrderValue,
    DaysSinceLastOrder,
    DaysSinceFirstOrder,
    OrderedInChannel,
    #[graphql(name = "INTERACTIONS_LAST_90_DAYS")]
    InteractionsLast90Days,
    RScore,
    FScore,
    MScore,
    RfmGroup,
    ValueTier,
    PredictedClv,
    PAlive,
    ChurnRisk,
    CompositeValue,
    LifecycleStage,
    DaysInStage,
    LatestNps,
    NpsCategory,
    LatestCsat,
    InSegment,
}

/// How a segment condition compares. `BETWEEN` takes `values: [low, high]` (inclusive),
/// `IN`, `NOT_IN`, `CONTAINS_ANY` and `CONTAINS_ALL` take `values`, the null tests
/// nothing, the rest `value`.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(remote = "jobs::segments::rule::Op")]
pub enum SegmentOperator {
    Eq,
    Ne,
    In,
    NotIn,
    Lt,
    Lte,
    Gt,
    Gte,
    Between,
    ContainsAny,
    ContainsAll,
    IsNull,
    IsNotNull,
    StartsWith,
}

/// A rule: exactly one of the four.
#[derive(OneofObject, Clone, Debug)]
pub enum SegmentRuleInput {
    /// Every sub-rule holds.
    All(Vec<SegmentRuleInput>),
    /// At least one holds.
    Any(Vec<SegmentRuleInput>),
    /// The complement within all non-erased customers.
    Not(Box<SegmentRuleInput>),
    Condition(SegmentConditionInput),
}

#[derive(InputObject, Clone, Debug)]
pub struct SegmentConditionInput {
    pub field: SegmentField,
    pub op: SegmentOperator,
    pub value: Option<Json<serde_json::Value>>,
    pub values: Option<Vec<Json<serde_json::Value>>>,
}

impl From<SegmentRuleInput> for Rule {
    fn from(input: SegmentRuleInput) -> Self {
        match input {
            SegmentRuleInput::All(rules) => Rule::All(rules.into_iter().map(Rule::from).collect()),
            SegmentRuleInput::Any(rules) => Rule::Any(rules.into_iter().map(Rule::from).collect()),
            SegmentRuleInput::Not(rule) => Rule::Not(Box::new(Rule::from(*rule))),
            SegmentRuleInput::Condition(c) => Rule::Condition(rule::Condition {
                field: c.field.into(),
                op: c.op.into(),
                value: c.value.map(|v| v.0),
                values: c.values.map(|vs| vs.into_iter().map(|v| v.0).collect()),
            }),
        }
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum SegmentKind {
    /// Members are the customers the rule matches, refreshed by the `segments` job.
    Dynamic,
    /// Members are added and removed by hand.
    Static,
}

/// Checks a rule from the API: the paths in errors start at `field`; rules on personal
/// fields need `pii:read`; `IN_SEGMENT` must name existing segments without a cycle.
async fn check_rule(
    ctx: &Context<'_>,
    field: &str,
    input: SegmentRuleInput,
    segment_id: Option<i64>,
) -> Result<(Rule, CheckedRule)> {
    let rule = Rule::from(input);
    let checked = rule
        .check(field)
        .map_err(|e| bad_input(&e.field, e.message))?;
    if checked.conditions().iter().any(|c| c.field.is_personal()) {
        require(ctx, Scope::PiiRead)?;
    }
    let refs = checked.segment_refs();
    if !refs.is_empty() {
        let db = ctx.data::<DatabaseConnection>()?;
        let all = segment::Entity::find().all(db).await.or_internal()?;
        if let Some(missing) = refs.iter().find(|id| !all.iter().any(|s| s.id == **id)) {
            return Err(bad_input(
                field,
                format!("IN_SEGMENT: no segment {missing}"),
            ));
        }
        if let Some(id) = segment_id
            && segments::would_cycle(&all, id, &refs)
        {
            return Err(bad_input(
                field,
                "IN_SEGMENT: the segments would refer to each other in a cycle",
            ));
        }
    }
    Ok((rule, checked))
}

fn now_clock() -> Clock {
    Clock { now: Utc::now() }
}

fn segment_id(field: &str, id: &ID) -> Result<i64> {
    id.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| bad_input(field, "not a segment id"))
}

async fn find_segment(db: &DatabaseConnection, id: i64) -> Result<segment::Model> {
    segment::Entity::find_by_id(id)
        .one(db)
        .await
        .or_internal()?
        .ok_or_else(|| not_found(format!("segment {id}")))
}

/// A group of customers.
pub struct Segment(pub segment::Model);

/// One condition of a rule for one customer.
#[derive(SimpleObject)]
pub struct ConditionExplanation {
    /// Where the condition sits, e.g. `rule.all[1].condition`.
    pub path: String,
    pub field: SegmentField,
    pub op: SegmentOperator,
    pub value: Option<Json<serde_json::Value>>,
    pub values: Option<Vec<Json<serde_json::Value>>>,
    /// Whether this customer meets it.
    pub met: bool,
    /// The customer's value of the field (null when missing).
    pub actual: Json<serde_json::Value>,
}

/// A customer entering or leaving a segment.
pub struct SegmentChange(segment_event::Model);

#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum SegmentChangeKind {
    Entered,
    Exited,
}

#[Object]
impl SegmentChange {
    async fn kind(&self) -> SegmentChangeKind {
        if self.0.kind == "EXITED" {
            SegmentChangeKind::Exited
        } else {
            SegmentChangeKind::Entered
        }
    }
    async fn customer_id(&self) -> ID {
        ID(self.0.customer_id.to_string())
    }
    async fn customer(&self, ctx: &Context<'_>) -> Result<Option<Customer>> {
        let loader = ctx.data::<DataLoader<CustomerLoader>>()?;
        Ok(loader.load_one(self.0.customer_id).await?.map(Customer))
    }
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
}

/// Why a customer is or is not in a segment.
#[derive(SimpleObject)]
pub struct SegmentExplanation {
    /// Whether the rule matches the customer now.
    pub matches: bool,
    /// Whether the customer is a member (as of the last refresh).
    pub member: bool,
    pub conditions: Vec<ConditionExplanation>,
}

/// A value and how many members have it.
#[derive(SimpleObject)]
pub struct Share {
    pub value: String,
    pub customers: u64,
    pub share: f64,
}

/// The segment's persona.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct SegmentProfile {
    pub size: u64,
    /// Of all non-erased customers.
    pub share_of_base: f64,
    /// Of the revenue of all customers.
    pub revenue_share: f64,
    pub average_predicted_clv: Option<crate::graphql::scalars::Decimal>,
    pub median_predicted_clv: Option<crate::graphql::scalars::Decimal>,
    pub lifecycle_stages: Vec<Share>,
    pub rfm_groups: Vec<Share>,
    #[graphql(skip)]
    pub top_cities: Vec<Share>,
    #[graphql(skip)]
    pub age_bands: Vec<Share>,
    #[graphql(skip)]
    pub genders: Vec<Share>,
    pub top_interests: Vec<Share>,
    /// Mean of the members' latest NPS answers.
    pub average_nps: Option<f64>,
}

/// Breakdowns by personal data. Over few members they describe people, not a group
/// (a segment of one tells its member's age band), so below `[privacy]
/// min_profile_size` members they need `pii:read`.
#[ComplexObject]
impl SegmentProfile {
    /// Null with `FORBIDDEN` for a small segment and a key without `pii:read`.
    async fn top_cities(&self, ctx: &Context<'_>) -> Result<Option<&[Share]>> {
        self.personal(ctx, &self.top_cities)
    }
    /// Null with `FORBIDDEN` for a small segment and a key without `pii:read`.
    async fn age_bands(&self, ctx: &Context<'_>) -> Result<Option<&[Share]>> {
        self.personal(ctx, &self.age_bands)
    }
    /// Null with `FORBIDDEN` for a small segment and a key without `pii:read`.
    async fn genders(&self, ctx: &Context<'_>) -> Result<Option<&[Share]>> {
        self.personal(ctx, &self.genders)
    }
}

impl SegmentProfile {
    fn personal<'a>(&self, ctx: &Context<'_>, shares: &'a [Share]) -> Result<Option<&'a [Share]>> {
        let min_size = ctx
            .data::<crate::configuration::PrivacySettings>()?
            .min_profile_size;
        if self.size < min_size {
            require(ctx, Scope::PiiRead).map_err(|_| {
                crate::graphql::errors::forbidden(format!(
                    "a profile of fewer than {min_size} members shows personal breakdowns only \
                     to keys with the `pii:read` scope"
                ))
            })?;
        }
        Ok(Some(shares))
    }
}

#[Object]
impl Segment {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    async fn kind(&self) -> SegmentKind {
        if self.0.kind == STATIC {
            SegmentKind::Static
        } else {
            SegmentKind::Dynamic
        }
    }
    /// The rule as JSON, in the shape of `SegmentRuleInput`; null for static segments.
    async fn rule(&self) -> Result<Option<Json<serde_json::Value>>> {
        self.0
            .rule
            .as_deref()
            .map(|json| serde_json::from_str(json).map(Json))
            .transpose()
            .or_internal()
    }
    async fn goal(&self) -> Option<&str> {
        self.0.goal.as_deref()
    }
    async fn strategy(&self) -> Option<&str> {
        self.0.strategy.as_deref()
    }
    /// Campaigns that target this segment (its strategy in action). Needs `campaigns:read`.
    async fn campaigns(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Vec<crate::graphql::campaigns::Campaign>> {
        require(ctx, Scope::CampaignsRead)?;
        crate::graphql::campaigns::campaigns_for_segment(ctx, self.0.id).await
    }
    async fn owner(&self) -> Option<&str> {
        self.0.owner.as_deref()
    }
    /// Members at the last refresh or change.
    async fn size(&self) -> i64 {
        self.0.size
    }
    async fn refreshed_at(&self) -> Option<DateTime<Utc>> {
        self.0.refreshed_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    /// Members, by customer id.
    async fn members(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<CountedConnection<Customer>> {
        let db = ctx.data::<DatabaseConnection>()?;
        let page = Page::<IdCursor>::forward(first, after)?;
        let mut query = segment_member::Entity::find()
            .filter(segment_member::Column::SegmentId.eq(self.0.id))
            .order_by_asc(segment_member::Column::CustomerId)
            .limit(page.fetch_limit());
        if let Some(IdCursor(after)) = page.cursor {
            query = query.filter(segment_member::Column::CustomerId.gt(after));
        }
        let rows = query.all(db).await.or_internal()?;
        let (rows, has_previous, has_next) = page.finish(rows);
        let (count_db, id) = (db.clone(), self.0.id);
        let total = TotalCount::new(move || {
            let db = count_db.clone();
            async move {
                segment_member::Entity::find()
                    .filter(segment_member::Column::SegmentId.eq(id))
                    .count(&db)
                    .await
                    .or_internal()
            }
            .boxed()
        });
        let ids: Vec<i64> = rows.iter().map(|m| m.customer_id).collect();
        let loader = ctx.data::<DataLoader<CustomerLoader>>()?;
        let customers = loader.load_many(ids.iter().copied()).await?;
        let mut connection =
            CountedConnection::with_additional_fields(has_previous, has_next, total);
        for id in ids {
            if let Some(customer) = customers.get(&id).cloned() {
                connection
                    .edges
                    .push(Edge::new(encode_cursor(&IdCursor(id)), Customer(customer)));
            }
        }
        Ok(connection)
    }

    /// Customers entering and leaving, newest first: what campaigns act on.
    async fn changes(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<PlainConnection<SegmentChange>> {
        let db = ctx.data::<DatabaseConnection>()?;
        let page = Page::<IdCursor>::forward(first, after)?;
        let mut query = segment_event::Entity::find()
            .filter(segment_event::Column::SegmentId.eq(self.0.id))
            .order_by_desc(segment_event::Column::Id)
            .limit(page.fetch_limit());
        if let Some(IdCursor(before)) = page.cursor {
            query = query.filter(segment_event::Column::Id.lt(before));
        }
        let rows = query.all(db).await.or_internal()?;
        Ok(by_id(&page, rows, |c| c.id, SegmentChange))
    }

    /// Every condition with whether this customer meets it and their actual value.
    async fn explain(&self, ctx: &Context<'_>, customer_id: ID) -> Result<SegmentExplanation> {
        let db = ctx.data::<DatabaseConnection>()?;
        let id = customer_id_of(&customer_id).map_err(|m| bad_input("customerId", m))?;
        let member = segment_member::Entity::find_by_id((self.0.id, id))
            .one(db)
            .await
            .or_internal()?
            .is_some();
        let snapshot = evaluate::load_snapshots(db, Some(&[id]))
            .await
            .or_internal()?
            .remove(&id)
            .ok_or_else(|| not_found(format!("customer {}", customer_id.as_str())))?;
        let Some(rule) = segments::stored_rule(&self.0).or_internal()? else {
            return Ok(SegmentExplanation {
                matches: member,
                member,
                conditions: Vec::new(),
            });
        };
        if rule.conditions().iter().any(|c| c.field.is_personal()) {
            require(ctx, Scope::PiiRead)?;
        }
        let clock = now_clock();
        let stored: Rule = self
            .0
            .rule
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .or_internal()?
            .ok_or_else(|| not_found("rule"))?;
        let mut conditions = Vec::new();
        explain_into(
            db,
            &stored,
            &rule,
            "rule",
            id,
            &snapshot,
            clock,
            &mut conditions,
        )
        .await?;
        let matches = matches_in_sql(db, &rule, id, clock).await?;
        Ok(SegmentExplanation {
            matches,
            member,
            conditions,
        })
    }

    /// The segment's persona, over its current members.
    async fn profile(&self, ctx: &Context<'_>) -> Result<SegmentProfile> {
        let db = ctx.data::<DatabaseConnection>()?;
        profile(db, self.0.id).await
    }
}

#[allow(clippy::too_many_arguments)]
fn explain_into<'a>(
    db: &'a DatabaseConnection,
    stored: &'a Rule,
    checked: &'a CheckedRule,
    path: &'a str,
    customer_id: i64,
    snapshot: &'a Snapshot,
    clock: Clock,
    out: &'a mut Vec<ConditionExplanation>,
) -> futures::future::BoxFuture<'a, Result<()>> {
    Box::pin(async move {
        match (stored, checked) {
            (Rule::All(rules), CheckedRule::All(checked))
            | (Rule::Any(rules), CheckedRule::Any(checked)) => {
                let name = if matches!(stored, Rule::All(_)) {
                    "all"
                } else {
                    "any"
                };
                for (i, (rule, checked)) in rules.iter().zip(checked).enumerate() {
                    let path = format!("{path}.{name}[{i}]");
                    explain_into(db, rule, checked, &path, customer_id, snapshot, clock, out)
                        .await?;
                }
            }
            (Rule::Not(rule), CheckedRule::Not(checked)) => {
                let path = format!("{path}.not");
                explain_into(db, rule, checked, &path, customer_id, snapshot, clock, out).await?;
            }
            (Rule::Condition(condition), CheckedRule::Condition(c)) => {
                let single = CheckedRule::Condition(c.clone());
                out.push(ConditionExplanation {
                    path: format!("{path}.condition"),
                    field: c.field.into(),
                    op: c.op.into(),
                    value: condition.value.clone().map(Json),
                    values: condition
                        .values
                        .clone()
                        .map(|vs| vs.into_iter().map(Json).collect()),
                    met: matches_in_sql(db, &single, customer_id, clock).await?,
                    actual: Json(evaluate::actual(c.field, snapshot, clock)),
                });
            }
            _ => {}
        }
        Ok(())
    })
}

/// Whether the rule matches one customer, by the same SQL a refresh runs.
async fn matches_in_sql(
    db: &DatabaseConnection,
    rule: &CheckedRule,
    customer_id: i64,
    clock: Clock,
) -> Result<bool> {
    let mut select = segments::matching_ids(rule, clock);
    select.and_where(Expr::col((Alias::new("customers"), Alias::new("id"))).eq(customer_id));
    Ok(db.query_one(&select).await.or_internal()?.is_some())
}

/// A rule's size and first customers, nothing saved.
#[derive(SimpleObject)]
pub struct SegmentPreview {
    pub size: u64,
    /// Up to 20 matching customers, by id.
    pub customers: Vec<Customer>,
}

#[derive(Default)]
pub struct SegmentQuery;

#[Object]
impl SegmentQuery {
    /// Segments, by id.
    #[graphql(guard = "RequireScope(Scope::SegmentsRead)")]
    async fn segments(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<PlainConnection<Segment>> {
        let db = ctx.data::<DatabaseConnection>()?;
        let page = Page::<IdCursor>::forward(first, after)?;
        let mut query = segment::Entity::find()
            .order_by_asc(segment::Column::Id)
            .limit(page.fetch_limit());
        if let Some(IdCursor(after)) = page.cursor {
            query = query.filter(segment::Column::Id.gt(after));
        }
        let rows = query.all(db).await.or_internal()?;
        Ok(by_id(&page, rows, |s| s.id, Segment))
    }

    #[graphql(guard = "RequireScope(Scope::SegmentsRead)")]
    async fn segment(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Segment>> {
        let db = ctx.data::<DatabaseConnection>()?;
        let id = segment_id("id", &id)?;
        Ok(segment::Entity::find_by_id(id)
            .one(db)
            .await
            .or_internal()?
            .map(Segment))
    }

    /// How many customers a rule matches now, and the first of them; nothing is saved.
    #[graphql(guard = "RequireScope(Scope::SegmentsRead)")]
    async fn preview_segment(
        &self,
        ctx: &Context<'_>,
        rule: SegmentRuleInput,
    ) -> Result<SegmentPreview> {
        let (_, checked) = check_rule(ctx, "rule", rule, None).await?;
        let db = ctx.data::<DatabaseConnection>()?;
        let clock = now_clock();
        let size = segments::count_matching(db, &checked, clock)
            .await
            .or_internal()?;
        let mut first = segments::matching_ids(&checked, clock);
        first
            .order_by(
                (Alias::new("customers"), Alias::new("id")),
                sea_orm::sea_query::Order::Asc,
            )
            .limit(20);
        let ids: Vec<i64> = db
            .query_all(&first)
            .await
            .or_internal()?
            .into_iter()
            .map(|row| row.try_get::<i64>("", "id"))
            .collect::<Result<_, _>>()
            .or_internal()?;
        let loader = ctx.data::<DataLoader<CustomerLoader>>()?;
        let customers = loader.load_many(ids.iter().copied()).await?;
        Ok(SegmentPreview {
            size,
            customers: ids
                .iter()
                .filter_map(|id| customers.get(id).cloned().map(Customer))
                .collect(),
        })
    }
}

#[derive(InputObject)]
pub struct CreateSegmentInput {
    pub name: String,
    pub description: Option<String>,
    /// Required for dynamic segments, refused for static ones.
    pub rule: Option<SegmentRuleInput>,
    #[graphql(default_with = "SegmentKind::Dynamic")]
    pub kind: SegmentKind,
    pub goal: Option<String>,
    pub strategy: Option<String>,
    pub owner: Option<String>,
}

/// Fields to change; absent ones stay.
#[derive(InputObject)]
pub struct UpdateSegmentInput {
    pub name: Option<String>,
    pub description: Option<String>,
    /// A new rule (dynamic segments only); members change at the next refresh.
    pub rule: Option<SegmentRuleInput>,
    pub goal: Option<String>,
    pub strategy: Option<String>,
    pub owner: Option<String>,
}

/// Customers to add to or remove from a static segment, by id or external id.
#[derive(InputObject)]
pub struct SegmentMembersInput {
    pub customer_ids: Option<Vec<ID>>,
    pub customer_external_ids: Option<Vec<String>>,
}

/// What a refresh did.
#[derive(SimpleObject)]
pub struct SegmentRefresh {
    pub segment: Segment,
    pub entered: u64,
    pub exited: u64,
}

const NAME_LIMIT: usize = 200;
const TEXT_LIMIT: usize = 4000;

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

async fn name_taken(db: &DatabaseConnection, name: &str, except: Option<i64>) -> Result<bool> {
    let mut query = segment::Entity::find().filter(segment::Column::Name.eq(name.trim()));
    if let Some(id) = except {
        query = query.filter(segment::Column::Id.ne(id));
    }
    Ok(query.count(db).await.or_internal()? > 0)
}

#[derive(Default)]
pub struct SegmentMutation;

#[Object]
impl SegmentMutation {
    /// Creates a segment. A dynamic segment's members are computed at once.
    #[graphql(guard = "RequireScope(Scope::SegmentsWrite)")]
    async fn create_segment(
        &self,
        ctx: &Context<'_>,
        input: CreateSegmentInput,
    ) -> Result<Segment> {
        let db = ctx.data::<DatabaseConnection>()?;
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
        problems.into_result().into_api()?;
        if name_taken(db, &input.name, None).await? {
            return Err(bad_input("input.name", "a segment with this name exists"));
        }
        let rule = match input.rule {
            Some(rule) => Some(check_rule(ctx, "input.rule", rule, None).await?.0),
            None => None,
        };
        insert_segment(
            db,
            segment::ActiveModel {
                name: Set(input.name.trim().to_owned()),
                description: Set(input.description),
                kind: Set(if input.kind == SegmentKind::Static {
                    STATIC
                } else {
                    DYNAMIC
                }
                .to_owned()),
                rule: Set(rule
                    .map(|r| serde_json::to_string(&r))
                    .transpose()
                    .or_internal()?),
                goal: Set(input.goal),
                strategy: Set(input.strategy),
                owner: Set(input.owner),
                ..Default::default()
            },
        )
        .await
    }

    /// Changes a segment; a new rule is applied at once.
    #[graphql(guard = "RequireScope(Scope::SegmentsWrite)")]
    async fn update_segment(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateSegmentInput,
    ) -> Result<Segment> {
        let db = ctx.data::<DatabaseConnection>()?;
        let id = segment_id("id", &id)?;
        let existing = find_segment(db, id).await?;
        let mut problems = Problems::new();
        check_texts(
            &mut problems,
            input.name.as_deref(),
            [
                ("description", input.description.as_ref()),
                ("goal", input.goal.as_ref()),
                ("strategy", input.strategy.as_ref()),
                ("owner", input.owner.as_ref()),
            ],
        );
        if input.rule.is_some() && existing.kind == STATIC {
            problems.push(None, "input.rule", "a static segment has no rule");
        }
        problems.into_result().into_api()?;
        if let Some(name) = &input.name
            && name_taken(db, name, Some(id)).await?
        {
            return Err(bad_input("input.name", "a segment with this name exists"));
        }
        let rule = match input.rule {
            Some(rule) => Some(check_rule(ctx, "input.rule", rule, Some(id)).await?.0),
            None => None,
        };
        let mut row: segment::ActiveModel = existing.into();
        if let Some(name) = input.name {
            row.name = Set(name.trim().to_owned());
        }
        if let Some(rule) = &rule {
            row.rule = Set(Some(serde_json::to_string(rule).or_internal()?));
        }
        if input.description.is_some() {
            row.description = Set(input.description);
        }
        if input.goal.is_some() {
            row.goal = Set(input.goal);
        }
        if input.strategy.is_some() {
            row.strategy = Set(input.strategy);
        }
        if input.owner.is_some() {
            row.owner = Set(input.owner);
        }
        row.updated_at = Set(Utc::now());
        let saved = row.update(db).await.or_internal()?;
        if rule.is_some() {
            segments::refresh(db, &saved, Utc::now())
                .await
                .or_internal()?;
        }
        Ok(Segment(find_segment(db, id).await?))
    }

    /// Deletes a segment with its members and events. Refused while another segment's
    /// rule refers to it.
    #[graphql(guard = "RequireScope(Scope::SegmentsWrite)")]
    async fn delete_segment(&self, ctx: &Context<'_>, id: ID) -> Result<ID> {
        let db = ctx.data::<DatabaseConnection>()?;
        let segment_id = segment_id("id", &id)?;
        find_segment(db, segment_id).await?;
        let all = segment::Entity::find().all(db).await.or_internal()?;
        for other in &all {
            if let Ok(Some(rule)) = segments::stored_rule(other)
                && rule.segment_refs().contains(&segment_id)
            {
                return Err(bad_input(
                    "id",
                    format!("segment {} (\"{}\") refers to it", other.id, other.name),
                ));
            }
        }
        if let Some(campaign) = crate::graphql::campaigns::campaigns_for_segment(ctx, segment_id)
            .await?
            .first()
        {
            return Err(bad_input(
                "id",
                format!(
                    "campaign {} (\"{}\") targets it",
                    campaign.0.id, campaign.0.name
                ),
            ));
        }
        let txn = db.begin().await.or_internal()?;
        segment_member::Entity::delete_many()
            .filter(segment_member::Column::SegmentId.eq(segment_id))
            .exec(&txn)
            .await
            .or_internal()?;
        segment_event::Entity::delete_many()
            .filter(segment_event::Column::SegmentId.eq(segment_id))
            .exec(&txn)
            .await
            .or_internal()?;
        segment::Entity::delete_by_id(segment_id)
            .exec(&txn)
            .await
            .or_internal()?;
        txn.commit().await.or_internal()?;
        Ok(id)
    }

    /// Adds customers to a static segment (already-members are left alone). Every
    /// reference must resolve, or nothing changes.
    #[graphql(guard = "RequireScope(Scope::SegmentsWrite)")]
    async fn add_segment_members(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: SegmentMembersInput,
    ) -> Result<Segment> {
        change_members(ctx, id, input, true).await
    }

    /// Removes customers from a static segment.
    #[graphql(guard = "RequireScope(Scope::SegmentsWrite)")]
    async fn remove_segment_members(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: SegmentMembersInput,
    ) -> Result<Segment> {
        change_members(ctx, id, input, false).await
    }

    /// Installs the built-in suggestions (high value at risk, new this month, promoters,
    /// detractors, silent big spenders, birthdays this month, loyal champions), each with
    /// a goal and a strategy; suggestions whose name already exists are left alone.
    /// Returns the segments installed now.
    #[graphql(guard = "RequireScope(Scope::Admin)")]
    async fn install_suggested_segments(&self, ctx: &Context<'_>) -> Result<Vec<Segment>> {
        let db = ctx.data::<DatabaseConnection>()?;
        let mut installed = Vec::new();
        for suggestion in suggestions() {
            if name_taken(db, suggestion.name, None).await? {
                continue;
            }
            let row = segment::ActiveModel {
                name: Set(suggestion.name.to_owned()),
                description: Set(Some(suggestion.description.to_owned())),
                kind: Set(DYNAMIC.to_owned()),
                rule: Set(Some(serde_json::to_string(&suggestion.rule).or_internal()?)),
                goal: Set(Some(suggestion.goal.to_owned())),
                strategy: Set(Some(suggestion.strategy.to_owned())),
                ..Default::default()
            };
            installed.push(insert_segment(db, row).await?);
        }
        Ok(installed)
    }

    /// Recomputes a dynamic segment's members now.
    #[graphql(guard = "RequireScope(Scope::SegmentsWrite)")]
    async fn refresh_segment(&self, ctx: &Context<'_>, id: ID) -> Result<SegmentRefresh> {
        let db = ctx.data::<DatabaseConnection>()?;
        let id = segment_id("id", &id)?;
        let existing = find_segment(db, id).await?;
        let result = segments::refresh(db, &existing, Utc::now())
            .await
            .or_internal()?;
        Ok(SegmentRefresh {
            segment: Segment(find_segment(db, id).await?),
            entered: result.entered,
            exited: result.exited,
        })
    }
}

/// Resolves ids and external ids to customers, every one or an error listing the bad.
async fn resolve_customers(
    db: &DatabaseConnection,
    input: &SegmentMembersInput,
) -> Result<Vec<i64>> {
    let mut problems = Problems::new();
    let mut ids = Vec::new();
    for (i, id) in input.customer_ids.iter().flatten().enumerate() {
        match customer_id_of(id) {
            Ok(id) => ids.push(id),
            Err(message) => problems.push(Some(i), format!("input.customerIds[{i}]"), message),
        }
    }
    // Erased customers are never members.
    let found: Vec<i64> = customer::Entity::find()
        .select_only()
        .column(customer::Column::Id)
        .filter(customer::Column::Id.is_in(ids.clone()))
        .filter(customer::Column::ErasedAt.is_null())
        .into_tuple()
        .all(db)
        .await
        .or_internal()?;
    for (i, id) in ids.iter().enumerate() {
        if !found.contains(id) {
            problems.push(
                Some(i),
                format!("input.customerIds[{i}]"),
                format!("no customer {id}"),
            );
        }
    }
    let external: Vec<String> = input.customer_external_ids.clone().unwrap_or_default();
    let by_external: Vec<(i64, Option<String>)> = customer::Entity::find()
        .select_only()
        .column(customer::Column::Id)
        .column(customer::Column::ExternalId)
        .filter(customer::Column::ExternalId.is_in(external.clone()))
        .filter(customer::Column::ErasedAt.is_null())
        .into_tuple()
        .all(db)
        .await
        .or_internal()?;
    for (i, key) in external.iter().enumerate() {
        match by_external
            .iter()
            .find(|(_, e)| e.as_deref() == Some(key.as_str()))
        {
            Some((id, _)) => ids.push(*id),
            None => problems.push(
                Some(i),
                format!("input.customerExternalIds[{i}]"),
                format!("no customer with externalId `{key}`"),
            ),
        }
    }
    problems.into_result().into_api()?;
    if ids.is_empty() {
        return Err(bad_input("input", "name at least one customer"));
    }
    if ids.len() > 1000 {
        return Err(bad_input("input", "at most 1000 customers per call"));
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

async fn change_members(
    ctx: &Context<'_>,
    id: ID,
    input: SegmentMembersInput,
    add: bool,
) -> Result<Segment> {
    let db = ctx.data::<DatabaseConnection>()?;
    let segment_id = segment_id("id", &id)?;
    let existing = find_segment(db, segment_id).await?;
    if existing.kind != STATIC {
        return Err(bad_input(
            "id",
            "members of a dynamic segment follow its rule",
        ));
    }
    let ids = resolve_customers(db, &input).await?;
    let now = Utc::now();
    let txn = db.begin().await.or_internal()?;
    let current: Vec<i64> = segment_member::Entity::find()
        .select_only()
        .column(segment_member::Column::CustomerId)
        .filter(segment_member::Column::SegmentId.eq(segment_id))
        .filter(segment_member::Column::CustomerId.is_in(ids.clone()))
        .into_tuple()
        .all(&txn)
        .await
        .or_internal()?;
    let changing: Vec<i64> = ids
        .into_iter()
        .filter(|id| current.contains(id) != add)
        .collect();
    if !changing.is_empty() {
        if add {
            segment_member::Entity::insert_many(changing.iter().map(|c| {
                segment_member::ActiveModel {
                    segment_id: Set(segment_id),
                    customer_id: Set(*c),
                    entered_at: Set(now),
                }
            }))
            .exec_without_returning(&txn)
            .await
            .or_internal()?;
        } else {
            segment_member::Entity::delete_many()
                .filter(segment_member::Column::SegmentId.eq(segment_id))
                .filter(segment_member::Column::CustomerId.is_in(changing.clone()))
                .exec(&txn)
                .await
                .or_internal()?;
        }
        let kind = if add { "ENTERED" } else { "EXITED" };
        segment_event::Entity::insert_many(changing.iter().map(|c| segment_event::ActiveModel {
            segment_id: Set(segment_id),
            customer_id: Set(*c),
            kind: Set(kind.to_owned()),
            at: Set(now),
            ..Default::default()
        }))
        .exec_without_returning(&txn)
        .await
        .or_internal()?;
    }
    let size = segment_member::Entity::find()
        .filter(segment_member::Column::SegmentId.eq(segment_id))
        .count(&txn)
        .await
        .or_internal()?;
    segment::ActiveModel {
        id: Set(segment_id),
        size: Set(size as i64),
        refreshed_at: Set(Some(now)),
        updated_at: Set(now),
        ..Default::default()
    }
    .update(&txn)
    .await
    .or_internal()?;
    txn.commit().await.or_internal()?;
    Ok(Segment(find_segment(db, segment_id).await?))
}

/// Stores a new segment — a dynamic one with its members computed at once — and
/// returns it as stored.
async fn insert_segment(db: &DatabaseConnection, mut row: segment::ActiveModel) -> Result<Segment> {
    let now = Utc::now();
    row.size = Set(0);
    row.refreshed_at = Set(None);
    row.created_at = Set(now);
    row.updated_at = Set(now);
    let saved = row.insert(db).await.or_internal()?;
    segments::refresh(db, &saved, now).await.or_internal()?;
    Ok(Segment(find_segment(db, saved.id).await?))
}

#[derive(FromQueryResult)]
struct MixRow {
    value: Option<String>,
    n: i64,
}

#[derive(FromQueryResult)]
struct Totals {
    n: i64,
    revenue: entity::MoneyTotal,
}

const MEMBERS: &str = "FROM segment_members m JOIN customers c ON c.id = m.customer_id";
/// Joins a member's current scores as `v`.
fn latest_scores_join() -> String {
    format!("JOIN customer_values v ON v.customer_id = c.id AND v.job_run_id = {LATEST_VALUE_RUN}")
}

/// Members grouped by an expression, largest groups first.
async fn mix(
    db: &DatabaseConnection,
    segment_id: i64,
    size: i64,
    join: &str,
    expr: &str,
    limit: u64,
    extra: Vec<sea_orm::Value>,
) -> Result<Vec<Share>> {
    let backend = db.get_database_backend();
    // Placeholders of `expr` come first in the statement, the segment id last.
    let id_mark = placeholder(backend, extra.len() + 1);
    let sql = format!(
        "SELECT value, COUNT(*) AS n FROM (SELECT {expr} AS value {MEMBERS} {join} WHERE m.segment_id = {id_mark}) grouped \
         WHERE value IS NOT NULL GROUP BY value ORDER BY n DESC, value LIMIT {limit}"
    );
    let mut values = extra;
    values.push(segment_id.into());
    let rows = MixRow::find_by_statement(Statement::from_sql_and_values(backend, sql, values))
        .all(db)
        .await
        .or_internal()?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            row.value.map(|value| Share {
                value,
                customers: row.n as u64,
                share: if size == 0 {
                    0.0
                } else {
                    row.n as f64 / size as f64
                },
            })
        })
        .collect())
}

async fn profile(db: &DatabaseConnection, segment_id: i64) -> Result<SegmentProfile> {
    let scores_join = latest_scores_join();
    let backend = db.get_database_backend();
    let p1 = placeholder(backend, 1);
    let totals = |sql: String, values: Vec<sea_orm::Value>| async move {
        Totals::find_by_statement(Statement::from_sql_and_values(backend, sql, values))
            .one(db)
            .await
            .or_internal()?
            .ok_or_else(|| crate::graphql::errors::internal(anyhow::anyhow!("no totals row")))
    };
    let members = totals(
        format!(
            "SELECT COUNT(*) AS n, {} {MEMBERS} WHERE m.segment_id = {p1}",
            entity::sql::money_sum("c.total_spent", "revenue")
        ),
        vec![segment_id.into()],
    )
    .await?;
    let base = totals(
        format!(
            "SELECT COUNT(*) AS n, {} FROM customers WHERE erased_at IS NULL",
            entity::sql::money_sum("total_spent", "revenue")
        ),
        Vec::new(),
    )
    .await?;
    let size = members.n;
    let ratio = |part: i64, whole: i64| {
        if whole == 0 {
            0.0
        } else {
            part as f64 / whole as f64
        }
    };

    // CLV: the mean, and the median as the middle row(s) of the sorted values.
    let clvs = format!(
        "SELECT v.predicted_clv AS clv {MEMBERS} {scores_join} \
         WHERE m.segment_id = {p1} AND v.predicted_clv IS NOT NULL ORDER BY v.predicted_clv"
    );
    #[derive(FromQueryResult)]
    struct Clv {
        clv: i64,
    }
    let sorted: Vec<i64> = Clv::find_by_statement(Statement::from_sql_and_values(
        backend,
        clvs,
        [segment_id.into()],
    ))
    .all(db)
    .await
    .or_internal()?
    .into_iter()
    .map(|row| row.clv)
    .collect();
    let average_predicted_clv = entity::Money::mean(
        sorted.iter().map(|c| i128::from(*c)).sum(),
        sorted.len() as u64,
    )
    .map(Into::into);
    let median_predicted_clv = match sorted.len() {
        0 => None,
        n if n % 2 == 1 => Some(entity::Money(sorted[n / 2]).into()),
        n => Some(
            entity::Money::midpoint(
                entity::Money(sorted[n / 2 - 1]),
                entity::Money(sorted[n / 2]),
            )
            .into(),
        ),
    };

    // Age bands at today, as birth-date ranges.
    let today = Utc::now().date_naive();
    let born_before = |years: u32| {
        today
            .checked_sub_months(chrono::Months::new(years * 12))
            .unwrap_or(today)
    };
    let bands = [
        (25, "<25"),
        (35, "25–34"),
        (45, "35–44"),
        (55, "45–54"),
        (65, "55–64"),
    ];
    let mut case = String::from("CASE WHEN c.birth_date IS NULL THEN NULL");
    let mut age_values: Vec<sea_orm::Value> = Vec::new();
    for (years, label) in bands {
        age_values.push(born_before(years).into());
        case.push_str(&format!(
            " WHEN c.birth_date > {} THEN '{label}'",
            placeholder(backend, age_values.len())
        ));
    }
    case.push_str(" ELSE '65+' END");

    #[derive(FromQueryResult)]
    struct Nps {
        nps: Option<f64>,
    }
    let nps = format!(
        "SELECT CAST(AVG(f.score) AS DOUBLE PRECISION) AS nps FROM feedback f \
         JOIN segment_members m ON m.customer_id = f.customer_id AND m.segment_id = {p1} \
         WHERE f.kind = 'NPS' AND f.id = (SELECT f2.id FROM feedback f2 WHERE f2.customer_id = f.customer_id \
               AND f2.kind = 'NPS' ORDER BY f2.occurred_at DESC, f2.id DESC LIMIT 1)"
    );
    let average_nps = Nps::find_by_statement(Statement::from_sql_and_values(
        backend,
        nps,
        [segment_id.into()],
    ))
    .one(db)
    .await
    .or_internal()?
    .and_then(|row| row.nps);

    let lifecycle_join = "LEFT JOIN customer_lifecycle l ON l.customer_id = c.id";
    let interests_join = "JOIN customer_interests i ON i.customer_id = c.id";
    Ok(SegmentProfile {
        size: size as u64,
        share_of_base: ratio(size, base.n),
        revenue_share: if base.revenue.0 == 0 {
            0.0
        } else {
            members.revenue.to_f64() / base.revenue.to_f64()
        },
        average_predicted_clv,
        median_predicted_clv,
        lifecycle_stages: mix(
            db,
            segment_id,
            size,
            lifecycle_join,
            "l.stage",
            10,
            Vec::new(),
        )
        .await?,
        rfm_groups: mix(
            db,
            segment_id,
            size,
            &scores_join,
            "v.rfm_group",
            11,
            Vec::new(),
        )
        .await?,
        top_cities: mix(db, segment_id, size, "", "c.city", 5, Vec::new()).await?,
        age_bands: mix(db, segment_id, size, "", &case, 10, age_values).await?,
        genders: mix(db, segment_id, size, "", "c.gender", 10, Vec::new()).await?,
        top_interests: mix(
            db,
            segment_id,
            size,
            interests_join,
            "i.tag",
            10,
            Vec::new(),
        )
        .await?,
        average_nps,
    })
}

struct Suggestion {
    name: &'static str,
    description: &'static str,
    goal: &'static str,
    strategy: &'static str,
    rule: Rule,
}

fn when(field: rule::Field, op: rule::Op, value: serde_json::Value) -> Rule {
    Rule::Condition(rule::Condition {
        field,
        op,
        value: Some(value),
        values: None,
    })
}

/// The built-in segments `installSuggestedSegments` offers.
fn suggestions() -> Vec<Suggestion> {
    use rule::{Field::*, Op::*};
    use serde_json::json;
    vec![
        Suggestion {
            name: "High value at risk",
            description: "Value tier HIGH with a churn risk of 50 % or more.",
            goal: "Keep the most valuable customers from leaving.",
            strategy: "Personal outreach within a week, a service check, a tailored offer.",
            rule: Rule::All(vec![
                when(ValueTier, Eq, json!("HIGH")),
                when(ChurnRisk, Gte, json!(0.5)),
            ]),
        },
        Suggestion {
            name: "New this month",
            description: "First order in the last 30 days.",
            goal: "Turn a first order into a second one.",
            strategy: "Welcome series, onboarding tips, a timely second-order offer.",
            rule: when(DaysSinceFirstOrder, Lte, json!(30)),
        },
        Suggestion {
            name: "Promoters",
            description: "Latest NPS answer 9 or 10.",
            goal: "Turn enthusiasm into referrals and reviews.",
            strategy: "Referral invitations, review requests, early access.",
            rule: when(NpsCategory, Eq, json!("PROMOTER")),
        },
        Suggestion {
            name: "Detractors",
            description: "Latest NPS answer 0 to 6.",
            goal: "Fix what went wrong before they leave or tell others.",
            strategy: "Call back within 48 hours, resolve the issue, follow up with a survey.",
            rule: when(NpsCategory, Eq, json!("DETRACTOR")),
        },
        Suggestion {
            name: "Silent big spenders",
            description: "Lifecycle stage SILENT with an RFM monetary score of 4 or 5.",
            goal: "Win back high spenders who went quiet.",
            strategy: "Win-back offer with an expiry, highest predicted value first.",
            rule: Rule::All(vec![
                when(LifecycleStage, Eq, json!("SILENT")),
                when(MScore, Gte, json!(4)),
            ]),
        },
        Suggestion {
            name: "Birthdays this month",
            description: "Born in the current month, with marketing consent.",
            goal: "Celebrate customers on their day.",
            strategy: "Birthday greeting with a small gift, sent on the day in their time zone.",
            rule: Rule::All(vec![
                when(BirthdayThisMonth, Eq, json!(true)),
                when(MarketingConsent, Eq, json!(true)),
            ]),
        },
        Suggestion {
            name: "Loyal champions",
            description: "Lifecycle stage LOYAL in the RFM group Champions.",
            goal: "Recognise and keep the best customers.",
            strategy: "Loyalty rewards, exclusive previews, invitations to give feedback.",
            rule: Rule::All(vec![
                when(LifecycleStage, Eq, json!("LOYAL")),
                when(RfmGroup, Eq, json!("Champions")),
            ]),
        },
    ]
}
