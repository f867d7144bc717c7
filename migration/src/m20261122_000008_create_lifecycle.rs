use entity::sql::median_gap_sql;
use sea_orm_migration::prelude::*;

use crate::{id_column, timestamp};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CustomersAdded {
    #[sea_orm(iden = "customers")]
    Table,
    MedianGapDays,
}

#[derive(DeriveIden)]
enum CustomerLifecycle {
    Table,
    CustomerId,
    Stage,
    Since,
    Reason,
    JobRunId,
}

#[derive(DeriveIden)]
enum LifecycleEvents {
    Table,
    Id,
    CustomerId,
    FromStage,
    ToStage,
    At,
    Reason,
    Reactivation,
    JobRunId,
    WinBackEmailId,
}

#[derive(DeriveIden)]
enum LifecyclePlaybooks {
    Table,
    Stage,
    Goal,
    Strategy,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AppSettings {
    Table,
    Key,
    Value,
    UpdatedAt,
}

/// The seeded playbook of each stage: a goal and a strategy drawn from the stage rules.
const PLAYBOOKS: [(&str, &str, &str); 6] = [
    (
        "PROSPECT",
        "Turn interest into a first order.",
        "Welcome series with a first-order incentive; learn interests and needs from every touch.",
    ),
    (
        "NEW",
        "Make the first 30 days lead to a second order.",
        "Welcome note after the first order, onboarding tips, a timely second-order offer matched to the first purchase.",
    ),
    (
        "ACTIVE",
        "Keep customers buying on their own rhythm.",
        "Relevant recommendations at their usual interval, satisfaction surveys, cross-sell into new categories.",
    ),
    (
        "LOYAL",
        "Reward and keep the most valuable relationships.",
        "Recognition and early access, birthday and anniversary notes, referral invitations; protect against service failures.",
    ),
    (
        "SILENT",
        "Win the customer back before they churn.",
        "Personal check-in, a win-back offer with an expiry, highest predicted value first; ask what changed.",
    ),
    (
        "CHURNED",
        "Reactivate where it pays, learn why otherwise.",
        "Occasional win-back offers to customers with value left, exit surveys, stop regular sends to protect deliverability.",
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(CustomersAdded::Table)
                    .add_column(ColumnDef::new(CustomersAdded::MedianGapDays).double())
                    .to_owned(),
            )
            .await?;
        // Existing customers get their rhythm from their orders; from now on every
        // recordOrders keeps it up to date.
        let backend = manager.get_database_backend();
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "UPDATE customers SET median_gap_days = {} WHERE purchase_days > 1",
                median_gap_sql(backend, "customers.id")
            ))
            .await?;

        // The lifecycle tables have no foreign key to customers: the job derives them
        // from the customers table, customers are never deleted (erasure keeps the
        // row), and on PostgreSQL each key check locks the referenced customer row,
        // which more than doubled the first classification of a million customers.
        use CustomerLifecycle as L;
        manager
            .create_table(
                Table::create()
                    .table(L::Table)
                    .col(
                        ColumnDef::new(L::CustomerId)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(L::Stage).string_len(16).not_null())
                    .col(timestamp(L::Since).not_null())
                    .col(ColumnDef::new(L::Reason).text().not_null())
                    .col(ColumnDef::new(L::JobRunId).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        // The early-warning list and the stage filter read one stage at a time.
        manager
            .create_index(
                Index::create()
                    .name("customer_lifecycle_stage_idx")
                    .table(L::Table)
                    .col(L::Stage)
                    .col(L::Since)
                    .to_owned(),
            )
            .await?;

        use LifecycleEvents as E;
        manager
            .create_table(
                Table::create()
                    .table(E::Table)
                    .col(id_column(E::Id))
                    .col(ColumnDef::new(E::CustomerId).big_integer().not_null())
                    .col(ColumnDef::new(E::FromStage).string_len(16))
                    .col(ColumnDef::new(E::ToStage).string_len(16).not_null())
                    .col(timestamp(E::At).not_null())
                    .col(ColumnDef::new(E::Reason).text().not_null())
                    .col(ColumnDef::new(E::Reactivation).boolean().not_null())
                    .col(ColumnDef::new(E::JobRunId).big_integer().not_null())
                    .col(ColumnDef::new(E::WinBackEmailId).big_integer())
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            // A customer's history, oldest first.
            (
                "lifecycle_events_customer_idx",
                vec![E::CustomerId, E::At, E::Id],
            ),
            // Transitions in a period.
            ("lifecycle_events_at_idx", vec![E::At]),
        ] {
            let mut index = Index::create();
            index.name(name).table(E::Table);
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }

        use LifecyclePlaybooks as P;
        manager
            .create_table(
                Table::create()
                    .table(P::Table)
                    .col(
                        ColumnDef::new(P::Stage)
                            .string_len(16)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(P::Goal).text().not_null())
                    .col(ColumnDef::new(P::Strategy).text().not_null())
                    .col(timestamp(P::UpdatedAt).not_null())
                    .to_owned(),
            )
            .await?;
        let mut seed = Query::insert();
        seed.into_table(P::Table)
            .columns([P::Stage, P::Goal, P::Strategy, P::UpdatedAt]);
        for (stage, goal, strategy) in PLAYBOOKS {
            seed.values_panic([
                stage.into(),
                goal.into(),
                strategy.into(),
                Expr::current_timestamp(),
            ]);
        }
        manager.exec_stmt(seed).await?;

        use AppSettings as S;
        manager
            .create_table(
                Table::create()
                    .table(S::Table)
                    .col(
                        ColumnDef::new(S::Key)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(S::Value).text().not_null())
                    .col(timestamp(S::UpdatedAt).not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AppSettings::Table.into_iden(),
            LifecyclePlaybooks::Table.into_iden(),
            LifecycleEvents::Table.into_iden(),
            CustomerLifecycle::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(CustomersAdded::Table)
                    .drop_column(CustomersAdded::MedianGapDays)
                    .to_owned(),
            )
            .await
    }
}
