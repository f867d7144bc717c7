//! Writers that race: every request succeeds or is refused for its own reasons, and what
//! is kept afterwards is exactly what a recomputation from the stored rows gives.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use entity::customer;
use sea_orm::EntityTrait;
use serde_json::{Value, json};

use crate::helpers::{TestApp, on_each_database};

const UPSERT: &str = "mutation($input: [UpsertCustomerInput!]!) { upsertCustomers(input: $input) { created updated unchanged customers { id name } } }";
const ORDERS: &str = "mutation($input: [OrderInput!]!) { recordOrders(input: $input) { created } }";

/// The median of sorted values (the mean of the middle two for an even count).
fn median(sorted: &[i64]) -> Option<f64> {
    match sorted.len() {
        0 => None,
        n if n % 2 == 1 => Some(sorted[n / 2] as f64),
        n => Some((sorted[n / 2 - 1] + sorted[n / 2]) as f64 / 2.0),
    }
}

async fn fire_all(app: &TestApp, requests: Vec<(&'static str, Value)>) -> Vec<Value> {
    futures::future::join_all(
        requests
            .into_iter()
            .map(|(query, variables)| app.admin(query, variables)),
    )
    .await
}

#[tokio::test]
async fn concurrent_orders_of_one_customer_leave_exact_aggregates() {
    on_each_database(|app| async move {
        let id = app.create_customer(json!({ "externalId": "race-o" })).await;
        let start = Utc.with_ymd_and_hms(2025, 1, 1, 9, 0, 0).unwrap();
        // 40 orders on 25 distinct days (some days twice), amounts 1.00 … 40.00 cents apart.
        let orders: Vec<(String, i64, DateTime<Utc>)> = (0..40)
            .map(|i: i64| {
                let day = (i * 7) % 25;
                let at = start + Duration::days(day * (1 + day % 3)) + Duration::minutes(i);
                (format!("race-o-{i}"), 10_000 + i * 2_500, at)
            })
            .collect();
        let requests = orders
            .iter()
            .map(|(external_id, units, at)| {
                let amount = format!("{}.{:02}", units / 10_000, (units % 10_000) / 100);
                (
                    ORDERS,
                    json!({ "input": [{ "externalId": external_id, "customerId": id, "amount": amount,
                                         "currency": "USD", "orderedAt": at.to_rfc3339() }] }),
                )
            })
            .collect();
        for body in fire_all(&app, requests).await {
            assert!(body.get("errors").is_none(), "a concurrent order failed: {body}");
            assert_eq!(body["data"]["recordOrders"]["created"], 1, "{body}");
        }

        let kept = customer::Entity::find_by_id(id.parse::<i64>().unwrap())
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        let total: i64 = orders.iter().map(|(_, units, _)| units).sum();
        let mut days: Vec<NaiveDate> = orders.iter().map(|(_, _, at)| at.date_naive()).collect();
        days.sort();
        days.dedup();
        let first_day = days[0];
        let first_day_total: i64 = orders
            .iter()
            .filter(|(_, _, at)| at.date_naive() == first_day)
            .map(|(_, units, _)| units)
            .sum();
        let mut gaps: Vec<i64> = days.windows(2).map(|w| (w[1] - w[0]).num_days()).collect();
        gaps.sort();
        assert_eq!(kept.order_count, 40);
        assert_eq!(kept.total_spent.0, total);
        assert_eq!(kept.first_order_at, orders.iter().map(|o| o.2).min());
        assert_eq!(kept.last_order_at, orders.iter().map(|o| o.2).max());
        assert_eq!(kept.purchase_days, days.len() as i64);
        assert_eq!(kept.first_day_total.0, first_day_total);
        assert_eq!(kept.median_gap_days, median(&gaps));

        let data = app
            .admin_ok(
                "query($id: ID!) { customer(id: $id) { orderCount totalSpent } }",
                json!({ "id": id }),
            )
            .await;
        assert_eq!(data["customer"]["orderCount"], 40);
        assert_eq!(
            data["customer"]["totalSpent"],
            format!("{}.{:02}", total / 10_000, (total % 10_000) / 100)
        );
    })
    .await;
}

/// Profile writes racing with orders of the same customer: 32 orders, each beside an
/// update or upsert of the customer's name, then 64 more name changes, all sent at once.
/// A profile write is built from the row as it was read; it must not write back that
/// copy's order aggregates over orders recorded meanwhile (the name changes at the end
/// are the last writers, so no later order would repair the figures).
#[tokio::test]
async fn profile_writes_racing_with_orders_keep_the_aggregates_exact() {
    on_each_database(|app| async move {
        let id = app.create_customer(json!({ "externalId": "race-mix" })).await;
        let start = Utc.with_ymd_and_hms(2025, 3, 1, 9, 0, 0).unwrap();
        let rename = |i: i64| {
            if i % 2 == 0 {
                (
                    "mutation($id: ID!, $i: UpdateCustomerInput!) { updateCustomer(id: $id, input: $i) { id } }",
                    json!({ "id": id, "i": { "name": format!("Name {i}") } }),
                )
            } else {
                (UPSERT, json!({ "input": [{ "externalId": "race-mix", "name": format!("Name {i}") }] }))
            }
        };
        let mut requests = Vec::new();
        for i in 0..32_i64 {
            requests.push((
                ORDERS,
                json!({ "input": [{ "externalId": format!("race-mix-{i}"), "customerId": id,
                                     "amount": format!("{}.00", 10 + i), "currency": "USD",
                                     "orderedAt": (start + Duration::days(i)).to_rfc3339() }] }),
            ));
            requests.push(rename(i));
        }
        requests.extend((32..96).map(rename));
        for body in fire_all(&app, requests).await {
            assert!(body.get("errors").is_none(), "a concurrent write failed: {body}");
        }
        let kept = customer::Entity::find_by_id(id.parse::<i64>().unwrap())
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        // Independently: 32 orders of 10.00 … 41.00 on 32 consecutive days.
        assert_eq!(kept.order_count, 32);
        assert_eq!(kept.total_spent.0, (10..42).sum::<i64>() * 10_000);
        assert_eq!(kept.purchase_days, 32);
        assert_eq!(kept.first_order_at, Some(start));
        assert_eq!(kept.last_order_at, Some(start + Duration::days(31)));
        assert_eq!(kept.first_day_total.0, 10 * 10_000);
        assert_eq!(kept.median_gap_days, Some(1.0));
    })
    .await;
}

#[tokio::test]
async fn concurrent_upserts_of_one_new_external_id_all_succeed_on_one_customer() {
    on_each_database(|app| async move {
        let names: Vec<String> = (0..32).map(|i| format!("Racer {i}")).collect();
        let requests = names
            .iter()
            .map(|name| {
                (
                    UPSERT,
                    json!({ "input": [{ "externalId": "race-p1", "name": name }] }),
                )
            })
            .collect();
        let bodies = fire_all(&app, requests).await;
        let mut ids = Vec::new();
        let mut created = 0;
        for body in &bodies {
            assert!(body.get("errors").is_none(), "an upsert failed: {body}");
            let payload = &body["data"]["upsertCustomers"];
            created += payload["created"].as_i64().unwrap();
            ids.push(payload["customers"][0]["id"].as_str().unwrap().to_owned());
        }
        assert_eq!(created, 1, "exactly one upsert creates the customer");
        ids.dedup();
        assert_eq!(
            ids.len(),
            1,
            "every upsert names the same customer: {ids:?}"
        );

        let data = app
            .admin_ok(
                "{ customers(first: 10) { totalCount edges { node { externalId name } } } }",
                json!({}),
            )
            .await;
        assert_eq!(data["customers"]["totalCount"], 1);
        let node = &data["customers"]["edges"][0]["node"];
        assert_eq!(node["externalId"], "race-p1");
        assert!(
            names.iter().any(|name| node["name"] == name.as_str()),
            "{node}"
        );
    })
    .await;
}

/// The kept customer count (`customers { totalCount }` without a filter) equals a count
/// of the rows after 48 concurrent writers: single creations and bulk upserts that
/// create some customers and update others, on both databases.
#[tokio::test]
async fn the_kept_customer_count_is_exact_under_concurrent_creation() {
    on_each_database(|app| async move {
        use sea_orm::{EntityTrait, PaginatorTrait};
        app.create_customer(json!({ "externalId": "kept-0" })).await;
        let create = "mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }";
        let mut requests: Vec<(&'static str, Value)> = (0..32)
            .map(|i| (create, json!({ "input": { "externalId": format!("kept-c{i}") } })))
            .collect();
        // Each batch creates five new customers and updates two that other batches create.
        requests.extend((0..16).map(|i| {
            let rows: Vec<Value> = (0..5)
                .map(|j| json!({ "externalId": format!("kept-u{i}-{j}") }))
                .chain((0..2).map(|j| json!({ "externalId": format!("kept-shared-{j}"), "name": format!("n{i}") })))
                .collect();
            (UPSERT, json!({ "input": rows }))
        }));
        for body in fire_all(&app, requests).await {
            assert!(body.get("errors").is_none(), "a concurrent write failed: {body}");
        }
        let counted = customer::Entity::find().count(&app.db).await.unwrap();
        assert_eq!(counted, 1 + 32 + 16 * 5 + 2);
        let total = app.admin_ok("{ customers { totalCount } }", json!({})).await;
        assert_eq!(total["customers"]["totalCount"], counted, "{total}");
    })
    .await;
}
