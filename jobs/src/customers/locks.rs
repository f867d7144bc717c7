//! Serialising writers that read before they write, on both databases: customer
//! upserts (by externalId) and everything that recomputes what a customer row keeps
//! (order aggregates).
//!
//! A resolver that reads (is this externalId known? what do this customer's orders add
//! up to?) and then writes from what it read is only right if nobody changes what it read
//! in between. SQLite: the transaction takes the database's write lock when it begins
//! (`BEGIN IMMEDIATE`), so such writers queue on the busy timeout instead of failing at
//! their first write with a stale snapshot. PostgreSQL: writers lock only the keys they
//! touch, always in sorted order so that two of them never wait on each other in a cycle;
//! the locks last until commit, and every statement after them sees what the previous
//! holder committed (READ COMMITTED takes a new snapshot per statement).

use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr, Statement,
    TransactionTrait, {SqliteTransactionMode, TransactionOptions},
};

/// The first key of the two-key advisory locks taken on upserted externalIds, so that
/// they cannot collide with locks taken for anything else.
const CUSTOMER_EXTERNAL_ID_LOCKS: i32 = 0x4355_5354; // "CUST"

/// The first key of the advisory locks taken on customers whose kept aggregates change.
const CUSTOMER_LOCKS: i32 = 0x4147_4752; // "AGGR"

/// A transaction that holds SQLite's write lock from its first moment (PostgreSQL: a
/// plain READ COMMITTED transaction).
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}

/// PostgreSQL: holds, until the transaction ends, one lock per customer externalId, so
/// that upserts of one externalId run one after the other. (Locking the row is not enough:
/// for a new externalId there is no row yet.) The hash may make two externalIds share a
/// lock, which only serialises a little more.
pub async fn lock_external_ids(
    txn: &DatabaseTransaction,
    external_ids: &[String],
) -> Result<(), DbErr> {
    if txn.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(());
    }
    let mut keys: Vec<&str> = external_ids.iter().map(String::as_str).collect();
    keys.sort_unstable();
    keys.dedup();
    // Sorted by hash, the order the locks are actually taken in.
    let sql = format!(
        "SELECT pg_advisory_xact_lock({CUSTOMER_EXTERNAL_ID_LOCKS}, h) \
         FROM (SELECT DISTINCT hashtext(k) AS h FROM unnest($1::text[]) AS k ORDER BY h) keys"
    );
    let keys: Vec<String> = keys.into_iter().map(str::to_owned).collect();
    txn.execute_raw(Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        sql,
        [keys.into()],
    ))
    .await
    .map(|_| ())
}

/// PostgreSQL: holds one lock per customer (in id order) until the transaction ends, so
/// that aggregates kept on them are recomputed by one writer at a time, each seeing the
/// orders of the ones before. Advisory locks rather than row locks: on Citus the
/// customers live on many shards, which one `SELECT … FOR UPDATE` cannot lock, while
/// advisory locks are taken on the coordinator every writer goes through. (Every writer
/// of what a customer row keeps takes them; plain reads are not blocked.)
pub async fn lock_customers(txn: &DatabaseTransaction, customer_ids: &[i64]) -> Result<(), DbErr> {
    if txn.get_database_backend() != DatabaseBackend::Postgres || customer_ids.is_empty() {
        return Ok(());
    }
    let mut ids = customer_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    // Two 32-bit keys: this namespace and the id's hash (two customers may share a
    // lock, which only serialises a little more). Sorted by hash: the order they are
    // taken in.
    let sql = format!(
        "SELECT pg_advisory_xact_lock({CUSTOMER_LOCKS}, h) \
         FROM (SELECT DISTINCT hashint8(id) AS h FROM unnest($1::bigint[]) AS id ORDER BY h) keys"
    );
    txn.execute_raw(Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        sql,
        [ids.into()],
    ))
    .await
    .map(|_| ())
}
