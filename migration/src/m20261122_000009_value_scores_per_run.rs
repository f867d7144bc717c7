use sea_orm_migration::prelude::*;

use crate::m20261122_000007_create_value_scores::{
    CustomerValueHistory, CustomerValues, ScoresKey, create_customer_values,
};

/// Value scores become append-only, one row per run and customer: a run inserts its
/// rows next to the previous run's instead of deleting and rewriting a million rows
/// (whose dead primary-key duplicates made every insert visit the old heap row on
/// PostgreSQL), and older runs are the history, so the separate history table goes.
/// Existing scores are dropped; the next `value-scores` run recomputes them.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CustomerValueHistory::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(CustomerValues::Table).to_owned())
            .await?;
        create_customer_values(manager, ScoresKey::RunAndCustomer).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CustomerValues::Table).to_owned())
            .await?;
        create_customer_values(manager, ScoresKey::Customer).await?;
        crate::m20261122_000007_create_value_scores::create_history(manager).await
    }
}
