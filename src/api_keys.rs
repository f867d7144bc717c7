use std::{collections::BTreeSet, fmt, str::FromStr};

use anyhow::Context;
use base64::Engine;
use chrono::{Duration, Utc};
use entity::api_key;
use rand::RngCore;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set, SqlErr,
};
use sha2::{Digest, Sha256};

/// What a key may do. `Admin` implies every other scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    CustomersRead,
    CustomersWrite,
    PiiRead,
    SegmentsRead,
    SegmentsWrite,
    CampaignsRead,
    CampaignsWrite,
    JobsRun,
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 9] = [
        Scope::CustomersRead,
        Scope::CustomersWrite,
        Scope::PiiRead,
        Scope::SegmentsRead,
        Scope::SegmentsWrite,
        Scope::CampaignsRead,
        Scope::CampaignsWrite,
        Scope::JobsRun,
        Scope::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::CustomersRead => "customers:read",
            Scope::CustomersWrite => "customers:write",
            Scope::PiiRead => "pii:read",
            Scope::SegmentsRead => "segments:read",
            Scope::SegmentsWrite => "segments:write",
            Scope::CampaignsRead => "campaigns:read",
            Scope::CampaignsWrite => "campaigns:write",
            Scope::JobsRun => "jobs:run",
            Scope::Admin => "admin",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = anyhow::Error;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == value.trim())
            .with_context(|| {
                let known: Vec<_> = Scope::ALL.iter().map(|s| s.as_str()).collect();
                format!("unknown scope `{value}` (known: {})", known.join(", "))
            })
    }
}

/// The caller behind a request: which key, and what it may do.
#[derive(Clone, Debug)]
pub struct Principal {
    pub key_id: i64,
    pub key_name: String,
    scopes: BTreeSet<Scope>,
}

impl Principal {
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&Scope::Admin) || self.scopes.contains(&scope)
    }
}

/// A freshly created key: the secret is shown once, only its hash is stored.
pub struct NewKey {
    pub name: String,
    pub secret: String,
    pub scopes: Vec<Scope>,
}

/// Parses `customers:read,pii:read`; an empty list is refused.
pub fn parse_scopes(list: &str) -> anyhow::Result<Vec<Scope>> {
    let scopes: BTreeSet<Scope> = list
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(Scope::from_str)
        .collect::<Result<_, _>>()?;
    anyhow::ensure!(!scopes.is_empty(), "a key needs at least one scope");
    Ok(scopes.into_iter().collect())
}

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// 32 random bytes from the thread-local CSPRNG (ChaCha, seeded by the OS), URL-safe
/// base64, with a `ck_` prefix so that leaked keys are easy to spot in logs and scanners.
fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "ck_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// Creates a key. A name already in use is refused.
pub async fn create(
    db: &DatabaseConnection,
    name: &str,
    scopes: &[Scope],
) -> anyhow::Result<NewKey> {
    let name = name.trim();
    anyhow::ensure!(
        !name.is_empty() && name.len() <= 100,
        "a key name must be 1–100 characters"
    );
    anyhow::ensure!(!scopes.is_empty(), "a key needs at least one scope");
    let secret = generate_secret();
    let scope_list: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
    let model = api_key::ActiveModel {
        name: Set(name.to_owned()),
        key_hash: Set(hash(&secret)),
        scopes: Set(scope_list.join(",")),
        created_at: Set(Utc::now()),
        ..Default::default()
    };
    match model.insert(db).await {
        Ok(_) => Ok(NewKey {
            name: name.to_owned(),
            secret,
            scopes: scopes.to_vec(),
        }),
        Err(error) if matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            anyhow::bail!("an API key named `{name}` already exists")
        }
        Err(error) => Err(error).context("failed to store the API key"),
    }
}

/// Every key, oldest first (hashes included; callers print what they need).
pub async fn list(db: &DatabaseConnection) -> anyhow::Result<Vec<api_key::Model>> {
    api_key::Entity::find()
        .order_by_asc(api_key::Column::Id)
        .all(db)
        .await
        .context("failed to list API keys")
}

/// Revokes the key with this name; revoking twice is an error so typos are noticed.
pub async fn revoke(db: &DatabaseConnection, name: &str) -> anyhow::Result<()> {
    let key = api_key::Entity::find()
        .filter(api_key::Column::Name.eq(name))
        .one(db)
        .await
        .context("failed to look up the API key")?
        .with_context(|| format!("no API key named `{name}`"))?;
    anyhow::ensure!(
        key.revoked_at.is_none(),
        "the API key `{name}` is already revoked"
    );
    let mut key: api_key::ActiveModel = key.into();
    key.revoked_at = Set(Some(Utc::now()));
    key.update(db)
        .await
        .context("failed to revoke the API key")?;
    Ok(())
}

/// On a database without any key, creates the first admin key and returns it so that the
/// operator can be shown it once. Returns `None` when keys already exist.
pub async fn bootstrap_admin(db: &DatabaseConnection) -> anyhow::Result<Option<NewKey>> {
    let existing = api_key::Entity::find()
        .count(db)
        .await
        .context("failed to count API keys")?;
    if existing > 0 {
        return Ok(None);
    }
    create(db, "admin", &[Scope::Admin]).await.map(Some)
}

/// `last_used_at` is refreshed at most this often, so that reads do not turn every
/// request into a write.
const LAST_USED_RESOLUTION: Duration = Duration::minutes(1);

/// Finds the live key for a presented secret. `Ok(None)` for unknown or revoked keys.
pub async fn authenticate(
    db: &DatabaseConnection,
    secret: &str,
) -> anyhow::Result<Option<Principal>> {
    let Some(key) = api_key::Entity::find()
        .filter(api_key::Column::KeyHash.eq(hash(secret)))
        .one(db)
        .await
        .context("failed to look up the API key")?
    else {
        return Ok(None);
    };
    if key.revoked_at.is_some() {
        return Ok(None);
    }
    let now = Utc::now();
    if key
        .last_used_at
        .is_none_or(|at| now - at > LAST_USED_RESOLUTION)
    {
        api_key::Entity::update_many()
            .col_expr(
                api_key::Column::LastUsedAt,
                sea_orm::sea_query::Expr::value(now),
            )
            .filter(api_key::Column::Id.eq(key.id))
            .exec(db)
            .await
            .context("failed to record the API key's last use")?;
    }
    // Unknown names in the stored list (from a newer version, say) are ignored.
    let scopes = key
        .scopes
        .split(',')
        .filter_map(|s| Scope::from_str(s).ok())
        .collect();
    Ok(Some(Principal {
        key_id: key.id,
        key_name: key.name,
        scopes,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_and_unknown_ones_are_named() {
        assert_eq!(
            parse_scopes("customers:read, pii:read").unwrap(),
            vec![Scope::CustomersRead, Scope::PiiRead]
        );
        let error = parse_scopes("customers:read,root").unwrap_err().to_string();
        assert!(error.contains("root"), "{error}");
        assert!(parse_scopes("").is_err());
    }

    #[test]
    fn secrets_are_long_random_and_hash_to_hex() {
        let a = generate_secret();
        let b = generate_secret();
        assert_ne!(a, b);
        // 32 bytes in unpadded base64 are 43 characters.
        assert_eq!(a.len(), 3 + 43);
        assert_eq!(hash(&a).len(), 64);
    }

    #[test]
    fn admin_implies_every_scope() {
        let admin = Principal {
            key_id: 1,
            key_name: "a".into(),
            scopes: [Scope::Admin].into(),
        };
        assert!(Scope::ALL.iter().all(|s| admin.has(*s)));
        let reader = Principal {
            key_id: 2,
            key_name: "r".into(),
            scopes: [Scope::CustomersRead].into(),
        };
        assert!(reader.has(Scope::CustomersRead));
        assert!(!reader.has(Scope::PiiRead));
    }
}
