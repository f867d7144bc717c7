//! Erasure in the outbox: every copy of a customer's personal data that email holds.
//!
//! An email row keeps the address it went to, a subject that may greet by name, the
//! last SMTP reply (servers echo the recipient) and its payload; without an SMTP server
//! the message itself lies in the outbox directory as an `.eml` file. A marketer digest
//! lists high-value customers gone silent by name. Erasing a customer wipes all of it,
//! and cancels what has not gone out yet.

use std::path::Path;

use anyhow::Context;
use entity::{EmailKind, EmailStatus, SuppressionReason, email};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QuerySelect, Set, sea_query::Expr,
};

use super::transport::eml_path;
use crate::campaigns::digest::Digest;

/// The `.eml` files to delete once the erasure is committed.
#[derive(Debug, Default)]
#[must_use = "the files still hold the erased data until deleted"]
pub struct ErasedFiles {
    email_ids: Vec<i64>,
}

/// Wipes the customer's data from their email rows and the digests that name them, and
/// suppresses their emails not yet sent (`ERASED`). Run it in the erasure's transaction,
/// then [`ErasedFiles::delete`] after the commit (a rolled-back erasure keeps its files).
pub async fn erase_customer(
    db: &impl ConnectionTrait,
    customer_id: i64,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<ErasedFiles> {
    // A SENDING row may be on the wire already; the rest never leave.
    email::Entity::update_many()
        .col_expr(email::Column::Status, Expr::value(EmailStatus::Suppressed))
        .col_expr(
            email::Column::SuppressionReason,
            Expr::value(SuppressionReason::Erased),
        )
        .col_expr(
            email::Column::ClaimedUntil,
            Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
        )
        .col_expr(email::Column::UpdatedAt, Expr::value(now))
        .filter(email::Column::CustomerId.eq(customer_id))
        .filter(email::Column::Status.is_in([
            EmailStatus::Queued,
            EmailStatus::Retrying,
            EmailStatus::Sending,
        ]))
        .exec(db)
        .await
        .context("failed to cancel the erased customer's queued emails")?;
    let none = || Expr::value(Option::<String>::None);
    email::Entity::update_many()
        .col_expr(email::Column::ToAddress, none())
        .col_expr(email::Column::Subject, none())
        .col_expr(email::Column::LastError, none())
        .col_expr(email::Column::Payload, none())
        .col_expr(email::Column::UpdatedAt, Expr::value(now))
        .filter(email::Column::CustomerId.eq(customer_id))
        .exec(db)
        .await
        .context("failed to wipe the erased customer's emails")?;
    let mut email_ids: Vec<i64> = email::Entity::find()
        .select_only()
        .column(email::Column::Id)
        .filter(email::Column::CustomerId.eq(customer_id))
        .into_tuple()
        .all(db)
        .await
        .context("failed to list the erased customer's emails")?;

    // Digests name at-risk customers. The JSON is ours (`"customer_id":7,`), so a
    // pattern finds the few digests that list this one without reading every payload.
    let digests = email::Entity::find()
        .filter(email::Column::CustomerId.eq(email::NO_CUSTOMER))
        .filter(email::Column::Kind.eq(EmailKind::Digest))
        .filter(email::Column::Payload.like(format!("%\"customer_id\":{customer_id},%")))
        // Rewritten from what was read: two erasures naming one digest take turns
        // (PostgreSQL row locks; SQLite writers are serialised and ignore the clause).
        .lock_exclusive()
        .all(db)
        .await
        .context("failed to find digests naming the erased customer")?;
    for row in digests {
        let Some(payload) = row.payload.as_deref() else {
            continue;
        };
        let mut digest: Digest =
            serde_json::from_str(payload).context("a digest payload is unreadable")?;
        let mut named = false;
        for entry in digest
            .at_risk
            .iter_mut()
            .filter(|entry| entry.customer_id == customer_id)
        {
            named |= entry.name.take().is_some();
        }
        if !named {
            continue;
        }
        email_ids.push(row.id);
        let payload = serde_json::to_string(&digest)?;
        let mut active = row.into_active_model();
        active.payload = Set(Some(payload));
        active.updated_at = Set(now);
        active
            .update(db)
            .await
            .context("failed to wipe the erased customer from a digest")?;
    }
    Ok(ErasedFiles { email_ids })
}

/// After an erasure's commit on SQLite: copies the WAL back into the database file and
/// empties it, so that the erased values' old page images do not linger in the WAL
/// (`secure_delete` zeroes them in the database file itself). PostgreSQL keeps dead
/// row versions until VACUUM; that is its operators' concern, documented in the README.
pub async fn flush_erased_pages(db: &impl ConnectionTrait) -> anyhow::Result<()> {
    if db.get_database_backend() == sea_orm::DatabaseBackend::Sqlite {
        db.execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)")
            .await
            .context("failed to checkpoint the WAL after an erasure")?;
    }
    Ok(())
}

impl ErasedFiles {
    /// Deletes the `.eml` files of the wiped emails from `outbox_dir` (a digest's file
    /// goes too: its copy named the customer). Files that were never written are fine.
    pub async fn delete(self, outbox_dir: &Path) -> anyhow::Result<usize> {
        let mut deleted = 0;
        for id in self.email_ids {
            let path = eml_path(outbox_dir, id);
            match tokio::fs::remove_file(&path).await {
                Ok(()) => deleted += 1,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => {
                    return Err(error)
                        .with_context(|| format!("failed to delete {}", path.display()));
                }
            }
        }
        Ok(deleted)
    }
}
