//! The command line against a running app's database.

use std::process::{Command, Output};

use serde_json::json;

use crate::helpers::{error_code, on_each_database};

fn clientele(database_url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_clientele"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("CLIENTELE_CONFIG", "/nonexistent/clientele.toml")
        .env("RUST_LOG", "warn")
        .output()
        .expect("the clientele binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn api_keys_created_on_the_command_line_work_with_their_scopes_until_revoked() {
    on_each_database(|app| async move {
        let url = app.database_url.clone();
        let created = tokio::task::spawn_blocking(move || {
            clientele(
                &url,
                &[
                    "api-key",
                    "create",
                    "--name",
                    "pos-partner",
                    "--scopes",
                    "customers:read,customers:write",
                ],
            )
        })
        .await
        .unwrap();
        assert!(
            created.status.success(),
            "{}",
            String::from_utf8_lossy(&created.stderr)
        );
        let out = stdout(&created);
        let key = out.lines().last().unwrap().trim().to_owned();
        assert!(
            key.starts_with("ck_") && key.len() >= 43,
            "the key is alone on the last line: {out}"
        );

        let body = app
            .graphql(
                &key,
                "{ customers { totalCount nodes { name } } }",
                json!({}),
            )
            .await;
        assert!(body.get("errors").is_none(), "{body}");
        let id = app.create_customer(json!({ "name": "Mia Clark" })).await;
        let body = app
            .graphql(
                &key,
                "query($id: ID!) { customer(id: $id) { name } }",
                json!({ "id": id }),
            )
            .await;
        assert_eq!(error_code(&body), "FORBIDDEN", "no pii:read in this key");

        let url = app.database_url.clone();
        let listed = tokio::task::spawn_blocking(move || clientele(&url, &["api-key", "list"]))
            .await
            .unwrap();
        let listing = stdout(&listed);
        assert!(
            listing.contains("pos-partner") && listing.contains("customers:write"),
            "{listing}"
        );
        assert!(!listing.contains(&key), "list never shows keys");

        let url = app.database_url.clone();
        let revoked = tokio::task::spawn_blocking(move || {
            clientele(&url, &["api-key", "revoke", "pos-partner"])
        })
        .await
        .unwrap();
        assert!(revoked.status.success());
        assert_eq!(app.status_after_revocation(&key).await, 401);

        let url = app.database_url.clone();
        let bad = tokio::task::spawn_blocking(move || {
            clientele(
                &url,
                &[
                    "api-key",
                    "create",
                    "--name",
                    "x",
                    "--scopes",
                    "customers:read,superuser",
                ],
            )
        })
        .await
        .unwrap();
        assert!(!bad.status.success());
        assert!(String::from_utf8_lossy(&bad.stderr).contains("superuser"));
    })
    .await;
}

#[tokio::test]
async fn demo_data_is_realistic_and_deterministic_for_a_seed() {
    let summary = "{ customers(first: 100, orderBy: { field: CREATED_AT }) { totalCount nodes { externalId name country city locale timeZone orderCount totalSpent lastOrderAt interests } } }";
    let mut snapshots = Vec::new();
    for _ in 0..2 {
        let app = crate::helpers::spawn_app(crate::helpers::Backend::Sqlite).await;
        let url = app.database_url.clone();
        let demo = tokio::task::spawn_blocking(move || {
            clientele(
                &url,
                &[
                    "demo",
                    "--customers",
                    "300",
                    "--seed",
                    "7",
                    "--end-date",
                    "2026-06-30",
                ],
            )
        })
        .await
        .unwrap();
        assert!(
            demo.status.success(),
            "{}",
            String::from_utf8_lossy(&demo.stderr)
        );
        assert!(stdout(&demo).contains("300 customers"), "{}", stdout(&demo));
        snapshots.push(app.admin_ok(summary, json!({})).await);
        // The aggregates the demo writes directly agree with its orders.
        use jobs::value_scores::{InputSource, load_inputs};
        let cutoff = chrono::Utc::now() + chrono::Duration::hours(1);
        let scanned = load_inputs(&app.db, cutoff, InputSource::Scan)
            .await
            .unwrap();
        assert_eq!(
            scanned,
            load_inputs(&app.db, cutoff, InputSource::Aggregates)
                .await
                .unwrap()
        );

        let url = app.database_url.clone();
        let again = tokio::task::spawn_blocking(move || {
            clientele(&url, &["demo", "--customers", "10", "--seed", "7"])
        })
        .await
        .unwrap();
        assert!(!again.status.success(), "the same seed twice would collide");
    }
    assert_eq!(
        snapshots[0], snapshots[1],
        "the same seed gives the same data"
    );

    let customers = snapshots[0]["customers"]["nodes"].as_array().unwrap();
    assert_eq!(snapshots[0]["customers"]["totalCount"], 300);
    let chinese = customers.iter().filter(|c| c["locale"] == "zh-CN").count();
    let english = customers
        .iter()
        .filter(|c| c["locale"].as_str().unwrap().starts_with("en"))
        .count();
    assert!(
        chinese > 20 && english > 10,
        "a mixed base: {chinese} zh-CN, {english} en"
    );
    let buyers = customers
        .iter()
        .filter(|c| c["orderCount"].as_i64().unwrap() > 0)
        .count();
    let repeaters = customers
        .iter()
        .filter(|c| c["orderCount"].as_i64().unwrap() > 1)
        .count();
    assert!(
        buyers > 60 && buyers < 100,
        "most customers bought: {buyers}/100"
    );
    assert!(repeaters > 20, "many bought again: {repeaters}/100");
    assert!(
        customers.iter().all(
            |c| c["lastOrderAt"].is_null() || c["lastOrderAt"].as_str().unwrap() < "2026-07-01"
        )
    );
}

#[tokio::test]
async fn an_unreachable_database_is_reported_without_its_password() {
    let output = tokio::task::spawn_blocking(|| {
        clientele("postgres://crm:hunter2@127.0.0.1:1/crm", &["migrate"])
    })
    .await
    .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("postgres://crm:***@127.0.0.1:1/crm"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_prints_a_key_once_and_stops_cleanly_on_sigterm() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("serve.db").display()
    );
    let start = |url: &str| {
        Command::new(env!("CARGO_BIN_EXE_clientele"))
            .arg("serve")
            .env("DATABASE_URL", url)
            .env("BIND_ADDR", "127.0.0.1:0")
            .env("CLIENTELE_CONFIG", "/nonexistent/clientele.toml")
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut seen_keys = Vec::new();
    for round in 0..2 {
        let mut child = start(&url);
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut key = None;
        let address = loop {
            let line = tokio::task::block_in_place(|| lines.next())
                .expect("serve printed its address")
                .unwrap();
            if let Some(found) = line.trim().strip_prefix("ck_") {
                key = Some(format!("ck_{found}"));
            }
            if let Some(rest) = line.strip_prefix("GraphiQL: ") {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
        };
        assert!(
            address.starts_with("http://127.0.0.1:") && !address.contains(":0/"),
            "{address}"
        );
        if round == 0 {
            let key = key.expect("the first start prints an admin key");
            let response = reqwest::Client::new()
                .post(&address)
                .bearer_auth(&key)
                .json(&json!({ "query": "{ customers { totalCount } }" }))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), 200);
            seen_keys.push(key);
        } else {
            assert!(key.is_none(), "the key is shown only on the first start");
        }
        // Signal handlers are in place once the server answers; a SIGTERM in the first
        // milliseconds of a start takes the default (immediate) path.
        let health = address.replace("/graphql", "/healthz");
        for _ in 0..50 {
            if reqwest::get(&health)
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let output = tokio::task::block_in_place(|| child.wait_with_output()).unwrap();
        assert!(
            output.status.success(),
            "serve exits cleanly on SIGTERM: {:?}",
            output.status
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("scheduler stopped"), "{stderr}");
    }
    assert_eq!(seen_keys.len(), 1);
}

#[tokio::test]
async fn demo_data_loads_on_each_database_with_aggregates_that_match_its_orders() {
    on_each_database(|app| async move {
        let url = app.database_url.clone();
        let demo = tokio::task::spawn_blocking(move || {
            clientele(&url, &["demo", "--customers", "250", "--seed", "11", "--end-date", "2026-05-31"])
        })
        .await
        .unwrap();
        assert!(demo.status.success(), "{}", String::from_utf8_lossy(&demo.stderr));
        let data = app
            .admin_ok("{ customers(filter: { hasOrders: true }) { totalCount nodes { orders(first: 1) { nodes { currency } } interests } } }", json!({}))
            .await;
        assert!(data["customers"]["totalCount"].as_i64().unwrap() > 150);
        assert_eq!(data["customers"]["nodes"][0]["orders"]["nodes"][0]["currency"], "USD");
        use jobs::value_scores::{InputSource, load_inputs};
        let cutoff = chrono::Utc::now() + chrono::Duration::hours(1);
        let scanned = load_inputs(&app.db, cutoff, InputSource::Scan).await.unwrap();
        assert_eq!(scanned.len(), 250);
        assert_eq!(scanned, load_inputs(&app.db, cutoff, InputSource::Aggregates).await.unwrap());
    })
    .await;
}

/// Runs the binary with `args` and `env`, nothing else from the test's environment that
/// changes logging.
fn clientele_with(env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_clientele"));
    command
        .args(args)
        .env("CLIENTELE_CONFIG", "/nonexistent/clientele.toml")
        .env_remove("RUST_LOG")
        .env_remove("DATABASE_URL")
        .env_remove("NO_COLOR");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("the clientele binary runs")
}

#[tokio::test]
async fn a_database_url_that_cannot_work_is_refused_at_once_without_its_password() {
    for url in [
        "redis://u:hunter2@h/x",
        "postgres//u:hunter2@127.0.0.1:1/x",
        "postgres://u:hunter2@127.0.0.1:port/x",
    ] {
        for args in [
            &["migrate"][..],
            &["serve"],
            &["worker"],
            &["run-job", "lifecycle"],
            &["api-key", "list"],
        ] {
            let started = std::time::Instant::now();
            let output = tokio::task::spawn_blocking(move || {
                clientele_with(&[("DATABASE_URL", url), ("RUST_LOG", "warn")], args)
            })
            .await
            .unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(!output.status.success(), "{url} {args:?}");
            assert!(!stderr.contains("hunter2"), "{url} {args:?}: {stderr}");
            assert!(
                stderr.contains(":***@"),
                "the URL is shown, redacted: {stderr}"
            );
            assert!(
                stderr.contains("sqlite://FILE")
                    && stderr.contains("postgres://USER:PASSWORD@HOST"),
                "the accepted forms are listed: {stderr}"
            );
            assert!(
                !stderr.contains("retrying")
                    && started.elapsed() < std::time::Duration::from_secs(3),
                "refused at once, not retried: {stderr}"
            );
        }
    }
}

#[tokio::test]
async fn a_sqlite_url_without_a_mode_creates_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fresh.db");
    let url = format!("sqlite://{}", file.display());
    let output = tokio::task::spawn_blocking(move || clientele(&url, &["migrate"]))
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(file.exists());
    // An explicit mode is obeyed: `rw` opens only what exists.
    let missing = format!(
        "sqlite://{}?mode=rw",
        dir.path().join("missing.db").display()
    );
    let output = tokio::task::spawn_blocking(move || clientele(&missing, &["migrate"]))
        .await
        .unwrap();
    assert!(!output.status.success());
    assert!(!dir.path().join("missing.db").exists());
}

fn help(args: &[&str]) -> String {
    let output = clientele_with(&[], args);
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout(&output)
}

/// The text after `item` on its line of a `-h` help (options and arguments are one line
/// each there), trimmed.
fn help_text_of<'a>(help: &'a str, item: &str) -> &'a str {
    help.lines()
        .filter(|line| !line.starts_with("Usage:"))
        .find_map(|line| line.split_once(item).map(|(_, rest)| rest.trim()))
        .unwrap_or_else(|| panic!("`{item}` is not in the help:\n{help}"))
}

#[test]
fn each_command_documents_only_the_settings_it_uses() {
    let server_only = [
        "--bind-addr",
        "--smtp-url",
        "--cors-origins",
        "--value-scores-schedule",
    ];
    for command in [&["serve"][..], &["worker"], &["run-job"]] {
        let text = help(&[command, &["--help"]].concat());
        for option in server_only.iter().chain(&["--database-url"]) {
            assert!(text.contains(option), "{command:?} takes {option}:\n{text}");
        }
    }
    for command in [
        &["migrate"][..],
        &["demo"],
        &["api-key"],
        &["api-key", "create"],
        &["api-key", "list"],
        &["api-key", "revoke"],
    ] {
        let text = help(&[command, &["--help"]].concat());
        assert!(text.contains("--database-url"), "{command:?}:\n{text}");
        for option in server_only {
            assert!(
                !text.contains(option),
                "{command:?} has no {option}:\n{text}"
            );
        }
    }
    let text = help(&["export-schema", "--help"]);
    for option in server_only.iter().chain(&["--database-url"]) {
        assert!(
            !text.contains(option),
            "export-schema has no {option}:\n{text}"
        );
    }

    let create = help(&["api-key", "create", "-h"]);
    assert!(
        !help_text_of(&create, "--name <NAME>").is_empty(),
        "{create}"
    );
    assert!(
        !help_text_of(&create, "--scopes <SCOPES>").is_empty(),
        "{create}"
    );
    let revoke = help(&["api-key", "revoke", "-h"]);
    assert!(!help_text_of(&revoke, "<NAME>  ").is_empty(), "{revoke}");

    let text = help(&["help", "--help"]);
    assert!(text.contains("Usage: clientele help"), "{text}");
    assert!(help(&["help", "api-key", "create"]).contains("--scopes"));
    assert!(help(&["--help"]).contains("run-job"));
}

#[test]
fn run_job_help_names_every_job_with_what_it_does() {
    let text = help(&["run-job", "--help"]);
    for job in jobs::JobName::ALL {
        let described = help_text_of(&text, &format!("- {}:", job.as_str()));
        assert_eq!(described, job.description(), "{text}");
    }
}

#[tokio::test]
async fn run_job_logs_start_and_finish_without_colour_codes() {
    on_each_database(|app| async move {
        // The whole app, not just its URL: it owns the database.
        let app = app;
        let url = app.database_url.clone();
        let output = tokio::task::spawn_blocking(move || {
            clientele_with(&[("DATABASE_URL", &url)], &["run-job", "lifecycle"])
        })
        .await
        .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stderr}");
        assert!(
            !stderr.contains('\x1b'),
            "no colour codes in a pipe: {stderr:?}"
        );
        let run: serde_json::Value = serde_json::from_str(stdout(&output).trim()).unwrap();
        let id = run["id"].as_i64().unwrap();
        let started = stderr
            .lines()
            .find(|line| line.contains("job started"))
            .unwrap_or_else(|| panic!("{stderr}"));
        assert!(
            started.contains(" INFO ")
                && started.contains("job=lifecycle")
                && started.contains(&format!("run_id={id}")),
            "{started}"
        );
        let finished = stderr
            .lines()
            .find(|line| line.contains("job finished"))
            .unwrap_or_else(|| panic!("{stderr}"));
        assert!(
            finished.contains(" INFO ")
                && finished.contains("job=lifecycle")
                && finished.contains(&format!("run_id={id}"))
                && finished.contains("status=SUCCEEDED")
                && finished.contains("duration_ms=")
                && finished.contains("stats={"),
            "{finished}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_runs_are_logged_and_the_scheduler_starts_quietly() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("serve.db").display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_clientele"))
        .arg("serve")
        .env("DATABASE_URL", &url)
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("OUTBOX_DIR", dir.path().join("outbox"))
        .env("CLIENTELE_CONFIG", "/nonexistent/clientele.toml")
        // Every second, so a scheduled run comes soon.
        .env("SEGMENTS_SCHEDULE", "* * * * * *")
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (lines, seen) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut log = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        match seen.recv_timeout(std::time::Duration::from_millis(200)) {
            Ok(line) => {
                let done = line.contains("job finished") && line.contains("job=segments");
                log.push(line);
                if done {
                    break;
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = tokio::task::block_in_place(|| child.wait());
    log.extend(seen.try_iter());
    let log = log.join("\n");
    assert!(
        log.lines()
            .any(|l| l.contains("job started") && l.contains("job=segments")),
        "{log}"
    );
    let finished = log
        .lines()
        .find(|l| l.contains("job finished") && l.contains("job=segments"))
        .unwrap_or_else(|| panic!("a scheduled run logs its end:\n{log}"));
    assert!(
        finished.contains("status=SUCCEEDED") && finished.contains("duration_ms="),
        "{finished}"
    );
    assert!(!log.contains("Job creator created"), "{log}");
    assert!(!log.contains('\x1b'), "no colour codes in a pipe: {log:?}");
}
