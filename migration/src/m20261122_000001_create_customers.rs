use sea_orm_migration::prelude::*;

use crate::{id_column, timestamp};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub(crate) enum Customers {
    Table,
    Id,
    ExternalId,
    Name,
    Email,
    Phone,
    Gender,
    BirthDate,
    Country,
    Region,
    City,
    IncomeBand,
    Occupation,
    Lifestyle,
    Needs,
    AcquisitionChannel,
    ReferredBy,
    Locale,
    TimeZone,
    MarketingConsent,
    ConsentUpdatedAt,
    UnsubscribedAt,
    ErasedAt,
    CreatedAt,
    UpdatedAt,
    OrderCount,
    TotalSpent,
    FirstOrderAt,
    LastOrderAt,
    PurchaseDays,
    FirstDayTotal,
    SearchText,
}

#[derive(DeriveIden)]
enum CustomerInterests {
    Table,
    CustomerId,
    Tag,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Customers::Table)
                    .col(id_column(Customers::Id))
                    .col(
                        ColumnDef::new(Customers::ExternalId)
                            .string_len(128)
                            .unique_key(),
                    )
                    .col(ColumnDef::new(Customers::Name).string_len(200))
                    .col(
                        ColumnDef::new(Customers::Email)
                            .string_len(254)
                            .unique_key(),
                    )
                    .col(ColumnDef::new(Customers::Phone).string_len(16))
                    .col(
                        ColumnDef::new(Customers::Gender)
                            .string_len(16)
                            .not_null()
                            .default("UNKNOWN"),
                    )
                    .col(ColumnDef::new(Customers::BirthDate).date())
                    .col(ColumnDef::new(Customers::Country).string_len(2))
                    .col(ColumnDef::new(Customers::Region).string_len(100))
                    .col(ColumnDef::new(Customers::City).string_len(100))
                    .col(ColumnDef::new(Customers::IncomeBand).string_len(64))
                    .col(ColumnDef::new(Customers::Occupation).string_len(100))
                    .col(ColumnDef::new(Customers::Lifestyle).string_len(100))
                    .col(ColumnDef::new(Customers::Needs).string_len(100))
                    .col(ColumnDef::new(Customers::AcquisitionChannel).string_len(64))
                    .col(ColumnDef::new(Customers::ReferredBy).big_integer())
                    .col(
                        ColumnDef::new(Customers::Locale)
                            .string_len(35)
                            .not_null()
                            .default("en"),
                    )
                    .col(
                        ColumnDef::new(Customers::TimeZone)
                            .string_len(64)
                            .not_null()
                            .default("UTC"),
                    )
                    .col(
                        ColumnDef::new(Customers::MarketingConsent)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(timestamp(Customers::ConsentUpdatedAt))
                    .col(timestamp(Customers::UnsubscribedAt))
                    .col(timestamp(Customers::ErasedAt))
                    .col(timestamp(Customers::CreatedAt).not_null())
                    .col(timestamp(Customers::UpdatedAt).not_null())
                    .col(
                        ColumnDef::new(Customers::OrderCount)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(Customers::TotalSpent)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(timestamp(Customers::FirstOrderAt))
                    .col(timestamp(Customers::LastOrderAt))
                    .col(
                        ColumnDef::new(Customers::PurchaseDays)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(Customers::FirstDayTotal)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(ColumnDef::new(Customers::SearchText).text())
                    .foreign_key(
                        ForeignKey::create()
                            .name("customers_referred_by_fkey")
                            .from(Customers::Table, Customers::ReferredBy)
                            .to(Customers::Table, Customers::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;

        // Every sort the API offers is (key, id) for keyset pagination, and the filters
        // that narrow a large base get an index of their own.
        for (name, columns) in [
            (
                "customers_created_at_idx",
                vec![Customers::CreatedAt, Customers::Id],
            ),
            ("customers_name_idx", vec![Customers::Name, Customers::Id]),
            (
                "customers_last_order_at_idx",
                vec![Customers::LastOrderAt, Customers::Id],
            ),
            (
                "customers_total_spent_idx",
                vec![Customers::TotalSpent, Customers::Id],
            ),
            (
                "customers_country_city_idx",
                vec![Customers::Country, Customers::City],
            ),
            ("customers_birth_date_idx", vec![Customers::BirthDate]),
            ("customers_phone_idx", vec![Customers::Phone]),
            ("customers_referred_by_idx", vec![Customers::ReferredBy]),
        ] {
            let mut index = Index::create();
            index.name(name).table(Customers::Table);
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(CustomerInterests::Table)
                    .col(
                        ColumnDef::new(CustomerInterests::CustomerId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CustomerInterests::Tag)
                            .string_len(64)
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(CustomerInterests::CustomerId)
                            .col(CustomerInterests::Tag),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("customer_interests_customer_id_fkey")
                            .from(CustomerInterests::Table, CustomerInterests::CustomerId)
                            .to(Customers::Table, Customers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("customer_interests_tag_idx")
                    .table(CustomerInterests::Table)
                    .col(CustomerInterests::Tag)
                    .col(CustomerInterests::CustomerId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CustomerInterests::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Customers::Table).to_owned())
            .await
    }
}
