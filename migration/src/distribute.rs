//! The schema distributed on Citus. The migrations create plain tables everywhere; on a
//! Citus coordinator [`distribute`] then places each one: per-customer tables are
//! distributed by customer and co-located with `customers` (a customer's rows live on
//! one shard, so customer-scoped statements go to one node and set-based job statements
//! joined on `customer_id` run on every node at once); the lookups that keep emails and
//! externalIds unique are distributed by that key; the small shared tables become
//! reference tables (a copy on every node, joinable with everything).
//!
//! Citus accepts only keys that contain the distribution column, so before a table is
//! distributed its keys are made to: an `id` primary key becomes `(customer_id, id)`,
//! and unique keys without `customer_id` are dropped — each one is kept by a lookup table
//! (migration 14) on every backend, which is why dropping it here loses no guarantee.
//! The plan is explicit: a table that a later migration adds and that is missing here
//! makes `migrate` fail on Citus until it is given a place, so no table is left local by
//! accident.

use sea_orm_migration::sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, Statement, TransactionTrait,
};

/// How a table is placed on the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Distributed by this column, co-located with `customers`.
    PerCustomer(&'static str),
    /// Distributed by its own unique key, in a co-location group of its own kind.
    Lookup(&'static str),
    /// A copy on every node.
    Reference,
    /// Stays on the coordinator alone (the migrator's own bookkeeping).
    Local,
}

/// A table's place and the changes its keys need before Citus accepts it.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    pub table: &'static str,
    pub placement: Placement,
    /// Constraints Citus cannot keep, each replaced by a lookup table or covered below.
    pub drop: &'static [&'static str],
    /// The primary key with the distribution column in it (replaces `<table>_pkey`).
    pub primary_key: Option<&'static str>,
    /// Indexes in place of the dropped constraints' (`name (columns)`): lookups by the
    /// value still use an index on each shard, and what can stay unique per customer does.
    pub indexes: &'static [&'static str],
}

const fn plan(table: &'static str, placement: Placement) -> Plan {
    Plan {
        table,
        placement,
        drop: &[],
        primary_key: None,
        indexes: &[],
    }
}

/// Per-customer tables whose `id` primary key gains `customer_id`.
const fn per_customer_with_id(table: &'static str) -> Plan {
    Plan {
        table,
        placement: Placement::PerCustomer("customer_id"),
        drop: &[],
        primary_key: Some("customer_id, id"),
        indexes: &[],
    }
}

/// Every table of the schema, in the order it is placed: reference tables first (the
/// distributed ones point at some of them), then `customers`, then what is co-located
/// with it.
pub const PLAN: &[Plan] = &[
    plan("seaql_migrations", Placement::Local),
    plan("api_keys", Placement::Reference),
    plan("app_settings", Placement::Reference),
    plan("job_runs", Placement::Reference),
    plan("job_leases", Placement::Reference),
    plan("value_models", Placement::Reference),
    plan("lifecycle_playbooks", Placement::Reference),
    plan("segments", Placement::Reference),
    plan("campaigns", Placement::Reference),
    plan("customer_counts", Placement::Reference),
    Plan {
        table: "customers",
        placement: Placement::PerCustomer("id"),
        // Kept by `customer_emails` and `customer_external_ids`; a referrer is checked
        // by the customers module when it is set (a foreign key between two customers
        // would join two shards).
        drop: &[
            "customers_email_key",
            "customers_external_id_key",
            "customers_referred_by_fkey",
        ],
        primary_key: None,
        indexes: &[
            "customers_email_idx (email)",
            "customers_external_id_idx (external_id)",
        ],
    },
    plan("customer_interests", Placement::PerCustomer("customer_id")),
    // Kept by `order_external_ids`; `orders_id_idx` finds an order by id alone once the
    // key is `(customer_id, id)` (migration 22).
    Plan {
        drop: &["orders_external_id_key"],
        indexes: &[
            "orders_customer_id_external_id_key (customer_id, external_id)",
            "orders_id_idx (id)",
        ],
        ..per_customer_with_id("orders")
    },
    per_customer_with_id("interactions"),
    per_customer_with_id("feedback"),
    plan("feedback_topics", Placement::PerCustomer("customer_id")),
    plan(
        "feedback_terms_pending",
        Placement::PerCustomer("customer_id"),
    ),
    // Keyed `(customer_id, email_id)`, unique `(customer_id, feedback_id)` (migration 16).
    plan("survey_responses", Placement::PerCustomer("customer_id")),
    plan("customer_lifecycle", Placement::PerCustomer("customer_id")),
    per_customer_with_id("lifecycle_events"),
    plan("customer_values", Placement::PerCustomer("customer_id")),
    plan("segment_members", Placement::PerCustomer("customer_id")),
    per_customer_with_id("segment_events"),
    // Producers insert against `(customer_id, dedupe_key)` (migration 14). An offer code
    // is redeemed by the customer it was sent to (conversions join an order to the
    // emails of its own customer), so it is unique per customer; eight random base32
    // characters make a repeat between two customers rare, and harmless.
    Plan {
        drop: &["emails_dedupe_key_key", "emails_offer_code_key"],
        indexes: &["emails_customer_id_offer_code_key (customer_id, offer_code)"],
        ..per_customer_with_id("emails")
    },
    // Keyed by customer; the ledger's cause keys are unique per customer (migration 20).
    plan("loyalty_accounts", Placement::PerCustomer("customer_id")),
    per_customer_with_id("loyalty_ledger"),
    per_customer_with_id("loyalty_tier_events"),
    plan("customer_emails", Placement::Lookup("email")),
    plan("customer_external_ids", Placement::Lookup("external_id")),
    plan("order_external_ids", Placement::Lookup("external_id")),
    // A referral code → its customer (migration 21).
    plan("referral_codes", Placement::Lookup("code")),
];

/// What `distribute` did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Distributed {
    /// Tables placed by this call (the ones already placed are skipped).
    pub placed: Vec<&'static str>,
}

/// Whether the database has the `citus` extension (a Citus coordinator).
pub async fn is_citus(db: &impl ConnectionTrait) -> Result<bool, DbErr> {
    if db.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(false);
    }
    let row = db
        .query_one_raw(Statement::from_string(
            DatabaseBackend::Postgres,
            "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') AS citus",
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("EXISTS returned no row".into()))?;
    row.try_get("", "citus")
}

/// Places every table of [`PLAN`] that is not placed yet; idempotent. Fails when a table
/// of the schema has no plan, so a new table is never left on the coordinator alone.
pub async fn distribute(db: &DatabaseConnection) -> Result<Distributed, DbErr> {
    let tables = query_strings(
        db,
        "SELECT c.relname AS name FROM pg_class c \
         WHERE c.relkind IN ('r', 'p') AND c.relnamespace = current_schema()::regnamespace \
         ORDER BY 1",
    )
    .await?;
    if let Some(unplanned) = tables
        .iter()
        .find(|table| !PLAN.iter().any(|plan| plan.table == table.as_str()))
    {
        return Err(DbErr::Custom(format!(
            "table `{unplanned}` has no place on Citus: add it to migration::distribute::PLAN"
        )));
    }
    let placed = query_strings(
        db,
        "SELECT c.relname AS name FROM pg_dist_partition p \
         JOIN pg_class c ON c.oid = p.logicalrelid \
         WHERE c.relnamespace = current_schema()::regnamespace",
    )
    .await?;
    let mut report = Distributed::default();
    for plan in PLAN {
        if plan.placement == Placement::Local
            || !tables.iter().any(|table| table == plan.table)
            || placed.iter().any(|name| name == plan.table)
        {
            continue;
        }
        // Each table in a transaction of its own: its keys change only if it is placed.
        let txn = db.begin().await?;
        place(&txn, plan).await?;
        txn.commit().await?;
        report.placed.push(plan.table);
    }
    Ok(report)
}

async fn place(db: &impl ConnectionTrait, plan: &Plan) -> Result<(), DbErr> {
    let table = plan.table;
    if table == "customers" {
        // Citus does not distribute a table with triggers (they would run on the shards,
        // which cannot write the coordinator's counters). Without counter rows
        // `totalCount` counts the shards instead: one pushed-down COUNT per shard, summed.
        for operation in ["insert", "delete"] {
            db.execute_unprepared(&format!(
                "DROP TRIGGER IF EXISTS customers_counted_{operation} ON customers"
            ))
            .await?;
        }
        db.execute_unprepared("DELETE FROM customer_counts").await?;
    }
    for constraint in plan.drop {
        db.execute_unprepared(&format!(
            "ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {constraint}"
        ))
        .await?;
    }
    if let Some(columns) = plan.primary_key {
        db.execute_unprepared(&format!(
            "ALTER TABLE {table} DROP CONSTRAINT {table}_pkey, \
             ADD CONSTRAINT {table}_pkey PRIMARY KEY ({columns})"
        ))
        .await?;
    }
    for index in plan.indexes {
        // `name (columns)`; a `_key` name is a unique index, like PostgreSQL's own.
        let (name, columns) = index.split_once(' ').unwrap_or((index, ""));
        let unique = if name.ends_with("_key") {
            "UNIQUE "
        } else {
            ""
        };
        db.execute_unprepared(&format!(
            "CREATE {unique}INDEX IF NOT EXISTS {name} ON {table} {columns}"
        ))
        .await?;
    }
    let call = match plan.placement {
        Placement::PerCustomer(column) if table == "customers" => {
            format!("SELECT create_distributed_table('{table}', '{column}')")
        }
        Placement::PerCustomer(column) => format!(
            "SELECT create_distributed_table('{table}', '{column}', colocate_with => 'customers')"
        ),
        Placement::Lookup(column) => {
            format!("SELECT create_distributed_table('{table}', '{column}')")
        }
        Placement::Reference => format!("SELECT create_reference_table('{table}')"),
        Placement::Local => return Ok(()),
    };
    db.execute_unprepared(&call).await?;
    Ok(())
}

async fn query_strings(db: &impl ConnectionTrait, sql: &str) -> Result<Vec<String>, DbErr> {
    db.query_all_raw(Statement::from_string(DatabaseBackend::Postgres, sql))
        .await?
        .iter()
        .map(|row| row.try_get("", "name"))
        .collect()
}
