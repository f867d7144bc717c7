//! Unsubscribe links that need no login: `<email id>.<customer id>.<signature>`, the
//! signature an HMAC-SHA256 of both ids under a server secret. Forging one for another
//! customer needs the secret; the email id tells which campaign lost the customer.

use anyhow::Context;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use entity::{customer, email};
use hmac::{Hmac, Mac};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, TransactionTrait, sea_query::Expr,
};
use sha2::Sha256;

const SECRET_KEY: &str = "email.unsubscribe_secret";

fn mac(secret: &[u8], email_id: i64, customer_id: i64) -> Hmac<Sha256> {
    // HMAC accepts keys of any length; this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(format!("unsubscribe:{email_id}:{customer_id}").as_bytes());
    mac
}

/// The token for an email to a customer.
pub fn sign(secret: &[u8], email_id: i64, customer_id: i64) -> String {
    let signature = mac(secret, email_id, customer_id).finalize().into_bytes();
    format!(
        "{email_id}.{customer_id}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    )
}

/// An id as `sign` writes it: digits without sign or leading zeros (`02`, `+2` are other
/// spellings of the same number, and a token has exactly one).
fn canonical_id(text: &str) -> Option<i64> {
    let id: i64 = text.parse().ok()?;
    (id.to_string() == text).then_some(id)
}

/// The (email id, customer id) of a genuine token; None for anything else. The
/// comparison is constant-time.
pub fn verify(secret: &[u8], token: &str) -> Option<(i64, i64)> {
    let mut parts = token.trim().splitn(3, '.');
    let email_id = canonical_id(parts.next()?)?;
    let customer_id = canonical_id(parts.next()?)?;
    let signature = URL_SAFE_NO_PAD.decode(parts.next()?).ok()?;
    mac(secret, email_id, customer_id)
        .verify_slice(&signature)
        .ok()
        .map(|()| (email_id, customer_id))
}

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
/// went out. `unsubscribedAt` is the time of the latest unsubscribe.
pub async fn unsubscribe(
    db: &DatabaseConnection,
    email_id: i64,
    customer_id: i64,
    now: DateTime<Utc>,
) -> anyhow::Result<Outcome> {
    let txn = db.begin().await.context("failed to start an unsubscribe")?;
    let Some(sent) = email::Entity::find_by_id(email_id)
        .filter(email::Column::CustomerId.eq(customer_id))
        .one(&txn)
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
    let went_out = sent.sent_at.unwrap_or(sent.created_at);
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
    email::Entity::update_many()
        .filter(email::Column::Id.eq(email_id))
        .col_expr(email::Column::UnsubscribedAt, Expr::value(now))
        .exec(&txn)
        .await
        .context("failed to mark the email that lost the customer")?;
    txn.commit()
        .await
        .context("failed to commit an unsubscribe")?;
    Ok(Outcome::Unsubscribed)
}

/// The link in an email.
pub fn url(public_url: &str, token: &str) -> String {
    format!("{}/unsubscribe/{token}", public_url.trim_end_matches('/'))
}

/// Reads the secret, making it on first use (kept hex-encoded in `app_settings`).
pub async fn load_or_create_secret(db: &DatabaseConnection) -> anyhow::Result<Vec<u8>> {
    let fresh: [u8; 32] = rand::random();
    let stored: String =
        crate::app_settings::load_or_insert(db, SECRET_KEY, &hex::encode(fresh)).await?;
    hex::decode(stored.trim()).context("the stored unsubscribe secret is not hex")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_and_tampering_is_refused() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let token = sign(secret, 42, 7);
        assert_eq!(verify(secret, &token), Some((42, 7)));
        // Another customer with the same signature, another secret, a truncated or
        // edited signature: all refused.
        let signature = token.rsplit('.').next().unwrap();
        assert_eq!(verify(secret, &format!("42.8.{signature}")), None);
        assert_eq!(verify(b"another secret", &token), None);
        assert_eq!(verify(secret, &token[..token.len() - 2]), None);
        let mut edited = token.clone().into_bytes();
        let last = edited.len() - 1;
        edited[last] = if edited[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(verify(secret, &String::from_utf8(edited).unwrap()), None);
        assert_eq!(verify(secret, "garbage"), None);
        assert_eq!(verify(secret, ""), None);
        // Other spellings of the same ids are other tokens.
        for respelled in [
            format!("042.7.{signature}"),
            format!("+42.7.{signature}"),
            format!("42.07.{signature}"),
        ] {
            assert_eq!(verify(secret, &respelled), None, "{respelled}");
        }
    }
}
