//! GraphiQL served from the binary and working in a real browser without internet, and
//! the security headers of every response.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use futures::FutureExt;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{Backend, TestApp, on_each_database, spawn_app};

/// The `src`/`href` attribute values of an HTML page.
fn references(page: &str) -> Vec<String> {
    let mut found = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        for (start, _) in page.match_indices(attribute) {
            let rest = &page[start + attribute.len()..];
            if let Some(end) = rest.find('"') {
                found.push(rest[..end].to_owned());
            }
        }
    }
    found
}

/// `http://` and `https://` URLs in `text` that are not `origin`'s.
pub(crate) fn foreign_urls(text: &str, origin: &str) -> Vec<String> {
    let mut found = Vec::new();
    for scheme in ["http://", "https://"] {
        for (start, _) in text.match_indices(scheme) {
            let url: String = text[start..]
                .chars()
                .take_while(|c| !c.is_whitespace() && !"\"'<>)`".contains(*c))
                .collect();
            if !url.starts_with(origin) {
                found.push(url);
            }
        }
    }
    found
}

/// A CSP as directive name → its sources.
pub(crate) fn policy(response: &reqwest::Response) -> Vec<(String, Vec<String>)> {
    let value = response
        .headers()
        .get("content-security-policy")
        .expect("an HTML page has a Content-Security-Policy")
        .to_str()
        .unwrap();
    value
        .split(';')
        .filter_map(|directive| {
            let mut words = directive.split_whitespace();
            let name = words.next()?.to_owned();
            Some((name, words.map(str::to_owned).collect()))
        })
        .collect()
}

pub(crate) fn sources<'a>(policy: &'a [(String, Vec<String>)], directive: &str) -> &'a [String] {
    policy
        .iter()
        .find(|(name, _)| name == directive)
        .map(|(_, sources)| sources.as_slice())
        .unwrap_or_else(|| panic!("no {directive} in {policy:?}"))
}

#[tokio::test]
async fn graphiql_and_every_file_it_loads_are_served_by_the_app_itself() {
    on_each_database(|app| async move {
        let response = app
            .client
            .get(format!("{}/graphql", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let page = response.text().await.unwrap();
        assert_eq!(foreign_urls(&page, &app.address), Vec::<String>::new());
        assert!(page.contains("Paste your API key once, after <code>Bearer&nbsp;</code>"));
        assert!(
            !page.contains("&lt;paste"),
            "no escaped placeholder any more"
        );
        assert_eq!(
            page.matches("<script").count(),
            page.matches("<script src=\"").count(),
            "no inline script: {page}"
        );
        assert!(
            !page.contains("onload="),
            "no event handler attributes: {page}"
        );

        let files: Vec<String> = references(&page)
            .into_iter()
            .filter(|file| file != "data:,")
            .collect();
        let scripts = files.iter().filter(|file| file.ends_with(".js")).count();
        assert_eq!(scripts, 4, "React, ReactDOM, GraphiQL and ours: {files:?}");
        for file in &files {
            // Relative to the page, as a browser resolves them.
            assert!(file.starts_with("graphiql/"), "{file}");
            let response = app
                .client
                .get(format!("{}/{file}", app.address))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{file}");
            let header = |name: &str| response.headers()[name].to_str().unwrap().to_owned();
            let content_type = header("content-type");
            let expected = match file.rsplit('.').next() {
                Some("js") => "text/javascript",
                Some("css") => "text/css",
                _ => "text/plain",
            };
            assert!(content_type.starts_with(expected), "{file}: {content_type}");
            let vendored = file.contains('-') && file.matches('/').count() == 2;
            let cache = header("cache-control");
            if vendored {
                assert!(cache.contains("immutable"), "{file}: {cache}");
            } else {
                assert_eq!(cache, "no-cache", "{file}");
            }
            let body = response.text().await.unwrap();
            if file.ends_with("LICENSE") {
                assert!(body.contains("MIT License"), "{file}");
            }
            if file.ends_with("graphiql.min.js") {
                assert!(body.contains("window.GraphiQL"));
            }
            if file == "graphiql/clientele.js" {
                assert_eq!(foreign_urls(&body, &app.address), Vec::<String>::new());
                assert!(
                    body.contains(r#"'{\n  "Authorization": "Bearer "\n}'"#),
                    "the headers panel is prefilled: {body}"
                );
            }
        }
        let licences = files.iter().filter(|f| f.ends_with("/LICENSE")).count();
        assert_eq!(licences, 3, "{files:?}");

        let missing = app
            .client
            .get(format!(
                "{}/graphiql/graphiql-0.0.0/graphiql.min.js",
                app.address
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(missing.status(), 404);
    })
    .await;
}

#[tokio::test]
async fn html_pages_allow_only_their_own_origin_and_refuse_frames() {
    on_each_database(|app| async move {
        let graphiql = app
            .client
            .get(format!("{}/graphql", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(graphiql.headers()["x-frame-options"], "DENY");
        let csp = policy(&graphiql);
        assert_eq!(sources(&csp, "default-src"), ["'self'"]);
        assert_eq!(sources(&csp, "script-src"), ["'self'"]);
        assert_eq!(sources(&csp, "connect-src"), ["'self'"]);
        assert_eq!(sources(&csp, "frame-ancestors"), ["'none'"]);
        assert_eq!(sources(&csp, "base-uri"), ["'none'"]);
        assert_eq!(sources(&csp, "object-src"), ["'none'"]);
        for (directive, allowed) in &csp {
            for source in allowed {
                assert!(
                    source.starts_with('\'') || source == "data:",
                    "{directive} allows {source}: only this origin and data: URLs"
                );
            }
        }

        // The unsubscribe page, with a genuine link and with a broken one.
        let context = app.job_context();
        let secret = context.mail.secret(&app.db).await.unwrap();
        let token = jobs::mail::unsubscribe::sign(secret, 1, 1);
        for (path, status) in [
            (format!("/unsubscribe/{token}"), 200),
            ("/unsubscribe/garbage".to_owned(), 400),
        ] {
            let response = app
                .client
                .get(format!("{}{path}", app.address))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), status, "{path}");
            assert_eq!(response.headers()["x-frame-options"], "DENY", "{path}");
            assert_eq!(response.headers()["referrer-policy"], "no-referrer");
            let csp = policy(&response);
            let page = response.text().await.unwrap();
            assert_eq!(sources(&csp, "default-src"), ["'none'"]);
            assert_eq!(sources(&csp, "form-action"), ["'self'"]);
            assert_eq!(sources(&csp, "frame-ancestors"), ["'none'"]);
            // The page's one stylesheet is the one the policy admits by hash.
            let style = page
                .split_once("<style>")
                .and_then(|(_, rest)| rest.split_once("</style>"))
                .map(|(style, _)| style)
                .expect("the page has its style element");
            let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(style));
            assert_eq!(
                sources(&csp, "style-src"),
                [format!("'sha256-{hash}'")],
                "{path}"
            );
            assert!(!page.contains("style=\""), "no style attributes: {page}");
            assert_eq!(foreign_urls(&page, &app.address), Vec::<String>::new());
        }
    })
    .await;
}

#[tokio::test]
async fn every_response_tells_browsers_not_to_sniff() {
    on_each_database(|app| async move {
        let get = |path: &str| app.client.get(format!("{}{path}", app.address));
        let post = || app.client.post(format!("{}/graphql", app.address));
        let query = json!({ "query": "{ customers { totalCount } }" });
        let requests = [
            (get("/healthz"), 200),
            (get("/readyz"), 200),
            (get("/metrics"), 200),
            (get("/graphql"), 200),
            (get("/graphiql/clientele.js"), 200),
            (get("/no-such-page"), 404),
            // JSON: an answer, a refusal, a malformed request.
            (post().bearer_auth(&app.admin_key).json(&query), 200),
            (post().json(&query), 401),
            (post().bearer_auth(&app.admin_key).body("not json"), 400),
        ];
        for (request, status) in requests {
            let response = request.send().await.unwrap();
            let url = response.url().clone();
            let nosniff = response.headers().get("x-content-type-options").cloned();
            assert_eq!(
                response.status(),
                status,
                "{url}: {}",
                response.text().await.unwrap()
            );
            assert_eq!(
                nosniff.as_ref().map(|v| v.to_str().unwrap()),
                Some("nosniff"),
                "{url}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn other_methods_on_graphql_get_405_naming_get_and_post() {
    on_each_database(|app| async move {
        for method in [
            reqwest::Method::PUT,
            reqwest::Method::DELETE,
            reqwest::Method::PATCH,
        ] {
            let response = app
                .client
                .request(method.clone(), format!("{}/graphql", app.address))
                .bearer_auth(&app.admin_key)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 405, "{method}");
            assert_eq!(response.headers()["allow"], "GET, POST", "{method}");
            assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        }
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// The browser test: Debian's chromium driven through chromedriver's WebDriver HTTP API.

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const QUERY: &str = "{ customers(first: 1) { totalCount } }";

/// chromedriver for one test; killed when dropped.
pub(crate) struct Driver {
    process: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// One browser session.
pub(crate) struct Browser {
    pub(crate) client: reqwest::Client,
    pub(crate) session: String,
}

impl Browser {
    pub(crate) async fn command(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        let url = format!("{}{path}", self.session);
        let mut request = self.client.request(method, &url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response: Value = request.send().await.unwrap().json().await.unwrap();
        if let Some(error) = response["value"].get("error") {
            panic!("WebDriver {path}: {error} {}", response["value"]["message"]);
        }
        response["value"].clone()
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> Value {
        self.command(reqwest::Method::POST, path, Some(body)).await
    }

    pub(crate) async fn script(&self, script: &str, args: Value) -> Value {
        self.post("/execute/sync", json!({ "script": script, "args": args }))
            .await
    }

    /// Polls `script` until it returns something truthy; that value.
    pub(crate) async fn wait_for(&self, what: &str, script: &str, args: Value) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let value = self.script(script, args.clone()).await;
            let truthy = !matches!(&value, Value::Null | Value::Bool(false)) && value != json!("");
            if truthy {
                return value;
            }
            if Instant::now() > deadline {
                self.screenshot("graphiql-failure.png").await;
                panic!("timed out waiting for {what}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Types `text` as key presses into whatever has the focus.
    pub(crate) async fn type_text(&self, text: &str) {
        let keys: Vec<Value> = text
            .chars()
            .flat_map(|c| {
                [
                    json!({ "type": "keyDown", "value": c.to_string() }),
                    json!({ "type": "keyUp", "value": c.to_string() }),
                ]
            })
            .collect();
        self.post(
            "/actions",
            json!({ "actions": [{ "type": "key", "id": "keyboard", "actions": keys }] }),
        )
        .await;
    }

    pub(crate) async fn click(&self, css: &str) {
        let element = self
            .post("/element", json!({ "using": "css selector", "value": css }))
            .await;
        let id = element
            .as_object()
            .and_then(|object| object.values().next())
            .and_then(Value::as_str)
            .unwrap()
            .to_owned();
        self.post(&format!("/element/{id}/click"), json!({})).await;
    }

    /// Saves a screenshot under `target/test-artifacts/` and prints where.
    pub(crate) async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self
            .command(reqwest::Method::GET, "/screenshot", None)
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        let dir = artifacts_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, png).unwrap();
        eprintln!("screenshot: {}", path.display());
        path
    }

    /// The browser's console log since the last call.
    pub(crate) async fn log(&self) -> Vec<Value> {
        let entries = self.post("/se/log", json!({ "type": "browser" })).await;
        entries.as_array().cloned().unwrap_or_default()
    }
}

/// `target/test-artifacts`, wherever the target directory is.
fn artifacts_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            // The test binary is target/<profile>/deps/api-<hash>.
            let exe = std::env::current_exe().ok()?;
            Some(exe.parent()?.parent()?.parent()?.to_owned())
        })
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    std::path::absolute(target.join("test-artifacts")).unwrap()
}

pub(crate) async fn start_chromedriver() -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let process = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver {
        process,
        url: format!("http://127.0.0.1:{port}"),
    };
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ready = client
            .get(format!("{}/status", driver.url))
            .send()
            .await
            .ok()
            .map(|response| response.json::<Value>());
        if let Some(status) = ready
            && let Ok(status) = status.await
            && status["value"]["ready"] == true
        {
            return driver;
        }
        assert!(Instant::now() < deadline, "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub(crate) async fn open_browser(driver: &Driver, profile: &std::path::Path) -> Browser {
    let client = reqwest::Client::new();
    let args = [
        "--headless".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-dev-shm-usage".to_owned(),
        "--disable-quic".to_owned(),
        "--no-first-run".to_owned(),
        "--disable-background-networking".to_owned(),
        "--disable-component-update".to_owned(),
        "--disable-sync".to_owned(),
        "--window-size=1440,900".to_owned(),
        format!("--user-data-dir={}", profile.display()),
        // No route but loopback: everything else goes to a proxy that is not there
        // (port 9, discard), so it fails at once. The app's address goes direct. (Not
        // `<-loopback>`: that removes Chromium's implicit loopback bypass, sending the
        // app's address to the dead proxy too.)
        "--proxy-server=http://127.0.0.1:9".to_owned(),
        "--proxy-bypass-list=127.0.0.1".to_owned(),
    ];
    let session: Value = client
        .post(format!("{}/session", driver.url))
        .json(&json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
                "goog:loggingPrefs": { "browser": "ALL" },
            }}
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = session["value"]["sessionId"]
        .as_str()
        .unwrap_or_else(|| panic!("no browser session: {session}"));
    Browser {
        client,
        session: format!("{}/session/{id}", driver.url),
    }
}

/// The CodeMirror editor inside `container` (GraphiQL 3 uses CodeMirror 5, which keeps
/// the editor object on its element).
const EDITOR: &str = "return document.querySelector(arguments[0] + ' .CodeMirror').CodeMirror";

/// Whether a browser test can run: chromedriver is installed. Without it the test is to
/// be skipped, said loudly — unless `CI` is set, where a skip would hide the test: then
/// it fails.
pub(crate) fn browser_available(test: &str) -> bool {
    if std::path::Path::new(CHROMEDRIVER).exists() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "{CHROMEDRIVER} is missing; CI must run the browser tests (apt-get install chromium chromium-driver)"
        );
    }
    eprintln!(
        "\n\n!!! SKIPPED {test}: {CHROMEDRIVER} is missing \
         (apt-get install chromium chromium-driver) !!!\n\n"
    );
    false
}

#[tokio::test]
async fn graphiql_runs_a_query_in_a_headless_browser_without_internet() {
    if !browser_available("graphiql_runs_a_query_in_a_headless_browser_without_internet") {
        return;
    }
    // The page does not depend on the database; SQLite is enough.
    let app = spawn_app(Backend::Sqlite).await;
    app.create_customer(json!({ "externalId": "browser-1", "email": "ada@example.com" }))
        .await;
    let driver = start_chromedriver().await;
    let profile = tempfile::tempdir().unwrap();
    let browser = open_browser(&driver, profile.path()).await;

    let outcome = std::panic::AssertUnwindSafe(drive(&browser, &app))
        .catch_unwind()
        .await;
    let _ = browser.client.delete(&browser.session).send().await;
    drop(driver);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn drive(browser: &Browser, app: &TestApp) {
    // The test's premise: anything beyond loopback fails in this browser.
    let external = browser
        .client
        .post(format!("{}/url", browser.session))
        .json(&json!({ "url": "http://example.com/" }))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert!(
        external["value"]["error"].is_string(),
        "a non-loopback address must not load: {external}"
    );

    browser
        .post("/url", json!({ "url": format!("{}/graphql", app.address) }))
        .await;
    browser
        .wait_for(
            "the GraphiQL editors",
            "return !!document.querySelector('.graphiql-query-editor .CodeMirror') \
             && !!document.querySelector('.graphiql-editor-tool .CodeMirror');",
            json!([]),
        )
        .await;

    // The headers panel is open and prefilled; the key goes after `Bearer `, typed.
    let headers = browser
        .script(
            "const visible = [...document.querySelectorAll('.graphiql-editor-tool .graphiql-editor')]
                .find(e => !e.classList.contains('hidden'));
             return visible.querySelector('.CodeMirror').CodeMirror.getValue();",
            json!([]),
        )
        .await;
    assert_eq!(headers, "{\n  \"Authorization\": \"Bearer \"\n}");
    browser
        .script(
            "const editor = [...document.querySelectorAll('.graphiql-editor-tool .graphiql-editor')]
                .find(e => !e.classList.contains('hidden')).querySelector('.CodeMirror').CodeMirror;
             editor.focus();
             const line = editor.getLine(1);
             editor.setCursor({ line: 1, ch: line.indexOf('Bearer ') + 'Bearer '.length });",
            json!([]),
        )
        .await;
    browser.type_text(&app.admin_key).await;

    // The query, typed into an emptied query editor.
    browser
        .script(
            &format!(
                "const editor = (() => {{ {EDITOR} }})(); editor.setValue(''); editor.focus();"
            ),
            json!([".graphiql-query-editor"]),
        )
        .await;
    browser.type_text(QUERY).await;
    let typed = browser
        .script(
            &format!("{EDITOR}.getValue()"),
            json!([".graphiql-query-editor"]),
        )
        .await;
    assert_eq!(typed, QUERY, "the query editor holds what was typed");

    browser.click(".graphiql-execute-button").await;
    let result = browser
        .wait_for(
            "the result",
            "const value = document.querySelector('.graphiql-response .CodeMirror').CodeMirror.getValue();
             return value.includes('totalCount') ? value : null;",
            json!([]),
        )
        .await;
    let result: Value = serde_json::from_str(result.as_str().unwrap()).unwrap();
    assert_eq!(
        result["data"],
        json!({ "customers": { "totalCount": 1 } }),
        "{result}"
    );
    assert!(
        result["extensions"]["cost"]["requested"].is_u64(),
        "{result}"
    );

    // Once the key is in, the schema loads: the documentation explorer lists the roots.
    browser
        .click("button[aria-label='Show Documentation Explorer']")
        .await;
    browser
        .wait_for(
            "the schema in the documentation explorer",
            "const explorer = document.querySelector('.graphiql-doc-explorer');
             return explorer && explorer.innerText.includes('Mutation');",
            json!([]),
        )
        .await;

    let path = browser.screenshot("graphiql.png").await;
    assert!(path.exists());

    // Everything came from the app; nothing failed or was blocked.
    let resources = assert_loaded_only_from(browser, &app.address).await;
    assert!(resources.len() >= 6, "{resources:?}");
}

/// Asserts that everything the page loaded came from `origin` and that the browser
/// logged no error or warning (a resource the page's policy blocked is one); the
/// resources loaded.
pub(crate) async fn assert_loaded_only_from(browser: &Browser, origin: &str) -> Vec<String> {
    let resources = browser
        .script(
            "return performance.getEntriesByType('resource').map(e => e.name);",
            json!([]),
        )
        .await;
    let resources: Vec<String> = serde_json::from_value(resources).unwrap();
    for resource in &resources {
        assert!(
            resource.starts_with(origin),
            "loaded from elsewhere: {resource}"
        );
    }
    let problems: Vec<Value> = browser
        .log()
        .await
        .into_iter()
        .filter(|entry| entry["level"] == "SEVERE" || entry["level"] == "WARNING")
        .collect();
    assert_eq!(
        problems,
        Vec::<Value>::new(),
        "the browser reported problems"
    );
    resources
}
