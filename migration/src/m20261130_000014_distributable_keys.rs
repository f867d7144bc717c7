use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Keys that work when the per-customer tables are distributed by customer (Citus), on
/// every backend alike, so that one code path keeps the guarantees everywhere.
///
/// A distributed table can only enforce a unique key that contains its distribution
/// column. Three guarantees of the API are unique keys without `customer_id`: an email
/// and an externalId each name one customer, and an order's externalId is recorded once.
/// Each moves to a lookup table keyed by what must be unique (on Citus distributed by
/// that key, so the check is one shard's primary key): `customer_emails`,
/// `customer_external_ids`, `order_external_ids`. The old unique keys on `customers` and
/// `orders` stay on SQLite and PostgreSQL as a second guard; `clientele migrate` drops
/// them on Citus, where they cannot exist.
///
/// Mail to the business's own people (the marketer digest) had no customer; a
/// distribution column cannot be NULL, so such rows are filed under customer 0, which no
/// customer has (ids start at 1), and `(customer_id, dedupe_key)` becomes the key that
/// producers insert against.
#[derive(DeriveIden)]
enum CustomerEmails {
    Table,
    Email,
    CustomerId,
}

#[derive(DeriveIden)]
enum CustomerExternalIds {
    Table,
    ExternalId,
    CustomerId,
}

#[derive(DeriveIden)]
enum OrderExternalIds {
    Table,
    ExternalId,
    CustomerId,
}

#[derive(DeriveIden)]
enum Emails {
    Table,
    CustomerId,
    DedupeKey,
}

const EMAILS_CUSTOMER_DEDUPE_KEY: &str = "emails_customer_id_dedupe_key_key";

fn lookup(
    table: impl IntoIden,
    key: impl IntoIden,
    len: u32,
    owner: impl IntoIden,
) -> TableCreateStatement {
    Table::create()
        .table(table)
        .col(ColumnDef::new(key).string_len(len).not_null().primary_key())
        .col(ColumnDef::new(owner).big_integer().not_null())
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// The lookups are filled from the rows already there in the same transaction, so no
    /// write in between goes missing.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(lookup(
                CustomerEmails::Table,
                CustomerEmails::Email,
                254,
                CustomerEmails::CustomerId,
            ))
            .await?;
        manager
            .create_table(lookup(
                CustomerExternalIds::Table,
                CustomerExternalIds::ExternalId,
                128,
                CustomerExternalIds::CustomerId,
            ))
            .await?;
        manager
            .create_table(lookup(
                OrderExternalIds::Table,
                OrderExternalIds::ExternalId,
                128,
                OrderExternalIds::CustomerId,
            ))
            .await?;
        let db = manager.get_connection();
        for statement in [
            "INSERT INTO customer_emails (email, customer_id) \
             SELECT email, id FROM customers WHERE email IS NOT NULL",
            "INSERT INTO customer_external_ids (external_id, customer_id) \
             SELECT external_id, id FROM customers WHERE external_id IS NOT NULL",
            "INSERT INTO order_external_ids (external_id, customer_id) \
             SELECT external_id, customer_id FROM orders",
            "UPDATE emails SET customer_id = 0 WHERE customer_id IS NULL",
        ] {
            db.execute_unprepared(statement).await?;
        }
        manager
            .create_index(
                Index::create()
                    .name(EMAILS_CUSTOMER_DEDUPE_KEY)
                    .table(Emails::Table)
                    .col(Emails::CustomerId)
                    .col(Emails::DedupeKey)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(EMAILS_CUSTOMER_DEDUPE_KEY)
                    .table(Emails::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared("UPDATE emails SET customer_id = NULL WHERE customer_id = 0")
            .await?;
        for table in [
            OrderExternalIds::Table.into_iden(),
            CustomerExternalIds::Table.into_iden(),
            CustomerEmails::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
