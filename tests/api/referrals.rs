//! Referrals: every customer's code, signing up with a friend's code, the refusals (an
//! unknown code, oneself, a cycle), what each referrer's referrals brought, the advocates
//! ranking, the segment fields, the advocacy score reading the same numbers, erasure,
//! and the upgrade that gives existing customers their codes.

use std::collections::{HashMap, HashSet};

use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code, migrate_down_to_before, on_each_database};

const CODE_OF: &str = "query($id: ID!) { customer(id: $id) { referralCode referredBy { id } referrals { count firstOrderCount revenue } } }";
const CREATE: &str = "mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id referredBy { id } } }";
const UPDATE: &str = "mutation($id: ID!, $input: UpdateCustomerInput!) { updateCustomer(id: $id, input: $input) { id referredBy { id } } }";
const UPSERT: &str = "mutation($input: [UpsertCustomerInput!]!) { upsertCustomers(input: $input) { created customers { id referralCode referredBy { id } } } }";

async fn customer(app: &TestApp, id: &str) -> Value {
    app.admin_ok(CODE_OF, json!({ "id": id })).await["customer"].clone()
}

async fn code_of(app: &TestApp, id: &str) -> String {
    customer(app, id).await["referralCode"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The first problem's field of a refused write, checking that it was refused as input.
fn refused_field(body: &Value) -> String {
    assert_eq!(error_code(body), "BAD_USER_INPUT", "{body}");
    body["errors"][0]["extensions"]["problems"][0]["field"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn money(value: &Value) -> Decimal {
    value.as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn every_customer_gets_a_code_and_a_friend_signs_up_with_it() {
    on_each_database(|app| async move {
        let alice = app.create_customer(json!({ "externalId": "alice" })).await;
        let upserted = app
            .admin_ok(
                UPSERT,
                json!({ "input": [{ "externalId": "u1" }, { "externalId": "u2" }] }),
            )
            .await;
        let mut codes: Vec<String> = upserted["upsertCustomers"]["customers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["referralCode"].as_str().unwrap().to_owned())
            .collect();
        codes.push(code_of(&app, &alice).await);
        for code in &codes {
            assert_eq!(code.len(), 12, "{code}");
            assert!(code.chars().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()));
        }
        assert_eq!(codes.iter().collect::<HashSet<_>>().len(), 3, "distinct codes");

        // Typed as a person types it: lower case, dashes.
        let code = &codes[2];
        let typed = format!("{}-{}", &code[..6], &code[6..]).to_lowercase();
        let bob = app
            .admin_ok(CREATE, json!({ "input": { "externalId": "bob", "referralCode": typed } }))
            .await;
        assert_eq!(bob["createCustomer"]["referredBy"]["id"], alice);
        // In a bulk upsert too, and repeating the same referrer changes nothing.
        let again = app
            .admin_ok(
                UPSERT,
                json!({ "input": [{ "externalId": "bob", "referralCode": code }, { "externalId": "carol", "referralCode": code }] }),
            )
            .await;
        let rows = again["upsertCustomers"]["customers"].as_array().unwrap();
        assert_eq!(again["upsertCustomers"]["created"], 1);
        assert!(rows.iter().all(|c| c["referredBy"]["id"] == alice), "{again}");
        // A code that agrees with referredBy is fine.
        let dave = app
            .admin_ok(
                CREATE,
                json!({ "input": { "referralCode": code, "referredBy": alice } }),
            )
            .await;
        assert_eq!(dave["createCustomer"]["referredBy"]["id"], alice);
    })
    .await;
}

#[tokio::test]
async fn unknown_codes_oneself_and_cycles_are_refused_and_nothing_is_written() {
    on_each_database(|app| async move {
        let a = app.create_customer(json!({ "externalId": "a" })).await;
        let b = app.create_customer(json!({ "externalId": "b", "referredBy": a })).await;
        let c = app.create_customer(json!({ "externalId": "c", "referredBy": b })).await;
        let other = app.create_customer(json!({ "externalId": "other" })).await;
        let (code_a, code_c) = (code_of(&app, &a).await, code_of(&app, &c).await);

        let unknown = app
            .admin(CREATE, json!({ "input": { "externalId": "x", "referralCode": "ZZZZZZZZZZZZ" } }))
            .await;
        assert_eq!(refused_field(&unknown), "input.referralCode");
        let malformed = app
            .admin(CREATE, json!({ "input": { "externalId": "x", "referralCode": "not a code!" } }))
            .await;
        assert_eq!(refused_field(&malformed), "input.referralCode");
        let disagreeing = app
            .admin(
                CREATE,
                json!({ "input": { "externalId": "x", "referralCode": code_a, "referredBy": other } }),
            )
            .await;
        assert_eq!(refused_field(&disagreeing), "input.referralCode");
        let own = app
            .admin(UPDATE, json!({ "id": a, "input": { "referralCode": code_a } }))
            .await;
        assert_eq!(refused_field(&own), "input.referredBy");
        // a → b → c: c cannot become a's referrer, by code or by id.
        let by_code = app
            .admin(UPDATE, json!({ "id": a, "input": { "referralCode": code_c } }))
            .await;
        assert_eq!(refused_field(&by_code), "input.referredBy");
        let by_id = app
            .admin(UPDATE, json!({ "id": a, "input": { "referredBy": c } }))
            .await;
        assert_eq!(refused_field(&by_id), "input.referredBy");
        // Two rows of one upsert that close a cycle between them.
        app.create_customer(json!({ "externalId": "p" })).await;
        app.create_customer(json!({ "externalId": "q" })).await;
        let p = app
            .admin_ok("{ customerByExternalId(externalId: \"p\") { id referralCode } }", json!({}))
            .await["customerByExternalId"]
            .clone();
        let q = app
            .admin_ok("{ customerByExternalId(externalId: \"q\") { id referralCode } }", json!({}))
            .await["customerByExternalId"]
            .clone();
        let pair = app
            .admin(
                UPSERT,
                json!({ "input": [
                    { "externalId": "p", "referralCode": q["referralCode"] },
                    { "externalId": "q", "referralCode": p["referralCode"] },
                    { "externalId": "new-in-the-refused-batch" },
                ] }),
            )
            .await;
        assert_eq!(error_code(&pair), "BAD_USER_INPUT", "{pair}");

        // Nothing was written by any refused call.
        assert!(customer(&app, &a).await["referredBy"].is_null());
        for id in [p["id"].as_str().unwrap(), q["id"].as_str().unwrap()] {
            assert!(customer(&app, id).await["referredBy"].is_null());
        }
        let none = app
            .admin_ok("{ customers(first: 100) { totalCount } }", json!({}))
            .await;
        assert_eq!(none["customers"]["totalCount"], 6, "no customer x or new-in-the-refused-batch");
        // Moving the chain's end elsewhere is fine: c referred by other.
        let moved = app
            .admin_ok(UPDATE, json!({ "id": c, "input": { "referredBy": other } }))
            .await;
        assert_eq!(moved["updateCustomer"]["referredBy"]["id"], other);
    })
    .await;
}

/// Referrers with referred customers and orders; figures and the ranking checked against
/// sums over what the test recorded.
#[tokio::test]
async fn referral_figures_and_the_advocates_ranking_add_up() {
    on_each_database(|app| async move {
        // referrer → amounts of each referred customer's orders (empty: never ordered).
        let plan: [(&str, Vec<Vec<&str>>); 5] = [
            ("r0", vec![vec!["120.50", "30.00"], vec![], vec!["10.00"]]),
            ("r1", vec![vec!["400.00"]]),
            ("r2", vec![vec!["75.25"], vec!["75.25"]]),
            ("r3", vec![vec![]]),
            ("r4", vec![vec!["60.00"], vec!["50.50"], vec!["40.00"], vec!["0.99"]]),
        ];
        let mut expected: HashMap<String, (i64, i64, Decimal)> = HashMap::new();
        let mut ids = HashMap::new();
        let mut n = 0;
        for (name, referred) in &plan {
            let referrer = app.create_customer(json!({ "externalId": name })).await;
            ids.insert(referrer.clone(), name.to_string());
            let code = code_of(&app, &referrer).await;
            let mut figures = (0, 0, Decimal::ZERO);
            for amounts in referred {
                let friend = app
                    .create_customer(json!({ "externalId": format!("{name}-friend-{n}"), "referralCode": code }))
                    .await;
                let orders: Vec<Value> = amounts
                    .iter()
                    .map(|amount| {
                        n += 1;
                        json!({ "customerId": friend, "externalId": format!("o{n}"), "amount": amount,
                                "currency": "USD", "orderedAt": "2026-03-01T10:00:00Z" })
                    })
                    .collect();
                if !orders.is_empty() {
                    app.record_orders(json!(orders)).await;
                    figures.1 += 1;
                }
                n += 1;
                figures.0 += 1;
                figures.2 += amounts.iter().map(|a| a.parse::<Decimal>().unwrap()).sum::<Decimal>();
            }
            expected.insert(referrer, figures);
        }
        for (id, (count, ordered, revenue)) in &expected {
            let shown = customer(&app, id).await["referrals"].clone();
            assert_eq!(shown["count"], *count, "{}: {shown}", ids[id]);
            assert_eq!(shown["firstOrderCount"], *ordered, "{}: {shown}", ids[id]);
            assert_eq!(money(&shown["revenue"]), *revenue, "{}: {shown}", ids[id]);
        }
        // Someone who referred nobody shows zeros, in a list too (one loader call).
        let list = app
            .admin_ok("{ customers(first: 100) { nodes { id referrals { count revenue } } } }", json!({}))
            .await;
        for node in list["customers"]["nodes"].as_array().unwrap() {
            let id = node["id"].as_str().unwrap();
            let (count, _, revenue) = expected.get(id).copied().unwrap_or_default();
            assert_eq!(node["referrals"]["count"], count);
            assert_eq!(money(&node["referrals"]["revenue"]), revenue);
        }

        // The ranking: by revenue, then id; paged two at a time.
        let mut ranked: Vec<(&String, &(i64, i64, Decimal))> = expected.iter().collect();
        ranked.sort_by(|a, b| {
            b.1.2
                .cmp(&a.1.2)
                .then(a.0.parse::<i64>().unwrap().cmp(&b.0.parse::<i64>().unwrap()))
        });
        let mut seen = Vec::new();
        let mut after = Value::Null;
        loop {
            let page = app
                .admin_ok(
                    "query($after: String) { topAdvocates(first: 2, after: $after) { nodes { customer { id } referrals { count firstOrderCount revenue } } pageInfo { hasNextPage endCursor } } }",
                    json!({ "after": after }),
                )
                .await["topAdvocates"]
                .clone();
            for node in page["nodes"].as_array().unwrap() {
                seen.push((
                    node["customer"]["id"].as_str().unwrap().to_owned(),
                    node["referrals"]["count"].as_i64().unwrap(),
                    money(&node["referrals"]["revenue"]),
                ));
            }
            if page["pageInfo"]["hasNextPage"] != true {
                break;
            }
            after = page["pageInfo"]["endCursor"].clone();
        }
        let wanted: Vec<(String, i64, Decimal)> = ranked
            .iter()
            .map(|(id, (count, _, revenue))| ((*id).clone(), *count, *revenue))
            .collect();
        assert_eq!(seen, wanted);
    })
    .await;
}

/// REFERRALS and REFERRED_REVENUE select by the same figures, counting zero for a
/// customer who referred nobody.
#[tokio::test]
async fn segment_rules_select_by_referrals() {
    on_each_database(|app| async move {
        let star = app.create_customer(json!({ "externalId": "star" })).await;
        let one = app.create_customer(json!({ "externalId": "one" })).await;
        app.create_customer(json!({ "externalId": "nobody" })).await;
        let mut n = 0;
        for (referrer, amount) in [(&star, "100.00"), (&star, "50.00"), (&one, "20.00")] {
            n += 1;
            let friend = app
                .create_customer(json!({ "externalId": format!("friend{n}"), "referredBy": referrer }))
                .await;
            app.record_orders(json!([{ "customerId": friend, "externalId": format!("o{n}"), "amount": amount,
                                         "currency": "USD", "orderedAt": "2026-03-01T10:00:00Z" }]))
                .await;
        }
        let preview = |rule: Value| {
            let app = &app;
            async move {
                let body = app
                    .admin_ok(
                        "query($rule: SegmentRuleInput!) { previewSegment(rule: $rule) { size customers { externalId } } }",
                        json!({ "rule": rule }),
                    )
                    .await;
                let mut names: Vec<String> = body["previewSegment"]["customers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["externalId"].as_str().unwrap().to_owned())
                    .collect();
                names.sort();
                names
            }
        };
        let cond = |field: &str, op: &str, value: Value| json!({ "condition": { "field": field, "op": op, "value": value } });
        assert_eq!(preview(cond("REFERRALS", "GTE", json!(2))).await, ["star"]);
        assert_eq!(preview(cond("REFERRALS", "EQ", json!(1))).await, ["one"]);
        // Zero referrals: everyone but the two referrers.
        assert_eq!(
            preview(cond("REFERRALS", "LT", json!(1))).await,
            ["friend1", "friend2", "friend3", "nobody"]
        );
        assert_eq!(preview(cond("REFERRED_REVENUE", "GT", json!("100.00"))).await, ["star"]);
        assert_eq!(
            preview(cond("REFERRED_REVENUE", "LTE", json!("20.00"))).await,
            ["friend1", "friend2", "friend3", "nobody", "one"]
        );
    })
    .await;
}

/// The composite advocacy score counts the same referred customers and spend that
/// `Customer.referrals` shows: 100 · (1 − e^(−points/2)), points = customers referred +
/// their revenue in units of the average buying customer's revenue.
#[tokio::test]
async fn the_advocacy_score_reads_the_same_numbers() {
    on_each_database(|app| async move {
        let referrer = app.create_customer(json!({ "externalId": "referrer" })).await;
        let mut n = 0;
        let mut spent: Vec<Decimal> = Vec::new();
        for (name, amounts, referred) in [
            ("f1", vec!["80.00", "20.00"], true),
            ("f2", vec![], true),
            ("f3", vec!["35.00"], true),
            ("other", vec!["300.00"], false),
        ] {
            let input = if referred {
                json!({ "externalId": name, "referredBy": referrer })
            } else {
                json!({ "externalId": name })
            };
            let id = app.create_customer(input).await;
            let orders: Vec<Value> = amounts
                .iter()
                .map(|amount| {
                    n += 1;
                    json!({ "customerId": id, "externalId": format!("o{n}"), "amount": amount,
                            "currency": "USD", "orderedAt": "2026-02-01T10:00:00Z" })
                })
                .collect();
            if !orders.is_empty() {
                app.record_orders(json!(orders)).await;
                spent.push(amounts.iter().map(|a| a.parse::<Decimal>().unwrap()).sum());
            }
        }
        app.run_job_ok("value-scores").await;
        let shown = app
            .admin_ok(
                "query($id: ID!) { customer(id: $id) { referrals { count revenue } value { composite { advocacy } } } }",
                json!({ "id": referrer }),
            )
            .await["customer"]
            .clone();
        let count = shown["referrals"]["count"].as_i64().unwrap();
        let revenue: f64 = shown["referrals"]["revenue"].as_str().unwrap().parse().unwrap();
        assert_eq!((count, revenue), (3, 135.0));
        // The buyers: f1, f3 and other (the referrer never ordered).
        let mean: f64 = spent.iter().map(|d| d.to_string().parse::<f64>().unwrap()).sum::<f64>()
            / spent.len() as f64;
        let points = count as f64 + revenue / mean;
        let expected = 100.0 * (1.0 - (-points / 2.0).exp());
        let advocacy = shown["value"]["composite"]["advocacy"].as_f64().unwrap();
        assert!((advocacy - expected).abs() < 1e-6, "{advocacy} vs {expected}");
    })
    .await;
}

/// An erased customer's code stops working; the customers they referred still count.
#[tokio::test]
async fn an_erased_referrers_code_stops_working_and_their_referrals_still_count() {
    on_each_database(|app| async move {
        let referrer = app.create_customer(json!({ "externalId": "gone" })).await;
        let code = code_of(&app, &referrer).await;
        app.create_customer(json!({ "externalId": "friend", "referralCode": code }))
            .await;
        app.admin_ok(
            "mutation($id: ID!) { eraseCustomer(id: $id) { id } }",
            json!({ "id": referrer }),
        )
        .await;
        let erased = customer(&app, &referrer).await;
        assert!(erased["referralCode"].is_null(), "{erased}");
        assert_eq!(erased["referrals"]["count"], 1);
        let late = app
            .admin(
                CREATE,
                json!({ "input": { "externalId": "late", "referralCode": code } }),
            )
            .await;
        assert_eq!(refused_field(&late), "input.referralCode");
    })
    .await;
}

/// A database from before migration 21 upgrades with a distinct code for every
/// customer, and the codes work.
#[tokio::test]
async fn upgrading_gives_every_existing_customer_a_code() {
    on_each_database(|app| async move {
        if crate::distribution::is_citus(&app.db).await {
            return;
        }
        // More than one chunk of the backfill (a thousand), written in bulk.
        let rows: Vec<Value> = (0..1_205).map(|i| json!({ "externalId": format!("old{i}") })).collect();
        for chunk in rows.chunks(500) {
            app.admin_ok(UPSERT, json!({ "input": chunk })).await;
        }
        migrate_down_to_before(&app, "m20261201_000021_referral_codes").await;
        clientele::database::migrate(&app.db).await.unwrap();

        use sea_orm::ConnectionTrait;
        let backend = app.db.get_database_backend();
        let count = |sql: &str| {
            let db = app.db.clone();
            let sql = sql.to_owned();
            async move {
                db.query_one_raw(sea_orm::Statement::from_string(backend, sql))
                    .await
                    .unwrap()
                    .unwrap()
                    .try_get_by_index::<i64>(0)
                    .unwrap()
            }
        };
        assert_eq!(count("SELECT COUNT(*) FROM customers").await, 1_205);
        assert_eq!(count("SELECT COUNT(*) FROM customers WHERE referral_code IS NULL").await, 0);
        assert_eq!(count("SELECT COUNT(DISTINCT referral_code) FROM customers").await, 1_205);
        assert_eq!(
            count("SELECT COUNT(*) FROM customers c JOIN referral_codes r ON r.code = c.referral_code AND r.customer_id = c.id").await,
            1_205
        );
        let old = app
            .admin_ok("{ customerByExternalId(externalId: \"old7\") { id referralCode } }", json!({}))
            .await["customerByExternalId"]
            .clone();
        let friend = app
            .admin_ok(CREATE, json!({ "input": { "externalId": "new", "referralCode": old["referralCode"] } }))
            .await;
        assert_eq!(friend["createCustomer"]["referredBy"]["id"], old["id"]);
    })
    .await;
}

/// A referred customer's first order earns the referrer the programme's referral bonus
/// (200 points by default), once: later orders and a replay of the same orders add
/// nothing, and an erased referrer gets nothing.
#[tokio::test]
async fn a_friends_first_order_earns_the_referrer_the_bonus_once() {
    on_each_database(|app| async move {
        let bonus_of = |id: String| {
            let app = &app;
            async move {
                let body = app
                    .admin_ok(
                        "query($id: ID!) { customer(id: $id) { loyalty { ledger(first: 50) { nodes { kind points causeKey } } } } }",
                        json!({ "id": id }),
                    )
                    .await;
                body["customer"]["loyalty"]["ledger"]["nodes"]
                    .as_array()
                    .map(|nodes| {
                        nodes
                            .iter()
                            .filter(|n| n["kind"] == "BONUS")
                            .map(|n| (n["causeKey"].as_str().unwrap().to_owned(), n["points"].as_i64().unwrap()))
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default()
            }
        };
        let referrer = app.create_customer(json!({ "externalId": "referrer" })).await;
        let friend = app.create_customer(json!({ "externalId": "friend", "referredBy": referrer })).await;
        let order = |n: u32| json!({ "customerId": friend, "externalId": format!("f{n}"), "amount": "30.00",
                                    "currency": "USD", "orderedAt": "2026-03-01T10:00:00Z" });
        assert!(bonus_of(referrer.clone()).await.is_empty(), "nothing before an order");
        app.record_orders(json!([order(1), order(2)])).await;
        app.record_orders(json!([order(1), order(2)])).await;
        app.record_orders(json!([order(3)])).await;
        assert_eq!(bonus_of(referrer.clone()).await, vec![(format!("referral:{friend}"), 200)]);
        // The referred customer earns their own points, not a bonus.
        assert!(bonus_of(friend.clone()).await.is_empty());

        let gone = app.create_customer(json!({ "externalId": "gone" })).await;
        let late = app.create_customer(json!({ "externalId": "late", "referredBy": gone })).await;
        app.admin_ok("mutation($id: ID!) { eraseCustomer(id: $id) { id } }", json!({ "id": gone })).await;
        app.record_orders(json!([{ "customerId": late, "externalId": "l1", "amount": "30.00",
                                    "currency": "USD", "orderedAt": "2026-03-01T10:00:00Z" }]))
            .await;
        assert!(bonus_of(gone).await.is_empty(), "an erased referrer earns nothing");
    })
    .await;
}
