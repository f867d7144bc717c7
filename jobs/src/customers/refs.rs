//! Inputs that name a customer by `customerId` or `customerExternalId` (orders,
//! interactions, feedback): resolved to ids with two statements for a whole batch.

use std::collections::HashMap;

use entity::customer;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};

use crate::errors::Problems;

/// One row's reference to a customer, as sent, and where it sits in the input (for the
/// paths of its problems: `<prefix>.customerId`).
pub struct CustomerRef<'a> {
    pub index: Option<usize>,
    pub prefix: String,
    pub customer_id: Option<&'a str>,
    pub customer_external_id: Option<&'a str>,
}

/// The numeric id behind a customer id as the API spells it.
pub fn parse_id(id: &str) -> Result<i64, String> {
    id.parse::<i64>()
        .map_err(|_| format!("`{id}` is not a customer id"))
}

/// Resolves the reference of a single input (the argument `input`).
pub async fn resolve_one(
    db: &impl ConnectionTrait,
    customer_id: Option<&str>,
    customer_external_id: Option<&str>,
    problems: &mut Problems,
) -> Result<Option<i64>, DbErr> {
    let reference = CustomerRef {
        index: None,
        prefix: "input".into(),
        customer_id,
        customer_external_id,
    };
    Ok(resolve(db, &[reference], problems).await?.pop().flatten())
}

/// Resolves every reference; a missing, doubled or unknown reference is a problem at
/// `<prefix>.customerId` / `<prefix>.customerExternalId` and resolves to `None`.
pub async fn resolve(
    db: &impl ConnectionTrait,
    refs: &[CustomerRef<'_>],
    problems: &mut Problems,
) -> Result<Vec<Option<i64>>, DbErr> {
    let ids: Vec<i64> = refs
        .iter()
        .filter_map(|r| r.customer_id.and_then(|id| parse_id(id).ok()))
        .collect();
    let external_ids: Vec<String> = refs
        .iter()
        .filter_map(|r| r.customer_external_id.map(str::to_owned))
        .collect();
    let known_ids: Vec<i64> = customer::Entity::find()
        .select_only()
        .column(customer::Column::Id)
        .filter(customer::Column::Id.is_in(ids))
        .into_tuple()
        .all(db)
        .await?;
    let by_external_id: HashMap<String, i64> =
        super::keys::owners_of_external_ids(db, external_ids).await?;

    Ok(refs
        .iter()
        .map(|r| match (r.customer_id, r.customer_external_id) {
            (Some(id), None) => {
                let field = format!("{}.customerId", r.prefix);
                match parse_id(id) {
                    Ok(id) if known_ids.contains(&id) => Some(id),
                    Ok(id) => {
                        problems.push(r.index, field, format!("no customer with id {id}"));
                        None
                    }
                    Err(message) => {
                        problems.push(r.index, field, message);
                        None
                    }
                }
            }
            (None, Some(external_id)) => {
                let found = by_external_id.get(external_id).copied();
                if found.is_none() {
                    problems.push(
                        r.index,
                        format!("{}.customerExternalId", r.prefix),
                        format!("no customer with externalId `{external_id}`"),
                    );
                }
                found
            }
            _ => {
                problems.push(
                    r.index,
                    format!("{}.customerId", r.prefix),
                    "name the customer by exactly one of customerId or customerExternalId",
                );
                None
            }
        })
        .collect())
}
