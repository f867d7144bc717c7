//! Inputs that name a customer by `customerId` or `customerExternalId`.

use std::collections::HashMap;

use async_graphql::{ID, Result};
use entity::customer;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect};

use crate::graphql::{
    customer::customer_id_of,
    errors::{OrInternal, Problems},
};

/// One row's reference to a customer, as sent.
pub struct CustomerRef<'a> {
    pub index: Option<usize>,
    pub prefix: String,
    pub customer_id: Option<&'a ID>,
    pub customer_external_id: Option<&'a str>,
}

/// Resolves every reference with two queries; a missing, doubled or unknown reference is
/// a problem at `<prefix>.customerId` / `<prefix>.customerExternalId`.
pub async fn resolve(
    db: &DatabaseConnection,
    refs: &[CustomerRef<'_>],
    problems: &mut Problems,
) -> Result<Vec<Option<i64>>> {
    let ids: Vec<i64> = refs
        .iter()
        .filter_map(|r| r.customer_id.and_then(|id| customer_id_of(id).ok()))
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
        .await
        .or_internal()?;
    let by_external_id: HashMap<String, i64> = customer::Entity::find()
        .select_only()
        .column(customer::Column::ExternalId)
        .column(customer::Column::Id)
        .filter(customer::Column::ExternalId.is_in(external_ids))
        .into_tuple::<(String, i64)>()
        .all(db)
        .await
        .or_internal()?
        .into_iter()
        .collect();

    Ok(refs
        .iter()
        .map(|r| match (r.customer_id, r.customer_external_id) {
            (Some(id), None) => {
                let field = format!("{}.customerId", r.prefix);
                match customer_id_of(id) {
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
