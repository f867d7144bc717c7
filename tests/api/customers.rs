//! Creating, reading, updating, upserting and erasing customers.

use serde_json::json;

use crate::helpers::{migrate_down_to_before, on_each_database};

const FULL: &str = "id externalId name email phone gender birthDate country region city incomeBand occupation interests lifestyle needs acquisitionChannel referredBy { id } locale timeZone marketingConsent consentUpdatedAt erasedAt orderCount totalSpent firstOrderAt lastOrderAt";

#[tokio::test]
async fn a_created_customer_reads_back_with_every_field() {
    on_each_database(|app| async move {
        let referrer = app.create_customer(json!({ "name": "Emma Smith" })).await;
        let data = app
            .admin_ok(
                &format!("mutation($input: CreateCustomerInput!) {{ createCustomer(input: $input) {{ {FULL} }} }}"),
                json!({ "input": {
                    "externalId": "shop-1", "name": " 李娜 ", "email": "Li.Na@Example.COM", "phone": "+86 138-0013-8000",
                    "gender": "FEMALE", "birthDate": "1990-02-28", "country": "cn", "region": "Shanghai", "city": "Shanghai",
                    "incomeBand": "50k-100k", "occupation": "designer", "interests": ["Coffee", "travel", "coffee"],
                    "lifestyle": "urban professional", "needs": "first home", "acquisitionChannel": "referral",
                    "referredBy": referrer, "locale": "zh-CN", "timeZone": "Asia/Shanghai", "marketingConsent": true
                }}),
            )
            .await;
        let created = &data["createCustomer"];
        assert_eq!(created["externalId"], "shop-1");
        assert_eq!(created["name"], "李娜");
        assert_eq!(created["email"], "li.na@example.com");
        assert_eq!(created["phone"], "+8613800138000");
        assert_eq!(created["gender"], "FEMALE");
        assert_eq!(created["birthDate"], "1990-02-28");
        assert_eq!(created["country"], "CN");
        assert_eq!(created["interests"], json!(["coffee", "travel"]));
        assert_eq!(created["referredBy"]["id"], referrer.as_str());
        assert_eq!(created["locale"], "zh-CN");
        assert_eq!(created["timeZone"], "Asia/Shanghai");
        assert_eq!(created["marketingConsent"], true);
        assert!(created["consentUpdatedAt"].is_string());
        assert_eq!(created["orderCount"], 0);
        assert_eq!(created["totalSpent"], "0.00");
        assert!(created["lastOrderAt"].is_null());

        let by_id = app
            .admin_ok(&format!("query($id: ID!) {{ customer(id: $id) {{ {FULL} }} }}"), json!({ "id": created["id"] }))
            .await;
        assert_eq!(&by_id["customer"], created);
        let by_external = app
            .admin_ok(&format!("{{ customerByExternalId(externalId: \"shop-1\") {{ {FULL} }} }}"), json!({}))
            .await;
        assert_eq!(&by_external["customerByExternalId"], created);
        let missing = app.admin_ok("{ customer(id: \"999999\") { id } }", json!({})).await;
        assert!(missing["customer"].is_null());
    })
    .await;
}

#[tokio::test]
async fn update_changes_given_fields_keeps_absent_ones_and_null_clears() {
    on_each_database(|app| async move {
        let id = app
            .create_customer(json!({ "name": "Olivia Brown", "city": "London", "country": "GB", "interests": ["tea"] }))
            .await;
        let data = app
            .admin_ok(
                "mutation($id: ID!, $input: UpdateCustomerInput!) { updateCustomer(id: $id, input: $input) { name city country interests timeZone updatedAt createdAt } }",
                json!({ "id": id, "input": { "city": null, "timeZone": "Europe/London", "interests": ["Running"] } }),
            )
            .await;
        let updated = &data["updateCustomer"];
        assert_eq!(updated["name"], "Olivia Brown");
        assert_eq!(updated["country"], "GB");
        assert!(updated["city"].is_null());
        assert_eq!(updated["timeZone"], "Europe/London");
        assert_eq!(updated["interests"], json!(["running"]));
        assert_ne!(updated["updatedAt"], updated["createdAt"]);

        let body = app
            .admin(r#"mutation { updateCustomer(id: "424242", input: { name: "Nobody" }) { id } }"#, json!({}))
            .await;
        assert_eq!(crate::helpers::error_code(&body), "NOT_FOUND");
    })
    .await;
}

#[tokio::test]
async fn upserting_the_same_batch_twice_changes_nothing_the_second_time() {
    on_each_database(|app| async move {
        let mutation = "mutation($input: [UpsertCustomerInput!]!) { upsertCustomers(input: $input) { created updated unchanged customers { id externalId name city interests } } }";
        let batch = json!([
            { "externalId": "p-1", "name": "Ava Jones", "city": "Austin", "interests": ["yoga"] },
            { "externalId": "p-2", "name": "张伟", "city": "Beijing" },
        ]);
        let first = app.admin_ok(mutation, json!({ "input": batch })).await["upsertCustomers"].clone();
        assert_eq!((first["created"].as_i64(), first["updated"].as_i64(), first["unchanged"].as_i64()), (Some(2), Some(0), Some(0)));
        let second = app.admin_ok(mutation, json!({ "input": batch })).await["upsertCustomers"].clone();
        assert_eq!((second["created"].as_i64(), second["updated"].as_i64(), second["unchanged"].as_i64()), (Some(0), Some(0), Some(2)));
        assert_eq!(first["customers"], second["customers"]);

        // Absent fields stay as they are on an existing customer.
        let third = app
            .admin_ok(mutation, json!({ "input": [{ "externalId": "p-1", "city": "Houston" }] }))
            .await["upsertCustomers"]
            .clone();
        assert_eq!(third["updated"], 1);
        assert_eq!(third["customers"][0]["name"], "Ava Jones");
        assert_eq!(third["customers"][0]["city"], "Houston");
        assert_eq!(third["customers"][0]["interests"], json!(["yoga"]));
        let total = app.admin_ok("{ customers { totalCount } }", json!({})).await;
        assert_eq!(total["customers"]["totalCount"], 2);
    })
    .await;
}

#[tokio::test]
async fn a_page_of_a_hundred_customers_with_their_relations_costs_a_handful_of_queries() {
    on_each_database(|app| async move {
        let referrer = app.create_customer(json!({ "name": "Referrer" })).await;
        let rows: Vec<_> = (0..100)
            .map(|i| json!({ "externalId": format!("bulk-{i}"), "referredBy": referrer, "interests": ["tea", format!("tag{}", i % 7)] }))
            .collect();
        let data = app
            .admin_ok("mutation($input: [UpsertCustomerInput!]!) { upsertCustomers(input: $input) { customers { id } } }", json!({ "input": rows }))
            .await;
        let ids: Vec<String> = data["upsertCustomers"]["customers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect();
        let orders: Vec<_> = ids
            .iter()
            .flat_map(|id| {
                (0..3).map(move |k| json!({ "externalId": format!("{id}-{k}"), "customerId": id, "amount": "5", "currency": "USD", "orderedAt": format!("2025-0{}-01T00:00:00Z", k + 1) }))
            })
            .collect();
        app.record_orders(json!(orders)).await;

        let query = "{ customers(first: 100, filter: { externalIds: [] }) { totalCount } page: customers(first: 100, orderBy: { field: TOTAL_SPENT, direction: DESC }) { totalCount nodes { id interests referredBy { id name } orders(first: 2) { nodes { amount } pageInfo { hasNextPage } } interactions(first: 2) { nodes { id } } feedback(first: 2) { nodes { id } } } } }";
        let before = app.queries.load(std::sync::atomic::Ordering::SeqCst);
        let data = app.admin_ok(query, json!({})).await;
        let used = app.queries.load(std::sync::atomic::Ordering::SeqCst) - before;
        let nodes = data["page"]["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), 100);
        let with_orders: Vec<_> = nodes.iter().filter(|n| n["id"] != referrer.as_str()).collect();
        assert!(with_orders.iter().all(|n| n["orders"]["nodes"].as_array().unwrap().len() == 2));
        assert!(with_orders.iter().all(|n| n["orders"]["pageInfo"]["hasNextPage"] == true));
        assert!(with_orders.iter().all(|n| n["referredBy"]["name"] == "Referrer"));
        // Key lookup, 2 × (page + count), interests, referrers, orders, interactions, feedback.
        assert!(used <= 12, "{used} statements for one page with relations");
    })
    .await;
}

/// Upgrading a database of the previous version (before the kept customer count) keeps
/// every customer and starts the count from them; the count follows later writes.
#[tokio::test]
async fn upgrading_to_the_kept_customer_count_counts_the_customers_already_there() {
    on_each_database(|app| async move {
        use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait};
        if crate::distribution::is_citus(&app.db).await {
            return;
        }
        for i in 0..3 {
            app.create_customer(json!({ "externalId": format!("old-{i}") }))
                .await;
        }
        // Back to the previous version, where customers are written without counters.
        migrate_down_to_before(&app, "m20261130_000013_customer_counts").await;
        for i in 3..7 {
            app.db
                .execute_unprepared(&format!(
                    "INSERT INTO customers (external_id, created_at, updated_at) \
                     VALUES ('old-{i}', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')"
                ))
                .await
                .unwrap();
        }
        let missing = app
            .db
            .execute_unprepared("SELECT 1 FROM customer_counts")
            .await;
        assert!(missing.is_err(), "the previous version has no counters");
        clientele::database::migrate(&app.db).await.unwrap();
        let total = || async {
            app.admin_ok("{ customers { totalCount } }", json!({}))
                .await["customers"]["totalCount"]
                .as_u64()
                .unwrap()
        };
        assert_eq!(total().await, 7);
        app.create_customer(json!({ "externalId": "new" })).await;
        assert_eq!(total().await, 8);
        assert_eq!(
            entity::customer::Entity::find()
                .count(&app.db)
                .await
                .unwrap(),
            8
        );
    })
    .await;
}
