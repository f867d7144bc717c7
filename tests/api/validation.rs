//! Bad input gets a clear `BAD_USER_INPUT` naming the field, and loses nothing.

use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code, on_each_database};

const CREATE: &str =
    "mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }";
const UPSERT: &str =
    "mutation($input: [UpsertCustomerInput!]!) { upsertCustomers(input: $input) { created } }";
const ORDERS: &str = "mutation($input: [OrderInput!]!) { recordOrders(input: $input) { created } }";

async fn customer_count(app: &TestApp) -> i64 {
    app.admin_ok("{ customers { totalCount } }", json!({}))
        .await["customers"]["totalCount"]
        .as_i64()
        .unwrap()
}

/// Asserts one BAD_USER_INPUT error whose field path is `field` and whose message
/// mentions `mentions`.
fn assert_bad_input(body: &Value, field: &str, mentions: &str) {
    assert_eq!(error_code(body), "BAD_USER_INPUT", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains(mentions),
        "`{message}` does not mention `{mentions}`"
    );
    assert!(
        body["data"].is_null()
            || body["data"]
                .as_object()
                .is_some_and(|d| d.values().all(Value::is_null))
    );
}

#[tokio::test]
async fn each_invalid_profile_value_is_refused_with_its_field() {
    on_each_database(|app| async move {
        let tomorrow = (chrono::Utc::now().date_naive() + chrono::Days::new(1)).to_string();
        let cases = [
            // Personal input is never echoed: the path names the field.
            (
                json!({ "email": "not-an-email" }),
                "input.email",
                "not a valid email address",
            ),
            (json!({ "phone": "13800138000" }), "input.phone", "E.164"),
            (
                json!({ "birthDate": tomorrow }),
                "input.birthDate",
                "future",
            ),
            (json!({ "country": "XX" }), "input.country", "ISO 3166"),
            (
                json!({ "locale": "not a locale" }),
                "input.locale",
                "BCP 47",
            ),
            (
                json!({ "timeZone": "Mars/Olympus" }),
                "input.timeZone",
                "IANA",
            ),
            (json!({ "name": "   " }), "input.name", "empty"),
            (
                json!({ "referredBy": "987654" }),
                "input.referredBy",
                "987654",
            ),
            (
                json!({ "interests": ["x".repeat(65)] }),
                "input.interests",
                "64",
            ),
        ];
        for (input, field, mentions) in cases {
            let body = app.admin(CREATE, json!({ "input": input })).await;
            assert_bad_input(&body, field, mentions);
        }
        assert_eq!(customer_count(&app).await, 0, "nothing was written");
    })
    .await;
}

#[tokio::test]
async fn an_email_can_belong_to_one_customer_only() {
    on_each_database(|app| async move {
        let first = app
            .create_customer(json!({ "email": "grace@example.com" }))
            .await;
        let body = app
            .admin(CREATE, json!({ "input": { "email": "GRACE@example.com" } }))
            .await;
        assert_bad_input(&body, "input.email", &format!("customer {first}"));
        assert_eq!(customer_count(&app).await, 1);
    })
    .await;
}

#[tokio::test]
async fn a_bulk_upsert_with_bad_rows_writes_nothing_and_lists_every_bad_row() {
    on_each_database(|app| async move {
        let body = app
            .admin(
                UPSERT,
                json!({ "input": [
                    { "externalId": "ok-1", "name": "Fine" },
                    { "externalId": "bad-1", "email": "nope" },
                    { "externalId": "ok-2", "name": "Also fine" },
                    { "externalId": "bad-2", "timeZone": "Nowhere/City", "country": "ZZ" },
                    { "externalId": "ok-1", "name": "Duplicate key" },
                ]}),
            )
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT");
        let problems = body["errors"][0]["extensions"]["problems"]
            .as_array()
            .unwrap();
        let mut found: Vec<(i64, String)> = problems
            .iter()
            .map(|p| {
                (
                    p["index"].as_i64().unwrap(),
                    p["field"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        found.sort();
        assert_eq!(
            found,
            vec![
                (1, "input[1].email".to_owned()),
                (3, "input[3].country".to_owned()),
                (3, "input[3].timeZone".to_owned()),
                (4, "input[4].externalId".to_owned()),
            ]
        );
        assert_eq!(
            customer_count(&app).await,
            0,
            "valid rows of a bad batch are not written either"
        );
    })
    .await;
}

#[tokio::test]
async fn bulk_calls_are_limited_to_a_thousand_rows() {
    on_each_database(|app| async move {
        let rows: Vec<Value> = (0..1001)
            .map(|i| json!({ "externalId": format!("c{i}") }))
            .collect();
        let body = app.admin(UPSERT, json!({ "input": rows })).await;
        assert_bad_input(&body, "input", "1000");
        assert_eq!(customer_count(&app).await, 0);
    })
    .await;
}

#[tokio::test]
async fn invalid_orders_are_refused_row_by_row_and_nothing_is_written() {
    on_each_database(|app| async move {
        let id = app.create_customer(json!({ "externalId": "buyer" })).await;
        let later = (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339();
        let order = |external: &str, extra: Value| {
            let mut base = json!({
                "externalId": external, "customerId": id, "amount": "10.00", "currency": "USD",
                "orderedAt": "2025-03-01T12:00:00Z"
            });
            for (key, value) in extra.as_object().unwrap() {
                base[key] = value.clone();
            }
            base
        };
        let body = app
            .admin(
                ORDERS,
                json!({ "input": [
                    order("fine", json!({})),
                    order("negative", json!({ "amount": "-1.00" })),
                    order("currency", json!({ "currency": "ABC" })),
                    order("unknown-id", json!({ "customerId": "999999" })),
                    order("unknown-ext", json!({ "customerId": null, "customerExternalId": "ghost" })),
                    order("both", json!({ "customerExternalId": "buyer" })),
                    order("future", json!({ "orderedAt": later })),
                    order("precise", json!({ "amount": "1.00001" })),
                    order("items", json!({ "itemCount": 0 })),
                ]}),
            )
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT");
        let fields: Vec<&str> = body["errors"][0]["extensions"]["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["field"].as_str().unwrap())
            .collect();
        for expected in [
            "input[1].amount",
            "input[2].currency",
            "input[3].customerId",
            "input[4].customerExternalId",
            "input[5].customerId",
            "input[6].orderedAt",
            "input[7].amount",
            "input[8].itemCount",
        ] {
            assert!(fields.contains(&expected), "{expected} missing from {fields:?}");
        }
        assert!(!fields.iter().any(|f| f.starts_with("input[0]")), "the valid row is not blamed: {fields:?}");
        let customer = app.admin_ok("query($id: ID!) { customer(id: $id) { orderCount } }", json!({ "id": id })).await;
        assert_eq!(customer["customer"]["orderCount"], 0, "nothing was written");
    })
    .await;
}

#[tokio::test]
async fn money_must_be_a_decimal_string_never_a_float() {
    on_each_database(|app| async move {
        let id = app.create_customer(json!({})).await;
        let body = app
            .admin(
                ORDERS,
                json!({ "input": [{ "externalId": "f", "customerId": id, "amount": 10.5, "currency": "USD", "orderedAt": "2025-03-01T12:00:00Z" }] }),
            )
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT");
        assert!(body["errors"][0]["message"].as_str().unwrap().contains("string"), "{body}");
    })
    .await;
}

#[tokio::test]
async fn feedback_scores_must_fit_their_scale() {
    on_each_database(|app| async move {
        let id = app.create_customer(json!({})).await;
        let mutation = "mutation($input: FeedbackInput!) { recordFeedback(input: $input) { id kind score } }";
        for (kind, score, ok) in [("NPS", 0, true), ("NPS", 10, true), ("NPS", 11, false), ("NPS", -1, false), ("CSAT", 1, true), ("CSAT", 5, true), ("CSAT", 0, false), ("CSAT", 6, false)] {
            let body = app.admin(mutation, json!({ "input": { "customerId": id, "kind": kind, "score": score } })).await;
            if ok {
                assert!(body.get("errors").is_none(), "{kind} {score}: {body}");
                assert_eq!(body["data"]["recordFeedback"]["score"], score);
            } else {
                assert_bad_input(&body, "input.score", &score.to_string());
            }
        }
        let customer = app.admin_ok("query($id: ID!) { customer(id: $id) { feedback(first: 50) { edges { node { score } } } } }", json!({ "id": id })).await;
        assert_eq!(customer["customer"]["feedback"]["edges"].as_array().unwrap().len(), 4, "only valid answers were stored");
    })
    .await;
}

#[tokio::test]
async fn malformed_requests_get_a_clear_error_and_never_a_500() {
    on_each_database(|app| async move {
        let response = app
            .client
            .post(format!("{}/graphql", app.address))
            .bearer_auth(&app.admin_key)
            .header("content-type", "application/json")
            .body("{ this is not json")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400);
        let body: Value = response.json().await.unwrap();
        assert_eq!(error_code(&body), "BAD_USER_INPUT");

        let body = app.admin("{ customers { nonsense } }", json!({})).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT");
        let body = app
            .admin("{ customer(id: \"abc\") { id } }", json!({}))
            .await;
        assert_bad_input(&body, "id", "abc");
    })
    .await;
}

#[tokio::test]
async fn an_email_with_a_display_name_is_refused_without_echoing_it() {
    on_each_database(|app| async move {
        app.create_customer(json!({ "email": "carol@example.com" }))
            .await;
        for email in [
            "\"X\" <carol@example.com>",
            "Carol <carol@example.com>",
            "<carol@example.com>",
        ] {
            let body = app
                .admin(CREATE, json!({ "input": { "email": email } }))
                .await;
            assert_bad_input(&body, "input.email", "not a valid email address");
            let body = app
                .admin(
                    UPSERT,
                    json!({ "input": [{ "externalId": "carol-2", "email": email }] }),
                )
                .await;
            assert_bad_input(&body, "input[0].email", "not a valid email address");
            assert!(
                !body.to_string().contains("carol@"),
                "the address is echoed: {body}"
            );
        }
        assert_eq!(customer_count(&app).await, 1, "no second Carol");
    })
    .await;
}
