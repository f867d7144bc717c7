//! Customers: who they are and how to reach them. Writing profiles (create, update,
//! bulk upsert by externalId), privacy erasure, consent withdrawn through unsubscribe
//! links, lists with filters and keyset pages, and the lookups other concepts use
//! (references by id or externalId, a customer's own rows a page at a time). Email
//! addresses are checked here once, for customers and for the digest's recipients alike.

/// A customer's own rows (orders, interactions, feedback, lifecycle events), paged.
pub mod children;
/// Unsubscribe links: what withdrawing consent through one changes.
mod consent;
/// Email addresses.
mod email;
/// Privacy erasure.
mod erase;
/// The lookup tables of emails and externalIds.
pub mod keys;
/// Lists: filter, sort, keyset pages, count.
pub mod list;
/// Locks that serialise writers which read a customer before they write it.
pub mod locks;
/// Create, update, upsert.
mod profile;
/// Resolving `customerId` / `customerExternalId` references.
mod refs;
/// Groups of customers that live on one shard (Citus), for chunked jobs.
pub mod shards;

use std::collections::HashMap;

use anyhow::Context;
use entity::{customer, customer_interest};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};

pub use consent::{Outcome as UnsubscribeOutcome, unsubscribe};
pub use email::EmailAddress;
pub use erase::erase;
pub use list::{ListPage, ListQuery, list};
pub use profile::{
    CustomerChanges, Disclosure, Fields, NewCustomer, Outcome, Patch, UpsertRow, create, update,
    upsert,
};
pub use refs::{CustomerRef, parse_id, resolve as resolve_refs, resolve_one as resolve_ref};

use crate::errors::{DomainError, DomainResult};

/// Most rows one bulk call (customers, orders) may carry.
pub const MAX_BATCH: usize = 1000;

/// The customers with these ids (those that exist).
pub async fn by_ids(db: &impl ConnectionTrait, ids: &[i64]) -> Result<Vec<customer::Model>, DbErr> {
    customer::Entity::find()
        .filter(customer::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await
}

/// The customer with this externalId, if any.
pub async fn by_external_id(
    db: &impl ConnectionTrait,
    external_id: &str,
) -> Result<Option<customer::Model>, DbErr> {
    Ok(keys::by_external_ids(db, [external_id.to_owned()])
        .await?
        .into_values()
        .next())
}

/// The interest tags of each of these customers, sorted (every customer asked for has
/// an entry).
pub async fn interests_of(
    db: &impl ConnectionTrait,
    ids: &[i64],
) -> Result<HashMap<i64, Vec<String>>, DbErr> {
    let rows = customer_interest::Entity::find()
        .filter(customer_interest::Column::CustomerId.is_in(ids.iter().copied()))
        .order_by_asc(customer_interest::Column::Tag)
        .all(db)
        .await?;
    let mut tags: HashMap<i64, Vec<String>> = ids.iter().map(|id| (*id, Vec::new())).collect();
    for row in rows {
        tags.entry(row.customer_id).or_default().push(row.tag);
    }
    Ok(tags)
}

/// The customer a write names by `id` (as the API spells it).
async fn find_for_write(db: &impl ConnectionTrait, id: &str) -> DomainResult<customer::Model> {
    let numeric = parse_id(id).map_err(|message| DomainError::invalid("id", message))?;
    customer::Entity::find_by_id(numeric)
        .one(db)
        .await
        .context("failed to read the customer")?
        .ok_or_else(|| DomainError::not_found(format!("customer {id}")))
}
