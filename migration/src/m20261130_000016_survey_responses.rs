use sea_orm_migration::prelude::*;

use crate::m20261122_000001_create_customers::Customers;
use crate::timestamp;

/// Survey emails: which answer each email's score links recorded.
///
/// One row per survey email that was answered, `(customer_id, email_id)` → `feedback_id`.
/// The primary key is what keeps an email to one answer under concurrent clicks: the
/// first click's transaction inserts the answer and this row; a click racing it fails
/// to insert the same key, rolls back its own answer and changes the winner's score
/// instead (`jobs::surveys`).
///
/// Per customer, so `customer_id` leads the primary key and the unique key: the table
/// distributes by customer on Citus, co-located with `customers`, `emails` and
/// `feedback`. For the same reason its only foreign key is to `customers` (it contains
/// the distribution column); `emails.id` and `feedback.id` are keyed `(customer_id, id)`
/// there, and both rows are written or checked in the same transaction as this one.
/// New survey emails need no schema change: `emails.kind` and `campaigns.kind` are text
/// wide enough for `SURVEY`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SurveyResponses {
    Table,
    CustomerId,
    EmailId,
    FeedbackId,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use SurveyResponses as S;
        manager
            .create_table(
                Table::create()
                    .table(S::Table)
                    .col(ColumnDef::new(S::CustomerId).big_integer().not_null())
                    .col(ColumnDef::new(S::EmailId).big_integer().not_null())
                    .col(ColumnDef::new(S::FeedbackId).big_integer().not_null())
                    .col(timestamp(S::CreatedAt).not_null())
                    .col(timestamp(S::UpdatedAt).not_null())
                    .primary_key(Index::create().col(S::CustomerId).col(S::EmailId))
                    .foreign_key(
                        ForeignKey::create()
                            .name("survey_responses_customer_id_fkey")
                            .from(S::Table, S::CustomerId)
                            .to(Customers::Table, Customers::Id),
                    )
                    .to_owned(),
            )
            .await?;
        // An answer belongs to one email (and finding the email of an answer is a
        // lookup by key).
        manager
            .create_index(
                Index::create()
                    .name("survey_responses_feedback_key")
                    .table(S::Table)
                    .col(S::CustomerId)
                    .col(S::FeedbackId)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SurveyResponses::Table).to_owned())
            .await
    }
}
