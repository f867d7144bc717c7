//! Many processes on one database (issue 14): three `clientele serve --no-scheduler`
//! servers and two `clientele worker`s, real processes on a fresh PostgreSQL database,
//! mailing a real SMTP server (`smtp_sink`). Writes go to the servers in turn; the
//! workers' campaigns queue a welcome email per new buyer and their dispatchers send
//! them. One worker is killed (SIGKILL) while it holds claimed emails in flight, and the
//! test checks what each process promises: every email arrives exactly once, the
//! surviving worker takes over the dead one's claims and the later ticks, no tick runs
//! twice, and the three servers answer alike.
//!
//! PostgreSQL only: on SQLite the processes would share one file's single writer, which
//! is not how clientele runs at scale. The list of backends is a list so that a Citus
//! coordinator can join it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use chrono::Utc;
use entity::{EmailKind, EmailStatus, email, job_run, job_run::JobStatus};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Statement};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, postgres_for, spawn_app_with};
use crate::processes::{Fleet, Process};
use crate::smtp_sink::SmtpSink;

/// The databases the test runs on, by name: PostgreSQL from `TEST_POSTGRES_URL`, and a
/// Citus coordinator from `TEST_CITUS_URL` when it is set (to clientele it is one more
/// PostgreSQL URL; the processes share one distributed schema).
fn backends() -> Vec<(&'static str, Backend)> {
    let mut backends = Vec::new();
    if let Some(url) = postgres_for("scale::three_servers_and_two_workers_…") {
        backends.push(("postgres", Backend::Postgres(url)));
    }
    if let Ok(url) = std::env::var("TEST_CITUS_URL")
        && !url.trim().is_empty()
    {
        backends.push(("citus", Backend::Citus(url)));
    }
    backends
}

#[tokio::test(flavor = "multi_thread")]
async fn three_servers_and_two_workers_send_each_email_once_survive_a_killed_worker_and_agree() {
    for (name, backend) in backends() {
        eprintln!("-- on {name}");
        many_processes_on(backend).await;
    }
}

/// Short timings, so that a takeover takes seconds: claims of 6 s, tick leases of 3 s
/// renewed every second; campaigns every 2 s, the outbox every second; every email
/// allowed at once (no quiet hours, no frequency cap).
fn configuration(sink: &SmtpSink) -> String {
    format!(
        r#"campaigns_schedule = "*/2 * * * * *"
email_dispatch_schedule = "* * * * * *"
scheduler_heartbeat_seconds = 1
scheduler_lease_seconds = 3

[email]
smtp_url = "{smtp}"
email_from = "Care <care@example.com>"
quiet_hours_start = 0
quiet_hours_end = 0
frequency_cap_days = 0
claim_seconds = {CLAIM_SECONDS}
concurrency = 4
"#,
        smtp = sink.url()
    )
}

/// How long a dispatcher's claim lasts here; the killed worker's rows are due again then.
const CLAIM_SECONDS: u64 = 6;
/// How long the SMTP server keeps each recipient waiting while a worker is killed: within
/// the claim, so a live dispatcher finishes its messages before anyone may take them.
const HANG: Duration = Duration::from_secs(5);

/// A server process as a GraphQL client with the admin key.
struct Api<'a> {
    server: &'a Process,
    key: &'a str,
    client: &'a reqwest::Client,
}

impl Api<'_> {
    async fn ok(&self, query: &str, variables: Value) -> Value {
        let address = self.server.address.as_deref().unwrap();
        let response = self
            .client
            .post(format!("{address}/graphql"))
            .bearer_auth(self.key)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .unwrap_or_else(|error| panic!("{} did not answer: {error}", self.server.name));
        let body: Value = response.json().await.unwrap();
        assert!(
            body.get("errors").is_none(),
            "{} answered errors: {body}",
            self.server.name
        );
        body["data"].clone()
    }
}

/// What the test wrote: each customer's external id, address and order amounts (cents).
#[derive(Default)]
struct Written {
    customers: BTreeMap<String, (String, Vec<i64>)>,
}

impl Written {
    fn add(&mut self, external_id: &str, email: &str, orders: &[i64]) {
        self.customers
            .insert(external_id.to_owned(), (email.to_owned(), orders.to_vec()));
    }

    fn addresses(&self) -> BTreeSet<String> {
        self.customers.values().map(|(e, _)| e.clone()).collect()
    }
}

const CREATE: &str =
    "mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }";
const UPSERT: &str =
    "mutation($input: [UpsertCustomerInput!]!) { upsertCustomers(input: $input) { created } }";
const ORDERS: &str = "mutation($input: [OrderInput!]!) { recordOrders(input: $input) { created } }";

fn buyer(external_id: &str) -> (Value, String) {
    let email = format!("{}@example.com", external_id.to_lowercase());
    let input = json!({ "externalId": external_id, "name": external_id, "email": email,
                        "marketingConsent": true, "timeZone": "UTC", "locale": "en" });
    (input, email)
}

/// An order of `cents` (USD) placed a few minutes ago, so that it counts as a first
/// order today for the welcome campaign.
fn order(external_id: &str, customer_external_id: &str, cents: i64) -> Value {
    let ordered_at = Utc::now() - chrono::Duration::minutes(5);
    json!({ "externalId": external_id, "customerExternalId": customer_external_id,
            "amount": format!("{}.{:02}", cents / 100, cents % 100), "currency": "USD",
            "orderedAt": ordered_at.to_rfc3339() })
}

/// `"12.30"` → 1230.
fn cents(amount: &str) -> i64 {
    let (whole, fraction) = amount.split_once('.').unwrap_or((amount, "0"));
    let fraction = format!("{fraction:0<2}");
    whole.parse::<i64>().unwrap() * 100 + fraction[..2].parse::<i64>().unwrap()
}

/// Polls `check` every 50 ms until it holds or `timeout` passes; whether it held.
async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn welcome_emails(app: &TestApp) -> Vec<email::Model> {
    email::Entity::find()
        .filter(email::Column::Kind.eq(EmailKind::Welcome))
        .order_by_asc(email::Column::Id)
        .all(&app.db)
        .await
        .unwrap()
}

async fn runs_of(app: &TestApp, job: &str) -> Vec<job_run::Model> {
    job_run::Entity::find()
        .filter(job_run::Column::Name.eq(job))
        .order_by_asc(job_run::Column::StartedAt)
        .all(&app.db)
        .await
        .unwrap()
}

/// The pid in the holder of run `run_id`'s heartbeat (`host:pid:suffix`).
async fn pid_running(app: &TestApp, run_id: i64) -> Option<u32> {
    let backend = app.db.get_database_backend();
    let row = app
        .db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            "SELECT holder FROM job_leases WHERE name = $1",
            [format!("run:{run_id}").into()],
        ))
        .await
        .unwrap()?;
    let holder: String = row.try_get("", "holder").unwrap();
    holder.rsplit(':').nth(1)?.parse().ok()
}

async fn many_processes_on(backend: Backend) {
    let sink = SmtpSink::start().await;
    // The database, migrated, with its admin key; the in-process server (no scheduler)
    // only sets up.
    let app = spawn_app_with(backend, |_| {}).await;
    let fleet = Fleet::new(&app.database_url, &configuration(&sink), &[]);
    let servers = [
        fleet.server("server-1").await,
        fleet.server("server-2").await,
        fleet.server("server-3").await,
    ];
    let mut workers = [fleet.worker("worker-1"), fleet.worker("worker-2")];
    let client = reqwest::Client::new();
    let apis: Vec<Api> = servers
        .iter()
        .map(|server| Api {
            server,
            key: &app.admin_key,
            client: &client,
        })
        .collect();
    let api = |n: usize| &apis[n % apis.len()];

    // Setup, through the test's in-process server (same database): the welcome campaign.
    crate::care::enable(&app, "WELCOME", json!({ "sendHour": 0 })).await;

    // 1. Both workers up: buyers written one by one, each through the next server, their
    //    orders through the others.
    let mut written = Written::default();
    for n in 0..12 {
        let id = format!("Steady{n}");
        let (input, email) = buyer(&id);
        api(n).ok(CREATE, json!({ "input": input })).await;
        let mut amounts = vec![1000 + 25 * n as i64];
        api(n + 1)
            .ok(
                ORDERS,
                json!({ "input": [order(&format!("{id}-1"), &id, amounts[0])] }),
            )
            .await;
        if n % 2 == 1 {
            amounts.push(499);
            api(n + 2)
                .ok(
                    ORDERS,
                    json!({ "input": [order(&format!("{id}-2"), &id, 499)] }),
                )
                .await;
        }
        written.add(&id, &email, &amounts);
    }
    let arrived = sink.wait_for(12, Duration::from_secs(20)).await;
    assert_eq!(arrived.len(), 12, "the steady buyers' welcome emails");

    // 2. Messages hang in RCPT for HANG: buyers written in one batch wait, claimed, in
    //    flight. Both dispatchers tick each second, so one claims the whole batch, or
    //    (ticking together, each skipping the rows the other locked) they split it.
    sink.delay_recipients(HANG);
    let batch: Vec<(Value, String)> = (0..6).map(|n| buyer(&format!("Batch{n}"))).collect();
    api(2)
        .ok(
            UPSERT,
            json!({ "input": batch.iter().map(|(i, _)| i.clone()).collect::<Vec<_>>() }),
        )
        .await;
    let orders: Vec<Value> = (0..6)
        .map(|n| order(&format!("Batch{n}-1"), &format!("Batch{n}"), 2000 + n))
        .collect();
    api(0).ok(ORDERS, json!({ "input": orders })).await;
    for (n, (_, email)) in batch.iter().enumerate() {
        written.add(&format!("Batch{n}"), email, &[2000 + n as i64]);
    }
    let claimed_all = eventually(Duration::from_secs(15), || async {
        let emails = welcome_emails(&app).await;
        emails.len() == 18
            && emails[12..]
                .iter()
                .all(|e| e.status == EmailStatus::Sending)
    })
    .await;
    assert!(
        claimed_all,
        "the batch is claimed: {:?}",
        welcome_emails(&app).await
    );
    // A dispatch run still going half a second on holds claimed messages in flight (one
    // that claimed nothing ends in milliseconds, and none starts while nothing is due);
    // its process is the pid in its heartbeat.
    let deadline = Instant::now() + Duration::from_secs(5);
    let (holding, holders) = loop {
        let running: Vec<_> = runs_of(&app, "email-dispatch")
            .await
            .into_iter()
            .filter(|r| r.status == JobStatus::Running)
            .collect();
        let settled = Utc::now() - chrono::Duration::milliseconds(500);
        match running.first() {
            Some(run) if running.iter().all(|r| r.started_at < settled) => {
                break (run.clone(), running.len());
            }
            _ if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(50)).await,
            _ => panic!("a dispatch run holds the batch: {running:?}"),
        }
    };
    let pid = pid_running(&app, holding.id)
        .await
        .expect("the run's heartbeat names its process");
    let victim = workers
        .iter()
        .position(|w| w.pid() == pid)
        .expect("a worker runs it");
    let survivor = 1 - victim;
    eprintln!(
        "the batch is held by {holders} dispatcher(s); killing {}",
        workers[victim].name
    );
    assert_eq!(
        sink.messages().len(),
        12,
        "nothing of the batch has arrived yet"
    );
    workers[victim].kill();
    let killed_at = workers[victim].killed_at.unwrap();
    assert!(
        killed_at < holding.started_at + chrono::Duration::from_std(HANG).unwrap(),
        "killed while its messages hung (else the server may have taken one it never recorded)"
    );
    sink.delay_recipients(Duration::ZERO);

    // The survivor takes the dead one's claims once they expire, and its run is closed.
    let arrived = sink.wait_for(18, Duration::from_secs(20)).await;
    assert_eq!(arrived.len(), 18, "the batch arrives, from the survivor");
    let abandoned = eventually(Duration::from_secs(15), || async {
        runs_of(&app, "email-dispatch")
            .await
            .iter()
            .any(|r| r.id == holding.id && r.status == JobStatus::Abandoned)
    })
    .await;
    assert!(abandoned, "the killed worker's run is closed as ABANDONED");

    // 3. Later ticks are the survivor's alone: more buyers, more welcomes.
    for n in 0..4 {
        let id = format!("Later{n}");
        let (input, email) = buyer(&id);
        api(n).ok(CREATE, json!({ "input": input })).await;
        api(n + 2)
            .ok(
                ORDERS,
                json!({ "input": [order(&format!("{id}-1"), &id, 3000)] }),
            )
            .await;
        written.add(&id, &email, &[3000]);
    }
    let arrived = sink.wait_for(22, Duration::from_secs(20)).await;
    assert_eq!(arrived.len(), 22, "the later buyers' welcome emails");

    // Every email arrived exactly once, to the buyers written.
    let recipients: Vec<String> = sink
        .messages()
        .iter()
        .map(|m| m.rcpt_to.join(","))
        .collect();
    let distinct: BTreeSet<String> = recipients.iter().cloned().collect();
    assert_eq!(recipients.len(), 22, "{recipients:?}");
    assert_eq!(distinct, written.addresses(), "each buyer once");
    // (A dispatcher records its batch once the server has taken every message of it.)
    let recorded = eventually(Duration::from_secs(10), || async {
        let emails = welcome_emails(&app).await;
        emails.len() == 22 && emails.iter().all(|e| e.status == EmailStatus::Sent)
    })
    .await;
    let emails = welcome_emails(&app).await;
    assert!(recorded, "{emails:?}");
    // Each sent on its first recorded attempt: the killed worker recorded none.
    assert!(emails.iter().all(|e| e.attempts == 1), "{emails:?}");
    // The batch was sent after the kill, by the survivor (the victim never finished one).
    for email in &emails[12..18] {
        assert!(email.sent_at.unwrap() > killed_at, "{email:?}");
    }

    // No tick ran twice: one campaigns run per 2-second tick, the later ones included.
    let campaign_runs = runs_of(&app, "campaigns").await;
    let ticks: BTreeSet<i64> = campaign_runs
        .iter()
        .map(|r| r.started_at.timestamp().div_euclid(2))
        .collect();
    assert_eq!(
        ticks.len(),
        campaign_runs.len(),
        "a tick ran twice: {campaign_runs:?}"
    );
    assert!(
        campaign_runs
            .iter()
            .any(|r| r.started_at > killed_at && r.status == JobStatus::Succeeded),
        "the survivor runs the later ticks"
    );
    assert!(workers[survivor].is_running(), "the survivor kept running");

    // The three servers answer alike, and as written.
    const PAGE: &str = "{ customers(first: 50, orderBy: { field: CREATED_AT }) { totalCount nodes { id externalId email orderCount totalSpent } } }";
    let pages = [
        api(0).ok(PAGE, json!({})).await,
        api(1).ok(PAGE, json!({})).await,
        api(2).ok(PAGE, json!({})).await,
    ];
    assert_eq!(pages[0], pages[1]);
    assert_eq!(pages[0], pages[2]);
    assert_eq!(pages[0]["customers"]["totalCount"], 22);
    let nodes = pages[0]["customers"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 22);
    for node in nodes {
        let (email, orders) = &written.customers[node["externalId"].as_str().unwrap()];
        assert_eq!(node["email"], email.as_str());
        assert_eq!(node["orderCount"], orders.len(), "{node}");
        assert_eq!(
            cents(node["totalSpent"].as_str().unwrap()),
            orders.iter().sum::<i64>(),
            "{node}"
        );
    }
    // One customer, by id, whose two orders came through two other servers.
    let steady = nodes.iter().find(|n| n["externalId"] == "Steady1").unwrap();
    const ONE: &str = "query($id: ID!) { customer(id: $id) { orderCount totalSpent lastOrderAt } }";
    let mut answers = Vec::new();
    for n in 0..3 {
        answers.push(api(n).ok(ONE, json!({ "id": steady["id"] })).await);
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0], answers[2]);
    assert_eq!(answers[0]["customer"]["orderCount"], 2);
    assert_eq!(
        cents(answers[0]["customer"]["totalSpent"].as_str().unwrap()),
        1025 + 499
    );
}
