use std::{collections::BTreeSet, fmt, str::FromStr};

use anyhow::Context;
use base64::Engine;
use chrono::{Duration, Utc};
use entity::api_key;
use rand::RngCore;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, Set, SqlErr, TransactionTrait,
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
    LoyaltyRead,
    LoyaltyWrite,
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 11] = [
        Scope::CustomersRead,
        Scope::CustomersWrite,
        Scope::PiiRead,
        Scope::SegmentsRead,
        Scope::SegmentsWrite,
        Scope::CampaignsRead,
        Scope::CampaignsWrite,
        Scope::JobsRun,
        Scope::LoyaltyRead,
        Scope::LoyaltyWrite,
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
            Scope::LoyaltyRead => "loyalty:read",
            Scope::LoyaltyWrite => "loyalty:write",
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
    let txn = db
        .begin()
        .await
        .context("failed to start revoking the API key")?;
    let mut key: api_key::ActiveModel = key.into();
    key.revoked_at = Set(Some(Utc::now()));
    key.update(&txn)
        .await
        .context("failed to revoke the API key")?;
    if txn.get_database_backend() == DbBackend::Postgres {
        // Delivered at commit to every serving process (see [`KeyCache`]).
        txn.execute_unprepared(&format!("NOTIFY {REVOCATIONS}"))
            .await
            .context("failed to announce the revocation")?;
    }
    txn.commit()
        .await
        .context("failed to commit the revocation")
}

/// The PostgreSQL notification channel of key revocations.
const REVOCATIONS: &str = "clientele_api_key_revocations";

/// Keys already verified, so that a request costs no lookup. Only on PostgreSQL, where
/// `revoke` (in any process) notifies every server on [`REVOCATIONS`] in the revoking
/// transaction and a listener empties the cache on each notification, within
/// milliseconds of the commit. While the listener is not connected the cache is off:
/// notifications sent meanwhile would be lost. On SQLite a lookup is an in-process read
/// and there is no notification, so every request reads the key.
#[derive(Default)]
pub struct KeyCache {
    live: std::sync::atomic::AtomicBool,
    keys: std::sync::Mutex<Cached>,
}

#[derive(Default)]
struct Cached {
    /// Bumped by every invalidation: a lookup that began before one does not store its
    /// (maybe revoked) key.
    generation: u64,
    by_hash: std::collections::HashMap<String, (Principal, chrono::DateTime<Utc>)>,
}

impl KeyCache {
    /// Starts the listener on PostgreSQL (a task that lives as long as the runtime);
    /// on SQLite the cache stays off.
    pub fn start(url: &str) -> std::sync::Arc<Self> {
        let cache = std::sync::Arc::new(Self::default());
        if crate::database::parse(url).ok() == Some(crate::database::Kind::Postgres) {
            let listening = cache.clone();
            let url = url.to_owned();
            tokio::spawn(async move { listening.listen(&url).await });
        }
        cache
    }

    /// Empties the cache; a listener that connects again calls this first too.
    fn invalidate(&self) {
        if let Ok(mut cached) = self.keys.lock() {
            cached.generation += 1;
            cached.by_hash.clear();
        }
    }

    fn set_live(&self, live: bool) {
        self.invalidate();
        self.live.store(live, std::sync::atomic::Ordering::SeqCst);
    }

    async fn listen(&self, url: &str) {
        use sea_orm::sqlx::postgres::PgListener;
        let mut retry = std::time::Duration::from_millis(250);
        loop {
            let listener = async {
                let mut listener = PgListener::connect(url).await?;
                listener.listen(REVOCATIONS).await?;
                Ok::<_, sea_orm::sqlx::Error>(listener)
            };
            let mut listener = match listener.await {
                Ok(listener) => listener,
                Err(error) => {
                    tracing::warn!(%error, "cannot listen for key revocations; keys are read on every request");
                    tokio::time::sleep(retry).await;
                    retry = (retry * 2).min(std::time::Duration::from_secs(30));
                    continue;
                }
            };
            retry = std::time::Duration::from_millis(250);
            self.set_live(true);
            // `try_recv` answers `None` when the connection dropped: from then on
            // notifications may be missed, so the cache goes off until listening again.
            while let Ok(Some(_)) = listener.try_recv().await {
                self.invalidate();
            }
            self.set_live(false);
        }
    }

    fn get(&self, hash: &str) -> Option<(Principal, chrono::DateTime<Utc>)> {
        if !self.live.load(std::sync::atomic::Ordering::SeqCst) {
            return None;
        }
        self.keys.lock().ok()?.by_hash.get(hash).cloned()
    }

    fn generation(&self) -> u64 {
        self.keys
            .lock()
            .map(|cached| cached.generation)
            .unwrap_or(0)
    }

    fn put(
        &self,
        generation: u64,
        hash: String,
        principal: Principal,
        used: chrono::DateTime<Utc>,
    ) {
        if !self.live.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        if let Ok(mut cached) = self.keys.lock()
            && cached.generation == generation
        {
            cached.by_hash.insert(hash, (principal, used));
        }
    }
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
/// A key in `cache` costs no statement, except its `last_used_at` once a minute.
pub async fn authenticate(
    db: &DatabaseConnection,
    cache: &KeyCache,
    secret: &str,
) -> anyhow::Result<Option<Principal>> {
    let hash = hash(secret);
    let now = Utc::now();
    // Read before anything else: a revocation that empties the cache while this request
    // awaits the database bumps it, and the key is then not stored again.
    let generation = cache.generation();
    if let Some((principal, used)) = cache.get(&hash) {
        if now - used > LAST_USED_RESOLUTION {
            record_use(db, principal.key_id, now).await?;
            cache.put(generation, hash, principal.clone(), now);
        }
        return Ok(Some(principal));
    }
    let Some(key) = api_key::Entity::find()
        .filter(api_key::Column::KeyHash.eq(&hash))
        .one(db)
        .await
        .context("failed to look up the API key")?
    else {
        return Ok(None);
    };
    if key.revoked_at.is_some() {
        return Ok(None);
    }
    let mut used = key.last_used_at.unwrap_or(now);
    if key
        .last_used_at
        .is_none_or(|at| now - at > LAST_USED_RESOLUTION)
    {
        record_use(db, key.id, now).await?;
        used = now;
    }
    // Unknown names in the stored list (from a newer version, say) are ignored.
    let scopes = key
        .scopes
        .split(',')
        .filter_map(|s| Scope::from_str(s).ok())
        .collect();
    let principal = Principal {
        key_id: key.id,
        key_name: key.name,
        scopes,
    };
    cache.put(generation, hash, principal.clone(), used);
    Ok(Some(principal))
}

async fn record_use(
    db: &DatabaseConnection,
    key_id: i64,
    now: chrono::DateTime<Utc>,
) -> anyhow::Result<()> {
    api_key::Entity::update_many()
        .col_expr(
            api_key::Column::LastUsedAt,
            sea_orm::sea_query::Expr::value(now),
        )
        .filter(api_key::Column::Id.eq(key_id))
        .exec(db)
        .await
        .context("failed to record the API key's last use")?;
    Ok(())
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
