//! Keys, scopes, the PII guard and request limits.

use serde_json::json;

use crate::helpers::{error_code, on_each_database};

const LIST: &str = "{ customers(first: 5) { totalCount nodes { id country } } }";

#[tokio::test]
async fn requests_without_a_live_key_get_401_unauthenticated() {
    on_each_database(|app| async move {
        let (status, body) = app.post_graphql(None, LIST, json!({})).await;
        assert_eq!(status, 401);
        assert_eq!(error_code(&body), "UNAUTHENTICATED");

        let (status, body) = app
            .post_graphql(Some("ck_not-a-real-key"), LIST, json!({}))
            .await;
        assert_eq!(status, 401);
        assert_eq!(error_code(&body), "UNAUTHENTICATED");

        let key = app.key_with(&["customers:read"]).await;
        let (status, _) = app.post_graphql(Some(&key), LIST, json!({})).await;
        assert_eq!(status, 200);
        let keys = clientele::api_keys::list(&app.db).await.unwrap();
        let name = &keys.last().unwrap().name;
        assert!(
            keys.last().unwrap().last_used_at.is_some(),
            "last use is recorded"
        );
        clientele::api_keys::revoke(&app.db, name).await.unwrap();
        assert_eq!(app.status_after_revocation(&key).await, 401);
        let (status, body) = app.post_graphql(Some(&key), LIST, json!({})).await;
        assert_eq!(status, 401);
        assert_eq!(error_code(&body), "UNAUTHENTICATED");
    })
    .await;
}

/// On PostgreSQL a key already seen costs no statement (the key cache); a revocation
/// empties every process's cache through NOTIFY, so the key is refused on its next use.
/// On SQLite every request reads its key.
#[tokio::test]
async fn a_known_key_costs_no_lookup_on_postgres_until_it_is_revoked() {
    on_each_database(|app| async move {
        use std::sync::atomic::Ordering;
        let postgres = app.db.get_database_backend() == sea_orm::DbBackend::Postgres;
        let key = app.key_with(&["customers:read"]).await;
        let statements = || async {
            let before = app.queries.load(Ordering::SeqCst);
            let (status, _) = app
                .post_graphql(Some(&key), "{ __typename }", json!({}))
                .await;
            assert_eq!(status, 200);
            app.queries.load(Ordering::SeqCst) - before
        };
        // The first use also records `last_used_at`. The listener connects in the
        // background: wait for the cache to serve.
        statements().await;
        let mut spent = statements().await;
        for _ in 0..100 {
            if spent == 0 || !postgres {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            spent = statements().await;
        }
        assert_eq!(spent, if postgres { 0 } else { 1 });

        let name = clientele::api_keys::list(&app.db)
            .await
            .unwrap()
            .last()
            .unwrap()
            .name
            .clone();
        clientele::api_keys::revoke(&app.db, &name).await.unwrap();
        assert_eq!(app.status_after_revocation(&key).await, 401);
    })
    .await;
}

#[tokio::test]
async fn keys_are_stored_only_as_hashes() {
    on_each_database(|app| async move {
        let key = app.key_with(&["customers:read"]).await;
        let stored = clientele::api_keys::list(&app.db).await.unwrap();
        assert!(
            stored
                .iter()
                .all(|k| k.key_hash.len() == 64 && !k.key_hash.contains(&key) && k.key_hash != key)
        );
    })
    .await;
}

#[tokio::test]
async fn a_key_without_the_scope_is_forbidden() {
    on_each_database(|app| async move {
        let writer = app.key_with(&["customers:write"]).await;
        let body = app.graphql(&writer, LIST, json!({})).await;
        assert_eq!(error_code(&body), "FORBIDDEN");

        let reader = app.key_with(&["customers:read"]).await;
        let body = app
            .graphql(
                &reader,
                r#"mutation { createCustomer(input: { name: "X" }) { id } }"#,
                json!({}),
            )
            .await;
        assert_eq!(error_code(&body), "FORBIDDEN");
        let count = app.admin_ok(LIST, json!({})).await["customers"]["totalCount"]
            .as_i64()
            .unwrap();
        assert_eq!(count, 0, "a forbidden mutation writes nothing");
    })
    .await;
}

#[tokio::test]
async fn personal_fields_need_pii_read_and_the_rest_is_still_served() {
    on_each_database(|app| async move {
        let id = app
            .create_customer(json!({
                "name": "王芳", "email": "fang@example.test", "phone": "+8613800138000",
                "birthDate": "1988-05-04", "country": "CN", "city": "Shanghai"
            }))
            .await;
        let query = "query($id: ID!) { customer(id: $id) { id city name email phone birthDate } }";

        let reader = app.key_with(&["customers:read"]).await;
        let body = app.graphql(&reader, query, json!({ "id": id })).await;
        let customer = &body["data"]["customer"];
        assert_eq!(customer["city"], "Shanghai");
        assert_eq!(customer["id"], id.as_str());
        for field in ["name", "email", "phone", "birthDate"] {
            assert!(
                customer[field].is_null(),
                "{field} leaked without pii:read: {body}"
            );
            let error = body["errors"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["path"] == json!(["customer", field]))
                .unwrap_or_else(|| panic!("no error at customer.{field}: {body}"));
            assert_eq!(error["extensions"]["code"], "FORBIDDEN");
        }

        let pii = app.key_with(&["customers:read", "pii:read"]).await;
        let body = app.graphql(&pii, query, json!({ "id": id })).await;
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(body["data"]["customer"]["name"], "王芳");
        assert_eq!(body["data"]["customer"]["birthDate"], "1988-05-04");

        // Searching by personal data would leak it too.
        let body = app
            .graphql(
                &reader,
                r#"{ customers(filter: { search: "fang" }) { totalCount } }"#,
                json!({}),
            )
            .await;
        assert_eq!(error_code(&body), "FORBIDDEN");
    })
    .await;
}

#[tokio::test]
async fn page_size_depth_and_body_size_are_limited() {
    on_each_database(|app| async move {
        let body = app.admin("{ customers(first: 101) { totalCount } }", json!({})).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT");
        assert_eq!(body["errors"][0]["extensions"]["field"], "first");

        let deep = "{ customers { nodes { referredBy { referredBy { referredBy { referredBy { referredBy { referredBy { referredBy { referredBy { referredBy { referredBy { referredBy { id } } } } } } } } } } } } } }";
        let body = app.admin(deep, json!({})).await;
        assert!(body["errors"][0]["message"].as_str().unwrap().contains("too deep"), "{body}");
        assert_eq!(error_code(&body), "BAD_USER_INPUT");

        let huge = "x".repeat(2 * 1024 * 1024 + 1);
        let response = app
            .client
            .post(format!("{}/graphql", app.address))
            .bearer_auth(&app.admin_key)
            .header("content-type", "application/json")
            .body(format!(r#"{{"query":"{huge}"}}"#))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 413);
    })
    .await;
}

#[tokio::test]
async fn health_readiness_metrics_and_graphiql_answer() {
    on_each_database(|app| async move {
        let get = |path: &str| app.client.get(format!("{}{path}", app.address)).send();
        assert_eq!(get("/healthz").await.unwrap().status().as_u16(), 200);
        assert_eq!(get("/readyz").await.unwrap().status().as_u16(), 200);
        app.admin_ok(
            "query ListCustomers { customers { totalCount } }",
            json!({}),
        )
        .await;
        let metrics = get("/metrics").await.unwrap().text().await.unwrap();
        assert!(
            metrics.contains(r#"graphql_requests_total{operation="ListCustomers"}"#),
            "{metrics}"
        );
        assert!(
            metrics.contains("graphql_request_duration_seconds"),
            "{metrics}"
        );
        assert!(metrics.contains("db_pool_connections"), "{metrics}");
        let page = get("/graphql").await.unwrap();
        assert!(
            page.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert!(page.text().await.unwrap().contains("graphiql"));
    })
    .await;
}

#[tokio::test]
async fn cors_allows_only_configured_origins() {
    on_each_database(|app| async move {
        let preflight = |origin: &'static str| {
            app.client
                .request(reqwest::Method::OPTIONS, format!("{}/graphql", app.address))
                .header("Origin", origin)
                .header("Access-Control-Request-Method", "POST")
                .header(
                    "Access-Control-Request-Headers",
                    "authorization,content-type",
                )
                .send()
        };
        let allowed = preflight("https://crm.example.com").await.unwrap();
        assert_eq!(
            allowed.headers()["access-control-allow-origin"],
            "https://crm.example.com"
        );
        let refused = preflight("https://evil.example.net").await.unwrap();
        assert!(
            refused
                .headers()
                .get("access-control-allow-origin")
                .is_none()
        );
    })
    .await;
}
