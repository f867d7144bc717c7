//! The segment rule language: a tree of all / any / not over typed conditions, checked
//! field by field before anything runs, then compiled to a sea-query condition over
//! `customers` — bound values only, so a rule can never inject SQL, and the same
//! statement on SQLite and PostgreSQL.
//!
//! Semantics (the same on both databases): a comparison never matches a missing value;
//! `not` is the complement within all non-erased customers, so it does include customers
//! with missing values (every compiled condition is two-valued: no SQL NULL escapes);
//! erased customers are never members.

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use sea_orm::sea_query::{
    Alias, Cond, Condition as SqlCondition, Expr, ExprTrait, Func, IntoCondition, Query,
    SelectStatement, SimpleExpr,
};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::{Problem, day_start};

/// Rules nest at most this deep …
pub const MAX_DEPTH: usize = 6;
/// … and hold at most this many conditions.
pub const MAX_CONDITIONS: usize = 100;

/// A rule as stored (JSON) and as the API takes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Rule {
    All(Vec<Rule>),
    Any(Vec<Rule>),
    Not(Box<Rule>),
    Condition(Condition),
}

/// One test of one customer attribute.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    pub field: Field,
    pub op: Op,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<Json>>,
}

macro_rules! names {
    ($(#[$meta:meta])* pub enum $name:ident { $($variant:ident = $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant,)*
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }
        }
    };
}

names! {
    /// What a condition looks at.
    pub enum Field {
        Country = "COUNTRY",
        Region = "REGION",
        City = "CITY",
        Gender = "GENDER",
        Age = "AGE",
        BirthdayThisMonth = "BIRTHDAY_THIS_MONTH",
        IncomeBand = "INCOME_BAND",
        Occupation = "OCCUPATION",
        Interests = "INTERESTS",
        Lifestyle = "LIFESTYLE",
        Needs = "NEEDS",
        AcquisitionChannel = "ACQUISITION_CHANNEL",
        MarketingConsent = "MARKETING_CONSENT",
        Email = "EMAIL",
        Phone = "PHONE",
        OrderCount = "ORDER_COUNT",
        TotalSpent = "TOTAL_SPENT",
        AverageOrderValue = "AVERAGE_ORDER_VALUE",
        DaysSinceLastOrder = "DAYS_SINCE_LAST_ORDER",
        DaysSinceFirstOrder = "DAYS_SINCE_FIRST_ORDER",
        OrderedInChannel = "ORDERED_IN_CHANNEL",
        InteractionsLast90Days = "INTERACTIONS_LAST_90_DAYS",
        RScore = "R_SCORE",
        FScore = "F_SCORE",
        MScore = "M_SCORE",
        RfmGroup = "RFM_GROUP",
        ValueTier = "VALUE_TIER",
        PredictedClv = "PREDICTED_CLV",
        PAlive = "P_ALIVE",
        ChurnRisk = "CHURN_RISK",
        CompositeValue = "COMPOSITE_VALUE",
        LifecycleStage = "LIFECYCLE_STAGE",
        DaysInStage = "DAYS_IN_STAGE",
        LatestNps = "LATEST_NPS",
        NpsCategory = "NPS_CATEGORY",
        LatestCsat = "LATEST_CSAT",
        FeedbackTopic = "FEEDBACK_TOPIC",
        FeedbackTerm = "FEEDBACK_TERM",
        Referrals = "REFERRALS",
        ReferredRevenue = "REFERRED_REVENUE",
        LoyaltyTier = "LOYALTY_TIER",
        PointsBalance = "POINTS_BALANCE",
        InSegment = "IN_SEGMENT",
    }
}

names! {
    /// How a condition compares.
    pub enum Op {
        Eq = "EQ",
        Ne = "NE",
        In = "IN",
        NotIn = "NOT_IN",
        Lt = "LT",
        Lte = "LTE",
        Gt = "GT",
        Gte = "GTE",
        Between = "BETWEEN",
        ContainsAny = "CONTAINS_ANY",
        ContainsAll = "CONTAINS_ALL",
        IsNull = "IS_NULL",
        IsNotNull = "IS_NOT_NULL",
        StartsWith = "STARTS_WITH",
    }
}

/// The type of a field's values, which decides its operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Text,
    /// Text from a closed list.
    Choice(&'static [&'static str]),
    /// Whole numbers.
    Integer,
    /// Money as a decimal string ("120.50") or a number.
    Money,
    /// Real numbers (probabilities, 0–100 scores).
    Number,
    Bool,
    /// A set of tags (interests, order channels).
    Tags,
    /// Another segment's id.
    Segment,
}

pub const GENDERS: &[&str] = &["FEMALE", "MALE", "OTHER", "UNKNOWN"];
// The stored names of the typed columns a rule can test (a test checks each list is
// the whole enum, in its order).
pub const RFM_GROUPS: &[&str] = {
    use entity::RfmGroup::*;
    &[
        Champions.as_str(),
        Loyal.as_str(),
        PotentialLoyalist.as_str(),
        NewCustomers.as_str(),
        Promising.as_str(),
        NeedAttention.as_str(),
        AboutToSleep.as_str(),
        AtRisk.as_str(),
        CantLoseThem.as_str(),
        Hibernating.as_str(),
        Lost.as_str(),
    ]
};
pub const VALUE_TIERS: &[&str] = {
    use entity::ValueTier::*;
    &[High.as_str(), Medium.as_str(), Low.as_str()]
};
pub const STAGES: &[&str] = {
    use entity::LifecycleStage::*;
    &[
        Prospect.as_str(),
        New.as_str(),
        Active.as_str(),
        Loyal.as_str(),
        Silent.as_str(),
        Churned.as_str(),
    ]
};
pub const NPS_CATEGORIES: &[&str] = &["PROMOTER", "PASSIVE", "DETRACTOR"];

impl Field {
    pub fn kind(self) -> Kind {
        use Field::*;
        match self {
            Country | Region | City | IncomeBand | Occupation | Lifestyle | Needs
            | AcquisitionChannel | Email | Phone | LoyaltyTier => Kind::Text,
            Gender => Kind::Choice(GENDERS),
            RfmGroup => Kind::Choice(RFM_GROUPS),
            ValueTier => Kind::Choice(VALUE_TIERS),
            LifecycleStage => Kind::Choice(STAGES),
            NpsCategory => Kind::Choice(NPS_CATEGORIES),
            Age
            | OrderCount
            | DaysSinceLastOrder
            | DaysSinceFirstOrder
            | InteractionsLast90Days
            | RScore
            | FScore
            | MScore
            | DaysInStage
            | LatestNps
            | LatestCsat
            | Referrals
            | PointsBalance => Kind::Integer,
            TotalSpent | AverageOrderValue | PredictedClv | ReferredRevenue => Kind::Money,
            PAlive | ChurnRisk | CompositeValue => Kind::Number,
            MarketingConsent | BirthdayThisMonth => Kind::Bool,
            Interests | OrderedInChannel | FeedbackTopic | FeedbackTerm => Kind::Tags,
            InSegment => Kind::Segment,
        }
    }

    /// Personal data: rules on these need `pii:read`. Terms extracted from comments are
    /// the customer's own words, so selecting people by them reads the comments.
    pub fn is_personal(self) -> bool {
        matches!(
            self,
            Field::Email
                | Field::Phone
                | Field::Age
                | Field::BirthdayThisMonth
                | Field::FeedbackTerm
        )
    }

    /// Fields whose values are feedback topics, normalised like a tag when checked.
    fn holds_topics(self) -> bool {
        matches!(self, Field::FeedbackTopic | Field::FeedbackTerm)
    }
}

impl Kind {
    pub fn operators(self) -> &'static [Op] {
        use Op::*;
        match self {
            Kind::Text => &[Eq, Ne, In, NotIn, StartsWith, IsNull, IsNotNull],
            Kind::Choice(_) => &[Eq, Ne, In, NotIn, IsNull, IsNotNull],
            Kind::Integer | Kind::Money | Kind::Number => &[
                Eq, Ne, In, NotIn, Lt, Lte, Gt, Gte, Between, IsNull, IsNotNull,
            ],
            Kind::Bool => &[Eq, Ne],
            Kind::Tags => &[ContainsAny, ContainsAll, IsNull, IsNotNull],
            Kind::Segment => &[Eq, Ne, In, NotIn],
        }
    }
}

/// A checked operand, typed by the field.
#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    None,
    Text(String),
    Texts(Vec<String>),
    Int(i64),
    Ints(Vec<i64>),
    IntRange(i64, i64),
    /// Money in ten-thousandths.
    Units(i64),
    UnitsList(Vec<i64>),
    UnitsRange(i64, i64),
    Float(f64),
    Floats(Vec<f64>),
    FloatRange(f64, f64),
    Bool(bool),
    Ids(Vec<i64>),
}

/// A condition whose field, operator and operand agree.
#[derive(Clone, Debug, PartialEq)]
pub struct Checked {
    pub field: Field,
    pub op: Op,
    pub operand: Operand,
}

/// A rule with every condition checked, in the same shape.
#[derive(Clone, Debug, PartialEq)]
pub enum CheckedRule {
    All(Vec<CheckedRule>),
    Any(Vec<CheckedRule>),
    Not(Box<CheckedRule>),
    Condition(Checked),
}

/// Something wrong with a rule is a [`Problem`] at a path such as
/// `rule.all[2].condition.value`: the checker stops at the first, so one is all it reports.
fn problem_at(path: String, message: String) -> Problem {
    Problem {
        index: None,
        field: path,
        message,
    }
}

impl Rule {
    /// Whether a condition looks at personal data ([`Field::is_personal`]): such rules
    /// are for callers allowed to read it. Answered before the rule is checked, so an
    /// unauthorized caller learns nothing from the checker's messages.
    pub fn reads_personal_data(&self) -> bool {
        match self {
            Rule::All(rules) | Rule::Any(rules) => rules.iter().any(Rule::reads_personal_data),
            Rule::Not(rule) => rule.reads_personal_data(),
            Rule::Condition(condition) => condition.field.is_personal(),
        }
    }

    /// Checks the whole rule; `path` names its root (e.g. `rule`).
    pub fn check(&self, path: &str) -> Result<CheckedRule, Problem> {
        let mut conditions = 0;
        self.check_at(path, 1, &mut conditions)
    }

    fn check_at(
        &self,
        path: &str,
        depth: usize,
        conditions: &mut usize,
    ) -> Result<CheckedRule, Problem> {
        let error = |message: String| problem_at(path.to_owned(), message);
        if depth > MAX_DEPTH {
            return Err(error(format!("rules nest at most {MAX_DEPTH} levels deep")));
        }
        let list = |rules: &[Rule], name: &str, conditions: &mut usize| {
            if rules.is_empty() {
                return Err(error(format!("`{name}` needs at least one rule")));
            }
            rules
                .iter()
                .enumerate()
                .map(|(i, rule)| {
                    rule.check_at(&format!("{path}.{name}[{i}]"), depth + 1, conditions)
                })
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(match self {
            Rule::All(rules) => CheckedRule::All(list(rules, "all", conditions)?),
            Rule::Any(rules) => CheckedRule::Any(list(rules, "any", conditions)?),
            Rule::Not(rule) => CheckedRule::Not(Box::new(rule.check_at(
                &format!("{path}.not"),
                depth + 1,
                conditions,
            )?)),
            Rule::Condition(condition) => {
                *conditions += 1;
                if *conditions > MAX_CONDITIONS {
                    return Err(error(format!(
                        "a rule holds at most {MAX_CONDITIONS} conditions"
                    )));
                }
                CheckedRule::Condition(condition.check(&format!("{path}.condition"))?)
            }
        })
    }
}

impl CheckedRule {
    /// Every condition, depth first.
    pub fn conditions(&self) -> Vec<&Checked> {
        match self {
            CheckedRule::All(rules) | CheckedRule::Any(rules) => {
                rules.iter().flat_map(|r| r.conditions()).collect()
            }
            CheckedRule::Not(rule) => rule.conditions(),
            CheckedRule::Condition(c) => vec![c],
        }
    }

    /// The segments this rule refers to.
    pub fn segment_refs(&self) -> Vec<i64> {
        self.conditions()
            .into_iter()
            .filter_map(|c| match &c.operand {
                Operand::Ids(ids) => Some(ids.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    }
}

impl Condition {
    fn check(&self, path: &str) -> Result<Checked, Problem> {
        let error = |at: &str, message: String| problem_at(format!("{path}{at}"), message);
        let kind = self.field.kind();
        if !kind.operators().contains(&self.op) {
            let allowed: Vec<&str> = kind.operators().iter().map(|o| o.as_str()).collect();
            return Err(error(
                ".op",
                format!(
                    "{} does not apply to {} (use {})",
                    self.op.as_str(),
                    self.field.as_str(),
                    allowed.join(", ")
                ),
            ));
        }
        use Op::*;
        let takes_list = matches!(self.op, In | NotIn | Between | ContainsAny | ContainsAll);
        let takes_nothing = matches!(self.op, IsNull | IsNotNull);
        match (takes_nothing, takes_list, &self.value, &self.values) {
            (true, _, None, None) => {}
            (true, _, _, _) => {
                return Err(error("", format!("{} takes no value", self.op.as_str())));
            }
            (false, true, None, Some(values)) => {
                if values.is_empty() {
                    return Err(error(".values", "needs at least one value".into()));
                }
                if self.op == Between && values.len() != 2 {
                    return Err(error(
                        ".values",
                        "BETWEEN takes exactly two values: [low, high]".into(),
                    ));
                }
            }
            (false, true, _, _) => {
                return Err(error(
                    ".values",
                    format!("{} takes `values` (a list), not `value`", self.op.as_str()),
                ));
            }
            (false, false, Some(_), None) => {}
            (false, false, _, _) => {
                return Err(error(
                    ".value",
                    format!(
                        "{} takes `value` (one value), not `values`",
                        self.op.as_str()
                    ),
                ));
            }
        }
        let one = || self.value.as_ref().map_or(&Json::Null, |v| v);
        let many = || self.values.as_deref().unwrap_or_default();
        let operand = match (kind, self.op) {
            (_, IsNull | IsNotNull) => Operand::None,
            (Kind::Text, StartsWith | Eq | Ne) => {
                Operand::Text(text(one()).map_err(|m| error(".value", m))?)
            }
            (Kind::Text, _) => Operand::Texts(
                list(many(), text).map_err(|(i, m)| error(&format!(".values[{i}]"), m))?,
            ),
            (Kind::Choice(choices), Eq | Ne) => {
                Operand::Text(choice(one(), choices).map_err(|m| error(".value", m))?)
            }
            (Kind::Choice(choices), _) => Operand::Texts(
                list(many(), |v| choice(v, choices))
                    .map_err(|(i, m)| error(&format!(".values[{i}]"), m))?,
            ),
            (Kind::Integer, Between) => {
                let v =
                    list(many(), integer).map_err(|(i, m)| error(&format!(".values[{i}]"), m))?;
                ordered(v[0], v[1]).map_err(|m| error(".values", m))?;
                Operand::IntRange(v[0], v[1])
            }
            (Kind::Integer, In | NotIn) => Operand::Ints(
                list(many(), integer).map_err(|(i, m)| error(&format!(".values[{i}]"), m))?,
            ),
            (Kind::Integer, _) => Operand::Int(integer(one()).map_err(|m| error(".value", m))?),
            (Kind::Money, Between) => {
                let v = list(many(), money).map_err(|(i, m)| error(&format!(".values[{i}]"), m))?;
                ordered(v[0], v[1]).map_err(|m| error(".values", m))?;
                Operand::UnitsRange(v[0], v[1])
            }
            (Kind::Money, In | NotIn) => Operand::UnitsList(
                list(many(), money).map_err(|(i, m)| error(&format!(".values[{i}]"), m))?,
            ),
            (Kind::Money, _) => Operand::Units(money(one()).map_err(|m| error(".value", m))?),
            (Kind::Number, Between) => {
                let v =
                    list(many(), number).map_err(|(i, m)| error(&format!(".values[{i}]"), m))?;
                ordered(v[0], v[1]).map_err(|m| error(".values", m))?;
                Operand::FloatRange(v[0], v[1])
            }
            (Kind::Number, In | NotIn) => Operand::Floats(
                list(many(), number).map_err(|(i, m)| error(&format!(".values[{i}]"), m))?,
            ),
            (Kind::Number, _) => Operand::Float(number(one()).map_err(|m| error(".value", m))?),
            (Kind::Bool, _) => Operand::Bool(one().as_bool().ok_or_else(|| {
                error(".value", format!("expected true or false, got {}", one()))
            })?),
            (Kind::Tags, _) if self.field.holds_topics() => Operand::Texts(
                list(many(), topic).map_err(|(i, m)| error(&format!(".values[{i}]"), m))?,
            ),
            (Kind::Tags, _) => Operand::Texts(
                list(many(), text).map_err(|(i, m)| error(&format!(".values[{i}]"), m))?,
            ),
            (Kind::Segment, Eq | Ne) => {
                Operand::Ids(vec![id(one()).map_err(|m| error(".value", m))?])
            }
            (Kind::Segment, _) => {
                Operand::Ids(list(many(), id).map_err(|(i, m)| error(&format!(".values[{i}]"), m))?)
            }
        };
        Ok(Checked {
            field: self.field,
            op: self.op,
            operand,
        })
    }
}

fn list<T>(
    values: &[Json],
    parse: impl Fn(&Json) -> Result<T, String>,
) -> Result<Vec<T>, (usize, String)> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| parse(v).map_err(|m| (i, m)))
        .collect()
}

fn ordered<T: PartialOrd + std::fmt::Debug>(low: T, high: T) -> Result<(), String> {
    if low > high {
        return Err(format!("low ({low:?}) is above high ({high:?})"));
    }
    Ok(())
}

fn text(value: &Json) -> Result<String, String> {
    match value.as_str() {
        Some(text) if !text.trim().is_empty() && text.len() <= 200 => Ok(text.trim().to_owned()),
        Some(_) => Err("expected a non-empty text of at most 200 characters".into()),
        None => Err(format!("expected a text, got {value}")),
    }
}

/// A topic, normalised as tags are when recorded (`" Delivery "` is `delivery`).
fn topic(value: &Json) -> Result<String, String> {
    match value.as_str() {
        Some(text) => crate::domain::TopicTag::parse(text).map(crate::domain::TopicTag::into_inner),
        None => Err(format!("expected a topic, got {value}")),
    }
}

fn choice(value: &Json, choices: &[&str]) -> Result<String, String> {
    match value.as_str() {
        Some(text) if choices.contains(&text) => Ok(text.to_owned()),
        _ => Err(format!(
            "expected one of {}, got {value}",
            choices.join(", ")
        )),
    }
}

fn integer(value: &Json) -> Result<i64, String> {
    value
        .as_i64()
        .filter(|n| n.unsigned_abs() <= 1_000_000_000)
        .ok_or_else(|| format!("expected a whole number, got {value}"))
}

fn number(value: &Json) -> Result<f64, String> {
    value
        .as_f64()
        .filter(|n| n.is_finite())
        .ok_or_else(|| format!("expected a number, got {value}"))
}

fn id(value: &Json) -> Result<i64, String> {
    let parsed = match value {
        Json::String(text) => text.trim().parse::<i64>().ok(),
        Json::Number(n) => n.as_i64(),
        _ => None,
    };
    parsed
        .filter(|id| *id > 0)
        .ok_or_else(|| format!("expected a segment id, got {value}"))
}

/// Money as ten-thousandths from a decimal string or a number.
fn money(value: &Json) -> Result<i64, String> {
    let text = match value {
        Json::String(text) => text.trim().to_owned(),
        Json::Number(n) => n.to_string(),
        _ => {
            return Err(format!(
                "expected an amount such as \"120.50\", got {value}"
            ));
        }
    };
    let decimal: rust_decimal::Decimal = text
        .parse()
        .map_err(|_| format!("expected an amount such as \"120.50\", got {value}"))?;
    entity::Money::from_decimal(decimal)
        .map(|m| m.0)
        .map_err(|_| format!("{text} is not an amount of money"))
}

/// When a rule is evaluated: "today" for ages and day counts.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    pub now: DateTime<Utc>,
}

impl Clock {
    pub fn today(self) -> NaiveDate {
        self.now.date_naive()
    }
}

fn days_before(day: NaiveDate, days: i64) -> NaiveDate {
    day.checked_sub_signed(chrono::Duration::days(days))
        .unwrap_or(NaiveDate::MIN)
}

fn years_before(day: NaiveDate, years: i64) -> NaiveDate {
    u32::try_from(years.clamp(0, 1000) * 12)
        .ok()
        .and_then(|months| day.checked_sub_months(Months::new(months)))
        .unwrap_or(NaiveDate::MIN)
}

/// An integer interval, inclusive; None = unbounded.
type Interval = (Option<i64>, Option<i64>);

/// The integer intervals a numeric operator accepts (`NE`/`NOT_IN` are the complement
/// of `EQ`/`IN` among present values: the caller negates).
fn intervals(op: Op, operand: &Operand) -> Vec<Interval> {
    match (op, operand) {
        (Op::Eq | Op::Ne, Operand::Int(n)) => vec![(Some(*n), Some(*n))],
        (Op::In | Op::NotIn, Operand::Ints(ns)) => {
            ns.iter().map(|n| (Some(*n), Some(*n))).collect()
        }
        (Op::Lt, Operand::Int(n)) => vec![(None, Some(n - 1))],
        (Op::Lte, Operand::Int(n)) => vec![(None, Some(*n))],
        (Op::Gt, Operand::Int(n)) => vec![(Some(n + 1), None)],
        (Op::Gte, Operand::Int(n)) => vec![(Some(*n), None)],
        (Op::Between, Operand::IntRange(a, b)) => vec![(Some(*a), Some(*b))],
        _ => Vec::new(),
    }
}

fn negated(op: Op) -> bool {
    matches!(op, Op::Ne | Op::NotIn)
}

/// Compiles a checked rule to a condition on `customers` (table name `customers`),
/// erased customers excluded.
pub fn compile(rule: &CheckedRule, clock: Clock) -> SqlCondition {
    Cond::all()
        .add(Expr::col((Alias::new("customers"), Alias::new("erased_at"))).is_null())
        .add(compile_rule(rule, clock))
}

fn compile_rule(rule: &CheckedRule, clock: Clock) -> SqlCondition {
    match rule {
        CheckedRule::All(rules) => rules
            .iter()
            .fold(Cond::all(), |c, r| c.add(compile_rule(r, clock))),
        CheckedRule::Any(rules) => rules
            .iter()
            .fold(Cond::any(), |c, r| c.add(compile_rule(r, clock))),
        CheckedRule::Not(rule) => compile_rule(rule, clock).not(),
        CheckedRule::Condition(c) => compile_condition(c, clock),
    }
}

fn customers(column: &str) -> Expr {
    Expr::col((Alias::new("customers"), Alias::new(column)))
}

/// `EXISTS (SELECT … FROM table WHERE table.customer_id = customers.id AND …) IS TRUE`:
/// two-valued whatever the table holds. EXISTS rather than `id IN (subquery)`, because
/// PostgreSQL turns `NOT (id IN (a million ids))` into a per-row scan once the ids no
/// longer fit `work_mem` — minutes instead of a second.
///
/// `IS TRUE` (a no-op: EXISTS is never NULL) keeps the rule's cost linear in its number
/// of conditions. PostgreSQL rewrites a bare EXISTS under AND into a semi-join, and a rule
/// of n such conditions into an n-way join: planning time grew fivefold and more with
/// every eight conditions (20,000 customers, 16: 0.09 s, 24: 0.5 s, 48: over 10 s and
/// gigabytes of planner memory), and
/// the multiplied selectivities misled it into nested loops. Wrapped, each condition stays
/// a filter on the one scan of `customers`, run as a hashed subplan (the inner table read
/// once) or a per-customer index probe, whichever is cheaper: planning stays in
/// milliseconds and work grows by one subplan per condition. SQLite never turns EXISTS
/// into joins, and reads `IS TRUE` the same way.
fn id_in(table: &str, mut select: SelectStatement) -> SqlCondition {
    select.and_where(
        Expr::col((Alias::new(table), Alias::new("customer_id")))
            .equals((Alias::new("customers"), Alias::new("id"))),
    );
    Expr::exists(select)
        .is(Expr::custom_keyword("TRUE"))
        .into_condition()
}

/// The generic comparison of a column expression against a checked operand.
fn compare(value: Expr, op: Op, operand: &Operand) -> SqlCondition {
    let positive: SimpleExpr = match (op, operand) {
        (Op::Eq | Op::Ne, Operand::Text(t)) => value.clone().eq(t.clone()),
        // A prefix by characters, case-sensitive on both databases (LIKE is not: SQLite
        // folds ASCII case), and no wildcard in the user's text can mean anything.
        (Op::StartsWith, Operand::Text(t)) => Func::cust(Alias::new("substr"))
            .args([
                value.clone(),
                Expr::val(1_i32),
                // INTEGER on PostgreSQL: substr has no BIGINT overload.
                Expr::val(i32::try_from(t.chars().count()).unwrap_or(i32::MAX)),
            ])
            .eq(t.clone()),
        (Op::In | Op::NotIn, Operand::Texts(ts)) => value.clone().is_in(ts.clone()),
        (Op::Eq | Op::Ne, Operand::Bool(b)) => value.clone().eq(*b),
        (_, Operand::Int(_) | Operand::Ints(_) | Operand::IntRange(..)) => {
            let any = intervals(op, operand)
                .into_iter()
                .fold(Cond::any(), |c, (lo, hi)| {
                    let mut both = Cond::all();
                    if let Some(lo) = lo {
                        both = both.add(value.clone().gte(lo));
                    }
                    if let Some(hi) = hi {
                        both = both.add(value.clone().lte(hi));
                    }
                    c.add(both)
                });
            return finish(value, op, any);
        }
        (Op::Eq | Op::Ne, Operand::Units(u)) => value.clone().eq(*u),
        (Op::Lt, Operand::Units(u)) => value.clone().lt(*u),
        (Op::Lte, Operand::Units(u)) => value.clone().lte(*u),
        (Op::Gt, Operand::Units(u)) => value.clone().gt(*u),
        (Op::Gte, Operand::Units(u)) => value.clone().gte(*u),
        (Op::Between, Operand::UnitsRange(a, b)) => value.clone().between(*a, *b),
        (Op::In | Op::NotIn, Operand::UnitsList(us)) => value.clone().is_in(us.clone()),
        (Op::Eq | Op::Ne, Operand::Float(f)) => value.clone().eq(*f),
        (Op::Lt, Operand::Float(f)) => value.clone().lt(*f),
        (Op::Lte, Operand::Float(f)) => value.clone().lte(*f),
        (Op::Gt, Operand::Float(f)) => value.clone().gt(*f),
        (Op::Gte, Operand::Float(f)) => value.clone().gte(*f),
        (Op::Between, Operand::FloatRange(a, b)) => value.clone().between(*a, *b),
        (Op::In | Op::NotIn, Operand::Floats(fs)) => value.clone().is_in(fs.clone()),
        (Op::IsNull, _) => return value.is_null().into_condition(),
        (Op::IsNotNull, _) => return value.is_not_null().into_condition(),
        // Checked conditions never get here; match nothing rather than everything.
        _ => return Expr::val(1).eq(0).into_condition(),
    };
    finish(value, op, positive.into_condition())
}

fn finish(value: Expr, op: Op, positive: SqlCondition) -> SqlCondition {
    if negated(op) {
        Cond::all().add(value.is_not_null()).add(positive.not())
    } else {
        Cond::all().add(value.is_not_null()).add(positive)
    }
}

/// A condition on a column of a per-customer table (`table.customer_id`), as
/// `EXISTS (SELECT … FROM table WHERE customer_id = customers.id AND scope AND column …)`. IS_NULL
/// is "no such row with a value".
fn in_table(
    table: &str,
    scope: SqlCondition,
    column: &str,
    op: Op,
    operand: &Operand,
) -> SqlCondition {
    let value = Expr::col((Alias::new(table), Alias::new(column)));
    let select = |test: SqlCondition| {
        Query::select()
            .column((Alias::new(table), Alias::new("customer_id")))
            .from(Alias::new(table))
            .cond_where(scope.clone().add(test))
            .to_owned()
    };
    match op {
        Op::IsNull => id_in(table, select(value.is_not_null().into_condition())).not(),
        Op::IsNotNull => id_in(table, select(value.is_not_null().into_condition())),
        _ => id_in(table, select(compare(value, op, operand))),
    }
}

/// The latest feedback of a kind per customer.
fn latest_feedback(kind: &str) -> SqlCondition {
    let inner = Query::select()
        .column(Alias::new("id"))
        .from_as(Alias::new("feedback"), Alias::new("f2"))
        .and_where(
            Expr::col((Alias::new("f2"), Alias::new("customer_id")))
                .equals((Alias::new("feedback"), Alias::new("customer_id"))),
        )
        .and_where(Expr::col((Alias::new("f2"), Alias::new("kind"))).eq(kind))
        .order_by(
            (Alias::new("f2"), Alias::new("occurred_at")),
            sea_orm::sea_query::Order::Desc,
        )
        .order_by(
            (Alias::new("f2"), Alias::new("id")),
            sea_orm::sea_query::Order::Desc,
        )
        .limit(1)
        .to_owned();
    Cond::all()
        .add(Expr::col((Alias::new("feedback"), Alias::new("kind"))).eq(kind))
        .add(
            Expr::col((Alias::new("feedback"), Alias::new("id")))
                .eq(Expr::SubQuery(None, Box::new(inner.into()))),
        )
}

/// Day counts ("days since …") as ranges of a timestamp column: whole days from the
/// column's UTC date to today lie in [lo, hi] exactly when the timestamp lies in
/// [start of today − hi, start of today − lo + 1). Index-friendly, portable.
fn days_since(column: Expr, op: Op, operand: &Operand, clock: Clock) -> SqlCondition {
    let today = clock.today();
    if matches!(op, Op::IsNull | Op::IsNotNull) {
        return compare(column, op, operand);
    }
    let any = intervals(op, operand)
        .into_iter()
        .fold(Cond::any(), |c, (lo, hi)| {
            let mut both = Cond::all();
            if let Some(hi) = hi {
                both = both.add(column.clone().gte(day_start(days_before(today, hi))));
            }
            if let Some(lo) = lo {
                both = both.add(column.clone().lt(day_start(days_before(today, lo - 1))));
            }
            c.add(both)
        });
    finish(column, op, any)
}

/// Ages as ranges of the birth date: whole years at today in [lo, hi] exactly when the
/// birth date lies in (today − (hi + 1) years, today − lo years].
fn age(op: Op, operand: &Operand, clock: Clock) -> SqlCondition {
    let column = customers("birth_date");
    if matches!(op, Op::IsNull | Op::IsNotNull) {
        return compare(column, op, operand);
    }
    let today = clock.today();
    let any = intervals(op, operand)
        .into_iter()
        .fold(Cond::any(), |c, (lo, hi)| {
            let mut both = Cond::all();
            if let Some(lo) = lo {
                both = both.add(column.clone().lte(years_before(today, lo)));
            }
            if let Some(hi) = hi {
                both = both.add(column.clone().gt(years_before(today, hi + 1)));
            }
            c.add(both)
        });
    finish(column, op, any)
}

fn compile_condition(c: &Checked, clock: Clock) -> SqlCondition {
    use Field::*;
    let (op, operand) = (c.op, &c.operand);
    let column = |name: &str| compare(customers(name), op, operand);
    match c.field {
        Country | Region | City | Gender | IncomeBand | Occupation | Lifestyle | Needs
        | AcquisitionChannel | Email | Phone | MarketingConsent | OrderCount | TotalSpent => {
            column(column_name(c.field))
        }
        Age => age(op, operand, clock),
        BirthdayThisMonth => birthday_this_month(op, operand, clock),
        AverageOrderValue => average_order_value(op, operand),
        DaysSinceLastOrder => days_since(customers("last_order_at"), op, operand, clock),
        DaysSinceFirstOrder => days_since(customers("first_order_at"), op, operand, clock),
        Interests => tags("customer_interests", "tag", Cond::all(), op, operand),
        OrderedInChannel => tags("orders", "channel", Cond::all(), op, operand),
        FeedbackTopic => topics(entity::TopicSource::Tag, op, operand),
        FeedbackTerm => topics(entity::TopicSource::Extracted, op, operand),
        InteractionsLast90Days => interactions_last_90_days(op, operand, clock),
        RScore | FScore | MScore | RfmGroup | ValueTier | PredictedClv | PAlive | ChurnRisk
        | CompositeValue => in_table(
            "customer_values",
            entity::customer_value::latest_run().into_condition(),
            column_name(c.field),
            op,
            operand,
        ),
        LifecycleStage => in_table("customer_lifecycle", Cond::all(), "stage", op, operand),
        DaysInStage => {
            let since = Expr::col((Alias::new("customer_lifecycle"), Alias::new("since")));
            let test = days_since(since, op, operand, clock);
            let select = Query::select()
                .column(Alias::new("customer_id"))
                .from(Alias::new("customer_lifecycle"))
                .cond_where(test)
                .to_owned();
            match op {
                Op::IsNull => id_in(
                    "customer_lifecycle",
                    Query::select()
                        .column(Alias::new("customer_id"))
                        .from(Alias::new("customer_lifecycle"))
                        .to_owned(),
                )
                .not(),
                _ => id_in("customer_lifecycle", select),
            }
        }
        LatestNps => in_table("feedback", latest_feedback("NPS"), "score", op, operand),
        LatestCsat => in_table("feedback", latest_feedback("CSAT"), "score", op, operand),
        NpsCategory => nps_category(op, operand),
        Referrals | ReferredRevenue => referral_figure(c),
        // Members only: a customer without points has no tier and no balance.
        LoyaltyTier => in_table("loyalty_accounts", Cond::all(), "tier", op, operand),
        PointsBalance => in_table("loyalty_accounts", Cond::all(), "balance", op, operand),
        InSegment => {
            let Operand::Ids(ids) = operand else {
                return Expr::val(1).eq(0).into_condition();
            };
            let members = id_in(
                "segment_members",
                Query::select()
                    .column(Alias::new("customer_id"))
                    .from(Alias::new("segment_members"))
                    .and_where(Expr::col(Alias::new("segment_id")).is_in(ids.clone()))
                    .to_owned(),
            );
            if negated(op) { members.not() } else { members }
        }
    }
}

/// A figure of the customers someone referred (how many, what they spent), compared per
/// referrer: `customers.id IN (referrers whose figure matches)`, or, when a customer who
/// referred nobody (a figure of zero) matches too, `NOT IN (referrers whose figure does
/// not)`. The subquery is not correlated: on Citus it runs once and its ids go to every
/// shard (customers are distributed by id, referrals grouped by `referred_by`).
fn referral_figure(c: &Checked) -> SqlCondition {
    let figure = match c.field {
        Field::Referrals => Expr::cust("COUNT(*)"),
        _ => Expr::cust("SUM(r.total_spent)"),
    };
    let test = compare(figure, c.op, &c.operand);
    let referrers = |having: SqlCondition| {
        Query::select()
            .column((Alias::new("r"), Alias::new("referred_by")))
            .from_as(Alias::new("customers"), Alias::new("r"))
            .and_where(Expr::col((Alias::new("r"), Alias::new("referred_by"))).is_not_null())
            .group_by_col((Alias::new("r"), Alias::new("referred_by")))
            .cond_having(having)
            .to_owned()
    };
    let id = Expr::col((Alias::new("customers"), Alias::new("id")));
    let membership = if super::evaluate::meets_zero(c) {
        id.not_in_subquery(referrers(test.not()))
    } else {
        id.in_subquery(referrers(test))
    };
    // `IS TRUE`, like [`id_in`]: PostgreSQL keeps the subquery a subplan instead of
    // pulling it up into a join, whose search grows exponentially with the conditions.
    Expr::expr(membership)
        .is(Expr::custom_keyword("TRUE"))
        .into_condition()
}

/// Whether the birth date's month is the current one (UTC). The month is read from the
/// ISO text of the date, which both databases print the same way.
fn birthday_this_month(op: Op, operand: &Operand, clock: Clock) -> SqlCondition {
    let month: Expr = Func::cust(Alias::new("substr"))
        .args([
            Expr::cust("CAST(customers.birth_date AS TEXT)"),
            Expr::val(6_i32),
            Expr::val(2_i32),
        ])
        .into();
    let this_month = format!("{:02}", clock.today().month());
    let wanted = matches!(operand, Operand::Bool(true)) != negated(op);
    let test: SimpleExpr = if wanted {
        ExprTrait::eq(month, this_month)
    } else {
        ExprTrait::ne(month, this_month)
    };
    // The wanted side is already chosen: only the presence test is left to add.
    finish(customers("birth_date"), Op::Eq, test.into_condition())
}

/// The customers column behind a plain field.
pub fn column_name(field: Field) -> &'static str {
    use Field::*;
    match field {
        Country => "country",
        Region => "region",
        City => "city",
        Gender => "gender",
        IncomeBand => "income_band",
        Occupation => "occupation",
        Lifestyle => "lifestyle",
        Needs => "needs",
        AcquisitionChannel => "acquisition_channel",
        Email => "email",
        Phone => "phone",
        MarketingConsent => "marketing_consent",
        OrderCount => "order_count",
        TotalSpent => "total_spent",
        RScore => "r_score",
        FScore => "f_score",
        MScore => "m_score",
        RfmGroup => "rfm_group",
        ValueTier => "value_tier",
        PredictedClv => "predicted_clv",
        PAlive => "p_alive",
        ChurnRisk => "churn_risk",
        CompositeValue => "composite_score",
        _ => "",
    }
}

/// Tags held by a customer in `table.column` (interests, order channels).
fn tags(table: &str, column: &str, scope: SqlCondition, op: Op, operand: &Operand) -> SqlCondition {
    let holders = |tags: Option<&Vec<String>>| {
        let mut select = Query::select();
        select
            .column(Alias::new("customer_id"))
            .from(Alias::new(table))
            .cond_where(scope.clone())
            .and_where(Expr::col(Alias::new(column)).is_not_null());
        if let Some(tags) = tags {
            select.and_where(Expr::col(Alias::new(column)).is_in(tags.clone()));
        }
        select.to_owned()
    };
    match (op, operand) {
        (Op::IsNull, _) => id_in(table, holders(None)).not(),
        (Op::IsNotNull, _) => id_in(table, holders(None)),
        (Op::ContainsAny, Operand::Texts(ts)) => id_in(table, holders(Some(ts))),
        (Op::ContainsAll, Operand::Texts(ts)) => ts.iter().fold(Cond::all(), |c, t| {
            c.add(id_in(table, holders(Some(&vec![t.clone()]))))
        }),
        _ => Expr::val(1).eq(0).into_condition(),
    }
}

/// The topics of a customer's answers (NPS or CSAT, any time) from one source.
fn topics(source: entity::TopicSource, op: Op, operand: &Operand) -> SqlCondition {
    let from_source = Cond::all()
        .add(Expr::col((Alias::new("feedback_topics"), Alias::new("source"))).eq(source.as_str()));
    tags("feedback_topics", "topic", from_source, op, operand)
}

/// The average order value compared exactly in integers: total > v × count, and so on.
fn average_order_value(op: Op, operand: &Operand) -> SqlCondition {
    let total = customers("total_spent");
    let count = customers("order_count");
    let has_orders = count.clone().gt(0);
    let times = |units: i64| count.clone().mul(units);
    let positive: SqlCondition = match (op, operand) {
        (Op::IsNull, _) => return has_orders.not().into_condition(),
        (Op::IsNotNull, _) => return has_orders.into_condition(),
        (Op::Eq | Op::Ne, Operand::Units(u)) => total.clone().eq(times(*u)).into_condition(),
        (Op::Lt, Operand::Units(u)) => total.clone().lt(times(*u)).into_condition(),
        (Op::Lte, Operand::Units(u)) => total.clone().lte(times(*u)).into_condition(),
        (Op::Gt, Operand::Units(u)) => total.clone().gt(times(*u)).into_condition(),
        (Op::Gte, Operand::Units(u)) => total.clone().gte(times(*u)).into_condition(),
        (Op::Between, Operand::UnitsRange(a, b)) => Cond::all()
            .add(total.clone().gte(times(*a)))
            .add(total.clone().lte(times(*b))),
        (Op::In | Op::NotIn, Operand::UnitsList(us)) => us
            .iter()
            .fold(Cond::any(), |c, u| c.add(total.clone().eq(times(*u)))),
        _ => return Expr::val(1).eq(0).into_condition(),
    };
    let positive = if negated(op) {
        positive.not()
    } else {
        positive
    };
    Cond::all().add(has_orders).add(positive)
}

fn interactions_last_90_days(op: Op, operand: &Operand, clock: Clock) -> SqlCondition {
    let since = clock.now - chrono::Duration::days(90);
    let count = Expr::SubQuery(
        None,
        Box::new(
            Query::select()
                .expr(Func::count(Expr::col((
                    Alias::new("interactions"),
                    Alias::new("id"),
                ))))
                .from(Alias::new("interactions"))
                .and_where(
                    Expr::col((Alias::new("interactions"), Alias::new("customer_id")))
                        .equals((Alias::new("customers"), Alias::new("id"))),
                )
                .and_where(
                    Expr::col((Alias::new("interactions"), Alias::new("occurred_at"))).gte(since),
                )
                .and_where(
                    Expr::col((Alias::new("interactions"), Alias::new("occurred_at")))
                        .lte(clock.now),
                )
                .to_owned()
                .into(),
        ),
    );
    compare(count, op, operand)
}

/// PROMOTER 9–10, PASSIVE 7–8, DETRACTOR 0–6 on the latest NPS answer.
pub fn nps_category_of(score: i64) -> &'static str {
    match score {
        9.. => "PROMOTER",
        7..=8 => "PASSIVE",
        _ => "DETRACTOR",
    }
}

fn nps_category(op: Op, operand: &Operand) -> SqlCondition {
    let range = |category: &str| match category {
        "PROMOTER" => (9, 10),
        "PASSIVE" => (7, 8),
        _ => (0, 6),
    };
    let as_scores = |categories: &[String]| {
        Operand::Ints(
            categories
                .iter()
                .flat_map(|c| {
                    let (lo, hi) = range(c);
                    lo..=hi
                })
                .collect(),
        )
    };
    let (op, operand) = match (op, operand) {
        (Op::Eq, Operand::Text(c)) => (Op::In, as_scores(std::slice::from_ref(c))),
        (Op::Ne, Operand::Text(c)) => (Op::NotIn, as_scores(std::slice::from_ref(c))),
        (Op::In | Op::NotIn, Operand::Texts(cs)) => (op, as_scores(cs)),
        (op, operand) => (op, operand.clone()),
    };
    in_table("feedback", latest_feedback("NPS"), "score", op, &operand)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rule compares with what the columns hold: every stored name, no other.
    #[test]
    fn choices_of_typed_columns_are_their_stored_names() {
        use sea_orm::{ActiveEnum, Iterable};
        fn stored<E: ActiveEnum<Value = String> + Iterable>() -> Vec<String> {
            E::iter().map(|v| v.to_value()).collect()
        }
        assert_eq!(RFM_GROUPS, stored::<entity::RfmGroup>());
        assert_eq!(VALUE_TIERS, stored::<entity::ValueTier>());
        assert_eq!(STAGES, stored::<entity::LifecycleStage>());
    }

    fn condition(field: Field, op: Op, value: Json) -> Rule {
        Rule::Condition(Condition {
            field,
            op,
            value: Some(value),
            values: None,
        })
    }

    #[test]
    fn a_bad_value_is_one_problem_at_its_path_from_the_argument() {
        let rule = Rule::All(vec![
            condition(Field::City, Op::Eq, serde_json::json!("Shanghai")),
            condition(Field::OrderCount, Op::Eq, serde_json::json!("three")),
        ]);
        let problem = rule.check("rule").unwrap_err();
        assert_eq!(problem.field, "rule.all[1].condition.value");
        assert_eq!(problem.index, None);
        assert!(problem.message.contains("whole number"), "{problem}");
    }

    #[test]
    fn a_personal_field_anywhere_in_the_tree_makes_the_rule_personal() {
        let city = condition(Field::City, Op::Eq, serde_json::json!("Shanghai"));
        let email = condition(Field::Email, Op::StartsWith, serde_json::json!("li"));
        assert!(!city.reads_personal_data());
        let nested = Rule::Any(vec![city.clone(), Rule::Not(Box::new(email))]);
        assert!(nested.reads_personal_data());
    }
}
