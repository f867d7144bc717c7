//! Unsubscribe links that need no login: `<email id>.<customer id>.<signature>`, the
//! signature an HMAC-SHA256 of both ids under a server secret. Forging one for another
//! customer needs the secret; the email id tells which campaign lost the customer.

use anyhow::Context;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use entity::email;
use hmac::{Hmac, Mac};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    sea_query::Expr,
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

/// When the email of a link went out (its creation, if it never did), or `None` when
/// there is no such email to this customer. What the link may still change is the
/// customers' rule (`crate::customers::unsubscribe`).
pub async fn went_out(
    db: &impl ConnectionTrait,
    email_id: i64,
    customer_id: i64,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    Ok(email::Entity::find_by_id(email_id)
        .filter(email::Column::CustomerId.eq(customer_id))
        .one(db)
        .await?
        .map(|sent| sent.sent_at.unwrap_or(sent.created_at)))
}

/// Marks the email whose link lost the customer (campaign reports count them).
pub async fn mark_unsubscribed(
    db: &impl ConnectionTrait,
    email_id: i64,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    email::Entity::update_many()
        .filter(email::Column::Id.eq(email_id))
        .col_expr(email::Column::UnsubscribedAt, Expr::value(now))
        .exec(db)
        .await
        .map(|_| ())
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
