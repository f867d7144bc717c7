//! Orders: recording them (validated, idempotent by externalId, all-or-nothing) and the
//! aggregates the customer row keeps about them ([`aggregates`]). Orders are immutable
//! once recorded: sending a known externalId again changes nothing, so a partner can
//! safely retry a whole batch.

/// The kept aggregates on `customers`: one formula for every writer.
pub mod aggregates;

use std::collections::{HashMap, HashSet};

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use entity::{Money, order};
use rust_decimal::Decimal;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set,
    sea_query::{OnConflict, Query},
};

pub use aggregates::OrderAggregates;

use crate::customers::{self, CustomerRef, MAX_BATCH, locks};
use crate::domain::{CurrencyCode, Label};
use crate::errors::{DomainError, DomainResult, Problems};

/// The largest amount one order may have: 1,000,000,000 in its currency (10¹³ units).
/// Totals over any number of orders are exact whatever the amounts
/// ([`entity::sql::money_sum`]); this bound keeps the amounts themselves plausible and
/// gives a customer room for almost a million such orders before their own total reaches
/// the range of one amount ([`MAX_CUSTOMER_TOTAL`]).
pub const MAX_ORDER_AMOUNT: Money = Money(1_000_000_000 * 10_000);

/// The most one customer's orders may add up to: the range of one amount, which the
/// kept `totalSpent` (and the first day's total) must fit in.
pub const MAX_CUSTOMER_TOTAL: Money = Money(i64::MAX);

/// Clock skew tolerated on `orderedAt`.
const FUTURE_TOLERANCE: Duration = Duration::minutes(5);

/// One order as sent (`input[i]` of `recordOrders`).
#[derive(Clone, Debug)]
pub struct NewOrder {
    pub external_id: String,
    pub customer_id: Option<String>,
    pub customer_external_id: Option<String>,
    /// In the currency's units (`29.90` USD).
    pub amount: Decimal,
    /// ISO 4217.
    pub currency: String,
    pub ordered_at: DateTime<Utc>,
    pub channel: Option<String>,
    /// Default 1.
    pub item_count: Option<i32>,
}

/// What [`record`] did.
#[derive(Debug)]
pub struct Recorded {
    /// Every order of the input, in input order, as stored.
    pub orders: Vec<order::Model>,
    /// Orders stored by this call.
    pub created: u32,
    /// Orders whose externalId was already known (left as they were).
    pub unchanged: u32,
}

/// An amount as stored: not negative, within the currency's minor units and
/// [`MAX_ORDER_AMOUNT`].
fn parse_amount(amount: Decimal, currency: Option<&CurrencyCode>) -> Result<Money, String> {
    if amount.is_sign_negative() && !amount.is_zero() {
        return Err(format!("amount {amount} is negative"));
    }
    if let Some(currency) = currency
        && amount.normalize().scale() > currency.minor_units()
    {
        return Err(format!(
            "amount {amount} has more decimal places than {} has ({})",
            currency.as_str(),
            currency.minor_units()
        ));
    }
    let too_large = || {
        format!(
            "amount {amount} is more than the largest order amount, {}",
            MAX_ORDER_AMOUNT.to_decimal()
        )
    };
    let money = Money::from_decimal(amount).map_err(|error| match error {
        entity::money::MoneyError::TooPrecise => {
            format!("amount {amount} has more than four decimal places")
        }
        entity::money::MoneyError::OutOfRange => too_large(),
    })?;
    if money > MAX_ORDER_AMOUNT {
        return Err(too_large());
    }
    Ok(money)
}

/// Checks every order; the rows to insert, or every problem of the input.
async fn parse(
    db: &DatabaseConnection,
    input: &[NewOrder],
) -> DomainResult<Vec<order::ActiveModel>> {
    let mut problems = Problems::new();
    let refs: Vec<CustomerRef> = input
        .iter()
        .enumerate()
        .map(|(index, row)| CustomerRef {
            index: Some(index),
            prefix: format!("input[{index}]"),
            customer_id: row.customer_id.as_deref(),
            customer_external_id: row.customer_external_id.as_deref(),
        })
        .collect();
    let customers = customers::resolve_refs(db, &refs, &mut problems)
        .await
        .context("failed to resolve the orders' customers")?;
    let latest_allowed = Utc::now() + FUTURE_TOLERANCE;
    let now = Utc::now();
    let mut seen = HashSet::new();
    let mut rows = Vec::with_capacity(input.len());
    for (index, (row, customer_id)) in input.iter().zip(customers).enumerate() {
        let field = |name: &str| format!("input[{index}].{name}");
        let external_id = problems.check(
            Some(index),
            &field("externalId"),
            Label::parse(&row.external_id, 128),
        );
        if let Some(external_id) = &external_id
            && !seen.insert(external_id.clone())
        {
            problems.push(
                Some(index),
                field("externalId"),
                "appears twice in the input",
            );
        }
        let currency = problems.check(
            Some(index),
            &field("currency"),
            CurrencyCode::parse(&row.currency),
        );
        let amount = problems.check(
            Some(index),
            &field("amount"),
            parse_amount(row.amount, currency.as_ref()),
        );
        if row.ordered_at > latest_allowed {
            problems.push(
                Some(index),
                field("orderedAt"),
                format!("{} is in the future", row.ordered_at.to_rfc3339()),
            );
        }
        let channel = match &row.channel {
            Some(channel) => problems
                .check(Some(index), &field("channel"), Label::parse(channel, 64))
                .map(Label::into_inner),
            None => None,
        };
        let item_count = row.item_count.unwrap_or(1);
        if !(1..=100_000).contains(&item_count) {
            problems.push(
                Some(index),
                field("itemCount"),
                format!("must be between 1 and 100000, got {item_count}"),
            );
        }
        if let (Some(external_id), Some(customer_id), Some(amount), Some(currency)) =
            (external_id, customer_id, amount, currency)
        {
            rows.push(order::ActiveModel {
                external_id: Set(external_id.into_inner()),
                customer_id: Set(customer_id),
                amount: Set(amount),
                currency: Set(currency.into_inner()),
                ordered_at: Set(row.ordered_at),
                channel: Set(channel),
                item_count: Set(item_count),
                created_at: Set(now),
                ..Default::default()
            });
        }
    }
    problems.into_result()?;
    Ok(rows)
}

/// Records up to [`MAX_BATCH`] orders, idempotent by externalId, and keeps the aggregates
/// of their customers. If any order is invalid nothing is written and the error lists
/// every bad row.
pub async fn record(db: &DatabaseConnection, input: &[NewOrder]) -> DomainResult<Recorded> {
    if input.len() > MAX_BATCH {
        return Err(DomainError::invalid(
            "input",
            format!("at most {MAX_BATCH} orders per call, got {}", input.len()),
        ));
    }
    let rows = parse(db, input).await?;
    let external_ids: Vec<String> = input
        .iter()
        .map(|row| row.external_id.trim().to_owned())
        .collect();
    // The customers whose aggregates this call may change, locked before the insert:
    // the recomputation below then sees every order committed before it, and no
    // concurrent call for the same customer can write aggregates from an older view.
    let mut touched: Vec<i64> = rows
        .iter()
        .filter_map(|row| match &row.customer_id {
            sea_orm::ActiveValue::Set(id) | sea_orm::ActiveValue::Unchanged(id) => Some(*id),
            sea_orm::ActiveValue::NotSet => None,
        })
        .collect();
    touched.sort_unstable();
    touched.dedup();
    let programme = crate::loyalty::programme(db)
        .await
        .context("failed to read the loyalty programme")?;
    // Referred customers ordering for the first time earn their referrer a bonus in
    // this transaction: the referrers are locked with them, in one sorted set.
    let awaiting = if programme.referral_bonus_points > 0 {
        crate::referrals::awaiting_first_order(db, &touched)
            .await
            .context("failed to read the orders' referred customers")?
    } else {
        Vec::new()
    };
    let mut locked = touched.clone();
    locked.extend(awaiting.iter().map(|(_, referrer)| *referrer));
    let txn = locks::begin_write(db)
        .await
        .context("failed to begin recording orders")?;
    locks::lock_customers(&txn, &locked)
        .await
        .context("failed to lock the orders' customers")?;
    let fresh = claim_external_ids(&txn, &rows)
        .await
        .context("failed to claim the orders' externalIds")?;
    let rows: Vec<order::ActiveModel> = rows
        .into_iter()
        .filter(|row| matches!(&row.external_id, Set(id) if fresh.contains(id)))
        .collect();
    let created = if rows.is_empty() {
        0
    } else {
        order::Entity::insert_many(rows)
            .exec_without_returning(&txn)
            .await
            .context("failed to insert orders")?
    };
    // Read back through the owners, so that each order is read on its customer's shard.
    let owners: Vec<i64> = entity::order_external_id::Entity::find()
        .filter(entity::order_external_id::Column::ExternalId.is_in(external_ids.clone()))
        .all(&txn)
        .await
        .context("failed to read the orders' owners")?
        .into_iter()
        .map(|key| key.customer_id)
        .collect();
    let mut stored = order::Entity::find()
        .filter(order::Column::CustomerId.is_in(owners))
        .filter(order::Column::ExternalId.is_in(external_ids.clone()))
        .all(&txn)
        .await
        .context("failed to read the recorded orders back")?;
    // Orders already known keep their customers' aggregates as they were; only the
    // customers of this input (locked above) can have new orders.
    if created > 0 {
        match aggregates::refresh(&txn, &touched).await {
            Ok(()) => {}
            // Dropping the transaction takes the orders back.
            Err(aggregates::RefreshError::OverTotal(customer_id)) => {
                return Err(DomainError::invalid(
                    "input",
                    format!(
                        "the orders of customer {customer_id} would add up to more than {}, \
                         the most one customer's orders may total",
                        MAX_CUSTOMER_TOTAL.to_decimal()
                    ),
                ));
            }
            Err(aggregates::RefreshError::Database(error)) => {
                return Err(anyhow::Error::from(error)
                    .context("failed to refresh the customers' order aggregates")
                    .into());
            }
        }
    }
    // Their points at once, in the same transaction (the `loyalty` job catches up on
    // anything missed); once per order, so a replayed batch earns nothing.
    if created > 0 {
        let now = Utc::now();
        crate::loyalty::earn_orders_of(&txn, &programme, &touched, now)
            .await
            .context("failed to earn the orders' loyalty points")?;
        crate::referrals::reward_first_orders(&txn, &programme, &awaiting, |_| now, now)
            .await
            .context("failed to award the referral bonuses")?;
    }
    txn.commit()
        .await
        .context("failed to commit recorded orders")?;

    let position: HashMap<&str, usize> = external_ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    stored.sort_by_key(|o| {
        position
            .get(o.external_id.as_str())
            .copied()
            .unwrap_or(usize::MAX)
    });
    let created = created as u32;
    Ok(Recorded {
        unchanged: (stored.len() as u32).saturating_sub(created),
        created,
        orders: stored,
    })
}

/// Records the externalIds of these orders as taken, each by its customer, and returns
/// the ones that were new: the orders to insert. An externalId known already — recorded
/// before, or by a concurrent call that committed first (the insert waits for it) — is
/// left as it was, which is what makes sending a batch twice record it once.
async fn claim_external_ids(
    db: &impl ConnectionTrait,
    rows: &[order::ActiveModel],
) -> Result<HashSet<String>, DbErr> {
    use entity::order_external_id::Column;
    let mut insert = Query::insert();
    insert
        .into_table(entity::order_external_id::Entity)
        .columns([Column::ExternalId, Column::CustomerId])
        .on_conflict(
            OnConflict::column(Column::ExternalId)
                .do_nothing()
                .to_owned(),
        )
        .returning_col(Column::ExternalId);
    let mut any = false;
    for row in rows {
        if let (Set(external_id), Set(customer_id)) = (&row.external_id, &row.customer_id) {
            insert
                .values([external_id.clone().into(), (*customer_id).into()])
                .map_err(|error| DbErr::Custom(error.to_string()))?;
            any = true;
        }
    }
    if !any {
        return Ok(HashSet::new());
    }
    let statement = db.get_database_backend().build(&insert);
    db.query_all_raw(statement)
        .await?
        .iter()
        .map(|row| row.try_get::<String>("", "external_id"))
        .collect()
}
