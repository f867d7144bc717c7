//! The customer's voice: feedback with channel and topics, the satisfaction report
//! (NPS, CSAT per bucket and overall), feedback topics and their lift, and the
//! detractor follow-up queue — figures checked against a computation in the test.

use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code, on_each_database};

const RECORD: &str = "mutation($input: FeedbackInput!) { recordFeedback(input: $input) { id score channel topics extractedTerms } }";

/// Records one answer; the `recordFeedback` payload.
async fn record(app: &TestApp, input: Value) -> Value {
    app.admin_ok(RECORD, json!({ "input": input })).await["recordFeedback"].clone()
}

/// A customer's answers with their topics, oldest first (all recorded at distinct times).
async fn answers_of(app: &TestApp, customer: &str) -> Vec<Value> {
    let data = app
        .admin_ok(
            "query($id: ID!) { customer(id: $id) { feedback(first: 50) { nodes { kind score comment channel topics extractedTerms occurredAt } } } }",
            json!({ "id": customer }),
        )
        .await;
    let mut answers = data["customer"]["feedback"]["nodes"]
        .as_array()
        .unwrap()
        .clone();
    // The API lists them newest first.
    answers.reverse();
    answers
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn tags_are_normalised_and_comments_without_tags_give_terms() {
    on_each_database(|app| async move {
        let customer = app
            .create_customer(json!({ "email": "wang.fang@example.com" }))
            .await;
        let tagged = record(
            &app,
            json!({ "customerId": customer, "kind": "NPS", "score": 3, "channel": "WECHAT",
                    "topics": [" Delivery ", "delivery", "PRICE", "after-sales  service"],
                    "comment": "物流太慢了，价格有点贵" }),
        )
        .await;
        assert_eq!(tagged["channel"], "WECHAT");
        assert_eq!(
            strings(&tagged["topics"]),
            ["after-sales service", "delivery", "price"]
        );
        // Tags given: the comment is not mined as well.
        assert_eq!(tagged["extractedTerms"], json!([]));

        let chinese = record(
            &app,
            json!({ "customerId": customer, "kind": "NPS", "score": 2,
                    "comment": "物流太慢了，快递员态度也很差，价格有点贵" }),
        )
        .await;
        assert_eq!(chinese["topics"], json!([]));
        assert!(chinese["channel"].is_null());
        let terms = strings(&chinese["extractedTerms"]);
        for expected in ["物流", "价格", "态度"] {
            assert!(terms.contains(&expected), "{terms:?}");
        }

        let english = record(
            &app,
            json!({ "customerId": customer, "kind": "CSAT", "score": 5, "channel": "EMAIL",
                    "comment": "The delivery was fast and the packaging was lovely." }),
        )
        .await;
        let terms = strings(&english["extractedTerms"]);
        for expected in ["delivery", "packaging"] {
            assert!(terms.contains(&expected), "{terms:?}");
        }
        for stop in ["the", "was", "and"] {
            assert!(!terms.contains(&stop), "{terms:?}");
        }

        let answers = answers_of(&app, &customer).await;
        assert_eq!(answers.len(), 3);
        assert_eq!(answers[0]["topics"], tagged["topics"]);
        assert_eq!(answers[1]["extractedTerms"], chinese["extractedTerms"]);
    })
    .await;
}

#[tokio::test]
async fn a_bad_topic_is_refused_naming_it_and_nothing_is_written() {
    on_each_database(|app| async move {
        let customer = app.create_customer(json!({})).await;
        let cases = [
            (json!(["delivery", "price!"]), "input.topics[1]", "`!`"),
            (json!(["   "]), "input.topics[0]", "empty"),
            (json!(["ok", "a".repeat(65)]), "input.topics[1]", "64"),
            (json!(vec!["t"; 21]), "input.topics", "20"),
        ];
        for (topics, field, mentions) in cases {
            let body = app
                .admin(
                    RECORD,
                    json!({ "input": { "customerId": customer, "kind": "NPS", "score": 9, "topics": topics } }),
                )
                .await;
            assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
            assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
            let message = body["errors"][0]["message"].as_str().unwrap();
            assert!(message.contains(mentions), "{message}");
        }
        assert!(answers_of(&app, &customer).await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn extracted_terms_are_personal_and_erased_with_the_comment() {
    on_each_database(|app| async move {
        let customer = app.create_customer(json!({})).await;
        record(
            &app,
            json!({ "customerId": customer, "kind": "NPS", "score": 4, "topics": ["refund"] }),
        )
        .await;
        record(
            &app,
            json!({ "customerId": customer, "kind": "NPS", "score": 5, "comment": "退款太慢" }),
        )
        .await;
        let reader = app.key_with(&["customers:read"]).await;
        let query = "query($id: ID!) { customer(id: $id) { feedback { nodes { topics extractedTerms } } } }";
        let body = app
            .graphql(&reader, query, json!({ "id": customer }))
            .await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
        let body = app
            .graphql(
                &reader,
                "query($id: ID!) { customer(id: $id) { feedback { nodes { topics } } } }",
                json!({ "id": customer }),
            )
            .await;
        assert_eq!(
            body["data"]["customer"]["feedback"]["nodes"],
            json!([{ "topics": [] }, { "topics": ["refund"] }])
        );

        app.admin_ok(
            "mutation($id: ID!) { eraseCustomer(id: $id) { id } }",
            json!({ "id": customer }),
        )
        .await;
        let answers = answers_of(&app, &customer).await;
        assert_eq!(answers[0]["topics"], json!(["refund"]), "tags are not personal");
        assert_eq!(answers[1]["extractedTerms"], json!([]));
        assert!(answers[1]["comment"].is_null());
    })
    .await;
}

/// A database of the previous version (before channels and topics) keeps every answer
/// on upgrade, and the comments it holds get their terms.
#[tokio::test]
async fn upgrading_to_feedback_topics_keeps_every_answer_and_extracts_old_comments() {
    on_each_database(|app| async move {
        use migration::MigratorTrait;
        let customer = app.create_customer(json!({ "externalId": "old-voice" })).await;
        migration::Migrator::down(&app.db, Some(1)).await.unwrap();
        let missing = app
            .db
            .execute_unprepared("SELECT 1 FROM feedback_topics")
            .await;
        assert!(missing.is_err(), "the previous version has no topics");
        let backend = app.db.get_database_backend();
        let at = chrono::DateTime::parse_from_rfc3339("2026-03-02T10:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let old = [
            ("NPS", 3, Some("物流太慢了，包装也破了")),
            ("NPS", 10, Some("Great quality and quick delivery")),
            ("CSAT", 4, None),
            ("NPS", 7, Some("还行")),
        ];
        for (i, (kind, score, comment)) in old.iter().enumerate() {
            let sql = match backend {
                sea_orm::DatabaseBackend::Postgres => {
                    "INSERT INTO feedback (customer_id, kind, score, comment, occurred_at, created_at) VALUES ($1, $2, $3, $4, $5, $6)"
                }
                _ => {
                    "INSERT INTO feedback (customer_id, kind, score, comment, occurred_at, created_at) VALUES (?, ?, ?, ?, ?, ?)"
                }
            };
            let when = at + chrono::Duration::days(i as i64);
            app.db
                .execute_raw(Statement::from_sql_and_values(
                    backend,
                    sql,
                    [
                        customer.parse::<i64>().unwrap().into(),
                        (*kind).into(),
                        (*score).into(),
                        comment.map(str::to_owned).into(),
                        when.into(),
                        when.into(),
                    ],
                ))
                .await
                .unwrap();
        }

        clientele::database::migrate(&app.db).await.unwrap();
        let answers = answers_of(&app, &customer).await;
        assert_eq!(answers.len(), old.len());
        for (answer, (kind, score, comment)) in answers.iter().zip(&old) {
            assert_eq!(answer["kind"], *kind);
            assert_eq!(answer["score"], *score);
            assert_eq!(answer["comment"].as_str(), *comment);
            assert!(answer["channel"].is_null());
            assert_eq!(answer["topics"], json!([]));
        }
        let terms: Vec<Vec<&str>> = answers
            .iter()
            .map(|a| strings(&a["extractedTerms"]))
            .collect();
        assert!(terms[0].contains(&"物流") && terms[0].contains(&"包装"), "{terms:?}");
        assert!(terms[1].contains(&"delivery") && terms[1].contains(&"quality"), "{terms:?}");
        assert!(terms[2].is_empty() && terms[3].is_empty(), "{terms:?}");
        let queued = app
            .db
            .query_one_raw(Statement::from_string(
                backend,
                "SELECT COUNT(*) AS n FROM feedback_terms_pending",
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get::<i64>("", "n")
            .unwrap();
        assert_eq!(queued, 0, "every old comment was caught up");
        // A second start has nothing to do and changes nothing.
        clientele::database::migrate(&app.db).await.unwrap();
        assert_eq!(answers_of(&app, &customer).await, answers);
    })
    .await;
}
