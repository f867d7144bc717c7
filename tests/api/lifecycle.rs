//! The `lifecycle` job and its API: stages with default and changed thresholds, a
//! customer replayed through time, idempotence, the rhythm-aware and P(alive) silent
//! rules, the silent list, summaries, transitions and playbooks.

use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code, on_each_database, on_each_database_with};
use crate::value_scores::import_cdnow;

const RUN: &str = "mutation($name: String!, $asOf: Date) { runJob(name: $name, asOf: $asOf) { id status stats error } }";
const STAGE: &str = "query($id: ID!) { customer(id: $id) { lifecycle { stage since reason daysInStage history(first: 20) { nodes { fromStage toStage at reason reactivation } } } } }";

/// Runs the job for `as_of` (today when None).
async fn run_lifecycle(app: &TestApp, as_of: impl Into<Option<&str>>) -> Value {
    let as_of: Option<&str> = as_of.into();
    let run = app
        .admin_ok(RUN, json!({ "name": "lifecycle", "asOf": as_of }))
        .await["runJob"]
        .clone();
    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    run
}

/// The UTC date `n` days before today, as `YYYY-MM-DD`.
fn days_ago(n: i64) -> String {
    (chrono::Utc::now().date_naive() - chrono::Duration::days(n)).to_string()
}

/// Midnight UTC `n` days before today, as the API prints it.
fn midnight_days_ago(n: i64) -> String {
    format!("{}T00:00:00+00:00", days_ago(n))
}

/// A customer with one order on each of `days` (`YYYY-MM-DD`, at noon UTC).
async fn buyer(app: &TestApp, name: &str, days: &[&str]) -> String {
    let id = app.create_customer(json!({ "externalId": name })).await;
    let orders: Vec<Value> = days
        .iter()
        .enumerate()
        .map(|(n, day)| {
            json!({ "externalId": format!("{name}-{n}"), "customerId": id, "amount": "20.00",
                    "currency": "USD", "orderedAt": format!("{day}T12:00:00Z") })
        })
        .collect();
    if !orders.is_empty() {
        app.record_orders(json!(orders)).await;
    }
    id
}

async fn lifecycle_of(app: &TestApp, id: &str) -> Value {
    app.admin_ok(STAGE, json!({ "id": id })).await["customer"]["lifecycle"].clone()
}

async fn stage_of(app: &TestApp, id: &str) -> String {
    lifecycle_of(app, id).await["stage"]
        .as_str()
        .unwrap_or("none")
        .to_owned()
}

#[tokio::test]
async fn every_stage_with_the_default_thresholds() {
    on_each_database(|app| async move {
        // Relative to today, the day the customers are created and the job runs for.
        let prospect = buyer(&app, "prospect", &[]).await;
        let new = buyer(&app, "new", &[&days_ago(10)]).await;
        let active = buyer(&app, "active", &[&days_ago(121), &days_ago(30)]).await;
        let loyal = buyer(&app, "loyal", &[&days_ago(211), &days_ago(150), &days_ago(91), &days_ago(15)]).await;
        let silent = buyer(&app, "silent", &[&days_ago(121)]).await;
        let churned = buyer(&app, "churned", &[&days_ago(425)]).await;
        let erased = buyer(&app, "erased", &[&days_ago(30)]).await;
        app.admin_ok("mutation($id: ID!) { eraseCustomer(id: $id) { id } }", json!({ "id": erased })).await;

        let run = run_lifecycle(&app, None).await;
        assert_eq!(run["stats"]["customers"], 6, "the erased customer is left out");
        assert_eq!(run["stats"]["changes"], 6);
        for (id, stage) in [
            (&prospect, "PROSPECT"),
            (&new, "NEW"),
            (&active, "ACTIVE"),
            (&loyal, "LOYAL"),
            (&silent, "SILENT"),
            (&churned, "CHURNED"),
        ] {
            let lifecycle = lifecycle_of(&app, id).await;
            assert_eq!(lifecycle["stage"], stage, "{lifecycle}");
            assert!(!lifecycle["reason"].as_str().unwrap().is_empty());
            let history = lifecycle["history"]["nodes"].as_array().unwrap();
            assert_eq!(history.len(), 1);
            assert!(history[0]["fromStage"].is_null(), "a first classification comes from nowhere");
            assert_eq!(history[0]["toStage"], stage);
        }
        assert!(lifecycle_of(&app, &erased).await.is_null());
        assert_eq!(lifecycle_of(&app, &new).await["since"], midnight_days_ago(10), "the first order");
        assert_eq!(lifecycle_of(&app, &silent).await["since"], midnight_days_ago(30), "the day after 90 quiet days");
        assert_eq!(lifecycle_of(&app, &churned).await["since"], midnight_days_ago(60), "365 days after the last order");
        assert_eq!(lifecycle_of(&app, &loyal).await["daysInStage"], 15, "loyal since the fourth order");

        // The stage filter and the summary agree with the stages.
        let filtered = app
            .admin_ok("{ customers(filter: { stage: [SILENT, CHURNED] }) { totalCount nodes { id } } }", json!({}))
            .await;
        let ids: Vec<&str> = filtered["customers"]["nodes"].as_array().unwrap().iter().map(|n| n["id"].as_str().unwrap()).collect();
        assert_eq!(ids, vec![silent.as_str(), churned.as_str()]);
        let since = app
            .admin_ok(
                "query($from: DateTime!) { customers(filter: { stageSinceFrom: $from }) { nodes { externalId } } }",
                json!({ "from": format!("{}T00:00:00Z", days_ago(20)) }),
            )
            .await;
        let names: Vec<&str> = since["customers"]["nodes"].as_array().unwrap().iter().map(|n| n["externalId"].as_str().unwrap()).collect();
        assert_eq!(names, vec!["prospect", "new", "loyal"], "ACTIVE since 30 days, SILENT 30, CHURNED 60");

        let summary = app
            .admin_ok("{ lifecycleSummary { stage customers share revenueLast90Days averagePredictedClv } }", json!({}))
            .await["lifecycleSummary"]
            .clone();
        let rows = summary.as_array().unwrap();
        assert_eq!(rows.len(), 6);
        for row in rows {
            assert_eq!(row["customers"], 1, "{row}");
            assert!((row["share"].as_f64().unwrap() - 1.0 / 6.0).abs() < 1e-9);
            assert!(row["averagePredictedClv"].is_null(), "no value scores yet");
        }
    })
    .await;
}

#[tokio::test]
async fn a_summary_serves_the_requests_of_its_time_to_live_then_is_computed_again() {
    const TTL_SECONDS: f64 = 8.0;
    on_each_database_with(
        // Long enough for 32 heavy requests, which run one at a time here, each on a
        // connection of its own.
        |settings| settings.report_cache_seconds = TTL_SECONDS,
        |app| async move {
            const SUMMARY: &str =
                "{ lifecycleSummary { stage customers revenueLast90Days computedAt } }";
            let time = |t: &str| {
                chrono::DateTime::parse_from_rfc3339(t)
                    .unwrap()
                    .with_timezone(&chrono::Utc)
            };
            let new_customers = |body: &Value| -> (i64, String, String) {
                let rows = body["lifecycleSummary"].as_array().unwrap();
                let new = rows.iter().find(|r| r["stage"] == "NEW").unwrap();
                assert!(
                    rows.iter().all(|r| r["computedAt"] == new["computedAt"]),
                    "one computation: {body}"
                );
                (
                    new["customers"].as_i64().unwrap(),
                    new["revenueLast90Days"].as_str().unwrap().to_owned(),
                    new["computedAt"].as_str().unwrap().to_owned(),
                )
            };
            buyer(&app, "first", &[&days_ago(10)]).await;
            run_lifecycle(&app, None).await;

            // 32 screens at once: one computation answers them all.
            let answers =
                futures::future::join_all((0..32).map(|_| app.admin_ok(SUMMARY, json!({})))).await;
            let seen: Vec<(i64, String, String)> = answers.iter().map(new_customers).collect();
            assert!(seen.iter().all(|s| *s == seen[0]), "{seen:?}");
            assert_eq!((seen[0].0, seen[0].1.as_str()), (1, "20.00"));

            // Within the time to live a new customer does not show yet ...
            buyer(&app, "second", &[&days_ago(5)]).await;
            run_lifecycle(&app, None).await;
            assert_eq!(
                new_customers(&app.admin_ok(SUMMARY, json!({})).await),
                seen[0]
            );
            // ... a summary of another day is computed for that day ...
            let past = app
                .admin_ok(
                    "{ lifecycleSummary(asOf: \"2020-01-01\") { stage customers } }",
                    json!({}),
                )
                .await;
            assert!(
                past["lifecycleSummary"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|r| r["customers"] == 0),
                "{past}"
            );
            // ... and once it has passed, the next request computes the figures afresh.
            let expiry = time(&seen[0].2)
                + chrono::Duration::milliseconds((TTL_SECONDS * 1000.0) as i64 + 100);
            if let Ok(wait) = (expiry - chrono::Utc::now()).to_std() {
                tokio::time::sleep(wait).await;
            }
            let (customers, revenue, computed_at) =
                new_customers(&app.admin_ok(SUMMARY, json!({})).await);
            assert_eq!((customers, revenue.as_str()), (2, "40.00"));
            assert!(
                time(&computed_at) > time(&seen[0].2),
                "{computed_at} after {}",
                seen[0].2
            );
        },
    )
    .await;
}

#[tokio::test]
async fn a_customer_replayed_through_time_leaves_exactly_its_changes() {
    on_each_database(|app| async move {
        // All orders are recorded up front; each run sees only those up to its asOf.
        let id = buyer(&app, "replayed", &["2025-01-10", "2026-02-01"]).await;
        for (as_of, stage) in [
            ("2025-01-15", "NEW"),
            ("2025-03-01", "ACTIVE"),
            ("2025-05-01", "SILENT"),
            ("2025-05-02", "SILENT"),
            ("2026-01-20", "CHURNED"),
            ("2026-02-05", "ACTIVE"),
        ] {
            run_lifecycle(&app, as_of).await;
            assert_eq!(stage_of(&app, &id).await, stage, "at {as_of}");
        }
        let lifecycle = lifecycle_of(&app, &id).await;
        let history: Vec<(Value, Value, Value, Value)> = lifecycle["history"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["fromStage"].clone(), e["toStage"].clone(), e["at"].clone(), e["reactivation"].clone()))
            .collect();
        assert_eq!(
            history,
            vec![
                (Value::Null, json!("NEW"), json!("2025-01-10T00:00:00+00:00"), json!(false)),
                (json!("NEW"), json!("ACTIVE"), json!("2025-02-09T00:00:00+00:00"), json!(false)),
                (json!("ACTIVE"), json!("SILENT"), json!("2025-04-11T00:00:00+00:00"), json!(false)),
                (json!("SILENT"), json!("CHURNED"), json!("2026-01-10T00:00:00+00:00"), json!(false)),
                (json!("CHURNED"), json!("ACTIVE"), json!("2026-02-01T00:00:00+00:00"), json!(true)),
            ]
        );

        // History pages oldest first.
        let page = app
            .admin_ok(
                "query($id: ID!) { customer(id: $id) { lifecycle { history(first: 2) { pageInfo { hasNextPage endCursor } nodes { toStage } } } } }",
                json!({ "id": id }),
            )
            .await["customer"]["lifecycle"]["history"]
            .clone();
        assert_eq!(page["pageInfo"]["hasNextPage"], true);
        let rest = app
            .admin_ok(
                "query($id: ID!, $after: String) { customer(id: $id) { lifecycle { history(first: 10, after: $after) { nodes { toStage } } } } }",
                json!({ "id": id, "after": page["pageInfo"]["endCursor"] }),
            )
            .await["customer"]["lifecycle"]["history"]["nodes"]
            .clone();
        assert_eq!(rest, json!([{ "toStage": "SILENT" }, { "toStage": "CHURNED" }, { "toStage": "ACTIVE" }]));

        // Transitions in a period, and the stages as they were on a past day.
        let flows = app
            .admin_ok(
                "{ lifecycleTransitions(from: \"2025-02-01T00:00:00Z\", to: \"2026-01-11T00:00:00Z\") { fromStage toStage customers } }",
                json!({}),
            )
            .await["lifecycleTransitions"]
            .clone();
        assert_eq!(
            flows,
            json!([
                { "fromStage": "NEW", "toStage": "ACTIVE", "customers": 1 },
                { "fromStage": "ACTIVE", "toStage": "SILENT", "customers": 1 },
                { "fromStage": "SILENT", "toStage": "CHURNED", "customers": 1 },
            ])
        );
        let past = app
            .admin_ok("{ lifecycleSummary(asOf: \"2025-06-01\") { stage customers } }", json!({}))
            .await["lifecycleSummary"]
            .clone();
        let silent = past.as_array().unwrap().iter().find(|r| r["stage"] == "SILENT").unwrap();
        assert_eq!(silent["customers"], 1);

        // Going back in time would rewrite history: refused, recorded, nothing changed.
        let back = app
            .admin_ok(RUN, json!({ "name": "lifecycle", "asOf": "2025-12-01" }))
            .await["runJob"]
            .clone();
        assert_eq!(back["status"], "FAILED");
        assert!(back["error"].as_str().unwrap().contains("rewrite history"), "{back}");
        assert_eq!(stage_of(&app, &id).await, "ACTIVE");
    })
    .await;
}

#[tokio::test]
async fn running_twice_at_the_same_day_changes_nothing() {
    on_each_database(|app| async move {
        buyer(&app, "a", &["2026-01-05", "2026-03-01"]).await;
        buyer(&app, "b", &["2025-01-05"]).await;
        buyer(&app, "c", &[]).await;
        let first = run_lifecycle(&app, None).await;
        assert_eq!(first["stats"]["changes"], 3);
        let events = "{ customers { nodes { lifecycle { since history { nodes { at } } } } } }";
        let before = app.admin_ok(events, json!({})).await;
        let second = run_lifecycle(&app, None).await;
        assert_eq!(second["stats"]["changes"], 0);
        assert_eq!(app.admin_ok(events, json!({})).await, before);
    })
    .await;
}

#[tokio::test]
async fn the_silent_rule_follows_each_customers_rhythm() {
    on_each_database(|app| async move {
        // Buys every 40 days: 100 quiet days is within 3 × 40.
        let slow = buyer(&app, "slow", &["2025-09-01", "2025-10-11", "2025-11-20", "2025-12-30", "2026-02-08"]).await;
        // One order, the same 100 quiet days: past the fixed 90.
        let once = buyer(&app, "once", &["2026-02-08"]).await;
        run_lifecycle(&app, "2026-05-19").await;
        assert_eq!(stage_of(&app, &slow).await, "LOYAL", "five orders over 260 days");
        assert_eq!(stage_of(&app, &once).await, "SILENT");
        run_lifecycle(&app, "2026-06-20").await;
        let lifecycle = lifecycle_of(&app, &slow).await;
        assert_eq!(lifecycle["stage"], "SILENT");
        assert!(lifecycle["reason"].as_str().unwrap().contains("usual gap of 40 days"), "{lifecycle}");
        assert_eq!(lifecycle["since"], "2026-06-09T00:00:00+00:00", "121 days after the last order");
        let usual = app
            .admin_ok("{ silentCustomers { nodes { customer { externalId } usualGapDays silentSince } } }", json!({}))
            .await["silentCustomers"]["nodes"]
            .clone();
        assert_eq!(usual[0]["customer"]["externalId"], "slow", "without scores: by id");
        assert_eq!(usual[0]["usualGapDays"], 40.0);
        assert_eq!(usual[0]["silentSince"], "2026-06-09T00:00:00+00:00");
        assert_eq!(usual[1]["customer"]["externalId"], "once");
        assert!(usual[1]["usualGapDays"].is_null());
    })
    .await;
}

#[tokio::test]
async fn changed_thresholds_take_effect_and_bad_ones_are_refused() {
    on_each_database(|app| async move {
        let id = buyer(&app, "quiet", &["2026-01-01", "2026-03-01"]).await;
        run_lifecycle(&app, "2026-04-20").await;
        assert_eq!(stage_of(&app, &id).await, "ACTIVE");

        let update = "mutation($input: LifecycleThresholdsInput!) { updateLifecycleThresholds(input: $input) { silentDays churnedDays silentPAlive } }";
        let bad = app
            .admin(update, json!({ "input": { "silentDays": 400, "silentPAlive": 1.5, "newDays": -3 } }))
            .await;
        assert_eq!(error_code(&bad), "BAD_USER_INPUT");
        let fields: Vec<&str> = bad["errors"][0]["extensions"]["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, vec!["input.newDays", "input.silentPAlive", "input.silentDays"]);
        let reader = app.key_with(&["customers:read"]).await;
        let forbidden = app.graphql(&reader, update, json!({ "input": { "silentDays": 30 } })).await;
        assert_eq!(error_code(&forbidden), "FORBIDDEN");
        let unchanged = app.admin_ok("{ lifecycleThresholds { silentDays newDays } }", json!({})).await;
        assert_eq!(unchanged["lifecycleThresholds"], json!({ "silentDays": 90, "newDays": 30 }));

        // 3 × the 59-day gap would still hold her; a factor of 0.5 leaves the 30 days.
        let changed = app.admin_ok(update, json!({ "input": { "silentDays": 30, "silentFactor": 0.5 } })).await;
        assert_eq!(changed["updateLifecycleThresholds"], json!({ "silentDays": 30, "churnedDays": 365, "silentPAlive": 0.5 }));
        run_lifecycle(&app, "2026-04-21").await;
        let lifecycle = lifecycle_of(&app, &id).await;
        assert_eq!(lifecycle["stage"], "SILENT");
        assert!(lifecycle["reason"].as_str().unwrap().contains("silent after 30 days"), "{lifecycle}");
    })
    .await;
}

#[tokio::test]
async fn p_alive_from_value_scores_flags_customers_the_day_rules_miss() {
    on_each_database(|app| async move {
        import_cdnow(&app).await;
        let scores = app
            .admin_ok(RUN, json!({ "name": "value-scores", "asOf": "1997-09-30" }))
            .await["runJob"]
            .clone();
        assert_eq!(scores["status"], "SUCCEEDED");
        let run = run_lifecycle(&app, "1997-09-30").await;
        assert_eq!(run["stats"]["usedValueScores"], 2357);

        // Every customer: the stage never contradicts P(alive).
        let mut after: Value = Value::Null;
        let mut by_p_alive = 0;
        let mut counted = 0;
        loop {
            let page = app
                .admin_ok(
                    "query($after: String) { customers(first: 100, after: $after) { pageInfo { hasNextPage endCursor } nodes { lastOrderAt value { pAlive recencyDays } lifecycle { stage reason } } } }",
                    json!({ "after": after }),
                )
                .await["customers"]
                .clone();
            for node in page["nodes"].as_array().unwrap() {
                let p = node["value"]["pAlive"].as_f64().unwrap();
                let stage = node["lifecycle"]["stage"].as_str().unwrap();
                if p < 0.1 {
                    assert_eq!(stage, "CHURNED", "{node}");
                } else if p < 0.5 {
                    assert!(stage == "SILENT" || stage == "CHURNED", "{node}");
                }
                if node["lifecycle"]["reason"].as_str().unwrap().starts_with("P(alive)") {
                    by_p_alive += 1;
                }
                counted += 1;
            }
            if page["pageInfo"]["hasNextPage"] != true {
                break;
            }
            after = page["pageInfo"]["endCursor"].clone();
        }
        assert_eq!(counted, 2357);
        assert!(by_p_alive > 0, "no day rule reaches churn within nine months; P(alive) does");

        // The early-warning list: most value at risk first, pages that join up, tiers.
        let list = "query($after: String, $tier: ValueTier) { silentCustomers(first: 25, after: $after, minValueTier: $tier) { pageInfo { hasNextPage endCursor } nodes { customer { id } predictedClv pAlive valueTier } } }";
        let first = app.admin_ok(list, json!({})).await["silentCustomers"].clone();
        let second = app
            .admin_ok(list, json!({ "after": first["pageInfo"]["endCursor"] }))
            .await["silentCustomers"]
            .clone();
        let clvs: Vec<f64> = [&first, &second]
            .iter()
            .flat_map(|page| page["nodes"].as_array().unwrap().clone())
            .map(|n| n["predictedClv"].as_str().unwrap().parse::<f64>().unwrap())
            .collect();
        assert_eq!(clvs.len(), 50);
        assert!(clvs.windows(2).all(|w| w[0] >= w[1]), "{clvs:?}");
        let high = app.admin_ok(list, json!({ "tier": "HIGH" })).await["silentCustomers"]["nodes"].clone();
        assert!(!high.as_array().unwrap().is_empty());
        assert!(high.as_array().unwrap().iter().all(|n| n["valueTier"] == "HIGH"));

        let summary = app
            .admin_ok("{ lifecycleSummary { stage customers averagePredictedClv } }", json!({}))
            .await["lifecycleSummary"]
            .clone();
        let total: u64 = summary.as_array().unwrap().iter().map(|r| r["customers"].as_u64().unwrap()).sum();
        assert_eq!(total, 2357);
        assert!(summary.as_array().unwrap().iter().any(|r| r["averagePredictedClv"].is_string()));
    })
    .await;
}

#[tokio::test]
async fn playbooks_are_seeded_and_only_admins_edit_them() {
    on_each_database(|app| async move {
        let books = app
            .admin_ok("{ lifecyclePlaybooks { stage goal strategy } }", json!({}))
            .await["lifecyclePlaybooks"]
            .clone();
        let stages: Vec<&str> = books.as_array().unwrap().iter().map(|b| b["stage"].as_str().unwrap()).collect();
        assert_eq!(stages, vec!["PROSPECT", "NEW", "ACTIVE", "LOYAL", "SILENT", "CHURNED"]);
        assert!(books.as_array().unwrap().iter().all(|b| !b["goal"].as_str().unwrap().is_empty()));

        let update = "mutation($goal: String) { updateLifecyclePlaybook(stage: SILENT, goal: $goal) { stage goal strategy } }";
        let reader = app.key_with(&["customers:read"]).await;
        assert_eq!(error_code(&app.graphql(&reader, update, json!({ "goal": "x" })).await), "FORBIDDEN");
        assert_eq!(error_code(&app.admin(update, json!({ "goal": "  " })).await), "BAD_USER_INPUT");
        let saved = app.admin_ok(update, json!({ "goal": "Call every silent HIGH customer within a week." })).await;
        assert_eq!(saved["updateLifecyclePlaybook"]["goal"], "Call every silent HIGH customer within a week.");
        assert_eq!(
            saved["updateLifecyclePlaybook"]["strategy"],
            books[4]["strategy"],
            "an omitted field keeps its text"
        );
    })
    .await;
}

#[tokio::test]
async fn the_kept_rhythm_matches_the_orders() {
    on_each_database(|app| async move {
        // Gaps of 3, 10 and 1 days (median 3); a same-day second order; a customer whose
        // orders arrive in two batches, so the kept aggregates are refreshed twice.
        buyer(&app, "rhythm", &["2026-01-01", "2026-01-04", "2026-01-14", "2026-01-15"]).await;
        let id = buyer(&app, "later", &["2026-02-01"]).await;
        app.record_orders(json!([
            { "externalId": "later-same-day", "customerId": id, "amount": "5.00", "currency": "USD", "orderedAt": "2026-02-01T23:00:00Z" },
            { "externalId": "later-next", "customerId": id, "amount": "5.00", "currency": "USD", "orderedAt": "2026-03-03T08:00:00Z" },
        ]))
        .await;
        app.record_orders(json!([{ "externalId": "rhythm-4", "customerId": buyer(&app, "odd", &["2026-01-01"]).await,
                                   "amount": "1.00", "currency": "USD", "orderedAt": "2026-01-02T00:00:00Z" }]))
            .await;

        use jobs::lifecycle::{FactSource, load_subjects};
        let today = chrono::Utc::now().date_naive();
        // In id order: the job reads customers in no particular order (on Citus, shard
        // after shard as they answer).
        let mut kept = load_subjects(&app.db, today, FactSource::Auto).await.unwrap();
        kept.sort_by_key(|s| s.customer_id);
        let mut scanned = load_subjects(&app.db, today, FactSource::Scan).await.unwrap();
        scanned.sort_by_key(|s| s.customer_id);
        assert_eq!(kept, scanned);
        let gaps: Vec<Option<f64>> = kept.iter().map(|s| s.facts.median_gap_days).collect();
        assert_eq!(gaps, vec![Some(3.0), Some(30.0), Some(1.0)]);
        assert_eq!(kept[1].facts.order_count, 3);
    })
    .await;
}
