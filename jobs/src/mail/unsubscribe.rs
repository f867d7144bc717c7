//! Unsubscribe links that need no login: `<email id>.<customer id>.<signature>`, signed
//! for `unsubscribe` ([`super::links`]). Forging one for another customer needs the
//! secret; the email id tells which campaign lost the customer.

use chrono::{DateTime, Utc};
use entity::email;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, sea_query::Expr};

use super::links;
pub use links::load_or_create_secret;

/// What the signature says a token is for.
const PURPOSE: &str = "unsubscribe";

/// The token for an email to a customer.
pub fn sign(secret: &[u8], email_id: i64, customer_id: i64) -> String {
    links::sign(secret, PURPOSE, &[email_id, customer_id])
}

/// The (email id, customer id) of a genuine token; None for anything else. The
/// comparison is constant-time.
pub fn verify(secret: &[u8], token: &str) -> Option<(i64, i64)> {
    links::verify::<2>(secret, PURPOSE, token)
        .map(|[email_id, customer_id]| (email_id, customer_id))
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
