//! The same page of rows for many parents in one statement — a page of customers with
//! each one's orders, a page of segments with each one's members — so that a list with
//! a nested list costs one query, not one per parent.

use std::collections::HashMap;

use sea_orm::{
    ConnectionTrait, DbErr, EntityTrait, ModelTrait,
    sea_query::{Alias, Asterisk, Cond, Expr, ExprTrait, Func, Order, Query, WindowStatement},
};

/// The first `limit` rows of `E` in `order` (the last column should be unique, so the
/// order is total) of each parent in `parent_ids`, by the parent's column `parent`, among
/// the rows `condition` keeps (where a page starts): `ROW_NUMBER() OVER (PARTITION BY
/// parent ORDER BY …)`, which SQLite and PostgreSQL share, or a plain `ORDER BY … LIMIT`
/// for one parent. Every parent asked for has an entry (empty when it has no rows); rows
/// are in `order`.
pub(crate) async fn first_rows_of_each<E: EntityTrait>(
    db: &impl ConnectionTrait,
    parent: E::Column,
    parent_ids: &[i64],
    condition: Cond,
    order: &[(E::Column, Order)],
    limit: u64,
) -> Result<HashMap<i64, Vec<E::Model>>, DbErr> {
    let limit_rows = i64::try_from(limit).unwrap_or(i64::MAX);
    if let [only] = parent_ids {
        // One parent (a segment's members page, a customer's orders): a plain ordered
        // LIMIT, which reads `limit` rows off the index. The window below numbers every
        // row of the parent first: a quarter of a million members per page on SQLite,
        // and on Citus, where the parent of `segment_members` is not the distribution
        // column, all of them pulled to the coordinator to be numbered.
        let mut select = Query::select();
        select
            .column(Asterisk)
            .from(E::default())
            .cond_where(Cond::all().add(Expr::col(parent).eq(*only)).add(condition))
            .limit(limit);
        for (column, direction) in order {
            select.order_by(*column, direction.clone());
        }
        let rows = E::find()
            .from_raw_sql(db.get_database_backend().build(&select))
            .all(db)
            .await?;
        return Ok(HashMap::from([(*only, rows)]));
    }
    let row_number = Alias::new("row_number_in_parent");
    let mut window = WindowStatement::partition_by(parent);
    for (column, direction) in order {
        window.order_by(*column, direction.clone());
    }
    let mut inner = Query::select();
    inner
        .column(Asterisk)
        .expr_window_as(Func::cust("ROW_NUMBER"), window, row_number.clone())
        .from(E::default())
        .cond_where(
            Cond::all()
                .add(Expr::col(parent).is_in(parent_ids.iter().copied()))
                .add(condition),
        );
    let mut outer = Query::select();
    outer
        .column(Asterisk)
        .from_subquery(inner, Alias::new("numbered"))
        .and_where(Expr::col(row_number).lte(limit_rows));
    for (column, direction) in order {
        outer.order_by(*column, direction.clone());
    }
    let rows = E::find()
        .from_raw_sql(db.get_database_backend().build(&outer))
        .all(db)
        .await?;
    let mut by_parent: HashMap<i64, Vec<E::Model>> =
        parent_ids.iter().map(|id| (*id, Vec::new())).collect();
    for row in rows {
        if let sea_orm::Value::BigInt(Some(parent_id)) = row.get(parent) {
            by_parent.entry(parent_id).or_default().push(row);
        }
    }
    Ok(by_parent)
}
