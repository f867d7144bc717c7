//! Keys that hold when the tables are distributed by customer (migration 14), the
//! upgrade to them, and the placement of every table on Citus.

use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::json;

use crate::helpers::{migrate_down_to_before, on_each_database};

/// Whether this app runs on Citus: no earlier version was ever distributed (version 14
/// is the first that distributes), so upgrade tests run on SQLite and PostgreSQL.
pub async fn is_citus(db: &DatabaseConnection) -> bool {
    migration::distribute::is_citus(db).await.unwrap()
}

async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

/// A database of the version before migration 14 (customers with emails and
/// externalIds, orders, a digest without a customer) upgrades with every row: the
/// lookups hold exactly what the unique columns held, so a taken email or externalId is
/// still refused, an order sent again is still recorded once, and the digest is mail to
/// no customer.
#[tokio::test]
async fn upgrading_to_distributable_keys_keeps_every_unique_key_and_the_outbox() {
    on_each_database(|app| async move {
        if is_citus(&app.db).await {
            return;
        }
        // Written now and kept through the downgrade: the previous version's rows.
        let ada = app
            .create_customer(json!({ "externalId": "shop-1", "email": "ada@example.com" }))
            .await;
        app.create_customer(json!({ "externalId": "shop-2" })).await;
        app.create_customer(json!({ "email": "bo@example.com" })).await;
        let orders = json!([
            { "externalId": "o-1", "customerId": ada, "amount": "10.00", "currency": "EUR",
              "orderedAt": "2026-01-01T10:00:00Z" },
            { "externalId": "o-2", "customerExternalId": "shop-2", "amount": "5.50",
              "currency": "EUR", "orderedAt": "2026-01-02T10:00:00Z" },
        ]);
        assert_eq!(app.record_orders(orders.clone()).await["created"], 2);
        migrate_down_to_before(&app, "m20261130_000014_distributable_keys").await;
        app.db
            .execute_unprepared(
                "INSERT INTO emails (dedupe_key, kind, customer_id, to_address, status, attempts, \
                 scheduled_for, created_at, updated_at) VALUES ('digest:2026-01-04:m@example.com', \
                 'DIGEST', NULL, 'm@example.com', 'SENT', 1, '2026-01-05T08:00:00Z', \
                 '2026-01-05T08:00:00Z', '2026-01-05T08:00:00Z')",
            )
            .await
            .unwrap();

        clientele::database::migrate(&app.db).await.unwrap();

        assert_eq!(count(&app.db, "SELECT COUNT(*) FROM customer_emails").await, 2);
        assert_eq!(
            count(&app.db, "SELECT COUNT(*) FROM customer_emails k JOIN customers c \
                            ON c.id = k.customer_id AND c.email = k.email").await,
            2
        );
        assert_eq!(
            count(&app.db, "SELECT COUNT(*) FROM customer_external_ids k JOIN customers c \
                            ON c.id = k.customer_id AND c.external_id = k.external_id").await,
            2
        );
        assert_eq!(
            count(&app.db, "SELECT COUNT(*) FROM order_external_ids k JOIN orders o \
                            ON o.customer_id = k.customer_id AND o.external_id = k.external_id").await,
            2
        );
        // The guarantees, through the API.
        let taken = app
            .admin(
                "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }",
                json!({ "i": { "email": "ada@example.com" } }),
            )
            .await;
        assert_eq!(taken["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{taken}");
        let upserted = app
            .admin_ok(
                "mutation($i: [UpsertCustomerInput!]!) { upsertCustomers(input: $i) { customers { id } } }",
                json!({ "i": [{ "externalId": "shop-1", "name": "Ada" }] }),
            )
            .await;
        assert_eq!(upserted["upsertCustomers"]["customers"][0]["id"], ada.as_str());
        let again = app.record_orders(orders).await;
        assert_eq!((again["created"].clone(), again["unchanged"].clone()), (json!(0), json!(2)));
        let digest = app
            .admin_ok(
                "{ emails(first: 10, filter: { kind: DIGEST }) { nodes { customerId dedupeKey } } }",
                json!({}),
            )
            .await;
        assert_eq!(
            digest["emails"]["nodes"],
            json!([{ "customerId": null, "dedupeKey": "digest:2026-01-04:m@example.com" }])
        );
        assert_eq!(
            count(&app.db, "SELECT COUNT(*) FROM emails WHERE customer_id IS NULL").await,
            0
        );
    })
    .await;
}

/// On Citus, `migrate` places every table as `migration::distribute::PLAN` says:
/// per-customer tables distributed by their customer column in `customers`' co-location
/// group, the lookups by their key, the shared tables as reference tables — and the
/// guarantees the lookups keep hold across shards.
#[tokio::test]
async fn on_citus_every_table_is_placed_as_planned_and_unique_keys_hold_across_shards() {
    use migration::distribute::{PLAN, Placement};
    on_each_database(|app| async move {
        if !is_citus(&app.db).await {
            return;
        }
        let placement = |table: &'static str| {
            let db = app.db.clone();
            async move {
                db.query_one_raw(Statement::from_string(
                    sea_orm::DbBackend::Postgres,
                    format!(
                        "SELECT p.partmethod::text AS method, \
                                COALESCE(column_to_column_name(p.logicalrelid, p.partkey), '') AS col, \
                                p.colocationid AS colocation \
                         FROM pg_dist_partition p JOIN pg_class c ON c.oid = p.logicalrelid \
                         WHERE c.relname = '{table}' \
                           AND c.relnamespace = current_schema()::regnamespace"
                    ),
                ))
                .await
                .unwrap()
                .map(|row| {
                    (
                        row.try_get::<String>("", "method").unwrap(),
                        row.try_get::<String>("", "col").unwrap(),
                        row.try_get::<i32>("", "colocation").unwrap(),
                    )
                })
            }
        };
        let customers = placement("customers").await.expect("customers is distributed");
        assert_eq!((customers.0.as_str(), customers.1.as_str()), ("h", "id"));
        for plan in PLAN {
            let placed = placement(plan.table).await;
            match plan.placement {
                Placement::PerCustomer(column) => {
                    let (method, col, colocation) = placed.unwrap_or_else(|| panic!("{} is not distributed", plan.table));
                    assert_eq!((method.as_str(), col.as_str()), ("h", column), "{}", plan.table);
                    assert_eq!(colocation, customers.2, "{} is co-located with customers", plan.table);
                }
                Placement::Lookup(column) => {
                    let (method, col, _) = placed.unwrap_or_else(|| panic!("{} is not distributed", plan.table));
                    assert_eq!((method.as_str(), col.as_str()), ("h", column), "{}", plan.table);
                }
                Placement::Reference => {
                    assert_eq!(placed.map(|p| p.0), Some("n".to_owned()), "{} is a reference table", plan.table);
                }
                Placement::Local => assert!(placed.is_none(), "{} stays local", plan.table),
            }
        }
        // Emails and externalIds stay unique across the shards: 40 customers land on
        // every shard, and each of their values is refused for a 41st.
        let mut input = Vec::new();
        for i in 0..40 {
            input.push(json!({ "externalId": format!("x-{i}"), "email": format!("c{i}@example.com") }));
        }
        app.admin_ok(
            "mutation($i: [UpsertCustomerInput!]!) { upsertCustomers(input: $i) { created } }",
            json!({ "i": input }),
        )
        .await;
        for i in 0..40 {
            let taken = app
                .admin(
                    "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }",
                    json!({ "i": { "email": format!("c{i}@example.com") } }),
                )
                .await;
            assert_eq!(taken["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{taken}");
        }
        let total = app.admin_ok("{ customers { totalCount } }", json!({})).await;
        assert_eq!(total["customers"]["totalCount"], 40);
    })
    .await;
}

/// On Citus an order is found by its id alone through an index of its own (migration 22):
/// the key is `(customer_id, id)` there, and without it the loyalty catch-up's `MAX(id)`
/// and its windows of order ids read every shard whole. A database of the version before
/// gains the index when it migrates.
#[tokio::test]
async fn on_citus_orders_are_indexed_by_id_also_after_an_upgrade() {
    on_each_database(|app| async move {
        if !is_citus(&app.db).await {
            return;
        }
        let by_id = "SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema() \
                     AND tablename = 'orders' AND indexdef LIKE '% USING btree (id)'";
        assert_eq!(
            count(&app.db, by_id).await,
            1,
            "a fresh schema has the index"
        );
        migrate_down_to_before(&app, "m20261202_000022_orders_by_id").await;
        assert_eq!(
            count(&app.db, by_id).await,
            0,
            "the version before has none"
        );
        <migration::Migrator as migration::MigratorTrait>::up(&app.db, None)
            .await
            .unwrap();
        assert_eq!(count(&app.db, by_id).await, 1, "the upgrade adds it");
        // Every shard has it: the catch-up's statements run there.
        let shards = count(
            &app.db,
            "SELECT count(*) FROM run_command_on_shards(format('%I.orders', current_schema()), \
             $$SELECT count(*) FROM pg_index WHERE indrelid = '%1$s'::regclass \
               AND indkey::text = (SELECT attnum::text FROM pg_attribute \
                                   WHERE attrelid = '%1$s'::regclass AND attname = 'id')$$) \
             WHERE result <> '1'",
        )
        .await;
        assert_eq!(shards, 0, "a shard of orders lacks the index");
    })
    .await;
}

/// The shards a statement is sent to, from Citus's EXPLAIN on the coordinator.
async fn tasks(db: &DatabaseConnection, sql: &str) -> usize {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            format!("EXPLAIN {sql}"),
        ))
        .await
        .unwrap();
    rows.iter()
        .filter_map(|row| row.try_get_by_index::<String>(0).ok())
        .find_map(|line| {
            line.trim()
                .strip_prefix("Task Count: ")
                .map(|n| n.parse().unwrap())
        })
        .unwrap_or_else(|| panic!("no task count in the plan of {sql}"))
}

/// Chunked jobs (the loyalty job) cut their chunks of customers along the shards: on
/// Citus a statement naming a run of ids spread over every shard is sent, whole, to
/// every shard, while each group goes to one shard. Elsewhere the ids stay as given.
#[tokio::test]
async fn chunks_of_customers_are_cut_along_the_shards() {
    on_each_database(|app| async move {
        use jobs::customers::shards::Placement;
        let ids: Vec<i64> = (1..=2_000).collect();
        let placement = Placement::of(&app.db).await.unwrap();
        let groups = placement.group(&app.db, &ids).await.unwrap();
        let mut all = groups.concat();
        all.sort_unstable();
        assert_eq!(all, ids, "every id in one group");
        if !is_citus(&app.db).await {
            assert_eq!(placement, Placement::Local);
            assert_eq!(groups, [ids]);
            return;
        }
        assert_eq!(placement, Placement::Distributed);
        let statement = |list: &[i64]| {
            let list: Vec<String> = list.iter().map(i64::to_string).collect();
            format!(
                "SELECT count(*) FROM customers WHERE id IN ({})",
                list.join(", ")
            )
        };
        let shards = count(
            &app.db,
            "SELECT count(*) FROM pg_dist_shard WHERE logicalrelid = 'customers'::regclass",
        )
        .await;
        assert_eq!(tasks(&app.db, &statement(&ids)).await as i64, shards);
        assert_eq!(groups.len() as i64, shards, "one group per shard");
        for group in &groups {
            assert!(
                group.windows(2).all(|pair| pair[0] < pair[1]),
                "in id order"
            );
            assert_eq!(tasks(&app.db, &statement(group)).await, 1);
        }
        let chunks = placement.chunks(&app.db, &ids, 100).await.unwrap();
        assert_eq!(chunks.concat().len(), ids.len());
        for chunk in &chunks {
            assert!(chunk.len() <= 100);
            assert_eq!(tasks(&app.db, &statement(chunk)).await, 1);
        }
    })
    .await;
}
