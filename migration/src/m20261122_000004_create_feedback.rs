use sea_orm_migration::prelude::*;

use crate::m20261122_000001_create_customers::Customers;
use crate::{id_column, timestamp};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Feedback {
    Table,
    Id,
    CustomerId,
    Kind,
    Score,
    Comment,
    OccurredAt,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Feedback::Table)
                    .col(id_column(Feedback::Id))
                    .col(
                        ColumnDef::new(Feedback::CustomerId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Feedback::Kind).string_len(16).not_null())
                    .col(ColumnDef::new(Feedback::Score).integer().not_null())
                    .col(ColumnDef::new(Feedback::Comment).text())
                    .col(timestamp(Feedback::OccurredAt).not_null())
                    .col(timestamp(Feedback::CreatedAt).not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("feedback_customer_id_fkey")
                            .from(Feedback::Table, Feedback::CustomerId)
                            .to(Customers::Table, Customers::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("feedback_customer_id_occurred_at_idx")
                    .table(Feedback::Table)
                    .col(Feedback::CustomerId)
                    .col(Feedback::OccurredAt)
                    .col(Feedback::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Feedback::Table).to_owned())
            .await
    }
}
