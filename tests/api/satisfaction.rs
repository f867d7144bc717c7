//! The customer's voice: feedback with channel and topics, the satisfaction report
//! (NPS, CSAT per bucket and overall), feedback topics and their lift, and the
//! detractor follow-up queue — figures checked against a computation in the test.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use entity::{
    TopicSource, customer, customer_lifecycle, customer_value, feedback, feedback_topic,
    interaction, value_model,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sea_orm::{
    ActiveEnum, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Statement,
};
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code, migrate_down_to_before, on_each_database};

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
        let customer = app.create_customer(json!({ "externalId": "old-voice" })).await;
        migrate_down_to_before(&app, "m20261130_000015_feedback_voice").await;
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

// ---------------------------------------------------------------------------------
// The generated base and the figures computed here.

/// One answer as the test knows it: read back from the demo's rows (which the demo
/// wrote, not the code under test) or as the test sent it.
#[derive(Clone, Debug)]
struct Answer {
    customer_id: i64,
    nps: bool,
    score: i32,
    at: DateTime<Utc>,
    channel: Option<String>,
    /// Normalised here: trimmed, lower case, deduplicated.
    tags: Vec<String>,
    /// Terms extracted from the comment of an answer without tags (the demo's).
    terms: Vec<String>,
}

impl Answer {
    /// Whether a key with `pii:read` finds it by `topic`: a tag or an extracted term.
    fn mentions(&self, topic: &str) -> bool {
        self.tags.iter().chain(&self.terms).any(|t| t == topic)
    }
}

/// What the test knows about each customer.
#[derive(Default)]
struct Base {
    answers: Vec<Answer>,
    stage: HashMap<i64, String>,
    tier: HashMap<i64, String>,
    clv: HashMap<i64, i64>,
    segment: BTreeSet<i64>,
    segment_id: String,
}

const CHANNELS: [&str; 4] = ["EMAIL", "WECHAT", "WEB", "PHONE"];
const TAGS: [&str; 6] = [
    "Delivery", " price ", "QUALITY", "service", "物流", "delivery",
];

/// A demo base (seeded: the same customers, orders and answers — with their channels and
/// tags — every run, addresses at reserved `.example` domains) scored by the jobs, plus
/// answers with channels and tags recorded through the API at seeded times, and a static
/// segment of every fifth customer.
async fn generated_base(app: &TestApp) -> Base {
    crate::demo::demo(app, 400, 15, NaiveDate::from_ymd_opt(2026, 6, 30)).await;
    app.run_job_ok("lifecycle").await;
    app.run_job_ok("value-scores").await;
    let mut base = Base::default();
    let (mut tags, mut terms): (HashMap<i64, Vec<String>>, HashMap<i64, Vec<String>>) =
        Default::default();
    for row in feedback_topic::Entity::find().all(&app.db).await.unwrap() {
        let by_answer = if row.source == TopicSource::Tag {
            &mut tags
        } else {
            &mut terms
        };
        by_answer
            .entry(row.feedback_id)
            .or_default()
            .push(row.topic);
    }
    for row in feedback::Entity::find().all(&app.db).await.unwrap() {
        base.answers.push(Answer {
            customer_id: row.customer_id,
            nps: row.kind == entity::FeedbackKind::Nps,
            score: row.score,
            at: row.occurred_at,
            channel: row.channel.as_ref().map(ActiveEnum::to_value),
            tags: tags.remove(&row.id).unwrap_or_default(),
            terms: terms.remove(&row.id).unwrap_or_default(),
        });
    }
    assert!(
        base.answers.iter().any(|a| !a.tags.is_empty())
            && base.answers.iter().any(|a| a.channel.is_some()),
        "the demo's answers come with tags and channels"
    );
    for row in customer_lifecycle::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
    {
        base.stage
            .insert(row.customer_id, row.stage.as_str().to_owned());
    }
    let latest = value_model::Entity::find()
        .order_by_desc(value_model::Column::JobRunId)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
        .job_run_id;
    for row in customer_value::Entity::find()
        .filter(customer_value::Column::JobRunId.eq(latest))
        .all(&app.db)
        .await
        .unwrap()
    {
        if let Some(tier) = row.value_tier {
            base.tier.insert(row.customer_id, tier.as_str().to_owned());
        }
        if let Some(clv) = row.predicted_clv {
            base.clv.insert(row.customer_id, clv.0);
        }
    }
    let customers: Vec<customer::Model> = customer::Entity::find()
        .order_by_asc(customer::Column::Id)
        .all(&app.db)
        .await
        .unwrap();

    let mut rng = ChaCha8Rng::seed_from_u64(15);
    let start = DateTime::parse_from_rfc3339("2025-06-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    for _ in 0..160 {
        let customer = &customers[rng.random_range(0..customers.len())];
        let nps = rng.random_bool(0.6);
        let score = if nps {
            rng.random_range(0..=10)
        } else {
            rng.random_range(1..=5)
        };
        let at = start + Duration::seconds(rng.random_range(0..(400 * 86_400)));
        let channel = rng
            .random_bool(0.8)
            .then(|| CHANNELS[rng.random_range(0..CHANNELS.len())]);
        let sent: Vec<&str> = (0..rng.random_range(0..3))
            .map(|_| TAGS[rng.random_range(0..TAGS.len())])
            .collect();
        let mut tags: Vec<String> = Vec::new();
        for tag in &sent {
            let tag = tag.trim().to_lowercase();
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        record(
            app,
            json!({ "customerId": customer.id.to_string(), "kind": if nps { "NPS" } else { "CSAT" },
                    "score": score, "channel": channel, "topics": sent, "occurredAt": at }),
        )
        .await;
        base.answers.push(Answer {
            customer_id: customer.id,
            nps,
            score,
            at,
            channel: channel.map(str::to_owned),
            tags,
            terms: Vec::new(),
        });
    }
    let members: Vec<String> = customers
        .iter()
        .step_by(5)
        .map(|c| c.id.to_string())
        .collect();
    base.segment = members.iter().map(|id| id.parse().unwrap()).collect();
    base.segment_id = app
        .admin_ok(
            "mutation($input: CreateSegmentInput!) { createSegment(input: $input) { id } }",
            json!({ "input": { "name": "Every fifth", "kind": "STATIC" } }),
        )
        .await["createSegment"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.admin_ok(
        "mutation($id: ID!, $ids: [ID!]) { addSegmentMembers(id: $id, input: { customerIds: $ids }) { size } }",
        json!({ "id": base.segment_id, "ids": members }),
    )
    .await;
    base
}

/// NPS and CSAT of some answers, computed here.
#[derive(Debug, Default, PartialEq)]
struct Expected {
    nps_responses: i64,
    promoters: i64,
    passives: i64,
    detractors: i64,
    csat_responses: i64,
    csat_total: i64,
    csat_satisfied: i64,
}

impl Expected {
    fn of<'a>(answers: impl Iterator<Item = &'a Answer>) -> Self {
        let mut e = Expected::default();
        for a in answers {
            if a.nps {
                e.nps_responses += 1;
                match a.score {
                    9..=10 => e.promoters += 1,
                    7..=8 => e.passives += 1,
                    _ => e.detractors += 1,
                }
            } else {
                e.csat_responses += 1;
                e.csat_total += i64::from(a.score);
                if a.score >= 4 {
                    e.csat_satisfied += 1;
                }
            }
        }
        e
    }

    fn nps(&self) -> Option<f64> {
        (self.nps_responses > 0)
            .then(|| (self.promoters - self.detractors) as f64 * 100.0 / self.nps_responses as f64)
    }

    fn csat_average(&self) -> Option<f64> {
        (self.csat_responses > 0).then(|| self.csat_total as f64 / self.csat_responses as f64)
    }

    fn csat_share(&self) -> Option<f64> {
        (self.csat_responses > 0).then(|| self.csat_satisfied as f64 / self.csat_responses as f64)
    }
}

fn close(actual: &Value, expected: Option<f64>, what: &str) {
    match expected {
        None => assert!(actual.is_null(), "{what}: expected null, got {actual}"),
        Some(expected) => {
            let actual = actual
                .as_f64()
                .unwrap_or_else(|| panic!("{what}: {actual}"));
            assert!(
                (actual - expected).abs() < 1e-9,
                "{what}: {actual} ≠ {expected}"
            );
        }
    }
}

fn time(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

/// `figures` (a `SatisfactionFigures`) against the answers kept in `[from, to)`.
fn check_figures(
    figures: &Value,
    answers: &[&Answer],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    what: &str,
) -> Expected {
    assert_eq!(time(&figures["from"]), from, "{what}.from");
    assert_eq!(time(&figures["to"]), to, "{what}.to");
    let e = Expected::of(
        answers
            .iter()
            .copied()
            .filter(|a| a.at >= from && a.at < to),
    );
    assert_eq!(figures["npsResponses"], e.nps_responses, "{what}");
    assert_eq!(figures["promoters"], e.promoters, "{what}");
    assert_eq!(figures["passives"], e.passives, "{what}");
    assert_eq!(figures["detractors"], e.detractors, "{what}");
    assert_eq!(figures["csatResponses"], e.csat_responses, "{what}");
    assert_eq!(
        figures["responses"],
        e.nps_responses + e.csat_responses,
        "{what}"
    );
    close(&figures["nps"], e.nps(), &format!("{what}.nps"));
    close(
        &figures["csatAverage"],
        e.csat_average(),
        &format!("{what}.csatAverage"),
    );
    close(
        &figures["csatSatisfiedShare"],
        e.csat_share(),
        &format!("{what}.csatSatisfiedShare"),
    );
    e
}

fn check_change(period: &Value, now: &Expected, then: &Expected, what: &str) {
    let change = &period["change"];
    let diff = |a: Option<f64>, b: Option<f64>| Some(a? - b?);
    assert_eq!(
        change["responses"],
        (now.nps_responses + now.csat_responses) - (then.nps_responses + then.csat_responses),
        "{what}"
    );
    close(
        &change["nps"],
        diff(now.nps(), then.nps()),
        &format!("{what}.change.nps"),
    );
    close(
        &change["csatAverage"],
        diff(now.csat_average(), then.csat_average()),
        &format!("{what}.change.csatAverage"),
    );
    close(
        &change["csatSatisfiedShare"],
        diff(now.csat_share(), then.csat_share()),
        &format!("{what}.change.csatSatisfiedShare"),
    );
}

const FIGURES: &str = "from to responses npsResponses promoters passives detractors nps csatResponses csatAverage csatSatisfiedShare";

/// The first day of the bucket holding `day`, and of the next one — computed here with
/// chrono's calendar, not the code under test.
fn bucket_bounds(week: bool, day: NaiveDate) -> (NaiveDate, NaiveDate) {
    if week {
        let monday = day - Duration::days(i64::from(day.weekday().num_days_from_monday()));
        (monday, monday + Duration::days(7))
    } else {
        let first = NaiveDate::from_ymd_opt(day.year(), day.month(), 1).unwrap();
        let next = if day.month() == 12 {
            NaiveDate::from_ymd_opt(day.year() + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(day.year(), day.month() + 1, 1)
        };
        (first, next.unwrap())
    }
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).unwrap().and_utc()
}

/// Asks `satisfaction` with `filter` and checks every figure of the overall period and
/// of every bucket against the answers `keep` selects.
async fn check_report(
    app: &TestApp,
    base: &Base,
    filter: Value,
    week: bool,
    keep: impl Fn(&Answer) -> bool,
) {
    let query = format!(
        "query($filter: SatisfactionFilter, $bucket: SatisfactionBucket!) {{ satisfaction(filter: $filter, bucket: $bucket) {{ bucket \
           overall {{ current {{ {FIGURES} }} previous {{ {FIGURES} }} change {{ responses nps csatAverage csatSatisfiedShare }} }} \
           buckets {{ current {{ {FIGURES} }} previous {{ {FIGURES} }} change {{ responses nps csatAverage csatSatisfiedShare }} }} }} }}"
    );
    let bucket = if week { "WEEK" } else { "MONTH" };
    let report = app
        .admin_ok(&query, json!({ "filter": filter, "bucket": bucket }))
        .await["satisfaction"]
        .clone();
    assert_eq!(report["bucket"], bucket);
    let kept: Vec<&Answer> = base.answers.iter().filter(|a| keep(a)).collect();
    let what = format!("{bucket} {filter}");
    let (from, to) = (time(&filter["from"]), time(&filter["to"]));
    let overall = &report["overall"];
    let now = check_figures(
        &overall["current"],
        &kept,
        from,
        to,
        &format!("{what} overall"),
    );
    let then = check_figures(
        &overall["previous"],
        &kept,
        from - (to - from),
        from,
        &format!("{what} overall previous"),
    );
    check_change(overall, &now, &then, &format!("{what} overall"));
    assert!(
        now.nps_responses + now.csat_responses > 0,
        "{what}: a test of nothing"
    );

    let buckets = report["buckets"].as_array().unwrap();
    let mut day = from.date_naive();
    let mut count = 0;
    while midnight(day) < to {
        let (start, end) = bucket_bounds(week, day);
        let (before, _) = bucket_bounds(week, start - Duration::days(1));
        let b = &buckets[count];
        let what = format!("{what} bucket {start}");
        let now = check_figures(
            &b["current"],
            &kept,
            midnight(start).max(from),
            midnight(end).min(to),
            &what,
        );
        let then = check_figures(
            &b["previous"],
            &kept,
            midnight(before),
            midnight(start),
            &format!("{what} previous"),
        );
        check_change(b, &now, &then, &what);
        count += 1;
        day = end;
    }
    assert_eq!(buckets.len(), count, "{what}");
}

#[tokio::test]
async fn satisfaction_figures_equal_an_independent_computation() {
    on_each_database(|app| async move {
        let base = generated_base(&app).await;
        // Not aligned on buckets: the first and last buckets are cut.
        let period = json!({ "from": "2025-07-10T06:00:00Z", "to": "2026-06-20T00:00:00Z" });
        let with = |extra: Value| {
            let mut filter = period.clone();
            filter.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            filter
        };
        check_report(&app, &base, period.clone(), false, |_| true).await;
        check_report(&app, &base, period.clone(), true, |_| true).await;
        check_report(&app, &base, with(json!({ "channel": "WECHAT" })), false, |a| {
            a.channel.as_deref() == Some("WECHAT")
        })
        .await;
        // The admin key reads extracted terms too: the demo's English comments give
        // `delivery`, its Chinese ones `物流`.
        check_report(&app, &base, with(json!({ "topic": " DELIVERY" })), true, |a| {
            a.mentions("delivery")
        })
        .await;
        check_report(&app, &base, with(json!({ "topic": "物流" })), false, |a| {
            a.mentions("物流")
        })
        .await;
        for stage in ["ACTIVE", "LOYAL", "SILENT", "CHURNED"] {
            if base.stage.values().filter(|s| *s == stage).count() < 10 {
                continue;
            }
            check_report(&app, &base, with(json!({ "stage": stage })), false, |a| {
                base.stage.get(&a.customer_id).map(String::as_str) == Some(stage)
            })
            .await;
        }
        for tier in ["HIGH", "LOW"] {
            check_report(&app, &base, with(json!({ "valueTier": tier })), false, |a| {
                base.tier.get(&a.customer_id).map(String::as_str) == Some(tier)
            })
            .await;
        }
        check_report(
            &app,
            &base,
            with(json!({ "segmentId": base.segment_id, "channel": "EMAIL" })),
            false,
            |a| base.segment.contains(&a.customer_id) && a.channel.as_deref() == Some("EMAIL"),
        )
        .await;

        // Without bounds: the 12 months up to now, each whole but the current one.
        let report = app
            .admin_ok("{ satisfaction { bucket overall { current { from to } } buckets { current { from } } } }", json!({}))
            .await["satisfaction"]
            .clone();
        assert_eq!(report["bucket"], "MONTH");
        assert_eq!(report["buckets"].as_array().unwrap().len(), 12);
        let from = time(&report["overall"]["current"]["from"]);
        assert_eq!(from.day(), 1);
        assert_eq!(from.time(), chrono::NaiveTime::MIN);
    })
    .await;
}

#[tokio::test]
async fn tag_topics_count_mentions_by_category_with_their_nps_and_lift() {
    on_each_database(|app| async move {
        let base = generated_base(&app).await;
        let filter = json!({ "from": "2025-07-10T06:00:00Z", "to": "2026-06-20T00:00:00Z" });
        let (from, to) = (time(&filter["from"]), time(&filter["to"]));
        let data = app
            .admin_ok(
                "query($filter: SatisfactionFilter) { feedbackTopics(filter: $filter, sources: [TAG]) { topic source mentions promoters passives detractors nps detractorRate promoterRate lift } }",
                json!({ "filter": filter }),
            )
            .await;
        let rows = data["feedbackTopics"].as_array().unwrap();
        let kept: Vec<&Answer> = base
            .answers
            .iter()
            .filter(|a| a.nps && a.at >= from && a.at < to)
            .collect();
        let all = Expected::of(kept.iter().copied());
        let mut topics: Vec<String> = kept.iter().flat_map(|a| a.tags.clone()).collect();
        topics.sort();
        topics.dedup();
        assert_eq!(rows.len(), topics.len(), "{rows:?}");
        let mut previous_mentions = i64::MAX;
        for row in rows {
            let topic = row["topic"].as_str().unwrap();
            assert_eq!(row["source"], "TAG");
            let e = Expected::of(
                kept.iter()
                    .copied()
                    .filter(|a| a.tags.iter().any(|t| t == topic)),
            );
            assert_eq!(row["mentions"], e.nps_responses, "{topic}");
            assert_eq!(row["promoters"], e.promoters, "{topic}");
            assert_eq!(row["passives"], e.passives, "{topic}");
            assert_eq!(row["detractors"], e.detractors, "{topic}");
            close(&row["nps"], e.nps(), topic);
            let detractor_rate = e.detractors as f64 / all.detractors as f64;
            let promoter_rate = e.promoters as f64 / all.promoters as f64;
            close(&row["detractorRate"], Some(detractor_rate), topic);
            close(&row["promoterRate"], Some(promoter_rate), topic);
            close(
                &row["lift"],
                (e.promoters > 0).then(|| detractor_rate / promoter_rate),
                topic,
            );
            let mentions = row["mentions"].as_i64().unwrap();
            assert!(mentions <= previous_mentions, "most mentioned first");
            previous_mentions = mentions;
        }
    })
    .await;
}

/// The queue as the test computes it from the stored rows: customers (not erased) whose
/// latest NPS answer is 0–6 with no OUTBOUND interaction at or after it, by predicted
/// CLV (none last), then id.
async fn expected_queue(app: &TestApp, clv: &HashMap<i64, i64>) -> Vec<i64> {
    let mut latest: HashMap<i64, feedback::Model> = HashMap::new();
    for answer in feedback::Entity::find()
        .filter(feedback::Column::Kind.eq(entity::FeedbackKind::Nps))
        .all(&app.db)
        .await
        .unwrap()
    {
        let newer = latest
            .get(&answer.customer_id)
            .is_none_or(|known| (answer.occurred_at, answer.id) > (known.occurred_at, known.id));
        if newer {
            latest.insert(answer.customer_id, answer);
        }
    }
    let outbound = interaction::Entity::find()
        .filter(interaction::Column::Direction.eq(entity::Direction::Outbound))
        .all(&app.db)
        .await
        .unwrap();
    let erased: BTreeSet<i64> = customer::Entity::find()
        .filter(customer::Column::ErasedAt.is_not_null())
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    let mut queue: Vec<i64> = latest
        .values()
        .filter(|answer| answer.score <= 6 && !erased.contains(&answer.customer_id))
        .filter(|answer| {
            !outbound
                .iter()
                .any(|i| i.customer_id == answer.customer_id && i.occurred_at >= answer.occurred_at)
        })
        .map(|answer| answer.customer_id)
        .collect();
    queue.sort_by_key(|id| (clv.get(id).is_none(), clv.get(id).map(|c| -c), *id));
    queue
}

/// The whole queue through the API, seven at a time: (customer id, node).
async fn listed_queue(app: &TestApp) -> Vec<(i64, Value)> {
    let mut listed = Vec::new();
    let mut after = Value::Null;
    loop {
        let page = app
            .admin_ok(
                "query($after: String) { detractorFollowUps(first: 7, after: $after) { pageInfo { hasNextPage endCursor } nodes { customer { id email } feedback { id score comment occurredAt } predictedClv valueTier } } }",
                json!({ "after": after }),
            )
            .await["detractorFollowUps"]
            .clone();
        for node in page["nodes"].as_array().unwrap() {
            let id = node["customer"]["id"].as_str().unwrap().parse().unwrap();
            listed.push((id, node.clone()));
        }
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    listed
}

#[tokio::test]
async fn detractor_follow_ups_queue_uncalled_detractors_by_value_until_someone_calls() {
    on_each_database(|app| async move {
        let base = generated_base(&app).await;
        let expected = expected_queue(&app, &base.clv).await;
        assert!(
            expected.len() >= 10,
            "a queue worth paging: {}",
            expected.len()
        );
        assert!(
            expected
                .iter()
                .filter(|id| base.clv.contains_key(id))
                .count()
                >= 5,
            "an order worth checking"
        );
        let listed = listed_queue(&app).await;
        assert_eq!(
            listed.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            expected
        );
        for (id, node) in &listed {
            assert!(node["feedback"]["score"].as_i64().unwrap() <= 6);
            match base.clv.get(id) {
                Some(units) => {
                    let shown: f64 = node["predictedClv"].as_str().unwrap().parse().unwrap();
                    assert!((shown - *units as f64 / 10_000.0).abs() < 0.006, "{node}");
                }
                None => assert!(node["predictedClv"].is_null()),
            }
        }

        let (called, promoter, erased, inbound) =
            (expected[0], expected[1], expected[2], expected[3]);
        let interaction = |customer: i64, direction: &str| {
            json!({ "customerId": customer.to_string(), "channel": "PHONE", "direction": direction,
                    "subject": "About your feedback" })
        };
        for (customer, direction) in [(called, "OUTBOUND"), (inbound, "INBOUND")] {
            app.admin_ok(
                "mutation($input: InteractionInput!) { recordInteraction(input: $input) { id } }",
                json!({ "input": interaction(customer, direction) }),
            )
            .await;
        }
        record(
            &app,
            json!({ "customerId": promoter.to_string(), "kind": "NPS", "score": 10 }),
        )
        .await;
        app.admin_ok(
            "mutation($id: ID!) { eraseCustomer(id: $id) { id } }",
            json!({ "id": erased.to_string() }),
        )
        .await;
        let now: Vec<i64> = listed_queue(&app)
            .await
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        for gone in [called, promoter, erased] {
            assert!(!now.contains(&gone), "{gone} should have left the queue");
        }
        assert!(
            now.contains(&inbound),
            "an inbound contact is not a follow-up"
        );
        assert_eq!(now, expected_queue(&app, &base.clv).await);

        // A new detractor answer after the call puts the customer back.
        record(
            &app,
            json!({ "customerId": called.to_string(), "kind": "NPS", "score": 1 }),
        )
        .await;
        let again: Vec<i64> = listed_queue(&app)
            .await
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert!(again.contains(&called));
        assert_eq!(again, expected_queue(&app, &base.clv).await);
    })
    .await;
}

/// The topics of Chinese and English comments, as stored for each answer.
#[tokio::test]
async fn extracted_topics_of_chinese_and_english_comments_are_counted_apart_from_tags() {
    on_each_database(|app| async move {
        let comments = [
            (2, "物流太慢了，包装也破了"),
            (4, "物流很慢，客服一直不回复"),
            (3, "Delivery was late and customer support never replied"),
            (5, "The delivery took three weeks"),
            (10, "质量很好，物流也快"),
            (9, "Great quality, will buy again"),
            (9, "质量不错，值得推荐"),
            (7, "价格有点贵"),
        ];
        // (score, extracted terms) per answer, as the API stored them.
        let mut answers: Vec<(i64, Vec<String>)> = Vec::new();
        for (n, (score, comment)) in comments.iter().enumerate() {
            let customer = app
                .create_customer(json!({ "email": format!("voice{n}@example.com") }))
                .await;
            let recorded = record(
                &app,
                json!({ "customerId": customer, "kind": "NPS", "score": score, "comment": comment }),
            )
            .await;
            let terms: Vec<String> = strings(&recorded["extractedTerms"])
                .into_iter()
                .map(str::to_owned)
                .collect();
            answers.push((*score, terms));
        }
        let has = |i: usize, term: &str| answers[i].1.iter().any(|t| t == term);
        assert!(has(0, "物流") && has(1, "物流") && has(4, "物流"), "{answers:?}");
        assert!(has(2, "delivery") && has(3, "delivery"), "{answers:?}");
        assert!(has(4, "质量") && has(6, "质量") && has(5, "quality"), "{answers:?}");
        assert!(has(1, "客服"), "{answers:?}");
        // A tagged answer counts under its tag only.
        let tagged = app.create_customer(json!({ "email": "tagged@example.com" })).await;
        record(
            &app,
            json!({ "customerId": tagged, "kind": "NPS", "score": 1, "topics": ["Delivery"],
                    "comment": "物流太慢" }),
        )
        .await;
        answers.push((1, Vec::new()));

        let query = "{ feedbackTopics(first: 100) { topic source mentions promoters passives detractors nps detractorRate promoterRate lift } }";
        let rows = app.admin_ok(query, json!({})).await["feedbackTopics"]
            .as_array()
            .unwrap()
            .clone();
        let find = |topic: &str, source: &str| {
            rows.iter()
                .find(|r| r["topic"] == topic && r["source"] == source)
                .unwrap_or_else(|| panic!("no {source} {topic} in {rows:?}"))
                .clone()
        };
        let all_detractors = answers.iter().filter(|(s, _)| *s <= 6).count() as f64;
        let all_promoters = answers.iter().filter(|(s, _)| *s >= 9).count() as f64;
        let mut terms: Vec<&String> = answers.iter().flat_map(|(_, t)| t).collect();
        terms.sort();
        terms.dedup();
        for term in terms {
            let with: Vec<i64> = answers
                .iter()
                .filter(|(_, t)| t.contains(term))
                .map(|(s, _)| *s)
                .collect();
            let detractors = with.iter().filter(|s| **s <= 6).count() as i64;
            let promoters = with.iter().filter(|s| **s >= 9).count() as i64;
            let row = find(term, "EXTRACTED");
            assert_eq!(row["mentions"], with.len() as i64, "{term}");
            assert_eq!(row["detractors"], detractors, "{term}");
            assert_eq!(row["promoters"], promoters, "{term}");
            assert_eq!(row["passives"], with.len() as i64 - detractors - promoters, "{term}");
            close(
                &row["nps"],
                Some((promoters - detractors) as f64 * 100.0 / with.len() as f64),
                term,
            );
            let (d, p) = (detractors as f64 / all_detractors, promoters as f64 / all_promoters);
            close(&row["detractorRate"], Some(d), term);
            close(&row["promoterRate"], Some(p), term);
            close(&row["lift"], (promoters > 0).then(|| d / p), term);
        }
        // Mentioned by detractors only: no finite lift. By promoters only: lift 0.
        assert!(find("客服", "EXTRACTED")["lift"].is_null());
        assert_eq!(find("质量", "EXTRACTED")["lift"], 0.0);
        let tag = find("delivery", "TAG");
        assert_eq!((tag["mentions"].as_i64(), tag["detractors"].as_i64()), (Some(1), Some(1)));

        // Without pii:read, extracted terms do not exist for the caller.
        let reader = app.key_with(&["customers:read"]).await;
        let body = app.graphql(&reader, query, json!({})).await;
        let sources: BTreeSet<&str> = body["data"]["feedbackTopics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["source"].as_str().unwrap())
            .collect();
        assert_eq!(sources, BTreeSet::from(["TAG"]));
        let body = app
            .graphql(&reader, "{ feedbackTopics(sources: [EXTRACTED]) { topic } }", json!({}))
            .await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
        let by_term = "{ satisfaction(filter: { topic: \"物流\", from: \"2020-01-01T00:00:00Z\" }) { overall { current { npsResponses } } } }";
        let body = app.graphql(&reader, by_term, json!({})).await;
        assert_eq!(body["data"]["satisfaction"]["overall"]["current"]["npsResponses"], 0);
        let body = app.admin_ok(by_term, json!({})).await;
        assert_eq!(
            body["satisfaction"]["overall"]["current"]["npsResponses"],
            answers.iter().filter(|(_, t)| t.iter().any(|t| t == "物流")).count() as i64
        );
    })
    .await;
}

#[tokio::test]
async fn satisfaction_refuses_bad_filters_naming_the_field() {
    on_each_database(|app| async move {
        let cases = [
            (json!({ "segmentId": "abc" }), "MONTH", "filter.segmentId"),
            (json!({ "topic": "price!" }), "MONTH", "filter.topic"),
            (
                json!({ "from": "2026-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z" }),
                "MONTH",
                "filter.to",
            ),
            (json!({ "from": "2000-01-01T00:00:00Z" }), "WEEK", "bucket"),
        ];
        let query = "query($filter: SatisfactionFilter, $bucket: SatisfactionBucket!) { satisfaction(filter: $filter, bucket: $bucket) { bucket } }";
        for (filter, bucket, field) in cases {
            let body = app
                .admin(query, json!({ "filter": filter, "bucket": bucket }))
                .await;
            assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
            assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
        }
        let body = app
            .admin(query, json!({ "filter": { "segmentId": "999999" }, "bucket": "MONTH" }))
            .await;
        assert_eq!(error_code(&body), "NOT_FOUND", "{body}");
        for first in [0, 501] {
            let body = app
                .admin("query($n: Int!) { feedbackTopics(first: $n) { topic } }", json!({ "n": first }))
                .await;
            assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
            assert_eq!(body["errors"][0]["extensions"]["field"], "first", "{body}");
        }
        let outsider = app.key_with(&["segments:read"]).await;
        for query in [
            "{ satisfaction { bucket } }",
            "{ feedbackTopics { topic } }",
            "{ detractorFollowUps { nodes { predictedClv } } }",
        ] {
            let body = app.graphql(&outsider, query, json!({})).await;
            assert_eq!(error_code(&body), "FORBIDDEN", "{query}: {body}");
        }
    })
    .await;
}
