//! The keys that name one customer across the whole base — an email, an externalId, a
//! referral code — kept in lookup tables keyed by the value (`entity::unique_key`,
//! migrations 14 and 21). Every
//! write of a customer goes through [`keep`], in the transaction of the write; every
//! lookup by email or externalId reads the lookup first and then the customers by id.
//! On Citus both steps go to one shard each, where a search of `customers` by externalId
//! would ask every shard.

use std::collections::HashMap;

use entity::sql::nth_placeholder;
use entity::{customer, customer_email, customer_external_id};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Statement};

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

/// A customer's value of one kept key.
type KeyOf = fn(&customer::Model) -> &Option<String>;

/// The lookups a customer row keeps: table, key column, and the customer's value.
const LOOKUPS: [(&str, &str, KeyOf); 3] = [
    ("customer_emails", "email", |c| &c.email),
    ("customer_external_ids", "external_id", |c| &c.external_id),
    ("referral_codes", "code", |c| &c.referral_code),
];

/// Brings the lookups in line with a customer just written (`before`: the row as it
/// was, `None` for a new customer). A value another customer holds fails with a unique
/// violation, like the unique column it stands for.
pub async fn keep(
    db: &impl ConnectionTrait,
    before: Option<&customer::Model>,
    after: &customer::Model,
) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let (first, second) = (nth_placeholder(backend, 1), nth_placeholder(backend, 2));
    for (table, column, value) in LOOKUPS {
        let old = before.and_then(|b| value(b).clone());
        let new = value(after);
        if old == *new {
            continue;
        }
        if let Some(old) = old {
            db.execute_raw(Statement::from_sql_and_values(
                backend,
                format!("DELETE FROM {table} WHERE {column} = {first} AND customer_id = {second}"),
                [old.into(), after.id.into()],
            ))
            .await?;
        }
        if let Some(new) = new {
            db.execute_raw(Statement::from_sql_and_values(
                backend,
                format!("INSERT INTO {table} ({column}, customer_id) VALUES ({first}, {second})"),
                [new.clone().into(), after.id.into()],
            ))
            .await?;
        }
    }
    Ok(())
}
