use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// How many customers exist, kept by triggers so that `customers { totalCount }` without a
/// filter reads 16 small rows instead of counting a million. The count is split over
/// [`SLOTS`] rows: on PostgreSQL each transaction adds to the row of its transaction id,
/// so concurrent writers rarely wait on one another and a transaction only ever locks
/// one row (no deadlock between counters). SQLite has one writer at a time and uses
/// slot 0. Triggers see every insert and delete, whichever code path or tool made it.
#[derive(DeriveIden)]
enum CustomerCounts {
    Table,
    Slot,
    Customers,
}

const SLOTS: i64 = 16;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// On SQLite too: the first write takes the database's one write lock, so the count
    /// and the triggers see the same customers.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use CustomerCounts as C;
        manager
            .create_table(
                Table::create()
                    .table(C::Table)
                    .col(ColumnDef::new(C::Slot).integer().not_null().primary_key())
                    .col(ColumnDef::new(C::Customers).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        if manager.get_database_backend() == DbBackend::Postgres {
            // The migration's transaction holds writers off until the triggers exist, so
            // no customer is written between the count below and the first trigger.
            db.execute_unprepared("LOCK TABLE customers IN SHARE ROW EXCLUSIVE MODE")
                .await?;
        }
        // Slot 0 starts with every customer the database already holds.
        db.execute_unprepared(
            "INSERT INTO customer_counts (slot, customers) SELECT 0, COUNT(*) FROM customers",
        )
        .await?;
        for slot in 1..SLOTS {
            db.execute_unprepared(&format!(
                "INSERT INTO customer_counts (slot, customers) VALUES ({slot}, 0)"
            ))
            .await?;
        }
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                // Statement-level: one counter update per INSERT statement, however many
                // rows it writes (bulk imports write thousands per statement).
                for (operation, table, sign) in [("INSERT", "NEW", "+"), ("DELETE", "OLD", "-")] {
                    let function = format!("customer_counts_{}", operation.to_lowercase());
                    db.execute_unprepared(&format!(
                        "CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ \
                         BEGIN \
                           UPDATE customer_counts \
                              SET customers = customers {sign} (SELECT COUNT(*) FROM changed) \
                            WHERE slot = pg_current_xact_id()::text::bigint % {SLOTS}; \
                           RETURN NULL; \
                         END $$"
                    ))
                    .await?;
                    db.execute_unprepared(&format!(
                        "CREATE TRIGGER customers_counted_{op} AFTER {operation} ON customers \
                         REFERENCING {table} TABLE AS changed \
                         FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
                        op = operation.to_lowercase()
                    ))
                    .await?;
                }
            }
            _ => {
                for (operation, sign) in [("INSERT", "+"), ("DELETE", "-")] {
                    db.execute_unprepared(&format!(
                        "CREATE TRIGGER customers_counted_{op} AFTER {operation} ON customers \
                         BEGIN \
                           UPDATE customer_counts SET customers = customers {sign} 1 WHERE slot = 0; \
                         END",
                        op = operation.to_lowercase()
                    ))
                    .await?;
                }
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for operation in ["insert", "delete"] {
            let on = match manager.get_database_backend() {
                DbBackend::Postgres => " ON customers",
                _ => "",
            };
            db.execute_unprepared(&format!(
                "DROP TRIGGER IF EXISTS customers_counted_{operation}{on}"
            ))
            .await?;
            if manager.get_database_backend() == DbBackend::Postgres {
                db.execute_unprepared(&format!(
                    "DROP FUNCTION IF EXISTS customer_counts_{operation}()"
                ))
                .await?;
            }
        }
        manager
            .drop_table(Table::drop().table(CustomerCounts::Table).to_owned())
            .await
    }
}
