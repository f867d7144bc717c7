use sea_orm_migration::prelude::*;

use crate::{id_column, timestamp};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum JobRuns {
    Table,
    Id,
    Name,
    Status,
    StartedAt,
    FinishedAt,
    AsOf,
    Stats,
    Error,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(JobRuns::Table)
                    .col(id_column(JobRuns::Id))
                    .col(ColumnDef::new(JobRuns::Name).string_len(64).not_null())
                    .col(ColumnDef::new(JobRuns::Status).string_len(16).not_null())
                    .col(timestamp(JobRuns::StartedAt).not_null())
                    .col(timestamp(JobRuns::FinishedAt))
                    .col(ColumnDef::new(JobRuns::AsOf).date().not_null())
                    .col(ColumnDef::new(JobRuns::Stats).text())
                    .col(ColumnDef::new(JobRuns::Error).text())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("job_runs_name_id_idx")
                    .table(JobRuns::Table)
                    .col(JobRuns::Name)
                    .col(JobRuns::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(JobRuns::Table).to_owned())
            .await
    }
}
