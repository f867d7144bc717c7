//! Every money figure the API shows, against the same figure computed here from the
//! orders the test sent and the scores the job stored. (A test that only checked that
//! an average was a string let a CLV average 10,000 times too large through.)
//!
//! The rule checked everywhere: recorded amounts in their currency's minor units,
//! every derived figure with exactly two places, rounded half away from zero.

use std::collections::HashMap;

use chrono::{Duration, NaiveDate};
use rust_decimal::{Decimal, RoundingStrategy};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::helpers::{TestApp, on_each_database};
use crate::value_scores::import_cdnow;

const AS_OF: &str = "1997-09-30";

/// A derived figure as the API must show it: two places, half away from zero.
fn figure(value: Decimal) -> String {
    let mut rounded = value.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    rounded.rescale(2);
    rounded.to_string()
}

fn units(units: i64) -> Decimal {
    Decimal::new(units, 4)
}

fn mean(values: &[Decimal]) -> Option<String> {
    (!values.is_empty())
        .then(|| figure(values.iter().sum::<Decimal>() / Decimal::from(values.len())))
}

fn median(values: &[Decimal]) -> Option<String> {
    let mut sorted = values.to_vec();
    sorted.sort();
    let n = sorted.len();
    match n {
        0 => None,
        n if n % 2 == 1 => Some(figure(sorted[n / 2])),
        n => Some(figure(
            (sorted[n / 2 - 1] + sorted[n / 2]) / Decimal::from(2),
        )),
    }
}

/// The CDNOW sample as the test sent it: (customer external id, day, amount).
fn cdnow_orders() -> Vec<(String, NaiveDate, Decimal)> {
    include_str!("../fixtures/cdnow_sample.txt")
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .filter(|fields| fields.len() == 5)
        .map(|f| {
            (
                format!("cdnow-{}", f[1]),
                NaiveDate::parse_from_str(f[2], "%Y%m%d").unwrap(),
                f[4].parse().unwrap(),
            )
        })
        .collect()
}

/// What the latest value-scores run stored for one customer.
#[derive(Debug)]
struct Scores {
    external_id: String,
    r: Option<i64>,
    f: Option<i64>,
    tier: Option<String>,
    clv: Option<Decimal>,
    expected_order_value: Option<Decimal>,
    stage: Option<String>,
}

async fn stored_scores(app: &TestApp) -> HashMap<i64, Scores> {
    let sql = "SELECT c.id, c.external_id, v.r_score, v.f_score, v.value_tier, v.predicted_clv, \
                      v.expected_order_value, l.stage \
               FROM customers c \
               JOIN customer_values v ON v.customer_id = c.id \
                    AND v.job_run_id = (SELECT MAX(job_run_id) FROM value_models) \
               LEFT JOIN customer_lifecycle l ON l.customer_id = c.id";
    let rows = app
        .db
        .query_all_raw(Statement::from_string(app.db.get_database_backend(), sql))
        .await
        .unwrap();
    rows.iter()
        .map(|row| {
            let get_units =
                |column: &str| row.try_get::<Option<i64>>("", column).unwrap().map(units);
            let small = |column: &str| {
                row.try_get::<Option<i16>>("", column)
                    .map(|v| v.map(i64::from))
                    .or_else(|_| row.try_get::<Option<i64>>("", column))
                    .unwrap()
            };
            (
                row.try_get::<i64>("", "id").unwrap(),
                Scores {
                    external_id: row.try_get("", "external_id").unwrap(),
                    r: small("r_score"),
                    f: small("f_score"),
                    tier: row.try_get("", "value_tier").unwrap(),
                    clv: get_units("predicted_clv"),
                    expected_order_value: get_units("expected_order_value"),
                    stage: row.try_get("", "stage").unwrap(),
                },
            )
        })
        .collect()
}

async fn run(app: &TestApp, job: &str) {
    let run = app
        .admin_ok(
            "mutation($n: String!, $asOf: Date) { runJob(name: $n, asOf: $asOf) { status error } }",
            json!({ "n": job, "asOf": AS_OF }),
        )
        .await;
    assert_eq!(run["runJob"]["status"], "SUCCEEDED", "{run}");
}

/// Every customer page by page: external id → the node.
async fn all_customers(app: &TestApp) -> HashMap<String, Value> {
    let query = "query($after: String) { customers(first: 100, after: $after) { pageInfo { hasNextPage endCursor } nodes { externalId orderCount totalSpent value { monetary totalSpent expectedOrderValue predictedClv } orders(first: 100) { nodes { amount currency } } } } }";
    let mut customers = HashMap::new();
    let mut after = Value::Null;
    loop {
        let page = app.admin_ok(query, json!({ "after": after })).await["customers"].clone();
        for node in page["nodes"].as_array().unwrap() {
            customers.insert(
                node["externalId"].as_str().unwrap().to_owned(),
                node.clone(),
            );
        }
        if page["pageInfo"]["hasNextPage"] != true {
            return customers;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
}

#[tokio::test]
async fn every_money_figure_equals_an_independent_computation() {
    on_each_database(|app| async move {
        import_cdnow(&app).await;
        run(&app, "value-scores").await;
        run(&app, "lifecycle").await;
        let orders = cdnow_orders();
        let scores = stored_scores(&app).await;
        let by_external: HashMap<&str, &Scores> =
            scores.values().map(|s| (s.external_id.as_str(), s)).collect();
        // All orders (the customer's kept totals) and those up to asOf (what the scores
        // of that day saw).
        let as_of = NaiveDate::parse_from_str(AS_OF, "%Y-%m-%d").unwrap();
        let mut spent: HashMap<&str, Decimal> = HashMap::new();
        let mut spent_as_of: HashMap<&str, Decimal> = HashMap::new();
        for (customer, day, amount) in &orders {
            *spent.entry(customer.as_str()).or_default() += amount;
            if *day <= as_of {
                *spent_as_of.entry(customer.as_str()).or_default() += amount;
            }
        }
        let total_revenue: Decimal = spent.values().sum();
        assert!(scores.values().filter(|s| s.clv.is_some()).count() > 2000, "a fitted model scored the base");

        // Per customer: totals, orders as recorded, and the stored scores.
        let customers = all_customers(&app).await;
        assert_eq!(customers.len(), spent.len());
        for (external_id, node) in &customers {
            assert_eq!(node["totalSpent"], json!(figure(spent[external_id.as_str()])), "{external_id}");
            let at_as_of = spent_as_of.get(external_id.as_str()).copied().unwrap_or_default();
            assert_eq!(node["value"]["totalSpent"], json!(figure(at_as_of)), "{external_id}");
            let stored = by_external[external_id.as_str()];
            assert_eq!(node["value"]["predictedClv"], json!(stored.clv.map(figure)), "{external_id}");
            assert_eq!(
                node["value"]["expectedOrderValue"],
                json!(stored.expected_order_value.map(figure)),
                "{external_id}"
            );
            let count = node["orderCount"].as_u64().unwrap();
            if count <= 100 {
                let mut shown: Vec<&str> = node["orders"]["nodes"].as_array().unwrap().iter()
                    .map(|o| { assert_eq!(o["currency"], "USD"); o["amount"].as_str().unwrap() }).collect();
                let mut sent: Vec<String> = orders.iter().filter(|o| &o.0 == external_id)
                    .map(|o| { let mut a = o.2; a.rescale(2); a.to_string() }).collect();
                shown.sort_unstable();
                sent.sort_unstable();
                assert_eq!(shown, sent, "{external_id}: amounts in USD's two places, as sent");
            }
        }

        // Per value tier.
        let tiers = app.admin_ok("{ valueTiers { tier customers revenue revenueShare averagePredictedClv } }", json!({})).await;
        let scored_revenue: Decimal = scores.values().filter(|s| s.tier.is_some())
            .map(|s| spent_as_of.get(s.external_id.as_str()).copied().unwrap_or_default()).sum();
        for row in tiers["valueTiers"].as_array().unwrap() {
            let tier = row["tier"].as_str().unwrap();
            let members: Vec<&Scores> = scores.values().filter(|s| s.tier.as_deref() == Some(tier)).collect();
            let revenue: Decimal = members.iter().map(|s| spent_as_of.get(s.external_id.as_str()).copied().unwrap_or_default()).sum();
            let clvs: Vec<Decimal> = members.iter().filter_map(|s| s.clv).collect();
            assert_eq!(row["customers"], json!(members.len()), "{tier}");
            assert_eq!(row["revenue"], json!(figure(revenue)), "{tier}");
            assert_eq!(row["averagePredictedClv"], json!(mean(&clvs)), "{tier}");
            let share = (revenue / scored_revenue).to_string().parse::<f64>().unwrap();
            assert!((row["revenueShare"].as_f64().unwrap() - share).abs() < 1e-9, "{tier}");
        }

        // Per RFM cell.
        let cells = app.admin_ok("{ rfmMatrix { r f customers revenue } }", json!({})).await;
        for cell in cells["rfmMatrix"].as_array().unwrap() {
            let (r, f) = (cell["r"].as_i64(), cell["f"].as_i64());
            let members: Vec<&Scores> = scores.values().filter(|s| s.r == r && s.f == f).collect();
            let revenue: Decimal = members.iter().map(|s| spent_as_of.get(s.external_id.as_str()).copied().unwrap_or_default()).sum();
            assert_eq!(cell["customers"], json!(members.len()), "{cell}");
            assert_eq!(cell["revenue"], json!(figure(revenue)), "{cell}");
        }

        // Per lifecycle stage, with the 90 days before the end of asOf.
        let end = as_of + Duration::days(1);
        let start = end - Duration::days(90);
        let summary = app.admin_ok(
            "query($d: Date) { lifecycleSummary(asOf: $d) { stage customers revenueLast90Days averagePredictedClv } }",
            json!({ "d": AS_OF }),
        ).await;
        for row in summary["lifecycleSummary"].as_array().unwrap() {
            let stage = row["stage"].as_str().unwrap();
            let members: Vec<&Scores> = scores.values().filter(|s| s.stage.as_deref() == Some(stage)).collect();
            let recent: Decimal = orders.iter()
                .filter(|(customer, day, _)| *day >= start && *day < end
                    && by_external[customer.as_str()].stage.as_deref() == Some(stage))
                .map(|o| o.2).sum();
            let clvs: Vec<Decimal> = members.iter().filter_map(|s| s.clv).collect();
            assert_eq!(row["customers"], json!(members.len()), "{stage}");
            assert_eq!(row["revenueLast90Days"], json!(figure(recent)), "{stage}");
            assert_eq!(row["averagePredictedClv"], json!(mean(&clvs)), "{stage}");
        }

        // Per segment: a dynamic segment of the customers who spent 100 or more.
        let segment = app.admin_ok(
            "mutation($input: CreateSegmentInput!) { createSegment(input: $input) { id size profile { revenueShare averagePredictedClv medianPredictedClv } } }",
            json!({ "input": { "name": "spent 100+", "rule": { "condition": { "field": "TOTAL_SPENT", "op": "GTE", "value": "100" } } } }),
        ).await["createSegment"].clone();
        let members: Vec<&Scores> = scores.values()
            .filter(|s| spent.get(s.external_id.as_str()).is_some_and(|t| *t >= Decimal::from(100)))
            .collect();
        assert_eq!(segment["size"], json!(members.len()));
        let clvs: Vec<Decimal> = members.iter().filter_map(|s| s.clv).collect();
        let profile = &segment["profile"];
        assert_eq!(profile["averagePredictedClv"], json!(mean(&clvs)));
        assert_eq!(profile["medianPredictedClv"], json!(median(&clvs)));
        let member_revenue: Decimal = members.iter().map(|s| spent[s.external_id.as_str()]).sum();
        let share = (member_revenue / total_revenue).to_string().parse::<f64>().unwrap();
        assert!((profile["revenueShare"].as_f64().unwrap() - share).abs() < 1e-9);

        // Silent customers: the value at risk is the stored CLV.
        let silent = app.admin_ok(
            "{ silentCustomers(first: 100) { nodes { customer { externalId } predictedClv } } }",
            json!({}),
        ).await;
        let silent = silent["silentCustomers"]["nodes"].as_array().unwrap();
        assert!(!silent.is_empty(), "CDNOW at 1997-09-30 has silent customers");
        for node in silent {
            let external_id = node["customer"]["externalId"].as_str().unwrap();
            assert_eq!(node["predictedClv"], json!(by_external[external_id].clv.map(figure)), "{external_id}");
        }

        // The marketer digest: the week's revenue (none in 1997's data after asOf: 0.00)
        // and the average CLV of the scored base, grouped for people.
        app.admin_ok("mutation { updateDigestRecipients(addresses: [\"m@shop.example\"]) }", json!({})).await;
        let run = app.admin_ok(
            "mutation { runJob(name: \"marketer-digest\", at: \"2026-11-30T08:00:00Z\") { status error } }",
            json!({}),
        ).await;
        assert_eq!(run["runJob"]["status"], "SUCCEEDED", "{run}");
        let payload = app
            .db
            .query_one_raw(Statement::from_string(
                app.db.get_database_backend(),
                "SELECT payload FROM emails WHERE kind = 'DIGEST'",
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get::<String>("", "payload")
            .unwrap();
        let digest: Value = serde_json::from_str(&payload).unwrap();
        let all_clvs: Vec<Decimal> = scores.values().filter_map(|s| s.clv).collect();
        let grouped = |text: String| {
            let (whole, cents) = text.split_once('.').unwrap();
            let digits: Vec<char> = whole.chars().collect();
            let mut out = String::new();
            for (i, d) in digits.iter().enumerate() {
                if i > 0 && (digits.len() - i).is_multiple_of(3) {
                    out.push(',');
                }
                out.push(*d);
            }
            format!("{out}.{cents}")
        };
        assert_eq!(digest["summary"]["average_clv"], json!(grouped(mean(&all_clvs).unwrap())), "{digest}");
        assert_eq!(digest["summary"]["revenue"], json!("0.00"), "{digest}");
        // Its stage funnel is lifecycleSummary's count per stage (one domain function).
        let summary = app.admin_ok("{ lifecycleSummary { stage customers } }", json!({})).await;
        let stages: Vec<Value> = summary["lifecycleSummary"].as_array().unwrap().iter()
            .map(|s| json!([s["stage"], s["customers"]]))
            .collect();
        assert_eq!(digest["stages"], json!(stages), "{digest}");
        // Its heat map is rfmMatrix's counts.
        let cells = app.admin_ok("{ rfmMatrix { r f customers } }", json!({})).await;
        for cell in cells["rfmMatrix"].as_array().unwrap() {
            let (r, f) = (cell["r"].as_u64().unwrap() as usize, cell["f"].as_u64().unwrap() as usize);
            assert_eq!(digest["rfm"][r - 1][f - 1], cell["customers"], "{cell}");
        }

        // Its value at risk: HIGH-tier customers who went silent in the week, most
        // valuable first, taken from the stage history and the stored scores. The week
        // is the one ending after the latest such lapse, so the list is not empty.
        let lapses = app
            .db
            .query_all_raw(Statement::from_string(
                app.db.get_database_backend(),
                "SELECT customer_id, at FROM lifecycle_events WHERE to_stage = 'SILENT'",
            ))
            .await
            .unwrap();
        let high_lapses: Vec<(i64, chrono::DateTime<chrono::Utc>)> = lapses
            .iter()
            .map(|row| (row.try_get("", "customer_id").unwrap(), row.try_get("", "at").unwrap()))
            .filter(|(id, _)| scores.get(id).is_some_and(|s| s.tier.as_deref() == Some("HIGH")))
            .collect();
        let last_lapse = high_lapses.iter().map(|(_, at)| *at).max().expect("CDNOW has HIGH customers gone silent");
        let week_end = last_lapse + Duration::days(1);
        let week_start = week_end - Duration::days(7);
        let mut at_risk: Vec<(Decimal, i64)> = high_lapses
            .iter()
            .filter(|(_, at)| *at >= week_start && *at < week_end)
            .map(|(id, _)| (scores[id].clv.unwrap(), *id))
            .collect();
        at_risk.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let digest = jobs::campaigns::digest::measure(&app.db, week_end.date_naive()).await.unwrap();
        let shown: Vec<(String, i64)> = digest.at_risk.iter().map(|r| (r.clv.clone(), r.customer_id)).collect();
        let expected: Vec<(String, i64)> = at_risk.iter().take(10).map(|(clv, id)| (grouped(figure(*clv)), *id)).collect();
        assert_eq!(shown, expected);
        let total: Decimal = at_risk.iter().map(|(clv, _)| *clv).sum();
        assert_eq!(digest.value_at_risk, grouped(figure(total)));

        // Its segments: this week, every member of the segment made above entered it.
        let digest = jobs::campaigns::digest::measure(&app.db, chrono::Utc::now().date_naive() + Duration::days(1))
            .await
            .unwrap();
        let spent_100 = digest.segments.iter().find(|s| s.name == "spent 100+").unwrap();
        assert_eq!((spent_100.size, spent_100.entered, spent_100.exited), (members.len() as i64, members.len() as i64, 0));
    })
    .await;
}
