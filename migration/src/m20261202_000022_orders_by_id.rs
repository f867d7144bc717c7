use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

use crate::distribute::is_citus;

/// Orders found by their id alone, on Citus. There `orders` is keyed `(customer_id, id)`
/// (a key must contain the distribution column), so no index served `id` by itself: the
/// loyalty catch-up's `MAX(id)` and its windows of order ids read every shard whole (at a
/// million customers the first run took 3× PostgreSQL's time). PostgreSQL and SQLite keep
/// `id` as the primary key and need nothing. A database distributed later (`migrate
/// --distributed` on a copy) gets the same index from `distribute::PLAN`.
#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEX: &str = "orders_id_idx";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if is_citus(db).await? {
            // Citus creates it on every shard of the distributed table.
            db.execute_unprepared(&format!(
                "CREATE INDEX IF NOT EXISTS {INDEX} ON orders (id)"
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if is_citus(db).await? {
            db.execute_unprepared(&format!("DROP INDEX IF EXISTS {INDEX}"))
                .await?;
        }
        Ok(())
    }
}
