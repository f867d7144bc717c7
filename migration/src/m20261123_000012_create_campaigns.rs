use sea_orm_migration::prelude::*;

use crate::{id_column, timestamp};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Care campaigns: what to send (kind, templates), to whom (target) and when (send hour).
#[derive(DeriveIden)]
enum Campaigns {
    Table,
    Id,
    Name,
    Kind,
    Enabled,
    /// JSON: segment, stages, tiers (none = everyone).
    Target,
    SendHour,
    /// JSON: per-locale template overrides.
    Templates,
    /// JSON: offer, cooldown, holidays.
    Settings,
    LastRunAt,
    CreatedAt,
    UpdatedAt,
}

/// The outbox: one row per email to send, written by producers, claimed and sent by
/// dispatchers. The unique dedupe key is what makes producing twice send once.
#[derive(DeriveIden)]
enum Emails {
    Table,
    Id,
    DedupeKey,
    Kind,
    CampaignId,
    CustomerId,
    ToAddress,
    Subject,
    Status,
    Attempts,
    LastError,
    SuppressionReason,
    ScheduledFor,
    ClaimedUntil,
    SentAt,
    OfferCode,
    OfferExpiresOn,
    ConvertedAt,
    UnsubscribedAt,
    /// JSON: variables fixed when produced (holiday name, segment name, digest figures).
    Payload,
    MessageId,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use Campaigns as C;
        use Emails as E;
        manager
            .create_table(
                Table::create()
                    .table(C::Table)
                    .col(id_column(C::Id))
                    .col(
                        ColumnDef::new(C::Name)
                            .string_len(200)
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(C::Kind).string_len(32).not_null())
                    .col(ColumnDef::new(C::Enabled).boolean().not_null())
                    .col(ColumnDef::new(C::Target).text().not_null())
                    .col(ColumnDef::new(C::SendHour).integer().not_null())
                    .col(ColumnDef::new(C::Templates).text().not_null())
                    .col(ColumnDef::new(C::Settings).text().not_null())
                    .col(timestamp(C::LastRunAt).null())
                    .col(timestamp(C::CreatedAt).not_null())
                    .col(timestamp(C::UpdatedAt).not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(E::Table)
                    .col(id_column(E::Id))
                    .col(
                        ColumnDef::new(E::DedupeKey)
                            .string_len(300)
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(E::Kind).string_len(32).not_null())
                    .col(ColumnDef::new(E::CampaignId).big_integer().null())
                    .col(ColumnDef::new(E::CustomerId).big_integer().null())
                    .col(ColumnDef::new(E::ToAddress).string_len(320).null())
                    .col(ColumnDef::new(E::Subject).string_len(500).null())
                    .col(ColumnDef::new(E::Status).string_len(16).not_null())
                    .col(ColumnDef::new(E::Attempts).integer().not_null().default(0))
                    .col(ColumnDef::new(E::LastError).text().null())
                    .col(ColumnDef::new(E::SuppressionReason).string_len(32).null())
                    .col(timestamp(E::ScheduledFor).not_null())
                    .col(timestamp(E::ClaimedUntil).null())
                    .col(timestamp(E::SentAt).null())
                    .col(
                        ColumnDef::new(E::OfferCode)
                            .string_len(64)
                            .null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(E::OfferExpiresOn).date().null())
                    .col(timestamp(E::ConvertedAt).null())
                    .col(timestamp(E::UnsubscribedAt).null())
                    .col(ColumnDef::new(E::Payload).text().null())
                    .col(ColumnDef::new(E::MessageId).string_len(400).null())
                    .col(timestamp(E::CreatedAt).not_null())
                    .col(timestamp(E::UpdatedAt).not_null())
                    .to_owned(),
            )
            .await?;
        // The dispatcher's claim: due rows by status and time.
        manager
            .create_index(
                Index::create()
                    .name("idx_emails_due")
                    .table(E::Table)
                    .col(E::Status)
                    .col(E::ScheduledFor)
                    .to_owned(),
            )
            .await?;
        // Customer.emails, the frequency cap and win-back cooldown/conversion.
        manager
            .create_index(
                Index::create()
                    .name("idx_emails_customer")
                    .table(E::Table)
                    .col(E::CustomerId)
                    .col(E::Kind)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_emails_campaign")
                    .table(E::Table)
                    .col(E::CampaignId)
                    .col(E::Status)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Emails::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Campaigns::Table).to_owned())
            .await
    }
}
