//! What the API reads: members' accounts and standings, points about to expire, and the
//! programme's summary. Every read is for many customers at once (the API's loaders).

use std::collections::HashMap;

use anyhow::Context;
use chrono::{DateTime, Days, Months, NaiveDate, Utc};
use entity::{
    LedgerKind, MoneyTotal, loyalty_account,
    sql::{Params, money_sum},
};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::ledger::among;
use super::programme::{Basis, Programme};
use super::tiers::Standing;

/// The start of the 12 months that end at `end`.
pub fn year_before(end: DateTime<Utc>) -> DateTime<Utc> {
    end.checked_sub_months(Months::new(12)).unwrap_or(end)
}

/// Lots earned before this time have expired by the end of `day`: a lot expires at the
/// end of the day it turns `expiry_months` old. None when points never expire.
pub fn expiry_cutoff(programme: &Programme, day: NaiveDate) -> Option<DateTime<Utc>> {
    if programme.expiry_months == 0 {
        return None;
    }
    let day_end = crate::day_start(day.checked_add_days(Days::new(1))?);
    day_end.checked_sub_months(Months::new(programme.expiry_months))
}

/// The reason an EXPIRE entry gives for the lots it consumed.
pub fn expiry_reason(cutoff: DateTime<Utc>) -> String {
    format!("earned before {}", cutoff.format("%Y-%m-%d %H:%M UTC"))
}

/// The accounts of these customers (members only).
pub async fn accounts_of(
    db: &impl ConnectionTrait,
    customer_ids: &[i64],
) -> anyhow::Result<Vec<loyalty_account::Model>> {
    loyalty_account::Entity::find()
        .filter(loyalty_account::Column::CustomerId.is_in(customer_ids.iter().copied()))
        .all(db)
        .await
        .context("failed to read loyalty accounts")
}

/// Spend and points earned in the 12 months before `end`, per customer (every customer
/// asked for has an entry), on the `bases` asked for (the others stay 0: the job reads
/// only what the programme's tiers qualify on).
pub async fn standings_of(
    db: &impl ConnectionTrait,
    customer_ids: &[i64],
    end: DateTime<Utc>,
    bases: &[Basis],
) -> anyhow::Result<HashMap<i64, Standing>> {
    let mut standings: HashMap<i64, Standing> = customer_ids
        .iter()
        .map(|id| (*id, Standing::default()))
        .collect();
    // The job asks for runs of thousands of members in id order: their range alone is
    // cheaper to plan and read than the list (rows of customers not asked for are
    // skipped below); a loader's page of scattered ids needs the list.
    let (Some(low), Some(high)) = (customer_ids.iter().min(), customer_ids.iter().max()) else {
        return Ok(standings);
    };
    let dense = high.saturating_sub(*low) < 2 * customer_ids.len() as i64;
    let customers = if dense {
        format!("customer_id BETWEEN {low} AND {high}")
    } else {
        among("customer_id", customer_ids)
    };
    if bases.contains(&Basis::Spend12m) {
        spend_of(db, &customers, end, &mut standings).await?;
    }
    if bases.contains(&Basis::Points12m) {
        points_of(db, &customers, end, &mut standings).await?;
    }
    Ok(standings)
}

/// Spend in the 12 months before `end` into `standings`.
async fn spend_of(
    db: &impl ConnectionTrait,
    customers: &str,
    end: DateTime<Utc>,
    standings: &mut HashMap<i64, Standing>,
) -> anyhow::Result<()> {
    let mut params = Params::new(db.get_database_backend());
    let from = params.bind(year_before(end));
    let to = params.bind(end);
    // Summed in halves like every money sum (`money_sum`), exact whatever the amounts.
    let spend = db
        .query_all_raw(params.statement(format!(
            "SELECT customer_id, {} FROM orders \
             WHERE {customers} AND ordered_at >= {from} AND ordered_at < {to} \
             GROUP BY customer_id",
            money_sum("amount", "total")
        )))
        .await
        .context("failed to read the spend of 12 months")?;
    for row in spend {
        let id: i64 = row.try_get("", "customer_id")?;
        let total: MoneyTotal = row.try_get("", "total")?;
        if let Some(standing) = standings.get_mut(&id) {
            standing.spend_12m = total.saturating_money();
        }
    }
    Ok(())
}

/// EARN and BONUS points of the 12 months before `end` into `standings`.
async fn points_of(
    db: &impl ConnectionTrait,
    customers: &str,
    end: DateTime<Utc>,
    standings: &mut HashMap<i64, Standing>,
) -> anyhow::Result<()> {
    let mut params = Params::new(db.get_database_backend());
    let from = params.bind(year_before(end));
    let to = params.bind(end);
    let points = db
        .query_all_raw(params.statement(format!(
            "SELECT customer_id, CAST(SUM(points) AS BIGINT) AS total FROM loyalty_ledger \
             WHERE {customers} AND kind IN ('{earn}', '{bonus}') \
               AND occurred_at >= {from} AND occurred_at < {to} \
             GROUP BY customer_id",
            earn = LedgerKind::Earn.as_str(),
            bonus = LedgerKind::Bonus.as_str(),
        )))
        .await
        .context("failed to read the points of 12 months")?;
    for row in points {
        let id: i64 = row.try_get("", "customer_id")?;
        let total: i64 = row.try_get("", "total")?;
        if let Some(standing) = standings.get_mut(&id) {
            standing.points_12m = total;
        }
    }
    Ok(())
}

/// Points of these customers that expire by the end of `day` (their lots' remaining
/// points), per customer with any.
pub async fn expiring_points_of(
    db: &impl ConnectionTrait,
    programme: &Programme,
    customer_ids: &[i64],
    day: NaiveDate,
) -> anyhow::Result<HashMap<i64, i64>> {
    let Some(cutoff) = expiry_cutoff(programme, day) else {
        return Ok(HashMap::new());
    };
    if customer_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut params = Params::new(db.get_database_backend());
    let cutoff = params.bind(cutoff);
    let rows = db
        .query_all_raw(params.statement(format!(
            "SELECT customer_id, CAST(SUM(remaining) AS BIGINT) AS points FROM loyalty_ledger \
             WHERE {customers} AND remaining > 0 AND occurred_at < {cutoff} \
             GROUP BY customer_id",
            customers = among("customer_id", customer_ids)
        )))
        .await
        .context("failed to read the expiring points")?;
    rows.iter()
        .map(|row| Ok((row.try_get("", "customer_id")?, row.try_get("", "points")?)))
        .collect()
}

/// The programme at a glance.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// Members per tier (None: not evaluated yet, or qualifying for no tier), by name.
    pub members_per_tier: Vec<(Option<String>, i64)>,
    pub members: i64,
    /// The sum of the balances.
    pub points_outstanding: i64,
    /// What they are worth at the programme's point value.
    pub liability: MoneyTotal,
    /// Points ever earned (EARN and BONUS) and redeemed (REDEEM).
    pub points_earned: i64,
    pub points_redeemed: i64,
    /// Redeemed ÷ earned; None before any point was earned.
    pub redemption_rate: Option<f64>,
}

/// Members per tier, points outstanding and their liability, the redemption rate.
pub async fn summary(db: &impl ConnectionTrait, programme: &Programme) -> anyhow::Result<Summary> {
    let backend = db.get_database_backend();
    let tiers = db
        .query_all_raw(sea_orm::Statement::from_string(
            backend,
            "SELECT tier, COUNT(*) AS members, CAST(COALESCE(SUM(balance), 0) AS BIGINT) AS points \
             FROM loyalty_accounts GROUP BY tier ORDER BY tier",
        ))
        .await
        .context("failed to count members per tier")?;
    let mut members_per_tier = Vec::new();
    let (mut members, mut points_outstanding) = (0_i64, 0_i64);
    for row in tiers {
        let tier: Option<String> = row.try_get("", "tier")?;
        let count: i64 = row.try_get("", "members")?;
        let points: i64 = row.try_get("", "points")?;
        members += count;
        points_outstanding += points;
        members_per_tier.push((tier, count));
    }
    let totals = db
        .query_one_raw(sea_orm::Statement::from_string(
            backend,
            format!(
                "SELECT CAST(COALESCE(SUM(CASE WHEN kind IN ('{earn}', '{bonus}') THEN points ELSE 0 END), 0) AS BIGINT) AS earned, \
                        CAST(COALESCE(SUM(CASE WHEN kind = '{redeem}' THEN -points ELSE 0 END), 0) AS BIGINT) AS redeemed \
                 FROM loyalty_ledger",
                earn = LedgerKind::Earn.as_str(),
                bonus = LedgerKind::Bonus.as_str(),
                redeem = LedgerKind::Redeem.as_str(),
            ),
        ))
        .await
        .context("failed to sum the ledger")?
        .context("a sum returned no row")?;
    let points_earned: i64 = totals.try_get("", "earned")?;
    let points_redeemed: i64 = totals.try_get("", "redeemed")?;
    let liability = programme.liability(points_outstanding);
    Ok(Summary {
        members_per_tier,
        members,
        points_outstanding,
        liability,
        points_earned,
        points_redeemed,
        redemption_rate: (points_earned > 0).then(|| points_redeemed as f64 / points_earned as f64),
    })
}
