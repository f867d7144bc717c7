use sea_orm_migration::prelude::*;

use crate::m20261122_000001_create_customers::Customers;
use crate::{id_column, timestamp};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Orders {
    Table,
    Id,
    ExternalId,
    CustomerId,
    Amount,
    Currency,
    OrderedAt,
    Channel,
    ItemCount,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Orders::Table)
                    .col(id_column(Orders::Id))
                    .col(
                        ColumnDef::new(Orders::ExternalId)
                            .string_len(128)
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(Orders::CustomerId).big_integer().not_null())
                    // Ten-thousandths of the currency unit: see `entity::Money`.
                    .col(ColumnDef::new(Orders::Amount).big_integer().not_null())
                    .col(ColumnDef::new(Orders::Currency).string_len(3).not_null())
                    .col(timestamp(Orders::OrderedAt).not_null())
                    .col(ColumnDef::new(Orders::Channel).string_len(64))
                    .col(
                        ColumnDef::new(Orders::ItemCount)
                            .integer()
                            .not_null()
                            .default(1),
                    )
                    .col(timestamp(Orders::CreatedAt).not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("orders_customer_id_fkey")
                            .from(Orders::Table, Orders::CustomerId)
                            .to(Customers::Table, Customers::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("orders_customer_id_ordered_at_idx")
                    .table(Orders::Table)
                    .col(Orders::CustomerId)
                    .col(Orders::OrderedAt)
                    .col(Orders::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("orders_ordered_at_idx")
                    .table(Orders::Table)
                    .col(Orders::OrderedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Orders::Table).to_owned())
            .await
    }
}
