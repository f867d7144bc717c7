//! The `value-scores` job through the public interface: import orders, run the job,
//! read the scores and the fitted models.

use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code, on_each_database};

const RUN: &str = "mutation($asOf: Date) { runJob(name: \"value-scores\", asOf: $asOf) { id name status asOf stats error startedAt finishedAt } }";
const MODEL: &str = "{ valueModel { asOf customersUsed repeatCustomers timeUnit converged note bgnbd { r alpha a b logLikelihood iterations gradientNorm } gammaGamma { p q gamma logLikelihood iterations gradientNorm } } }";

/// Imports the CDNOW sample (2,357 customers, 6,919 purchases) through the API.
pub async fn import_cdnow(app: &TestApp) {
    let text = include_str!("../fixtures/cdnow_sample.txt");
    let rows: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .filter(|f: &Vec<&str>| f.len() == 5)
        .collect();
    let mut customers: Vec<&str> = rows.iter().map(|f| f[1]).collect();
    customers.sort_unstable();
    customers.dedup();
    for chunk in customers.chunks(1000) {
        let input: Vec<Value> = chunk
            .iter()
            .map(|id| json!({ "externalId": format!("cdnow-{id}") }))
            .collect();
        app.admin_ok("mutation($input: [UpsertCustomerInput!]!) { upsertCustomers(input: $input) { created } }", json!({ "input": input }))
            .await;
    }
    let orders: Vec<Value> = rows
        .iter()
        .enumerate()
        .map(|(n, f)| {
            let date = f[2];
            json!({
                "externalId": format!("cdnow-order-{n}"),
                "customerExternalId": format!("cdnow-{}", f[1]),
                "amount": f[4],
                "currency": "USD",
                "orderedAt": format!("{}-{}-{}T12:00:00Z", &date[0..4], &date[4..6], &date[6..8]),
                "itemCount": f[3].parse::<i32>().unwrap().max(1),
            })
        })
        .collect();
    for chunk in orders.chunks(1000) {
        app.record_orders(json!(chunk)).await;
    }
}

fn assert_close(actual: &Value, expected: f64, what: &str) {
    let actual = actual
        .as_f64()
        .unwrap_or_else(|| panic!("{what} is not a number: {actual}"));
    let error = (actual - expected).abs() / expected.abs();
    assert!(
        error <= 0.005,
        "{what}: {actual} is not within 0.5 % of {expected}"
    );
}

#[tokio::test]
async fn the_cdnow_calibration_reproduces_the_published_parameters() {
    on_each_database(|app| async move {
        import_cdnow(&app).await;
        let run = app.admin_ok(RUN, json!({ "asOf": "1997-09-30" })).await["runJob"].clone();
        assert_eq!(run["status"], "SUCCEEDED", "{run}");
        assert_eq!(run["asOf"], "1997-09-30");
        assert!(run["stats"]["bgnbdIterations"].as_u64().unwrap() > 0);
        assert!(run["stats"]["bgnbdGradientNorm"].as_f64().unwrap() < 1e-3);

        let model = app.admin_ok(MODEL, json!({})).await["valueModel"].clone();
        assert_eq!(model["timeUnit"], "WEEKS");
        assert_eq!(model["customersUsed"], 2357);
        assert_eq!(model["repeatCustomers"], 946);
        assert_eq!(model["converged"], true, "{model}");
        let bgnbd = &model["bgnbd"];
        assert_close(&bgnbd["r"], 0.243, "r");
        assert_close(&bgnbd["alpha"], 4.414, "alpha");
        assert_close(&bgnbd["a"], 0.793, "a");
        assert_close(&bgnbd["b"], 2.426, "b");
        assert_close(&bgnbd["logLikelihood"], -9582.4, "BG/NBD log-likelihood");
        let gg = &model["gammaGamma"];
        assert_close(&gg["p"], 6.25, "p");
        assert_close(&gg["q"], 3.74, "q");
        assert_close(&gg["gamma"], 15.44, "gamma");

        // Every customer got scores that make sense.
        let page = app
            .admin_ok(
                "{ customers(first: 100, orderBy: { field: TOTAL_SPENT, direction: DESC }) { nodes { externalId value { recencyDays frequency monetary totalSpent r f m rfmCode rfmGroup pAlive week: expectedPurchases(days: 7) year: expectedPurchases(days: 365) expectedOrderValue predictedClv valueTier churnRisk composite { economic loyalty advocacy satisfaction total } asOf } } } }",
                json!({}),
            )
            .await;
        for node in page["customers"]["nodes"].as_array().unwrap() {
            let value = &node["value"];
            let p_alive = value["pAlive"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&p_alive), "{value}");
            assert!((value["churnRisk"].as_f64().unwrap() - (1.0 - p_alive)).abs() < 1e-9);
            assert!(value["year"].as_f64().unwrap() >= value["week"].as_f64().unwrap());
            assert!(value["predictedClv"].as_str().unwrap().parse::<f64>().unwrap() >= 0.0);
            assert_eq!(value["rfmCode"].as_str().unwrap().len(), 3);
            assert!(value["rfmGroup"].is_string());
            assert_eq!(value["asOf"], "1997-09-30");
            assert!(value["composite"]["total"].as_f64().unwrap() <= 100.0);
        }

        let matrix = app.admin_ok("{ rfmMatrix { r f customers revenue } }", json!({})).await;
        let cells = matrix["rfmMatrix"].as_array().unwrap();
        assert_eq!(cells.len(), 25);
        assert_eq!(cells.iter().map(|c| c["customers"].as_i64().unwrap()).sum::<i64>(), 2357);
        let tiers = app.admin_ok("{ valueTiers { tier customers revenueShare averagePredictedClv } }", json!({})).await;
        let tiers = tiers["valueTiers"].as_array().unwrap();
        assert_eq!(tiers.iter().map(|t| t["customers"].as_i64().unwrap()).sum::<i64>(), 2357);
        let high = tiers.iter().find(|t| t["tier"] == "HIGH").unwrap();
        let high_share = high["customers"].as_f64().unwrap() / 2357.0;
        assert!((0.15..=0.25).contains(&high_share), "HIGH holds {high_share} of customers");
        assert!(high["revenueShare"].as_f64().unwrap() > 0.4, "the top fifth carries most revenue: {high}");

        // Backtest: calibrate to 1997-09-30, forecast the 39-week holdout. On this sample
        // the published BG/NBD forecast of total repeat purchases is close to the actual.
        let backtest = app
            .admin_ok("{ valueBacktest(calibrationEnd: \"1997-09-30\", holdoutEnd: \"1998-06-30\") { customers predictedTotal actualTotal meanAbsoluteError bgnbd { r } } }", json!({}))
            .await["valueBacktest"]
            .clone();
        assert_eq!(backtest["customers"], 2357);
        assert_close(&backtest["bgnbd"]["r"], 0.243, "backtest r");
        let predicted = backtest["predictedTotal"].as_f64().unwrap();
        let actual = backtest["actualTotal"].as_f64().unwrap();
        assert!(actual > 1000.0, "{backtest}");
        assert!((predicted - actual).abs() / actual < 0.15, "forecast {predicted} vs actual {actual}");
        assert!(backtest["meanAbsoluteError"].as_f64().unwrap() > 0.0);
        let body = app.admin("{ valueBacktest(calibrationEnd: \"1998-01-01\", holdoutEnd: \"1997-01-01\") { customers } }", json!({})).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT");

        // The scores filter and sort customer lists.
        let count = |filter: Value| {
            let app = &app;
            async move {
                app.admin_ok("query($f: CustomerFilter) { customers(filter: $f) { totalCount } }", json!({ "f": filter }))
                    .await["customers"]["totalCount"]
                    .as_i64()
                    .unwrap()
            }
        };
        assert_eq!(count(json!({ "valueTier": ["HIGH"] })).await, high["customers"].as_i64().unwrap());
        let champions = cells.iter().filter(|c| c["r"] == 5 && c["f"].as_i64().unwrap() >= 4).count();
        assert!(champions > 0);
        let some_champions = count(json!({ "rfmGroup": ["CHAMPIONS"] })).await;
        let not_lost = count(json!({ "rfmGroup": ["CHAMPIONS", "LOYAL", "POTENTIAL_LOYALIST"] })).await;
        assert!(some_champions > 0 && not_lost > some_champions);

        let by_clv = "query($after: String, $first: Int, $f: CustomerFilter) { customers(first: $first, after: $after, filter: $f, orderBy: { field: PREDICTED_CLV, direction: DESC }) { pageInfo { endCursor } nodes { id value { predictedClv churnRisk } } } }";
        let big = app.admin_ok(by_clv, json!({ "first": 90 })).await;
        let big: Vec<Value> = big["customers"]["nodes"].as_array().unwrap().clone();
        let clvs: Vec<f64> = big.iter().map(|n| n["value"]["predictedClv"].as_str().unwrap().parse().unwrap()).collect();
        assert!(clvs.windows(2).all(|w| w[0] >= w[1]), "sorted by predicted CLV, biggest first");
        let mut paged = Vec::new();
        let mut after = Value::Null;
        for _ in 0..3 {
            let page = app.admin_ok(by_clv, json!({ "first": 30, "after": after })).await;
            paged.extend(page["customers"]["nodes"].as_array().unwrap().iter().map(|n| n["id"].clone()));
            after = page["customers"]["pageInfo"]["endCursor"].clone();
        }
        assert_eq!(paged, big.iter().map(|n| n["id"].clone()).collect::<Vec<_>>(), "pages follow the same order");

        let threshold = clvs[40];
        let rich = app.admin_ok(by_clv, json!({ "first": 100, "f": { "minPredictedClv": format!("{threshold:.4}") } })).await;
        let rich = rich["customers"]["nodes"].as_array().unwrap();
        assert!(rich.len() >= 40 && rich.len() < 60, "{} customers at or above the 41st CLV", rich.len());
        let loyal = app.admin_ok(by_clv, json!({ "first": 100, "f": { "maxChurnRisk": 0.2 } })).await;
        for node in loyal["customers"]["nodes"].as_array().unwrap() {
            assert!(node["value"]["churnRisk"].as_f64().unwrap() <= 0.2);
        }
        let by_risk = app
            .admin_ok("{ customers(first: 20, orderBy: { field: CHURN_RISK }) { nodes { value { churnRisk } } } }", json!({}))
            .await;
        let risks: Vec<f64> = by_risk["customers"]["nodes"].as_array().unwrap().iter().map(|n| n["value"]["churnRisk"].as_f64().unwrap()).collect();
        assert!(risks.windows(2).all(|w| w[0] <= w[1]));
    })
    .await;
}

#[tokio::test]
async fn too_little_data_still_scores_rfm_and_tiers_and_says_why_the_model_is_missing() {
    on_each_database(|app| async move {
        let scores = "query($id: ID!) { customer(id: $id) { value { recencyDays frequency monetary totalSpent rfmCode valueTier pAlive predictedClv churnRisk } } }";
        let run = app.admin_ok(RUN, json!({ "asOf": "2025-06-30" })).await["runJob"].clone();
        assert_eq!(run["status"], "SUCCEEDED", "zero customers is a defined result: {run}");

        let id = app.create_customer(json!({ "externalId": "solo" })).await;
        let prospect = app.create_customer(json!({ "externalId": "prospect" })).await;
        app.record_orders(json!([
            { "externalId": "s1", "customerId": id, "amount": "10.00", "currency": "USD", "orderedAt": "2025-06-01T09:00:00Z" },
            { "externalId": "s2", "customerId": id, "amount": "20.00", "currency": "USD", "orderedAt": "2025-06-01T18:00:00Z" },
            { "externalId": "s3", "customerId": id, "amount": "30.00", "currency": "USD", "orderedAt": "2025-06-20T09:00:00Z" },
            { "externalId": "late", "customerId": id, "amount": "500.00", "currency": "USD", "orderedAt": "2025-07-15T09:00:00Z" },
        ]))
        .await;
        let run = app.admin_ok(RUN, json!({ "asOf": "2025-06-30" })).await["runJob"].clone();
        assert_eq!(run["status"], "SUCCEEDED", "{run}");
        assert!(run["stats"]["note"].as_str().unwrap().contains("repeat customers"), "{run}");

        let model = app.admin_ok(MODEL, json!({})).await["valueModel"].clone();
        assert!(model["bgnbd"].is_null() && model["gammaGamma"].is_null());
        assert!(model["note"].as_str().unwrap().contains("repeat customers"));

        let value = app.admin_ok(scores, json!({ "id": id })).await["customer"]["value"].clone();
        // The order after asOf is ignored; two orders on 1 June are one purchase day.
        assert_eq!(value["recencyDays"], 10);
        assert_eq!(value["frequency"], 2);
        assert_eq!(value["totalSpent"], "60.00");
        assert_eq!(value["monetary"], "20.00");
        assert_eq!(value["rfmCode"].as_str().unwrap().len(), 3);
        assert!(value["valueTier"].is_string());
        assert!(value["pAlive"].is_null() && value["predictedClv"].is_null() && value["churnRisk"].is_null());
        let value = app.admin_ok(scores, json!({ "id": prospect })).await["customer"]["value"].clone();
        assert!(value.is_null(), "a customer created after asOf is not scored at asOf: {value}");
        let run = app.admin_ok(RUN, json!({})).await["runJob"].clone();
        assert_eq!(run["asOf"].as_str().unwrap(), chrono::Utc::now().date_naive().to_string(), "asOf defaults to today");
        let value = app.admin_ok(scores, json!({ "id": prospect })).await["customer"]["value"].clone();
        assert_eq!(value["frequency"], 0);
        assert!(value["rfmCode"].is_null() && value["valueTier"].is_null() && value["recencyDays"].is_null());
    })
    .await;
}

#[tokio::test]
async fn a_failed_run_records_why_and_keeps_the_previous_scores() {
    on_each_database(|app| async move {
        let id = app.create_customer(json!({})).await;
        app.record_orders(json!([{ "externalId": "f1", "customerId": id, "amount": "15.00", "currency": "USD", "orderedAt": "2025-01-10T09:00:00Z" }])).await;
        let first = app.admin_ok(RUN, json!({ "asOf": "2025-02-01" })).await["runJob"].clone();
        assert_eq!(first["status"], "SUCCEEDED");

        // A row in the way of the next run's scores: the write fails half-way (after
        // the model row), and the transaction must take everything back.
        use sea_orm::ConnectionTrait;
        let next_run: i64 = first["id"].as_str().unwrap().parse::<i64>().unwrap() + 1;
        app.db
            .execute_unprepared(&format!(
                "INSERT INTO customer_values SELECT customer_id, {next_run}, as_of, recency_days, frequency, monetary, total_spent, \
                 r_score, f_score, m_score, rfm_code, rfm_group, repeat_purchases, t_x_weeks, t_weeks, p_alive, expected_order_value, \
                 predicted_clv, value_tier, churn_risk, economic_score, loyalty_score, advocacy_score, satisfaction_score, \
                 composite_score, computed_at FROM customer_values"
            ))
            .await
            .unwrap();
        let failed = app.admin_ok(RUN, json!({ "asOf": "2025-03-01" })).await["runJob"].clone();
        assert_eq!(failed["id"], next_run.to_string());
        assert_eq!(failed["status"], "FAILED");
        assert!(failed["error"].as_str().unwrap().contains("failed to store customer scores"), "{failed}");
        assert!(failed["finishedAt"].is_string());

        let value = app
            .admin_ok("query($id: ID!) { customer(id: $id) { value { asOf } } }", json!({ "id": id }))
            .await;
        assert_eq!(value["customer"]["value"]["asOf"], "2025-02-01", "the previous scores stay");
        let runs = app.admin_ok("{ jobRuns(name: \"value-scores\") { totalCount nodes { id status error } } }", json!({})).await;
        assert_eq!(runs["jobRuns"]["totalCount"], 2);
        assert_eq!(runs["jobRuns"]["nodes"][0]["status"], "FAILED", "newest first");
        let misspelt = app.admin_ok("{ jobRuns(name: \"value_scores\") { totalCount nodes { id } } }", json!({})).await;
        assert_eq!(misspelt["jobRuns"], json!({ "totalCount": 0, "nodes": [] }), "a name no job has has no runs");
    })
    .await;
}

#[tokio::test]
async fn run_job_checks_its_name_scope_and_can_return_before_the_end() {
    on_each_database(|app| async move {
        let body = app
            .admin("mutation { runJob(name: \"nope\") { id } }", json!({}))
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT");
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("value-scores")
        );

        let reader = app.key_with(&["customers:read"]).await;
        let body = app
            .graphql(
                &reader,
                "mutation { runJob(name: \"value-scores\") { id } }",
                json!({}),
            )
            .await;
        assert_eq!(error_code(&body), "FORBIDDEN");

        let runner = app.key_with(&["jobs:run"]).await;
        let body = app
            .graphql(
                &runner,
                "mutation { runJob(name: \"value-scores\", wait: false) { id status } }",
                json!({}),
            )
            .await;
        assert_eq!(body["data"]["runJob"]["status"], "RUNNING", "{body}");
        let id = body["data"]["runJob"]["id"].as_str().unwrap().to_owned();
        let mut status = String::new();
        for _ in 0..100 {
            let runs = app
                .graphql(
                    &runner,
                    "{ jobRuns(first: 5) { nodes { id status } } }",
                    json!({}),
                )
                .await;
            let run = runs["data"]["jobRuns"]["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["id"] == id.as_str())
                .cloned()
                .unwrap();
            status = run["status"].as_str().unwrap().to_owned();
            if status != "RUNNING" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(status, "SUCCEEDED");
    })
    .await;
}

#[tokio::test]
async fn the_customer_aggregates_give_the_same_inputs_as_scanning_the_orders() {
    on_each_database(|app| async move {
        // Several customers, same-day orders, a referral, orders recorded in two batches
        // (so the aggregates are refreshed twice) — all before the cutoff.
        let referrer = app.create_customer(json!({})).await;
        let mut orders = Vec::new();
        for c in 0..6 {
            let id = app.create_customer(json!({ "referredBy": referrer })).await;
            for k in 0..(c + 1) {
                orders.push(json!({
                    "externalId": format!("agg-{c}-{k}"), "customerId": id, "amount": format!("{}.{:02}", 10 + k * c, k),
                    "currency": "USD", "orderedAt": format!("2025-0{}-{:02}T{:02}:30:00Z", 1 + k % 3, 1 + k / 2, 8 + k)
                }));
            }
            // A second order on the first purchase day: one transaction with the first.
            orders.push(json!({
                "externalId": format!("agg-{c}-same-day"), "customerId": id, "amount": "7.25",
                "currency": "USD", "orderedAt": "2025-01-01T23:59:59Z"
            }));
        }
        let (first, second) = orders.split_at(orders.len() / 2);
        app.record_orders(json!(first)).await;
        app.record_orders(json!(second)).await;
        app.create_customer(json!({ "externalId": "prospect" })).await;

        use jobs::value_scores::{InputSource, load_inputs};
        let cutoff = chrono::Utc::now() + chrono::Duration::hours(1);
        let scanned = load_inputs(&app.db, cutoff, InputSource::Scan).await.unwrap();
        let aggregated = load_inputs(&app.db, cutoff, InputSource::Aggregates).await.unwrap();
        assert_eq!(scanned.len(), 8);
        assert_eq!(scanned, aggregated);
        assert!(scanned.iter().any(|c| c.purchase_days > 1 && c.first_day_total.0 > 0 && c.first_day_total != c.total_spent));
        assert!(scanned.iter().all(|c| c.order_count == 0 || c.order_count == c.purchase_days + 1), "same-day orders merge");
        assert!(scanned.iter().any(|c| c.referred_customers == 6));
    })
    .await;
}

#[tokio::test]
async fn runs_append_scores_and_only_the_newest_runs_are_kept() {
    on_each_database(|app| async move {
        let id = app.create_customer(json!({})).await;
        app.record_orders(json!([{ "externalId": "k1", "customerId": id, "amount": "15.00", "currency": "USD", "orderedAt": "2025-01-10T09:00:00Z" }])).await;
        let mut runs = Vec::new();
        for day in 1..=9 {
            let run = app.admin_ok(RUN, json!({ "asOf": format!("2025-02-{day:02}") })).await["runJob"].clone();
            assert_eq!(run["status"], "SUCCEEDED");
            runs.push(run["id"].as_str().unwrap().parse::<i64>().unwrap());
        }
        use entity::customer_value;
        use sea_orm::{EntityTrait, QueryOrder};
        let kept: Vec<i64> = customer_value::Entity::find()
            .order_by_asc(customer_value::Column::JobRunId)
            .all(&app.db)
            .await
            .unwrap()
            .into_iter()
            .map(|v| v.job_run_id)
            .collect();
        assert_eq!(kept, runs[2..].to_vec(), "the default keeps 7 runs, one row per customer each");
        let value = app
            .admin_ok("query($id: ID!) { customer(id: $id) { value { asOf recencyDays } } }", json!({ "id": id }))
            .await;
        assert_eq!(value["customer"]["value"], json!({ "asOf": "2025-02-09", "recencyDays": 30 }), "the newest run is current");
    })
    .await;
}

#[tokio::test]
async fn the_jobs_query_lists_schedules_next_and_last_runs() {
    on_each_database(|app| async move {
        app.admin_ok("mutation { runJob(name: \"lifecycle\") { id } }", json!({}))
            .await;
        let jobs = app
            .admin_ok(
                "{ jobs { name schedule timeZone nextRunAt lastRun { name status } } }",
                json!({}),
            )
            .await["jobs"]
            .clone();
        let names: Vec<&str> = jobs
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            vec![
                "value-scores",
                "lifecycle",
                "segments",
                "campaigns",
                "email-dispatch",
                "marketer-digest",
                "loyalty"
            ]
        );
        assert_eq!(jobs[0]["schedule"], "0 0 2 * * *");
        assert_eq!(jobs[4]["schedule"], "0 * * * * *");
        assert_eq!(jobs[5]["schedule"], "0 0 8 * * Mon");
        assert_eq!(jobs[6]["schedule"], "0 30 3 * * *");
        assert_eq!(jobs[0]["timeZone"], "UTC");
        assert!(jobs[0]["lastRun"].is_null());
        assert_eq!(
            jobs[1]["lastRun"],
            json!({ "name": "lifecycle", "status": "SUCCEEDED" })
        );
        // The next 02:00 UTC, within a day from now.
        let next =
            chrono::DateTime::parse_from_rfc3339(jobs[0]["nextRunAt"].as_str().unwrap()).unwrap();
        let ahead = next.with_timezone(&chrono::Utc) - chrono::Utc::now();
        assert!(
            ahead > chrono::Duration::zero() && ahead <= chrono::Duration::days(1),
            "{next}"
        );
        assert_eq!(next.format("%H:%M:%S").to_string(), "02:00:00");
        let reader = app.key_with(&["customers:read"]).await;
        assert_eq!(
            error_code(&app.graphql(&reader, "{ jobs { name } }", json!({})).await),
            "FORBIDDEN"
        );
    })
    .await;
}
