use sea_orm_migration::prelude::*;

/// A customer's segment entries and exits, newest first: the timeline reads them per
/// customer (`Customer.timeline`), and `segment_events` was indexed by segment only, so
/// each page scanned the table (half a million rows for two large segments at a million
/// customers). On Citus the index is created on every shard of the distributed table.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SegmentEvents {
    Table,
    CustomerId,
    At,
    Id,
}

const INDEX: &str = "segment_events_customer_idx";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table(SegmentEvents::Table)
                    .col(SegmentEvents::CustomerId)
                    .col(SegmentEvents::At)
                    .col(SegmentEvents::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(INDEX)
                    .table(SegmentEvents::Table)
                    .to_owned(),
            )
            .await
    }
}
