//! `Customer.timeline`: every source merged newest first, pages that neither repeat nor
//! skip while new events arrive, the `kinds` filter, scopes and personal text, the
//! statements a page costs, and the upgrade that indexes segment events by customer.

use chrono::{DateTime, Duration, Utc};
use entity::{email, feedback, interaction, lifecycle_event, order, segment_event};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code, migrate_down_to_before, on_each_database};

const PAGE: &str = "query($id: ID!, $first: Int, $after: String, $kinds: [TimelineKind!]) { customer(id: $id) { \
    timeline(first: $first, after: $after, kinds: $kinds) { pageInfo { hasNextPage endCursor } \
    edges { cursor node { kind at summary subject { __typename \
      ... on Order { id } ... on Interaction { id subject } ... on Feedback { id score } \
      ... on Email { id status } ... on LifecycleEvent { toStage } ... on SegmentChange { kind segment { name } } \
      ... on LedgerEntry { id points } ... on TierEvent { id toTier } } } } } } }";

/// An item as a test compares it: kind, time and the row id.
type Key = (String, DateTime<Utc>, i64);

fn time(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

/// A customer with something of every kind: three orders, an interaction (with personal
/// text), two answers (one at the time of an order), a sent and converted offer email, a
/// failed email, a stage change and a segment entry and exit.
async fn eventful_customer(app: &TestApp, name: &str, now: DateTime<Utc>) -> String {
    let id = app.create_customer(json!({ "externalId": name })).await;
    let at = |days: i64| (now - Duration::days(days)).to_rfc3339();
    let orders: Vec<Value> = [40, 10, 2]
        .iter()
        .map(|d| json!({ "externalId": format!("{name}-o{d}"), "customerId": id, "amount": "29.90", "currency": "USD", "orderedAt": at(*d), "channel": "web" }))
        .collect();
    app.record_orders(json!(orders)).await;
    app.admin_ok(
        "mutation($id: ID!, $a: DateTime, $b: DateTime) { \
           i: recordInteraction(input: { customerId: $id, channel: PHONE, direction: INBOUND, subject: \"Li Na called about her parcel\", occurredAt: $a }) { id } \
           f: recordFeedback(input: { customerId: $id, kind: NPS, score: 4, channel: WECHAT, occurredAt: $b }) { id } \
           g: recordFeedback(input: { customerId: $id, kind: CSAT, score: 5, occurredAt: $a }) { id } }",
        json!({ "id": id, "a": at(5), "b": at(10) }),
    )
    .await;
    let customer_id: i64 = id.parse().unwrap();
    let row = |key: &str, status: entity::EmailStatus, created: i64| email::ActiveModel {
        dedupe_key: Set(format!("{key}:{customer_id}")),
        kind: Set(entity::EmailKind::WinBack),
        customer_id: Set(Some(customer_id)),
        status: Set(status),
        attempts: Set(1),
        scheduled_for: Set(now - Duration::days(created)),
        created_at: Set(now - Duration::days(created)),
        updated_at: Set(now - Duration::days(created) + Duration::hours(2)),
        ..Default::default()
    };
    let mut sent = row("sent", entity::EmailStatus::Sent, 8);
    sent.sent_at = Set(Some(now - Duration::days(8) + Duration::hours(1)));
    sent.offer_code = Set(Some(format!("BACK-{customer_id:08}")));
    sent.converted_at = Set(Some(now - Duration::days(2) + Duration::hours(3)));
    sent.insert(&app.db).await.unwrap();
    row("failed", entity::EmailStatus::Failed, 20)
        .insert(&app.db)
        .await
        .unwrap();
    id
}

/// Everything the timeline should hold for a customer, read from the tables, newest
/// first by (time, kind rank, id).
async fn expected(app: &TestApp, customer: &str) -> Vec<Key> {
    let id: i64 = customer.parse().unwrap();
    let mut items: Vec<Key> = Vec::new();
    for o in order::Entity::find()
        .filter(order::Column::CustomerId.eq(id))
        .all(&app.db)
        .await
        .unwrap()
    {
        items.push(("ORDER".into(), o.ordered_at, o.id));
    }
    for i in interaction::Entity::find()
        .filter(interaction::Column::CustomerId.eq(id))
        .all(&app.db)
        .await
        .unwrap()
    {
        items.push(("INTERACTION".into(), i.occurred_at, i.id));
    }
    for f in feedback::Entity::find()
        .filter(feedback::Column::CustomerId.eq(id))
        .all(&app.db)
        .await
        .unwrap()
    {
        items.push(("FEEDBACK".into(), f.occurred_at, f.id));
    }
    for e in email::Entity::find()
        .filter(email::Column::CustomerId.eq(id))
        .all(&app.db)
        .await
        .unwrap()
    {
        items.push(("EMAIL_QUEUED".into(), e.created_at, e.id));
        if let Some(at) = e.sent_at {
            items.push(("EMAIL_SENT".into(), at, e.id));
        }
        if e.status == entity::EmailStatus::Failed {
            items.push(("EMAIL_FAILED".into(), e.updated_at, e.id));
        }
        if let Some(at) = e.unsubscribed_at {
            items.push(("EMAIL_UNSUBSCRIBED".into(), at, e.id));
        }
        if let Some(at) = e.converted_at {
            items.push(("EMAIL_CONVERTED".into(), at, e.id));
        }
    }
    for l in lifecycle_event::Entity::find()
        .filter(lifecycle_event::Column::CustomerId.eq(id))
        .all(&app.db)
        .await
        .unwrap()
    {
        items.push(("STAGE_CHANGED".into(), l.at, l.id));
    }
    for s in segment_event::Entity::find()
        .filter(segment_event::Column::CustomerId.eq(id))
        .all(&app.db)
        .await
        .unwrap()
    {
        let kind = if s.kind == entity::ChangeKind::Entered {
            "SEGMENT_ENTERED"
        } else {
            "SEGMENT_EXITED"
        };
        items.push((kind.into(), s.at, s.id));
    }
    for entry in entity::loyalty_entry::Entity::find()
        .filter(entity::loyalty_entry::Column::CustomerId.eq(id))
        .all(&app.db)
        .await
        .unwrap()
    {
        items.push(("POINTS_CHANGED".into(), entry.occurred_at, entry.id));
    }
    for event in entity::loyalty_tier_event::Entity::find()
        .filter(entity::loyalty_tier_event::Column::CustomerId.eq(id))
        .all(&app.db)
        .await
        .unwrap()
    {
        items.push(("TIER_CHANGED".into(), event.occurred_at, event.id));
    }
    let rank = |kind: &str| {
        serde_json::from_value::<jobs::timeline::Kind>(json!(kind))
            .unwrap()
            .rank()
    };
    items.sort_by_key(|b| std::cmp::Reverse((b.1, rank(&b.0), b.2)));
    items
}

/// One page: the keys, the nodes, and the cursor of the next page if there is one.
async fn page(
    app: &TestApp,
    key: &str,
    variables: Value,
) -> (Vec<Key>, Vec<Value>, Option<String>) {
    let body = app.graphql(key, PAGE, variables).await;
    assert!(body["errors"].is_null(), "{body}");
    let timeline = &body["data"]["customer"]["timeline"];
    let nodes: Vec<Value> = timeline["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect();
    let keys = nodes
        .iter()
        .map(|n| {
            let subject = &n["subject"];
            let id = subject["id"].as_str().map_or(0, |id| id.parse().unwrap());
            (n["kind"].as_str().unwrap().to_owned(), time(&n["at"]), id)
        })
        .collect();
    let next = (timeline["pageInfo"]["hasNextPage"] == true).then(|| {
        timeline["pageInfo"]["endCursor"]
            .as_str()
            .unwrap()
            .to_owned()
    });
    (keys, nodes, next)
}

/// Lifecycle and segment subjects carry no `id` in the page query: their keys compare by
/// kind and time only.
fn comparable(keys: &[Key]) -> Vec<Key> {
    keys.iter()
        .map(|(kind, at, id)| {
            let id = if kind.starts_with("STAGE") || kind.starts_with("SEGMENT") {
                0
            } else {
                *id
            };
            (kind.clone(), *at, id)
        })
        .collect()
}

#[tokio::test]
async fn a_timeline_merges_every_source_newest_first_and_pages_without_gaps_while_events_arrive() {
    on_each_database(|app| async move {
        let now = Utc::now();
        let customer = eventful_customer(&app, "ann", now).await;
        let other = eventful_customer(&app, "bob", now).await;
        app.run_job_ok("lifecycle").await;
        // The loyalty run gives both their first tier (orders earned points as recorded).
        app.run_job_ok("loyalty").await;
        let segment = app.static_segment("vip", &[&customer, &other]).await;
        app.admin_ok(
            "mutation($id: ID!, $c: ID!) { removeSegmentMembers(id: $id, input: { customerIds: [$c] }) { size } }",
            json!({ "id": segment, "c": customer }),
        )
        .await;
        let all = expected(&app, &customer).await;
        let kinds: std::collections::BTreeSet<&str> = all.iter().map(|(k, _, _)| k.as_str()).collect();
        assert_eq!(kinds.len(), 12, "every kind but EMAIL_UNSUBSCRIBED is there: {kinds:?}");

        // One page with everything, in order; a summary for each, never personal text.
        let (keys, nodes, next) = page(&app, &app.admin_key, json!({ "id": customer, "first": 100 })).await;
        assert_eq!(keys, comparable(&all));
        assert!(next.is_none());
        assert!(nodes.iter().all(|n| !n["summary"].as_str().unwrap().is_empty()));
        assert!(nodes.iter().all(|n| !n["summary"].as_str().unwrap().contains("Li Na")), "{nodes:?}");
        let order = nodes.iter().find(|n| n["kind"] == "ORDER").unwrap();
        assert_eq!(order["summary"], format!("Order ann-o2: 29.90 USD (web)"));
        let exited = nodes.iter().find(|n| n["kind"] == "SEGMENT_EXITED").unwrap();
        assert_eq!(exited["subject"]["segment"]["name"], "vip");
        assert_eq!(exited["summary"], "Left segment “vip”");
        // At the same time, an order comes before an answer.
        let tie = nodes.iter().position(|n| n["kind"] == "ORDER" && n["at"] == nodes.iter().find(|f| f["kind"] == "FEEDBACK" && f["subject"]["score"] == 4).unwrap()["at"]);
        assert!(tie.is_some_and(|i| nodes[i + 1]["kind"] == "FEEDBACK"), "{nodes:?}");

        // Pages of three while new events arrive between pages: every item that existed
        // at the start, once, in order; the new ones are before the first cursor.
        let mut walked = Vec::new();
        let mut after: Option<String> = None;
        let mut round = 0;
        loop {
            let (keys, _, next) = page(&app, &app.admin_key, json!({ "id": customer, "first": 3, "after": after })).await;
            walked.extend(keys);
            round += 1;
            app.record_orders(json!([{ "externalId": format!("ann-new-{round}"), "customerId": customer, "amount": "5.00", "currency": "USD", "orderedAt": Utc::now().to_rfc3339() }])).await;
            app.admin_ok("mutation($id: ID!) { recordInteraction(input: { customerId: $id, channel: EMAIL, direction: OUTBOUND }) { id } }", json!({ "id": customer })).await;
            match next {
                Some(cursor) => after = Some(cursor),
                None => break,
            }
        }
        assert_eq!(walked, comparable(&all), "no item twice, none skipped");
        let (fresh, _, _) = page(&app, &app.admin_key, json!({ "id": customer, "first": 2 * round })).await;
        assert!(fresh.iter().all(|(kind, at, _)| ["ORDER", "INTERACTION", "POINTS_CHANGED"].contains(&kind.as_str()) && *at > now), "{fresh:?}");

        // Only the kinds asked for, still in order, paged.
        let only = json!(["ORDER", "FEEDBACK"]);
        let (first, _, next) = page(&app, &app.admin_key, json!({ "id": other, "first": 2, "kinds": only })).await;
        let (second, _, _) = page(&app, &app.admin_key, json!({ "id": other, "first": 10, "kinds": only, "after": next })).await;
        let wanted: Vec<Key> = expected(&app, &other).await.into_iter().filter(|(k, _, _)| k == "ORDER" || k == "FEEDBACK").collect();
        assert_eq!([first, second].concat(), wanted);

        // Without campaigns:read, segments:read and loyalty:read, their kinds are left out, and asking
        // for them is FORBIDDEN; without pii:read, texts are refused on the subject only.
        let reader = app.key_with(&["customers:read"]).await;
        let body = app.graphql(&reader, PAGE, json!({ "id": customer, "first": 100 })).await;
        let kinds: Vec<&str> = body["data"]["customer"]["timeline"]["edges"].as_array().unwrap().iter().map(|e| e["node"]["kind"].as_str().unwrap()).collect();
        assert!(kinds.iter().all(|k| !k.starts_with("EMAIL") && !k.starts_with("SEGMENT") && !k.starts_with("POINTS") && !k.starts_with("TIER")), "{kinds:?}");
        assert!(kinds.contains(&"ORDER") && kinds.contains(&"STAGE_CHANGED"), "{kinds:?}");
        assert!(body["errors"].as_array().unwrap().iter().all(|e| e["extensions"]["code"] == "FORBIDDEN" && e["path"].as_array().unwrap().last() == Some(&json!("subject"))), "{body}");
        let refused = app.graphql(&reader, PAGE, json!({ "id": customer, "kinds": ["EMAIL_SENT"] })).await;
        assert_eq!(error_code(&refused), "FORBIDDEN");
        let bad = app.admin(PAGE, json!({ "id": customer, "after": "not a cursor" })).await;
        assert_eq!(error_code(&bad), "BAD_USER_INPUT");
    })
    .await;
}

/// A timeline page costs one statement per source, whether one customer asks or a whole
/// list does: 2 and 12 customers with every kind of item, within the same budget.
#[tokio::test]
async fn a_timeline_page_costs_one_statement_per_source_for_a_whole_list() {
    on_each_database(|app| async move {
        let now = Utc::now();
        let query = "{ customers(first: 100) { nodes { id timeline(first: 5) { pageInfo { hasNextPage } nodes { kind summary subject { __typename } } } } } }";
        let mut made = Vec::new();
        let mut spent = Vec::new();
        for n in [2, 12] {
            while made.len() < n {
                made.push(eventful_customer(&app, &format!("c{}", made.len()), now).await);
            }
            app.static_segment(&format!("s{n}"), &made.iter().map(String::as_str).collect::<Vec<_>>()).await;
            let before = app.queries.load(std::sync::atomic::Ordering::SeqCst);
            let data = app.admin_ok(query, json!({})).await;
            spent.push(app.queries.load(std::sync::atomic::Ordering::SeqCst) - before);
            let customers = data["customers"]["nodes"].as_array().unwrap();
            assert_eq!(customers.len(), n);
            for customer in customers {
                let wanted = expected(&app, customer["id"].as_str().unwrap()).await;
                let kinds: Vec<&str> = customer["timeline"]["nodes"].as_array().unwrap().iter().map(|i| i["kind"].as_str().unwrap()).collect();
                let wanted: Vec<&str> = wanted.iter().take(5).map(|(k, _, _)| k.as_str()).collect();
                assert_eq!(kinds, wanted, "{customer}");
            }
        }
        // Key lookup, customers, eight sources: 10 (one per customer would be 80 and more).
        assert!(spent.iter().all(|n| *n <= 10), "statements for 2 and for 12 customers: {spent:?}");
        let single = app.admin_ok("query($id: ID!) { customer(id: $id) { timeline(first: 20) { nodes { kind } } } }", json!({ "id": made[0] })).await;
        let everything = expected(&app, &made[0]).await.len();
        assert_eq!(single["customer"]["timeline"]["nodes"].as_array().unwrap().len(), everything.min(20));
    })
    .await;
}

/// A database from before migration 19 upgrades to one whose segment events are indexed
/// by customer, and its events show in the timeline.
#[tokio::test]
async fn upgrading_indexes_segment_events_by_customer() {
    on_each_database(|app| async move {
        if crate::distribution::is_citus(&app.db).await {
            return;
        }
        let customer = app.create_customer(json!({ "externalId": "old" })).await;
        app.static_segment("before", &[&customer]).await;
        migrate_down_to_before(&app, "m20261201_000019_segment_events_by_customer").await;
        let indexed = |app: &TestApp| {
            let db = app.db.clone();
            async move {
                let sql = match db.get_database_backend() {
                    sea_orm::DbBackend::Postgres => "SELECT COUNT(*) FROM pg_indexes WHERE indexname = 'segment_events_customer_idx'",
                    _ => "SELECT COUNT(*) FROM sqlite_master WHERE name = 'segment_events_customer_idx'",
                };
                let row = db.query_one_raw(sea_orm::Statement::from_string(db.get_database_backend(), sql)).await.unwrap().unwrap();
                row.try_get_by_index::<i64>(0).unwrap()
            }
        };
        assert_eq!(indexed(&app).await, 0);
        clientele::database::migrate(&app.db).await.unwrap();
        assert_eq!(indexed(&app).await, 1);
        let (keys, _, _) = page(&app, &app.admin_key, json!({ "id": customer, "kinds": ["SEGMENT_ENTERED"] })).await;
        assert_eq!(keys.len(), 1);
    })
    .await;
}
