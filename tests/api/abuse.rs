//! A request must never take the server down: nesting, fragment bombs, cost, time,
//! directives and metrics labels.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code, on_each_database, on_each_database_with};

/// Posts a raw JSON body (documents too deep for serde_json to serialise safely).
async fn post_raw(app: &TestApp, body: String) -> (u16, Value) {
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(&app.admin_key)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("the server answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn healthz(app: &TestApp) -> u16 {
    app.client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .expect("the server still answers /healthz")
        .status()
        .as_u16()
}

/// Waits for a request, failing the test instead of hanging when the server is stuck.
async fn within<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(120), future)
        .await
        .expect("no answer within two minutes")
}

#[tokio::test]
async fn deeply_nested_documents_are_refused_and_the_server_keeps_serving() {
    on_each_database(|app| async move {
        for depth in [300, 1_250, 2_000, 100_000] {
            let objects = format!(
                "{{ __typename(x: {}1{}) }}",
                "{a:".repeat(depth),
                "}".repeat(depth)
            );
            let lists = format!(
                "{{ __typename(x: {}1{}) }}",
                "[".repeat(depth),
                "]".repeat(depth)
            );
            let selections = format!("{{{}id{}}}", "a{".repeat(depth), "}".repeat(depth));
            for query in [objects, lists, selections] {
                let (status, body) = post_raw(&app, json!({ "query": query }).to_string()).await;
                assert_eq!(status, 200, "depth {depth}: {body}");
                assert_eq!(error_code(&body), "BAD_USER_INPUT", "depth {depth}");
                assert!(
                    body["errors"][0]["message"]
                        .as_str()
                        .unwrap()
                        .contains("nests"),
                    "{body}"
                );
            }
        }
        // Variables deeper than serde_json's recursion limit are a bad body, not a crash.
        let depth = 100_000;
        let body = format!(
            r#"{{"query":"query($v: String) {{ __typename }}","variables":{{"v":{}1{}}}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        );
        let (status, body) = post_raw(&app, body).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(error_code(&body), "BAD_USER_INPUT");

        assert_eq!(healthz(&app).await, 200);
        let data = app.admin_ok("{ __typename }", json!({})).await;
        assert_eq!(data["__typename"], "Query");
    })
    .await;
}

#[tokio::test]
async fn brackets_inside_strings_and_comments_do_not_count_as_nesting() {
    on_each_database(|app| async move {
        let deep = "{[(".repeat(200);
        let query = format!(
            "# {deep}\n{{ a: jobRuns(name: \"{deep}\", first: 1) {{ nodes {{ id }} }} \
             b: jobRuns(name: \"\"\"{deep} \\\"\"\" {deep}\"\"\", first: 1) {{ nodes {{ id }} }} }}"
        );
        let data = app.admin_ok(&query, json!({})).await;
        assert_eq!(data["a"]["nodes"], json!([]));
        assert_eq!(data["b"]["nodes"], json!([]));
    })
    .await;
}

/// `fragment F0 { ...F1 ...F1 } … fragment F{levels} { id }`: 2^levels fields.
fn fragment_bomb(levels: usize) -> String {
    let mut query = String::from("query { customer(id: \"1\") { ...F0 } }\n");
    for level in 0..levels {
        let next = level + 1;
        query.push_str(&format!(
            "fragment F{level} on Customer {{ ...F{next} ...F{next} }}\n"
        ));
    }
    query.push_str(&format!("fragment F{levels} on Customer {{ id }}\n"));
    query
}

#[tokio::test]
async fn exponential_fragments_are_refused_while_health_checks_answer() {
    on_each_database(|app| async move {
        let bomb = fragment_bomb(30);
        let started = std::time::Instant::now();
        let bomb = async {
            let body = app.admin(&bomb, json!({})).await;
            eprintln!(
                "the 30-level fragment bomb was answered in {:?}",
                started.elapsed()
            );
            body
        };
        let health = async {
            // Starts once the bomb is on its way, and must answer whatever it does.
            tokio::time::sleep(Duration::from_millis(50)).await;
            healthz(&app).await
        };
        let (body, health) = within(async { tokio::join!(bomb, health) }).await;
        assert_eq!(health, 200);
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("fragments"),
            "{body}"
        );

        // A fragment that spreads itself twice is a cycle, refused before anything
        // expands it.
        let cycle = "query { ...A } fragment A on Query { __typename ...A ...A }";
        let body = within(app.admin(cycle, json!({}))).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");

        // Fragments used many times but measured once are fine.
        let data = within(app.admin_ok(&fragment_bomb(8), json!({}))).await;
        assert!(data["customer"].is_null());
    })
    .await;
}

#[tokio::test]
async fn a_document_costing_more_than_the_budget_is_refused_naming_cost_and_limit() {
    on_each_database(|app| async move {
        let aliases: Vec<String> = (0..2_000)
            .map(|i| {
                format!("a{i}: customers(first: 100) {{ nodes {{ orders(first: 100) {{ nodes {{ id }} }} }} }}")
            })
            .collect();
        let query = format!("{{ {} }}", aliases.join(" "));
        let body = within(app.admin(&query, json!({}))).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
        let error = &body["errors"][0];
        let cost = error["extensions"]["cost"].as_u64().unwrap();
        let limit = error["extensions"]["limit"].as_u64().unwrap();
        assert!(cost > limit, "{error}");
        let message = error["message"].as_str().unwrap();
        assert!(
            message.contains(&cost.to_string()) && message.contains(&limit.to_string()),
            "{message}"
        );
        assert!(body["data"].is_null(), "nothing ran: {body}");

        // Page sizes given as variables count the same.
        let query = "query($n: Int) { a: customers(first: $n) { nodes { orders(first: $n) { nodes { id } } } } b: customers(first: $n) { nodes { orders(first: $n) { nodes { id } } } } }";
        let body = within(app.admin(query, json!({ "n": 100 }))).await;
        assert!(body.get("errors").is_none(), "two pages of 100×100 pass: {body}");
        let aliases: Vec<String> = (0..60)
            .map(|i| format!("a{i}: customers(first: $n) {{ nodes {{ orders(first: $n) {{ nodes {{ id }} }} }} }}"))
            .collect();
        let query = format!("query($n: Int) {{ {} }}", aliases.join(" "));
        let body = within(app.admin(&query, json!({ "n": 100 }))).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");

        // Backtests carry their weight: a handful per request, not fifty.
        let backtests: Vec<String> = (0..50)
            .map(|i| format!("b{i}: valueBacktest(calibrationEnd: \"2026-01-01\", holdoutEnd: \"2026-06-30\") {{ customers }}"))
            .collect();
        let query = format!("{{ {} }}", backtests.join(" "));
        let body = within(app.admin(&query, json!({}))).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    })
    .await;
}

#[tokio::test]
async fn every_response_reports_its_requested_and_actual_cost() {
    on_each_database(|app| async move {
        let customer = app
            .create_customer(json!({ "externalId": "c-1", "email": "ada@example.com" }))
            .await;
        app.record_orders(json!([
            { "customerId": customer, "externalId": "o-1", "amount": "10.00", "currency": "USD", "orderedAt": "2026-01-02T10:00:00Z" },
            { "customerId": customer, "externalId": "o-2", "amount": "12.00", "currency": "USD", "orderedAt": "2026-02-02T10:00:00Z" },
        ]))
        .await;
        let body = app
            .admin(
                "{ customers(first: 10) { nodes { id orders(first: 5) { nodes { id } } } } }",
                json!({}),
            )
            .await;
        assert!(body.get("errors").is_none(), "{body}");
        let cost = &body["extensions"]["cost"];
        // A page of 10 customers, each with a page of 5 orders.
        assert_eq!(cost["requested"], 10 * (1 + 5), "{body}");
        // data, customers, one customer, its orders, two orders
        assert_eq!(cost["actual"], 6, "{body}");

        let body = app.admin("{ __typename @nonsense }", json!({})).await;
        assert!(body["extensions"]["cost"].is_object(), "refusals report it too: {body}");
    })
    .await;
}

#[tokio::test]
async fn unknown_directives_are_refused() {
    on_each_database(|app| async move {
        let body = app.admin("{ __typename @nonsense }", json!({})).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("@nonsense"),
            "{body}"
        );
        let body = app
            .admin("query Q @nonsense { __typename }", json!({}))
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
        let data = app
            .admin_ok(
                "{ __typename @skip(if: false) a: __typename @include(if: false) }",
                json!({}),
            )
            .await;
        assert_eq!(data, json!({ "__typename": "Query" }));
    })
    .await;
}

#[tokio::test]
async fn a_query_past_its_time_budget_is_stopped_with_timeout() {
    on_each_database_with(
        |settings| settings.request_timeout_seconds = 0.000_001,
        |app| async move {
            // Several round trips to the database: longer than the timer's millisecond.
            let summaries: Vec<String> = (0..5)
                .map(|i| format!("s{i}: lifecycleSummary {{ stage customers }}"))
                .collect();
            let query = format!(
                "{{ {} customers(first: 100) {{ totalCount nodes {{ id }} }} }}",
                summaries.join(" ")
            );
            let body = app.admin(&query, json!({})).await;
            assert_eq!(error_code(&body), "TIMEOUT", "{body}");
            assert!(body["data"].is_null(), "{body}");
            assert_eq!(healthz(&app).await, 200);
        },
    )
    .await;
}

/// A statement that runs for about `seconds` (PostgreSQL) or far longer (SQLite: a
/// counting loop the progress handler must interrupt), writing on SQLite so that a
/// writer after it can tell whether it still runs.
fn slow_statement(app: &TestApp, seconds: u32) -> String {
    match app.db.get_database_backend() {
        sea_orm::DbBackend::Postgres => format!("SELECT pg_sleep({seconds})"),
        _ => format!(
            "CREATE TABLE spin AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 \
             FROM c WHERE x < {}) SELECT count(*) AS n FROM c",
            u64::from(seconds) * 100_000_000
        ),
    }
}

#[tokio::test]
async fn api_statements_stop_at_their_time_limit_and_job_statements_do_not() {
    on_each_database(|app| async move {
        use sea_orm::ConnectionTrait;
        let api = clientele::database::connect_api(&app.database_url, Duration::from_millis(200))
            .await
            .unwrap();
        let error = within(api.execute_unprepared(&slow_statement(&app, 60)))
            .await
            .expect_err("the statement is stopped");
        assert!(
            clientele::database::is_statement_timeout(&anyhow::Error::from(error)),
            "stopped by the limit"
        );
        // The pool's next statement runs normally, and the jobs' pool has no limit.
        api.execute_unprepared("SELECT 1").await.unwrap();
        let pause = match app.db.get_database_backend() {
            sea_orm::DbBackend::Postgres => "SELECT pg_sleep(0.5)".to_owned(),
            _ => {
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) \
                  SELECT count(*) FROM c"
                    .to_owned()
            }
        };
        app.db.execute_unprepared(&pause).await.unwrap();
    })
    .await;
}

/// A heavy query runs on a connection of its own; when the request is dropped (client
/// gone, time out) the statement still running on it is cancelled, not left to finish.
#[tokio::test]
async fn dropping_a_dedicated_connection_cancels_its_running_statement() {
    on_each_database(|app| async move {
        use sea_orm::ConnectionTrait;
        let source = clientele::database::DedicatedConnections::new(
            &app.database_url,
            Duration::from_secs(600),
            app.db.clone(),
            Default::default(),
        )
        .expect("a file or server database");
        let dedicated = source.open().await.unwrap();
        let db = dedicated.db.clone();
        let slow = slow_statement(&app, 600);
        let running = tokio::spawn(async move {
            let _guard = dedicated;
            db.execute_unprepared(&slow).await
        });
        let postgres = app.db.get_database_backend() == sea_orm::DbBackend::Postgres;
        let active = || async {
            app.db
                .query_one_raw(sea_orm::Statement::from_string(
                    sea_orm::DbBackend::Postgres,
                    "SELECT count(*) AS n FROM pg_stat_activity \
                     WHERE state = 'active' AND query = 'SELECT pg_sleep(600)'",
                ))
                .await
                .unwrap()
                .unwrap()
                .try_get::<i64>("", "n")
                .unwrap()
        };
        if postgres {
            let mut seen = false;
            for _ in 0..100 {
                if active().await == 1 {
                    seen = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert!(seen, "the statement started");
        } else {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        running.abort();
        assert!(running.await.unwrap_err().is_cancelled());
        if postgres {
            let mut gone = false;
            for _ in 0..200 {
                if active().await == 0 {
                    gone = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert!(gone, "the abandoned statement was cancelled");
        } else {
            // The loop held the write lock; a write gets through only once it stopped.
            within(
                app.db
                    .execute_unprepared("CREATE TABLE after_cancel (x INTEGER)"),
            )
            .await
            .expect("the abandoned statement was interrupted");
        }
    })
    .await;
}

async fn metrics(app: &TestApp, token: Option<&str>) -> (u16, String) {
    let mut request = app.client.get(format!("{}/metrics", app.address));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn metrics_label_a_bounded_number_of_operation_names() {
    on_each_database_with(
        |settings| settings.metrics_operation_labels = 10,
        |app| async move {
            // A prefix of this run only: the recorder is shared by every app of the
            // test process.
            let prefix = format!("Flood{}", rand_suffix());
            for chunk in (0..1_000).collect::<Vec<_>>().chunks(50) {
                let requests = chunk.iter().map(|i| {
                    let query = format!("query {prefix}{i} {{ __typename }}");
                    let app = &app;
                    async move { app.admin_ok(&query, json!({})).await }
                });
                futures::future::join_all(requests).await;
            }
            let (status, page) = metrics(&app, None).await;
            assert_eq!(status, 200);
            let mut labelled: Vec<&str> = page
                .lines()
                .filter_map(|line| line.split(&format!("operation=\"{prefix}")).nth(1))
                .filter_map(|rest| rest.split('"').next())
                .collect();
            labelled.sort();
            labelled.dedup();
            assert_eq!(labelled.len(), 10, "{labelled:?}");
            assert!(page.contains("operation=\"other\""), "{page}");
        },
    )
    .await;
}

fn rand_suffix() -> u32 {
    std::process::id()
        ^ (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos())
}

#[tokio::test]
async fn metrics_answer_only_the_token_when_one_is_set() {
    on_each_database_with(
        |settings| settings.metrics_token = Some("metrics-s3cret".to_owned().into()),
        |app| async move {
            assert_eq!(metrics(&app, None).await.0, 401);
            assert_eq!(metrics(&app, Some("wrong")).await.0, 401);
            assert_eq!(metrics(&app, Some(&app.admin_key)).await.0, 401);
            let (status, page) = metrics(&app, Some("metrics-s3cret")).await;
            assert_eq!(status, 200);
            assert!(page.contains("db_pool_connections"), "{page}");
        },
    )
    .await;
}
