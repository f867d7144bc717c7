//! Privacy erasure: a customer's personal data goes, everywhere it was copied; what is
//! not personal (orders, their aggregates, country, acquisition channel, the
//! externalId that partner feeds match on) stays. Erasing twice is harmless.

use std::path::Path;

use anyhow::Context;
use chrono::Utc;
use entity::customer;
use sea_orm::{ActiveModelTrait, DatabaseConnection, IntoActiveModel, TransactionTrait};

use super::profile::{blank_customer, replace_interests};
use crate::errors::DomainResult;
use crate::orders::OrderAggregates;

/// Wipes the personal data of the customer with this id (as the API spells it): the
/// profile, interests, interaction texts and feedback comments, and in the outbox their
/// emails (address, subject, last reply, content, the `.eml` files under `outbox_dir`)
/// and their name in marketer digests; emails not yet sent are suppressed. Sets
/// `erased_at`; an erased customer is never emailed and cannot be changed again.
pub async fn erase(
    db: &DatabaseConnection,
    id: &str,
    outbox_dir: &Path,
) -> DomainResult<customer::Model> {
    let existing = super::find_for_write(db, id).await?;
    if existing.erased_at.is_some() {
        return Ok(existing);
    }
    let now = Utc::now();
    let mut erased = blank_customer(existing.external_id.clone());
    erased.id = existing.id;
    erased.country = existing.country.clone();
    erased.acquisition_channel = existing.acquisition_channel.clone();
    erased.referred_by = existing.referred_by;
    // The code stops working: nobody can sign up as referred by an erased person. The
    // customers they referred keep pointing at the row, so referral figures stay whole.
    erased.referral_code = None;
    erased.created_at = existing.created_at;
    // Orders are kept, anonymous, and so are their aggregates.
    OrderAggregates::kept_on(&existing).apply_to(&mut erased);
    erased.consent_updated_at = if existing.marketing_consent {
        Some(now)
    } else {
        existing.consent_updated_at
    };
    erased.unsubscribed_at = existing.unsubscribed_at;
    erased.erased_at = Some(now);
    erased.updated_at = now;

    let txn = db.begin().await.context("failed to begin an erasure")?;
    let mut active = erased.into_active_model().reset_all();
    OrderAggregates::leave_out(&mut active);
    let saved = active
        .update(&txn)
        .await
        .context("failed to wipe the customer row")?;
    super::keys::keep(&txn, Some(&existing), &saved)
        .await
        .context("failed to drop the customer's email and referral code from the lookups")?;
    replace_interests(&txn, saved.id, Vec::new())
        .await
        .context("failed to wipe the customer's interests")?;
    crate::interactions::erase_texts(&txn, saved.id)
        .await
        .context("failed to wipe the customer's interactions")?;
    crate::feedback::erase_comments(&txn, saved.id)
        .await
        .context("failed to wipe the customer's feedback comments")?;
    crate::loyalty::ledger::erase_reasons(&txn, saved.id)
        .await
        .context("failed to wipe the customer's loyalty reasons")?;
    let files = crate::mail::erasure::erase_customer(&txn, saved.id, now).await?;
    txn.commit().await.context("failed to commit an erasure")?;
    crate::mail::erasure::flush_erased_pages(db).await?;
    let deleted = files.delete(outbox_dir).await?;
    tracing::info!(
        customer_id = saved.id,
        eml_files_deleted = deleted,
        "customer erased"
    );
    Ok(saved)
}
