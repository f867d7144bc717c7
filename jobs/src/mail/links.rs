//! Signed links that need no login: `<id>.<id>….<signature>`, the signature an
//! HMAC-SHA256 of a purpose and the ids under a server secret. The purpose (`unsubscribe`,
//! `survey`) is signed too, so a token made for one kind of link never passes as another;
//! forging one for another customer, email or answer needs the secret.

use anyhow::Context;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use sea_orm::DatabaseConnection;
use sha2::Sha256;

/// Where the secret is kept (named when only unsubscribe links were signed with it).
const SECRET_KEY: &str = "email.unsubscribe_secret";

fn mac(secret: &[u8], purpose: &str, ids: &[i64]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length; this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    let mut message = purpose.to_owned();
    for id in ids {
        message.push(':');
        message.push_str(&id.to_string());
    }
    mac.update(message.as_bytes());
    mac
}

/// The token for `ids` signed for `purpose`.
pub fn sign(secret: &[u8], purpose: &str, ids: &[i64]) -> String {
    let signature = mac(secret, purpose, ids).finalize().into_bytes();
    let mut token = String::new();
    for id in ids {
        token.push_str(&id.to_string());
        token.push('.');
    }
    token.push_str(&URL_SAFE_NO_PAD.encode(signature));
    token
}

/// A number as `sign` writes it: digits without `+` or leading zeros (`02`, `+2` are
/// other spellings of the same number, and a token has exactly one).
fn canonical_id(text: &str) -> Option<i64> {
    let id: i64 = text.parse().ok()?;
    (id.to_string() == text).then_some(id)
}

/// The `N` ids of a genuine token signed for `purpose`; None for anything else. The
/// comparison is constant-time.
pub fn verify<const N: usize>(secret: &[u8], purpose: &str, token: &str) -> Option<[i64; N]> {
    let mut parts = token.trim().splitn(N + 1, '.');
    let mut ids = [0; N];
    for id in &mut ids {
        *id = canonical_id(parts.next()?)?;
    }
    let signature = URL_SAFE_NO_PAD.decode(parts.next()?).ok()?;
    mac(secret, purpose, &ids)
        .verify_slice(&signature)
        .ok()
        .map(|()| ids)
}

/// Reads the secret, making it on first use (kept hex-encoded in `app_settings`).
pub async fn load_or_create_secret(db: &DatabaseConnection) -> anyhow::Result<Vec<u8>> {
    let fresh: [u8; 32] = rand::random();
    let stored: String =
        crate::app_settings::load_or_insert(db, SECRET_KEY, &hex::encode(fresh)).await?;
    hex::decode(stored.trim()).context("the stored link secret is not hex")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn a_token_signed_for_one_purpose_does_not_pass_for_another() {
        let token = sign(SECRET, "survey", &[42, 7, 9]);
        assert_eq!(verify::<3>(SECRET, "survey", &token), Some([42, 7, 9]));
        assert_eq!(verify::<3>(SECRET, "unsubscribe", &token), None);
        // The same ids, fewer of them: the signature covers all three.
        assert_eq!(verify::<2>(SECRET, "survey", &token), None);
        let signature = token.rsplit('.').next().unwrap();
        assert_eq!(
            verify::<3>(SECRET, "survey", &format!("42.7.10.{signature}")),
            None
        );
        assert_eq!(
            verify::<3>(SECRET, "survey", &format!("42.7.09.{signature}")),
            None
        );
    }
}
