//! Cursor pagination of the customer list and of a customer's orders: every page walk
//! visits each row once in the promised order, in either direction and for every sort,
//! pages stay put while customers are added, and bad paging arguments are refused.

use std::cmp::Ordering;
use std::collections::HashSet;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code, error_codes, on_each_database};

const PAGE: &str =
    "query($first: Int, $after: String, $last: Int, $before: String, $orderBy: CustomerOrder) {
  customers(first: $first, after: $after, last: $last, before: $before, orderBy: $orderBy) {
    totalCount
    pageInfo { hasPreviousPage hasNextPage startCursor endCursor }
    edges { cursor node { id } }
    nodes { id }
  }
}";

/// More pages than any walk here needs; a walk that goes on longer is looping.
const MAX_PAGES: usize = 30;

/// One page of customers, already checked for internal consistency.
#[derive(Debug)]
struct Page {
    ids: Vec<String>,
    has_previous: bool,
    has_next: bool,
    start_cursor: Option<String>,
    end_cursor: Option<String>,
    total_count: i64,
}

/// Fetches one page of `customers` with these arguments (`first`, `after`, `last`,
/// `before`, `orderBy`), checking that `nodes` are the edges' nodes and that the start and
/// end cursors are those of the first and last edge.
async fn page(app: &TestApp, arguments: Value) -> Page {
    let data = app.admin_ok(PAGE, arguments).await;
    let connection = &data["customers"];
    let edges = connection["edges"].as_array().unwrap();
    let ids: Vec<String> = edges
        .iter()
        .map(|edge| edge["node"]["id"].as_str().unwrap().to_owned())
        .collect();
    let node_ids: Vec<String> = connection["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|node| node["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(node_ids, ids, "nodes differ from the edges' nodes: {data}");
    let info = &connection["pageInfo"];
    let start_cursor = info["startCursor"].as_str().map(str::to_owned);
    let end_cursor = info["endCursor"].as_str().map(str::to_owned);
    if let (Some(first), Some(last)) = (edges.first(), edges.last()) {
        assert_eq!(first["cursor"].as_str(), start_cursor.as_deref(), "{data}");
        assert_eq!(last["cursor"].as_str(), end_cursor.as_deref(), "{data}");
    }
    Page {
        ids,
        has_previous: info["hasPreviousPage"].as_bool().unwrap(),
        has_next: info["hasNextPage"].as_bool().unwrap(),
        start_cursor,
        end_cursor,
        total_count: connection["totalCount"].as_i64().unwrap(),
    }
}

/// Every page from the start, `size` at a time, following `endCursor`.
async fn walk_forward(app: &TestApp, order_by: Value, size: usize) -> Vec<Page> {
    let mut pages: Vec<Page> = Vec::new();
    loop {
        assert!(pages.len() < MAX_PAGES, "forward paging does not end");
        let after = pages.last().map(|p| p.end_cursor.clone());
        let page = page(
            app,
            json!({ "first": size, "after": after, "orderBy": order_by }),
        )
        .await;
        assert!(page.ids.len() <= size, "page larger than asked: {page:?}");
        let more = page.has_next;
        pages.push(page);
        if !more {
            return pages;
        }
    }
}

/// Every page from the end, `size` at a time, following `startCursor`; in the order
/// fetched (the last page of the list first).
async fn walk_backward(app: &TestApp, order_by: Value, size: usize) -> Vec<Page> {
    let mut pages: Vec<Page> = Vec::new();
    loop {
        assert!(pages.len() < MAX_PAGES, "backward paging does not end");
        let before = pages.last().map(|p| p.start_cursor.clone());
        let page = page(
            app,
            json!({ "last": size, "before": before, "orderBy": order_by }),
        )
        .await;
        assert!(page.ids.len() <= size, "page larger than asked: {page:?}");
        let more = page.has_previous;
        pages.push(page);
        if !more {
            return pages;
        }
    }
}

/// The ids of forward pages, in list order.
fn forward_sequence(pages: &[Page]) -> Vec<String> {
    pages.iter().flat_map(|p| p.ids.clone()).collect()
}

/// The ids of backward pages (fetched from the end), in list order.
fn backward_sequence(pages: &[Page]) -> Vec<String> {
    pages.iter().rev().flat_map(|p| p.ids.clone()).collect()
}

fn id_number(id: &str) -> i64 {
    id.parse().unwrap()
}

fn time(value: &Value) -> DateTime<Utc> {
    value.as_str().unwrap().parse().unwrap()
}

/// Creates `count` customers one after the other; their ids in creation order.
async fn create_customers(app: &TestApp, prefix: &str, count: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for n in 1..=count {
        ids.push(
            app.create_customer(json!({ "name": format!("{prefix} {n}") }))
                .await,
        );
    }
    ids
}

/// All customers in the default order (oldest first, ties by id), computed from their
/// `createdAt` rather than taken from the list.
async fn oldest_first(app: &TestApp) -> Vec<String> {
    let data = app
        .admin_ok(
            "{ customers(first: 100) { nodes { id createdAt } } }",
            json!({}),
        )
        .await;
    let mut rows: Vec<(DateTime<Utc>, i64, String)> = data["customers"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let id = n["id"].as_str().unwrap().to_owned();
            (time(&n["createdAt"]), id_number(&id), id)
        })
        .collect();
    rows.sort();
    rows.into_iter().map(|(_, _, id)| id).collect()
}

#[tokio::test]
async fn paging_forward_two_at_a_time_visits_every_customer_once_in_order() {
    on_each_database(|app| async move {
        let created = create_customers(&app, "Forward", 7).await;
        let expected = oldest_first(&app).await;
        assert_eq!(
            expected.iter().collect::<HashSet<_>>(),
            created.iter().collect::<HashSet<_>>()
        );

        let pages = walk_forward(&app, Value::Null, 2).await;
        assert_eq!(pages.len(), 4, "7 customers make 4 pages of 2: {pages:?}");
        for (index, page) in pages.iter().enumerate() {
            let last = index == pages.len() - 1;
            assert_eq!(page.total_count, 7, "totalCount counts every page");
            assert_eq!(page.ids.len(), if last { 1 } else { 2 }, "{page:?}");
            assert_eq!(page.has_next, !last, "hasNextPage on page {index}");
            assert_eq!(
                page.has_previous,
                index > 0,
                "hasPreviousPage on page {index}"
            );
        }
        assert_eq!(forward_sequence(&pages), expected);
    })
    .await;
}

#[tokio::test]
async fn paging_backward_from_the_end_visits_every_customer_once_in_the_same_order() {
    on_each_database(|app| async move {
        create_customers(&app, "Backward", 7).await;
        let expected = oldest_first(&app).await;

        let pages = walk_backward(&app, Value::Null, 2).await;
        assert_eq!(pages.len(), 4, "7 customers make 4 pages of 2: {pages:?}");
        assert_eq!(
            pages[0].ids,
            expected[5..],
            "the first page back is the list's end"
        );
        for (index, page) in pages.iter().enumerate() {
            let last = index == pages.len() - 1;
            assert_eq!(page.total_count, 7);
            assert_eq!(page.ids.len(), if last { 1 } else { 2 }, "{page:?}");
            assert_eq!(
                page.has_previous, !last,
                "hasPreviousPage on page {index} back"
            );
            assert_eq!(page.has_next, index > 0, "hasNextPage on page {index} back");
        }
        assert_eq!(backward_sequence(&pages), expected);
    })
    .await;
}

/// A sort key as the client sees it; `None` for a customer without one.
#[derive(Debug, PartialEq, PartialOrd)]
enum Key {
    Time(DateTime<Utc>),
    Name(String),
    Money(Decimal),
}

fn sort_key(node: &Value, field: &str) -> Option<Key> {
    match field {
        "CREATED_AT" => Some(Key::Time(time(&node["createdAt"]))),
        "LAST_ORDER_AT" => {
            (!node["lastOrderAt"].is_null()).then(|| Key::Time(time(&node["lastOrderAt"])))
        }
        "NAME" => node["name"].as_str().map(|name| Key::Name(name.to_owned())),
        "TOTAL_SPENT" => Some(Key::Money(
            node["totalSpent"].as_str().unwrap().parse().unwrap(),
        )),
        other => panic!("unknown sort field {other}"),
    }
}

/// The promised order: by key in the given direction with ties broken by id in the same
/// direction (so DESC reads ASC backwards), and customers without a key last either way.
fn expected_order(nodes: &[Value], field: &str, direction: &str) -> Vec<String> {
    let mut rows: Vec<(Option<Key>, i64, String)> = nodes
        .iter()
        .map(|n| {
            let id = n["id"].as_str().unwrap().to_owned();
            (sort_key(n, field), id_number(&id), id)
        })
        .collect();
    let descending = direction == "DESC";
    rows.sort_by(|(key_a, id_a, _), (key_b, id_b, _)| {
        let in_direction = |ordering: Ordering| {
            if descending {
                ordering.reverse()
            } else {
                ordering
            }
        };
        match (key_a, key_b) {
            (Some(a), Some(b)) => in_direction(a.partial_cmp(b).unwrap().then(id_a.cmp(id_b))),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => in_direction(id_a.cmp(id_b)),
        }
    });
    rows.into_iter().map(|(_, _, id)| id).collect()
}

/// (amount, orderedAt) of a customer's orders.
type Orders<'a> = &'a [(&'a str, &'a str)];

#[tokio::test]
async fn every_sort_pages_like_one_big_page_with_ties_by_id_and_missing_keys_last() {
    on_each_database(|app| async move {
        // Names with a tie and three customers without one; totals with four customers
        // at 30.00 and three at 0.00; two customers whose last order is at the same time
        // and three without orders.
        let people: [(Option<&str>, Orders); 9] = [
            (
                Some("Dora"),
                &[
                    ("10.00", "2025-01-05T10:00:00Z"),
                    ("20.00", "2025-03-01T10:00:00Z"),
                ],
            ),
            (Some("Ann"), &[("30.00", "2025-03-01T10:00:00Z")]),
            (
                None,
                &[
                    ("15.00", "2025-02-01T10:00:00Z"),
                    ("15.00", "2025-02-02T10:00:00Z"),
                ],
            ),
            (Some("Eli"), &[]),
            (Some("Ann"), &[("99.99", "2024-12-24T18:30:00Z")]),
            (None, &[]),
            (Some("Cyd"), &[("5.50", "2025-04-01T08:00:00Z")]),
            (None, &[("30.00", "2024-11-11T11:11:11Z")]),
            (Some("Bo"), &[]),
        ];
        let mut orders = Vec::new();
        for (index, (name, bought)) in people.iter().enumerate() {
            let id = app.create_customer(json!({ "name": name })).await;
            for (n, (amount, at)) in bought.iter().enumerate() {
                orders.push(json!({
                    "externalId": format!("sort-{index}-{n}"), "customerId": id,
                    "amount": amount, "currency": "USD", "orderedAt": at,
                }));
            }
        }
        app.record_orders(Value::Array(orders)).await;

        let everyone = app
            .admin_ok(
                "{ customers(first: 100) { nodes { id name createdAt lastOrderAt totalSpent } } }",
                json!({}),
            )
            .await["customers"]["nodes"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(everyone.len(), people.len());

        for field in ["CREATED_AT", "NAME", "LAST_ORDER_AT", "TOTAL_SPENT"] {
            for direction in ["ASC", "DESC"] {
                let order_by = json!({ "field": field, "direction": direction });
                let expected = expected_order(&everyone, field, direction);
                let big = page(&app, json!({ "first": 100, "orderBy": order_by })).await;
                assert_eq!(big.ids, expected, "one page sorted by {field} {direction}");
                assert!(!big.has_next && !big.has_previous);

                let forward = walk_forward(&app, order_by.clone(), 2).await;
                assert_eq!(
                    forward_sequence(&forward),
                    expected,
                    "pages of 2 forward by {field} {direction}"
                );
                let backward = walk_backward(&app, order_by.clone(), 3).await;
                assert_eq!(
                    backward_sequence(&backward),
                    expected,
                    "pages of 3 backward by {field} {direction}"
                );
            }
        }

        // Spelled out for the nullable sorts: the customers without a key are the last
        // three in both directions.
        let keyless = |field: &str| -> HashSet<String> {
            everyone
                .iter()
                .filter(|n| sort_key(n, field).is_none())
                .map(|n| n["id"].as_str().unwrap().to_owned())
                .collect()
        };
        for field in ["NAME", "LAST_ORDER_AT"] {
            assert_eq!(keyless(field).len(), 3);
            for direction in ["ASC", "DESC"] {
                let ids = page(
                    &app,
                    json!({ "first": 100, "orderBy": { "field": field, "direction": direction } }),
                )
                .await
                .ids;
                let tail: HashSet<String> = ids[ids.len() - 3..].iter().cloned().collect();
                assert_eq!(
                    tail,
                    keyless(field),
                    "{field} {direction} puts missing keys last"
                );
            }
        }
    })
    .await;
}

#[tokio::test]
async fn a_page_cursor_stays_valid_while_newer_customers_are_added() {
    on_each_database(|app| async move {
        let originals = create_customers(&app, "Early", 6).await;
        let expected_originals = oldest_first(&app).await;
        let first = page(&app, json!({ "first": 3 })).await;
        assert_eq!(first.ids, expected_originals[..3]);

        let newcomers = create_customers(&app, "Late", 2).await;
        let rest = {
            let mut ids = Vec::new();
            let mut after = first.end_cursor.clone();
            for _ in 0..MAX_PAGES {
                let next = page(&app, json!({ "first": 3, "after": after })).await;
                ids.extend(next.ids.clone());
                if !next.has_next {
                    break;
                }
                after = next.end_cursor;
            }
            ids
        };
        for id in &first.ids {
            assert!(
                !rest.contains(id),
                "customer {id} of page 1 came again: {rest:?}"
            );
        }
        // The rest of the originals, once each, then the newcomers (created later).
        let mut expected_rest = expected_originals[3..].to_vec();
        expected_rest.extend(newcomers.iter().cloned());
        assert_eq!(rest, expected_rest);
        assert_eq!(
            originals.len() + newcomers.len(),
            first.ids.len() + rest.len()
        );
    })
    .await;
}

#[tokio::test]
async fn a_total_spent_cursor_skips_nothing_and_repeats_nothing_when_customers_land_mid_list() {
    on_each_database(|app| async move {
        let spend = |id: &str, external: &str, amount: &str| {
            json!({ "externalId": external, "customerId": id, "amount": amount,
                    "currency": "USD", "orderedAt": "2025-01-02T10:00:00Z" })
        };
        let mut orders = Vec::new();
        for (n, amount) in ["10.00", "20.00", "30.00", "40.00", "50.00", "60.00"]
            .iter()
            .enumerate()
        {
            let id = app
                .create_customer(json!({ "name": format!("Spender {n}") }))
                .await;
            orders.push(spend(&id, &format!("mid-{n}"), amount));
        }
        app.record_orders(Value::Array(orders)).await;
        let order_by = json!({ "field": "TOTAL_SPENT", "direction": "ASC" });
        let query_totals = "{ customers(first: 100) { nodes { id totalSpent } } }";
        let totals_before = app.admin_ok(query_totals, json!({})).await["customers"]["nodes"]
            .as_array()
            .unwrap()
            .clone();
        let before = expected_order(&totals_before, "TOTAL_SPENT", "ASC");

        let first = page(&app, json!({ "first": 3, "orderBy": order_by })).await;
        assert_eq!(first.ids, before[..3]);

        // One customer lands before the cursor, one ties with the cursor's customer (and
        // has a larger id, so comes after it), one lands between later customers.
        let mut late = Vec::new();
        for (n, amount) in ["25.00", "30.00", "45.00"].iter().enumerate() {
            let id = app
                .create_customer(json!({ "name": format!("Late spender {n}") }))
                .await;
            late.push(spend(&id, &format!("late-{n}"), amount));
        }
        app.record_orders(Value::Array(late)).await;

        let mut rest = Vec::new();
        let mut after = first.end_cursor.clone();
        for _ in 0..MAX_PAGES {
            let next = page(
                &app,
                json!({ "first": 3, "after": after, "orderBy": order_by }),
            )
            .await;
            assert_eq!(next.total_count, 9);
            rest.extend(next.ids.clone());
            if !next.has_next {
                break;
            }
            after = next.end_cursor;
        }
        for id in &first.ids {
            assert!(
                !rest.contains(id),
                "customer {id} of page 1 came again: {rest:?}"
            );
        }
        for id in &before[3..] {
            assert_eq!(
                rest.iter().filter(|r| *r == id).count(),
                1,
                "customer {id} skipped or repeated: {rest:?}"
            );
        }
        // Exactly the customers that now sort after page 1's last one, in order.
        let totals_now = app.admin_ok(query_totals, json!({})).await["customers"]["nodes"]
            .as_array()
            .unwrap()
            .clone();
        let now = expected_order(&totals_now, "TOTAL_SPENT", "ASC");
        let cursor_position = now
            .iter()
            .position(|id| id == first.ids.last().unwrap())
            .unwrap();
        assert_eq!(rest, now[cursor_position + 1..]);
        assert_eq!(rest.len(), 5, "40, the new 30, 45, 50 and 60: {rest:?}");
    })
    .await;
}

#[tokio::test]
async fn bad_paging_arguments_are_bad_user_input() {
    on_each_database(|app| async move {
        create_customers(&app, "Paged", 3).await;
        let by_created = page(&app, json!({ "first": 1 })).await;
        let cursor = by_created.end_cursor.clone().unwrap();

        let refused = |arguments: Value, field: &'static str| {
            let app = &app;
            async move {
                let body = app.admin(PAGE, arguments.clone()).await;
                assert_eq!(
                    error_codes(&body),
                    ["BAD_USER_INPUT"],
                    "one error for {arguments}: {body}"
                );
                assert_eq!(
                    body["errors"][0]["extensions"]["field"], field,
                    "{arguments}: {body}"
                );
                assert!(
                    body["data"].is_null() || body["data"]["customers"].is_null(),
                    "{body}"
                );
            }
        };
        // A cursor from a list in another order.
        refused(
            json!({ "first": 1, "after": cursor, "orderBy": { "field": "TOTAL_SPENT" } }),
            "after",
        )
        .await;
        refused(
            json!({ "first": 1, "after": cursor, "orderBy": { "field": "NAME" } }),
            "after",
        )
        .await;
        // Garbage and a damaged cursor.
        refused(json!({ "first": 1, "after": "not a cursor" }), "after").await;
        refused(
            json!({ "first": 1, "after": &cursor[..cursor.len() / 2] }),
            "after",
        )
        .await;
        refused(json!({ "last": 1, "before": "bm90IGEgY3Vyc29y" }), "before").await;
        // Page sizes outside 0..=100, either way.
        refused(json!({ "first": 101 }), "first").await;
        refused(json!({ "first": -1 }), "first").await;
        refused(json!({ "last": 101 }), "last").await;
        refused(json!({ "last": -1 }), "last").await;
        // Both directions at once.
        refused(json!({ "first": 1, "last": 1 }), "first").await;
        refused(json!({ "first": 1, "before": cursor }), "first").await;
        refused(json!({ "last": 1, "after": cursor }), "first").await;

        // The bounds themselves are fine.
        assert_eq!(page(&app, json!({ "first": 100 })).await.ids.len(), 3);
        assert_eq!(page(&app, json!({ "last": 100 })).await.ids.len(), 3);
        assert!(page(&app, json!({ "first": 0 })).await.ids.is_empty());
    })
    .await;
}

#[tokio::test]
async fn a_before_cursor_from_another_order_is_refused_naming_before() {
    on_each_database(|app| async move {
        create_customers(&app, "Paged", 3).await;
        let cursor = page(&app, json!({ "last": 1 })).await.start_cursor.unwrap();
        let body = app
            .admin(
                PAGE,
                json!({ "last": 1, "before": cursor, "orderBy": { "field": "TOTAL_SPENT" } }),
            )
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], "before", "{body}");
    })
    .await;
}

#[tokio::test]
async fn sorting_by_name_needs_pii_read() {
    on_each_database(|app| async move {
        create_customers(&app, "Named", 2).await;
        let query = "{ customers(orderBy: { field: NAME }) { totalCount nodes { id } } }";
        let reader = app.key_with(&["customers:read"]).await;
        let body = app.graphql(&reader, query, json!({})).await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
        assert!(
            body["data"].is_null(),
            "nothing in name order leaks: {body}"
        );

        let pii = app.key_with(&["customers:read", "pii:read"]).await;
        let body = app.graphql(&pii, query, json!({})).await;
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(body["data"]["customers"]["totalCount"], 2);
    })
    .await;
}

const ORDERS_PAGE: &str = "query($id: ID!, $first: Int, $after: String) {
  customer(id: $id) {
    orders(first: $first, after: $after) {
      pageInfo { hasPreviousPage hasNextPage startCursor endCursor }
      edges { cursor node { id externalId customerId orderedAt } }
      nodes { id }
    }
  }
}";

fn order(customer: &str, external_id: &str, ordered_at: &str) -> Value {
    json!({ "externalId": external_id, "customerId": customer, "amount": "12.50",
            "currency": "USD", "orderedAt": ordered_at })
}

#[tokio::test]
async fn a_customers_orders_page_newest_first_and_paging_reaches_them_all() {
    on_each_database(|app| async move {
        let id = app.create_customer(json!({ "name": "Olga" })).await;
        let other = app.create_customer(json!({ "name": "Pia" })).await;
        // Recorded out of order; two at the same moment, which page 1 and 2 split.
        app.record_orders(json!([
            order(&id, "o-feb", "2025-02-01T09:00:00Z"),
            order(&id, "o-apr", "2025-04-01T09:00:00Z"),
            order(&id, "o-mar-a", "2025-03-01T09:00:00Z"),
            order(&other, "p-may", "2025-05-01T09:00:00Z"),
            order(&id, "o-jan", "2025-01-01T09:00:00Z"),
            order(&id, "o-mar-b", "2025-03-01T09:00:00Z"),
        ]))
        .await;

        let mut seen: Vec<(DateTime<Utc>, String)> = Vec::new();
        let mut after: Option<String> = None;
        let mut pages = 0;
        loop {
            assert!(pages < MAX_PAGES, "order paging does not end");
            let data = app
                .admin_ok(ORDERS_PAGE, json!({ "id": id, "first": 2, "after": after }))
                .await;
            let connection = &data["customer"]["orders"];
            let edges = connection["edges"].as_array().unwrap();
            let node_ids: Vec<&Value> = edges.iter().map(|e| &e["node"]["id"]).collect();
            let nodes: Vec<&Value> = connection["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| &n["id"])
                .collect();
            assert_eq!(nodes, node_ids, "{data}");
            let info = &connection["pageInfo"];
            assert_eq!(info["hasPreviousPage"], pages > 0, "{data}");
            for edge in edges {
                assert_eq!(
                    edge["node"]["customerId"],
                    id.as_str(),
                    "another customer's order: {data}"
                );
                seen.push((
                    time(&edge["node"]["orderedAt"]),
                    edge["node"]["externalId"].as_str().unwrap().to_owned(),
                ));
            }
            pages += 1;
            if !info["hasNextPage"].as_bool().unwrap() {
                break;
            }
            assert_eq!(edges.len(), 2, "only the last page is short: {data}");
            after = info["endCursor"].as_str().map(str::to_owned);
        }
        assert_eq!(pages, 3, "five orders make three pages of two");
        let mut external_ids: Vec<&str> = seen.iter().map(|(_, e)| e.as_str()).collect();
        assert!(
            seen.windows(2).all(|pair| pair[0].0 >= pair[1].0),
            "not newest first: {seen:?}"
        );
        assert_eq!(seen[0].1, "o-apr");
        assert_eq!(seen[4].1, "o-jan");
        external_ids.sort_unstable();
        assert_eq!(
            external_ids,
            ["o-apr", "o-feb", "o-jan", "o-mar-a", "o-mar-b"],
            "each order once"
        );
    })
    .await;
}

#[tokio::test]
async fn each_customer_in_a_page_gets_its_own_orders() {
    on_each_database(|app| async move {
        // Order counts per customer, and order times that interleave across customers.
        let counts = [3, 0, 1, 4, 2, 2];
        let mut ids = Vec::new();
        let mut orders = Vec::new();
        let mut own: Vec<Vec<(String, String)>> = Vec::new();
        for (c, count) in counts.iter().enumerate() {
            let id = app
                .create_customer(json!({ "name": format!("Buyer {c}") }))
                .await;
            let mut mine = Vec::new();
            for n in 0..*count {
                let at = format!("2025-0{}-{:02}T12:00:00Z", n + 1, 10 + c);
                let external = format!("buyer-{c}-{n}");
                orders.push(order(&id, &external, &at));
                mine.push((at, external));
            }
            // Newest first.
            mine.sort_by(|a, b| b.0.cmp(&a.0));
            own.push(mine);
            ids.push(id);
        }
        app.record_orders(Value::Array(orders)).await;

        for size in [2_usize, 10] {
            let data = app
                .admin_ok(
                    "query($size: Int) { customers(first: 20) { nodes { id orderCount
                        orders(first: $size) {
                          pageInfo { hasNextPage } nodes { customerId externalId } } } } }",
                    json!({ "size": size }),
                )
                .await;
            let nodes = data["customers"]["nodes"].as_array().unwrap();
            assert_eq!(nodes.len(), ids.len());
            for node in nodes {
                let index = ids.iter().position(|id| node["id"] == id.as_str()).unwrap();
                let orders = node["orders"]["nodes"].as_array().unwrap();
                for o in orders {
                    assert_eq!(
                        o["customerId"], node["id"],
                        "an order of another customer: {data}"
                    );
                }
                let got: Vec<&str> = orders
                    .iter()
                    .map(|o| o["externalId"].as_str().unwrap())
                    .collect();
                let expected: Vec<&str> = own[index]
                    .iter()
                    .take(size)
                    .map(|(_, e)| e.as_str())
                    .collect();
                assert_eq!(
                    got, expected,
                    "orders of customer {index} in pages of {size}"
                );
                assert_eq!(
                    node["orders"]["pageInfo"]["hasNextPage"],
                    own[index].len() > size
                );
                assert_eq!(node["orderCount"], own[index].len());
            }
        }
    })
    .await;
}

#[tokio::test]
async fn bad_order_paging_arguments_are_bad_user_input() {
    on_each_database(|app| async move {
        let id = app.create_customer(json!({ "name": "Quinn" })).await;
        app.record_orders(json!([order(&id, "q-1", "2025-01-01T09:00:00Z")]))
            .await;
        let customers_cursor = page(&app, json!({ "first": 1 })).await.end_cursor.unwrap();
        for (arguments, field) in [
            (json!({ "id": id, "first": 101 }), "first"),
            (json!({ "id": id, "first": -1 }), "first"),
            (json!({ "id": id, "first": 1, "after": "garbage" }), "after"),
            // A cursor of the customer list is no cursor of orders.
            (
                json!({ "id": id, "first": 1, "after": customers_cursor }),
                "after",
            ),
        ] {
            let body = app.admin(ORDERS_PAGE, arguments.clone()).await;
            assert_eq!(error_code(&body), "BAD_USER_INPUT", "{arguments}: {body}");
            assert_eq!(
                body["errors"][0]["extensions"]["field"], field,
                "{arguments}: {body}"
            );
        }

        // And an orders cursor is no cursor of the customer list.
        let data = app
            .admin_ok(ORDERS_PAGE, json!({ "id": id, "first": 1 }))
            .await;
        let orders_cursor = data["customer"]["orders"]["pageInfo"]["endCursor"]
            .as_str()
            .unwrap();
        let body = app
            .admin(PAGE, json!({ "first": 1, "after": orders_cursor }))
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    })
    .await;
}

/// Every list with every relation costs the same number of statements whatever the page
/// holds: a base with `n` customers, segments and campaigns is read with one document
/// (customers with their segments and emails, segments with their campaigns, campaigns with their
/// segment and stats, playbooks with their campaigns), once with 2 of each and once
/// with 12, within the same fixed budget of statements.
#[tokio::test]
async fn lists_with_every_relation_cost_statements_independent_of_the_page_size() {
    on_each_database(|app| async move {
        let query = "{ customers(first: 100) { nodes { id segments { id name } emails(first: 3) { nodes { id } pageInfo { hasNextPage } } } } \
                     segments(first: 100) { nodes { id campaigns { id } } } \
                     campaigns(first: 100) { nodes { id segment { id } stats { queued sent failed suppressed unsubscribed converted } } } \
                     lifecyclePlaybooks { stage campaigns { id } } }";
        let mut spent = Vec::new();
        let mut made = 0;
        for n in [2, 12] {
            while made < n {
                let customer = app.create_customer(json!({ "externalId": format!("b{made}") })).await;
                let segment = app.static_segment(&format!("s{made}"), &[&customer]).await;
                app.admin_ok(
                    "mutation($input: CreateCampaignInput!) { createCampaign(input: $input) { id } }",
                    json!({ "input": { "name": format!("c{made}"), "kind": "SEGMENT_ENTRY",
                                        "target": { "segmentId": segment } } }),
                )
                .await;
                made += 1;
            }
            let before = app.queries.load(std::sync::atomic::Ordering::SeqCst);
            let data = app.admin_ok(query, json!({})).await;
            spent.push(app.queries.load(std::sync::atomic::Ordering::SeqCst) - before);
            let customers = data["customers"]["nodes"].as_array().unwrap();
            assert_eq!(customers.len(), n);
            assert!(customers.iter().all(|c| c["segments"].as_array().unwrap().len() == 1), "{data}");
            let campaigns = data["campaigns"]["nodes"].as_array().unwrap();
            assert!(
                campaigns.iter().filter(|c| !c["segment"].is_null()).count() == n,
                "{data}"
            );
            let segments = data["segments"]["nodes"].as_array().unwrap();
            assert!(segments.iter().all(|s| s["campaigns"].as_array().unwrap().len() == 1), "{data}");
        }
        // Key lookup, customers, memberships, their segments, their emails, segments,
        // campaigns (shared by segments and playbooks unless batched apart), campaigns
        // page, their segments, their stats, playbooks: at most 13 whatever the page holds
        // (one per row would be over 60 for 12 of each).
        assert!(spent.iter().all(|n| *n <= 13), "statements for 2 and for 12 of each: {spent:?}");
    })
    .await;
}

/// The documents of [`the_other_lists_cost_statements_independent_of_the_page_size`], each
/// with every relation and nested page its list can select, and the statements each may
/// cost whatever the page holds (one statement per row would be over 12). The key lookup
/// is counted on SQLite (PostgreSQL serves keys from a cache).
const LIST_BUDGETS: [(&str, &str, u64); 6] = [
    // Key lookup, customers, referrers, value scores, their model, stages, stage
    // histories, orders, interactions, feedback, emails.
    (
        "customers",
        "{ customers(first: 100) { nodes { id referredBy { id } value { rfmGroup valueTier expectedPurchases(days: 30) } \
           lifecycle { stage history(first: 3) { nodes { toStage } } } orders(first: 3) { nodes { id } } \
           interactions(first: 3) { nodes { id } } feedback(first: 3) { nodes { id } } emails(first: 3) { nodes { id } } } } }",
        11,
    ),
    // Key lookup, segments, their members, the members' counts, the customers (members
    // and those who changed, in one batch or two), their memberships and segments, the
    // changes.
    (
        "segments",
        "{ segments(first: 100) { nodes { id members(first: 3) { totalCount nodes { id segments { id } } } \
           changes(first: 3) { nodes { kind customer { id } } } } } }",
        9,
    ),
    // Key lookup, campaigns, their emails.
    (
        "campaigns",
        "{ campaigns(first: 100) { nodes { id emails(first: 3) { nodes { id } } } } }",
        3,
    ),
    // Key lookup, emails.
    (
        "emails",
        "{ emails(first: 100) { nodes { id customerId campaignId } } }",
        2,
    ),
    // Key lookup, the silent list, its customers, their memberships and segments, their
    // stages.
    (
        "silentCustomers",
        "{ silentCustomers(first: 100) { nodes { customer { id segments { id } lifecycle { stage } } valueTier } } }",
        6,
    ),
    // Key lookup, runs, saved schedules, the jobs' last runs.
    (
        "jobs",
        "{ jobRuns(first: 100) { nodes { id name status } } jobs { name lastRun { id } } }",
        4,
    ),
];

/// Every other list with its relations and nested pages — a customer's emails, orders,
/// interactions, feedback and stage history; a segment's members and changes; a
/// campaign's emails; the outbox; silent customers; job runs and each job's last run —
/// costs the same fixed number of statements with 2 rows of everything as with 12.
#[tokio::test]
async fn the_other_lists_cost_statements_independent_of_the_page_size() {
    on_each_database(|app| async move {
        let referrer = app.create_customer(json!({ "externalId": "referrer" })).await;
        // Quiet for 120 days: SILENT once the lifecycle job has run.
        let ordered_at = (Utc::now() - chrono::Duration::days(120)).format("%Y-%m-%dT12:00:00Z").to_string();
        let mut made = 0;
        for n in [2, 12] {
            while made < n {
                let customer = app
                    .create_customer(json!({ "externalId": format!("l{made}"), "referredBy": referrer }))
                    .await;
                app.record_orders(json!([{ "externalId": format!("l{made}-1"), "customerId": customer,
                    "amount": format!("{}.00", 10 + made), "currency": "USD", "orderedAt": ordered_at }])).await;
                app.admin_ok(
                    "mutation($id: ID!) { recordInteraction(input: { customerId: $id, channel: EMAIL, direction: INBOUND }) { id } \
                       recordFeedback(input: { customerId: $id, kind: NPS, score: 9 }) { id } }",
                    json!({ "id": customer }),
                )
                .await;
                let segment = app.static_segment(&format!("l{made}"), &[&customer]).await;
                let campaign = app
                    .admin_ok(
                        "mutation($input: CreateCampaignInput!) { createCampaign(input: $input) { id } }",
                        json!({ "input": { "name": format!("l{made}"), "kind": "SEGMENT_ENTRY",
                                            "target": { "segmentId": segment } } }),
                    )
                    .await["createCampaign"]["id"]
                    .clone();
                let (key, kind) = (format!("budget:{made}"), entity::EmailKind::SegmentEntry);
                app.sent_email(&key, kind, &customer, campaign.as_str()).await;
                // One more job run per row, too.
                app.run_job_ok("segments").await;
                made += 1;
            }
            app.run_job_ok("value-scores").await;
            app.run_job_ok("lifecycle").await;
            for (list, query, budget) in LIST_BUDGETS {
                let before = app.queries.load(std::sync::atomic::Ordering::SeqCst);
                let data = app.admin_ok(query, json!({})).await;
                let spent = app.queries.load(std::sync::atomic::Ordering::SeqCst) - before;
                assert!(spent <= budget, "{list} with {n} of everything: {spent} statements");
                let rows = data[if list == "jobs" { "jobRuns" } else { list }]["nodes"].as_array().unwrap();
                assert!(rows.len() >= n, "{list}: {data}");
            }
            // Every nested page and relation was there to be read.
            let data = app.admin_ok(LIST_BUDGETS[1].1, json!({})).await;
            for segment in data["segments"]["nodes"].as_array().unwrap() {
                assert_eq!(segment["members"]["totalCount"], 1, "{segment}");
                assert_eq!(segment["members"]["nodes"][0]["segments"][0]["id"], segment["id"], "{segment}");
                assert_eq!(segment["changes"]["nodes"][0]["kind"], "ENTERED", "{segment}");
                assert_eq!(segment["changes"]["nodes"][0]["customer"]["id"], segment["members"]["nodes"][0]["id"], "{segment}");
            }
            let data = app.admin_ok(LIST_BUDGETS[2].1, json!({})).await;
            let with_emails = data["campaigns"]["nodes"].as_array().unwrap().iter()
                .filter(|c| c["emails"]["nodes"].as_array().unwrap().len() == 1).count();
            assert_eq!(with_emails, n, "{data}");
            let data = app.admin_ok(LIST_BUDGETS[0].1, json!({})).await;
            for customer in data["customers"]["nodes"].as_array().unwrap().iter().filter(|c| c["referredBy"].is_object()) {
                assert_eq!(customer["referredBy"]["id"], referrer.as_str());
                for nested in ["orders", "interactions", "feedback", "emails"] {
                    assert_eq!(customer[nested]["nodes"].as_array().unwrap().len(), 1, "{nested}: {customer}");
                }
                assert_eq!(customer["lifecycle"]["stage"], "SILENT", "{customer}");
                assert!(!customer["lifecycle"]["history"]["nodes"].as_array().unwrap().is_empty(), "{customer}");
                assert!(customer["value"]["valueTier"].is_string(), "{customer}");
            }
            let data = app.admin_ok(LIST_BUDGETS[5].1, json!({})).await;
            let last_runs: Vec<&Value> = data["jobs"].as_array().unwrap().iter().map(|j| &j["lastRun"]["id"]).collect();
            let newest = |name: &str| data["jobRuns"]["nodes"].as_array().unwrap().iter()
                .find(|r| r["name"] == name).map_or(Value::Null, |r| r["id"].clone());
            let expected: Vec<Value> = data["jobs"].as_array().unwrap().iter()
                .map(|j| newest(j["name"].as_str().unwrap())).collect();
            assert_eq!(last_runs, expected.iter().collect::<Vec<_>>(), "{data}");
        }
    })
    .await;
}

/// `Customer.emails` pages each customer's own emails, newest first, when a whole list of
/// customers asks at once (one loader statement per page shape), and its cursors walk on.
#[tokio::test]
async fn each_customer_in_a_list_pages_its_own_emails_newest_first() {
    on_each_database(|app| async move {
        let mut expected: Vec<(String, Vec<String>)> = Vec::new();
        for (c, count) in [3_usize, 0, 5].into_iter().enumerate() {
            let customer = app.create_customer(json!({ "externalId": format!("mail-{c}") })).await;
            let mut ids = Vec::new();
            for k in 0..count {
                let key = format!("test:{c}:{k}");
                ids.push(app.sent_email(&key, entity::EmailKind::Birthday, &customer, None).await);
            }
            ids.reverse();
            expected.push((customer.clone(), ids));
        }
        let query = "query($after: String) { customers(first: 10) { nodes { id emails(first: 2, after: $after) { nodes { id } pageInfo { hasNextPage endCursor } } } } }";
        let data = app.admin_ok(query, json!({})).await;
        let nodes = data["customers"]["nodes"].as_array().unwrap();
        for (customer, ids) in &expected {
            let node = nodes.iter().find(|n| n["id"] == customer.as_str()).unwrap();
            let got: Vec<&str> = node["emails"]["nodes"].as_array().unwrap().iter()
                .map(|e| e["id"].as_str().unwrap()).collect();
            let want: Vec<&str> = ids.iter().take(2).map(String::as_str).collect();
            assert_eq!(got, want, "{customer}");
            assert_eq!(node["emails"]["pageInfo"]["hasNextPage"], ids.len() > 2);
        }
        // The third customer's second page, through the list.
        let (third, ids) = &expected[2];
        let cursor = nodes.iter().find(|n| n["id"] == third.as_str()).unwrap()["emails"]["pageInfo"]["endCursor"].clone();
        let data = app.admin_ok(query, json!({ "after": cursor })).await;
        let node = data["customers"]["nodes"].as_array().unwrap().iter()
            .find(|n| n["id"] == third.as_str()).unwrap().clone();
        let got: Vec<&str> = node["emails"]["nodes"].as_array().unwrap().iter()
            .map(|e| e["id"].as_str().unwrap()).collect();
        assert_eq!(got, vec![ids[2].as_str(), ids[3].as_str()]);
        assert_eq!(node["emails"]["pageInfo"]["hasNextPage"], true);
    })
    .await;
}

/// `Segment.members`, `Segment.changes` and `Campaign.emails` page each parent's own rows
/// when a whole list asks at once (one loader statement per page shape), and their
/// cursors walk on: members by customer id, changes and emails newest first.
#[tokio::test]
async fn each_segment_and_campaign_in_a_list_pages_its_own_rows() {
    on_each_database(|app| async move {
        let mut customers = Vec::new();
        for k in 0..3 {
            customers.push(app.create_customer(json!({ "externalId": format!("p{k}") })).await);
        }
        let all: Vec<&str> = customers.iter().map(String::as_str).collect();
        // Members join one at a time: the changes are newest first in reverse order.
        let segments = [
            app.static_segment("three", &all).await,
            app.static_segment("one", &all[1..2]).await,
        ];
        let query = "query($after: String) { segments(first: 10) { nodes { id \
                       members(first: 2, after: $after) { totalCount nodes { id } pageInfo { hasNextPage endCursor } } \
                       changes(first: 2, after: $after) { nodes { customerId } pageInfo { hasNextPage endCursor } } } } }";
        let ids = |connection: &Value, field: &str| -> Vec<String> {
            connection["nodes"].as_array().unwrap().iter().map(|n| n[field].as_str().unwrap().to_owned()).collect()
        };
        let node = |data: &Value, id: &str| -> Value {
            data["segments"]["nodes"].as_array().unwrap().iter().find(|n| n["id"] == id).unwrap().clone()
        };
        let data = app.admin_ok(query, json!({})).await;
        let (three, one) = (node(&data, &segments[0]), node(&data, &segments[1]));
        assert_eq!(ids(&three["members"], "id"), customers[..2]);
        assert_eq!((three["members"]["totalCount"].clone(), three["members"]["pageInfo"]["hasNextPage"].clone()), (json!(3), json!(true)));
        assert_eq!(ids(&one["members"], "id"), customers[1..2]);
        assert_eq!((one["members"]["totalCount"].clone(), one["members"]["pageInfo"]["hasNextPage"].clone()), (json!(1), json!(false)));
        assert_eq!(ids(&three["changes"], "customerId"), [customers[2].clone(), customers[1].clone()]);
        assert_eq!(three["changes"]["pageInfo"]["hasNextPage"], true);
        assert_eq!(ids(&one["changes"], "customerId"), customers[1..2]);
        // The first segment's next pages, through the list.
        let after_members = three["members"]["pageInfo"]["endCursor"].clone();
        let after_changes = three["changes"]["pageInfo"]["endCursor"].clone();
        let data = app.admin_ok(query, json!({ "after": after_members })).await;
        let three = node(&data, &segments[0]);
        assert_eq!(ids(&three["members"], "id"), customers[2..]);
        assert_eq!(three["members"]["pageInfo"]["hasNextPage"], false);
        let data = app.admin_ok(query, json!({ "after": after_changes })).await;
        assert_eq!(ids(&node(&data, &segments[0])["changes"], "customerId"), customers[..1]);

        // Emails of two campaigns: three and one, newest first.
        let mut expected: Vec<(String, Vec<String>)> = Vec::new();
        for (c, count) in [3, 1].into_iter().enumerate() {
            let campaign = app
                .admin_ok(
                    "mutation($input: CreateCampaignInput!) { createCampaign(input: $input) { id } }",
                    json!({ "input": { "name": format!("paged {c}"), "kind": "BIRTHDAY" } }),
                )
                .await["createCampaign"]["id"]
                .as_str()
                .unwrap()
                .to_owned();
            let mut emails = Vec::new();
            for (k, customer) in customers.iter().take(count).enumerate() {
                let key = format!("paged:{c}:{k}");
                emails.push(app.sent_email(&key, entity::EmailKind::Birthday, customer, Some(&campaign)).await);
            }
            emails.reverse();
            expected.push((campaign, emails));
        }
        let query = "query($after: String) { campaigns(first: 100) { nodes { id emails(first: 2, after: $after) { nodes { id } pageInfo { hasNextPage endCursor } } } } }";
        let campaign = |data: &Value, id: &str| -> Value {
            data["campaigns"]["nodes"].as_array().unwrap().iter().find(|n| n["id"] == id).unwrap()["emails"].clone()
        };
        let data = app.admin_ok(query, json!({})).await;
        for (id, emails) in &expected {
            let page = campaign(&data, id);
            assert_eq!(ids(&page, "id"), emails.iter().take(2).cloned().collect::<Vec<_>>(), "{id}");
            assert_eq!(page["pageInfo"]["hasNextPage"], emails.len() > 2, "{id}");
        }
        let (first, emails) = &expected[0];
        let cursor = campaign(&data, first)["pageInfo"]["endCursor"].clone();
        let data = app.admin_ok(query, json!({ "after": cursor })).await;
        assert_eq!(ids(&campaign(&data, first), "id"), emails[2..]);
    })
    .await;
}

/// List pages read only the columns their selection shows; each field, asked alone (and
/// through a fragment, and under `edges { node }`), must show on a list page what the
/// whole-row read of the single customer shows. A field read from the wrong column, or
/// not read at all, fails here.
#[tokio::test]
async fn a_list_page_shows_every_customer_field_as_the_single_customer_does() {
    on_each_database(|app| async move {
        let referrer = app.create_customer(json!({ "externalId": "ref", "name": "Ref" })).await;
        let id = app
            .create_customer(json!({
                "externalId": "full-1", "name": "Ada Full", "email": "ada.full@mail.example",
                "phone": "+14155550123", "gender": "FEMALE", "birthDate": "1990-02-03",
                "country": "GB", "region": "London", "city": "Camden", "incomeBand": "HIGH",
                "occupation": "engineer", "interests": ["tea", "maths"], "lifestyle": "urban",
                "needs": "upgrade", "acquisitionChannel": "referral", "referredBy": referrer,
                "locale": "en-GB", "timeZone": "Europe/London", "marketingConsent": true,
            }))
            .await;
        app.record_orders(json!([
            { "externalId": "full-o1", "customerId": id, "amount": "12.34", "currency": "USD", "orderedAt": "2026-01-05T10:00:00Z" },
            { "externalId": "full-o2", "customerId": id, "amount": "7.66", "currency": "USD", "orderedAt": "2026-03-05T10:00:00Z" },
        ]))
        .await;
        // Every field of Customer whose type is a scalar or an enum, from the schema.
        let fields = app
            .admin_ok(
                "{ __type(name: \"Customer\") { fields { name type { kind ofType { kind ofType { kind } } } } } }",
                json!({}),
            )
            .await;
        let scalar = |t: &Value| -> bool {
            let mut t = t;
            while t["kind"] == "NON_NULL" || t["kind"] == "LIST" {
                t = &t["ofType"];
            }
            t["kind"] == "SCALAR" || t["kind"] == "ENUM"
        };
        let names: Vec<String> = fields["__type"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| scalar(&f["type"]))
            .map(|f| f["name"].as_str().unwrap().to_owned())
            .collect();
        assert!(names.len() >= 25, "{names:?}");
        let filter = json!({ "externalIds": ["full-1"] });
        for name in &names {
            let single = app
                .admin_ok(&format!("query($id: ID!) {{ customer(id: $id) {{ {name} }} }}"), json!({ "id": id }))
                .await["customer"][name.as_str()]
                .clone();
            let list = "query($filter: CustomerFilter) { customers(first: 5, filter: $filter)";
            for query in [
                format!("{list} {{ nodes {{ {name} }} }} }}"),
                format!("{list} {{ nodes {{ ...F }} }} }} fragment F on Customer {{ {name} }}"),
                format!("{list} {{ edges {{ node {{ {name} }} }} }} }}"),
            ] {
                let page = app.admin_ok(&query, json!({ "filter": filter })).await;
                let connection = &page["customers"];
                let node = if connection["nodes"].is_array() {
                    &connection["nodes"][0]
                } else {
                    &connection["edges"][0]["node"]
                };
                assert_eq!(node[name.as_str()], single, "{name} through `{query}`");
                assert!(!single.is_null() || name == "unsubscribedAt" || name == "erasedAt", "{name} is filled in the test data");
            }
        }
    })
    .await;
}
