use sea_orm_migration::prelude::*;

use crate::m20261122_000001_create_customers::Customers;

/// The customer's voice: the channel an answer came through, and the topics it is about.
///
/// `feedback_topics` is per customer, so `customer_id` leads its primary key: the table
/// distributes by customer on Citus, co-located with `customers` and `feedback`. For the
/// same reason it has a foreign key to `customers` only (which includes the distribution
/// column), none to `feedback.id`: its rows are written in the same transaction as their
/// answer, and answers are never deleted.
///
/// Answers recorded before this migration have no topics. Those with a comment are
/// queued in `feedback_terms_pending` for keyword extraction, which needs the domain's
/// word segmentation and so runs in the application after the migrations
/// (`jobs::feedback::extract_pending_terms`), batch by batch, resumable.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Feedback {
    Table,
    Id,
    CustomerId,
    Channel,
    Comment,
    OccurredAt,
}

#[derive(DeriveIden)]
enum FeedbackTopics {
    Table,
    CustomerId,
    FeedbackId,
    Topic,
    Source,
}

#[derive(DeriveIden)]
enum FeedbackTermsPending {
    Table,
    CustomerId,
    FeedbackId,
}

/// Longest topic (tags are checked to this length, extracted terms cut to it).
const TOPIC_CHARS: u32 = 64;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Null for answers that came before channels were recorded, and for those sent
        // without one.
        manager
            .alter_table(
                Table::alter()
                    .table(Feedback::Table)
                    .add_column(ColumnDef::new(Feedback::Channel).string_len(16).null())
                    .to_owned(),
            )
            .await?;
        // Satisfaction reports read answers by time across customers.
        manager
            .create_index(
                Index::create()
                    .name("feedback_occurred_at_idx")
                    .table(Feedback::Table)
                    .col(Feedback::OccurredAt)
                    .to_owned(),
            )
            .await?;
        use FeedbackTopics as T;
        manager
            .create_table(
                Table::create()
                    .table(T::Table)
                    .col(ColumnDef::new(T::CustomerId).big_integer().not_null())
                    .col(ColumnDef::new(T::FeedbackId).big_integer().not_null())
                    .col(ColumnDef::new(T::Topic).string_len(TOPIC_CHARS).not_null())
                    // TAG (sent with the answer) or EXTRACTED (from its comment).
                    .col(ColumnDef::new(T::Source).string_len(16).not_null())
                    .primary_key(
                        Index::create()
                            .col(T::CustomerId)
                            .col(T::FeedbackId)
                            .col(T::Topic),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("feedback_topics_customer_id_fkey")
                            .from(T::Table, T::CustomerId)
                            .to(Customers::Table, Customers::Id),
                    )
                    .to_owned(),
            )
            .await?;
        // The `topic` filter starts from the answers that mention one topic.
        manager
            .create_index(
                Index::create()
                    .name("feedback_topics_topic_idx")
                    .table(T::Table)
                    .col(T::Topic)
                    .to_owned(),
            )
            .await?;
        use FeedbackTermsPending as P;
        manager
            .create_table(
                Table::create()
                    .table(P::Table)
                    .col(ColumnDef::new(P::CustomerId).big_integer().not_null())
                    .col(ColumnDef::new(P::FeedbackId).big_integer().not_null())
                    .primary_key(Index::create().col(P::CustomerId).col(P::FeedbackId))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(P::Table)
                    .columns([P::CustomerId, P::FeedbackId])
                    .select_from(
                        Query::select()
                            .column(Feedback::CustomerId)
                            .column(Feedback::Id)
                            .from(Feedback::Table)
                            .and_where(Expr::col(Feedback::Comment).is_not_null())
                            .to_owned(),
                    )
                    .map_err(|error| DbErr::Migration(error.to_string()))?
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            FeedbackTermsPending::Table.into_iden(),
            FeedbackTopics::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        manager
            .drop_index(
                Index::drop()
                    .name("feedback_occurred_at_idx")
                    .table(Feedback::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Feedback::Table)
                    .drop_column(Feedback::Channel)
                    .to_owned(),
            )
            .await
    }
}
