//! Orders, interactions, feedback and privacy erasure.

use serde_json::json;

use crate::helpers::{error_code, on_each_database};

const SUMMARY: &str = "query($id: ID!) { customer(id: $id) { orderCount totalSpent firstOrderAt lastOrderAt orders(first: 10) { edges { node { externalId amount currency channel itemCount } } } } }";

#[tokio::test]
async fn recording_the_same_orders_twice_changes_nothing() {
    on_each_database(|app| async move {
        let id = app.create_customer(json!({ "externalId": "ext-7" })).await;
        let batch = json!([
            { "externalId": "o-1", "customerId": id, "amount": "0.10", "currency": "usd", "orderedAt": "2025-01-05T08:00:00Z", "channel": "web", "itemCount": 2 },
            { "externalId": "o-2", "customerExternalId": "ext-7", "amount": "0.20", "currency": "USD", "orderedAt": "2025-03-09T18:30:00Z" },
        ]);
        let first = app.record_orders(batch.clone()).await;
        assert_eq!((first["created"].as_i64(), first["unchanged"].as_i64()), (Some(2), Some(0)));
        let second = app.record_orders(batch).await;
        assert_eq!((second["created"].as_i64(), second["unchanged"].as_i64()), (Some(0), Some(2)));
        assert_eq!(first["orders"], second["orders"], "the same orders come back");

        let data = app.admin_ok(SUMMARY, json!({ "id": id })).await;
        let customer = &data["customer"];
        assert_eq!(customer["orderCount"], 2);
        // Exact decimal arithmetic: 0.10 + 0.20 is 0.30, not 0.30000000000000004.
        assert_eq!(customer["totalSpent"], "0.30");
        assert!(customer["firstOrderAt"].as_str().unwrap().starts_with("2025-01-05T08:00:00"));
        assert!(customer["lastOrderAt"].as_str().unwrap().starts_with("2025-03-09T18:30:00"));
        let orders = customer["orders"]["edges"].as_array().unwrap();
        assert_eq!(orders[0]["node"]["externalId"], "o-2", "newest first");
        assert_eq!(orders[1]["node"]["currency"], "USD");
        assert_eq!(orders[1]["node"]["channel"], "web");
        assert_eq!(orders[1]["node"]["itemCount"], 2);
        assert_eq!(orders[0]["node"]["itemCount"], 1);
    })
    .await;
}

#[tokio::test]
async fn a_batch_mixing_new_and_known_orders_adds_only_the_new_ones() {
    on_each_database(|app| async move {
        let id = app.create_customer(json!({})).await;
        let order = |n: u32, amount: &str| {
            json!({ "externalId": format!("m-{n}"), "customerId": id, "amount": amount, "currency": "CNY", "orderedAt": format!("2025-02-{n:02}T10:00:00Z") })
        };
        app.record_orders(json!([order(1, "100"), order(2, "50.5")])).await;
        let mixed = app.record_orders(json!([order(2, "50.5"), order(3, "1.2")])).await;
        assert_eq!((mixed["created"].as_i64(), mixed["unchanged"].as_i64()), (Some(1), Some(1)));
        assert_eq!(mixed["orders"][0]["externalId"], "m-2", "orders come back in input order");
        assert_eq!(mixed["orders"][0]["amount"], "50.50", "in CNY's two places");
        assert_eq!(mixed["orders"][1]["amount"], "1.20");
        let data = app.admin_ok(SUMMARY, json!({ "id": id })).await;
        assert_eq!(data["customer"]["orderCount"], 3);
        assert_eq!(data["customer"]["totalSpent"], "151.70");

        // Places beyond the currency's minor unit are refused, naming the row.
        let too_precise = app
            .admin("mutation($input: [OrderInput!]!) { recordOrders(input: $input) { created } }",
                json!({ "input": [order(4, "1.2345")] }))
            .await;
        assert_eq!(too_precise["errors"][0]["extensions"]["field"], "input[0].amount", "{too_precise}");
        let yen = app.create_customer(json!({ "externalId": "yen" })).await;
        let yen_order = |n: u32, amount: &str| json!({ "externalId": format!("y-{n}"), "customerId": yen, "amount": amount, "currency": "JPY", "orderedAt": "2025-02-01T10:00:00Z" });
        assert_eq!(app.record_orders(json!([yen_order(1, "1200")])).await["orders"][0]["amount"], "1200");
        let fractional_yen = app
            .admin("mutation($input: [OrderInput!]!) { recordOrders(input: $input) { created } }",
                json!({ "input": [yen_order(2, "12.5")] }))
            .await;
        assert_eq!(fractional_yen["errors"][0]["extensions"]["field"], "input[0].amount", "{fractional_yen}");
        let total = app.admin_ok(SUMMARY, json!({ "id": yen })).await;
        assert_eq!(total["customer"]["totalSpent"], "1200.00", "a derived figure: two places");
    })
    .await;
}

#[tokio::test]
async fn interactions_are_recorded_and_listed_newest_first() {
    on_each_database(|app| async move {
        let id = app.create_customer(json!({ "externalId": "talker" })).await;
        let mutation = "mutation($input: InteractionInput!) { recordInteraction(input: $input) { id channel direction subject note occurredAt } }";
        for (at, channel, subject) in [("2025-04-01T09:00:00Z", "PHONE", "delivery"), ("2025-05-01T09:00:00Z", "WECHAT", "advice")] {
            let data = app
                .admin_ok(
                    mutation,
                    json!({ "input": { "customerExternalId": "talker", "channel": channel, "direction": "INBOUND", "subject": subject, "note": "asked about sizes", "occurredAt": at } }),
                )
                .await;
            assert_eq!(data["recordInteraction"]["channel"], channel);
        }
        let data = app
            .admin_ok("query($id: ID!) { customer(id: $id) { interactions { edges { node { channel subject } } } } }", json!({ "id": id }))
            .await;
        let subjects: Vec<&str> = data["customer"]["interactions"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["subject"].as_str().unwrap())
            .collect();
        assert_eq!(subjects, vec!["advice", "delivery"]);

        let body = app
            .admin(mutation, json!({ "input": { "customerExternalId": "nobody", "channel": "SMS", "direction": "OUTBOUND" } }))
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT");
        assert_eq!(body["errors"][0]["extensions"]["field"], "input.customerExternalId");
    })
    .await;
}

#[tokio::test]
async fn erasure_wipes_personal_data_keeps_orders_and_locks_the_customer() {
    on_each_database(|app| async move {
        let id = app
            .create_customer(json!({
                "externalId": "gdpr-1", "name": "Chloe Taylor", "email": "chloe@example.com", "phone": "+447700900123",
                "birthDate": "1991-07-14", "country": "GB", "city": "Bristol", "occupation": "nurse",
                "interests": ["yoga", "baking"], "marketingConsent": true
            }))
            .await;
        app.record_orders(json!([{ "externalId": "g-1", "customerId": id, "amount": "42.00", "currency": "GBP", "orderedAt": "2025-06-01T10:00:00Z" }])).await;
        app.admin_ok(
            "mutation($id: ID!) { recordInteraction(input: { customerId: $id, channel: EMAIL, direction: INBOUND, subject: \"about my address\", note: \"lives at 1 Main St\" }) { id } recordFeedback(input: { customerId: $id, kind: NPS, score: 9, comment: \"love it - Chloe\" }) { id } }",
            json!({ "id": id }),
        )
        .await;

        let erase = "mutation($id: ID!) { eraseCustomer(id: $id) { id externalId name email phone birthDate city occupation interests country marketingConsent erasedAt orderCount totalSpent } }";
        let erased = app.admin_ok(erase, json!({ "id": id })).await["eraseCustomer"].clone();
        for field in ["name", "email", "phone", "birthDate", "city", "occupation"] {
            assert!(erased[field].is_null(), "{field} survived erasure: {erased}");
        }
        assert_eq!(erased["interests"], json!([]));
        assert_eq!(erased["marketingConsent"], false);
        assert!(erased["erasedAt"].is_string());
        assert_eq!(erased["orderCount"], 1, "orders are kept for aggregates");
        assert_eq!(erased["totalSpent"], "42.00");
        assert_eq!(erased["country"], "GB");

        let data = app
            .admin_ok(
                "query($id: ID!) { customer(id: $id) { interactions { nodes { subject note } } feedback { nodes { score comment } } } }",
                json!({ "id": id }),
            )
            .await;
        assert!(data["customer"]["interactions"]["nodes"][0]["note"].is_null());
        assert!(data["customer"]["interactions"]["nodes"][0]["subject"].is_null());
        assert!(data["customer"]["feedback"]["nodes"][0]["comment"].is_null());
        assert_eq!(data["customer"]["feedback"]["nodes"][0]["score"], 9);

        // Erasure is final: no partner feed can bring the data back.
        let body = app
            .admin("mutation($id: ID!) { updateCustomer(id: $id, input: { name: \"Chloe\" }) { id } }", json!({ "id": id }))
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT");
        let body = app
            .admin("mutation { upsertCustomers(input: [{ externalId: \"gdpr-1\", email: \"chloe@example.com\" }]) { created } }", json!({}))
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT");
        let again = app.admin_ok(erase, json!({ "id": id })).await["eraseCustomer"].clone();
        assert_eq!(again["erasedAt"], erased["erasedAt"], "erasing twice is harmless");

        // The freed email can be used by someone else.
        app.create_customer(json!({ "email": "chloe@example.com" })).await;
    })
    .await;
}

#[tokio::test]
async fn amounts_are_plain_decimal_notation_only() {
    on_each_database(|app| async move {
        let id = app.create_customer(json!({ "externalId": "plain" })).await;
        let record = "mutation($input: [OrderInput!]!) { recordOrders(input: $input) { created } }";
        let order = |amount: &str| json!([{ "externalId": format!("p-{amount}"), "customerId": id, "amount": amount, "currency": "USD", "orderedAt": "2025-01-05T08:00:00Z" }]);
        for loose in ["1_000", " 5", "5 ", "1e3", "+5", ".5", "5.", "0x10", "1,000"] {
            let body = app.admin(record, json!({ "input": order(loose) })).await;
            assert_eq!(error_code(&body), "BAD_USER_INPUT", "`{loose}` must be refused: {body}");
            assert!(body["errors"][0]["message"].as_str().unwrap().contains("plain decimal"), "{body}");
        }
        for plain in ["1000", "5.5", "0.05"] {
            let created = app.admin_ok(record, json!({ "input": order(plain) })).await;
            assert_eq!(created["recordOrders"]["created"], 1, "`{plain}`");
        }
    })
    .await;
}
