//! `customers(filter: …)`: every filter field narrows the list to exactly the customers it
//! describes (and `totalCount` agrees), filters combine with AND, and filters on personal
//! data need `pii:read`.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code, error_codes, on_each_database};

const LIST: &str = "query($filter: CustomerFilter) {
  customers(first: 100, filter: $filter) { totalCount nodes { id } }
}";

const PROFILE: &str = "id name email phone gender birthDate country region city
  incomeBand occupation lifestyle needs acquisitionChannel locale timeZone interests
  marketingConsent createdAt";

/// Ids as numbers, sorted, for comparing sets of customers.
fn id_set<S: AsRef<str>>(ids: impl IntoIterator<Item = S>) -> Vec<i64> {
    let mut set: Vec<i64> = ids
        .into_iter()
        .map(|id| id.as_ref().parse().unwrap())
        .collect();
    set.sort_unstable();
    set
}

/// The ids of the customers the filter lets through; `totalCount` must agree.
async fn matching(app: &TestApp, filter: &Value) -> Vec<i64> {
    let data = app.admin_ok(LIST, json!({ "filter": filter })).await;
    let nodes = data["customers"]["nodes"].as_array().unwrap();
    assert_eq!(
        data["customers"]["totalCount"],
        nodes.len(),
        "totalCount disagrees with the list for {filter}: {data}"
    );
    id_set(nodes.iter().map(|n| n["id"].as_str().unwrap()))
}

/// Asserts that `filter` lets through exactly `expected`.
async fn expect<S: AsRef<str>>(
    app: &TestApp,
    filter: Value,
    expected: impl IntoIterator<Item = S>,
) {
    assert_eq!(
        matching(app, &filter).await,
        id_set(expected),
        "customers matching {filter}"
    );
}

/// Every customer with the fields of `PROFILE`.
async fn everyone(app: &TestApp) -> Vec<Value> {
    app.admin_ok(
        &format!("{{ customers(first: 100) {{ nodes {{ {PROFILE} }} }} }}"),
        json!({}),
    )
    .await["customers"]["nodes"]
        .as_array()
        .unwrap()
        .clone()
}

fn id_of(node: &Value) -> &str {
    node["id"].as_str().unwrap()
}

fn time(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

#[tokio::test]
async fn search_finds_a_case_insensitive_substring_of_name_email_or_phone() {
    on_each_database(|app| async move {
        let sofia = app
            .create_customer(json!({
                "name": "Sofia Martinez", "email": "sofia.m@example.com", "phone": "+14155550100",
            }))
            .await;
        let martin = app
            .create_customer(json!({
                "name": "Martin Lee", "email": "lee@shop.example", "phone": "+442071838750",
            }))
            .await;
        let ada = app
            .create_customer(json!({ "name": "Ada Byron", "email": "ada@martinez.example" }))
            .await;
        let zed = app
            .create_customer(json!({ "name": "Zed", "phone": "+14155550199" }))
            .await;
        let _nameless = app.create_customer(json!({ "country": "DE" })).await;

        // In a name (either case), in a name and in an email's domain.
        expect(&app, json!({ "search": "MARTIN" }), [&sofia, &martin, &ada]).await;
        expect(&app, json!({ "search": "martin" }), [&sofia, &martin, &ada]).await;
        expect(&app, json!({ "search": "tinez" }), [&sofia, &ada]).await;
        expect(&app, json!({ "search": "sOfIa" }), [&sofia]).await;
        // In an email, typed in upper case.
        expect(&app, json!({ "search": "SHOP.EXAMPLE" }), [&martin]).await;
        // In a phone number.
        expect(&app, json!({ "search": "4155550" }), [&sofia, &zed]).await;
        expect(&app, json!({ "search": "+4420" }), [&martin]).await;
        // Surrounding blanks do not count; nothing matches nothing.
        expect(&app, json!({ "search": "  zed " }), [&zed]).await;
        expect(&app, json!({ "search": "nobody" }), Vec::<String>::new()).await;
    })
    .await;
}

#[tokio::test]
async fn search_treats_percent_and_underscore_literally() {
    on_each_database(|app| async move {
        let percent = app
            .create_customer(json!({ "name": "100% Cotton Ltd" }))
            .await;
        let _digits = app
            .create_customer(json!({ "name": "1000 Cotton Ltd" }))
            .await;
        let underscore = app
            .create_customer(
                json!({ "name": "Snake_Case Shop", "email": "first_last@example.com" }),
            )
            .await;
        let _letter = app
            .create_customer(
                json!({ "name": "SnakeXCase Shop", "email": "firstxlast@example.com" }),
            )
            .await;
        let backslash = app.create_customer(json!({ "name": "Back\\slash" })).await;

        // As wildcards, `%` and `_` would match every customer here, and `100%` or `e_c`
        // would match the second and fourth customer as well.
        expect(&app, json!({ "search": "%" }), [&percent]).await;
        expect(&app, json!({ "search": "100%" }), [&percent]).await;
        expect(&app, json!({ "search": "0% c" }), [&percent]).await;
        expect(&app, json!({ "search": "_" }), [&underscore]).await;
        expect(&app, json!({ "search": "e_c" }), [&underscore]).await;
        expect(&app, json!({ "search": "t_l" }), [&underscore]).await;
        expect(&app, json!({ "search": "\\" }), [&backslash]).await;
        expect(&app, json!({ "search": "k\\s" }), [&backslash]).await;
    })
    .await;
}

#[tokio::test]
async fn search_ignores_case_in_names_beyond_ascii() {
    on_each_database(|app| async move {
        let emilie = app
            .create_customer(json!({ "name": "Émilie Ørsted" }))
            .await;
        let _other = app
            .create_customer(json!({ "name": "Emilie Orsted" }))
            .await;

        // Exactly as stored, and in either case.
        expect(&app, json!({ "search": "Émilie" }), [&emilie]).await;
        expect(&app, json!({ "search": "émilie" }), [&emilie]).await;
        expect(&app, json!({ "search": "ÉMILIE ØRSTED" }), [&emilie]).await;
    })
    .await;
}

#[tokio::test]
async fn ids_and_external_ids_select_exactly_those_customers() {
    on_each_database(|app| async move {
        let a = app
            .create_customer(json!({ "externalId": "shop-a", "name": "A" }))
            .await;
        let b = app
            .create_customer(json!({ "externalId": "shop-b", "name": "B" }))
            .await;
        let c = app
            .create_customer(json!({ "externalId": "shop-c", "name": "C" }))
            .await;
        let _d = app.create_customer(json!({ "name": "D" })).await;

        expect(&app, json!({ "ids": [a, c] }), [&a, &c]).await;
        expect(&app, json!({ "ids": [b] }), [&b]).await;
        expect(&app, json!({ "ids": ["987654321"] }), Vec::<String>::new()).await;
        expect(
            &app,
            json!({ "externalIds": ["shop-b", "shop-c", "shop-z"] }),
            [&b, &c],
        )
        .await;
        expect(
            &app,
            json!({ "externalIds": ["SHOP-A"] }),
            Vec::<String>::new(),
        )
        .await;
        expect(
            &app,
            json!({ "ids": [a, b], "externalIds": ["shop-b", "shop-c"] }),
            [&b],
        )
        .await;

        let body = app
            .admin(LIST, json!({ "filter": { "ids": ["not-a-number"] } }))
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    })
    .await;
}

#[tokio::test]
async fn email_matches_the_whole_address_ignoring_case() {
    on_each_database(|app| async move {
        let ana = app
            .create_customer(json!({ "name": "Ana", "email": "Ana@Example.com" }))
            .await;
        let _au = app
            .create_customer(json!({ "name": "Ana AU", "email": "ana@example.com.au" }))
            .await;
        let _banana = app
            .create_customer(json!({ "name": "Banana", "email": "banana@example.com" }))
            .await;
        let _none = app.create_customer(json!({ "name": "No email" })).await;

        expect(&app, json!({ "email": "ana@example.com" }), [&ana]).await;
        expect(&app, json!({ "email": "ANA@EXAMPLE.COM" }), [&ana]).await;
        expect(&app, json!({ "email": " ana@example.com " }), [&ana]).await;
        expect(
            &app,
            json!({ "email": "example.com" }),
            Vec::<String>::new(),
        )
        .await;
    })
    .await;
}

#[tokio::test]
async fn phone_matches_the_exact_number() {
    on_each_database(|app| async move {
        let us = app
            .create_customer(json!({ "name": "US", "phone": "+14155550100" }))
            .await;
        let _longer = app
            .create_customer(json!({ "name": "Longer", "phone": "+141555501001" }))
            .await;
        let cn = app
            .create_customer(json!({ "name": "CN", "phone": "+86 138-0013-8000" }))
            .await;
        let _none = app.create_customer(json!({ "name": "No phone" })).await;

        expect(&app, json!({ "phone": "+14155550100" }), [&us]).await;
        expect(&app, json!({ "phone": "+8613800138000" }), [&cn]).await;
        expect(&app, json!({ "phone": "+1415555" }), Vec::<String>::new()).await;
    })
    .await;
}

#[tokio::test]
async fn each_profile_list_filter_matches_any_of_its_values() {
    on_each_database(|app| async move {
        for input in [
            json!({
                "name": "A", "gender": "FEMALE", "country": "CN", "region": "Shanghai",
                "city": "Shanghai", "incomeBand": "50k-100k", "occupation": "designer",
                "lifestyle": "urban professional", "needs": "first home",
                "acquisitionChannel": "referral", "locale": "zh-CN", "timeZone": "Asia/Shanghai",
            }),
            json!({
                "name": "B", "gender": "MALE", "country": "US", "region": "California",
                "city": "San Francisco", "incomeBand": "100k-200k", "occupation": "engineer",
                "lifestyle": "outdoorsy", "needs": "upgrade", "acquisitionChannel": "search",
                "locale": "en-US", "timeZone": "America/Los_Angeles",
            }),
            json!({
                "name": "C", "gender": "OTHER", "country": "GB", "region": "England",
                "city": "London", "incomeBand": "50k-100k", "occupation": "designer",
                "lifestyle": "urban professional", "needs": "investment",
                "acquisitionChannel": "referral", "locale": "en-GB", "timeZone": "Europe/London",
            }),
            json!({ "name": "D" }),
            json!({
                "name": "E", "gender": "FEMALE", "country": "US", "region": "New York",
                "city": "New York", "incomeBand": "200k+", "occupation": "teacher",
                "lifestyle": "family", "needs": "first home", "acquisitionChannel": "social",
                "locale": "en-US", "timeZone": "America/New_York",
            }),
        ] {
            app.create_customer(input).await;
        }
        let people = everyone(&app).await;
        let by_name = |name: &str| people.iter().find(|p| p["name"] == name).unwrap().clone();
        let (a, b, d, e) = (by_name("A"), by_name("B"), by_name("D"), by_name("E"));

        for field in [
            "gender",
            "country",
            "region",
            "city",
            "incomeBand",
            "occupation",
            "lifestyle",
            "needs",
            "acquisitionChannel",
            "locale",
            "timeZone",
        ] {
            // One value, two values, a default (gender, locale, time zone) and an unknown one;
            // the expectation is every customer whose field shows one of the values.
            let mut cases = vec![
                vec![e[field].clone()],
                vec![a[field].clone(), b[field].clone()],
                vec![json!("Atlantis")],
            ];
            if !d[field].is_null() {
                cases.push(vec![d[field].clone()]);
            }
            for values in cases {
                if field == "gender" && values == [json!("Atlantis")] {
                    continue;
                }
                let expected: Vec<&str> = people
                    .iter()
                    .filter(|p| values.contains(&p[field]))
                    .map(id_of)
                    .collect();
                assert!(
                    expected.len() < people.len(),
                    "{field} {values:?} does not discriminate"
                );
                expect(&app, json!({ field: values }), expected).await;
            }
        }

        // Countries are codes in any case.
        let from = |countries: &[&str]| -> Vec<&str> {
            people
                .iter()
                .filter(|p| countries.iter().any(|c| p["country"] == *c))
                .map(id_of)
                .collect()
        };
        expect(
            &app,
            json!({ "country": ["cn", "gb"] }),
            from(&["CN", "GB"]),
        )
        .await;
        expect(&app, json!({ "country": ["us"] }), from(&["US"])).await;
    })
    .await;
}

#[tokio::test]
async fn interests_any_needs_one_tag_and_interests_all_needs_every_tag() {
    on_each_database(|app| async move {
        let both = app
            .create_customer(json!({ "name": "Both", "interests": ["Coffee", "travel"] }))
            .await;
        let coffee = app
            .create_customer(json!({ "name": "Coffee", "interests": ["coffee"] }))
            .await;
        let travel_yoga = app
            .create_customer(json!({ "name": "Travel", "interests": ["travel", "yoga"] }))
            .await;
        let _none = app.create_customer(json!({ "name": "None" })).await;

        expect(
            &app,
            json!({ "interestsAny": ["coffee", "yoga"] }),
            [&both, &coffee, &travel_yoga],
        )
        .await;
        expect(
            &app,
            json!({ "interestsAny": ["Travel"] }),
            [&both, &travel_yoga],
        )
        .await;
        expect(
            &app,
            json!({ "interestsAny": ["golf"] }),
            Vec::<String>::new(),
        )
        .await;
        expect(
            &app,
            json!({ "interestsAll": ["coffee", "travel"] }),
            [&both],
        )
        .await;
        expect(
            &app,
            json!({ "interestsAll": ["COFFEE"] }),
            [&both, &coffee],
        )
        .await;
        expect(
            &app,
            json!({ "interestsAll": ["coffee", "coffee"] }),
            [&both, &coffee],
        )
        .await;
        expect(
            &app,
            json!({ "interestsAll": ["coffee", "yoga"] }),
            Vec::<String>::new(),
        )
        .await;
        expect(
            &app,
            json!({ "interestsAll": ["travel"], "interestsAny": ["yoga"] }),
            [&travel_yoga],
        )
        .await;
    })
    .await;
}

#[tokio::test]
async fn consent_referrer_and_erasure_filters() {
    on_each_database(|app| async move {
        let referrer = app
            .create_customer(json!({ "name": "Referrer", "marketingConsent": true }))
            .await;
        let friend = app
            .create_customer(
                json!({ "name": "Friend", "referredBy": referrer, "marketingConsent": true }),
            )
            .await;
        let colleague = app
            .create_customer(json!({ "name": "Colleague", "referredBy": referrer }))
            .await;
        let friend_of_friend = app
            .create_customer(json!({ "name": "FoF", "referredBy": friend }))
            .await;
        let gone = app
            .create_customer(json!({ "name": "Gone", "marketingConsent": false }))
            .await;

        expect(
            &app,
            json!({ "marketingConsent": true }),
            [&referrer, &friend],
        )
        .await;
        expect(
            &app,
            json!({ "marketingConsent": false }),
            [&colleague, &friend_of_friend, &gone],
        )
        .await;
        expect(
            &app,
            json!({ "referredBy": referrer }),
            [&friend, &colleague],
        )
        .await;
        expect(&app, json!({ "referredBy": friend }), [&friend_of_friend]).await;
        expect(&app, json!({ "referredBy": gone }), Vec::<String>::new()).await;

        expect(&app, json!({ "erased": true }), Vec::<String>::new()).await;
        let erased = app
            .admin_ok(
                "mutation($id: ID!) { eraseCustomer(id: $id) { id erasedAt } }",
                json!({ "id": gone }),
            )
            .await;
        assert!(erased["eraseCustomer"]["erasedAt"].is_string());
        expect(&app, json!({ "erased": true }), [&gone]).await;
        expect(
            &app,
            json!({ "erased": false }),
            [&referrer, &friend, &colleague, &friend_of_friend],
        )
        .await;
        expect(
            &app,
            json!({}),
            [&referrer, &friend, &colleague, &friend_of_friend, &gone],
        )
        .await;
    })
    .await;
}

#[tokio::test]
async fn birth_date_bounds_are_inclusive() {
    on_each_database(|app| async move {
        let eighties = app
            .create_customer(json!({ "name": "1980", "birthDate": "1980-01-01" }))
            .await;
        let mid = app
            .create_customer(json!({ "name": "1985", "birthDate": "1985-06-15" }))
            .await;
        let nineties = app
            .create_customer(json!({ "name": "1990", "birthDate": "1990-12-31" }))
            .await;
        let _unknown = app.create_customer(json!({ "name": "Unknown" })).await;

        expect(
            &app,
            json!({ "birthDateFrom": "1985-06-15" }),
            [&mid, &nineties],
        )
        .await;
        expect(
            &app,
            json!({ "birthDateTo": "1985-06-15" }),
            [&eighties, &mid],
        )
        .await;
        expect(
            &app,
            json!({ "birthDateFrom": "1985-06-15", "birthDateTo": "1985-06-15" }),
            [&mid],
        )
        .await;
        expect(
            &app,
            json!({ "birthDateFrom": "1980-01-02", "birthDateTo": "1990-12-30" }),
            [&mid],
        )
        .await;
        expect(
            &app,
            json!({ "birthDateFrom": "1980-01-01", "birthDateTo": "1990-12-31" }),
            [&eighties, &mid, &nineties],
        )
        .await;
        expect(
            &app,
            json!({ "birthDateFrom": "1991-01-01" }),
            Vec::<String>::new(),
        )
        .await;
    })
    .await;
}

#[tokio::test]
async fn created_from_is_inclusive_and_created_to_exclusive() {
    on_each_database(|app| async move {
        for n in 1..=4 {
            app.create_customer(json!({ "name": format!("Customer {n}") }))
                .await;
        }
        let mut people: Vec<(DateTime<Utc>, String, String)> = everyone(&app)
            .await
            .iter()
            .map(|p| {
                let created = p["createdAt"].as_str().unwrap().to_owned();
                (time(&created), created, id_of(p).to_owned())
            })
            .collect();
        people.sort();
        let at = |i: usize| people[i].1.clone();
        let ids = |range: std::ops::Range<usize>| {
            people[range]
                .iter()
                .map(|p| p.2.clone())
                .collect::<Vec<_>>()
        };
        assert!(
            people.windows(2).all(|w| w[0].0 < w[1].0),
            "creation times are distinct: {people:?}"
        );

        expect(&app, json!({ "createdFrom": at(1) }), ids(1..4)).await;
        expect(&app, json!({ "createdTo": at(2) }), ids(0..2)).await;
        expect(
            &app,
            json!({ "createdFrom": at(1), "createdTo": at(3) }),
            ids(1..3),
        )
        .await;
        expect(
            &app,
            json!({ "createdFrom": at(2), "createdTo": at(2) }),
            ids(0..0),
        )
        .await;
        expect(
            &app,
            json!({ "createdTo": "2000-01-01T00:00:00Z" }),
            ids(0..0),
        )
        .await;
        expect(
            &app,
            json!({ "createdFrom": "2000-01-01T00:00:00Z" }),
            ids(0..4),
        )
        .await;
    })
    .await;
}

/// A customer and the orders recorded for them, for computing the aggregate filters.
struct Buyer {
    id: String,
    orders: Vec<(Decimal, DateTime<Utc>)>,
}

impl Buyer {
    fn count(&self) -> i64 {
        self.orders.len() as i64
    }
    fn total(&self) -> Decimal {
        self.orders.iter().map(|(amount, _)| amount).sum()
    }
    fn first(&self) -> Option<DateTime<Utc>> {
        self.orders.iter().map(|(_, at)| *at).min()
    }
    fn last(&self) -> Option<DateTime<Utc>> {
        self.orders.iter().map(|(_, at)| *at).max()
    }
}

fn money(text: &str) -> Decimal {
    text.parse().unwrap()
}

/// A filter and which customers it should let through.
type Case = (Value, fn(&Buyer) -> bool);

#[tokio::test]
async fn order_history_filters_match_the_recorded_orders() {
    const DEC_1: &str = "2024-12-01T10:00:00Z";
    const JAN_1: &str = "2025-01-01T00:00:00Z";
    const JAN_10: &str = "2025-01-10T10:00:00Z";
    const JAN_15: &str = "2025-01-15T10:00:00Z";
    const FEB_1: &str = "2025-02-01T10:00:00Z";
    const MAR_10_EARLY: &str = "2025-03-10T09:59:59Z";
    const MAR_10: &str = "2025-03-10T10:00:00Z";
    const MAR_10_LATE: &str = "2025-03-10T10:00:01Z";
    const APR_1: &str = "2025-04-01T10:00:00Z";
    on_each_database(|app| async move {
        // Bounds below sit exactly on these times and totals, to pin down inclusivity.
        let histories: [&[(&str, &str)]; 6] = [
            &[("10.00", JAN_10), ("19.33", MAR_10)],
            &[("29.33", FEB_1)],
            &[("5.00", DEC_1), ("5.00", JAN_15), ("100.00", APR_1)],
            &[],
            &[("0.50", MAR_10_EARLY)],
            // Just above 29.33 (USD has two places; the bound below has four).
            &[("29.34", JAN_10)],
        ];
        let mut buyers = Vec::new();
        let mut orders = Vec::new();
        for (index, history) in histories.iter().enumerate() {
            let id = app
                .create_customer(json!({ "name": format!("Buyer {index}") }))
                .await;
            for (n, (amount, at)) in history.iter().enumerate() {
                orders.push(json!({
                    "externalId": format!("hist-{index}-{n}"), "customerId": id,
                    "amount": amount, "currency": "USD", "orderedAt": at,
                }));
            }
            let orders = history
                .iter()
                .map(|(amount, at)| (money(amount), time(at)))
                .collect();
            buyers.push(Buyer { id, orders });
        }
        app.record_orders(Value::Array(orders)).await;

        let cases: &[Case] = &[
            (json!({ "hasOrders": true }), |b| b.count() > 0),
            (json!({ "hasOrders": false }), |b| b.count() == 0),
            (json!({ "minOrderCount": 2 }), |b| b.count() >= 2),
            (json!({ "maxOrderCount": 1 }), |b| b.count() <= 1),
            (json!({ "minOrderCount": 1, "maxOrderCount": 1 }), |b| {
                b.count() == 1
            }),
            (json!({ "minTotalSpent": "29.33" }), |b| {
                b.total() >= money("29.33")
            }),
            (json!({ "maxTotalSpent": "29.33" }), |b| {
                b.total() <= money("29.33")
            }),
            (json!({ "minTotalSpent": "29.3301" }), |b| {
                b.total() >= money("29.3301")
            }),
            (json!({ "maxTotalSpent": "0.5" }), |b| {
                b.total() <= money("0.5")
            }),
            (
                json!({ "minTotalSpent": "0.01", "maxTotalSpent": "29.330" }),
                |b| b.total() >= money("0.01") && b.total() <= money("29.33"),
            ),
            (json!({ "firstOrderFrom": JAN_10 }), |b| {
                b.first().is_some_and(|at| at >= time(JAN_10))
            }),
            (json!({ "firstOrderTo": JAN_10 }), |b| {
                b.first().is_some_and(|at| at < time(JAN_10))
            }),
            (
                json!({ "firstOrderFrom": JAN_1, "firstOrderTo": FEB_1 }),
                |b| {
                    b.first()
                        .is_some_and(|at| at >= time(JAN_1) && at < time(FEB_1))
                },
            ),
            (json!({ "lastOrderFrom": MAR_10 }), |b| {
                b.last().is_some_and(|at| at >= time(MAR_10))
            }),
            (json!({ "lastOrderTo": MAR_10 }), |b| {
                b.last().is_some_and(|at| at < time(MAR_10))
            }),
            (
                json!({ "lastOrderFrom": MAR_10_EARLY, "lastOrderTo": MAR_10_LATE }),
                |b| {
                    b.last()
                        .is_some_and(|at| at >= time(MAR_10_EARLY) && at < time(MAR_10_LATE))
                },
            ),
            // The same instant as MAR_10, written with another offset.
            (
                json!({ "lastOrderFrom": "2025-03-10T18:00:00+08:00" }),
                |b| b.last().is_some_and(|at| at >= time(MAR_10)),
            ),
        ];
        for (filter, lets_through) in cases {
            let expected: Vec<&str> = buyers
                .iter()
                .filter(|b| lets_through(b))
                .map(|b| b.id.as_str())
                .collect();
            assert!(
                !expected.is_empty() && expected.len() < buyers.len(),
                "{filter} does not discriminate in this data"
            );
            expect(&app, filter.clone(), expected).await;
        }

        let body = app
            .admin(LIST, json!({ "filter": { "minTotalSpent": "0.00001" } }))
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    })
    .await;
}

#[tokio::test]
async fn filters_combine_with_and() {
    on_each_database(|app| async move {
        // (name, country, interests, amount spent)
        let people: [(&str, &str, &[&str], Option<&str>); 7] = [
            ("Jane Smith", "US", &["golf", "wine"], Some("80.00")),
            ("John Smith", "US", &["golf"], Some("20.00")),
            ("Jim Smithers", "US", &["golf"], None),
            ("Jenny Smith", "GB", &["golf"], Some("90.00")),
            ("Jack Smith", "US", &["wine"], Some("75.00")),
            ("Jill Jones", "US", &["golf"], Some("60.00")),
            ("Joan Smith", "US", &["tennis", "golf"], Some("55.00")),
        ];
        let mut ids = Vec::new();
        let mut orders = Vec::new();
        for (n, (name, country, interests, spent)) in people.iter().enumerate() {
            let id = app
                .create_customer(json!({
                    "name": name, "country": country, "interests": interests,
                }))
                .await;
            if let Some(amount) = spent {
                orders.push(json!({
                    "externalId": format!("and-{n}"), "customerId": id, "amount": amount,
                    "currency": "USD", "orderedAt": "2025-01-02T10:00:00Z",
                }));
            }
            ids.push(id);
        }
        app.record_orders(Value::Array(orders)).await;

        let threshold: Decimal = "50".parse().unwrap();
        let expected: Vec<&String> = people
            .iter()
            .zip(&ids)
            .filter(|((name, country, interests, spent), _)| {
                name.to_lowercase().contains("smith")
                    && *country == "US"
                    && interests.contains(&"golf")
                    && spent.is_some_and(|s| s.parse::<Decimal>().unwrap() >= threshold)
            })
            .map(|(_, id)| id)
            .collect();
        assert_eq!(expected.len(), 2, "Jane and Joan Smith");
        let filter = json!({
            "search": "smith", "country": ["us"], "interestsAny": ["golf"],
            "hasOrders": true, "minTotalSpent": "50",
        });
        // Each filter on its own lets more through.
        for key in filter.as_object().unwrap().keys() {
            let alone = json!({ key.as_str(): filter[key] });
            assert!(
                matching(&app, &alone).await.len() > expected.len(),
                "{alone} alone"
            );
        }
        expect(&app, filter.clone(), expected.clone()).await;

        // A page of the filtered list still counts all of it.
        let data = app
            .admin_ok(
                "query($filter: CustomerFilter) { customers(first: 1, filter: $filter) {
                    totalCount pageInfo { hasNextPage } nodes { id } } }",
                json!({ "filter": filter }),
            )
            .await;
        assert_eq!(data["customers"]["totalCount"], 2);
        assert_eq!(data["customers"]["pageInfo"]["hasNextPage"], true);
        assert_eq!(data["customers"]["nodes"][0]["id"], expected[0].as_str());
    })
    .await;
}

#[tokio::test]
async fn filters_on_personal_data_need_pii_read() {
    on_each_database(|app| async move {
        let id = app
            .create_customer(json!({
                "name": "Li Wei", "email": "li.wei@example.test", "phone": "+8613800138001",
                "birthDate": "1979-09-09", "country": "CN",
            }))
            .await;
        let reader = app.key_with(&["customers:read"]).await;
        let pii = app.key_with(&["customers:read", "pii:read"]).await;
        for filter in [
            json!({ "email": "li.wei@example.test" }),
            json!({ "phone": "+8613800138001" }),
            json!({ "birthDateFrom": "1979-01-01" }),
            json!({ "birthDateTo": "1979-12-31" }),
            json!({ "country": ["CN"], "email": "someone@else.example" }),
        ] {
            let body = app
                .graphql(&reader, LIST, json!({ "filter": filter }))
                .await;
            assert_eq!(error_codes(&body), ["FORBIDDEN"], "{filter}: {body}");
            assert!(
                body["data"].is_null(),
                "nothing is answered for {filter}: {body}"
            );

            let body = app.graphql(&pii, LIST, json!({ "filter": filter })).await;
            assert!(body.get("errors").is_none(), "{filter}: {body}");
        }
        // Filters on the rest need no pii:read.
        let body = app
            .graphql(&reader, LIST, json!({ "filter": { "country": ["cn"] } }))
            .await;
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(body["data"]["customers"]["nodes"][0]["id"], id.as_str());
    })
    .await;
}
