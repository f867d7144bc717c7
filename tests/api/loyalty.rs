//! The membership programme: points earned once per order (twice sent, in bulk, caught
//! up by the job), the balance against the ledger, concurrent redemptions, expiry of the
//! oldest lots, tiers with grace, birthday bonuses, the summary, scopes, the programme's
//! validation and the upgrade to migration 20.

use chrono::{Duration, NaiveDate, Utc};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code, migrate_down_to_before, on_each_database};

const LOYALTY: &str = "query($id: ID!) { customer(id: $id) { loyalty { \
    tier { name } since graceUntil points nextTier { name } pointsOrSpendToNextTier \
    ledger(first: 50) { nodes { kind points remaining orderId causeKey reason } } \
    tierHistory(first: 50) { nodes { reason fromTier toTier } } } } }";

async fn loyalty(app: &TestApp, customer: &str) -> Value {
    app.admin_ok(LOYALTY, json!({ "id": customer })).await["customer"]["loyalty"].clone()
}

/// One order of `amount` for `customer`, `days_ago` days back.
fn order(external_id: &str, customer: &str, amount: &str, days_ago: i64) -> Value {
    json!({
        "externalId": external_id,
        "customerId": customer,
        "amount": amount,
        "currency": "USD",
        "orderedAt": (Utc::now() - Duration::days(days_ago)).to_rfc3339(),
    })
}

async fn run_loyalty(app: &TestApp, as_of: NaiveDate) -> Value {
    let run = app
        .admin_ok(
            "mutation($d: Date!) { runJob(name: \"loyalty\", asOf: $d) { status error stats } }",
            json!({ "d": as_of.format("%Y-%m-%d").to_string() }),
        )
        .await["runJob"]
        .clone();
    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    run["stats"].clone()
}

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

async fn integers(app: &TestApp, sql: &str) -> Vec<Vec<i64>> {
    let backend = app.db.get_database_backend();
    app.db
        .query_all_raw(Statement::from_string(backend, sql))
        .await
        .unwrap()
        .iter()
        .map(|row| {
            (0..)
                .map_while(|i| row.try_get_by_index::<Option<i64>>(i).ok())
                .map(Option::unwrap_or_default)
                .collect()
        })
        .collect()
}

/// Every account's kept balance equals the sum of its ledger and the sum of its open
/// lots, and is never negative — read straight from the tables.
async fn assert_balances_match_the_ledger(app: &TestApp) {
    let rows = integers(
        app,
        "SELECT a.customer_id, a.balance, \
           (SELECT CAST(COALESCE(SUM(points), 0) AS BIGINT) FROM loyalty_ledger l WHERE l.customer_id = a.customer_id), \
           (SELECT CAST(COALESCE(SUM(remaining), 0) AS BIGINT) FROM loyalty_ledger l WHERE l.customer_id = a.customer_id AND l.points > 0) \
         FROM loyalty_accounts a ORDER BY 1",
    )
    .await;
    for row in rows {
        assert!(row[1] >= 0, "negative balance: {row:?}");
        assert_eq!(row[1], row[2], "balance ≠ ledger sum: {row:?}");
        assert_eq!(row[1], row[3], "balance ≠ open lots: {row:?}");
    }
}

#[tokio::test]
async fn orders_earn_points_exactly_once_when_sent_twice_and_in_bulk() {
    on_each_database(|app| async move {
        let ada = app.create_customer(json!({ "externalId": "ada" })).await;
        let bob = app.create_customer(json!({ "externalId": "bob" })).await;
        let batch = json!([
            order("o-1", &ada, "29.90", 10),
            order("o-2", &ada, "120.50", 5),
            order("o-3", &bob, "0.99", 3),
            order("o-4", &bob, "1000", 1),
        ]);
        assert_eq!(app.record_orders(batch.clone()).await["created"], 4);
        // The same batch again, and a batch overlapping it.
        assert_eq!(app.record_orders(batch).await["created"], 0);
        app.record_orders(json!([
            order("o-4", &bob, "1000", 1),
            order("o-5", &bob, "10", 0)
        ]))
        .await;
        // 1 point per unit, rounded down per order: 29 + 120; 0 (0.99) + 1000 + 10.
        let a = loyalty(&app, &ada).await;
        assert_eq!(a["points"], 149);
        let kinds: Vec<(&str, i64)> = a["ledger"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["kind"].as_str().unwrap(), e["points"].as_i64().unwrap()))
            .collect();
        assert_eq!(kinds, [("EARN", 120), ("EARN", 29)], "newest first");
        assert_eq!(loyalty(&app, &bob).await["points"], 1010);
        // The job catches up nothing more.
        let stats = run_loyalty(&app, today()).await;
        assert_eq!(stats["customersEarned"], 0, "{stats}");
        assert_eq!(
            integers(
                &app,
                "SELECT COUNT(*) FROM loyalty_ledger WHERE kind = 'EARN'"
            )
            .await,
            [[4]]
        );
        assert_balances_match_the_ledger(&app).await;
    })
    .await;
}

#[tokio::test]
async fn the_job_catches_up_orders_that_have_no_points() {
    on_each_database(|app| async move {
        let ada = app.create_customer(json!({ "externalId": "ada" })).await;
        app.record_orders(json!([order("o-1", &ada, "50", 3)]))
            .await;
        // As if recorded before the programme: the entry and the account gone.
        app.db
            .execute_unprepared("DELETE FROM loyalty_ledger")
            .await
            .unwrap();
        app.db
            .execute_unprepared("DELETE FROM loyalty_accounts")
            .await
            .unwrap();
        assert!(loyalty(&app, &ada).await.is_null());
        let stats = run_loyalty(&app, today()).await;
        assert_eq!(stats["customersEarned"], 1, "{stats}");
        assert_eq!(run_loyalty(&app, today()).await["customersEarned"], 0);
        let a = loyalty(&app, &ada).await;
        assert_eq!(a["points"], 50);
        assert_eq!(a["tier"]["name"], "Bronze");
        // While the programme earns nothing, orders get no points; once it earns again the
        // job gives them theirs, though daily runs checked past them meanwhile.
        let programme = |points_per_unit: &str| {
            json!({ "input": {
                "tiers": [{ "name": "Bronze", "rank": 1, "basis": "SPEND_12M", "threshold": "0" }],
                "pointsPerUnit": points_per_unit, "pointValue": "0.01", "expiryMonths": 12,
                "birthdayBonusPoints": 0, "referralBonusPoints": 0, "graceDays": 30,
            } })
        };
        let update = "mutation($input: LoyaltyProgrammeInput!) { updateLoyaltyProgramme(input: $input) { pointsPerUnit } }";
        app.admin_ok(update, programme("0")).await;
        app.record_orders(json!([order("o-2", &ada, "20", 2)])).await;
        assert_eq!(run_loyalty(&app, today()).await["customersEarned"], 0);
        assert_eq!(loyalty(&app, &ada).await["points"], 50);
        app.admin_ok(update, programme("2")).await;
        assert_eq!(run_loyalty(&app, today()).await["customersEarned"], 1);
        assert_eq!(loyalty(&app, &ada).await["points"], 50 + 40);
        assert_eq!(run_loyalty(&app, today()).await["customersEarned"], 0);
        assert_balances_match_the_ledger(&app).await;
    })
    .await;
}

/// An order recorded after its points would have expired earns them already expired:
/// the balance never shows points the programme no longer owes, and the job finds
/// nothing left to expire.
#[tokio::test]
async fn points_of_an_order_recorded_after_they_expired_are_earned_expired() {
    on_each_database(|app| async move {
        let ada = app.create_customer(json!({ "externalId": "ada" })).await;
        app.record_orders(json!([
            order("o-1", &ada, "80", 400),
            order("o-2", &ada, "20", 10)
        ]))
        .await;
        let a = loyalty(&app, &ada).await;
        assert_eq!(a["points"], 20);
        let entries: Vec<(String, i64, i64)> = a["ledger"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["kind"].as_str().unwrap().to_owned(),
                    e["points"].as_i64().unwrap(),
                    e["remaining"].as_i64().unwrap(),
                )
            })
            .collect();
        let mut kinds = entries.clone();
        kinds.sort();
        assert_eq!(
            kinds,
            [
                ("EARN".to_owned(), 20, 20),
                ("EARN".to_owned(), 80, 0),
                ("EXPIRE".to_owned(), -80, 0)
            ],
            "{entries:?}"
        );
        let stats = run_loyalty(&app, today()).await;
        assert_eq!(
            (
                stats["customersEarned"].as_i64(),
                stats["pointsExpired"].as_i64()
            ),
            (Some(0), Some(0)),
            "{stats}"
        );
        assert_eq!(loyalty(&app, &ada).await["points"], 20);
        assert_balances_match_the_ledger(&app).await;
    })
    .await;
}

#[tokio::test]
async fn concurrent_redemptions_take_only_what_the_balance_holds() {
    on_each_database(|app| async move {
        let ada = app.create_customer(json!({ "externalId": "ada" })).await;
        app.record_orders(json!([order("o-1", &ada, "600", 20), order("o-2", &ada, "400", 10)]))
            .await;
        let key = app.key_with(&["loyalty:write"]).await;
        // 40 redemptions of 70 points against 1000: 14 fit.
        let requests = (0..40).map(|i| {
            let app = &app;
            let key = key.clone();
            let ada = ada.clone();
            async move {
                app.graphql(
                    &key,
                    "mutation($c: ID!, $k: String!) { redeemPoints(customerId: $c, points: 70, idempotencyKey: $k) { points } }",
                    json!({ "c": ada, "k": format!("r-{i}") }),
                )
                .await
            }
        });
        let answers = futures::future::join_all(requests).await;
        let succeeded = answers.iter().filter(|a| a.get("errors").is_none()).count();
        for refused in answers.iter().filter(|a| a.get("errors").is_some()) {
            assert_eq!(error_code(refused), "BAD_USER_INPUT", "{refused}");
            assert_eq!(refused["errors"][0]["extensions"]["field"], "points");
        }
        assert_eq!(succeeded, 14);
        assert_eq!(loyalty(&app, &ada).await["points"], 1000 - 14 * 70);
        // A replayed key answers its entry and takes nothing more.
        let first_ok = answers.iter().position(|a| a.get("errors").is_none()).unwrap();
        let again = app
            .graphql(
                &key,
                "mutation($c: ID!, $k: String!) { redeemPoints(customerId: $c, points: 70, idempotencyKey: $k) { points } }",
                json!({ "c": ada, "k": format!("r-{first_ok}") }),
            )
            .await;
        assert_eq!(again["data"]["redeemPoints"]["points"], -70, "{again}");
        assert_eq!(loyalty(&app, &ada).await["points"], 20);
        assert_balances_match_the_ledger(&app).await;
    })
    .await;
}

#[tokio::test]
async fn expiry_takes_the_oldest_remaining_points_first() {
    on_each_database(|app| async move {
        let ada = app.create_customer(json!({ "externalId": "ada" })).await;
        // Lots of 100, 50 and 30 points, earned 330, 300 and 100 days ago.
        app.record_orders(json!([
            order("o-1", &ada, "100", 330),
            order("o-2", &ada, "50", 300),
            order("o-3", &ada, "30", 100),
        ]))
        .await;
        // 120 redeemed: all of the first lot, 20 of the second.
        app.admin_ok(
            "mutation($c: ID!) { redeemPoints(customerId: $c, points: 120, reason: \"voucher\") { points } }",
            json!({ "c": ada }),
        )
        .await;
        let remaining: Vec<i64> = loyalty(&app, &ada).await["ledger"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "EARN")
            .map(|e| e["remaining"].as_i64().unwrap())
            .collect();
        assert_eq!(remaining, [30, 30, 0], "newest first");
        // The second lot (30 left) turns 12 months old in about 65 days, the third in 265.
        let expiring = |days: u32| {
            let app = &app;
            let ada = ada.clone();
            async move {
                app.admin_ok(
                    "query($id: ID!, $d: Int!) { customer(id: $id) { loyalty { pointsExpiringWithin(days: $d) } } }",
                    json!({ "id": ada, "d": days }),
                )
                .await["customer"]["loyalty"]["pointsExpiringWithin"]
                    .as_i64()
                    .unwrap()
            }
        };
        assert_eq!(expiring(30).await, 0, "the first lot is spent");
        assert_eq!(expiring(100).await, 30);
        assert_eq!(expiring(300).await, 60);
        // Today nothing expires (the first lot is spent).
        assert_eq!(run_loyalty(&app, today()).await["pointsExpired"], 0);
        let stats = run_loyalty(&app, today() + Duration::days(100)).await;
        assert_eq!((stats["customersExpired"].as_i64(), stats["pointsExpired"].as_i64()), (Some(1), Some(30)));
        assert_eq!(loyalty(&app, &ada).await["points"], 30);
        assert_eq!(run_loyalty(&app, today() + Duration::days(100)).await["pointsExpired"], 0, "once");
        assert_eq!(run_loyalty(&app, today() + Duration::days(300)).await["pointsExpired"], 30);
        let a = loyalty(&app, &ada).await;
        assert_eq!(a["points"], 0);
        let expired: Vec<i64> = a["ledger"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "EXPIRE")
            .map(|e| e["points"].as_i64().unwrap())
            .collect();
        assert_eq!(expired, [-30, -30]);
        assert_balances_match_the_ledger(&app).await;
    })
    .await;
}

/// Bronze, Silver from 500, Gold from 2,000 (10 % off); points expiring after
/// `expiry_months` (0: never).
async fn set_programme(app: &TestApp, grace_days: u32, expiry_months: u32) {
    app.admin_ok(
        "mutation($input: LoyaltyProgrammeInput!) { updateLoyaltyProgramme(input: $input) { graceDays } }",
        json!({ "input": {
            "tiers": [
                { "name": "Bronze", "rank": 1, "basis": "SPEND_12M", "threshold": "0" },
                { "name": "Silver", "rank": 2, "basis": "SPEND_12M", "threshold": "500" },
                { "name": "Gold", "rank": 3, "basis": "SPEND_12M", "threshold": "2000", "discountPercent": "10", "benefits": "Free delivery & early access" },
            ],
            "pointsPerUnit": "1", "pointValue": "0.01", "expiryMonths": expiry_months,
            "birthdayBonusPoints": 100, "referralBonusPoints": 200, "graceDays": grace_days,
        } }),
    )
    .await;
}

/// Moves the customer id sequence `by` ids forward: the next customer's id leaves a gap.
async fn skip_customer_ids(app: &TestApp, by: i64) {
    let backend = app.db.get_database_backend();
    let sql = match backend {
        sea_orm::DatabaseBackend::Sqlite => {
            format!("UPDATE sqlite_sequence SET seq = seq + {by} WHERE name = 'customers'")
        }
        _ => format!(
            "SELECT setval(pg_get_serial_sequence('customers', 'id'), \
             (SELECT MAX(id) FROM customers) + {by})"
        ),
    };
    app.db
        .execute_raw(Statement::from_string(backend, sql))
        .await
        .unwrap();
}

fn history(loyalty: &Value) -> Vec<String> {
    let mut events: Vec<String> = loyalty["tierHistory"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {}→{}",
                e["reason"].as_str().unwrap(),
                e["fromTier"].as_str().unwrap_or("-"),
                e["toTier"].as_str().unwrap_or("-")
            )
        })
        .collect();
    events.reverse();
    events
}

#[tokio::test]
async fn tiers_move_up_at_once_and_down_only_after_grace_unless_requalified() {
    on_each_database(|app| async move {
        set_programme(&app, 10, 0).await;
        let ada = app.create_customer(json!({ "externalId": "ada" })).await;
        let bob = app.create_customer(json!({ "externalId": "bob" })).await;
        app.record_orders(json!([
            order("a-1", &ada, "2500", 30),
            order("b-1", &bob, "2500", 360)
        ]))
        .await;
        // Cyd's id lies far past the others, beyond the job's windows of customer ids
        // (20,000 wide) that hold members: she is evaluated all the same.
        skip_customer_ids(&app, 50_000).await;
        let cyd = app.create_customer(json!({ "externalId": "cyd" })).await;
        app.record_orders(json!([order("c-1", &cyd, "600", 5)]))
            .await;
        let d = |days: i64| today() + Duration::days(days);
        run_loyalty(&app, d(0)).await;
        let c = loyalty(&app, &cyd).await;
        assert_eq!(
            (c["tier"]["name"].as_str(), c["nextTier"]["name"].as_str()),
            (Some("Silver"), Some("Gold"))
        );
        // 600 of Gold's 2000 spent in the 12 months up to today.
        assert_eq!(c["pointsOrSpendToNextTier"], "1400.00");
        for customer in [&ada, &bob] {
            let l = loyalty(&app, customer).await;
            assert_eq!(l["tier"]["name"], "Gold");
            assert!(l["nextTier"].is_null());
            assert!(l["pointsOrSpendToNextTier"].is_null());
        }
        // Bob's order leaves the 12 months: grace for 10 days.
        let stats = run_loyalty(&app, d(10)).await;
        assert_eq!(stats["tierGraceStarted"], 1, "{stats}");
        let b = loyalty(&app, &bob).await;
        assert_eq!(b["tier"]["name"], "Gold");
        assert_eq!(b["graceUntil"], format!("{}T00:00:00+00:00", d(20)));
        // He orders again during grace: requalified, grace ended.
        app.record_orders(json!([order("b-2", &bob, "2000", 0)]))
            .await;
        run_loyalty(&app, d(12)).await;
        let b = loyalty(&app, &bob).await;
        assert!(b["graceUntil"].is_null());
        assert_eq!(run_loyalty(&app, d(25)).await.get("tierDowngrade"), None);
        assert_eq!(loyalty(&app, &bob).await["tier"]["name"], "Gold");
        // Ada's order leaves the window at about +335 days; she qualifies for Bronze.
        run_loyalty(&app, d(340)).await;
        assert_eq!(
            loyalty(&app, &ada).await["tier"]["name"],
            "Gold",
            "in grace"
        );
        run_loyalty(&app, d(349)).await;
        assert_eq!(
            loyalty(&app, &ada).await["tier"]["name"],
            "Gold",
            "the day before"
        );
        let stats = run_loyalty(&app, d(350)).await;
        assert_eq!(stats["tierDowngrade"], 1, "{stats}");
        let a = loyalty(&app, &ada).await;
        assert_eq!(a["tier"]["name"], "Bronze");
        assert_eq!(a["since"], format!("{}T00:00:00+00:00", d(350)));
        assert_eq!(a["nextTier"]["name"], "Silver");
        assert_eq!(
            history(&a),
            [
                "UPGRADE -→Gold",
                "GRACE_STARTED Gold→Bronze",
                "DOWNGRADE Gold→Bronze"
            ]
        );
        assert_eq!(
            history(&loyalty(&app, &bob).await),
            [
                "UPGRADE -→Gold",
                "GRACE_STARTED Gold→Bronze",
                "REQUALIFIED Gold→Gold"
            ]
        );
        assert_balances_match_the_ledger(&app).await;
    })
    .await;
}

#[tokio::test]
async fn the_birthday_bonus_is_given_once_a_year() {
    on_each_database(|app| async move {
        let ada = app
            .create_customer(json!({ "externalId": "ada", "birthDate": "1990-03-15" }))
            .await;
        let cyd = app
            .create_customer(json!({ "externalId": "cyd", "birthDate": "1990-03-16" }))
            .await;
        app.record_orders(json!([
            order("o-1", &ada, "10", 1),
            order("o-2", &cyd, "10", 1)
        ]))
        .await;
        let birthday = NaiveDate::from_ymd_opt(2027, 3, 15).unwrap();
        assert_eq!(run_loyalty(&app, birthday).await["birthdayBonuses"], 1);
        assert_eq!(
            run_loyalty(&app, birthday).await["birthdayBonuses"],
            0,
            "once"
        );
        let next_year = NaiveDate::from_ymd_opt(2028, 3, 15).unwrap();
        assert_eq!(run_loyalty(&app, next_year).await["birthdayBonuses"], 1);
        let bonuses = integers(
            &app,
            "SELECT customer_id, points FROM loyalty_ledger WHERE kind = 'BONUS' ORDER BY id",
        )
        .await;
        let ada_id: i64 = ada.parse().unwrap();
        assert_eq!(bonuses, [[ada_id, 100], [ada_id, 100]]);
        let keys: Vec<String> = loyalty(&app, &ada).await["ledger"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "BONUS")
            .map(|e| e["causeKey"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(keys, ["birthday:2028", "birthday:2027"]);
        assert_balances_match_the_ledger(&app).await;
    })
    .await;
}

#[tokio::test]
async fn the_summary_adds_up_members_points_liability_and_redemptions() {
    on_each_database(|app| async move {
        set_programme(&app, 10, 0).await;
        let amounts = [("a", "2500.75"), ("b", "600"), ("c", "99.99"), ("d", "40")];
        let mut ids = Vec::new();
        for (i, (name, amount)) in amounts.iter().enumerate() {
            let id = app.create_customer(json!({ "externalId": name })).await;
            app.record_orders(json!([order(&format!("o-{i}"), &id, amount, 5)])).await;
            ids.push(id);
        }
        // Points: 2500 + 600 + 99 + 40 = 3239 earned; 300 + 50 redeemed; 25 taken by an
        // adjustment (not a redemption), 10 given.
        for (customer, points) in [(&ids[0], 300), (&ids[1], 50)] {
            app.admin_ok(
                "mutation($c: ID!, $p: Int!) { redeemPoints(customerId: $c, points: $p) { id } }",
                json!({ "c": customer, "p": points }),
            )
            .await;
        }
        for (customer, points) in [(&ids[2], -25), (&ids[3], 10)] {
            app.admin_ok(
                "mutation($c: ID!, $p: Int!) { adjustPoints(customerId: $c, points: $p, reason: \"goodwill\") { id } }",
                json!({ "c": customer, "p": points }),
            )
            .await;
        }
        run_loyalty(&app, today()).await;
        let summary = app
            .admin_ok(
                "{ loyaltySummary { membersPerTier { tier members } members pointsOutstanding liability pointsEarned pointsRedeemed redemptionRate } }",
                json!({}),
            )
            .await["loyaltySummary"]
            .clone();
        let earned = 2500 + 600 + 99 + 40;
        let outstanding = earned - 300 - 50 - 25 + 10;
        assert_eq!(summary["pointsEarned"], earned);
        assert_eq!(summary["pointsRedeemed"], 350);
        assert_eq!(summary["pointsOutstanding"], outstanding);
        // 2874 points at 0.01.
        assert_eq!(outstanding, 2874);
        assert_eq!(summary["liability"], "28.74");
        let rate = summary["redemptionRate"].as_f64().unwrap();
        assert!((rate - 350.0 / earned as f64).abs() < 1e-12, "{rate}");
        assert_eq!(summary["members"], 4);
        assert_eq!(
            summary["membersPerTier"],
            json!([
                { "tier": "Bronze", "members": 2 },
                { "tier": "Gold", "members": 1 },
                { "tier": "Silver", "members": 1 },
            ])
        );
        assert_balances_match_the_ledger(&app).await;
    })
    .await;
}

#[tokio::test]
async fn loyalty_needs_its_scopes_and_reasons_need_pii_read() {
    on_each_database(|app| async move {
        let ada = app.create_customer(json!({ "externalId": "ada" })).await;
        app.record_orders(json!([order("o-1", &ada, "100", 1)])).await;
        let reader = app.key_with(&["customers:read"]).await;
        let body = app
            .graphql(&reader, "query($id: ID!) { customer(id: $id) { id loyalty { points } } }", json!({ "id": ada }))
            .await;
        assert_eq!(error_code(&body), "FORBIDDEN");
        assert_eq!(body["data"]["customer"]["id"], ada.as_str());
        for query in ["{ loyaltySummary { members } }", "{ loyaltyProgramme { graceDays } }"] {
            assert_eq!(error_code(&app.graphql(&reader, query, json!({})).await), "FORBIDDEN");
        }
        let redeem = "mutation($c: ID!) { redeemPoints(customerId: $c, points: 5, reason: \"gift for Ada\") { points reason } }";
        let loyal_reader = app.key_with(&["customers:read", "loyalty:read"]).await;
        assert_eq!(
            error_code(&app.graphql(&loyal_reader, redeem, json!({ "c": ada })).await),
            "FORBIDDEN"
        );
        let writer = app.key_with(&["loyalty:write"]).await;
        let redeemed = app.graphql(&writer, redeem, json!({ "c": ada })).await;
        assert_eq!(redeemed["data"]["redeemPoints"]["points"], -5);
        // The reason is free text: pii:read.
        assert!(redeemed["data"]["redeemPoints"]["reason"].is_null());
        assert_eq!(error_code(&redeemed), "FORBIDDEN");
        let adjust = "mutation($c: ID!) { adjustPoints(customerId: $c, points: 5, reason: \"x\") { points } }";
        assert_eq!(error_code(&app.graphql(&writer, adjust, json!({ "c": ada })).await), "FORBIDDEN");
        let body = app
            .graphql(&loyal_reader, "query($id: ID!) { customer(id: $id) { loyalty { points } } }", json!({ "id": ada }))
            .await;
        assert_eq!(body["data"]["customer"]["loyalty"]["points"], 95, "{body}");
    })
    .await;
}

#[tokio::test]
async fn bad_redemptions_adjustments_and_programmes_name_the_field() {
    on_each_database(|app| async move {
        let ada = app.create_customer(json!({ "externalId": "ada" })).await;
        app.record_orders(json!([order("o-1", &ada, "100", 1)])).await;
        let field = |body: &Value| body["errors"][0]["extensions"]["field"].as_str().unwrap_or_default().to_owned();
        let redeem = |points: i64| {
            let app = &app;
            let ada = ada.clone();
            async move {
                app.admin(
                    "mutation($c: ID!, $p: Int!) { redeemPoints(customerId: $c, points: $p) { id } }",
                    json!({ "c": ada, "p": points }),
                )
                .await
            }
        };
        for points in [0, -3, 101] {
            let body = redeem(points).await;
            assert_eq!((error_code(&body), field(&body).as_str()), ("BAD_USER_INPUT", "points"), "{body}");
        }
        let adjust = |points: i64, reason: &str| {
            let app = &app;
            let ada = ada.clone();
            let reason = reason.to_owned();
            async move {
                app.admin(
                    "mutation($c: ID!, $p: Int!, $r: String!) { adjustPoints(customerId: $c, points: $p, reason: $r) { points } }",
                    json!({ "c": ada, "p": points, "r": reason }),
                )
                .await
            }
        };
        assert_eq!(field(&adjust(-101, "typo").await), "points");
        assert_eq!(field(&adjust(5, "  ").await), "reason");
        assert_eq!(adjust(-100, "typo").await["data"]["adjustPoints"]["points"], -100);
        let missing = app
            .admin("mutation { redeemPoints(customerId: \"999999\", points: 1) { id } }", json!({}))
            .await;
        assert_eq!(error_code(&missing), "NOT_FOUND");

        let update = "mutation($input: LoyaltyProgrammeInput!) { updateLoyaltyProgramme(input: $input) { tiers { name } } }";
        let mut input = json!({
            "tiers": [
                { "name": "Bronze", "rank": 1, "basis": "SPEND_12M", "threshold": "0" },
                { "name": "Silver", "rank": 2, "basis": "POINTS_12M", "threshold": "500", "discountPercent": "150" },
                { "name": "bronze", "rank": 2, "basis": "SPEND_12M", "threshold": "10" },
            ],
            "pointsPerUnit": "1.005", "pointValue": "0.01", "expiryMonths": 500,
            "birthdayBonusPoints": -1, "referralBonusPoints": 0, "graceDays": 0,
        });
        let body = app.admin(update, json!({ "input": input })).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT");
        let fields: Vec<&str> = body["errors"][0]["extensions"]["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["field"].as_str().unwrap())
            .collect();
        assert_eq!(
            fields,
            [
                "input.tiers[1].discountPercent",
                "input.tiers[2].name",
                "input.tiers[2].rank",
                "input.pointsPerUnit",
                "input.expiryMonths",
                "input.birthdayBonusPoints"
            ]
        );
        input["tiers"][1]["threshold"] = json!("2.5");
        assert_eq!(field(&app.admin(update, json!({ "input": input })).await), "input.tiers[1].threshold");
        // Fixed, it is saved (tiers by rank) and read back.
        let input = json!({
            "tiers": [
                { "name": "Gold", "rank": 3, "basis": "POINTS_12M", "threshold": "1000" },
                { "name": "Basic", "rank": 1, "basis": "SPEND_12M", "threshold": "0" },
            ],
            "pointsPerUnit": "1.5", "pointValue": "0.02", "expiryMonths": 24,
            "birthdayBonusPoints": 50, "referralBonusPoints": 300, "graceDays": 14,
        });
        app.admin_ok(update, json!({ "input": input })).await;
        let programme = app
            .admin_ok(
                "{ loyaltyProgramme { tiers { name rank basis threshold discountPercent } pointsPerUnit pointValue expiryMonths birthdayBonusPoints referralBonusPoints graceDays } }",
                json!({}),
            )
            .await["loyaltyProgramme"]
            .clone();
        assert_eq!(
            programme,
            json!({
                "tiers": [
                    { "name": "Basic", "rank": 1, "basis": "SPEND_12M", "threshold": "0.00", "discountPercent": "0" },
                    { "name": "Gold", "rank": 3, "basis": "POINTS_12M", "threshold": "1000", "discountPercent": "0" },
                ],
                "pointsPerUnit": "1.5", "pointValue": "0.02", "expiryMonths": 24,
                "birthdayBonusPoints": 50, "referralBonusPoints": 300, "graceDays": 14,
            })
        );
        // 1.5 points per unit from now on: 33.33 → 49 points.
        app.record_orders(json!([order("o-2", &ada, "33.33", 0)])).await;
        assert_eq!(loyalty(&app, &ada).await["points"], 49);
        assert_balances_match_the_ledger(&app).await;
    })
    .await;
}

/// A database from before migration 20 (customers with orders) upgrades with nothing
/// lost, and the job gives the old orders their points.
#[tokio::test]
async fn upgrading_to_loyalty_keeps_everything_and_earns_old_orders() {
    on_each_database(|app| async move {
        if crate::distribution::is_citus(&app.db).await {
            return;
        }
        let ada = app.create_customer(json!({ "externalId": "ada", "birthDate": "1990-01-02" })).await;
        app.record_orders(json!([order("o-1", &ada, "75.50", 40), order("o-2", &ada, "20", 2)]))
            .await;
        let read = "query($id: ID!) { customer(id: $id) { externalId birthDate orderCount totalSpent orders(first: 10) { nodes { externalId amount } } } }";
        let before = app.admin_ok(read, json!({ "id": ada })).await;
        migrate_down_to_before(&app, "m20261201_000020_loyalty").await;
        assert!(app.db.execute_unprepared("SELECT 1 FROM loyalty_ledger").await.is_err());
        clientele::database::migrate(&app.db).await.unwrap();
        assert_eq!(app.admin_ok(read, json!({ "id": ada })).await, before);
        assert!(loyalty(&app, &ada).await.is_null(), "no points before the job");
        assert_eq!(run_loyalty(&app, today()).await["customersEarned"], 1);
        assert_eq!(loyalty(&app, &ada).await["points"], 95);
        assert_balances_match_the_ledger(&app).await;
    })
    .await;
}

/// A page of customers with their membership costs the same statements for 2 customers
/// as for 12: every per-customer field is loaded for the page at once.
#[tokio::test]
async fn a_page_of_members_costs_a_fixed_number_of_statements() {
    on_each_database(|app| async move {
        let query = "{ customers(first: 50) { nodes { id loyalty { tier { name } points \
            pointsExpiringWithin(days: 30) nextTier { name } pointsOrSpendToNextTier \
            ledger(first: 5) { nodes { kind points } } tierHistory(first: 5) { nodes { reason } } } } } }";
        let mut spent = Vec::new();
        let mut made = 0;
        for n in [2, 12] {
            while made < n {
                let customer = app
                    .create_customer(json!({ "externalId": format!("m{made}") }))
                    .await;
                app.record_orders(json!([order(&format!("o{made}"), &customer, "700", 3)]))
                    .await;
                made += 1;
            }
            run_loyalty(&app, today()).await;
            let before = app.queries.load(std::sync::atomic::Ordering::SeqCst);
            let data = app.admin_ok(query, json!({})).await;
            spent.push(app.queries.load(std::sync::atomic::Ordering::SeqCst) - before);
            let nodes = data["customers"]["nodes"].as_array().unwrap();
            assert_eq!(nodes.len(), n);
            for node in nodes {
                let l = &node["loyalty"];
                assert_eq!((l["points"].as_i64(), l["tier"]["name"].as_str()), (Some(700), Some("Silver")), "{node}");
                assert_eq!(l["pointsOrSpendToNextTier"], "1300.00");
                assert_eq!(l["ledger"]["nodes"].as_array().unwrap().len(), 1);
                assert_eq!(l["tierHistory"]["nodes"][0]["reason"], "UPGRADE");
            }
        }
        assert_eq!(spent[0], spent[1], "statements for 2 and for 12 customers: {spent:?}");
    })
    .await;
}

/// `LOYALTY_TIER` and `POINTS_BALANCE` select members in SQL as the explanation
/// evaluates them in memory.
#[tokio::test]
async fn segments_select_members_by_tier_and_points() {
    on_each_database(|app| async move {
        set_programme(&app, 10, 0).await;
        let mut ids = Vec::new();
        for (name, amount) in [("a", "2500"), ("b", "700"), ("c", "50")] {
            let id = app.create_customer(json!({ "externalId": name })).await;
            app.record_orders(json!([order(&format!("o-{name}"), &id, amount, 2)])).await;
            ids.push(id);
        }
        let outsider = app.create_customer(json!({ "externalId": "d" })).await;
        run_loyalty(&app, today()).await;
        let rule = json!({ "all": [
            { "condition": { "field": "LOYALTY_TIER", "op": "IN", "values": ["Gold", "Silver"] } },
            { "condition": { "field": "POINTS_BALANCE", "op": "LT", "value": 1000 } },
        ] });
        let preview = app
            .admin_ok(
                "query($rule: SegmentRuleInput!) { previewSegment(rule: $rule) { size customers { id } } }",
                json!({ "rule": rule }),
            )
            .await["previewSegment"]
            .clone();
        assert_eq!(preview["size"], 1);
        assert_eq!(preview["customers"][0]["id"], ids[1].as_str());
        let segment = app
            .admin_ok(
                "mutation($input: CreateSegmentInput!) { createSegment(input: $input) { id } }",
                json!({ "input": { "name": "loyal", "kind": "DYNAMIC", "rule": rule } }),
            )
            .await["createSegment"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        for (customer, matches, values) in [
            (&ids[1], true, [json!("Silver"), json!(700)]),
            (&ids[2], false, [json!("Bronze"), json!(50)]),
            (&outsider, false, [Value::Null, Value::Null]),
        ] {
            let explained = app
                .admin_ok(
                    "query($s: ID!, $c: ID!) { segment(id: $s) { explain(customerId: $c) { matches conditions { actual } } } }",
                    json!({ "s": segment, "c": customer }),
                )
                .await["segment"]["explain"]
                .clone();
            assert_eq!(explained["matches"], matches, "{explained}");
            let actual: Vec<Value> = explained["conditions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["actual"].clone())
                .collect();
            assert_eq!(actual, values, "{explained}");
        }
    })
    .await;
}

#[tokio::test]
async fn tier_upgrades_and_expiring_points_are_emailed_once_in_the_members_language() {
    use crate::care::{customer, emails, enable, parse, produce, received_since, send, smtp};
    use crate::smtp_sink::SmtpSink;

    let sink = SmtpSink::start().await;
    crate::helpers::on_each_database_with(smtp(&sink), |app| {
        let sink = sink.clone();
        async move {
            let before = sink.messages().len();
            set_programme(&app, 0, 12).await;
            let ada = customer(&app, "Ada", json!({})).await;
            let lin = customer(&app, "Lin", json!({ "timeZone": "Asia/Shanghai", "locale": "zh-CN" })).await;
            let cyd = customer(&app, "Cyd", json!({})).await;
            // Bob's lots: 100 and 50 points earned 350 and 340 days ago (they expire in
            // about 15 and 25 days), 70 earned 100 days ago (not for months).
            let bob = customer(&app, "Bob", json!({})).await;
            app.record_orders(json!([
                order("a-1", &ada, "600", 30),
                order("l-1", &lin, "600", 30),
                order("c-1", &cyd, "2500", 30),
                order("b-1", &bob, "100", 350),
                order("b-2", &bob, "50", 340),
                order("b-3", &bob, "70", 100),
            ]))
            .await;
            enable(&app, "TIER_UPGRADE", json!({})).await;
            let points_campaign = enable(&app, "POINTS_EXPIRING", json!({})).await;
            let settings = app
                .admin_ok(
                    "query($id: ID!) { campaign(id: $id) { name settings { daysBeforeExpiry cooldownDays } } }",
                    json!({ "id": points_campaign }),
                )
                .await;
            assert_eq!(settings["campaign"]["name"], "Points expiring");
            assert_eq!(settings["campaign"]["settings"], json!({ "daysBeforeExpiry": 30, "cooldownDays": 30 }));
            let bad = app
                .admin(
                    "mutation($id: ID!) { updateCampaign(id: $id, input: { settings: { daysBeforeExpiry: 0 } }) { id } }",
                    json!({ "id": points_campaign }),
                )
                .await;
            assert_eq!(error_code(&bad), "BAD_USER_INPUT", "{bad}");
            assert_eq!(bad["errors"][0]["extensions"]["field"], "input.settings.daysBeforeExpiry", "{bad}");

            // The first evaluation gives everyone a first tier (Cyd straight to Gold):
            // no news, no email.
            run_loyalty(&app, today()).await;
            assert_eq!(loyalty(&app, &cyd).await["tier"]["name"], "Gold");
            let noon = format!("{}T12:00:00Z", today());
            let stats = produce(&app, &noon).await;
            assert_eq!(stats["queued"]["Membership tier upgrade"], 0, "{stats}");
            // Only Bob has points within 30 days of expiring: 100 + 50.
            assert_eq!(stats["queued"]["Points expiring"], 1, "{stats}");
            // Ada and Lin spend 1,500 more: Silver → Gold.
            app.record_orders(json!([order("a-2", &ada, "1500", 1), order("l-2", &lin, "1500", 1)]))
                .await;
            run_loyalty(&app, today()).await;
            let stats = produce(&app, &noon).await;
            assert_eq!(stats["queued"]["Membership tier upgrade"], 2, "{stats}");
            assert_eq!(stats["queued"]["Points expiring"], 0, "once: {stats}");
            let stats = produce(&app, &noon).await;
            assert_eq!(
                (&stats["queued"]["Membership tier upgrade"], &stats["queued"]["Points expiring"]),
                (&json!(0), &json!(0)),
                "once: {stats}"
            );
            for (customer, kind) in [(&cyd, "TIER_UPGRADE"), (&ada, "POINTS_EXPIRING"), (&bob, "TIER_UPGRADE")] {
                assert!(emails(&app, json!({ "customerId": customer, "kind": kind })).await.is_empty(), "{customer} {kind}");
            }
            let dedupe: Vec<String> = emails(&app, json!({ "customerId": ada, "kind": "TIER_UPGRADE" }))
                .await
                .iter()
                .map(|e| e["dedupeKey"].as_str().unwrap().to_owned())
                .collect();
            assert_eq!(dedupe.len(), 1);
            assert!(dedupe[0].starts_with(&format!("tier_upgrade:{ada}:")), "{dedupe:?}");

            let report = send(&app, &noon).await;
            assert_eq!(report.sent, 3, "{report:?}");
            let received = received_since(&sink, before);
            let to: Vec<&str> = received.iter().map(|r| r.rcpt_to[0].as_str()).collect();
            assert_eq!(to, ["ada@mail.example", "bob@mail.example", "lin@mail.example"]);
            let ada_mail = parse(&received[0]);
            assert_eq!(ada_mail.subject(), Some("Congratulations, Ada: you are now Gold at Test Shop"));
            let text = ada_mail.body_text(0).unwrap().to_string();
            assert!(text.contains("What Gold brings you: Free delivery & early access"), "{text}");
            assert!(text.contains("10% off, every order"), "{text}");
            let html = ada_mail.body_html(0).unwrap().to_string();
            assert!(html.contains("Free delivery &amp; early access"), "{html}");
            let lin_mail = parse(&received[2]);
            assert_eq!(lin_mail.subject(), Some("恭喜 Lin，您已升级为 Test Shop Gold 会员"));
            assert!(lin_mail.body_text(0).unwrap().contains("每笔订单享 10% 折扣"));
            // The points and the day they expire by, computed here: the lots earned 350
            // and 340 days ago, turning 12 months old within 30 days of today.
            let expire_by = today() + Duration::days(30);
            let bob_mail = parse(&received[1]);
            assert_eq!(
                bob_mail.subject(),
                Some(format!("Bob, 150 of your Test Shop points expire by {expire_by}").as_str())
            );
            let expiring = app
                .admin_ok(
                    "query($id: ID!) { customer(id: $id) { loyalty { pointsExpiringWithin(days: 30) } } }",
                    json!({ "id": bob }),
                )
                .await;
            assert_eq!(expiring["customer"]["loyalty"]["pointsExpiringWithin"], 150);

            // Twenty days on, the 100-point lot has expired and the 50-point one is the
            // oldest: a new reminder by its key, held back by the 30-day cooldown…
            let later = today() + Duration::days(20);
            run_loyalty(&app, later).await;
            let later_noon = format!("{later}T12:00:00Z");
            let stats = produce(&app, &later_noon).await;
            assert_eq!(stats["queued"]["Points expiring"], 0, "cooldown: {stats}");
            // …and queued without one, naming the 50 points left.
            app.admin_ok(
                "mutation($id: ID!) { updateCampaign(id: $id, input: { settings: { cooldownDays: 0 } }) { id } }",
                json!({ "id": points_campaign }),
            )
            .await;
            let stats = produce(&app, &later_noon).await;
            assert_eq!(stats["queued"]["Points expiring"], 1, "{stats}");
            let before_later = sink.messages().len();
            send(&app, &later_noon).await;
            let received = received_since(&sink, before_later);
            assert_eq!(received.len(), 1);
            assert_eq!(
                parse(&received[0]).subject(),
                Some(format!("Bob, 50 of your Test Shop points expire by {}", later + Duration::days(30)).as_str())
            );
            assert_balances_match_the_ledger(&app).await;
        }
    })
    .await;
}
