//! Reading the outbox and sending an email again: the list of emails with their
//! outcomes (all of them, or one customer's), and an admin's retry of a failed or
//! suppressed one.

use std::collections::HashMap;

use anyhow::Context;
use chrono::Utc;
use entity::{EmailKind, EmailStatus, email};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect,
    sea_query::{Cond, Order},
};

use crate::{DomainError, DomainResult};

/// Narrows the email list; every part given must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EmailFilter {
    pub status: Option<EmailStatus>,
    pub kind: Option<EmailKind>,
    pub customer_id: Option<i64>,
    pub campaign_id: Option<i64>,
}

/// Up to `limit` emails, newest first, before the id `before`.
pub async fn page(
    db: &impl ConnectionTrait,
    filter: &EmailFilter,
    before: Option<i64>,
    limit: u64,
) -> DomainResult<Vec<email::Model>> {
    let mut query = email::Entity::find()
        .order_by_desc(email::Column::Id)
        .limit(limit);
    if let Some(status) = filter.status {
        query = query.filter(email::Column::Status.eq(status));
    }
    if let Some(kind) = filter.kind {
        query = query.filter(email::Column::Kind.eq(kind));
    }
    if let Some(id) = filter.customer_id {
        query = query.filter(email::Column::CustomerId.eq(id));
    }
    if let Some(id) = filter.campaign_id {
        query = query.filter(email::Column::CampaignId.eq(id));
    }
    if let Some(before) = before {
        query = query.filter(email::Column::Id.lt(before));
    }
    Ok(query
        .all(db)
        .await
        .context("failed to load a page of emails")?)
}

/// Whose emails a nested page lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EmailOwner {
    /// `Customer.emails`.
    Customer,
    /// `Campaign.emails`.
    Campaign,
}

/// The same page of emails (newest first, up to `limit` before the id `before`) of each
/// customer or campaign in `owner_ids`, in one statement ([`crate::pages`]). Every owner
/// asked about has an entry.
pub async fn pages_of(
    db: &impl ConnectionTrait,
    owner: EmailOwner,
    owner_ids: &[i64],
    before: Option<i64>,
    limit: u64,
) -> DomainResult<HashMap<i64, Vec<email::Model>>> {
    let column = match owner {
        EmailOwner::Customer => email::Column::CustomerId,
        EmailOwner::Campaign => email::Column::CampaignId,
    };
    let mut condition = Cond::all();
    if let Some(before) = before {
        condition = condition.add(email::Column::Id.lt(before));
    }
    Ok(crate::pages::first_rows_of_each::<email::Entity>(
        db,
        column,
        owner_ids,
        condition,
        &[(email::Column::Id, Order::Desc)],
        limit,
    )
    .await
    .context("failed to load pages of emails")?)
}

/// Sends a failed or suppressed email again at the next dispatch: queued now, attempts
/// starting over, no suppression. Any other email is refused (`id`).
pub async fn retry(db: &impl ConnectionTrait, id: i64) -> DomainResult<email::Model> {
    let current = email::Entity::find_by_id(id)
        .one(db)
        .await
        .context("failed to load the email")?
        .ok_or_else(|| DomainError::not_found(format!("email {id}")))?;
    if !matches!(
        current.status,
        EmailStatus::Failed | EmailStatus::Suppressed
    ) {
        return Err(DomainError::invalid(
            "id",
            format!(
                "only FAILED or SUPPRESSED emails can be retried; this one is {}",
                current.status.as_str()
            ),
        ));
    }
    let now = Utc::now();
    let mut record = current.into_active_model();
    record.status = Set(EmailStatus::Queued);
    record.attempts = Set(0);
    record.suppression_reason = Set(None);
    record.scheduled_for = Set(now);
    record.claimed_until = Set(None);
    record.updated_at = Set(now);
    Ok(record
        .update(db)
        .await
        .context("failed to queue the email again")?)
}
