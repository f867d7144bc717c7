//! Totals that stay right: the largest amounts an order may have (and larger ones stored
//! before amounts were bounded), on enough customers that the base's totals pass the range
//! of one amount; every total still answers and equals what this test computes from the
//! orders it made.

use chrono::{Duration, Utc};
use rust_decimal::Decimal;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::helpers::on_each_database;

const ORDERS: &str = "mutation($input: [OrderInput!]!) { recordOrders(input: $input) { created } }";
const MAX_AMOUNT: &str = "1000000000.00";
const CUSTOMERS: i64 = 50;
/// An amount accepted before amounts were bounded (the abuse report's), as a database of
/// that time may still hold: 9 × 10¹⁸ units, so that two of them pass the 9.223 × 10¹⁸ a
/// BIGINT holds while one customer's total still fits.
const LEGACY_UNITS: i64 = 9_000_000_000_000_000_000;

fn order(external_id: String, customer: &str, amount: &str, days_ago: i64) -> Value {
    json!({ "externalId": external_id, "customerExternalId": customer, "amount": amount,
            "currency": "USD", "orderedAt": (Utc::now() - Duration::days(days_ago)).to_rfc3339() })
}

/// A figure as the API shows it (two places).
fn figure(value: Decimal) -> String {
    let mut value = value;
    value.rescale(2);
    value.to_string()
}

#[tokio::test]
async fn order_amounts_are_bounded_by_the_documented_maximum() {
    on_each_database(|app| async move {
        app.create_customer(json!({ "externalId": "big" })).await;
        for (amount, accepted) in [
            ("900000000000000", false),
            ("1000000000.01", false),
            (MAX_AMOUNT, true),
        ] {
            let body = app
                .admin(
                    ORDERS,
                    json!({ "input": [order(format!("big-{amount}"), "big", amount, 1)] }),
                )
                .await;
            if accepted {
                assert!(body.get("errors").is_none(), "{amount}: {body}");
            } else {
                assert_eq!(
                    crate::helpers::error_code(&body),
                    "BAD_USER_INPUT",
                    "{amount}: {body}"
                );
                assert_eq!(body["errors"][0]["extensions"]["field"], "input[0].amount");
                assert!(
                    body["errors"][0]["message"]
                        .as_str()
                        .unwrap()
                        .contains("1000000000"),
                    "the message names the maximum: {body}"
                );
            }
        }
    })
    .await;
}

#[tokio::test]
async fn totals_past_the_range_of_one_amount_answer_exactly() {
    on_each_database(|app| async move {
        let names: Vec<String> = (0..CUSTOMERS).map(|i| format!("big-{i}")).collect();
        let upsert: Vec<Value> = names.iter().map(|n| json!({ "externalId": n })).collect();
        app.admin_ok(
            "mutation($input: [UpsertCustomerInput!]!) { upsertCustomers(input: $input) { created } }",
            json!({ "input": upsert }),
        )
        .await;
        let first: Vec<Value> = names.iter().map(|n| order(format!("{n}-seed"), n, MAX_AMOUNT, 30)).collect();
        app.record_orders(json!(first)).await;
        // One order each as stored before amounts were bounded (recording 922,338
        // orders of the largest amount allowed now would pass BIGINT too, at the cost of
        // half a gigabyte per database).
        let legacy = format!(
            "INSERT INTO orders (external_id, customer_id, amount, currency, ordered_at, channel, item_count, created_at) \
             SELECT external_id || '-legacy', customer_id, {LEGACY_UNITS}, currency, ordered_at, channel, item_count, created_at \
             FROM orders"
        );
        app.db
            .execute_raw(Statement::from_string(app.db.get_database_backend(), legacy))
            .await
            .unwrap();
        // Recorded through the API: the customers' kept totals are recomputed from all.
        let last: Vec<Value> = names.iter().map(|n| order(format!("{n}-last"), n, MAX_AMOUNT, 5)).collect();
        app.record_orders(json!(last)).await;

        let per_customer =
            Decimal::from(2_000_000_000_i64) + Decimal::new(LEGACY_UNITS, 4);
        let base = per_customer * Decimal::from(CUSTOMERS);
        assert!(base * Decimal::from(10_000) > Decimal::from(i64::MAX), "the test passes BIGINT");

        let customers = app
            .admin_ok("{ customers(first: 100) { nodes { orderCount totalSpent } } }", json!({}))
            .await;
        let nodes = customers["customers"]["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), CUSTOMERS as usize);
        for node in nodes {
            assert_eq!(node["orderCount"], 3);
            assert_eq!(node["totalSpent"], json!(figure(per_customer)));
        }

        app.run_job_ok("value-scores").await;
        app.run_job_ok("lifecycle").await;
        // Every customer is alike, so each group's revenue is its size times one total.
        let of = |size: &Value| figure(per_customer * Decimal::from(size.as_i64().unwrap()));

        let tiers = app
            .admin_ok("{ valueTiers { tier customers revenue revenueShare } }", json!({}))
            .await;
        let mut counted = 0;
        for row in tiers["valueTiers"].as_array().unwrap() {
            assert_eq!(row["revenue"], json!(of(&row["customers"])), "{row}");
            let share = row["customers"].as_f64().unwrap() / CUSTOMERS as f64;
            assert!((row["revenueShare"].as_f64().unwrap() - share).abs() < 1e-9, "{row}");
            counted += row["customers"].as_i64().unwrap();
        }
        assert_eq!(counted, CUSTOMERS);

        let cells = app.admin_ok("{ rfmMatrix { customers revenue } }", json!({})).await;
        let mut counted = 0;
        for cell in cells["rfmMatrix"].as_array().unwrap() {
            assert_eq!(cell["revenue"], json!(of(&cell["customers"])), "{cell}");
            counted += cell["customers"].as_i64().unwrap();
        }
        assert_eq!(counted, CUSTOMERS);

        let summary = app
            .admin_ok("{ lifecycleSummary { stage customers revenueLast90Days } }", json!({}))
            .await;
        let mut counted = 0;
        for row in summary["lifecycleSummary"].as_array().unwrap() {
            assert_eq!(row["revenueLast90Days"], json!(of(&row["customers"])), "{row}");
            counted += row["customers"].as_i64().unwrap();
        }
        assert_eq!(counted, CUSTOMERS);

        let segment = app
            .admin_ok(
                "mutation($input: CreateSegmentInput!) { createSegment(input: $input) { size profile { revenueShare } } }",
                json!({ "input": { "name": "everyone", "rule": { "condition": { "field": "TOTAL_SPENT", "op": "GTE", "value": "0" } } } }),
            )
            .await;
        assert_eq!(segment["createSegment"]["size"], CUSTOMERS);
        assert_eq!(segment["createSegment"]["profile"]["revenueShare"], 1.0);
    })
    .await;
}

#[tokio::test]
async fn an_order_that_would_take_a_customers_total_past_the_maximum_is_refused() {
    on_each_database(|app| async move {
        let id = app
            .create_customer(json!({ "externalId": "near-max" }))
            .await;
        app.record_orders(json!([order("near-max-1".into(), "near-max", "1", 3)]))
            .await;
        // Stored before amounts were bounded: the customer's total is 0.0001 short of the most
        // one customer's orders may add up to.
        app.db
            .execute_raw(Statement::from_string(
                app.db.get_database_backend(),
                format!(
                    "UPDATE orders SET amount = {} WHERE external_id = 'near-max-1'",
                    i64::MAX - 1
                ),
            ))
            .await
            .unwrap();
        let body = app
            .admin(
                ORDERS,
                json!({ "input": [order("near-max-2".into(), "near-max", MAX_AMOUNT, 2)] }),
            )
            .await;
        assert_eq!(
            crate::helpers::error_code(&body),
            "BAD_USER_INPUT",
            "{body}"
        );
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains(&format!("customer {id}")),
            "{body}"
        );
        let data = app
            .admin_ok(
                "query($id: ID!) { customer(id: $id) { orderCount } }",
                json!({ "id": id }),
            )
            .await;
        assert_eq!(data["customer"]["orderCount"], 1, "nothing was recorded");
    })
    .await;
}
