//! Marketing consent withdrawn through an unsubscribe link (the link's token is
//! `crate::mail::unsubscribe`'s; what it may change is decided here).

use anyhow::Context;
use chrono::{DateTime, Utc};
use entity::customer;
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, TransactionTrait, sea_query::Expr,
};

use crate::mail::unsubscribe::{mark_unsubscribed, went_out};

/// What following an unsubscribe link did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Consent is off from now on.
    Unsubscribed,
    /// Consent was already off: nothing changed.
    AlreadyUnsubscribed,
    /// The customer agreed to email again after this email went out: the link speaks
    /// for a consent that no longer exists, so it changes nothing (a newer email's link
    /// does).
    Stale { consented_at: DateTime<Utc> },
    /// No such email to this customer.
    Unknown,
}

/// Follows a verified link: turns marketing consent off and marks the email that lost
/// the customer, unless consent is already off or was given again after the email
/// went out. `unsubscribed_at` is the time of the latest unsubscribe.
pub async fn unsubscribe(
    db: &DatabaseConnection,
    email_id: i64,
    customer_id: i64,
    now: DateTime<Utc>,
) -> anyhow::Result<Outcome> {
    let txn = db.begin().await.context("failed to start an unsubscribe")?;
    let Some(went_out) = went_out(&txn, email_id, customer_id)
        .await
        .context("failed to read the email of an unsubscribe link")?
    else {
        return Ok(Outcome::Unknown);
    };
    let Some(person) = customer::Entity::find_by_id(customer_id)
        .one(&txn)
        .await
        .context("failed to read the customer of an unsubscribe link")?
    else {
        return Ok(Outcome::Unknown);
    };
    if !person.marketing_consent {
        return Ok(Outcome::AlreadyUnsubscribed);
    }
    if let Some(consented_at) = person.consent_updated_at
        && consented_at > went_out
    {
        return Ok(Outcome::Stale { consented_at });
    }
    // Guarded by consent still being on: of two concurrent clicks one unsubscribes.
    let changed = customer::Entity::update_many()
        .filter(customer::Column::Id.eq(customer_id))
        .filter(customer::Column::MarketingConsent.eq(true))
        .col_expr(customer::Column::MarketingConsent, Expr::value(false))
        .col_expr(customer::Column::UnsubscribedAt, Expr::value(now))
        .col_expr(customer::Column::ConsentUpdatedAt, Expr::value(now))
        .col_expr(customer::Column::UpdatedAt, Expr::value(now))
        .exec(&txn)
        .await
        .context("failed to turn marketing consent off")?
        .rows_affected;
    if changed == 0 {
        return Ok(Outcome::AlreadyUnsubscribed);
    }
    mark_unsubscribed(&txn, email_id, now)
        .await
        .context("failed to mark the email that lost the customer")?;
    txn.commit()
        .await
        .context("failed to commit an unsubscribe")?;
    Ok(Outcome::Unsubscribed)
}
