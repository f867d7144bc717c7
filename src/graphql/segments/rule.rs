//! The segment rule as typed GraphQL input (never SQL), mapped onto the domain's rule
//! language (`jobs::segments::rule`), which checks it.

use async_graphql::{Context, Enum, InputObject, Json, OneofObject, Result};
use jobs::segments::rule::{self, Rule};

use crate::api_keys::Scope;
use crate::graphql::guards::require;

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
    /// Tags of the customer's answers (NPS or CSAT, any time), normalised like tags
    /// (`Delivery` finds `delivery`).
    FeedbackTopic,
    /// Terms extracted from the customer's comments (answers without tags). The
    /// customer's own words: rules on it need `pii:read`.
    FeedbackTerm,
    /// Customers who name this one as their referrer (0 for none).
    Referrals,
    /// What the customers this one referred have spent in all (0 for none).
    ReferredRevenue,
    /// The customer's loyalty tier (its name in the programme); members only.
    LoyaltyTier,
    /// The customer's loyalty points balance; members only.
    PointsBalance,
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

/// The rule as the domain takes it, for a caller allowed to ask it: a rule on personal
/// fields selects people by their personal data, so it needs `pii:read`.
pub(super) fn authorized_rule(ctx: &Context<'_>, input: SegmentRuleInput) -> Result<Rule> {
    let rule = Rule::from(input);
    if rule.reads_personal_data() {
        require(ctx, Scope::PiiRead)?;
    }
    Ok(rule)
}
