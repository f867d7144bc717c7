//! The daily `loyalty` job, for the UTC day asOf: points of orders not earned yet (the
//! order path earns at once; this catches up whatever it missed, e.g. orders recorded
//! before the programme existed), birthday bonuses, expiries, then tiers with grace.
//!
//! Each step first finds the customers it concerns (one set-based statement), then works
//! through them in chunks, each chunk in a transaction holding the chunk's customer locks
//! and written with set-based statements joined on `customer_id`; on Citus a chunk holds
//! the customers of one shard, so its statements go to that shard alone. Re-running a day
//! changes nothing: every bonus has its cause key, expired lots are consumed, and tier
//! decisions depend on the stored state.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use anyhow::Context;
use chrono::{Datelike, Days, NaiveDate, Utc};
use entity::{LedgerKind, loyalty_account, loyalty_tier_event, sql::Params};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, Statement,
};

use super::ledger::{among, earn_orders_of, refresh_balances};
use super::programme::{Programme, programme};
use super::reports::{expiry_cutoff, expiry_reason, standings_of};
use super::tiers::{self, Current};
use crate::customers::locks;
use crate::customers::shards::Placement;
use crate::{JobContext, JobStats, app_settings, bulk, day_start};

/// Customers per transaction.
const CHUNK: usize = 5_000;

/// The width of the windows of customer ids whose members' tiers are evaluated per step:
/// the daily run reads every member's standing, and fewer, larger steps cost fewer round
/// trips.
const TIER_CHUNK: i64 = 20_000;

/// The `loyalty` job for `as_of`.
pub async fn run(context: &JobContext, as_of: NaiveDate) -> anyhow::Result<JobStats> {
    let db = &context.db;
    let started = Instant::now();
    let programme = programme(db).await?;
    let mut stats = JobStats::default();
    stats.set("asOf", as_of.to_string());
    let placement = Placement::of(db)
        .await
        .context("failed to read where customers are placed")?;
    let earned = catch_up_earning(db, placement, &programme).await?;
    stats.set("customersEarned", earned);
    let birthdays = birthday_bonuses(db, placement, &programme, as_of).await?;
    stats.set("birthdayBonuses", birthdays);
    let (expired_customers, expired_points) = expire(db, placement, &programme, as_of).await?;
    stats.set("customersExpired", expired_customers);
    stats.set("pointsExpired", expired_points);
    let changes = evaluate_tiers(db, placement, &programme, as_of).await?;
    for (reason, count) in &changes {
        stats.set(&format!("tier{}", camel(reason)), *count);
    }
    if earned + birthdays + expired_customers >= bulk::ANALYZE_AFTER_ROWS {
        bulk::analyze(db, &["loyalty_ledger", "loyalty_accounts"])
            .await
            .context("failed to analyze the ledger")?;
    }
    stats.set("seconds", started.elapsed().as_secs_f64());
    Ok(stats)
}

/// `GRACE_STARTED` → `GraceStarted`.
fn camel(stored: &str) -> String {
    stored
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_string() + &chars.as_str().to_lowercase()
            })
        })
        .collect()
}

async fn ids_of(db: &DatabaseConnection, statement: Statement) -> anyhow::Result<Vec<i64>> {
    db.query_all_raw(statement)
        .await?
        .iter()
        .map(|row| row.try_get_by_index::<i64>(0).map_err(Into::into))
        .collect()
}

/// Where the catch-up keeps the highest order id it has checked: every order up to it has
/// its points (or is worth none, or is an erased customer's). Orders recorded later earn
/// in their own transaction, so a daily run only looks at orders above it.
const CHECKED_THROUGH_KEY: &str = "loyalty_orders_checked_through";

/// Order ids checked per step of the catch-up: a first run over a large imported history
/// works through it in bounded statements and resumes where a stopped run left off.
const ORDER_ID_WINDOW: i64 = 1_000_000;

/// Earns every order that has no points yet among those recorded since the last run
/// checked (all of them the first time). The number of customers who earned.
///
/// An order whose id is at or below the mark but whose transaction committed after the
/// run read the highest id was recorded through `recordOrders`, which earns in its own
/// transaction: nothing is missed. A programme that earns nothing moves no mark, so the
/// orders of a time without earning are caught up once earning starts.
async fn catch_up_earning(
    db: &DatabaseConnection,
    placement: Placement,
    programme: &Programme,
) -> anyhow::Result<u64> {
    let rate = programme.rate_hundredths();
    if rate == 0 {
        return Ok(0);
    }
    let mut checked: i64 = app_settings::load(db, CHECKED_THROUGH_KEY)
        .await?
        .unwrap_or(0);
    let highest = ids_of(
        db,
        Statement::from_string(
            db.get_database_backend(),
            "SELECT COALESCE(MAX(id), 0) FROM orders",
        ),
    )
    .await
    .context("failed to read the highest order id")?
    .first()
    .copied()
    .unwrap_or(0);
    let mut earned = 0;
    while checked < highest {
        let through = checked.saturating_add(ORDER_ID_WINDOW).min(highest);
        let mut params = Params::new(db.get_database_backend());
        let rate = params.bind(rate);
        let (above, upto) = (params.bind(checked), params.bind(through));
        let points = Programme::points_sql("o.amount", &rate);
        let customers = ids_of(
            db,
            params.statement(format!(
                "SELECT DISTINCT o.customer_id FROM orders o \
                 JOIN customers c ON c.id = o.customer_id \
                 WHERE o.id > {above} AND o.id <= {upto} AND c.erased_at IS NULL AND {points} > 0 \
                   AND NOT EXISTS (SELECT 1 FROM loyalty_ledger l WHERE l.customer_id = o.customer_id \
                                   AND l.cause_key = 'order:' || CAST(o.id AS TEXT)) \
                 ORDER BY 1"
            )),
        )
        .await
        .context("failed to find orders without points")?;
        for chunk in placement.chunks(db, &customers, CHUNK).await? {
            let txn = locks::begin_write(db).await?;
            locks::lock_customers(&txn, &chunk).await?;
            earned += earn_orders_of(&txn, programme, &chunk, Utc::now())
                .await
                .context("failed to earn points")?
                .len() as u64;
            txn.commit().await?;
        }
        app_settings::save(db, CHECKED_THROUGH_KEY, &through).await?;
        checked = through;
    }
    Ok(earned)
}

/// The `MM-DD` of a date column.
fn month_day(backend: sea_orm::DatabaseBackend, column: &str) -> String {
    match backend {
        sea_orm::DatabaseBackend::Postgres => format!("to_char({column}, 'MM-DD')"),
        _ => format!("substr({column}, 6, 5)"),
    }
}

/// The birthday bonus for members whose birthday is `as_of` (29 February birthdays on
/// 28 February of other years, as the birthday greeting does), once a year
/// (`birthday:<year>`). The number awarded.
async fn birthday_bonuses(
    db: &DatabaseConnection,
    placement: Placement,
    programme: &Programme,
    as_of: NaiveDate,
) -> anyhow::Result<u64> {
    if programme.birthday_bonus_points <= 0 {
        return Ok(0);
    }
    let backend = db.get_database_backend();
    let days: Vec<String> = crate::campaigns::timing::greeted_month_days(as_of)
        .into_iter()
        .map(|day| format!("'{day}'"))
        .collect();
    let members = ids_of(
        db,
        Statement::from_string(
            backend,
            format!(
                "SELECT a.customer_id FROM loyalty_accounts a JOIN customers c ON c.id = a.customer_id \
                 WHERE c.erased_at IS NULL AND c.birth_date IS NOT NULL AND {} IN ({}) \
                 ORDER BY 1",
                month_day(backend, "c.birth_date"),
                days.join(", ")
            ),
        ),
    )
    .await
    .context("failed to find birthdays")?;
    let mut awarded = 0;
    for chunk in placement.chunks(db, &members, CHUNK).await? {
        let txn = locks::begin_write(db).await?;
        locks::lock_customers(&txn, &chunk).await?;
        let now = Utc::now();
        let mut params = Params::new(backend);
        let points = params.bind(programme.birthday_bonus_points);
        let at = params.bind(day_start(as_of));
        let key = params.bind(format!("birthday:{}", as_of.year()));
        let created = params.bind(now);
        let rows = txn
            .query_all_raw(params.statement(format!(
                "INSERT INTO loyalty_ledger \
                   (customer_id, kind, points, remaining, occurred_at, reason, cause_key, created_at) \
                 SELECT id, '{bonus}', {points}, {points}, {at}, 'birthday', {key}, {created} \
                 FROM customers WHERE {customers} \
                 ON CONFLICT (customer_id, cause_key) DO NOTHING \
                 RETURNING customer_id",
                bonus = LedgerKind::Bonus.as_str(),
                customers = among("id", &chunk)
            )))
            .await
            .context("failed to award birthday bonuses")?;
        let ids: Vec<i64> = rows
            .iter()
            .map(|row| row.try_get::<i64>("", "customer_id"))
            .collect::<Result<_, _>>()?;
        refresh_balances(&txn, &ids, now).await?;
        txn.commit().await?;
        awarded += ids.len() as u64;
    }
    Ok(awarded)
}

/// Expires what is left of the lots that turned `expiry_months` old by the end of
/// `as_of`: one EXPIRE entry per customer for their sum, the lots consumed. The
/// customers and points expired.
async fn expire(
    db: &DatabaseConnection,
    placement: Placement,
    programme: &Programme,
    as_of: NaiveDate,
) -> anyhow::Result<(u64, i64)> {
    let Some(cutoff) = expiry_cutoff(programme, as_of) else {
        return Ok((0, 0));
    };
    let backend = db.get_database_backend();
    let mut params = Params::new(backend);
    let before = params.bind(cutoff);
    let customers = ids_of(
        db,
        params.statement(format!(
            "SELECT DISTINCT customer_id FROM loyalty_ledger \
             WHERE remaining > 0 AND occurred_at < {before} ORDER BY 1"
        )),
    )
    .await
    .context("failed to find expiring lots")?;
    let mut points_expired = 0;
    for chunk in placement.chunks(db, &customers, CHUNK).await? {
        let txn = locks::begin_write(db).await?;
        locks::lock_customers(&txn, &chunk).await?;
        let now = Utc::now();
        let customers = among("customer_id", &chunk);
        let mut params = Params::new(backend);
        let at = params.bind(day_start(as_of));
        let reason = params.bind(expiry_reason(cutoff));
        let created = params.bind(now);
        let before = params.bind(cutoff);
        let rows = txn
            .query_all_raw(params.statement(format!(
                "INSERT INTO loyalty_ledger \
                   (customer_id, kind, points, remaining, occurred_at, reason, created_at) \
                 SELECT customer_id, '{expire}', -SUM(remaining), 0, {at}, {reason}, {created} \
                 FROM loyalty_ledger \
                 WHERE {customers} AND remaining > 0 AND occurred_at < {before} \
                 GROUP BY customer_id \
                 RETURNING points",
                expire = LedgerKind::Expire.as_str(),
            )))
            .await
            .context("failed to record expiries")?;
        for row in rows {
            points_expired -= row.try_get::<i64>("", "points")?;
        }
        let mut params = Params::new(backend);
        let before = params.bind(cutoff);
        txn.execute_raw(params.statement(format!(
            "UPDATE loyalty_ledger SET remaining = 0 \
             WHERE {customers} AND remaining > 0 AND occurred_at < {before}"
        )))
        .await
        .context("failed to consume expired lots")?;
        refresh_balances(&txn, &chunk, now).await?;
        txn.commit().await?;
    }
    Ok((customers.len() as u64, points_expired))
}

/// Evaluates every member's tier for `as_of` and writes the changes and their events.
///
/// Members are read a window of customer ids at a time (at most [`TIER_CHUNK`] ids wide),
/// not as keyset pages of `LIMIT` rows: on Citus every shard would return a whole page
/// for the coordinator to merge and cut, a shard count's worth of rows for each page kept.
async fn evaluate_tiers(
    db: &DatabaseConnection,
    placement: Placement,
    programme: &Programme,
    as_of: NaiveDate,
) -> anyhow::Result<BTreeMap<&'static str, u64>> {
    let day_end = day_start(as_of.checked_add_days(Days::new(1)).unwrap_or(as_of));
    let since = day_start(as_of);
    let mut counts = BTreeMap::new();
    let mut after = i64::MIN;
    loop {
        let accounts = loyalty_account::Entity::find()
            .filter(loyalty_account::Column::CustomerId.gt(after))
            .filter(loyalty_account::Column::CustomerId.lte(after.saturating_add(TIER_CHUNK)))
            .order_by_asc(loyalty_account::Column::CustomerId)
            .all(db)
            .await
            .context("failed to read accounts")?;
        if accounts.is_empty() {
            // An empty window: on to the next member, if there is one.
            let next = loyalty_account::Entity::find()
                .filter(loyalty_account::Column::CustomerId.gt(after))
                .order_by_asc(loyalty_account::Column::CustomerId)
                .one(db)
                .await
                .context("failed to find the next member")?;
            match next {
                Some(next) => {
                    after = next.customer_id - 1;
                    continue;
                }
                None => break,
            }
        }
        after = after.saturating_add(TIER_CHUNK);
        let ids: Vec<i64> = accounts.iter().map(|a| a.customer_id).collect();
        // Standings read per shard; each member's shard kept for the writes below.
        let mut standings = HashMap::new();
        let mut shard_of = HashMap::new();
        for (shard, group) in placement.group(db, &ids).await?.iter().enumerate() {
            standings.extend(standings_of(db, group, day_end, &programme.bases()).await?);
            shard_of.extend(group.iter().map(|id| (*id, shard)));
        }
        // Changes grouped by shard and what they write, so each group is one statement.
        let mut groups: BTreeMap<_, Vec<i64>> = BTreeMap::new();
        let mut events = Vec::new();
        for account in &accounts {
            let current = Current {
                tier: account.tier.clone(),
                grace_until: account.grace_until,
            };
            let standing = standings
                .get(&account.customer_id)
                .copied()
                .unwrap_or_default();
            let Some(change) = tiers::decide(programme, &current, &standing, as_of) else {
                continue;
            };
            *counts.entry(change.reason.as_str()).or_default() += 1;
            events.push(loyalty_tier_event::ActiveModel {
                customer_id: Set(account.customer_id),
                from_tier: Set(change.from.clone()),
                to_tier: Set(change.to.clone()),
                reason: Set(change.reason),
                grace_until: Set(change.grace_until),
                occurred_at: Set(since),
                ..Default::default()
            });
            let shard = shard_of
                .get(&account.customer_id)
                .copied()
                .unwrap_or_default();
            groups
                .entry((
                    shard,
                    change.tier.clone(),
                    change.new_since,
                    change.grace_until,
                ))
                .or_default()
                .push(account.customer_id);
        }
        if events.is_empty() {
            continue;
        }
        let txn = locks::begin_write(db).await?;
        for ((_, tier, new_since, grace_until), ids) in groups {
            let mut params = Params::new(db.get_database_backend());
            let tier = params.bind(tier);
            let grace = params.bind(grace_until);
            let now = params.bind(Utc::now());
            let since_sql = if new_since {
                params.bind(since)
            } else {
                "tier_since".to_owned()
            };
            txn.execute_raw(params.statement(format!(
                "UPDATE loyalty_accounts SET tier = {tier}, tier_since = {since_sql}, \
                 grace_until = {grace}, updated_at = {now} WHERE {customers}",
                customers = among("customer_id", &ids)
            )))
            .await
            .context("failed to change tiers")?;
        }
        for batch in events.chunks(1_000) {
            loyalty_tier_event::Entity::insert_many(batch.to_vec())
                .exec_without_returning(&txn)
                .await
                .context("failed to record tier changes")?;
        }
        txn.commit().await?;
    }
    Ok(counts)
}
