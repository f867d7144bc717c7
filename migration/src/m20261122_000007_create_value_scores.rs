use sea_orm_migration::prelude::*;

use crate::m20261122_000001_create_customers::Customers;
use crate::{id_column, timestamp};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ValueModels {
    Table,
    Id,
    JobRunId,
    AsOf,
    FittedAt,
    CustomersUsed,
    RepeatCustomers,
    TimeUnit,
    Converged,
    BgnbdR,
    BgnbdAlpha,
    BgnbdA,
    BgnbdB,
    BgnbdLogLikelihood,
    BgnbdIterations,
    BgnbdGradientNorm,
    GgP,
    GgQ,
    GgGamma,
    GgLogLikelihood,
    GgIterations,
    GgGradientNorm,
    Note,
}

#[derive(DeriveIden)]
pub(crate) enum CustomerValues {
    Table,
    CustomerId,
    JobRunId,
    AsOf,
    RecencyDays,
    Frequency,
    Monetary,
    TotalSpent,
    RScore,
    FScore,
    MScore,
    RfmCode,
    RfmGroup,
    RepeatPurchases,
    #[sea_orm(iden = "t_x_weeks")]
    TXWeeks,
    TWeeks,
    PAlive,
    ExpectedOrderValue,
    PredictedClv,
    ValueTier,
    ChurnRisk,
    EconomicScore,
    LoyaltyScore,
    AdvocacyScore,
    SatisfactionScore,
    CompositeScore,
    ComputedAt,
}

#[derive(DeriveIden)]
pub(crate) enum CustomerValueHistory {
    Table,
    CustomerId,
    JobRunId,
    AsOf,
    RfmCode,
    PAlive,
    PredictedClv,
    ValueTier,
    CompositeScore,
}

fn double<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name).double().to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use ValueModels as V;
        manager
            .create_table(
                Table::create()
                    .table(V::Table)
                    .col(id_column(V::Id))
                    .col(ColumnDef::new(V::JobRunId).big_integer().not_null())
                    .col(ColumnDef::new(V::AsOf).date().not_null())
                    .col(timestamp(V::FittedAt).not_null())
                    .col(ColumnDef::new(V::CustomersUsed).big_integer().not_null())
                    .col(ColumnDef::new(V::RepeatCustomers).big_integer().not_null())
                    .col(ColumnDef::new(V::TimeUnit).string_len(16).not_null())
                    .col(ColumnDef::new(V::Converged).boolean().not_null())
                    .col(double(V::BgnbdR))
                    .col(double(V::BgnbdAlpha))
                    .col(double(V::BgnbdA))
                    .col(double(V::BgnbdB))
                    .col(double(V::BgnbdLogLikelihood))
                    .col(ColumnDef::new(V::BgnbdIterations).big_integer())
                    .col(double(V::BgnbdGradientNorm))
                    .col(double(V::GgP))
                    .col(double(V::GgQ))
                    .col(double(V::GgGamma))
                    .col(double(V::GgLogLikelihood))
                    .col(ColumnDef::new(V::GgIterations).big_integer())
                    .col(double(V::GgGradientNorm))
                    .col(ColumnDef::new(V::Note).text())
                    .to_owned(),
            )
            .await?;

        create_customer_values(manager, ScoresKey::Customer).await?;

        create_history(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CustomerValueHistory::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(CustomerValues::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ValueModels::Table).to_owned())
            .await
    }
}

/// How `customer_values` is keyed: first one row per customer, replaced by each run
/// (this migration); since m20261122_000009 one row per run and customer.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScoresKey {
    Customer,
    RunAndCustomer,
}

pub(crate) async fn create_customer_values(
    manager: &SchemaManager<'_>,
    key: ScoresKey,
) -> Result<(), DbErr> {
    use CustomerValues as C;
    let mut table = Table::create();
    table.table(C::Table);
    match key {
        ScoresKey::Customer => table
            .primary_key(Index::create().col(C::CustomerId))
            .foreign_key(
                ForeignKey::create()
                    .name("customer_values_customer_id_fkey")
                    .from(C::Table, C::CustomerId)
                    .to(Customers::Table, Customers::Id)
                    .on_delete(ForeignKeyAction::Cascade),
            ),
        // No foreign key: the scores are derived from the customers table by the job,
        // customers are never deleted (erasure keeps the row), and on PostgreSQL the
        // key's check locks every referenced customer row — 8 of the 21 s a million-row
        // insert took.
        ScoresKey::RunAndCustomer => {
            table.primary_key(Index::create().col(C::JobRunId).col(C::CustomerId))
        }
    };
    manager
        .create_table(
            table
                .col(ColumnDef::new(C::CustomerId).big_integer().not_null())
                .col(ColumnDef::new(C::JobRunId).big_integer().not_null())
                .col(ColumnDef::new(C::AsOf).date().not_null())
                .col(ColumnDef::new(C::RecencyDays).big_integer())
                .col(ColumnDef::new(C::Frequency).big_integer().not_null())
                .col(ColumnDef::new(C::Monetary).big_integer())
                .col(ColumnDef::new(C::TotalSpent).big_integer().not_null())
                .col(ColumnDef::new(C::RScore).small_integer())
                .col(ColumnDef::new(C::FScore).small_integer())
                .col(ColumnDef::new(C::MScore).small_integer())
                .col(ColumnDef::new(C::RfmCode).string_len(3))
                .col(ColumnDef::new(C::RfmGroup).string_len(32))
                .col(ColumnDef::new(C::RepeatPurchases).big_integer().not_null())
                .col(double(C::TXWeeks).not_null())
                .col(double(C::TWeeks).not_null())
                .col(double(C::PAlive))
                .col(ColumnDef::new(C::ExpectedOrderValue).big_integer())
                .col(ColumnDef::new(C::PredictedClv).big_integer())
                .col(ColumnDef::new(C::ValueTier).string_len(8))
                .col(double(C::ChurnRisk))
                .col(double(C::EconomicScore).not_null())
                .col(double(C::LoyaltyScore).not_null())
                .col(double(C::AdvocacyScore).not_null())
                .col(double(C::SatisfactionScore))
                .col(double(C::CompositeScore).not_null())
                .col(timestamp(C::ComputedAt).not_null())
                .to_owned(),
        )
        .await?;
    if key == ScoresKey::RunAndCustomer {
        // No secondary index: the API sorts customers by a LEFT JOIN of the latest run,
        // which no index on the scores serves, and each index cost ~4 s of the
        // million-row insert of every run (measured on PostgreSQL).
        return Ok(());
    }
    // Sort keys of the API, with the id for keyset pagination. Tier and RFM group are
    // deliberately not indexed: with a handful of values each, a filter on them scans
    // anyway, and every index costs the daily rewrite of a million rows.
    for (name, column) in [
        ("customer_values_predicted_clv_idx", C::PredictedClv),
        ("customer_values_churn_risk_idx", C::ChurnRisk),
    ] {
        manager
            .create_index(
                Index::create()
                    .name(name)
                    .table(C::Table)
                    .col(column)
                    .col(C::CustomerId)
                    .to_owned(),
            )
            .await?;
    }
    Ok(())
}

/// The history table of this migration (dropped by m20261122_000009).
pub(crate) async fn create_history(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    use CustomerValueHistory as H;
    manager
        .create_table(
            Table::create()
                .table(H::Table)
                .col(ColumnDef::new(H::CustomerId).big_integer().not_null())
                .col(ColumnDef::new(H::JobRunId).big_integer().not_null())
                .col(ColumnDef::new(H::AsOf).date().not_null())
                .col(ColumnDef::new(H::RfmCode).string_len(3))
                .col(double(H::PAlive))
                .col(ColumnDef::new(H::PredictedClv).big_integer())
                .col(ColumnDef::new(H::ValueTier).string_len(8))
                .col(double(H::CompositeScore).not_null())
                // Run first: each run appends at the end of the index instead of
                // touching every page of it (a per-customer trend API would add an
                // index on customer_id).
                .primary_key(Index::create().col(H::JobRunId).col(H::CustomerId))
                .to_owned(),
        )
        .await
}
