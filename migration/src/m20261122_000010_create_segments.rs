use sea_orm_migration::prelude::*;

use crate::{id_column, timestamp};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Segments {
    Table,
    Id,
    Name,
    Description,
    Kind,
    Rule,
    Goal,
    Strategy,
    Owner,
    Size,
    RefreshedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum SegmentMembers {
    Table,
    SegmentId,
    CustomerId,
    EnteredAt,
}

#[derive(DeriveIden)]
enum SegmentEvents {
    Table,
    Id,
    SegmentId,
    CustomerId,
    Kind,
    At,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use Segments as S;
        manager
            .create_table(
                Table::create()
                    .table(S::Table)
                    .col(id_column(S::Id))
                    .col(
                        ColumnDef::new(S::Name)
                            .string_len(200)
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(S::Description).text())
                    .col(ColumnDef::new(S::Kind).string_len(16).not_null())
                    // The rule as JSON (null for static segments).
                    .col(ColumnDef::new(S::Rule).text())
                    .col(ColumnDef::new(S::Goal).text())
                    .col(ColumnDef::new(S::Strategy).text())
                    .col(ColumnDef::new(S::Owner).string_len(200))
                    .col(ColumnDef::new(S::Size).big_integer().not_null().default(0))
                    .col(timestamp(S::RefreshedAt))
                    .col(timestamp(S::CreatedAt).not_null())
                    .col(timestamp(S::UpdatedAt).not_null())
                    .to_owned(),
            )
            .await?;
        // Members and events have no foreign keys either: a refresh writes them in bulk
        // from the customers table (see m20261122_000008), and deleting a segment
        // deletes its rows explicitly.
        use SegmentMembers as M;
        manager
            .create_table(
                Table::create()
                    .table(M::Table)
                    .col(ColumnDef::new(M::SegmentId).big_integer().not_null())
                    .col(ColumnDef::new(M::CustomerId).big_integer().not_null())
                    .col(timestamp(M::EnteredAt).not_null())
                    .primary_key(Index::create().col(M::SegmentId).col(M::CustomerId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("segment_members_customer_idx")
                    .table(M::Table)
                    .col(M::CustomerId)
                    .to_owned(),
            )
            .await?;
        use SegmentEvents as E;
        manager
            .create_table(
                Table::create()
                    .table(E::Table)
                    .col(id_column(E::Id))
                    .col(ColumnDef::new(E::SegmentId).big_integer().not_null())
                    .col(ColumnDef::new(E::CustomerId).big_integer().not_null())
                    .col(ColumnDef::new(E::Kind).string_len(8).not_null())
                    .col(timestamp(E::At).not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("segment_events_segment_idx")
                    .table(E::Table)
                    .col(E::SegmentId)
                    .col(E::At)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            SegmentEvents::Table.into_iden(),
            SegmentMembers::Table.into_iden(),
            Segments::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
