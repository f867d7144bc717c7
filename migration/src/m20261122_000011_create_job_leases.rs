use sea_orm_migration::prelude::*;

use crate::timestamp;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// One row per scheduled job: which process holds the current tick and until when. Every
/// process that runs the scheduler tries to take the tick; one succeeds, so each tick
/// runs once however many `serve` / `worker` processes share the database, and a holder
/// that crashed loses the lease when it expires.
#[derive(DeriveIden)]
enum JobLeases {
    Table,
    Name,
    Holder,
    TickAt,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use JobLeases as L;
        manager
            .create_table(
                Table::create()
                    .table(L::Table)
                    .col(
                        ColumnDef::new(L::Name)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(L::Holder).string_len(200).not_null())
                    .col(timestamp(L::TickAt).not_null())
                    .col(timestamp(L::ExpiresAt).not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(JobLeases::Table).to_owned())
            .await
    }
}
