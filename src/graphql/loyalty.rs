//! The membership programme: `Customer.loyalty`, `redeemPoints`, `adjustPoints`,
//! `loyaltyProgramme`, `updateLoyaltyProgramme`, `loyaltySummary` (the rules and SQL
//! are `jobs::loyalty`). Reads need `loyalty:read`, redemptions `loyalty:write`,
//! adjustments and the programme `admin`.

use std::collections::HashMap;

use anyhow::Context as _;
use async_graphql::{
    Context, Enum, ID, InputObject, Object, Result, SimpleObject, dataloader::DataLoader,
    dataloader::Loader,
};
use chrono::{DateTime, Days, Utc};
use entity::{Money, loyalty_account, loyalty_entry, loyalty_tier_event};
use jobs::loyalty::{self, Programme, Standing};
use sea_orm::DatabaseConnection;

use crate::api_keys::Scope;
use crate::graphql::{
    customer::{child_page, customer_id_of},
    errors::{IntoApi, OrInternal, bad_input},
    guards::{RequireScope, principal},
    pagination::PlainConnection,
    scalars::Decimal,
};

/// What a tier is qualified on.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "jobs::loyalty::Basis")]
pub enum LoyaltyBasis {
    /// Money spent in the rolling 12 months (orders' amounts as recorded).
    #[graphql(name = "SPEND_12M")]
    Spend12m,
    /// Points earned (EARN and BONUS) in the rolling 12 months.
    #[graphql(name = "POINTS_12M")]
    Points12m,
}

/// What a ledger entry is.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "entity::LedgerKind")]
pub enum LedgerKind {
    /// Points for an order, once per order.
    Earn,
    /// A birthday or referral bonus.
    Bonus,
    /// Points spent.
    Redeem,
    /// Points given or taken by an admin.
    Adjust,
    /// Points not used in time.
    Expire,
}

/// What a tier event records.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "entity::TierChange")]
pub enum TierChange {
    /// Moved up (at once).
    Upgrade,
    /// Qualifies only for a lower tier: the grace period began (`toTier` is where the
    /// member would drop to, `graceUntil` when).
    GraceStarted,
    /// Qualified again during the grace period: no downgrade.
    Requalified,
    /// The grace period passed: moved down.
    Downgrade,
}

/// A tier of the programme.
pub struct LoyaltyTier(pub jobs::loyalty::Tier);

#[Object]
impl LoyaltyTier {
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Higher is better.
    async fn rank(&self) -> i32 {
        self.0.rank
    }
    async fn basis(&self) -> LoyaltyBasis {
        self.0.basis.into()
    }
    /// Reached at this value or more: money for `SPEND_12M`, points for `POINTS_12M`.
    async fn threshold(&self) -> Decimal {
        match self.0.basis {
            loyalty::Basis::Spend12m => Money(self.0.threshold).into(),
            loyalty::Basis::Points12m => Decimal::number(self.0.threshold_figure()),
        }
    }
    async fn benefits(&self) -> &str {
        &self.0.benefits
    }
    /// 0–100.
    async fn discount_percent(&self) -> Decimal {
        Decimal::number(self.0.discount_percent)
    }
}

/// The programme in force.
pub struct LoyaltyProgramme(pub Programme);

#[Object]
impl LoyaltyProgramme {
    /// By rank, lowest first.
    async fn tiers(&self) -> Vec<LoyaltyTier> {
        self.0
            .ranked()
            .into_iter()
            .cloned()
            .map(LoyaltyTier)
            .collect()
    }
    /// Points per currency unit of an order's amount, rounded down per order.
    async fn points_per_unit(&self) -> Decimal {
        Decimal::number(self.0.points_per_unit)
    }
    /// What a point is worth (the liability of points outstanding).
    async fn point_value(&self) -> Decimal {
        Decimal::number(self.0.point_value.to_decimal())
    }
    /// Points expire at the end of the day they turn this many months old; 0: never.
    async fn expiry_months(&self) -> u32 {
        self.0.expiry_months
    }
    async fn birthday_bonus_points(&self) -> i64 {
        self.0.birthday_bonus_points
    }
    /// For the referrer, on a referred customer's first order.
    async fn referral_bonus_points(&self) -> i64 {
        self.0.referral_bonus_points
    }
    /// Days a member keeps a tier they no longer qualify for.
    async fn grace_days(&self) -> u32 {
        self.0.grace_days
    }
}

#[derive(InputObject)]
pub struct LoyaltyTierInput {
    pub name: String,
    pub rank: i32,
    pub basis: LoyaltyBasis,
    /// Money for `SPEND_12M`, whole points for `POINTS_12M`.
    pub threshold: Decimal,
    #[graphql(default)]
    pub benefits: String,
    /// 0–100; default 0.
    pub discount_percent: Option<Decimal>,
}

/// The whole programme (it replaces the one in force).
#[derive(InputObject)]
pub struct LoyaltyProgrammeInput {
    pub tiers: Vec<LoyaltyTierInput>,
    pub points_per_unit: Decimal,
    pub point_value: Decimal,
    pub expiry_months: u32,
    pub birthday_bonus_points: i64,
    pub referral_bonus_points: i64,
    pub grace_days: u32,
}

impl LoyaltyProgrammeInput {
    /// The programme, or the problems of the values that cannot even be read (a
    /// threshold out of range); the rest is `Programme::problems`'.
    fn parse(self) -> Result<Programme> {
        let mut tiers = Vec::with_capacity(self.tiers.len());
        for (i, tier) in self.tiers.into_iter().enumerate() {
            let field = format!("input.tiers[{i}].threshold");
            let value = tier.threshold.value();
            let threshold = match tier.basis {
                LoyaltyBasis::Spend12m => {
                    Money::from_decimal(value)
                        .map_err(|_| bad_input(&field, format!("`{value}` is not an amount")))?
                        .0
                }
                LoyaltyBasis::Points12m => {
                    if !value.fract().is_zero() {
                        return Err(bad_input(&field, "points are whole numbers"));
                    }
                    i64::try_from(value)
                        .map_err(|_| bad_input(&field, format!("`{value}` is out of range")))?
                }
            };
            tiers.push(loyalty::Tier {
                name: tier.name,
                rank: tier.rank,
                basis: tier.basis.into(),
                threshold,
                benefits: tier.benefits,
                discount_percent: tier
                    .discount_percent
                    .map_or(rust_decimal::Decimal::ZERO, |d| d.value()),
            });
        }
        let point_value = Money::from_decimal(self.point_value.value()).map_err(|_| {
            bad_input(
                "input.pointValue",
                format!("`{}` is not an amount", self.point_value.value()),
            )
        })?;
        Ok(Programme {
            tiers,
            points_per_unit: self.points_per_unit.value(),
            point_value,
            expiry_months: self.expiry_months,
            birthday_bonus_points: self.birthday_bonus_points,
            referral_bonus_points: self.referral_bonus_points,
            grace_days: self.grace_days,
        })
    }
}

/// One entry of a member's points ledger, with its cause.
pub struct LedgerEntry(pub loyalty_entry::Model);

#[Object]
impl LedgerEntry {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn kind(&self) -> LedgerKind {
        self.0.kind.into()
    }
    /// Signed: positive for EARN, BONUS and positive ADJUST, negative otherwise.
    async fn points(&self) -> i64 {
        self.0.points
    }
    /// Of a positive entry: the points not spent or expired yet (the oldest go first).
    async fn remaining(&self) -> i64 {
        self.0.remaining
    }
    /// When earned (an order's `orderedAt`), redeemed, adjusted or expired.
    async fn occurred_at(&self) -> DateTime<Utc> {
        self.0.occurred_at
    }
    /// The order an EARN is for.
    async fn order_id(&self) -> Option<ID> {
        self.0.order_id.map(|id| ID(id.to_string()))
    }
    /// The email a bonus or redemption came through.
    async fn email_id(&self) -> Option<ID> {
        self.0.email_id.map(|id| ID(id.to_string()))
    }
    /// The API key that redeemed or adjusted.
    async fn api_key_id(&self) -> Option<ID> {
        self.0.api_key_id.map(|id| ID(id.to_string()))
    }
    /// What makes the cause count once: `order:<id>`, `birthday:<year>`,
    /// `referral:<customer id>`, `redeem:<key>`, `adjust:<key>`.
    async fn cause_key(&self) -> Option<&str> {
        self.0.cause_key.as_deref()
    }
    /// Free text of a redemption or adjustment: may be personal. Needs `pii:read`.
    #[graphql(guard = "RequireScope(Scope::PiiRead)")]
    async fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
    }
}

/// A change of tier or of a grace period.
pub struct TierEvent(pub loyalty_tier_event::Model);

#[Object]
impl TierEvent {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn reason(&self) -> TierChange {
        self.0.reason.into()
    }
    async fn from_tier(&self) -> Option<&str> {
        self.0.from_tier.as_deref()
    }
    async fn to_tier(&self) -> Option<&str> {
        self.0.to_tier.as_deref()
    }
    /// For `GRACE_STARTED`: the day of the downgrade unless the member qualifies again.
    async fn grace_until(&self) -> Option<DateTime<Utc>> {
        self.0.grace_until
    }
    /// The day of the `loyalty` run that decided it (its start, UTC).
    async fn occurred_at(&self) -> DateTime<Utc> {
        self.0.occurred_at
    }
}

/// A customer's membership.
pub struct CustomerLoyalty {
    account: loyalty_account::Model,
}

impl CustomerLoyalty {
    async fn programme(ctx: &Context<'_>) -> Result<Programme> {
        let loader = ctx.data::<DataLoader<ProgrammeLoader>>()?;
        Ok(loader.load_one(()).await?.unwrap_or_default())
    }

    async fn standing(&self, ctx: &Context<'_>) -> Result<Standing> {
        let loader = ctx.data::<DataLoader<StandingLoader>>()?;
        Ok(loader
            .load_one(self.account.customer_id)
            .await?
            .unwrap_or_default())
    }
}

#[Object]
impl CustomerLoyalty {
    /// The tier the latest `loyalty` run gave; null before the first.
    async fn tier(&self, ctx: &Context<'_>) -> Result<Option<LoyaltyTier>> {
        let programme = Self::programme(ctx).await?;
        Ok(self
            .account
            .tier
            .as_deref()
            .and_then(|name| programme.tier(name))
            .cloned()
            .map(LoyaltyTier))
    }
    /// Since when the member has the tier.
    async fn since(&self) -> Option<DateTime<Utc>> {
        self.account.tier_since
    }
    /// Set while the member qualifies only for a lower tier: the downgrade happens then
    /// unless they qualify again.
    async fn grace_until(&self) -> Option<DateTime<Utc>> {
        self.account.grace_until
    }
    /// The balance (never negative).
    async fn points(&self) -> i64 {
        self.account.balance
    }
    /// Points that expire by the end of the day `days` from today (UTC), unless spent.
    async fn points_expiring_within(&self, ctx: &Context<'_>, days: u32) -> Result<i64> {
        if days > 36_500 {
            return Err(bad_input("days", "must be 0–36500"));
        }
        let loader = ctx.data::<DataLoader<ExpiringPointsLoader>>()?;
        Ok(loader
            .load_one((days, self.account.customer_id))
            .await?
            .unwrap_or(0))
    }
    /// The tier ranked next above the member's; null at the top.
    async fn next_tier(&self, ctx: &Context<'_>) -> Result<Option<LoyaltyTier>> {
        let programme = Self::programme(ctx).await?;
        Ok(programme
            .next_tier(self.account.tier.as_deref())
            .cloned()
            .map(LoyaltyTier))
    }
    /// What is missing to reach the next tier, in its basis: money for `SPEND_12M`,
    /// points for `POINTS_12M`, over the 12 months up to today. Null at the top.
    async fn points_or_spend_to_next_tier(&self, ctx: &Context<'_>) -> Result<Option<Decimal>> {
        let programme = Self::programme(ctx).await?;
        let Some(next) = programme.next_tier(self.account.tier.as_deref()) else {
            return Ok(None);
        };
        let standing = self.standing(ctx).await?;
        let missing = standing.to_reach(next);
        Ok(Some(match next.basis {
            loyalty::Basis::Spend12m => Money::from_decimal(missing)
                .map(Decimal::from)
                .unwrap_or(Decimal::number(missing)),
            loyalty::Basis::Points12m => Decimal::number(missing),
        }))
    }
    /// The points ledger, newest first.
    async fn ledger(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<PlainConnection<LedgerEntry>> {
        child_page::<loyalty_entry::Entity, _>(
            ctx,
            self.account.customer_id,
            first,
            after,
            |e| (e.occurred_at, e.id),
            LedgerEntry,
        )
        .await
    }
    /// Tier changes and grace periods, newest first.
    async fn tier_history(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<PlainConnection<TierEvent>> {
        child_page::<loyalty_tier_event::Entity, _>(
            ctx,
            self.account.customer_id,
            first,
            after,
            |e| (e.occurred_at, e.id),
            TierEvent,
        )
        .await
    }
}

/// `Customer.loyalty`: null until the customer's first points.
pub(crate) async fn customer_loyalty(
    ctx: &Context<'_>,
    customer_id: i64,
) -> Result<Option<CustomerLoyalty>> {
    let loader = ctx.data::<DataLoader<AccountLoader>>()?;
    Ok(loader
        .load_one(customer_id)
        .await?
        .map(|account| CustomerLoyalty { account }))
}

/// Members of a tier.
#[derive(SimpleObject)]
pub struct TierMembers {
    /// Null: members not evaluated yet (before their first `loyalty` run).
    pub tier: Option<String>,
    pub members: i64,
}

/// The programme at a glance.
pub struct LoyaltySummary(loyalty::Summary);

#[Object]
impl LoyaltySummary {
    async fn members_per_tier(&self) -> Vec<TierMembers> {
        self.0
            .members_per_tier
            .iter()
            .map(|(tier, members)| TierMembers {
                tier: tier.clone(),
                members: *members,
            })
            .collect()
    }
    async fn members(&self) -> i64 {
        self.0.members
    }
    /// The sum of all balances.
    async fn points_outstanding(&self) -> i64 {
        self.0.points_outstanding
    }
    /// What the points outstanding are worth at the programme's point value.
    async fn liability(&self) -> Decimal {
        self.0.liability.into()
    }
    /// Points ever earned (EARN and BONUS).
    async fn points_earned(&self) -> i64 {
        self.0.points_earned
    }
    /// Points ever redeemed (REDEEM; expiries and adjustments are not redemptions).
    async fn points_redeemed(&self) -> i64 {
        self.0.points_redeemed
    }
    /// Redeemed ÷ earned; null before any point was earned.
    async fn redemption_rate(&self) -> Option<f64> {
        self.0.redemption_rate
    }
}

#[derive(Default)]
pub struct LoyaltyQuery;

#[Object]
impl LoyaltyQuery {
    /// The membership programme in force (the defaults until an admin saves one).
    #[graphql(guard = "RequireScope(Scope::LoyaltyRead)")]
    async fn loyalty_programme(&self, ctx: &Context<'_>) -> Result<LoyaltyProgramme> {
        let db = ctx.data::<DatabaseConnection>()?;
        let programme = loyalty::programme(db).await.or_internal()?;
        Ok(LoyaltyProgramme(programme))
    }

    /// Members per tier, points outstanding and their liability, the redemption rate.
    #[graphql(guard = "RequireScope(Scope::LoyaltyRead)")]
    async fn loyalty_summary(&self, ctx: &Context<'_>) -> Result<LoyaltySummary> {
        let db = ctx.data::<DatabaseConnection>()?;
        let programme = loyalty::programme(db).await.or_internal()?;
        let summary = loyalty::summary(db, &programme).await.or_internal()?;
        Ok(LoyaltySummary(summary))
    }
}

#[derive(Default)]
pub struct LoyaltyMutation;

#[Object]
impl LoyaltyMutation {
    /// Spends a member's points, the oldest first. More than the balance is refused
    /// (`BAD_USER_INPUT` on `points`), also when concurrent redemptions took it first.
    /// With an `idempotencyKey`, the same request again answers the entry it made.
    #[graphql(guard = "RequireScope(Scope::LoyaltyWrite)")]
    async fn redeem_points(
        &self,
        ctx: &Context<'_>,
        customer_id: ID,
        points: i64,
        reason: Option<String>,
        idempotency_key: Option<String>,
    ) -> Result<LedgerEntry> {
        let db = ctx.data::<DatabaseConnection>()?;
        let customer_id =
            customer_id_of(&customer_id).map_err(|message| bad_input("customerId", message))?;
        let debit = loyalty::Debit {
            customer_id,
            points,
            reason,
            idempotency_key,
            api_key_id: Some(principal(ctx)?.key_id),
        };
        let entry = loyalty::redeem(db, debit, Utc::now()).await.into_api()?;
        Ok(LedgerEntry(entry))
    }

    /// Gives (positive) or takes (negative) points, with a reason. Taking more than the
    /// balance is refused (`points`).
    #[graphql(guard = "RequireScope(Scope::Admin)")]
    async fn adjust_points(
        &self,
        ctx: &Context<'_>,
        customer_id: ID,
        points: i64,
        reason: String,
        idempotency_key: Option<String>,
    ) -> Result<LedgerEntry> {
        let db = ctx.data::<DatabaseConnection>()?;
        let customer_id =
            customer_id_of(&customer_id).map_err(|message| bad_input("customerId", message))?;
        let adjustment = loyalty::Adjustment {
            customer_id,
            points,
            reason,
            idempotency_key,
            api_key_id: Some(principal(ctx)?.key_id),
        };
        let entry = loyalty::adjust(db, adjustment, Utc::now())
            .await
            .into_api()?;
        Ok(LedgerEntry(entry))
    }

    /// Replaces the programme; refused naming every invalid field (`input.tiers[1].rank`).
    /// Tiers change at the next `loyalty` run; points earned so far stay.
    #[graphql(guard = "RequireScope(Scope::Admin)")]
    async fn update_loyalty_programme(
        &self,
        ctx: &Context<'_>,
        input: LoyaltyProgrammeInput,
    ) -> Result<LoyaltyProgramme> {
        let db = ctx.data::<DatabaseConnection>()?;
        let programme = input.parse()?;
        let saved = loyalty::update_programme(db, programme).await.into_api()?;
        Ok(LoyaltyProgramme(saved))
    }
}

/// The programme, once per request.
pub struct ProgrammeLoader(pub DatabaseConnection);

impl Loader<()> for ProgrammeLoader {
    type Value = Programme;
    type Error = async_graphql::Error;

    async fn load(&self, _: &[()]) -> Result<HashMap<(), Programme>, Self::Error> {
        let programme = loyalty::programme(&self.0).await.or_internal()?;
        Ok(HashMap::from([((), programme)]))
    }
}

/// Members' accounts.
pub struct AccountLoader(pub DatabaseConnection);

impl Loader<i64> for AccountLoader {
    type Value = loyalty_account::Model;
    type Error = async_graphql::Error;

    async fn load(&self, ids: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let accounts = loyalty::accounts_of(&self.0, ids).await.or_internal()?;
        Ok(accounts.into_iter().map(|a| (a.customer_id, a)).collect())
    }
}

/// Members' spend and points of the 12 months up to the end of today.
pub struct StandingLoader(pub DatabaseConnection);

impl Loader<i64> for StandingLoader {
    type Value = Standing;
    type Error = async_graphql::Error;

    async fn load(&self, ids: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let today = Utc::now().date_naive();
        let end = jobs::day_start(today.checked_add_days(Days::new(1)).unwrap_or(today));
        loyalty::standings_of(
            &self.0,
            ids,
            end,
            &[loyalty::Basis::Spend12m, loyalty::Basis::Points12m],
        )
        .await
        .or_internal()
    }
}

/// Points expiring within a number of days, per (days, customer): one statement per
/// distinct `days` of the page.
pub struct ExpiringPointsLoader(pub DatabaseConnection);

impl Loader<(u32, i64)> for ExpiringPointsLoader {
    type Value = i64;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[(u32, i64)]) -> Result<HashMap<(u32, i64), i64>, Self::Error> {
        let programme = loyalty::programme(&self.0).await.or_internal()?;
        let mut by_days: HashMap<u32, Vec<i64>> = HashMap::new();
        for (days, customer) in keys {
            by_days.entry(*days).or_default().push(*customer);
        }
        let today = Utc::now().date_naive();
        let mut answers = HashMap::new();
        for (days, customers) in by_days {
            let day = today
                .checked_add_days(Days::new(u64::from(days)))
                .context("the day is out of range")
                .or_internal()?;
            let points = loyalty::expiring_points_of(&self.0, &programme, &customers, day)
                .await
                .or_internal()?;
            for customer in customers {
                answers.insert(
                    (days, customer),
                    points.get(&customer).copied().unwrap_or(0),
                );
            }
        }
        Ok(answers)
    }
}
