use sea_orm_migration::prelude::*;

use crate::m20261122_000001_create_customers::Customers;
use crate::{id_column, timestamp};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Interactions {
    Table,
    Id,
    CustomerId,
    Channel,
    Direction,
    Subject,
    Note,
    OccurredAt,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Interactions::Table)
                    .col(id_column(Interactions::Id))
                    .col(
                        ColumnDef::new(Interactions::CustomerId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Interactions::Channel)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Interactions::Direction)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Interactions::Subject).string_len(200))
                    .col(ColumnDef::new(Interactions::Note).text())
                    .col(timestamp(Interactions::OccurredAt).not_null())
                    .col(timestamp(Interactions::CreatedAt).not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("interactions_customer_id_fkey")
                            .from(Interactions::Table, Interactions::CustomerId)
                            .to(Customers::Table, Customers::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("interactions_customer_id_occurred_at_idx")
                    .table(Interactions::Table)
                    .col(Interactions::CustomerId)
                    .col(Interactions::OccurredAt)
                    .col(Interactions::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Interactions::Table).to_owned())
            .await
    }
}
