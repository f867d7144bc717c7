//! The points ledger and the kept balance: earning from orders, bonuses, redemptions and
//! adjustments.
//!
//! Every writer of a customer's ledger holds the customer's lock
//! ([`crate::customers::locks::lock_customers`], the one `recordOrders` takes) for its
//! transaction, so the balance it keeps — recomputed from the ledger for the customers
//! it wrote ([`refresh_balances`]) — is the sum of what is committed. Redemptions guard
//! the balance once more in the statement that takes the points
//! (`… WHERE balance >= points`), and the table's `CHECK (balance >= 0)` once more.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use chrono::{DateTime, Utc};
use entity::loyalty_entry::{self, Column};
use entity::{LedgerKind, sql::Params};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};

use super::lots::{Lot, consume_fifo};
use super::programme::{MAX_POINTS, Programme};
use super::reports::{expiry_cutoff, expiry_reason};
use crate::customers::locks;
use crate::{DomainError, DomainResult, Problems};

/// The longest reason and idempotency key accepted.
const MAX_REASON_CHARS: usize = 500;
const MAX_KEY_CHARS: usize = 150;

/// `column BETWEEN 1 AND 3 AND column IN (1, 2, 3)`: ids read from the database, inlined
/// (integers only) so that a statement over a chunk of customers needs no parameters —
/// SQLite caps them, and a list is written the same way on both databases. The range is
/// for PostgreSQL's planner: it reckons a list of thousands of ids alone matches a good
/// share of a big table and scans it whole (a chunk of 5,000 members' orders: 0.9 s with
/// the list alone, 27 ms with the range beside it, at 10M orders); the chunks are runs of
/// ids in order, so their range is narrow.
pub(crate) fn among(column: &str, ids: &[i64]) -> String {
    if ids.is_empty() {
        return "1 = 0".to_owned();
    }
    let list = ids
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    format!("{} AND {column} IN ({list})", within(column, ids))
}

/// `column BETWEEN 1 AND 3`: the range of [`among`] alone, for a column joined on the
/// listed one (the planner does not carry a range across a join's equality).
pub(crate) fn within(column: &str, ids: &[i64]) -> String {
    let (Some(low), Some(high)) = (ids.iter().min(), ids.iter().max()) else {
        return "1 = 0".to_owned();
    };
    format!("{column} BETWEEN {low} AND {high}")
}

/// The cause key of an order's points.
pub fn order_cause(order_id: i64) -> String {
    format!("order:{order_id}")
}

/// Earns the points of these customers' orders that have none yet, once per order
/// (`order:<id>`: a replayed batch, a second call or the daily catch-up find the key
/// taken), and keeps their balances. Orders of erased customers and orders worth no
/// whole point earn nothing. A lot that had already expired by the end of yesterday
/// (an order recorded late, an import of old orders) is written consumed, with one
/// EXPIRE entry per customer for such lots: what the daily expiry would have done, in
/// the same statement instead of a second pass over the ledger. The caller's
/// transaction holds the customers' locks. Returns the customers who earned.
pub async fn earn_orders_of(
    txn: &impl ConnectionTrait,
    programme: &Programme,
    customer_ids: &[i64],
    now: DateTime<Utc>,
) -> Result<Vec<i64>, DbErr> {
    if customer_ids.is_empty() || programme.rate_hundredths() == 0 {
        return Ok(Vec::new());
    }
    let expired_before = now
        .date_naive()
        .pred_opt()
        .and_then(|yesterday| expiry_cutoff(programme, yesterday));
    let mut params = Params::new(txn.get_database_backend());
    let rate = params.bind(programme.rate_hundredths());
    let created = params.bind(now);
    let earn = LedgerKind::Earn.as_str();
    let points = Programme::points_sql("o.amount", &rate);
    let remaining = match expired_before {
        Some(cutoff) => format!(
            "CASE WHEN o.ordered_at < {} THEN 0 ELSE {points} END",
            params.bind(cutoff)
        ),
        None => points.clone(),
    };
    let key = "'order:' || CAST(o.id AS TEXT)";
    let sql = format!(
        "INSERT INTO loyalty_ledger \
           (customer_id, kind, points, remaining, occurred_at, order_id, cause_key, created_at) \
         SELECT o.customer_id, '{earn}', {points}, {remaining}, o.ordered_at, o.id, {key}, {created} \
         FROM orders o JOIN customers c ON c.id = o.customer_id \
         WHERE {customers} AND {customer_rows} AND c.erased_at IS NULL AND {points} > 0 \
         ON CONFLICT (customer_id, cause_key) DO NOTHING \
         RETURNING customer_id, points, remaining",
        customers = among("o.customer_id", customer_ids),
        // Without it PostgreSQL read every customer for each call (a hash join; 40 ms per
        // demo batch at 100,000 customers, ten times that at a million).
        customer_rows = within("c.id", customer_ids),
    );
    let rows = txn.query_all_raw(params.statement(sql)).await?;
    let mut earned = BTreeSet::new();
    let mut expired: BTreeMap<i64, i64> = BTreeMap::new();
    for row in rows {
        let customer_id: i64 = row.try_get("", "customer_id")?;
        let points: i64 = row.try_get("", "points")?;
        let remaining: i64 = row.try_get("", "remaining")?;
        earned.insert(customer_id);
        if remaining < points {
            *expired.entry(customer_id).or_default() += points - remaining;
        }
    }
    if let Some(cutoff) = expired_before
        && !expired.is_empty()
    {
        let entries: Vec<loyalty_entry::ActiveModel> = expired
            .into_iter()
            .map(|(customer_id, points)| loyalty_entry::ActiveModel {
                customer_id: Set(customer_id),
                kind: Set(LedgerKind::Expire),
                points: Set(-points),
                remaining: Set(0),
                occurred_at: Set(now),
                reason: Set(Some(expiry_reason(cutoff))),
                created_at: Set(now),
                ..Default::default()
            })
            .collect();
        for batch in entries.chunks(1_000) {
            loyalty_entry::Entity::insert_many(batch.to_vec())
                .exec_without_returning(txn)
                .await?;
        }
    }
    let earned: Vec<i64> = earned.into_iter().collect();
    refresh_balances(txn, &earned, now).await?;
    Ok(earned)
}

/// Opens an account for each of these customers who has ledger entries and none yet,
/// and sets each one's balance to the sum of their ledger. The caller holds the
/// customers' locks.
pub(crate) async fn refresh_balances(
    txn: &impl ConnectionTrait,
    customer_ids: &[i64],
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    if customer_ids.is_empty() {
        return Ok(());
    }
    let customers = among("customer_id", customer_ids);
    let mut params = Params::new(txn.get_database_backend());
    let at = params.bind(now);
    txn.execute_raw(params.statement(format!(
        "INSERT INTO loyalty_accounts (customer_id, balance, created_at, updated_at) \
         SELECT DISTINCT customer_id, 0, {at}, {at} FROM loyalty_ledger \
         WHERE {customers} \
         ON CONFLICT (customer_id) DO NOTHING"
    )))
    .await?;
    let mut params = Params::new(txn.get_database_backend());
    let at = params.bind(now);
    txn.execute_raw(params.statement(format!(
        "UPDATE loyalty_accounts SET balance = sums.points, updated_at = {at} \
         FROM (SELECT customer_id, SUM(points) AS points FROM loyalty_ledger \
               WHERE {customers} GROUP BY customer_id) sums \
         WHERE loyalty_accounts.customer_id = sums.customer_id \
           AND loyalty_accounts.balance <> sums.points"
    )))
    .await?;
    Ok(())
}

/// A bonus lot to award.
#[derive(Clone, Debug)]
pub struct Bonus {
    pub customer_id: i64,
    pub points: i64,
    /// What makes it count once for the customer (`birthday:2026`, `referral:42`).
    pub cause_key: String,
    pub reason: Option<String>,
    /// The email it came through, if any.
    pub email_id: Option<i64>,
    pub occurred_at: DateTime<Utc>,
}

/// Awards each bonus once per customer and cause key (a key already taken awards
/// nothing), and keeps the balances: one INSERT per 1,000 bonuses and one balance
/// refresh, whatever their number (a bulk of first orders, a demo batch). The caller's
/// transaction holds the customers' locks. How many were awarded.
pub async fn award_bonuses(
    txn: &impl ConnectionTrait,
    bonuses: &[Bonus],
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let lots: Vec<loyalty_entry::ActiveModel> = bonuses
        .iter()
        .filter(|bonus| bonus.points > 0)
        .map(|bonus| loyalty_entry::ActiveModel {
            customer_id: Set(bonus.customer_id),
            kind: Set(LedgerKind::Bonus),
            points: Set(bonus.points),
            remaining: Set(bonus.points),
            occurred_at: Set(bonus.occurred_at),
            email_id: Set(bonus.email_id),
            reason: Set(bonus.reason.clone()),
            cause_key: Set(Some(bonus.cause_key.clone())),
            created_at: Set(now),
            ..Default::default()
        })
        .collect();
    let mut awarded = 0;
    // 1,000 rows of 9 values: below SQLite's 32,766 bound parameters.
    for chunk in lots.chunks(1_000) {
        let inserted = loyalty_entry::Entity::insert_many(chunk.to_vec())
            .on_conflict_do_nothing_on([Column::CustomerId, Column::CauseKey])
            .exec_without_returning(txn)
            .await?;
        if let sea_orm::TryInsertResult::Inserted(rows) = inserted {
            awarded += rows;
        }
    }
    if awarded > 0 {
        let mut customers: Vec<i64> = bonuses.iter().map(|b| b.customer_id).collect();
        customers.sort_unstable();
        customers.dedup();
        refresh_balances(txn, &customers, now).await?;
    }
    Ok(awarded)
}

/// The programme's referral bonus to `referrer_id` for the first order of `referred_id`,
/// placed at `at`: once per referred customer (`referral:<referred id>`).
pub fn referral_bonus(
    programme: &Programme,
    referrer_id: i64,
    referred_id: i64,
    at: DateTime<Utc>,
) -> Bonus {
    Bonus {
        customer_id: referrer_id,
        points: programme.referral_bonus_points,
        cause_key: format!("referral:{referred_id}"),
        reason: Some(format!("referral of customer {referred_id}")),
        email_id: None,
        occurred_at: at,
    }
}

/// Points taken from a member: a redemption, or a negative adjustment.
#[derive(Clone, Debug)]
pub struct Debit {
    pub customer_id: i64,
    pub points: i64,
    pub reason: Option<String>,
    /// A client's key: the same key again answers the entry it made.
    pub idempotency_key: Option<String>,
    /// The API key that asked.
    pub api_key_id: Option<i64>,
}

/// Points given or taken by an admin, with a reason (required).
#[derive(Clone, Debug)]
pub struct Adjustment {
    pub customer_id: i64,
    /// Not 0; negative takes points (never below a balance of 0).
    pub points: i64,
    pub reason: String,
    pub idempotency_key: Option<String>,
    pub api_key_id: Option<i64>,
}

/// Spends `points` of the member's balance, oldest lots first. Refused (`points`) when
/// the balance is smaller — also when concurrent redemptions took it first: they run one
/// at a time per customer, each taking the points only if they are still there.
pub async fn redeem(
    db: &DatabaseConnection,
    debit: Debit,
    now: DateTime<Utc>,
) -> DomainResult<loyalty_entry::Model> {
    let mut problems = Problems::new();
    if debit.points <= 0 || debit.points > MAX_POINTS {
        problems.push(
            None,
            "points",
            format!("must be 1–{MAX_POINTS}, got {}", debit.points),
        );
    }
    check_texts(
        &mut problems,
        debit.reason.as_deref(),
        debit.idempotency_key.as_deref(),
    );
    problems.into_result()?;
    let key = debit
        .idempotency_key
        .as_deref()
        .map(|k| format!("redeem:{}", k.trim()));
    take(db, LedgerKind::Redeem, &debit, key, now).await
}

/// Gives (positive) or takes (negative) points with a reason. A negative adjustment that
/// would take the balance below 0 is refused (`points`).
pub async fn adjust(
    db: &DatabaseConnection,
    adjustment: Adjustment,
    now: DateTime<Utc>,
) -> DomainResult<loyalty_entry::Model> {
    let mut problems = Problems::new();
    if adjustment.points == 0 || adjustment.points.abs() > MAX_POINTS {
        problems.push(
            None,
            "points",
            format!(
                "must be a non-zero number of points up to ±{MAX_POINTS}, got {}",
                adjustment.points
            ),
        );
    }
    if adjustment.reason.trim().is_empty() {
        problems.push(None, "reason", "an adjustment needs a reason");
    }
    check_texts(
        &mut problems,
        Some(&adjustment.reason),
        adjustment.idempotency_key.as_deref(),
    );
    problems.into_result()?;
    let key = adjustment
        .idempotency_key
        .as_deref()
        .map(|k| format!("adjust:{}", k.trim()));
    let debit = Debit {
        customer_id: adjustment.customer_id,
        points: adjustment.points.abs(),
        reason: Some(adjustment.reason.trim().to_owned()),
        idempotency_key: adjustment.idempotency_key,
        api_key_id: adjustment.api_key_id,
    };
    if adjustment.points < 0 {
        return take(db, LedgerKind::Adjust, &debit, key, now).await;
    }
    let txn = begin_for(db, debit.customer_id).await?;
    if let Some(entry) = replayed(&txn, debit.customer_id, key.as_deref(), debit.points).await? {
        return Ok(entry);
    }
    let entry = loyalty_entry::Entity::insert(loyalty_entry::ActiveModel {
        customer_id: Set(debit.customer_id),
        kind: Set(LedgerKind::Adjust),
        points: Set(debit.points),
        remaining: Set(debit.points),
        occurred_at: Set(now),
        api_key_id: Set(debit.api_key_id),
        reason: Set(debit.reason.clone()),
        cause_key: Set(key),
        created_at: Set(now),
        ..Default::default()
    })
    .exec_with_returning(&txn)
    .await
    .context("failed to record the adjustment")?;
    refresh_balances(&txn, &[debit.customer_id], now)
        .await
        .context("failed to keep the balance")?;
    txn.commit()
        .await
        .context("failed to commit the adjustment")?;
    Ok(entry)
}

fn check_texts(problems: &mut Problems, reason: Option<&str>, key: Option<&str>) {
    if let Some(reason) = reason
        && reason.chars().count() > MAX_REASON_CHARS
    {
        problems.push(
            None,
            "reason",
            format!("at most {MAX_REASON_CHARS} characters"),
        );
    }
    if let Some(key) = key
        && (key.trim().is_empty() || key.chars().count() > MAX_KEY_CHARS)
    {
        problems.push(
            None,
            "idempotencyKey",
            format!("must be 1–{MAX_KEY_CHARS} characters"),
        );
    }
}

/// A write transaction holding the customer's lock, once the customer is known (and not
/// erased).
async fn begin_for(
    db: &DatabaseConnection,
    customer_id: i64,
) -> DomainResult<sea_orm::DatabaseTransaction> {
    let txn = locks::begin_write(db)
        .await
        .context("failed to begin a ledger write")?;
    locks::lock_customers(&txn, &[customer_id])
        .await
        .context("failed to lock the customer")?;
    let customer = entity::customer::Entity::find_by_id(customer_id)
        .one(&txn)
        .await
        .context("failed to read the customer")?;
    match customer {
        Some(customer) if customer.erased_at.is_none() => Ok(txn),
        _ => Err(DomainError::not_found(format!("customer {customer_id}"))),
    }
}

/// The entry an idempotency key made before, when the same request comes again; a key
/// reused for other points is refused.
async fn replayed(
    txn: &impl ConnectionTrait,
    customer_id: i64,
    key: Option<&str>,
    points: i64,
) -> DomainResult<Option<loyalty_entry::Model>> {
    let Some(key) = key else {
        return Ok(None);
    };
    let before = loyalty_entry::Entity::find()
        .filter(Column::CustomerId.eq(customer_id))
        .filter(Column::CauseKey.eq(key))
        .one(txn)
        .await
        .context("failed to look up the idempotency key")?;
    match before {
        Some(entry) if entry.points.abs() == points => Ok(Some(entry)),
        Some(_) => Err(DomainError::invalid(
            "idempotencyKey",
            "was used before for a different number of points",
        )),
        None => Ok(None),
    }
}

/// Takes `debit.points` from the balance (guarded), consumes the oldest lots and
/// records the entry.
async fn take(
    db: &DatabaseConnection,
    kind: LedgerKind,
    debit: &Debit,
    key: Option<String>,
    now: DateTime<Utc>,
) -> DomainResult<loyalty_entry::Model> {
    let txn = begin_for(db, debit.customer_id).await?;
    if let Some(entry) = replayed(&txn, debit.customer_id, key.as_deref(), debit.points).await? {
        return Ok(entry);
    }
    let mut params = Params::new(txn.get_database_backend());
    let points = params.bind(debit.points);
    let at = params.bind(now);
    let customer = params.bind(debit.customer_id);
    let taken = txn
        .execute_raw(params.statement(format!(
            "UPDATE loyalty_accounts SET balance = balance - {points}, updated_at = {at} \
             WHERE customer_id = {customer} AND balance >= {points}"
        )))
        .await
        .context("failed to take the points")?;
    if taken.rows_affected() == 0 {
        let balance = entity::loyalty_account::Entity::find_by_id(debit.customer_id)
            .one(&txn)
            .await
            .context("failed to read the balance")?
            .map_or(0, |account| account.balance);
        let what = if kind == LedgerKind::Redeem {
            "redeem"
        } else {
            "take"
        };
        return Err(DomainError::invalid(
            "points",
            format!(
                "cannot {what} {} points: the balance is {balance} points",
                debit.points
            ),
        ));
    }
    let lots: Vec<Lot> = loyalty_entry::Entity::find()
        .select_only()
        .columns([Column::Id, Column::Remaining])
        .filter(Column::CustomerId.eq(debit.customer_id))
        .filter(Column::Remaining.gt(0))
        .order_by_asc(Column::OccurredAt)
        .order_by_asc(Column::Id)
        .into_tuple::<(i64, i64)>()
        .all(&txn)
        .await
        .context("failed to read the lots")?
        .into_iter()
        .map(|(id, remaining)| Lot { id, remaining })
        .collect();
    let consumed = consume_fifo(&lots, debit.points).ok_or_else(|| {
        anyhow::anyhow!(
            "the lots of customer {} hold less than its balance",
            debit.customer_id
        )
    })?;
    for (lot, points) in consumed {
        let mut params = Params::new(txn.get_database_backend());
        let points = params.bind(points);
        let customer = params.bind(debit.customer_id);
        let lot = params.bind(lot);
        txn.execute_raw(params.statement(format!(
            "UPDATE loyalty_ledger SET remaining = remaining - {points} \
             WHERE customer_id = {customer} AND id = {lot}"
        )))
        .await
        .context("failed to consume a lot")?;
    }
    let entry = loyalty_entry::Entity::insert(loyalty_entry::ActiveModel {
        customer_id: Set(debit.customer_id),
        kind: Set(kind),
        points: Set(-debit.points),
        remaining: Set(0),
        occurred_at: Set(now),
        api_key_id: Set(debit.api_key_id),
        reason: Set(debit
            .reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_owned)),
        cause_key: Set(key),
        created_at: Set(now),
        ..Default::default()
    })
    .exec_with_returning(&txn)
    .await
    .context("failed to record the entry")?;
    txn.commit().await.context("failed to commit the entry")?;
    Ok(entry)
}

/// Erasure: the free-text reasons of the customer's entries go (the points stay: they
/// are the business's liability, not personal data).
pub async fn erase_reasons(db: &impl ConnectionTrait, customer_id: i64) -> Result<(), DbErr> {
    loyalty_entry::Entity::update_many()
        .col_expr(
            Column::Reason,
            sea_orm::sea_query::Expr::value(Option::<String>::None),
        )
        .filter(Column::CustomerId.eq(customer_id))
        .exec(db)
        .await
        .map(|_| ())
}
