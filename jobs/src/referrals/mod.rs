//! Referrals: who brought whom, and what it was worth.
//!
//! A referral is `customers.referred_by` on the referred customer's row: one referrer per
//! customer by construction, on the referred customer's shard on Citus, next to the
//! order aggregates the figures sum. It is set by id (`referredBy`) or by the referrer's
//! code (`referralCode`, resolved through `referral_codes`, migration 21); a customer
//! cannot refer themself, nor anyone up their own chain of referrers (a cycle).
//!
//! The figures of a referrer — customers referred, how many of them have ordered, and
//! what they have spent in all (their kept `total_spent`) — are read live, so they are
//! exact the moment an order lands; the composite advocacy score of the `value-scores`
//! job counts the same customers and the same spend (at its cutoff). Erased customers
//! still count on both sides: the referral happened, and their orders are kept.

use std::collections::HashMap;

use anyhow::Context as _;
use entity::MoneyTotal;
use entity::sql::{Params, money_sum};
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};

use crate::errors::DomainResult;
use crate::loyalty::Programme;

/// Referrers followed up a chain before a cycle check gives up (and refuses): far more
/// than any real chain of friends, few enough to bound the statements of one write.
const MAX_CHAIN: usize = 1_000;

/// What one customer's referrals brought.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReferralFigures {
    /// Customers who name this one as their referrer.
    pub count: i64,
    /// Of those, the ones with at least one order.
    pub first_order_count: i64,
    /// What those customers have spent in all.
    pub revenue: MoneyTotal,
}

impl ReferralFigures {
    /// The revenue in units of one amount, saturating: a sum past one amount's range,
    /// which no real base reaches, counts as the largest amount.
    pub fn revenue_units(&self) -> i64 {
        self.revenue.saturating_money().0
    }
}

#[derive(FromQueryResult)]
struct FiguresRow {
    referrer: i64,
    n: i64,
    ordered: i64,
    revenue: MoneyTotal,
}

impl FiguresRow {
    fn figures(&self) -> ReferralFigures {
        ReferralFigures {
            count: self.n,
            first_order_count: self.ordered,
            revenue: self.revenue,
        }
    }
}

/// The aggregate columns of [`FiguresRow`] over referred customers `c`.
fn figures_columns() -> String {
    format!(
        "c.referred_by AS referrer, COUNT(*) AS n, \
         CAST(SUM(CASE WHEN c.order_count > 0 THEN 1 ELSE 0 END) AS BIGINT) AS ordered, {}",
        money_sum("c.total_spent", "revenue")
    )
}

/// The referral figures of each of these customers (every id has an entry; zeros for a
/// customer who referred nobody). One statement, by the index on `referred_by`.
pub async fn figures_of(
    db: &impl ConnectionTrait,
    ids: &[i64],
) -> Result<HashMap<i64, ReferralFigures>, DbErr> {
    let mut figures: HashMap<i64, ReferralFigures> = ids
        .iter()
        .map(|id| (*id, ReferralFigures::default()))
        .collect();
    if ids.is_empty() {
        return Ok(figures);
    }
    let mut params = Params::new(db.get_database_backend());
    let list: Vec<String> = ids.iter().map(|id| params.bind(*id)).collect();
    let sql = format!(
        "SELECT {} FROM customers c WHERE c.referred_by IN ({}) GROUP BY c.referred_by",
        figures_columns(),
        list.join(", ")
    );
    for row in FiguresRow::find_by_statement(params.statement(sql))
        .all(db)
        .await?
    {
        figures.insert(row.referrer, row.figures());
    }
    Ok(figures)
}

/// Where a page of advocates starts: the last row's referred revenue (units) and id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdvocatePosition {
    pub revenue: i64,
    pub customer_id: i64,
}

/// A customer with what their referrals brought.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Advocate {
    pub customer_id: i64,
    pub figures: ReferralFigures,
}

impl Advocate {
    /// Where the page after this row starts.
    pub fn position(&self) -> AdvocatePosition {
        AdvocatePosition {
            revenue: self.figures.revenue_units(),
            customer_id: self.customer_id,
        }
    }
}

/// Up to `limit` customers who referred anyone, after `after`: most referred revenue
/// first, then by id. One aggregate over the referred customers (on Citus, partial
/// aggregates per shard merged on the coordinator).
pub async fn top_advocates(
    db: &impl ConnectionTrait,
    after: Option<AdvocatePosition>,
    limit: u64,
) -> DomainResult<Vec<Advocate>> {
    let mut params = Params::new(db.get_database_backend());
    let having = match after {
        None => String::new(),
        Some(AdvocatePosition {
            revenue,
            customer_id,
        }) => {
            let (revenue, id) = (params.bind(revenue), params.bind(customer_id));
            format!(
                " HAVING SUM(c.total_spent) < {revenue} \
                   OR (SUM(c.total_spent) = {revenue} AND c.referred_by > {id})"
            )
        }
    };
    let sql = format!(
        "SELECT {} FROM customers c WHERE c.referred_by IS NOT NULL \
         GROUP BY c.referred_by{having} \
         ORDER BY SUM(c.total_spent) DESC, c.referred_by LIMIT {limit}",
        figures_columns()
    );
    let rows = FiguresRow::find_by_statement(params.statement(sql))
        .all(db)
        .await
        .context("failed to rank the advocates")?;
    Ok(rows
        .iter()
        .map(|row| Advocate {
            customer_id: row.referrer,
            figures: row.figures(),
        })
        .collect())
}

/// The owners of these referral codes (normalised, as `entity::codes` reads them), by
/// code; one statement (on Citus, each code on its own shard).
pub async fn owners_of_codes(
    db: &impl ConnectionTrait,
    codes: impl IntoIterator<Item = String>,
) -> Result<HashMap<String, i64>, DbErr> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    Ok(entity::referral_code::Entity::find()
        .filter(entity::referral_code::Column::Code.is_in(codes))
        .all(db)
        .await?
        .into_iter()
        .map(|row| (row.code, row.customer_id))
        .collect())
}

/// Whether making `referrer` the referrer of `customer` closes a cycle: `customer` is
/// `referrer` or up `referrer`'s chain. `pending` holds the referrers this same write
/// gives other customers (they count over the stored ones). A chain longer than
/// [`MAX_CHAIN`] counts as a cycle.
pub async fn closes_cycle(
    db: &impl ConnectionTrait,
    customer: i64,
    referrer: i64,
    pending: &HashMap<i64, Option<i64>>,
) -> Result<bool, DbErr> {
    let mut current = referrer;
    for _ in 0..MAX_CHAIN {
        if current == customer {
            return Ok(true);
        }
        let next = match pending.get(&current) {
            Some(next) => *next,
            None => referrer_of(db, current).await?,
        };
        match next {
            Some(next) => current = next,
            None => return Ok(false),
        }
    }
    Ok(true)
}

async fn referrer_of(db: &impl ConnectionTrait, customer: i64) -> Result<Option<i64>, DbErr> {
    let mut params = Params::new(db.get_database_backend());
    let sql = format!(
        "SELECT referred_by FROM customers WHERE id = {}",
        params.bind(customer)
    );
    Ok(db
        .query_one_raw(params.statement(sql))
        .await?
        .map(|row| row.try_get::<Option<i64>>("", "referred_by"))
        .transpose()?
        .flatten())
}

/// The referred customers among `ids` who have not ordered yet, with their referrers:
/// read before their orders are recorded, so that [`reward_first_orders`] knows whose
/// first order it is (the referrers are locked with them).
pub async fn awaiting_first_order(
    db: &impl ConnectionTrait,
    ids: &[i64],
) -> Result<Vec<(i64, i64)>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut params = Params::new(db.get_database_backend());
    let list: Vec<String> = ids.iter().map(|id| params.bind(*id)).collect();
    let sql = format!(
        "SELECT id, referred_by FROM customers WHERE id IN ({}) \
         AND order_count = 0 AND referred_by IS NOT NULL",
        list.join(", ")
    );
    db.query_all_raw(params.statement(sql))
        .await?
        .iter()
        .map(|row| Ok((row.try_get("", "id")?, row.try_get("", "referred_by")?)))
        .collect()
}

/// The programme's referral bonus to the referrer of each of `awaiting` (from
/// [`awaiting_first_order`]) who has ordered now, unless the referrer was erased, dated
/// `placed(referred id)` — the time the first order was recorded. Once per referred
/// customer (the ledger's cause key), so a replay or a concurrent first order awards
/// nothing more. Run in the transaction that recorded the orders, holding the locks of
/// both. How many bonuses were awarded.
pub async fn reward_first_orders(
    txn: &impl ConnectionTrait,
    programme: &Programme,
    awaiting: &[(i64, i64)],
    placed: impl Fn(i64) -> chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<u64, DbErr> {
    if awaiting.is_empty() || programme.referral_bonus_points <= 0 {
        return Ok(0);
    }
    let mut ids: Vec<i64> = awaiting.iter().flat_map(|(c, r)| [*c, *r]).collect();
    ids.sort_unstable();
    ids.dedup();
    let rows: HashMap<i64, entity::customer::Model> = crate::customers::by_ids(txn, &ids)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let bonuses: Vec<crate::loyalty::Bonus> = awaiting
        .iter()
        .filter(|(customer, referrer)| {
            rows.get(customer).is_some_and(|c| c.order_count > 0)
                && rows.get(referrer).is_some_and(|r| r.erased_at.is_none())
        })
        .map(|(customer, referrer)| {
            crate::loyalty::referral_bonus(programme, *referrer, *customer, placed(*customer))
        })
        .collect();
    crate::loyalty::award_bonuses(txn, &bonuses, now).await
}
