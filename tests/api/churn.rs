//! Why customers leave: `churnDrivers` on a base built so that detractors lapse about four
//! times as often as they stay, every figure checked against a count made in the test from
//! what the test generated.

use std::collections::{BTreeMap, HashMap};

use chrono::{Duration, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code, on_each_database};

const DRIVERS: &str = "query($stages: [LifecycleStage!]) { churnDrivers(stages: $stages) { from to lapsed retained \
    factors { factor value source lapsed retained count lapsedShare retainedShare lift lowCount } } }";

/// When the lapsed customers' lapse began: their one order 150 days ago, SILENT once 90
/// days passed without another (the day after the 90th).
const LAPSE_DAYS_AGO: i64 = 150 - 91;

/// What the test made one customer: the values each factor should find.
#[derive(Clone, Debug)]
struct Made {
    lapsed: bool,
    facts: Vec<(&'static str, String)>,
    topics: Vec<String>,
}

/// The NPS category the report should see: the latest answer before the lapse.
fn category(score: Option<i32>) -> &'static str {
    match score {
        None => "NO_ANSWER",
        Some(9..) => "PROMOTER",
        Some(7..=8) => "PASSIVE",
        Some(_) => "DETRACTOR",
    }
}

/// The default bands of the average order value, from its value in cents.
fn order_value_band(cents_total: i64, orders: i64) -> &'static str {
    let bounds = [
        (5_000, "under 50.00"),
        (10_000, "50.00 to 100.00"),
        (20_000, "100.00 to 200.00"),
        (50_000, "200.00 to 500.00"),
    ];
    for (bound, label) in bounds {
        if cents_total < bound * orders {
            return label;
        }
    }
    "500.00 or more"
}

fn tenure_band(days: i64) -> &'static str {
    match days {
        ..90 => "UNDER_90_DAYS",
        90..365 => "90_DAYS_TO_1_YEAR",
        365..730 => "1_TO_2_YEARS",
        _ => "2_YEARS_OR_MORE",
    }
}

/// A base of lapsed customers (one order 150 days ago: SILENT once `lifecycle` runs, from
/// the day their quiet passed 90 days, 59 days ago) and retained ones (a first order months or years ago and one 20 days
/// ago: ACTIVE). Detractors are drawn with probability 0.4 among the lapsed and 0.1 among
/// the retained; countries, channels, contacts, offers, order values and tags vary.
async fn generate(app: &TestApp) -> Vec<Made> {
    let mut rng = ChaCha8Rng::seed_from_u64(15);
    let now = Utc::now();
    let days_ago = |days: i64| (now - Duration::days(days)).to_rfc3339();
    let mut made = Vec::new();
    let mut customers = Vec::new();
    for i in 0..600 {
        let lapsed = i < 140;
        // A small German group: too few for a lift worth reading.
        let country = if i % 40 == 7 {
            "DE"
        } else if rng.random_bool(if lapsed { 0.6 } else { 0.4 }) {
            "CN"
        } else {
            "US"
        };
        let channel = if rng.random_bool(0.5) {
            "organic"
        } else {
            "paid_search"
        };
        customers.push(json!({ "externalId": format!("c{i}"), "country": country, "acquisitionChannel": channel }));
        made.push(Made {
            lapsed,
            facts: vec![
                ("COUNTRY", country.to_owned()),
                ("CHANNEL", channel.to_owned()),
            ],
            topics: Vec::new(),
        });
    }
    let created = app
        .admin_ok(
            "mutation($input: [UpsertCustomerInput!]!) { upsertCustomers(input: $input) { customers { id } } }",
            json!({ "input": customers }),
        )
        .await["upsertCustomers"]["customers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect::<Vec<_>>();

    let mut orders = Vec::new();
    for (i, (id, m)) in created.iter().zip(made.iter_mut()).enumerate() {
        let amounts: Vec<i64> = if m.lapsed {
            vec![rng.random_range(1_000..40_000)]
        } else {
            vec![
                rng.random_range(1_000..70_000),
                rng.random_range(1_000..70_000),
            ]
        };
        let first_days = if m.lapsed {
            150
        } else {
            [200, 400, 800][i % 3]
        };
        let times = if m.lapsed {
            vec![150]
        } else {
            vec![first_days, 20]
        };
        for (k, (cents, days)) in amounts.iter().zip(&times).enumerate() {
            orders.push(json!({ "externalId": format!("o{i}-{k}"), "customerId": id,
                "amount": format!("{}.{:02}", cents / 100, cents % 100), "currency": "USD",
                "orderedAt": days_ago(*days) }));
        }
        let total: i64 = amounts.iter().sum();
        m.facts.push((
            "AVERAGE_ORDER_VALUE",
            order_value_band(total, amounts.len() as i64).to_owned(),
        ));
        // Tenure counts to the lapse (59 days ago) and, for the retained, to the end of
        // today.
        let tenure = if m.lapsed {
            first_days - LAPSE_DAYS_AGO
        } else {
            first_days + 1
        };
        m.facts.push(("TENURE", tenure_band(tenure).to_owned()));
    }
    for chunk in orders.chunks(1000) {
        app.record_orders(json!(chunk)).await;
    }

    let feedback = "mutation($input: FeedbackInput!) { recordFeedback(input: $input) { id } }";
    let interaction =
        "mutation($input: InteractionInput!) { recordInteraction(input: $input) { id } }";
    for (i, (id, m)) in created.iter().zip(made.iter_mut()).enumerate() {
        let score: Option<i32> = rng.random_bool(0.8).then(|| {
            if rng.random_bool(if m.lapsed { 0.4 } else { 0.1 }) {
                rng.random_range(0..=6)
            } else {
                rng.random_range(7..=10)
            }
        });
        if let Some(score) = score {
            let mut input = json!({ "customerId": id, "kind": "NPS", "score": score, "occurredAt": days_ago(100) });
            if score <= 6 && rng.random_bool(0.7) {
                input["topics"] = json!(["delivery"]);
                m.topics.push("delivery".into());
            } else if rng.random_bool(0.3) {
                input["topics"] = json!(["price"]);
                m.topics.push("price".into());
            }
            app.admin_ok(feedback, json!({ "input": input })).await;
        }
        m.facts.push(("NPS_CATEGORY", category(score).to_owned()));
        if m.lapsed && i % 5 == 0 {
            // After the lapse: neither its score nor its topic describes them before it.
            app.admin_ok(
                feedback,
                json!({ "input": { "customerId": id, "kind": "NPS", "score": 0,
                "topics": ["after"], "occurredAt": days_ago(LAPSE_DAYS_AGO - 1) } }),
            )
            .await;
        }
        if i % 9 == 0 {
            // A comment without tags: its terms are extracted, and personal.
            app.admin_ok(
                feedback,
                json!({ "input": { "customerId": id, "kind": "CSAT", "score": 2,
                "comment": "The courier lost the parcel", "occurredAt": days_ago(100) } }),
            )
            .await;
        }
        // Inbound contacts within 90 days before the reference day; one long before it
        // and an outbound call, which do not count.
        let contacts = if m.lapsed {
            rng.random_range(0..3)
        } else {
            usize::from(rng.random_bool(0.2))
        };
        let contacted = if m.lapsed { LAPSE_DAYS_AGO + 20 } else { 30 };
        for _ in 0..contacts {
            app.admin_ok(
                interaction,
                json!({ "input": { "customerId": id, "channel": "PHONE",
                "direction": "INBOUND", "occurredAt": days_ago(contacted) } }),
            )
            .await;
        }
        if i % 7 == 0 {
            app.admin_ok(
                interaction,
                json!({ "input": { "customerId": id, "channel": "PHONE",
                "direction": "INBOUND", "occurredAt": days_ago(200) } }),
            )
            .await;
            app.admin_ok(
                interaction,
                json!({ "input": { "customerId": id, "channel": "PHONE",
                "direction": "OUTBOUND", "occurredAt": days_ago(5) } }),
            )
            .await;
        }
        let complaints = ["NONE", "ONE", "TWO_OR_MORE"][contacts.min(2)];
        m.facts.push(("COMPLAINTS", complaints.to_owned()));
        // A redeemed offer before the lapse.
        let redeemed = rng.random_bool(if m.lapsed { 0.1 } else { 0.3 });
        if redeemed {
            use sea_orm::{ActiveModelTrait, Set};
            let email = app
                .sent_email(&format!("offer:{i}"), entity::EmailKind::WinBack, id, None)
                .await;
            entity::email::ActiveModel {
                id: Set(email.parse().unwrap()),
                offer_code: Set(Some(format!("BACK-{i:08}"))),
                converted_at: Set(Some(now - Duration::days(LAPSE_DAYS_AGO + 10))),
                ..Default::default()
            }
            .update(&app.db)
            .await
            .unwrap();
        }
        m.facts.push((
            "DISCOUNT_USE",
            if redeemed { "YES" } else { "NO" }.to_owned(),
        ));
    }
    app.run_job_ok("lifecycle").await;
    // Some lapsed customers came back since: a large order after their lapse makes them
    // ACTIVE again, yet they lapsed in the window, and their average order value is still
    // that of the orders before the lapse (counted, it would move them to the top band).
    let returns: Vec<Value> = created
        .iter()
        .zip(&made)
        .enumerate()
        .filter(|(i, (_, m))| m.lapsed && i % 7 == 0)
        .map(|(i, (id, _))| {
            json!({ "externalId": format!("back{i}"), "customerId": id, "amount": "4999.00",
                "currency": "USD", "orderedAt": days_ago(10) })
        })
        .collect();
    assert!(!returns.is_empty());
    app.record_orders(json!(returns)).await;
    app.run_job_ok("lifecycle").await;
    // An erased customer is in neither group.
    app.admin_ok(
        "mutation($id: ID!) { eraseCustomer(id: $id) { id } }",
        json!({ "id": created[599] }),
    )
    .await;
    made.pop();
    made
}

/// (factor, value) → (lapsed, retained) counted from what was generated.
fn expected_counts(made: &[Made]) -> BTreeMap<(String, String), (i64, i64)> {
    let mut counts: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
    for m in made {
        let values = m
            .facts
            .iter()
            .map(|(f, v)| ((*f).to_owned(), v.clone()))
            .chain(
                m.topics
                    .iter()
                    .map(|t| ("FEEDBACK_TOPIC".to_owned(), t.clone())),
            );
        for key in values {
            let entry = counts.entry(key).or_default();
            if m.lapsed {
                entry.0 += 1;
            } else {
                entry.1 += 1;
            }
        }
    }
    counts
}

fn close(a: &Value, b: f64) -> bool {
    a.as_f64().is_some_and(|a| (a - b).abs() < 1e-9)
}

#[tokio::test]
async fn churn_drivers_find_the_factor_that_sets_lapsed_customers_apart() {
    on_each_database(|app| async move {
        let made = generate(&app).await;
        let body = app.admin_ok(DRIVERS, json!({})).await["churnDrivers"].clone();
        let lapsed_total = made.iter().filter(|m| m.lapsed).count() as i64;
        let retained_total = made.len() as i64 - lapsed_total;
        assert_eq!(
            (body["lapsed"].as_i64(), body["retained"].as_i64()),
            (Some(lapsed_total), Some(retained_total)),
            "{body}"
        );

        let expected = expected_counts(&made);
        let rows = body["factors"].as_array().unwrap();
        let tagged: HashMap<(String, String), &Value> = rows
            .iter()
            .filter(|r| r["source"].is_null() || r["source"] == "TAG")
            .map(|r| {
                (
                    (
                        r["factor"].as_str().unwrap().to_owned(),
                        r["value"].as_str().unwrap().to_owned(),
                    ),
                    r,
                )
            })
            .collect();
        assert_eq!(
            tagged
                .keys()
                .cloned()
                .collect::<std::collections::BTreeSet<_>>(),
            expected.keys().cloned().collect(),
            "every value of every factor, and only those (no topic from after the lapse)"
        );
        for ((factor, value), (lapsed, retained)) in &expected {
            let row = tagged[&(factor.clone(), value.clone())];
            let what = format!("{factor} {value}: {row}");
            assert_eq!(
                (row["lapsed"].as_i64(), row["retained"].as_i64()),
                (Some(*lapsed), Some(*retained)),
                "{what}"
            );
            assert_eq!(row["count"].as_i64(), Some(lapsed + retained), "{what}");
            let (lapsed_share, retained_share) = (
                *lapsed as f64 / lapsed_total as f64,
                *retained as f64 / retained_total as f64,
            );
            assert!(close(&row["lapsedShare"], lapsed_share), "{what}");
            assert!(close(&row["retainedShare"], retained_share), "{what}");
            if *retained == 0 {
                assert!(row["lift"].is_null(), "{what}");
            } else {
                assert!(close(&row["lift"], lapsed_share / retained_share), "{what}");
            }
            assert_eq!(
                row["lowCount"],
                json!(*lapsed < 30 || *retained < 30),
                "{what}"
            );
        }

        // The factor built to matter: detractors are about four times as common among the
        // lapsed (0.4 × 0.8 against 0.1 × 0.8 of each group), with enough of them to count.
        let detractors = tagged[&("NPS_CATEGORY".to_owned(), "DETRACTOR".to_owned())];
        let lift = detractors["lift"].as_f64().unwrap();
        assert!((2.5..6.5).contains(&lift), "{detractors}");
        assert_eq!(detractors["lowCount"], false, "{detractors}");
        let germans = tagged[&("COUNTRY".to_owned(), "DE".to_owned())];
        assert_eq!(germans["lowCount"], true, "{germans}");
        let promoters = tagged[&("NPS_CATEGORY".to_owned(), "PROMOTER".to_owned())];
        assert!(promoters["lift"].as_f64().unwrap() < 1.0, "{promoters}");
        // Banded factors come in band order.
        let nps_order: Vec<&str> = rows
            .iter()
            .filter(|r| r["factor"] == "NPS_CATEGORY")
            .map(|r| r["value"].as_str().unwrap())
            .collect();
        assert_eq!(nps_order, ["PROMOTER", "PASSIVE", "DETRACTOR", "NO_ANSWER"]);

        // Extracted terms come out of comments: only for keys with pii:read.
        assert!(rows.iter().any(|r| r["source"] == "EXTRACTED"), "{body}");
        let reader = app.key_with(&["customers:read"]).await;
        let read = app.graphql(&reader, DRIVERS, json!({})).await;
        assert!(read["errors"].is_null(), "{read}");
        let rows = read["data"]["churnDrivers"]["factors"].as_array().unwrap();
        assert!(rows.iter().all(|r| r["source"] != "EXTRACTED"), "{read}");
        assert!(rows.iter().any(|r| r["source"] == "TAG"), "{read}");

        // Only CHURNED counts as a lapse: nobody churned, and the lapsed who came back
        // are ACTIVE, so retained.
        let churned = app
            .admin_ok(DRIVERS, json!({ "stages": ["CHURNED"] }))
            .await["churnDrivers"]
            .clone();
        assert_eq!(churned["lapsed"], 0);
        let came_back = made
            .iter()
            .enumerate()
            .filter(|(i, m)| m.lapsed && i % 7 == 0)
            .count() as i64;
        assert_eq!(
            churned["retained"].as_i64(),
            Some(retained_total + came_back)
        );
        let bad = app
            .admin(DRIVERS, json!({ "stages": ["SILENT", "ACTIVE"] }))
            .await;
        assert_eq!(error_code(&bad), "BAD_USER_INPUT");
        assert_eq!(bad["errors"][0]["extensions"]["field"], "stages[1]");
        let bad = app
            .admin(
                "{ churnDrivers(orderValueBands: [\"100\", \"50\"]) { lapsed } }",
                json!({}),
            )
            .await;
        assert_eq!(
            bad["errors"][0]["extensions"]["field"],
            "orderValueBands[1]"
        );
        let none = app
            .graphql(&app.key_with(&["segments:read"]).await, DRIVERS, json!({}))
            .await;
        assert_eq!(error_code(&none), "FORBIDDEN");
    })
    .await;
}
