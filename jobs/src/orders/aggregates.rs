//! What a customer row keeps about the customer's orders, so that lists sort and filter
//! by it through indexes and the scoring jobs never rescan orders. One formula, used
//! wherever such a row is written: `recordOrders` (for the customers it touched) and the
//! demo generator (for the customers it makes, before they are inserted).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use entity::sql::nth_placeholder;
use entity::{Money, customer, order};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect, Statement, Value,
};

use crate::lifecycle::rules::median_gap;
use crate::value::scoring::day_number;

use super::MAX_CUSTOMER_TOTAL;

/// The kept aggregates of one customer's orders. Days are UTC days.
#[derive(Clone, Debug, PartialEq)]
pub struct OrderAggregates {
    pub order_count: i64,
    pub total_spent: Money,
    pub first_order_at: Option<DateTime<Utc>>,
    pub last_order_at: Option<DateTime<Utc>>,
    /// Distinct days with an order (what the value models count as purchases).
    pub purchase_days: i64,
    /// What the first purchase day's orders add up to (Gamma-Gamma leaves it out).
    pub first_day_total: Money,
    /// The median gap in days between purchase days: the customer's rhythm, for the
    /// lifecycle rules. None with fewer than two purchase days.
    pub median_gap_days: Option<f64>,
}

impl OrderAggregates {
    /// A customer without orders.
    pub const NONE: OrderAggregates = OrderAggregates {
        order_count: 0,
        total_spent: Money::ZERO,
        first_order_at: None,
        last_order_at: None,
        purchase_days: 0,
        first_day_total: Money::ZERO,
        median_gap_days: None,
    };

    /// The aggregates of these orders (time and amount, in any order); `None` when the
    /// amounts add up to more than [`MAX_CUSTOMER_TOTAL`], which a customer row cannot
    /// hold. Summed without overflow, so the question can be asked of any orders.
    pub fn of(orders: &[(DateTime<Utc>, Money)]) -> Option<Self> {
        let mut orders = orders.to_vec();
        orders.sort_unstable_by_key(|(at, _)| *at);
        let total: i128 = orders.iter().map(|(_, amount)| i128::from(amount.0)).sum();
        if total > i128::from(MAX_CUSTOMER_TOTAL.0) {
            return None;
        }
        let mut days: Vec<NaiveDate> = orders.iter().map(|(at, _)| at.date_naive()).collect();
        days.dedup();
        let first_day_total: i128 = orders
            .iter()
            .take_while(|(at, _)| Some(at.date_naive()) == days.first().copied())
            .map(|(_, amount)| i128::from(amount.0))
            .sum();
        let day_numbers: Vec<i64> = days.iter().map(|day| day_number(*day)).collect();
        Some(OrderAggregates {
            order_count: orders.len() as i64,
            total_spent: Money(i64::try_from(total).ok()?),
            first_order_at: orders.first().map(|(at, _)| *at),
            last_order_at: orders.last().map(|(at, _)| *at),
            purchase_days: days.len() as i64,
            first_day_total: Money(i64::try_from(first_day_total).ok()?),
            median_gap_days: median_gap(&day_numbers),
        })
    }

    /// The aggregates a stored customer row holds.
    pub fn kept_on(row: &customer::Model) -> Self {
        OrderAggregates {
            order_count: row.order_count,
            total_spent: row.total_spent,
            first_order_at: row.first_order_at,
            last_order_at: row.last_order_at,
            purchase_days: row.purchase_days,
            first_day_total: row.first_day_total,
            median_gap_days: row.median_gap_days,
        }
    }

    /// Leaves the aggregates out of an update of a customer row: a profile write (an
    /// update, an upsert, an erasure) is built from a row read before, and writing its
    /// copy of the aggregates back would undo orders recorded in between. Only
    /// [`refresh`] writes them, under the customers' locks.
    pub fn leave_out(row: &mut customer::ActiveModel) {
        use sea_orm::ActiveValue::NotSet;
        row.order_count = NotSet;
        row.total_spent = NotSet;
        row.first_order_at = NotSet;
        row.last_order_at = NotSet;
        row.purchase_days = NotSet;
        row.first_day_total = NotSet;
        row.median_gap_days = NotSet;
    }

    /// Writes the aggregates into a customer row about to be stored.
    pub fn apply_to(&self, row: &mut customer::Model) {
        row.order_count = self.order_count;
        row.total_spent = self.total_spent;
        row.first_order_at = self.first_order_at;
        row.last_order_at = self.last_order_at;
        row.purchase_days = self.purchase_days;
        row.first_day_total = self.first_day_total;
        row.median_gap_days = self.median_gap_days;
    }
}

/// Why the aggregates were not written.
#[derive(Debug)]
pub enum RefreshError {
    /// This customer's orders add up to more than [`MAX_CUSTOMER_TOTAL`].
    OverTotal(i64),
    Database(DbErr),
}

impl From<DbErr> for RefreshError {
    fn from(error: DbErr) -> Self {
        Self::Database(error)
    }
}

/// Recomputes the aggregates of these customers from all their stored orders and
/// writes them; run it in the transaction that changed the orders, with the customers
/// locked ([`crate::customers::locks::lock_customers`]). Refuses, writing nothing, when
/// a customer's orders add up to more than one row can hold (the lowest such id).
pub async fn refresh(db: &impl ConnectionTrait, customer_ids: &[i64]) -> Result<(), RefreshError> {
    if customer_ids.is_empty() {
        return Ok(());
    }
    let rows: Vec<(i64, DateTime<Utc>, Money)> = order::Entity::find()
        .select_only()
        .column(order::Column::CustomerId)
        .column(order::Column::OrderedAt)
        .column(order::Column::Amount)
        .filter(order::Column::CustomerId.is_in(customer_ids.iter().copied()))
        .into_tuple()
        .all(db)
        .await?;
    let mut orders: BTreeMap<i64, Vec<(DateTime<Utc>, Money)>> =
        customer_ids.iter().map(|id| (*id, Vec::new())).collect();
    for (customer_id, at, amount) in rows {
        orders.entry(customer_id).or_default().push((at, amount));
    }
    let mut aggregates = Vec::with_capacity(orders.len());
    for (customer_id, orders) in orders {
        let of = OrderAggregates::of(&orders).ok_or(RefreshError::OverTotal(customer_id))?;
        aggregates.push((customer_id, of));
    }
    Ok(write(db, &aggregates).await?)
}

/// The kept columns, in the order [`write`] binds them after the id.
const KEPT: [&str; 7] = [
    "order_count",
    "total_spent",
    "first_order_at",
    "last_order_at",
    "purchase_days",
    "first_day_total",
    "median_gap_days",
];

/// Customers per statement: 8 values each, well under SQLite's 32,766 bound parameters.
const CUSTOMERS_PER_STATEMENT: usize = 1_000;

/// Writes the aggregates of many customers with one `UPDATE … FROM (VALUES …)` per
/// thousand, which SQLite and PostgreSQL share (both name a VALUES list's columns
/// `column1`, `column2`, …): a statement per customer would cost a round trip each.
async fn write(
    db: &impl ConnectionTrait,
    aggregates: &[(i64, OrderAggregates)],
) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let set: Vec<String> = KEPT
        .iter()
        .enumerate()
        .map(|(i, column)| format!("{column} = v.column{}", i + 2))
        .collect();
    for chunk in aggregates.chunks(CUSTOMERS_PER_STATEMENT) {
        let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * (KEPT.len() + 1));
        let mut rows = Vec::with_capacity(chunk.len());
        for (customer_id, of) in chunk {
            let first = values.len() + 1;
            values.extend([
                Value::from(*customer_id),
                of.order_count.into(),
                of.total_spent.0.into(),
                of.first_order_at.into(),
                of.last_order_at.into(),
                of.purchase_days.into(),
                of.first_day_total.0.into(),
                of.median_gap_days.into(),
            ]);
            let placeholders: Vec<String> = (first..=values.len())
                .map(|n| nth_placeholder(backend, n))
                .collect();
            rows.push(format!("({})", placeholders.join(", ")));
        }
        let sql = format!(
            "UPDATE customers SET {} FROM (VALUES {}) AS v WHERE customers.id = v.column1",
            set.join(", "),
            rows.join(", ")
        );
        db.execute_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, day, hour, 0, 0).unwrap()
    }

    #[test]
    fn a_customer_without_orders_has_empty_aggregates() {
        assert_eq!(OrderAggregates::of(&[]), Some(OrderAggregates::NONE));
    }

    #[test]
    fn aggregates_count_days_and_the_first_days_total_whatever_the_order() {
        let orders = [
            (at(11, 9), Money(7_0000)),
            (at(1, 23), Money(2_0000)),
            (at(1, 8), Money(1_0000)),
            (at(4, 12), Money(3_0000)),
            (at(4, 13), Money(4_0000)),
        ];
        let of = OrderAggregates::of(&orders).unwrap();
        assert_eq!(of.order_count, 5);
        assert_eq!(of.total_spent, Money(17_0000));
        assert_eq!(of.first_order_at, Some(at(1, 8)));
        assert_eq!(of.last_order_at, Some(at(11, 9)));
        assert_eq!(of.purchase_days, 3);
        assert_eq!(of.first_day_total, Money(3_0000));
        // Gaps of 3 and 7 days.
        assert_eq!(of.median_gap_days, Some(5.0));
    }

    #[test]
    fn totals_past_what_a_row_holds_are_refused_not_wrapped() {
        let orders = [(at(1, 8), Money(i64::MAX)), (at(2, 8), Money(1))];
        assert_eq!(OrderAggregates::of(&orders), None);
        let exactly = [(at(1, 8), Money(i64::MAX - 1)), (at(2, 8), Money(1))];
        assert_eq!(
            OrderAggregates::of(&exactly).map(|of| of.total_spent),
            Some(Money(i64::MAX))
        );
    }
}
