use sea_orm_migration::prelude::*;

use crate::m20261122_000001_create_customers::Customers;
use crate::{id_column, timestamp};

/// The membership programme: each member's account (kept balance and tier), the points
/// ledger, and the tier changes.
///
/// All three are per customer: `customer_id` leads every primary and unique key, so they
/// distribute by customer on Citus, co-located with `customers` and `orders` (the ledger
/// and the account of a customer live on one shard, and the set-based statements of the
/// `loyalty` job join them with `orders` on `customer_id`). `loyalty_ledger` and
/// `loyalty_tier_events` have an `id` primary key here, `(customer_id, id)` on Citus
/// (`distribute::PLAN`).
///
/// - `loyalty_accounts.balance` is kept (the redeem guard `balance >= points` reads it)
///   and never negative (`CHECK`); it equals the sum of the ledger's `points`, and the
///   sum of the positive lots' `remaining`.
/// - `loyalty_ledger.cause_key`, unique per customer, makes a cause count once:
///   `order:<id>` (one EARN per order), `birthday:<year>`, `referral:<customer id>`,
///   `expire:<day>`, and the idempotency keys of redemptions and adjustments.
///   Entries without a key (NULL) are never in conflict.
/// - `remaining`: for positive lots, the points not consumed yet (redemptions, negative
///   adjustments and expiries consume them oldest first); 0 for negative entries.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum LoyaltyAccounts {
    Table,
    CustomerId,
    Balance,
    Tier,
    TierSince,
    GraceUntil,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum LoyaltyLedger {
    Table,
    Id,
    CustomerId,
    Kind,
    Points,
    Remaining,
    OccurredAt,
    OrderId,
    EmailId,
    ApiKeyId,
    Reason,
    CauseKey,
    CreatedAt,
}

#[derive(DeriveIden)]
enum LoyaltyTierEvents {
    Table,
    Id,
    CustomerId,
    FromTier,
    ToTier,
    Reason,
    GraceUntil,
    OccurredAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use LoyaltyAccounts as A;
        use LoyaltyLedger as L;
        use LoyaltyTierEvents as T;
        manager
            .create_table(
                Table::create()
                    .table(A::Table)
                    .col(
                        ColumnDef::new(A::CustomerId)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(A::Balance)
                            .big_integer()
                            .not_null()
                            .default(0)
                            .check(Expr::col(A::Balance).gte(0)),
                    )
                    .col(ColumnDef::new(A::Tier).string_len(64))
                    .col(timestamp(A::TierSince))
                    .col(timestamp(A::GraceUntil))
                    .col(timestamp(A::CreatedAt).not_null())
                    .col(timestamp(A::UpdatedAt).not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("loyalty_accounts_customer_id_fkey")
                            .from(A::Table, A::CustomerId)
                            .to(Customers::Table, Customers::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(L::Table)
                    .col(id_column(L::Id))
                    .col(ColumnDef::new(L::CustomerId).big_integer().not_null())
                    .col(ColumnDef::new(L::Kind).string_len(16).not_null())
                    .col(ColumnDef::new(L::Points).big_integer().not_null())
                    .col(
                        ColumnDef::new(L::Remaining)
                            .big_integer()
                            .not_null()
                            .default(0)
                            .check(Expr::col(L::Remaining).gte(0)),
                    )
                    .col(timestamp(L::OccurredAt).not_null())
                    .col(ColumnDef::new(L::OrderId).big_integer())
                    .col(ColumnDef::new(L::EmailId).big_integer())
                    .col(ColumnDef::new(L::ApiKeyId).big_integer())
                    .col(ColumnDef::new(L::Reason).text())
                    .col(ColumnDef::new(L::CauseKey).string_len(200))
                    .col(timestamp(L::CreatedAt).not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("loyalty_ledger_customer_id_fkey")
                            .from(L::Table, L::CustomerId)
                            .to(Customers::Table, Customers::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("loyalty_ledger_cause_key")
                    .table(L::Table)
                    .col(L::CustomerId)
                    .col(L::CauseKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // A customer's entries by time: the ledger pages and the lots, oldest first.
        manager
            .create_index(
                Index::create()
                    .name("loyalty_ledger_customer_idx")
                    .table(L::Table)
                    .col(L::CustomerId)
                    .col(L::OccurredAt)
                    .col(L::Id)
                    .to_owned(),
            )
            .await?;
        // The lots the expiry looks at: positive entries not consumed yet, by earn time.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX loyalty_ledger_open_lots_idx ON loyalty_ledger (occurred_at) \
                 WHERE remaining > 0",
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(T::Table)
                    .col(id_column(T::Id))
                    .col(ColumnDef::new(T::CustomerId).big_integer().not_null())
                    .col(ColumnDef::new(T::FromTier).string_len(64))
                    .col(ColumnDef::new(T::ToTier).string_len(64))
                    .col(ColumnDef::new(T::Reason).string_len(16).not_null())
                    .col(timestamp(T::GraceUntil))
                    .col(timestamp(T::OccurredAt).not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("loyalty_tier_events_customer_id_fkey")
                            .from(T::Table, T::CustomerId)
                            .to(Customers::Table, Customers::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("loyalty_tier_events_customer_idx")
                    .table(T::Table)
                    .col(T::CustomerId)
                    .col(T::OccurredAt)
                    .col(T::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            LoyaltyTierEvents::Table.into_iden(),
            LoyaltyLedger::Table.into_iden(),
            LoyaltyAccounts::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
