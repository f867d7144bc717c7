//! The keys that name one customer across the whole base — an email, an externalId —
//! kept in lookup tables keyed by the value (`entity::unique_key`, migration 14). Every
//! write of a customer goes through [`keep`], in the transaction of the write; every
//! lookup by email or externalId reads the lookup first and then the customers by id.
//! On Citus both steps go to one shard each, where a search of `customers` by externalId
//! would ask every shard.

use std::collections::HashMap;

use entity::{customer, customer_email, customer_external_id};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set};

/// The owner of each of these externalIds that has one.
pub async fn owners_of_external_ids(
    db: &impl ConnectionTrait,
    external_ids: impl IntoIterator<Item = String>,
) -> Result<HashMap<String, i64>, DbErr> {
    Ok(customer_external_id::Entity::find()
        .filter(customer_external_id::Column::ExternalId.is_in(external_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|row| (row.external_id, row.customer_id))
        .collect())
}

/// The owner of each of these emails that has one.
pub async fn owners_of_emails(
    db: &impl ConnectionTrait,
    emails: impl IntoIterator<Item = String>,
) -> Result<HashMap<String, i64>, DbErr> {
    Ok(customer_email::Entity::find()
        .filter(customer_email::Column::Email.is_in(emails))
        .all(db)
        .await?
        .into_iter()
        .map(|row| (row.email, row.customer_id))
        .collect())
}

/// The customers with these externalIds, keyed by externalId.
pub async fn by_external_ids(
    db: &impl ConnectionTrait,
    external_ids: impl IntoIterator<Item = String>,
) -> Result<HashMap<String, customer::Model>, DbErr> {
    let owners = owners_of_external_ids(db, external_ids).await?;
    let ids: Vec<i64> = owners.values().copied().collect();
    Ok(super::by_ids(db, &ids)
        .await?
        .into_iter()
        .filter_map(|c| c.external_id.clone().map(|external_id| (external_id, c)))
        .collect())
}

/// Brings the lookups in line with a customer just written (`before`: the row as it
/// was, `None` for a new customer). A value another customer holds fails with a unique
/// violation, like the unique column it stands for.
pub async fn keep(
    db: &impl ConnectionTrait,
    before: Option<&customer::Model>,
    after: &customer::Model,
) -> Result<(), DbErr> {
    let was =
        |field: fn(&customer::Model) -> &Option<String>| before.and_then(|b| field(b).clone());
    let (old_email, old_external_id) = (was(|c| &c.email), was(|c| &c.external_id));
    if old_email != after.email {
        if let Some(email) = old_email {
            customer_email::Entity::delete_many()
                .filter(customer_email::Column::Email.eq(email))
                .filter(customer_email::Column::CustomerId.eq(after.id))
                .exec(db)
                .await?;
        }
        if let Some(email) = &after.email {
            customer_email::Entity::insert(customer_email::ActiveModel {
                email: Set(email.clone()),
                customer_id: Set(after.id),
            })
            .exec_without_returning(db)
            .await?;
        }
    }
    if old_external_id != after.external_id {
        if let Some(external_id) = old_external_id {
            customer_external_id::Entity::delete_many()
                .filter(customer_external_id::Column::ExternalId.eq(external_id))
                .filter(customer_external_id::Column::CustomerId.eq(after.id))
                .exec(db)
                .await?;
        }
        if let Some(external_id) = &after.external_id {
            customer_external_id::Entity::insert(customer_external_id::ActiveModel {
                external_id: Set(external_id.clone()),
                customer_id: Set(after.id),
            })
            .exec_without_returning(db)
            .await?;
        }
    }
    Ok(())
}
