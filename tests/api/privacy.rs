//! Personal data: what a key without `pii:read` can reach (nothing personal, found by
//! walking the whole schema), what errors say, what small profiles show, and what is
//! left anywhere after an erasure (nothing: every table and every outbox file).

use std::collections::{HashMap, HashSet};

use chrono::{Datelike, Utc};
use jobs::campaigns::digest::{AtRisk, Digest, Summary};
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set, Statement};
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code, on_each_database};

/// One person's data, distinctive enough that any copy of it is found by a substring.
struct Person {
    external_id: &'static str,
    name: &'static str,
    email: &'static str,
    phone: &'static str,
    birth_year: i32,
    note: &'static str,
    interaction_subject: &'static str,
    comment: &'static str,
}

const BOB: Person = Person {
    external_id: "privacy-bob",
    name: "Bob Zephyrine",
    email: "bob.zephyrine@mail.example",
    phone: "+8613800138123",
    birth_year: 1951,
    note: "SSN 123-45-6789",
    interaction_subject: "Quietly asked about a divorce",
    comment: "Grumbled about Quixotic delivery",
};

impl Person {
    /// Every string that must not appear where this person's data must not be.
    fn needles(&self) -> Vec<String> {
        vec![
            "Zephyrine".into(),
            self.email.into(),
            self.phone.into(),
            "138123".into(),
            format!("{}-", self.birth_year),
            self.note.into(),
            "123-45-6789".into(),
            self.interaction_subject.into(),
            "divorce".into(),
            self.comment.into(),
            "Quixotic".into(),
        ]
    }

    fn birth_date(&self) -> String {
        let today = Utc::now().date_naive();
        // Today's month and day: the birthday greeting goes out in the test. (1951 has
        // no 29 February; the greeting test in care.rs covers leap days.)
        format!(
            "{}-{:02}-{:02}",
            self.birth_year,
            today.month(),
            today.day()
        )
    }
}

fn leaks(text: &str, person: &Person) -> Vec<String> {
    person
        .needles()
        .into_iter()
        .filter(|needle| text.contains(needle.as_str()))
        .collect()
}

/// Bob with an order, an interaction with a note, an NPS comment, a birthday greeting
/// sent to the outbox directory, a queued email, a digest naming him, a one-member
/// static segment; a second customer so lists are not trivially one row. Bob's id.
async fn personal_base(app: &TestApp) -> String {
    let bob = app
        .create_customer(json!({
            "externalId": BOB.external_id, "name": BOB.name, "email": BOB.email,
            "phone": BOB.phone, "birthDate": BOB.birth_date(), "gender": "MALE",
            "city": "Hangzhou", "marketingConsent": true, "timeZone": "UTC", "locale": "en",
        }))
        .await;
    app.create_customer(
        json!({ "externalId": "privacy-other", "name": "Other Person", "marketingConsent": true }),
    )
    .await;
    app.record_orders(
        json!([{ "externalId": "privacy-o1", "customerId": bob, "amount": "42.00",
        "currency": "USD", "orderedAt": "2026-01-15T10:00:00Z" }]),
    )
    .await;
    app.admin_ok(
        "mutation($i: InteractionInput!) { recordInteraction(input: $i) { id } }",
        json!({ "i": { "customerId": bob, "channel": "PHONE", "direction": "INBOUND",
            "subject": BOB.interaction_subject, "note": BOB.note, "occurredAt": "2026-02-01T10:00:00Z" } }),
    )
    .await;
    app.admin_ok(
        "mutation($i: FeedbackInput!) { recordFeedback(input: $i) { id } }",
        json!({ "i": { "customerId": bob, "kind": "NPS", "score": 3, "comment": BOB.comment,
            "occurredAt": "2026-02-02T10:00:00Z" } }),
    )
    .await;
    // A ledger entry whose reason (free text an agent typed) repeats personal words.
    app.admin_ok(
        "mutation($c: ID!) { adjustPoints(customerId: $c, points: 25, reason: \"Goodwill after the Quixotic delivery\") { points } }",
        json!({ "c": bob }),
    )
    .await;
    for job in ["value-scores", "lifecycle"] {
        app.run_job_ok(job).await;
    }

    // The birthday greeting (it greets by name), sent now into the outbox directory.
    let campaigns = app
        .admin_ok("{ campaigns(first: 50) { nodes { id kind } } }", json!({}))
        .await;
    let birthday = campaigns["campaigns"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "BIRTHDAY")
        .unwrap()["id"]
        .clone();
    app.admin_ok(
        "mutation($id: ID!) { updateCampaign(id: $id, input: { enabled: true, sendHour: 0 }) { id } }",
        json!({ "id": birthday }),
    )
    .await;
    let today = Utc::now().date_naive();
    let noon = format!("{today}T12:00:00Z");
    let run = app
        .admin_ok("mutation($at: DateTime) { runJob(name: \"campaigns\", at: $at) { status stats error } }", json!({ "at": noon }))
        .await;
    assert_eq!(run["runJob"]["status"], "SUCCEEDED", "{run}");
    let context = app.job_context();
    let report = jobs::mail::dispatch::dispatch(&app.db, &context.mail, noon.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(
        report.sent, 1,
        "Bob's birthday greeting went to the outbox directory"
    );

    // A queued email still to go (a win-back queued for next week) and a digest that
    // lists Bob among the valuable customers gone silent, as the digest job writes it.
    let now = Utc::now();
    entity::email::ActiveModel {
        dedupe_key: Set(format!("privacy-queued:{bob}")),
        kind: Set(entity::EmailKind::WinBack),
        customer_id: Set(Some(bob.parse().unwrap())),
        to_address: Set(Some(BOB.email.into())),
        subject: Set(Some(format!("We miss you, {}!", BOB.name))),
        status: Set(entity::EmailStatus::Queued),
        attempts: Set(0),
        scheduled_for: Set(now + chrono::Duration::days(7)),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .unwrap();
    let digest = Digest {
        week_start: today - chrono::Duration::days(7),
        week_end: today,
        summary: Summary {
            revenue: "0.00".into(),
            ..Default::default()
        },
        movements: Vec::new(),
        at_risk: vec![AtRisk {
            customer_id: bob.parse().unwrap(),
            name: Some(BOB.name.into()),
            clv: "10.00".into(),
        }],
        value_at_risk: "10.00".into(),
        segments: Vec::new(),
        campaigns: Vec::new(),
        stages: Vec::new(),
        rfm: [[0; 5]; 5],
    };
    entity::email::ActiveModel {
        dedupe_key: Set("privacy-digest".into()),
        kind: Set(entity::EmailKind::Digest),
        // As the digest job files it: mail to the business, under no customer.
        customer_id: Set(Some(entity::email::NO_CUSTOMER)),
        to_address: Set(Some("marketing@shop.example".into())),
        status: Set(entity::EmailStatus::Queued),
        attempts: Set(0),
        scheduled_for: Set(now),
        payload: Set(Some(serde_json::to_string(&digest).unwrap())),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .unwrap();
    let report = jobs::mail::dispatch::dispatch(&app.db, &context.mail, now)
        .await
        .unwrap();
    assert_eq!(report.sent, 1, "the digest went to the outbox directory");

    // A static segment of Bob alone: its profile must not tell his age band.
    let segment = app
        .admin_ok(
            "mutation { createSegment(input: { name: \"just bob\", kind: STATIC }) { id } }",
            json!({}),
        )
        .await["createSegment"]["id"]
        .clone();
    app.admin_ok(
        "mutation($id: ID!, $c: ID!) { addSegmentMembers(id: $id, input: { customerIds: [$c] }) { size } }",
        json!({ "id": segment, "c": bob }),
    )
    .await;
    bob
}

/// Everything in the outbox directory, as text.
fn outbox_text(app: &TestApp) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(app.outbox.path()).unwrap() {
        let path = entry.unwrap().path();
        text.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
        // Headers may be MIME-encoded, bodies quoted-printable or base64: decode too.
        if let Some(message) =
            mail_parser::MessageParser::default().parse(&std::fs::read(&path).unwrap())
        {
            text.push_str(message.subject().unwrap_or_default());
            for i in 0..message.text_body_count() {
                text.push_str(&message.body_text(i).unwrap_or_default());
            }
            for i in 0..message.html_body_count() {
                text.push_str(&message.body_html(i).unwrap_or_default());
            }
        }
    }
    text
}

/// Every row of every table of the app's database, as text.
async fn database_text(app: &TestApp) -> String {
    let backend = app.db.get_database_backend();
    let tables_sql = match backend {
        sea_orm::DatabaseBackend::Postgres => {
            "SELECT table_name AS name FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        }
        _ => "SELECT name FROM sqlite_master WHERE type = 'table'",
    };
    let tables = app
        .db
        .query_all_raw(Statement::from_string(backend, tables_sql))
        .await
        .unwrap();
    assert!(tables.len() > 15, "every table is read");
    let mut text = String::new();
    for table in tables {
        let name: String = table.try_get("", "name").unwrap();
        // Each row as JSON text, whatever its columns.
        let sql = match backend {
            sea_orm::DatabaseBackend::Postgres => {
                format!("SELECT row_to_json(t)::text AS row FROM \"{name}\" t")
            }
            _ => {
                let columns = app
                    .db
                    .query_all_raw(Statement::from_string(
                        backend,
                        format!("SELECT name FROM pragma_table_info('{name}')"),
                    ))
                    .await
                    .unwrap();
                let parts: Vec<String> = columns
                    .iter()
                    .map(|c| {
                        format!(
                            "COALESCE(CAST(\"{}\" AS TEXT), '')",
                            c.try_get::<String>("", "name").unwrap()
                        )
                    })
                    .collect();
                format!(
                    "SELECT {} AS row FROM \"{name}\"",
                    parts.join(" || '|' || ")
                )
            }
        };
        for row in app
            .db
            .query_all_raw(Statement::from_string(backend, sql))
            .await
            .unwrap()
        {
            text.push_str(&row.try_get::<String>("", "row").unwrap());
            text.push('\n');
        }
    }
    text
}

#[tokio::test]
async fn erasure_leaves_no_copy_of_personal_data_in_any_table_or_outbox_file() {
    on_each_database(|app| async move {
        let bob = personal_base(&app).await;
        // The base really holds Bob's data everywhere the erasure must reach.
        let before = format!("{}{}", database_text(&app).await, outbox_text(&app));
        for needle in BOB.needles() {
            assert!(before.contains(&needle), "the base should hold `{needle}` before the erasure");
        }

        let erased = app
            .admin_ok("mutation($id: ID!) { eraseCustomer(id: $id) { id erasedAt name email } }", json!({ "id": bob }))
            .await;
        assert!(erased["eraseCustomer"]["erasedAt"].is_string());

        let tables = database_text(&app).await;
        assert_eq!(leaks(&tables, &BOB), Vec::<String>::new(), "a table still holds Bob's data");
        let files = outbox_text(&app);
        assert_eq!(leaks(&files, &BOB), Vec::<String>::new(), "an outbox file still holds Bob's data");
        let emails = app
            .admin_ok("query($c: ID) { emails(filter: { customerId: $c }, first: 10) { nodes { status suppressionReason subject toAddress } } }", json!({ "c": bob }))
            .await;
        let nodes = emails["emails"]["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), 2, "{emails}");
        let queued = nodes.iter().find(|e| e["status"] != "SENT").unwrap();
        assert_eq!(queued["status"], "SUPPRESSED", "the queued email is cancelled");
        assert_eq!(queued["suppressionReason"], "ERASED");
        // The other customer and the rest of the data are untouched.
        assert!(tables.contains("Other Person"));
        // On SQLite, not even the file's free pages or the WAL keep the old values.
        if let Some(path) = app.database_url.strip_prefix("sqlite://") {
            let path = path.split('?').next().unwrap();
            for file in [path.to_owned(), format!("{path}-wal")] {
                let bytes = std::fs::read(&file).unwrap_or_default();
                let text = String::from_utf8_lossy(&bytes);
                assert_eq!(leaks(&text, &BOB), Vec::<String>::new(), "{file} still holds Bob's data on disk");
            }
        }
    })
    .await;
}

// ---------------------------------------------------------------------------------
// The schema walk.

#[derive(Debug)]
struct TypeRef {
    kind: String,
    name: Option<String>,
    of_type: Option<Box<TypeRef>>,
}

impl TypeRef {
    fn parse(value: &Value) -> TypeRef {
        TypeRef {
            kind: value["kind"].as_str().unwrap().to_owned(),
            name: value["name"].as_str().map(str::to_owned),
            of_type: (!value["ofType"].is_null())
                .then(|| Box::new(TypeRef::parse(&value["ofType"]))),
        }
    }
    /// The named type under NON_NULL and LIST wrappers.
    fn named(&self) -> &str {
        match &self.of_type {
            Some(inner) => inner.named(),
            None => self.name.as_deref().unwrap(),
        }
    }
    fn required(&self) -> bool {
        self.kind == "NON_NULL"
    }
}

struct Field {
    name: String,
    args: Vec<(String, TypeRef)>,
    ty: TypeRef,
}

const TYPE_REF: &str =
    "kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } }";

/// The object types with their fields, and the union types with their members.
async fn object_types(
    app: &TestApp,
) -> (HashMap<String, Vec<Field>>, HashMap<String, Vec<String>>) {
    let query = format!(
        "{{ __schema {{ types {{ kind name possibleTypes {{ name }} fields(includeDeprecated: true) {{ name args {{ name type {{ {TYPE_REF} }} }} type {{ {TYPE_REF} }} }} }} }} }}"
    );
    let schema = app.admin_ok(&query, json!({})).await;
    let unions = schema["__schema"]["types"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"] == "UNION")
        .map(|t| {
            let members = t["possibleTypes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["name"].as_str().unwrap().to_owned())
                .collect();
            (t["name"].as_str().unwrap().to_owned(), members)
        })
        .collect();
    let objects = schema["__schema"]["types"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"] == "OBJECT" && !t["name"].as_str().unwrap().starts_with("__"))
        .map(|t| {
            let fields = t["fields"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| Field {
                    name: f["name"].as_str().unwrap().to_owned(),
                    args: f["args"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|a| {
                            (
                                a["name"].as_str().unwrap().to_owned(),
                                TypeRef::parse(&a["type"]),
                            )
                        })
                        .collect(),
                    ty: TypeRef::parse(&f["type"]),
                })
                .collect();
            (t["name"].as_str().unwrap().to_owned(), fields)
        })
        .collect();
    (objects, unions)
}

/// What the walk passes for an argument: the known value for required arguments, and
/// for a few optional ones that open up more data. A required argument without a
/// value here fails the test, so a new field cannot slip past the walk.
fn argument(
    ids: &HashMap<&str, String>,
    parent: &str,
    field: &str,
    arg: &str,
    required: bool,
) -> Option<String> {
    let value = match (parent, field, arg) {
        ("Query", "customer", "id") => format!("\"{}\"", ids["bob"]),
        ("Query", "customerByExternalId", "externalId") => format!("\"{}\"", BOB.external_id),
        ("Query", "segment", "id") => format!("\"{}\"", ids["segment"]),
        ("Query", "campaign", "id") => format!("\"{}\"", ids["campaign"]),
        ("Query", "valueBacktest", "calibrationEnd") => "\"2026-01-31\"".into(),
        ("Query", "valueBacktest", "holdoutEnd") => "\"2026-06-30\"".into(),
        ("Query", "lifecycleTransitions", "from") => "\"2000-01-01T00:00:00Z\"".into(),
        ("Query", "lifecycleTransitions", "to") => "\"2100-01-01T00:00:00Z\"".into(),
        ("Query", "satisfaction", "bucket") => "MONTH".into(),
        ("Query", "churnDrivers", "windowDays") => "180".into(),
        ("Query", "previewSegment", "rule") => {
            "{ condition: { field: TOTAL_SPENT, op: GTE, value: \"0\" } }".into()
        }
        ("Segment", "explain", "customerId") => format!("\"{}\"", ids["bob"]),
        ("CustomerValue", "expectedPurchases", "days") => "30".into(),
        ("CustomerLoyalty", "pointsExpiringWithin", "days") => "30".into(),
        // Small pages: the base holds Bob and one other customer, and pages inside pages
        // multiply the cost of the walk past the limit at ten.
        (_, _, "first") => "3".into(),
        _ if !required => return None,
        _ => panic!(
            "the schema walk has no value for the required argument {parent}.{field}({arg}): add one"
        ),
    };
    Some(format!("{arg}: {value}"))
}

/// The selection of `type_name`'s fields, each object type expanded once per path
/// (a cycle ends where a type repeats), at most `depth` levels down; a union's members
/// each in an inline fragment.
fn selection(
    types: &HashMap<String, Vec<Field>>,
    unions: &HashMap<String, Vec<String>>,
    ids: &HashMap<&str, String>,
    type_name: &str,
    path: &mut Vec<String>,
    depth: usize,
) -> String {
    let mut parts = Vec::new();
    for field in &types[type_name] {
        let args: Vec<String> = field
            .args
            .iter()
            .filter_map(|(arg, ty)| argument(ids, type_name, &field.name, arg, ty.required()))
            .collect();
        let args = if args.is_empty() {
            String::new()
        } else {
            format!("({})", args.join(", "))
        };
        let target = field.ty.named();
        if let Some(members) = unions.get(target) {
            if depth == 0 {
                continue;
            }
            let mut arms = vec!["__typename".to_owned()];
            for member in members {
                if path.iter().any(|seen| seen == member) {
                    continue;
                }
                path.push(member.clone());
                let inner = selection(types, unions, ids, member, path, depth - 1);
                path.pop();
                if !inner.is_empty() {
                    arms.push(format!("... on {member} {{ {inner} }}"));
                }
            }
            parts.push(format!("{}{args} {{ {} }}", field.name, arms.join(" ")));
        } else if types.contains_key(target) {
            if depth == 0 || path.iter().any(|seen| seen == target) {
                continue;
            }
            path.push(target.to_owned());
            let inner = selection(types, unions, ids, target, path, depth - 1);
            path.pop();
            if !inner.is_empty() {
                parts.push(format!("{}{args} {{ {inner} }}", field.name));
            }
        } else {
            parts.push(format!("{}{args}", field.name));
        }
    }
    parts.join(" ")
}

/// One request per root field, every reachable field below it.
fn walk_queries(
    types: &HashMap<String, Vec<Field>>,
    unions: &HashMap<String, Vec<String>>,
    ids: &HashMap<&str, String>,
) -> Vec<(String, String)> {
    let mut queries = Vec::new();
    for field in &types["Query"] {
        let args: Vec<String> = field
            .args
            .iter()
            .filter_map(|(arg, ty)| argument(ids, "Query", &field.name, arg, ty.required()))
            .collect();
        let args = if args.is_empty() {
            String::new()
        } else {
            format!("({})", args.join(", "))
        };
        let target = field.ty.named();
        let body = if types.contains_key(target) {
            let mut path = vec!["Query".to_owned(), target.to_owned()];
            format!(
                "{{ {} }}",
                selection(types, unions, ids, target, &mut path, 8)
            )
        } else {
            String::new()
        };
        queries.push((
            field.name.clone(),
            format!("{{ {}{args} {body} }}", field.name),
        ));
    }
    queries
}

#[tokio::test]
async fn a_key_without_pii_read_reaches_no_personal_data_anywhere_in_the_schema() {
    on_each_database(|app| async move {
        let bob = personal_base(&app).await;
        let segment = app
            .admin_ok("{ segments(first: 10) { nodes { id name } } }", json!({}))
            .await["segments"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "just bob")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let campaign = app
            .admin_ok("{ campaigns(first: 1) { nodes { id } } }", json!({}))
            .await["campaigns"]["nodes"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let ids = HashMap::from([("bob", bob), ("segment", segment), ("campaign", campaign)]);
        let (types, unions) = object_types(&app).await;
        let queries = walk_queries(&types, &unions, &ids);
        assert!(queries.len() >= 20, "every root field is walked");

        // Every scope but pii:read (and admin, which implies it).
        let reader = app
            .key_with(&[
                "customers:read",
                "customers:write",
                "segments:read",
                "segments:write",
                "campaigns:read",
                "campaigns:write",
            ])
            .await;
        let mut reached: HashSet<String> = HashSet::new();
        let mut admin_text = String::new();
        for (root, query) in &queries {
            let body = app.graphql(&reader, query, json!({})).await;
            let text = body.to_string();
            assert_eq!(
                leaks(&text, &BOB),
                Vec::<String>::new(),
                "{root} leaks personal data to a key without pii:read: {text}"
            );
            for error in body["errors"].as_array().into_iter().flatten() {
                let code = error["extensions"]["code"].as_str().unwrap();
                assert!(
                    ["FORBIDDEN", "BAD_USER_INPUT"].contains(&code),
                    "{root}: {error}"
                );
            }
            assert!(
                !body["data"][root.as_str()].is_null() || body["errors"].is_array(),
                "{root} answered: {text}"
            );
            if !body["data"][root.as_str()].is_null() {
                reached.insert(root.clone());
            }
            let admin = app.admin(query, json!({})).await;
            // The walk itself must be a valid document within the limits: a malformed or
            // too costly one (a union left without a selection, pages too large) would
            // hide the data from both keys alike. Errors of a resolver (a backtest
            // without data to fit) carry the path of their field.
            for error in admin["errors"].as_array().into_iter().flatten() {
                assert!(
                    !error["path"].is_null(),
                    "the admin key's walk of {root} failed: {admin}"
                );
            }
            admin_text.push_str(&admin.to_string());
        }
        // The walk reaches the data: the same queries with the admin key show all of it,
        // so the silence above is the guards', not the walk's.
        assert_eq!(
            leaks(&admin_text, &BOB).len(),
            BOB.needles().len(),
            "the walk reaches every personal value"
        );
        for root in ["customer", "customers", "emails", "segment", "segments"] {
            assert!(
                reached.contains(root),
                "{root} answered the key without pii:read"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn conflicts_name_the_other_customer_only_to_keys_with_pii_read() {
    on_each_database(|app| async move {
        app.create_customer(json!({ "externalId": "owner", "email": "dave@mail.example" })).await;
        let upsert = "mutation($input: [UpsertCustomerInput!]!) { upsertCustomers(input: $input) { created } }";
        let input = json!({ "input": [{ "externalId": "probe", "email": "dave@mail.example" }] });
        let writer = app.key_with(&["customers:write"]).await;
        let body = app.graphql(&writer, upsert, input.clone()).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT");
        let problem = &body["errors"][0]["extensions"]["problems"][0];
        assert_eq!(problem["field"], "input[0].email", "{body}");
        let text = body.to_string();
        assert!(!text.contains("dave@") && !text.contains("customer 1"), "the owner is not named: {text}");
        let invalid = app.graphql(&writer, upsert, json!({ "input": [{ "externalId": "probe", "email": "not-an-address Zephyrine", "phone": "12 Zephyrine" }] })).await;
        assert!(!invalid.to_string().contains("Zephyrine"), "errors do not echo personal input: {invalid}");

        let body = app.admin(upsert, input).await;
        assert!(body.to_string().contains("`dave@mail.example` already belongs to customer"), "{body}");
    })
    .await;
}

#[tokio::test]
async fn small_segment_profiles_show_personal_breakdowns_only_with_pii_read() {
    on_each_database(|app| async move {
        let mut ids = Vec::new();
        for n in 0..10 {
            ids.push(app.create_customer(json!({ "externalId": format!("k{n}"), "birthDate": "1951-03-01", "gender": "FEMALE", "city": "Hangzhou" })).await);
        }
        let segment = app.admin_ok("mutation { createSegment(input: { name: \"few\", kind: STATIC }) { id } }", json!({})).await["createSegment"]["id"].clone();
        let add = "mutation($id: ID!, $c: [ID!]!) { addSegmentMembers(id: $id, input: { customerIds: $c }) { size } }";
        app.admin_ok(add, json!({ "id": segment, "c": &ids[..9] })).await;
        let profile = "query($id: ID!) { segment(id: $id) { profile { size ageBands { value customers } genders { value } topCities { value } topInterests { value } } } }";
        let reader = app.key_with(&["segments:read", "customers:read"]).await;

        let body = app.graphql(&reader, profile, json!({ "id": segment })).await;
        let shown = &body["data"]["segment"]["profile"];
        assert_eq!(shown["size"], 9);
        for field in ["ageBands", "genders", "topCities"] {
            assert!(shown[field].is_null(), "{field} of 9 members is hidden: {body}");
        }
        let paths: Vec<String> = body["errors"].as_array().unwrap().iter()
            .map(|e| { assert_eq!(e["extensions"]["code"], "FORBIDDEN"); e["path"].as_array().unwrap().last().unwrap().as_str().unwrap().to_owned() })
            .collect();
        assert_eq!(paths.len(), 3, "{body}");
        let admin = app.admin_ok(profile, json!({ "id": segment })).await;
        assert_eq!(admin["segment"]["profile"]["ageBands"][0], json!({ "value": "65+", "customers": 9 }));

        // At the threshold (10 by default) the breakdowns describe a group.
        app.admin_ok(add, json!({ "id": segment, "c": &ids[9..] })).await;
        let body = app.graphql(&reader, profile, json!({ "id": segment })).await;
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(body["data"]["segment"]["profile"]["ageBands"][0]["customers"], 10);
    })
    .await;
}
