use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement, Value};

use crate::m20261122_000001_create_customers::Customers;

/// Referral codes: every customer gets a unique, unguessable code to hand to friends.
///
/// The code is kept on the customer row (`customers.referral_code`, read with the rest of
/// the profile) and, for uniqueness and lookup, in `referral_codes` keyed by the code —
/// the same pattern as emails and externalIds (migration 14): a table distributed by
/// customer cannot hold a key unique across customers, so on Citus `referral_codes` is
/// distributed by the code and a sign-up with a code reads one shard.
///
/// Existing customers get their codes here, drawn in Rust from the secure generator
/// (`entity::codes`): SQL's `random()` is predictable, and Citus refuses volatile
/// functions in an UPDATE of a distributed table. A thousand customers per statement; a
/// code drawn twice (about one chance in two million at a million customers) loses the
/// key's insert and is drawn again.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ReferralCodes {
    Table,
    Code,
    CustomerId,
}

#[derive(DeriveIden)]
enum Added {
    ReferralCode,
}

const CHUNK: usize = 1_000;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Customers::Table)
                    .add_column(ColumnDef::new(Added::ReferralCode).string_len(32))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ReferralCodes::Table)
                    .col(
                        ColumnDef::new(ReferralCodes::Code)
                            .string_len(32)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(ReferralCodes::CustomerId)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        backfill(manager.get_connection()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ReferralCodes::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Customers::Table)
                    .drop_column(Added::ReferralCode)
                    .to_owned(),
            )
            .await
    }
}

/// Gives every customer without a code one, a chunk at a time in id order.
async fn backfill(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let placeholder = |n: usize| entity::sql::nth_placeholder(backend, n);
    let mut after = i64::MIN;
    loop {
        let rows = db
            .query_all_raw(Statement::from_sql_and_values(
                backend,
                format!(
                    "SELECT id FROM customers WHERE referral_code IS NULL AND id > {} \
                     ORDER BY id LIMIT {CHUNK}",
                    placeholder(1)
                ),
                [after.into()],
            ))
            .await?;
        let ids: Vec<i64> = rows
            .iter()
            .map(|row| row.try_get::<i64>("", "id"))
            .collect::<Result<_, _>>()?;
        let Some(&last) = ids.last() else {
            return Ok(());
        };
        // Drawn until every customer of the chunk holds a code of its own.
        let mut pending = ids;
        while !pending.is_empty() {
            let drawn: Vec<(i64, String)> = pending
                .iter()
                .map(|id| (*id, entity::codes::referral_code()))
                .collect();
            let (rows, values) = values_list(backend, &drawn);
            db.execute_raw(Statement::from_sql_and_values(
                backend,
                format!(
                    "INSERT INTO referral_codes (customer_id, code) VALUES {rows} \
                     ON CONFLICT (code) DO NOTHING"
                ),
                values,
            ))
            .await?;
            // The customer column follows the lookup: only the codes the key gave to the
            // customer they were drawn for (read back by code, one shard each on Citus).
            let code_placeholders: Vec<String> = (1..=drawn.len()).map(placeholder).collect();
            let held = db
                .query_all_raw(Statement::from_sql_and_values(
                    backend,
                    format!(
                        "SELECT code, customer_id FROM referral_codes WHERE code IN ({})",
                        code_placeholders.join(", ")
                    ),
                    drawn.iter().map(|(_, code)| Value::from(code.clone())),
                ))
                .await?;
            let mut kept = std::collections::HashSet::new();
            for row in &held {
                kept.insert((
                    row.try_get::<i64>("", "customer_id")?,
                    row.try_get::<String>("", "code")?,
                ));
            }
            let (won, lost): (Vec<_>, Vec<_>) =
                drawn.into_iter().partition(|pair| kept.contains(pair));
            if !won.is_empty() {
                let (rows, values) = values_list(backend, &won);
                db.execute_raw(Statement::from_sql_and_values(
                    backend,
                    format!(
                        "UPDATE customers SET referral_code = v.column2 FROM (VALUES {rows}) AS v \
                         WHERE customers.id = v.column1"
                    ),
                    values,
                ))
                .await?;
            }
            pending = lost.into_iter().map(|(id, _)| id).collect();
        }
        after = last;
    }
}

/// `(customer id, code)` pairs as the rows of a VALUES list and their bound values.
fn values_list(backend: DbBackend, pairs: &[(i64, String)]) -> (String, Vec<Value>) {
    let mut values: Vec<Value> = Vec::with_capacity(pairs.len() * 2);
    let mut rows = Vec::with_capacity(pairs.len());
    for (id, code) in pairs {
        values.push((*id).into());
        values.push(code.clone().into());
        rows.push(format!(
            "({}, {})",
            entity::sql::nth_placeholder(backend, values.len() - 1),
            entity::sql::nth_placeholder(backend, values.len())
        ));
    }
    (rows.join(", "), values)
}
