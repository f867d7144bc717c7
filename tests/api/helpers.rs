//! `spawn_app` and request helpers.

use std::future::Future;

use clientele::configuration::{LogFormat, Settings};
use clientele::startup::Application;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{Value, json};

/// Which database a test app runs on.
#[derive(Clone, Debug)]
pub enum Backend {
    Sqlite,
    /// A server's admin URL; each test gets a database of its own, copied from a template
    /// migrated once per test binary ([`postgres_template`]).
    Postgres(String),
    /// A Citus coordinator's database; each test gets a schema of its own in it: creating
    /// a database on a cluster means creating it on every node and registering the
    /// workers again, seconds per test. A schema is migrated (and so distributed) once
    /// and, after its test, emptied and handed to the next test ([`CITUS_SCHEMAS`]):
    /// migrating a fresh one costs about 3 s, emptying one well under a second.
    /// `citus.shard_count` 4 keeps the shards per schema few.
    Citus(String),
}

fn env_url(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .filter(|url| !url.trim().is_empty())
}

/// SQLite always; PostgreSQL when `TEST_POSTGRES_URL` names a server, Citus when
/// `TEST_CITUS_URL` names a coordinator's database.
pub fn backends() -> Vec<Backend> {
    let mut backends = vec![Backend::Sqlite];
    if let Some(url) = env_url("TEST_POSTGRES_URL") {
        backends.push(Backend::Postgres(url));
    }
    if let Some(url) = env_url("TEST_CITUS_URL") {
        backends.push(Backend::Citus(url));
    }
    backends
}

/// The PostgreSQL server of a test that needs one (several processes on one database):
/// `TEST_POSTGRES_URL`. Without it the test is to be skipped, said loudly — unless `CI`
/// is set (CI starts PostgreSQL), where a skip would hide the test: then it fails.
pub fn postgres_for(test: &str) -> Option<String> {
    match std::env::var("TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("{test} needs PostgreSQL: CI must set TEST_POSTGRES_URL")
        }
        _ => {
            eprintln!(
                "\n\n!!! SKIPPED {test}: it needs PostgreSQL; set \
                 TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres !!!\n\n"
            );
            None
        }
    }
}

/// Runs `test` against a fresh app on every configured database, one after the other.
pub async fn on_each_database<F, Fut>(test: F)
where
    F: Fn(TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    on_each_database_with(|_| {}, test).await
}

/// Like `on_each_database`, with settings changed by `configure` (e.g. `SMTP_URL`).
pub async fn on_each_database_with<C, F, Fut>(configure: C, test: F)
where
    C: Fn(&mut Settings),
    F: Fn(TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    for backend in backends() {
        let name = backend.name();
        let started = std::time::Instant::now();
        let app = spawn_app_with(backend, &configure).await;
        eprintln!(
            "-- on {name} (set up in {:.2} s)",
            started.elapsed().as_secs_f64()
        );
        let handle = app.server.clone();
        // An `async move` body that only uses some fields of `app` captures just those
        // (disjoint capture) and drops the rest at once: the database would be gone
        // before the test ran. Keep it here until the test ends.
        let database = app._database.clone();
        test(app).await;
        handle.stop(false).await;
        drop(database);
    }
}

impl Backend {
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres(_) => "postgres",
            Backend::Citus(_) => "citus",
        }
    }
}

/// A database of one test: removed afterwards (a Citus schema emptied for the next test).
enum TestDatabase {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
    CitusSchema { url: String, name: String },
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let work: std::pin::Pin<Box<dyn Future<Output = ()> + Send>> = match self {
            TestDatabase::Sqlite(_) => return,
            TestDatabase::Postgres { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                Box::pin(async move {
                    if let Ok(db) = Database::connect(&admin_url).await {
                        let _ = db
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                            ))
                            .await;
                        let _ = db.close().await;
                    }
                })
            }
            TestDatabase::CitusSchema { url, name } => {
                let (url, name) = (url.clone(), name.clone());
                Box::pin(async move {
                    let Ok(db) = Database::connect(&url).await else {
                        return;
                    };
                    if empty_for_reuse(&db, &url, &name).await {
                        CITUS_SCHEMAS.lock().unwrap().push(name);
                    } else {
                        let _ = db
                            .execute_unprepared(&format!(
                                "DROP SCHEMA IF EXISTS \"{name}\" CASCADE; \
                                 DROP SCHEMA IF EXISTS \"{name}{SEED_SUFFIX}\" CASCADE"
                            ))
                            .await;
                    }
                    let _ = db.close().await;
                })
            }
        };
        block_on_own_thread(work);
    }
}

/// Runs `work` to its end on a short-lived runtime of its own thread: for `Drop`, which
/// cannot await, and for set-up shared by tests that each run on their own runtime.
fn block_on_own_thread<T: Send + 'static>(work: impl Future<Output = T> + Send + 'static) -> T {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(work)
    })
    .join()
    .unwrap()
}

/// Citus schemas migrated, emptied after their test and waiting for the next one.
static CITUS_SCHEMAS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Test schemas are named `<prefix><pid>_<random>`: a run drops those of runs that ended.
const CITUS_SCHEMA_PREFIX: &str = "clientele_test_";

/// Where a Citus test schema's seed rows (what migrations insert: playbooks, kept
/// counts) are kept, a schema beside it: a table of clientele's own schema that the
/// distribution plan does not know would fail `migrate`.
const SEED_SUFFIX: &str = "_seed";

/// Migrates a fresh Citus schema and copies the rows its migrations inserted into its
/// seed schema, for [`empty_for_reuse`] to put back.
async fn keep_seed_rows(url: &str, name: &str) {
    let schema = clientele::database::connect(&citus_schema_url(url, name))
        .await
        .unwrap();
    clientele::database::migrate(&schema).await.unwrap();
    for table in tables_of(&schema, name).await {
        let seeded = format!("\"{name}\".\"{table}\"");
        if names(&schema, &format!("SELECT 'x' FROM {seeded} LIMIT 1"))
            .await
            .is_empty()
        {
            continue;
        }
        schema
            .execute_unprepared(&format!(
                "CREATE TABLE \"{name}{SEED_SUFFIX}\".\"{table}\" AS SELECT * FROM {seeded}"
            ))
            .await
            .unwrap();
    }
    schema.close().await.unwrap();
}

/// The URL of a Citus test schema: its connections work in it, and the tables it
/// distributes get 4 shards.
fn citus_schema_url(url: &str, name: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options=-c%20search_path%3D{name}%20-c%20citus.shard_count%3D4")
}

/// The URL of database `name` on the server of `admin_url`.
fn database_url_of(admin_url: &str, name: &str) -> String {
    let base = admin_url
        .rsplit_once('/')
        .map_or(admin_url, |(base, _)| base);
    format!("{base}/{name}")
}

/// The first column of a statement's rows, as text (an empty list when it fails).
async fn names(db: &DatabaseConnection, sql: &str) -> Vec<String> {
    db.query_all_raw(sea_orm::Statement::from_string(
        sea_orm::DatabaseBackend::Postgres,
        sql.to_owned(),
    ))
    .await
    .map(|rows| {
        rows.iter()
            .filter_map(|row| row.try_get_by_index::<String>(0).ok())
            .collect()
    })
    .unwrap_or_default()
}

/// The tables of a schema, but the migrations' record.
async fn tables_of(db: &DatabaseConnection, schema: &str) -> Vec<String> {
    names(
        db,
        &format!(
            "SELECT tablename FROM pg_tables WHERE schemaname = '{schema}' \
             AND tablename <> 'seaql_migrations' ORDER BY tablename"
        ),
    )
    .await
}

/// Empties a test's schema for the next test: every table but the migrations' record,
/// in one `TRUNCATE`, then puts back the rows its migrations inserted. Only a schema at
/// the latest migration is reused (a test that migrated down and did not come back
/// leaves its schema to be dropped), and a table still locked by the test's app after
/// 10 s leaves it to be dropped too.
async fn empty_for_reuse(db: &DatabaseConnection, url: &str, name: &str) -> bool {
    use migration::MigratorTrait;
    let Ok(schema) = Database::connect(&citus_schema_url(url, name)).await else {
        return false;
    };
    let current = matches!(
        migration::Migrator::get_pending_migrations(&schema).await,
        Ok(pending) if pending.is_empty()
    );
    let _ = schema.close().await;
    if !current {
        return false;
    }
    let tables: Vec<String> = tables_of(db, name)
        .await
        .into_iter()
        .map(|table| format!("\"{name}\".\"{table}\""))
        .collect();
    if tables.is_empty() {
        return false;
    }
    let seeds: String = tables_of(db, &format!("{name}{SEED_SUFFIX}"))
        .await
        .into_iter()
        .map(|table| {
            format!(
                " INSERT INTO \"{name}\".\"{table}\" SELECT * FROM \"{name}{SEED_SUFFIX}\".\"{table}\";"
            )
        })
        .collect();
    db.execute_unprepared(&format!(
        "BEGIN; SET LOCAL lock_timeout = '10s'; TRUNCATE {} CASCADE;{seeds} COMMIT",
        tables.join(", ")
    ))
    .await
    .is_ok()
}

/// Drops the test schemas of runs whose process has ended (pooled schemas outlive their
/// tests; a run that was killed leaves them all).
async fn drop_schemas_of_ended_runs(admin: &DatabaseConnection) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    let mut first = false;
    ONCE.call_once(|| first = true);
    if !first {
        return;
    }
    let schemas = names(
        admin,
        &format!("SELECT nspname FROM pg_namespace WHERE nspname LIKE '{CITUS_SCHEMA_PREFIX}%'"),
    )
    .await;
    for schema in schemas {
        let pid = schema
            .strip_prefix(CITUS_SCHEMA_PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        let ended = pid.is_some_and(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists());
        if ended {
            let _ = admin
                .execute_unprepared(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                .await;
        }
    }
}

/// The PostgreSQL database each test's database is copied from (`CREATE DATABASE …
/// TEMPLATE`, a fraction of a second where 21 migrations take seconds): migrated once
/// per build of the test binary, kept under a name of that build so a rebuilt binary
/// with a new migration never copies an old template; templates of other builds are
/// dropped when a new one is made.
fn postgres_template(admin_url: &str) -> String {
    static TEMPLATE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEMPLATE
        .get_or_init(|| {
            let admin_url = admin_url.to_owned();
            block_on_own_thread(async move { make_postgres_template(&admin_url).await })
        })
        .clone()
}

async fn make_postgres_template(admin_url: &str) -> String {
    use std::hash::{Hash, Hasher};
    let exe = std::env::current_exe().unwrap();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    exe.hash(&mut hasher);
    std::fs::metadata(&exe)
        .and_then(|m| m.modified())
        .unwrap()
        .hash(&mut hasher);
    let name = format!("clientele_template_{:016x}", hasher.finish());
    let admin = Database::connect(admin_url)
        .await
        .expect("TEST_POSTGRES_URL is not reachable");
    let exists = !names(
        &admin,
        &format!("SELECT datname FROM pg_database WHERE datname = '{name}'"),
    )
    .await
    .is_empty();
    if !exists {
        // Made under a name of its own and renamed when complete, so a run stopped
        // half-way never leaves a template that looks ready.
        let building = format!("{name}_{}", uuid_like());
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{building}\""))
            .await
            .unwrap();
        let db = clientele::database::connect(&database_url_of(admin_url, &building))
            .await
            .unwrap();
        clientele::database::migrate(&db).await.unwrap();
        db.close().await.unwrap();
        if admin
            .execute_unprepared(&format!(
                "ALTER DATABASE \"{building}\" RENAME TO \"{name}\""
            ))
            .await
            .is_err()
        {
            // Another run of this build made it meanwhile.
            let _ = admin
                .execute_unprepared(&format!("DROP DATABASE \"{building}\""))
                .await;
        }
        let others = names(
            &admin,
            &format!(
                "SELECT datname FROM pg_database WHERE datname LIKE 'clientele_template_%' \
                 AND datname <> '{name}'"
            ),
        )
        .await;
        for other in others {
            // Fails harmlessly while another run copies from it.
            let _ = admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{other}\""))
                .await;
        }
    }
    admin.close().await.unwrap();
    name
}

pub struct TestApp {
    pub address: String,
    /// The app's database, for driving the command line against the same data.
    pub database_url: String,
    /// The admin key printed on first start.
    pub admin_key: String,
    pub db: DatabaseConnection,
    pub client: reqwest::Client,
    /// Statements the app has run so far.
    pub queries: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// The settings it runs with (links point at `address`).
    pub settings: Settings,
    /// Where `.eml` files go when no SMTP server is configured.
    pub outbox: tempfile::TempDir,
    server: actix_web::dev::ServerHandle,
    _database: std::sync::Arc<TestDatabase>,
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

pub async fn spawn_app_with(backend: Backend, configure: impl Fn(&mut Settings)) -> TestApp {
    let (database_url, database) = match &backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("clientele.db").display()
            );
            (url, TestDatabase::Sqlite(dir))
        }
        Backend::Postgres(admin_url) => {
            let name = format!("clientele_test_{}", uuid_like());
            let template = postgres_template(admin_url);
            let admin = Database::connect(admin_url)
                .await
                .expect("TEST_POSTGRES_URL is not reachable");
            admin
                .execute_unprepared(&format!(
                    "CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""
                ))
                .await
                .unwrap();
            admin.close().await.unwrap();
            (
                database_url_of(admin_url, &name),
                TestDatabase::Postgres {
                    admin_url: admin_url.clone(),
                    name,
                },
            )
        }
        Backend::Citus(url) => {
            let pooled = CITUS_SCHEMAS.lock().unwrap().pop();
            let name = match pooled {
                Some(name) => name,
                None => {
                    let name = format!(
                        "{CITUS_SCHEMA_PREFIX}{}_{}",
                        std::process::id(),
                        uuid_like()
                    );
                    let admin = Database::connect(url)
                        .await
                        .expect("TEST_CITUS_URL is not reachable");
                    drop_schemas_of_ended_runs(&admin).await;
                    admin
                        .execute_unprepared(&format!(
                            "CREATE SCHEMA \"{name}\"; CREATE SCHEMA \"{name}{SEED_SUFFIX}\""
                        ))
                        .await
                        .unwrap();
                    admin.close().await.unwrap();
                    keep_seed_rows(url, &name).await;
                    name
                }
            };
            (
                citus_schema_url(url, &name),
                TestDatabase::CitusSchema {
                    url: url.clone(),
                    name,
                },
            )
        }
    };
    let outbox = tempfile::tempdir().unwrap();
    let mut settings = Settings {
        database_url: database_url.clone().into(),
        bind_addr: "127.0.0.1:0".into(),
        public_url: None,
        log_format: LogFormat::Pretty,
        cors_origins: vec!["https://crm.example.com".into()],
        http_workers: Some(1),
        scheduler_time_zone: "UTC".into(),
        value_scores_schedule: "0 0 2 * * *".into(),
        lifecycle_schedule: "0 0 3 * * *".into(),
        segments_schedule: "0 15 * * * *".into(),
        value: Default::default(),
        lifecycle: Default::default(),
        campaigns_schedule: "0 5 * * * *".into(),
        email_dispatch_schedule: "0 * * * * *".into(),
        marketer_digest_schedule: "0 0 8 * * Mon".into(),
        scheduler_heartbeat_seconds: 30,
        scheduler_lease_seconds: 120,
        email: jobs::mail::MailSettings {
            outbox_dir: outbox.path().to_owned(),
            email_from: "Clientele Care <care@shop.example>".into(),
            store_name: "Test Shop".into(),
            ..Default::default()
        },
        privacy: Default::default(),
        request_timeout_seconds: 10.0,
        statement_timeout_seconds: 10.0,
        metrics_operation_labels: 100,
        // Every test reads the figures it has just written; the sharing of computed
        // reports has a test of its own.
        report_cache_seconds: 0.0,
        metrics_token: None,
    };
    configure(&mut settings);
    let mut app = Application::build(&settings, false)
        .await
        .expect("the app failed to build");
    let admin_key = app
        .take_bootstrap_key()
        .expect("a fresh database gets an admin key")
        .secret;
    let port = app.port();
    let server = app.server_handle();
    let queries = app.query_counter();
    let db = clientele::database::connect(&database_url).await.unwrap();
    tokio::spawn(app.run_until_stopped());
    settings.public_url = Some(format!("http://127.0.0.1:{port}"));
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        database_url,
        admin_key,
        db,
        client: reqwest::Client::new(),
        queries,
        settings,
        outbox,
        server,
        _database: std::sync::Arc::new(database),
    }
}

fn uuid_like() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    format!("{:016x}{:08x}", rng.random::<u64>(), std::process::id())
}

impl TestApp {
    /// What the jobs of this app use (a mailer with links to `address`).
    pub fn job_context(&self) -> jobs::JobContext {
        self.settings.job_context(self.db.clone()).unwrap()
    }

    /// The status a revoked `key` gets once the revocation has reached the server: at
    /// once on SQLite (every request reads its key); on PostgreSQL when the server's
    /// listener has taken the NOTIFY sent at commit, milliseconds later. Waits at most
    /// two seconds for a 401, so a server that kept serving the key fails the test.
    pub async fn status_after_revocation(&self, key: &str) -> u16 {
        let mut status = 0;
        for _ in 0..100 {
            status = self
                .post_graphql(Some(key), "{ __typename }", json!({}))
                .await
                .0;
            if status == 401 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        status
    }

    /// POSTs a GraphQL request with `key`, returning status and JSON body.
    pub async fn post_graphql(
        &self,
        key: Option<&str>,
        query: &str,
        variables: Value,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.address))
            .json(&json!({
                "query": query,
                "variables": variables,
            }));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.expect("request failed");
        let status = response.status().as_u16();
        let body = response.json::<Value>().await.unwrap_or(Value::Null);
        (status, body)
    }

    /// A GraphQL request with the admin key; the body.
    pub async fn admin(&self, query: &str, variables: Value) -> Value {
        self.graphql(&self.admin_key, query, variables).await
    }

    /// A GraphQL request with `key` that must answer HTTP 200; the body.
    pub async fn graphql(&self, key: &str, query: &str, variables: Value) -> Value {
        let (status, body) = self.post_graphql(Some(key), query, variables).await;
        assert_eq!(status, 200, "unexpected status; body: {body}");
        body
    }

    /// Runs a job now through `runJob` (admin key); it must succeed.
    pub async fn run_job_ok(&self, job: &str) {
        let run = self
            .admin_ok(
                "mutation($n: String!) { runJob(name: $n) { status error } }",
                json!({ "n": job }),
            )
            .await;
        assert_eq!(run["runJob"]["status"], "SUCCEEDED", "{run}");
    }

    /// Like `admin`, but the response must have no errors; its `data`.
    pub async fn admin_ok(&self, query: &str, variables: Value) -> Value {
        let body = self.admin(query, variables).await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }

    /// A new key with exactly these scopes.
    pub async fn key_with(&self, scopes: &[&str]) -> String {
        let scopes = clientele::api_keys::parse_scopes(&scopes.join(",")).unwrap();
        let name = format!("test-{}", uuid_like());
        clientele::api_keys::create(&self.db, &name, &scopes)
            .await
            .unwrap()
            .secret
    }

    /// Creates a customer from a JSON input; its id.
    pub async fn create_customer(&self, input: Value) -> String {
        let data = self
            .admin_ok(
                "mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }",
                json!({ "input": input }),
            )
            .await;
        data["createCustomer"]["id"].as_str().unwrap().to_owned()
    }

    /// Records orders; the payload.
    pub async fn record_orders(&self, orders: Value) -> Value {
        self.admin_ok(
            "mutation($input: [OrderInput!]!) { recordOrders(input: $input) { created unchanged orders { id externalId amount } } }",
            json!({ "input": orders }),
        )
        .await["recordOrders"]
            .clone()
    }

    /// A static segment named `name` holding `members` (customer ids), added one at a time
    /// (so their entries are recorded in this order); its id.
    pub async fn static_segment(&self, name: &str, members: &[&str]) -> String {
        let segment = self
            .admin_ok(
                "mutation($input: CreateSegmentInput!) { createSegment(input: $input) { id } }",
                json!({ "input": { "name": name, "kind": "STATIC" } }),
            )
            .await["createSegment"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        for member in members {
            self.admin_ok(
                "mutation($id: ID!, $c: ID!) { addSegmentMembers(id: $id, input: { customerIds: [$c] }) { size } }",
                json!({ "id": segment, "c": member }),
            )
            .await;
        }
        segment
    }

    /// A sent email to `customer` (of `campaign`, when given), stored as the dispatcher
    /// leaves one; its id.
    pub async fn sent_email(
        &self,
        dedupe_key: &str,
        kind: entity::EmailKind,
        customer: &str,
        campaign: Option<&str>,
    ) -> String {
        use sea_orm::{ActiveModelTrait, Set};
        let now = chrono::Utc::now();
        let row = entity::email::ActiveModel {
            dedupe_key: Set(dedupe_key.to_owned()),
            kind: Set(kind),
            campaign_id: Set(campaign.map(|id| id.parse().unwrap())),
            customer_id: Set(Some(customer.parse().unwrap())),
            status: Set(entity::EmailStatus::Sent),
            attempts: Set(1),
            scheduled_for: Set(now),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&self.db)
        .await
        .unwrap();
        row.id.to_string()
    }
}

/// Takes the app's database back to the version before `name` (a migration's name),
/// undoing that migration and every later one, so an upgrade test stays right when
/// newer migrations land.
pub async fn migrate_down_to_before(app: &TestApp, name: &str) {
    use migration::MigratorTrait;
    let names: Vec<String> = migration::Migrator::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    let position = names
        .iter()
        .position(|n| n == name)
        .unwrap_or_else(|| panic!("no migration named {name}"));
    let steps = u32::try_from(names.len() - position).unwrap();
    migration::Migrator::down(&app.db, Some(steps))
        .await
        .unwrap();
}

/// The `extensions.code` of the first error.
pub fn error_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body}"))
}

/// Every error's `extensions.code`.
pub fn error_codes(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["extensions"]["code"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
